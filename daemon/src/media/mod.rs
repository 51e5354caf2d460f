//! The real-time media plane.
//!
//! Dedicated OS threads (never tokio), each owning one [`Shard`](tipring_hal::Shard) of the
//! board and ticking on its clock: the card's TDM clock on hardware, a timerfd for the sim
//! and SIP, a virtual clock in tests. Per tick and channel: read → decode → DTMF and
//! call-progress detection → events; then playback, tones, DTMF sending and the bridge are
//! mixed → encode → write; recordings stream out through a ring.
//!
//! Between the control plane and each media thread there are two preallocated SPSC rings
//! ([`rtrb`]): [`MediaCommand`]s in, [`ChannelEvent`]s out. A full ring is a value (the order
//! is refused, the event counted as lost), never a wait. Buffers moved in are never freed on
//! the media thread: the control plane keeps a reference until the operation's end is
//! reported. The tick path never allocates, locks, logs or blocks (the counting-allocator
//! test in `daemon/tests/media_no_alloc.rs` runs 1 000 channels).

mod channel;
mod engine;
mod msg;
mod rt;
mod stats;

pub use engine::{MediaLink, MediaShard, MediaThread, RealtimeSetup, SendError, build, spawn};
pub use msg::{ChannelEvent, MediaCommand, MediaEvent, OpEnd, OpId};
pub use stats::TickStats;
