//! Handlers as shared objects: loading them ([`Registry`]), the host function table they
//! call ([`host`]), one instance per call ([`Instance`] in process, [`Remote`] in an
//! isolated host, either as an [`Attached`]), the isolated hosts themselves ([`process`],
//! supervised by [`Hosts`]) and what they say to tipringd ([`wire`]).

pub mod host;
pub mod instance;
mod loader;
pub mod process;
pub mod remote;
pub mod supervise;
/// The handler-host protocol (its own crate, so that it is fuzzed without the daemon).
pub use tipring_wire as wire;

pub use instance::{Instance, Outcome};
pub use loader::{Fallback, Handler, Isolation, LoadOptions, Policy, Refused, Registry};
pub use process::Limits;
pub use remote::{Attached, Delivery, InFlight, Remote};
pub use supervise::{HostStatus, Hosts};
