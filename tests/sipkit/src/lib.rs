//! # tipring-sipkit: real SIP peers for Tipring's tests
//!
//! Integration tests and benchmark scripts drive real SIP peers on loopback with this
//! crate, and check what went over the wire independently of the product:
//!
//! * [`stream`] and [`pcap`] build RTP captures that SIPp replays: G.711 μ-law audio,
//!   RFC 4733 digits in several vendors' timing styles, in-band DTMF, both at once, tones.
//! * [`sipp`] runs SIPp with a scenario from `tests/sip/` ([`scenarios`] sets each up),
//!   picks free ports, keeps its logs in a temporary directory, stops it by a deadline and
//!   parses its statistics into a [`SippReport`](sipp::SippReport).
//! * [`baresip`] runs baresip as a headless phone driven through `ctrl_tcp`.
//! * [`wire`] captures RTP on a loopback socket and decodes it: RFC 4733 events, μ-law
//!   audio, the DSP's DTMF receiver and a [`tone`] detector.
//! * [`digest`] checks digest credentials SIPp logged but cannot verify itself.
//!
//! Every child process is killed when its handle is dropped; every temporary directory
//! is removed (set `TIPRING_SIPKIT_KEEP=1` to keep them). Nothing panics on bad input:
//! errors say which argument, file or tool was at fault.
//!
//! SIPp's `play_pcap_audio` sends through a raw socket: tests that play media need root
//! or `CAP_NET_RAW` (the runner does not check; SIPp logs the failure).
//!
//! ```no_run
//! use std::time::Duration;
//! use tipring_sipkit::{pcap, scenarios, stream::{DtmfOptions, RtpParams}, wire};
//!
//! # fn main() -> tipring_sipkit::Result<()> {
//! let dir = tipring_sipkit::tempdir::TempDir::new("example")?;
//! let digits = dir.join("123.pcap");
//! pcap::write_dtmf(&digits, "123", &DtmfOptions::default(), RtpParams::default())?;
//!
//! // The far end (here a SIPp peer; in the daemon's tests, the daemon) answers, and
//! // its SDP points at a capture socket.
//! let capture = wire::RtpCapture::start()?;
//! let silence = dir.join("silence.pcap");
//! pcap::write_tone(&silence, 1004.0, -10.0, 20, RtpParams::default())?;
//! let callee = scenarios::peer_uas_answer(&silence)?.rtp_port(capture.port()).start()?;
//!
//! let caller = scenarios::uac_pcmu_4733(callee.sip_addr(), &digits)?
//!     .hangup_after(Duration::from_secs(2))
//!     .start()?;
//! caller.wait().check()?;
//! callee.wait().check()?;
//! let report = wire::analyze(&capture.stop(), &wire::WireConfig::default());
//! assert_eq!(report.event_digits(), "123");
//! assert_eq!(report.inband_digits(), "");
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod baresip;
mod child;
pub mod digest;
pub mod error;
pub mod pcap;
pub mod ports;
pub mod rtp;
pub mod scenarios;
pub mod sipp;
pub mod stream;
pub mod tempdir;
pub mod tone;
pub mod wire;

pub use error::{Error, Result};
