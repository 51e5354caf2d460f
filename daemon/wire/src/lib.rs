//! # tipring-wire: the handler-host protocol
//!
//! The handler-host protocol: what tipringd and an isolated handler host say to each other
//! over their `SOCK_SEQPACKET` unix socket.
//!
//! One message per datagram (the socket keeps the boundaries): a two-byte header, the
//! magic `b'T'` and [`VERSION`], then the message in [postcard](https://docs.rs/postcard)'s
//! compact serde encoding. A peer speaking another version is refused by name rather than
//! misread. Nothing here trusts the other side: [`decode`] refuses oversized, truncated,
//! trailing-garbage and unknown-variant datagrams with a reason, and tipringd checks every
//! request a host relays ([`check_request`]) exactly as the in-process host table does.
//!
//! The conversation: tipringd may ask [`ToHost::Identify`] first (a probe does, to pick the
//! handler's config by its name); then it sends [`ToHost::Init`]; the host loads the `.so`, runs
//! its `init` and answers [`FromHost::Ready`] (or [`FromHost::InitFailed`] and exits). Then
//! for every call, [`ToHost::Create`] and one [`ToHost::Event`] at a time, each answered by
//! [`FromHost::Done`] with the requests the handler queued; [`ToHost::Destroy`] needs no
//! answer. [`FromHost::Wake`] arrives whenever a handler thread calls `wake()`.
//!
//! The requests ([`Request`]) and events ([`HostEvent`]) are the same types the in-process
//! host table queues and delivers, so both modes carry exactly the same operations.
#![deny(missing_docs)]

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tipring_hal::Digits;

/// The protocol version both sides must speak.
pub const VERSION: u8 = 1;
/// The first byte of every datagram.
pub const MAGIC: u8 = b'T';
/// The largest datagram either side sends or accepts. It fits a unix socket's default
/// send buffer (208 KiB, less the kernel's overhead), and what a callback may leave behind
/// is bounded below it by the host table (requests, their strings, the call's variables);
/// a host whose answer would not fit fails that callback instead.
pub const MAX_DATAGRAM: usize = 192 * 1024;
/// The most requests one answer may carry, and one callback may queue (the host table's
/// limit, in process and in a host).
pub const MAX_REQUESTS: usize = 64;
/// A destination or source string (`file:`, `tone:`, `channel:`), bytes.
pub const MAX_TARGET: usize = 4096;
/// Originate's options (JSON), bytes.
pub const MAX_OPTS: usize = 16 * 1024;

/// The switch's view of a call's state, sent with every event so that the host-side
/// checks (`TIPRING_EBUSY`, `TIPRING_EGONE`, the timer limit) see what an in-process
/// handler would.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallState {
    /// A media operation is running.
    pub media_busy: bool,
    /// The call has ended.
    pub gone: bool,
    /// Timers running.
    pub timers: u32,
}

/// An event, as it travels: the host's own event type.
pub type WireEvent = HostEvent;

/// tipringd → host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToHost {
    /// Say who the handler is (name, version, ABI) without running its `init`: a probe
    /// asks this first, to pick the config for that name.
    Identify,
    /// Load the handler and run its `init`: the first message but for `Identify`.
    Init {
        /// The handler's init config (JSON).
        config: String,
        /// Operation ids this host hands out start here (each host has its own range, so
        /// ids stay unique across hosts and the in-process handlers).
        op_base: u64,
        /// An `on_event` slower than this is logged (`handler.slow`), µs.
        soft_budget_us: u64,
    },
    /// Create the instance for a new call.
    Create {
        /// The call.
        call: u64,
        /// Its channel.
        channel: u32,
        /// The route's params (JSON).
        params: String,
    },
    /// Deliver one event.
    Event {
        /// The call.
        call: u64,
        /// The switch's state of the call.
        state: CallState,
        /// The event.
        ev: WireEvent,
    },
    /// Destroy the call's instance (after its HANGUP).
    Destroy {
        /// The call.
        call: u64,
    },
    /// Finish: destroy nothing more, run the handler's `shutdown`, exit.
    Shutdown,
}

/// host → tipringd.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromHost {
    /// The answer to `Identify`.
    Identity {
        /// Its name.
        name: String,
        /// Its version.
        version: String,
        /// The ABI it was built for.
        abi: (u16, u16),
    },
    /// The handler loaded and its `init` succeeded.
    Ready {
        /// Its name.
        name: String,
        /// Its version.
        version: String,
        /// The ABI it was built for.
        abi: (u16, u16),
    },
    /// The handler could not be loaded; the host exits.
    InitFailed {
        /// Why, in one line.
        reason: String,
    },
    /// The answer to a `Create` or an `Event`.
    Done {
        /// The call.
        call: u64,
        /// The callback's return code (0 = fine).
        rc: i32,
        /// What the handler asked for, in order, with their operation ids.
        requests: Vec<(u64, Request)>,
        /// The call's variables, when the callback changed them.
        vars: Option<BTreeMap<String, String>>,
        /// How long the callback ran, µs.
        took_us: u64,
    },
    /// A handler thread woke the call.
    Wake {
        /// The call.
        call: u64,
        /// The token.
        token: u64,
    },
}

/// A datagram that is not a valid message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Empty, or just the header.
    #[error("a truncated message ({0} bytes)")]
    Truncated(usize),
    /// Larger than [`MAX_DATAGRAM`].
    #[error("a message of {0} bytes (at most {MAX_DATAGRAM})")]
    TooLarge(usize),
    /// Not this protocol.
    #[error("not a handler-host message (first byte {0:#04x})")]
    Magic(u8),
    /// Another version.
    #[error("protocol version {0}; this side speaks {VERSION}")]
    Version(u8),
    /// The body does not decode.
    #[error("a malformed message: {0}")]
    Body(String),
    /// Bytes after the message.
    #[error("{0} bytes after the message")]
    Trailing(usize),
    /// Too many requests in one answer.
    #[error("{0} requests in one answer (at most {MAX_REQUESTS})")]
    Requests(usize),
}

/// Encodes a message into a datagram.
///
/// # Errors
/// The message does not fit in [`MAX_DATAGRAM`] (serialisation itself cannot fail for
/// these types).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, WireError> {
    let mut out = vec![MAGIC, VERSION];
    let body = postcard::to_stdvec(msg).map_err(|e| WireError::Body(e.to_string()))?;
    out.extend_from_slice(&body);
    if out.len() > MAX_DATAGRAM {
        return Err(WireError::TooLarge(out.len()));
    }
    Ok(out)
}

fn body<'a, T: Deserialize<'a>>(buf: &'a [u8]) -> Result<T, WireError> {
    if buf.len() > MAX_DATAGRAM {
        return Err(WireError::TooLarge(buf.len()));
    }
    if buf.len() < 3 {
        return Err(WireError::Truncated(buf.len()));
    }
    if buf[0] != MAGIC {
        return Err(WireError::Magic(buf[0]));
    }
    if buf[1] != VERSION {
        return Err(WireError::Version(buf[1]));
    }
    let (msg, rest) =
        postcard::take_from_bytes::<T>(&buf[2..]).map_err(|e| WireError::Body(e.to_string()))?;
    if !rest.is_empty() {
        return Err(WireError::Trailing(rest.len()));
    }
    Ok(msg)
}

/// Decodes a datagram from a host.
///
/// # Errors
/// Anything but exactly one well-formed message of this version.
pub fn decode(buf: &[u8]) -> Result<FromHost, WireError> {
    let m: FromHost = body(buf)?;
    if let FromHost::Done { requests, .. } = &m
        && requests.len() > MAX_REQUESTS
    {
        return Err(WireError::Requests(requests.len()));
    }
    Ok(m)
}

/// Decodes a datagram from tipringd (in the host).
///
/// # Errors
/// Anything but exactly one well-formed message of this version.
pub fn decode_to_host(buf: &[u8]) -> Result<ToHost, WireError> {
    body(buf)
}

fn check_collect(c: &CollectSpec) -> Result<(), String> {
    if !(1..=64).contains(&c.max_digits) {
        return Err("collect: max_digits must be 1-64".into());
    }
    if !c
        .term
        .chars()
        .all(|d| matches!(d, '0'..='9' | '*' | '#' | 'A'..='D'))
    {
        return Err("collect: term_digits must be digits".into());
    }
    Ok(())
}

/// Checks a request relayed by a host the way the in-process host table checks it when a
/// handler makes it: a host is a separate program, and what it sends is input.
///
/// # Errors
/// What is wrong, in one line.
pub fn check_request(r: &Request) -> Result<(), String> {
    const LONG: usize = MAX_TARGET;
    match r {
        Request::Answer | Request::Bridge(_) | Request::Stop(_) | Request::Timer(_) => Ok(()),
        Request::Hangup(c) if (1..=127).contains(c) => Ok(()),
        Request::Hangup(c) => Err(format!("hangup: cause {c} is not 1-127")),
        Request::Originate { dest, opts } => {
            if !dest.starts_with("channel:") || dest.len() > LONG || opts.len() > MAX_OPTS {
                return Err("originate: destination must be channel:N[/NUMBER]".into());
            }
            Ok(())
        }
        Request::Transfer(d) if !d.is_empty() && d.len() <= LONG => Ok(()),
        Request::Transfer(_) => Err("transfer: empty or overlong destination".into()),
        Request::Play { src, collect, .. } => {
            if !(src.starts_with("file:") || src.starts_with("tone:")) || src.len() > LONG {
                return Err("play: source must be file:PATH or tone:NAME".into());
            }
            collect.as_ref().map_or(Ok(()), check_collect)
        }
        Request::Collect(c) => check_collect(c),
        Request::Record {
            dest, max_ms, term, ..
        } => {
            if !dest.starts_with("file:") || !dest.ends_with(".wav") || dest.len() > LONG {
                return Err("record: destination must be file:PATH.wav".into());
            }
            if !(1..=3_600_000).contains(max_ms) {
                return Err("record: max_ms must be 1-3600000".into());
            }
            if term.len() > 16 {
                return Err("record: term_digits too long".into());
            }
            Ok(())
        }
        Request::SendDtmf(d) if d.is_empty() => Err("send_dtmf: no digits".into()),
        Request::SendDtmf(_) => Ok(()),
    }
}

/// Digit-collection limits, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectSpec {
    /// 1–64.
    pub max_digits: u32,
    /// Terminating digits.
    pub term: String,
    /// ms, 0 = none.
    pub first_digit_ms: u32,
    /// ms, 0 = none.
    pub inter_digit_ms: u32,
    /// ms, 0 = none.
    pub total_ms: u32,
    /// Drop digits typed before.
    pub flush: bool,
}

/// What a handler asked for, queued until its callback returns (and, from an isolated
/// host, relayed over its socket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Answer.
    Answer,
    /// Hang up with this cause.
    Hangup(u32),
    /// Place a call.
    Originate {
        /// `channel:N[/NUMBER]`.
        dest: String,
        /// Options, JSON.
        opts: String,
    },
    /// Bridge with the call on this channel.
    Bridge(u32),
    /// Blind transfer.
    Transfer(String),
    /// Play, optionally collecting.
    Play {
        /// `file:` or `tone:`.
        src: String,
        /// Stop on a digit.
        barge_in: bool,
        /// 0 = for ever.
        loops: u32,
        /// Collect too.
        collect: Option<CollectSpec>,
    },
    /// Collect digits.
    Collect(CollectSpec),
    /// Record.
    Record {
        /// `file:PATH.wav`.
        dest: String,
        /// ms.
        max_ms: u32,
        /// ms.
        final_silence_ms: u32,
        /// Digits that end it.
        term: String,
        /// Beep first.
        beep: bool,
    },
    /// Stop an operation.
    Stop(u64),
    /// Send DTMF.
    SendDtmf(#[serde(with = "digits_text")] Digits),
    /// A timer.
    Timer(u32),
}

/// An event for a handler, owned until it is delivered (and what travels to an isolated
/// host).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostEvent {
    /// `TIPRING_EV_*`.
    pub kind: u32,
    /// Operation id (OP_COMPLETE, TIMER).
    pub op: u64,
    /// `TIPRING_R_*`.
    pub result: u32,
    /// Q.850 cause.
    pub cause: u32,
    /// Digits.
    pub digits: String,
    /// JSON detail.
    pub detail: String,
    /// WAKE token.
    pub wake_token: u64,
    /// Monotonic time, ns.
    pub mono_ns: u64,
}

/// Digits travel as text and are checked again when they arrive.
mod digits_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use tipring_hal::{ChannelId, Digits};

    pub(super) fn serialize<S: Serializer>(d: &Digits, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(d.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Digits, D::Error> {
        let s = <&str>::deserialize(d)?;
        Digits::parse(ChannelId(0), s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tipring_hal::{ChannelId, Digits};

    fn done() -> FromHost {
        FromHost::Done {
            call: 7,
            rc: 0,
            requests: vec![
                (1 << 40, Request::Answer),
                (
                    (1 << 40) + 1,
                    Request::Play {
                        src: "file:/p/hello.wav".into(),
                        barge_in: true,
                        loops: 1,
                        collect: Some(CollectSpec {
                            max_digits: 4,
                            term: "#".into(),
                            first_digit_ms: 10_000,
                            inter_digit_ms: 5_000,
                            total_ms: 0,
                            flush: false,
                        }),
                    },
                ),
                (
                    0,
                    Request::SendDtmf(Digits::parse(ChannelId(1), "12#").unwrap()),
                ),
            ],
            vars: Some([("digits".to_string(), "1234".to_string())].into()),
            took_us: 12,
        }
    }

    #[test]
    fn messages_round_trip() {
        let m = done();
        assert_eq!(decode(&encode(&m).unwrap()).unwrap(), m);
        let t = ToHost::Event {
            call: 3,
            state: CallState {
                media_busy: true,
                gone: false,
                timers: 2,
            },
            ev: WireEvent {
                kind: 4,
                digits: "5".into(),
                ..Default::default()
            },
        };
        assert_eq!(decode_to_host(&encode(&t).unwrap()).unwrap(), t);
    }

    #[test]
    fn bad_datagrams_are_refused_by_name() {
        let good = encode(&done()).unwrap();
        assert_eq!(decode(&[]), Err(WireError::Truncated(0)));
        assert_eq!(decode(&good[..2]), Err(WireError::Truncated(2)));
        assert_eq!(decode(b"XY\0"), Err(WireError::Magic(b'X')));
        let mut v = good.clone();
        v[1] = 9;
        assert_eq!(
            decode(&v).unwrap_err().to_string(),
            "protocol version 9; this side speaks 1"
        );
        let mut v = good.clone();
        v.push(0);
        assert_eq!(decode(&v), Err(WireError::Trailing(1)));
        assert!(matches!(
            decode(&good[..good.len() - 3]),
            Err(WireError::Body(_))
        ));
        // An unknown variant.
        assert!(matches!(
            decode(&[MAGIC, VERSION, 99]),
            Err(WireError::Body(_))
        ));
        assert!(matches!(
            decode(&vec![MAGIC; MAX_DATAGRAM + 1]),
            Err(WireError::TooLarge(_))
        ));
        // Every truncation of a good message is refused, none panics.
        for n in 0..good.len() {
            assert!(decode(&good[..n]).is_err(), "{n}");
        }
    }

    #[test]
    fn too_many_requests_are_refused() {
        let m = FromHost::Done {
            call: 1,
            rc: 0,
            requests: vec![(1, Request::Answer); MAX_REQUESTS + 1],
            vars: None,
            took_us: 0,
        };
        assert_eq!(
            decode(&encode(&m).unwrap()),
            Err(WireError::Requests(MAX_REQUESTS + 1))
        );
    }

    #[test]
    fn relayed_requests_are_checked() {
        assert!(check_request(&Request::Hangup(16)).is_ok());
        assert!(check_request(&Request::Hangup(0)).is_err());
        assert!(
            check_request(&Request::Play {
                src: "http://x".into(),
                barge_in: false,
                loops: 1,
                collect: None
            })
            .is_err()
        );
        assert!(
            check_request(&Request::Collect(CollectSpec {
                max_digits: 65,
                term: String::new(),
                first_digit_ms: 0,
                inter_digit_ms: 0,
                total_ms: 0,
                flush: false
            }))
            .is_err()
        );
        assert!(
            check_request(&Request::Record {
                dest: "file:/tmp/x.wav".into(),
                max_ms: 0,
                final_silence_ms: 0,
                term: String::new(),
                beep: false
            })
            .is_err()
        );
        assert!(check_request(&Request::SendDtmf(Digits::default())).is_err());
    }
}
