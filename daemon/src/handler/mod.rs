//! Handlers as shared objects: loading them ([`Registry`]), the host function table they
//! call ([`host`]), and one instance per call ([`Instance`]).

pub mod host;
pub mod instance;
mod loader;

pub use instance::{Instance, Outcome};
pub use loader::{Handler, Refused, Registry};
