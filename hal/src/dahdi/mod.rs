//! DAHDI cards (feature `dahdi`): analog FXS/FXO ports and T1/E1 spans through the DAHDI
//! kernel interface (issue 5).
//!
//! * [`sys`]: the kernel interface itself: request numbers, structure layouts and
//!   constants, written from the interface's documented values (no driver source is copied)
//!   and checked against the real `dahdi/user.h` by `tests/dahdi_abi.rs`, which compiles a
//!   small C probe against it.
//! * [`analog`]: each channel's line signalling as a sans-IO state machine (FXS phone
//!   ports, FXO exchange lines, digital timeslots): driver events and commands in, signals
//!   and device actions out, time passed in.
//! * [`cid`]: caller ID sent to phones on FXS ports (Bell 202, ETSI V.23 after the first
//!   ring or with line reversal and DT-AS before it, DTMF CLIP).
//! * [`span`]: each span's alarms and D-channel state, for the API.
//! * [`shard`]: the channels as a [`Shard`](crate::Shard): opened and set up from the
//!   configuration's device root, one block per channel per tick on the card's clock.
//!
//! The tests run against a user-space model of the driver served through FUSE
//! (`tests/dahdimodel`), which is why nothing here insists on character devices.

pub mod analog;
pub mod cid;
pub mod shard;
pub mod span;
pub mod sys;

pub use cid::CidStyle;
pub use shard::{DahdiChannel, DahdiConfig, DahdiError, DahdiShard, NodeStyle, SpanConfig, build};
pub use span::{SpanBoard, SpanCell};
