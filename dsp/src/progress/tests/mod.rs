//! Tests of the call-progress module. Every signal is generated here; nothing is read from
//! files.

mod detection;
mod generation;
mod plans;
pub(crate) mod signals;
