//! # tipring-dahdi-model: the DAHDI kernel driver, modelled in user space and served through FUSE
//!
//! Tipring's DAHDI backend talks to `/dev/dahdi` with `open`, ioctls, `read`, `write` and
//! `poll`. This crate mounts a FUSE file system that answers those calls the way the driver
//! (`dahdi-base`) does, so the backend's own syscalls can be tested without a card, at the
//! real 8 kHz pace, with a test playing the telephone, the exchange or the network.
//!
//! ## What is modelled
//! * **Nodes** (regular files, not character devices: the daemon must not insist on
//!   `S_ISCHR`): `ctl`, `channel` (bind with `DAHDI_SPECIFY` before any other request),
//!   `pseudo` (opening fails with `ENXIO`), `chan/SSS/CCC` and `N` (bound at open). Each open
//!   file has its own state; one file at a time may have a channel (`EBUSY`).
//! * **ioctls** by request number ([`tipring_hal::dahdi::sys`]): block size, buffer info
//!   and policies, params, hook, events, linear and law, flush, dial (with real DTMF audio and
//!   `DIALCOMPLETE`), dialing, polarity, on-hook transfer, cadence, tone zone, echo canceller
//!   taps, `SENDTONE` (US plan tones and DTMF), version, span status, buffer events, CAS bits;
//!   anything else is `ENOTTY`. A channel's settings reset at its last close, as in the driver.
//! * **Audio**: a clock thread advances every channel by 8 samples each millisecond. A read
//!   returns exactly one block (law bytes, or native-endian `i16` after `SETLINEAR(1)`),
//!   consuming it whole; it blocks until the clock completes one (the reply is deferred) or,
//!   with `O_NONBLOCK`, fails with `EAGAIN`. `numbufs` blocks are buffered; when all are full
//!   new audio is dropped (an overrun, as the driver drops it). A write fills one buffer with
//!   up to one block; with all buffers full it waits or fails with `EAGAIN`. The clock sends
//!   written audio first, then `DIAL` digits, then a `SENDTONE` tone, then silence.
//! * **Events**: while one is pending, `read` and `write` fail with errno 500 (`ELAST`) until
//!   `GETEVENT` drains them. `poll` reports `POLLIN`, `POLLOUT` and `POLLPRI`, and wakes a
//!   sleeping `poll`/`epoll` through FUSE poll notifications.
//! * **Analog** call flows (the project's `hardware.md`, section 1.6): FXS ports (the test is the phone:
//!   hook, flash, ringer cadence with `RINGERON`/`RINGEROFF`, polarity, on-hook transfer for
//!   caller ID) and FXO ports (the test is the exchange: ring bursts, polarity, battery drop,
//!   line seizure, flash with `HOOKCOMPLETE`), and a 2-wire [`Hybrid`] echo path.
//! * **Spans**: analog, T1 and E1 with PRI D-channels (frames plus two FCS bytes), clear or
//!   E&M channels; alarms with `ALARM`/`NOALARM` on every channel, shown by `SPANSTAT` and
//!   `GET_PARAMS`, and silence while red or blue.
//!
//! ## What is not
//! No SLIC/DAA electrical behaviour (ring voltage, loop current, impedance, hook debounce,
//! pulse dialling as hook pulses), no hardware echo canceller or DTMF detection
//! (`TONEDETECT` is refused), no conferencing, pseudo channels, timers or transcoders.
//! FUSE ioctls are "restricted": only the size a request number encodes is copied, so
//! `ECHOCANCEL_PARAMS` shows only its 8-byte header (the tap length and the parameter
//! count), never the parameters after it. The clock is a user-space thread: blocks arrive
//! at 8 kHz, but a loaded machine delays single ticks by milliseconds. The clock catches
//! up a few ticks; after a longer stall the model's time stands still instead
//! ([`Model::stalled_ms`] says how long), as a stalled card's would, rather than sending
//! the daemon a burst it could not have kept up with. [`Model::hold_clock`] stalls the card
//! on purpose. Tone zones are numbers only (no
//! `LOADZONE`); tones use the US plan.
//!
//! ## Mounting and unmounting
//! As root the model mounts through `fusermount3 -o auto_unmount` when it can (so a test
//! process killed outright still leaves no mount), else directly. Dropping the [`Model`]
//! answers every blocked read and write (`ENODEV`), unmounts, and detaches lazily when a
//! file is still open. Use a fresh directory per mount (`std::env::temp_dir()` plus the
//! process id and a counter).
//!
//! ## How a test uses it
//! ```no_run
//! use std::time::Duration;
//! use tipring_dahdi_model::{Model, ModelError, Port, Spec, wait_until};
//!
//! let root = std::env::temp_dir().join(format!("dahdi-model-doc-{}", std::process::id()));
//! let model = match Model::mount(&root, Spec::analog(&[Port::Fxs, Port::Fxo])) {
//!     Ok(m) => m,
//!     Err(ModelError::Unavailable(why)) => {
//!         eprintln!("skipped: {why}");
//!         return;
//!     }
//!     Err(e) => panic!("{e}"),
//! };
//! // The daemon under test is pointed at model.root() as its /dev/dahdi and opens
//! // chan/001/001; the test then plays the phone:
//! let phone = model.channel(1).unwrap();
//! phone.phone_off_hook().unwrap(); // the daemon gets RINGOFFHOOK
//! assert!(wait_until(Duration::from_secs(2), || !phone.heard().is_empty()));
//! // Dropping the model unmounts it.
//! ```
#![deny(missing_docs)]

mod chan;
mod dial;
mod error;
mod fs;
mod hdlc;
mod hybrid;
mod ioctl;
mod model;
mod plain;
mod spec;
mod state;

pub use error::ModelError;
pub use hybrid::Hybrid;
pub use model::{ChanCtl, Model, wait_until};
pub use spec::{DigitalSig, Port, SpanKind, SpanSpec, Spec};
pub use tipring_dsp::g711::Law;
