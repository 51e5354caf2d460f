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
pub mod wire;

pub use instance::{Instance, Outcome};
pub use loader::{Fallback, Handler, Isolation, LoadOptions, Policy, Refused, Registry};
pub use process::Limits;
pub use remote::{Attached, Delivery, InFlight, Remote};
pub use supervise::{HostStatus, Hosts};
