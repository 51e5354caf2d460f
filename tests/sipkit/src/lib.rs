//! # tipring-sipkit: real SIP peers for Tipring's tests
#![deny(missing_docs)]

pub mod error;
pub mod pcap;
pub mod ports;
pub mod rtp;
pub mod stream;
pub mod tempdir;
pub mod tone;
pub mod wire;

pub use error::{Error, Result};
