//! Tipring's hardware abstraction: the channel model every backend speaks.
//!
//! A board is a set of **channels** ([`ChannelInfo`]: a number, a [`ChannelKind`] and an
//! [`AudioFormat`]). Each channel carries a fixed-period audio stream and line
//! **signalling**: it reports [`Signal`]s (ring, hook, polarity, alarms, remote answer and
//! hang-up with a Q.850 [`Cause`]) and carries out [`Command`]s (seize, ring, answer, hang up,
//! flash, dial). A backend hands a board to the media engine as [`Shard`]s, one per media
//! thread, each on its own clock.
//!
//! Backends are chosen at run time from the board profile. This crate has the simulated
//! board ([`sim`]), which is always built: the daemon runs on it without hardware, and the
//! tests run it on a virtual clock.
//!
//! ```
//! use tipring_hal::sim::{self, SimConfig, Step};
//! use tipring_hal::{Digits, Pacing, Shard, Signal, ChannelId};
//!
//! let (mut shards, mut control) = sim::build(SimConfig {
//!     phones: 1,
//!     trunks: 0,
//!     pacing: Pacing::Virtual,
//!     ..SimConfig::default()
//! })
//! .unwrap();
//! let shard = &mut shards[0];
//! let mut script = sim::Script::new();
//! script.push(Step::Dial { digits: Digits::parse(ChannelId(1), "42").unwrap() }).unwrap();
//! control.offhook(1, script).unwrap();
//! shard.wait_tick().unwrap();
//! assert_eq!(shard.poll_signal(), Some((0, Signal::OffHook)));
//! // The digits now arrive as DTMF audio in the frames `shard.read(0, …)` returns.
//! ```

#![deny(missing_docs)]
#![deny(unsafe_code)]

mod audio;
mod cause;
mod channel;
mod clock;
#[cfg(feature = "dahdi")]
pub mod dahdi;
mod error;
mod ids;
mod shard;
mod signal;
pub mod sim;
#[cfg(feature = "sip")]
pub mod sip;

pub use audio::{
    AudioFormat, Encoding, FramePeriod, MAX_FRAME_BYTES, MAX_FRAME_SAMPLES, SAMPLE_RATE,
};
pub use cause::Cause;
pub use channel::{ChannelInfo, ChannelKind};
pub use clock::{Pacing, Ticker};
pub use error::{ErrorKind, HalError};
pub use ids::{CallId, ChannelId, SpanId, Timeslot};
pub use shard::Shard;
pub use signal::{Alarm, Caller, Command, Digits, MAX_DIGITS, Signal};
