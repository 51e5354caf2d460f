//! # tipring-rtp: the RTP session layer of a SIP call's media
//!
//! Sans-IO: no sockets, no threads, no clock. A SIP channel's media thread owns one
//! [`Session`] per call, feeds it the datagrams it read and the audio it wants to send, and
//! gets back audio to play, digits, and datagrams to write.
//!
//! * [`Receiver`]: parses RTP (with `rtp-rs`), tracks the source per RFC 3550 (probation,
//!   extended sequence numbers, loss, jitter), plays audio out of an adaptive
//!   [jitter buffer](jitter) with concealment ([`tipring_dsp::plc`] for G.711, libopus's
//!   own for Opus), and receives RFC 4733 digits ([`event_rx`]), squelching the in-band copy
//!   of a digit sent both ways.
//! * [`Sender`]: packetises audio at the negotiated ptime and sends RFC 4733 digits
//!   ([`event_tx`]).
//! * [`Session`]: both, plus RTCP SR/RR/SDES ([`rtcp`]) and the call's [`Stats`].
//!
//! ## The real-time contract
//! Everything is sized in `new`. Every other call — `push`, `pull`, `push_audio`,
//! `poll_packet`, `send_digit`, `build_rtcp`, `handle_rtcp`, `stats` — never allocates,
//! frees, locks, logs or blocks (a counting-allocator test proves it), and no input bytes
//! make it panic (fuzzed). Time is an argument: `now` is the media clock, a count of 8 kHz
//! samples, never read from a system clock.
//!
//! Per call (G.711, `tests/footprint.rs`): [`Receiver`] 2.9 kB plus 5.2 kB of jitter buffer
//! (100 ms maximum delay and 200 ms of headroom), [`Sender`] 0.3 kB plus 1.6 kB, 10 kB for a
//! whole [`Session`]. A media thread's work for a call (push a packet, pull a frame, send a
//! frame, RTCP every 5 s) takes about 1.5 µs per 20 ms tick in a release build: 2 000 calls
//! use 15 % of one core.
//!
//! ## The run loop, per tick
//! The media thread ticks every 10 or 20 ms; `now` advances by the tick (80 or 160).
//! ```
//! use tipring_rtp::{Codec, PayloadMap, ReceiverConfig, SenderConfig, Session, SessionConfig, Ssrc};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let payloads = PayloadMap::new(0, Codec::Pcmu).with_events(101); // from the SDP answer
//! let config = |ssrc, seq, ts| SessionConfig {
//!     receiver: ReceiverConfig::new(payloads),
//!     sender: SenderConfig {
//!         codec: Codec::Pcmu,
//!         payload_type: 0,
//!         event_payload_type: Some(101),
//!         ssrc: Ssrc(ssrc), // random in real life, as are seq and ts
//!         initial_seq: seq,
//!         initial_timestamp: ts,
//!         ptime_ms: 20,
//!     },
//!     ntp_at_zero: 0,
//! };
//! let mut call = Session::new(config(0x1111, 100, 5_000), "call-1@tipring")?;
//! let mut peer = Session::new(config(0x2222, 7, 90_000), "peer@example")?;
//! peer.tx.send_digit('5', 100)?;
//!
//! let mut datagram = [0u8; 1500];
//! let mut wire: Vec<Vec<u8>> = Vec::new(); // the network, peer → call
//! let (mut heard, mut digits) = ([0i16; 160], Vec::new());
//! for tick in 0..50u64 {
//!     let now = tick * 160; // 20 ms ticks of the 8 kHz media clock
//!
//!     // The peer talks (in real life: another box).
//!     peer.tx.push_audio(&[1000; 160]);
//!     while let Some(len) = peer.tx.poll_packet(&mut datagram) {
//!         wire.push(datagram[..len].to_vec());
//!     }
//!
//!     // Our media thread's tick: 1. everything the socket has, 2. one frame out,
//!     // 3. digits, 4. one frame in, 5. packets to send, 6. RTCP every 5 s.
//!     for packet in wire.drain(..) {
//!         let _ = call.rx.push(now, &packet); // errors are counted in the stats
//!     }
//!     let _pulled = call.rx.pull(now, &mut heard);
//!     while let Some(event) = call.rx.poll_event() {
//!         digits.push(event);
//!     }
//!     call.tx.push_audio(&[0; 160]);
//!     while let Some(len) = call.tx.poll_packet(&mut datagram) {
//!         let _ = &datagram[..len]; // socket.send(...)
//!     }
//!     if now % 40_000 == 0 {
//!         let len = call.build_rtcp(now, &mut datagram)?;
//!         let _ = &datagram[..len]; // send to the RTCP port
//!     }
//! }
//! assert!(digits.iter().any(|e| matches!(e, tipring_rtp::RxEvent::Digit { digit: '5', .. })));
//! // 50 sent; the first was on probation (RFC 3550 §A.1: a new source needs two in a row).
//! assert_eq!(call.stats().packets_received, 49);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod codec;
pub mod error;
pub mod event_rx;
pub mod event_tx;
pub mod jitter;
mod jitter_store;
#[cfg(feature = "opus")]
pub mod opus_rx;
pub mod receiver;
pub mod rtcp;
pub mod sender;
pub mod session;
pub mod source;
pub mod telephone_event;

pub use codec::{Codec, Payload, PayloadMap};
pub use error::{ConfigError, RtcpError, RtpError, SendError};
pub use event_rx::{EventEnd, RxEvent};
pub use jitter::Pulled;
pub use receiver::{DropReason, Received, Receiver, ReceiverConfig, ReceiverStats};
pub use sender::{Sender, SenderConfig, SenderStats};
pub use session::{RtcpSummary, Session, SessionConfig, Stats};

/// A synchronisation source identifier (RFC 3550 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ssrc(pub u32);

impl core::fmt::Display for Ssrc {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// Milliseconds to 8 kHz samples.
pub(crate) const fn ms_to_samples(ms: u32) -> i64 {
    ms as i64 * 8
}
