//! The media half of SIP channels: RTP sessions driven by a media thread (feature `sip`).
//!
//! **Split.** SIP signalling runs on the control plane (the daemon's user agent over
//! `tipring-sip`); what it negotiates reaches this shard through [`SipMediaControl::send`].
//! The control side builds the call's [`tipring_rtp::Session`] (jitter buffer, concealment,
//! RFC 4733, RTCP: everything sized there, because building allocates) and moves it into the
//! shard through a preallocated ring; a session the shard is done with goes back the same
//! way on a second ring and is dropped on the control side. The shard owns one RTP and one
//! RTCP socket per channel slot, bound at start-up (ports `rtp_port + 2·slot` and the one
//! above), so nothing is opened, bound, allocated or freed on the media thread while calls
//! run.
//!
//! **Per tick** ([`Shard::read`]): every datagram waiting on the slot's RTP socket is taken
//! without blocking (module `udp`; slots without a call are not read at all)
//! and pushed into the session; one frame is pulled out of its jitter buffer
//! (concealed where packets are missing, squelched where telephone events cover in-band
//! tones). [`Shard::write`] hands the frame the engine mixed to the session's sender and
//! sends the packets it makes. With symmetric RTP on, the slot sends to where the peer's
//! packets come from (NAT latching). RTCP goes out every 5 s per call (staggered by slot).
//!
//! **DTMF, one representation inside.** The media engine hears DTMF in band on every
//! channel: it detects, records and bridges tones. This shard converts at the edge, so a
//! SIP channel looks like any line to the engine:
//! * *Receive.* An RFC 4733 digit is regenerated as a clean in-band tone into the received
//!   frame (the in-band copy the peer may also have sent is squelched by the receiver), so
//!   the engine's detector reports it exactly once, and a bridged analog line or a recording
//!   hears it. A digit the signalling received (SIP INFO) comes as [`SlotCommand::Digit`]
//!   and is regenerated the same way. A key press the peer sends both ways (INFO and RFC
//!   4733, within 500 ms) is regenerated once.
//! * *Send.* When the peer accepts telephone-event, the frames to send pass a one-frame
//!   delay line and a DTMF receiver; a tone found there (a handler's `SendDtmf`, or a digit
//!   keyed on a bridged line) is sent as RFC 4733 events and the tone itself is squelched
//!   from the audio. Without telephone-event the tone goes in band, untouched.
//!
//! **Statistics.** Each slot publishes its call's figures (packets, loss, jitter, RTT,
//! concealment, the peer's RTCP view) about once a second into a lock-free
//! [`RtpStatsBoard`] that the API reads.

mod udp;

use crate::audio::{AudioFormat, Encoding, FramePeriod};
use crate::channel::{ChannelInfo, ChannelKind};
use crate::clock::{Pacing, Ticker};
use crate::error::HalError;
use crate::ids::ChannelId;
use crate::shard::Shard;
use crate::signal::{Command, Signal};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_rtp::{Codec, PayloadMap, ReceiverConfig, RxEvent, SenderConfig, Session, Ssrc};
use udp::{BATCH, MAX_DATAGRAM, Received};

/// The RTP payload a slot carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpCodec {
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// Opus (RFC 7587), coded at 8 kHz.
    Opus,
}

impl RtpCodec {
    /// The name used in SDP and in statistics.
    pub const fn name(self) -> &'static str {
        match self {
            RtpCodec::Pcmu => "PCMU",
            RtpCodec::Pcma => "PCMA",
            RtpCodec::Opus => "opus",
        }
    }

    fn rtp(self) -> Option<Codec> {
        match self {
            RtpCodec::Pcmu => Some(Codec::Pcmu),
            RtpCodec::Pcma => Some(Codec::Pcma),
            #[cfg(feature = "opus")]
            RtpCodec::Opus => Some(Codec::Opus),
            #[cfg(not(feature = "opus"))]
            RtpCodec::Opus => None,
        }
    }

    fn index(self) -> u32 {
        match self {
            RtpCodec::Pcmu => 1,
            RtpCodec::Pcma => 2,
            RtpCodec::Opus => 3,
        }
    }
}

/// What the signalling side negotiated for a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpParams {
    /// Where to send (None: on hold, send nothing until the peer's packets show where).
    pub remote: Option<SocketAddr>,
    /// Codec.
    pub codec: RtpCodec,
    /// Its payload type.
    pub pt: u8,
    /// telephone-event payload type, if negotiated.
    pub event_pt: Option<u8>,
    /// Our SSRC (random, chosen by the signalling side).
    pub ssrc: u32,
    /// First sequence number and timestamp (random).
    pub seq: u16,
    /// First timestamp.
    pub ts: u32,
    /// Send to the address the peer's packets come from.
    pub symmetric: bool,
    /// Packet duration we send, ms (10–60 for G.711, 10 or 20 for Opus; the peer's
    /// `a=ptime`, else 20).
    pub ptime_ms: u32,
}

/// A command from the signalling side to a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotCommand {
    /// Start the slot's media, or change it. The same codec, payload types and SSRC as the
    /// running session only moves it (a re-INVITE to hold, resume, or a new address);
    /// anything else starts a new session.
    Start {
        /// The slot.
        slot: usize,
        /// The media.
        params: RtpParams,
    },
    /// Stop sending and receiving.
    Stop {
        /// The slot.
        slot: usize,
    },
    /// A digit the peer signalled out of band another way (SIP INFO): regenerated in band
    /// into the received audio like an RFC 4733 digit, so the engine reports it once and a
    /// bridged line hears it. Ignored when the slot has no call.
    Digit {
        /// The slot.
        slot: usize,
        /// `0`–`9`, `*`, `#`, `A`–`D`.
        digit: char,
    },
}

/// Why [`SipMediaControl::send`] could not pass a command on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SendError {
    /// The slot does not exist.
    #[error("SIP media: no slot {slot} (there are {slots})")]
    NoSlot {
        /// The slot asked for.
        slot: usize,
        /// Slots there are.
        slots: usize,
    },
    /// The command ring is full: the media thread is not ticking.
    #[error("SIP media: command ring full for slot {slot}: the media thread is stalled")]
    Stalled {
        /// The slot.
        slot: usize,
    },
    /// The session could not be built from the parameters.
    #[error("SIP media: slot {slot}: {reason}")]
    Session {
        /// The slot.
        slot: usize,
        /// Why, in words.
        reason: String,
    },
}

/// Configuration of the SIP channels' media.
#[derive(Debug, Clone)]
pub struct SipMediaConfig {
    /// First channel number.
    pub first_channel: u32,
    /// Slots.
    pub channels: u32,
    /// Address to bind RTP sockets on (port ignored).
    pub bind: std::net::IpAddr,
    /// First RTP port (even; each slot takes two).
    pub rtp_port: u16,
    /// Pacing.
    pub pacing: Pacing,
}

/// A call's RTP figures, as last published by the media thread (about once a second, and
/// when the call's media stops). With feature `serde` they serialize as the daemon's API
/// shows them (`delay_ms` as `buffer_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CallRtpStats {
    /// Codec name (`PCMU`, `PCMA`, `opus`).
    pub codec: &'static str,
    /// RTP packets sent.
    pub packets_sent: u64,
    /// RTP packets received.
    pub packets_received: u64,
    /// Packets lost from the peer (RFC 3550 cumulative, negative with duplicates).
    pub lost: i64,
    /// Fraction lost in our last report, percent.
    pub loss_pct: f32,
    /// Interarrival jitter of the peer's stream, ms.
    pub jitter_ms: f32,
    /// Round-trip time from RTCP, ms.
    pub rtt_ms: Option<f32>,
    /// Jitter-buffer delay at the last pull, ms.
    #[cfg_attr(feature = "serde", serde(rename = "buffer_ms"))]
    pub delay_ms: f32,
    /// Audio concealed for missing packets, ms.
    pub concealed_ms: u64,
    /// Packets that arrived too late to play.
    pub late: u64,
    /// What the peer's RTCP says about our stream: loss percent, jitter ms.
    pub remote_loss_pct: Option<f32>,
    /// The peer's measured jitter of our stream, ms.
    pub remote_jitter_ms: Option<f32>,
    /// RTCP reports sent and received.
    pub rtcp_sent: u64,
    /// RTCP reports received.
    pub rtcp_received: u64,
    /// Digits received as RFC 4733 events.
    pub digits_received: u64,
    /// Digits sent as RFC 4733 events.
    pub digits_sent: u64,
    /// The SSRC we sent with: tells this call's figures from the next call's on the slot.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub ssrc: u32,
    /// Published as the call's media stopped: these are the call's final figures.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub last: bool,
}

/// Fields of one slot's published statistics (f32 values stored as bits).
#[derive(Debug, Default)]
struct SlotStats {
    /// Even: stable; odd: being written (a sequence lock without a lock).
    generation: AtomicU64,
    codec: AtomicU32,
    packets_sent: AtomicU64,
    packets_received: AtomicU64,
    lost: AtomicU64,
    loss_pct: AtomicU32,
    jitter_ms: AtomicU32,
    rtt_ms: AtomicU32,
    delay_ms: AtomicU32,
    concealed: AtomicU64,
    late: AtomicU64,
    remote_loss_pct: AtomicU32,
    remote_jitter_ms: AtomicU32,
    rtcp_sent: AtomicU64,
    rtcp_received: AtomicU64,
    digits_received: AtomicU64,
    digits_sent: AtomicU64,
    ssrc: AtomicU32,
    last: AtomicBool,
}

const NONE_F32: u32 = u32::MAX;

impl SlotStats {
    fn publish(&self, codec: RtpCodec, s: &tipring_rtp::Stats, ssrc: u32, last: bool) {
        let g = self.generation.load(Ordering::Relaxed);
        self.generation.store(g.wrapping_add(1), Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        let f = |v: f32| v.to_bits();
        self.codec.store(codec.index(), Ordering::Relaxed);
        self.packets_sent.store(s.packets_sent, Ordering::Relaxed);
        self.packets_received
            .store(s.packets_received, Ordering::Relaxed);
        self.lost
            .store(i64::from(s.cumulative_lost) as u64, Ordering::Relaxed);
        self.loss_pct.store(
            f(f32::from(s.fraction_lost) * 100.0 / 256.0),
            Ordering::Relaxed,
        );
        self.jitter_ms.store(f(s.jitter_ms), Ordering::Relaxed);
        self.rtt_ms
            .store(s.rtt_ms.map_or(NONE_F32, f), Ordering::Relaxed);
        self.delay_ms
            .store(f(s.receiver.delay_ms), Ordering::Relaxed);
        self.concealed
            .store(s.receiver.buffer.concealed, Ordering::Relaxed);
        self.late.store(s.receiver.late, Ordering::Relaxed);
        self.remote_loss_pct.store(
            s.remote
                .map_or(NONE_F32, |r| f(f32::from(r.fraction_lost) * 100.0 / 256.0)),
            Ordering::Relaxed,
        );
        self.remote_jitter_ms.store(
            s.remote.map_or(NONE_F32, |r| f(r.jitter_ms)),
            Ordering::Relaxed,
        );
        self.rtcp_sent.store(s.rtcp_sent, Ordering::Relaxed);
        self.rtcp_received.store(s.rtcp_received, Ordering::Relaxed);
        self.digits_received
            .store(u64::from(s.receiver.events.digits), Ordering::Relaxed);
        self.digits_sent.store(s.sender.digits, Ordering::Relaxed);
        self.ssrc.store(ssrc, Ordering::Relaxed);
        self.last.store(last, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        self.generation.store(g.wrapping_add(2), Ordering::Release);
    }

    fn read(&self) -> Option<CallRtpStats> {
        for _ in 0..64 {
            let g = self.generation.load(Ordering::Acquire);
            if g % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let opt = |v: u32| (v != NONE_F32).then(|| f32::from_bits(v));
            let codec = match self.codec.load(Ordering::Relaxed) {
                1 => "PCMU",
                2 => "PCMA",
                3 => "opus",
                _ => return None,
            };
            let s = CallRtpStats {
                codec,
                packets_sent: self.packets_sent.load(Ordering::Relaxed),
                packets_received: self.packets_received.load(Ordering::Relaxed),
                lost: self.lost.load(Ordering::Relaxed) as i64,
                loss_pct: f32::from_bits(self.loss_pct.load(Ordering::Relaxed)),
                jitter_ms: f32::from_bits(self.jitter_ms.load(Ordering::Relaxed)),
                rtt_ms: opt(self.rtt_ms.load(Ordering::Relaxed)),
                delay_ms: f32::from_bits(self.delay_ms.load(Ordering::Relaxed)),
                concealed_ms: self.concealed.load(Ordering::Relaxed) / 8,
                late: self.late.load(Ordering::Relaxed),
                remote_loss_pct: opt(self.remote_loss_pct.load(Ordering::Relaxed)),
                remote_jitter_ms: opt(self.remote_jitter_ms.load(Ordering::Relaxed)),
                rtcp_sent: self.rtcp_sent.load(Ordering::Relaxed),
                rtcp_received: self.rtcp_received.load(Ordering::Relaxed),
                digits_received: self.digits_received.load(Ordering::Relaxed),
                digits_sent: self.digits_sent.load(Ordering::Relaxed),
                ssrc: self.ssrc.load(Ordering::Relaxed),
                last: self.last.load(Ordering::Relaxed),
            };
            std::sync::atomic::fence(Ordering::Acquire);
            if self.generation.load(Ordering::Relaxed) == g {
                return Some(s);
            }
        }
        None
    }

    fn clear(&self) {
        self.codec.store(0, Ordering::Release);
    }
}

/// The RTP figures of every SIP slot, readable from any thread without a lock (the media
/// thread publishes; readers retry while a publication is in progress).
#[derive(Debug, Clone)]
pub struct RtpStatsBoard {
    slots: Arc<[SlotStats]>,
    first: u32,
}

impl RtpStatsBoard {
    /// The figures of the call on `channel`, if it is a SIP channel whose media has run
    /// (they stay after the media stops, until the slot's next call starts).
    pub fn get(&self, channel: ChannelId) -> Option<CallRtpStats> {
        let s = channel.0.checked_sub(self.first)? as usize;
        self.slots.get(s)?.read()
    }
}

/// What goes to the media thread. Sessions move in boxed; nothing here is freed there.
#[derive(Debug)]
enum ToMedia {
    Start {
        slot: usize,
        session: Box<Session>,
        codec: RtpCodec,
        remote: Option<SocketAddr>,
        symmetric: bool,
    },
    Move {
        slot: usize,
        remote: Option<SocketAddr>,
        symmetric: bool,
    },
    Stop {
        slot: usize,
    },
    Digit {
        slot: usize,
        digit: char,
    },
    Tap {
        slot: usize,
        ring: rtrb::Producer<u8>,
        local: SocketAddr,
    },
    Untap {
        slot: usize,
    },
}

/// The length of a [`SipMediaControl::tap`] record's header: direction (1), time in ms (8, little endian), the
/// local and the remote address (19 each: family 4 or 6, 16 bytes of address, IPv4 in the
/// first 4, port big endian), the packet's length (2, little endian); the packet follows.
pub const TAP_HEADER: usize = 1 + 8 + 19 + 19 + 2;

fn put_addr(out: &mut [u8], a: SocketAddr) {
    out.fill(0);
    match a {
        SocketAddr::V4(v) => {
            out[0] = 4;
            out[1..5].copy_from_slice(&v.ip().octets());
        }
        SocketAddr::V6(v) => {
            out[0] = 6;
            out[1..17].copy_from_slice(&v.ip().octets());
        }
    }
    out[17..19].copy_from_slice(&a.port().to_be_bytes());
}

fn get_addr(b: &[u8]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([b[17], b[18]]);
    match b[0] {
        4 => {
            let ip: [u8; 4] = b[1..5].try_into().ok()?;
            Some(SocketAddr::from((ip, port)))
        }
        6 => {
            let ip: [u8; 16] = b[1..17].try_into().ok()?;
            Some(SocketAddr::from((ip, port)))
        }
        _ => None,
    }
}

/// One packet a tap copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tapped {
    /// Sent by the slot (else received).
    pub sent: bool,
    /// The media clock, ms.
    pub at_ms: u64,
    /// The slot's address.
    pub local: SocketAddr,
    /// The peer's.
    pub remote: SocketAddr,
    /// The RTP packet.
    pub packet: Vec<u8>,
}

/// Takes the next whole record from a tap's ring, if one is there (control plane).
pub fn tap_record(ring: &mut rtrb::Consumer<u8>) -> Option<Tapped> {
    if ring.slots() < TAP_HEADER {
        return None;
    }
    let mut head = [0u8; TAP_HEADER];
    {
        let chunk = ring.read_chunk(TAP_HEADER).ok()?;
        let (a, b) = chunk.as_slices();
        head[..a.len()].copy_from_slice(a);
        head[a.len()..].copy_from_slice(b);
        // Not committed yet: the whole record is taken below, or nothing.
    }
    let len = usize::from(u16::from_le_bytes([head[47], head[48]]));
    if ring.slots() < TAP_HEADER + len {
        return None;
    }
    let chunk = ring.read_chunk(TAP_HEADER + len).ok()?;
    let (a, b) = chunk.as_slices();
    let mut all = Vec::with_capacity(TAP_HEADER + len);
    all.extend_from_slice(a);
    all.extend_from_slice(b);
    chunk.commit_all();
    Some(Tapped {
        sent: all[0] == 1,
        at_ms: u64::from_le_bytes(all[1..9].try_into().ok()?),
        local: get_addr(&all[9..28])?,
        remote: get_addr(&all[28..47])?,
        packet: all[TAP_HEADER..].to_vec(),
    })
}

/// Writes one record into a tap's ring, whole or not at all (media thread: no allocation).
fn tap_push(
    ring: &mut rtrb::Producer<u8>,
    sent: bool,
    at_ms: u64,
    local: SocketAddr,
    remote: SocketAddr,
    packet: &[u8],
) {
    let total = TAP_HEADER + packet.len();
    let Ok(len) = u16::try_from(packet.len()) else {
        return;
    };
    let Ok(mut chunk) = ring.write_chunk(total) else {
        return; // full: this packet is not captured
    };
    let mut head = [0u8; TAP_HEADER];
    head[0] = u8::from(sent);
    head[1..9].copy_from_slice(&at_ms.to_le_bytes());
    put_addr(&mut head[9..28], local);
    put_addr(&mut head[28..47], remote);
    head[47..49].copy_from_slice(&len.to_le_bytes());
    let (a, b) = chunk.as_mut_slices();
    for (i, byte) in head.iter().chain(packet).enumerate() {
        if i < a.len() {
            a[i] = *byte;
        } else {
            b[i - a.len()] = *byte;
        }
    }
    chunk.commit_all();
}

/// The control plane's handle: commands in, local addresses out.
#[derive(Debug)]
pub struct SipMediaControl {
    commands: rtrb::Producer<ToMedia>,
    trash: rtrb::Consumer<Box<Session>>,
    locals: Vec<SocketAddr>,
    /// What each slot runs, as last commanded.
    running: Vec<Option<RtpParams>>,
    first: u32,
    board: RtpStatsBoard,
}

impl SipMediaControl {
    /// Copies every RTP packet `slot` sends and receives into `ring` as records
    /// ([`tap_record`] reads them) until [`untap`](Self::untap): a packet capture for
    /// troubleshooting; a record that does not fit is dropped whole. Keep the consumer until
    /// it `is_abandoned()` after the untap, so that nothing is freed on the media thread.
    ///
    /// # Errors
    /// No such slot, or the media thread is stalled.
    pub fn tap(&mut self, slot: usize, ring: rtrb::Producer<u8>) -> Result<(), SendError> {
        let slots = self.locals.len();
        let Some(&local) = self.locals.get(slot) else {
            return Err(SendError::NoSlot { slot, slots });
        };
        self.commands
            .push(ToMedia::Tap { slot, ring, local })
            .map_err(|_| SendError::Stalled { slot })
    }

    /// Ends `slot`'s packet capture.
    ///
    /// # Errors
    /// No such slot, or the media thread is stalled.
    pub fn untap(&mut self, slot: usize) -> Result<(), SendError> {
        let slots = self.locals.len();
        if slot >= slots {
            return Err(SendError::NoSlot { slot, slots });
        }
        self.commands
            .push(ToMedia::Untap { slot })
            .map_err(|_| SendError::Stalled { slot })
    }

    /// The RTP address of `slot`.
    pub fn local(&self, slot: usize) -> Option<SocketAddr> {
        self.locals.get(slot).copied()
    }

    /// The slot of `channel`, if it is a SIP channel.
    pub fn slot_of(&self, channel: ChannelId) -> Option<usize> {
        let s = channel.0.checked_sub(self.first)? as usize;
        (s < self.locals.len()).then_some(s)
    }

    /// The channel of `slot`.
    pub fn channel_of(&self, slot: usize) -> ChannelId {
        ChannelId(self.first + slot as u32)
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.locals.len()
    }

    /// The slots' RTP figures, for the API.
    pub fn stats(&self) -> RtpStatsBoard {
        self.board.clone()
    }

    /// Drops the sessions the media thread has finished with.
    pub fn collect(&mut self) {
        while self.trash.pop().is_ok() {}
    }

    /// Passes `cmd` to the media thread, building the call's RTP session for a start.
    ///
    /// # Errors
    /// No such slot, parameters the session refuses (a ptime the codec cannot carry, Opus
    /// in a build without it), or a full ring (the media thread is stalled).
    pub fn send(&mut self, cmd: SlotCommand) -> Result<(), SendError> {
        self.collect();
        let slots = self.locals.len();
        let slot = match cmd {
            SlotCommand::Start { slot, .. }
            | SlotCommand::Stop { slot }
            | SlotCommand::Digit { slot, .. } => slot,
        };
        if slot >= slots {
            return Err(SendError::NoSlot { slot, slots });
        }
        let msg = match cmd {
            SlotCommand::Stop { slot } => {
                self.running[slot] = None;
                ToMedia::Stop { slot }
            }
            SlotCommand::Digit { slot, digit } => ToMedia::Digit { slot, digit },
            SlotCommand::Start { slot, params } => {
                let same = self.running[slot].is_some_and(|r| {
                    (r.codec, r.pt, r.event_pt, r.ssrc, r.ptime_ms)
                        == (
                            params.codec,
                            params.pt,
                            params.event_pt,
                            params.ssrc,
                            params.ptime_ms,
                        )
                });
                let msg = if same {
                    ToMedia::Move {
                        slot,
                        remote: params.remote,
                        symmetric: params.symmetric,
                    }
                } else {
                    // The slot's figures are the new call's from now on.
                    self.board.slots[slot].clear();
                    ToMedia::Start {
                        slot,
                        session: Box::new(session(slot, &params)?),
                        codec: params.codec,
                        remote: params.remote,
                        symmetric: params.symmetric,
                    }
                };
                self.running[slot] = Some(params);
                msg
            }
        };
        self.commands
            .push(msg)
            .map_err(|_| SendError::Stalled { slot })
    }
}

/// Builds a call's session (on the control plane: this allocates).
fn session(slot: usize, p: &RtpParams) -> Result<Session, SendError> {
    let bad = |reason: String| SendError::Session { slot, reason };
    let codec = p
        .codec
        .rtp()
        .ok_or_else(|| bad(format!("{} is not in this build", p.codec.name())))?;
    let mut payloads = PayloadMap::new(p.pt, codec);
    if let Some(ev) = p.event_pt {
        payloads = payloads.with_events(ev);
    }
    let cfg = tipring_rtp::SessionConfig {
        receiver: ReceiverConfig::new(payloads),
        sender: SenderConfig {
            codec,
            payload_type: p.pt,
            event_payload_type: p.event_pt,
            ssrc: Ssrc(p.ssrc),
            initial_seq: p.seq,
            initial_timestamp: p.ts,
            ptime_ms: p.ptime_ms,
        },
        ntp_at_zero: 0,
    };
    Session::new(cfg, &format!("tipring-{:08x}@slot{slot}", p.ssrc)).map_err(|e| bad(e.to_string()))
}

/// Samples per frame (20 ms at 8 kHz).
const FRAME: usize = 160;
/// RTCP interval, ticks (5 s, RFC 3550 §6.2).
const RTCP_TICKS: u64 = 250;
/// How often a slot's RTCP socket is read, ticks (0.5 s).
const RTCP_POLL_TICKS: u64 = 25;
/// Statistics publication interval, ticks (1 s).
const STATS_TICKS: u64 = 50;
/// Duration of an RFC 4733 digit converted from an in-band tone, ms.
const CONVERTED_DIGIT_MS: u32 = 100;
/// Frames the send path stays squelched after a converted tone has ended (the detector
/// decides the end 45 ms after the tone; this covers its echo in the delay line).
const SQUELCH_HANGOVER: u8 = 2;

/// One call's media in a slot.
#[derive(Debug)]
struct Call {
    session: Box<Session>,
    codec: RtpCodec,
    remote: Option<SocketAddr>,
    remote_rtcp: Option<SocketAddr>,
    symmetric: bool,
    events: bool,
    /// The start of the last digit regenerated in band.
    regenerated: Option<u32>,
    /// The last digit regenerated: which, whether it came by SIP INFO (else RFC 4733),
    /// and when (media clock), so that a key press sent both ways counts once.
    last_digit: Option<(char, bool, u64)>,
    /// Frames to keep squelching the send path.
    squelch: u8,
}

#[derive(Debug)]
struct Slot {
    sock: UdpSocket,
    rtcp: UdpSocket,
    call: Option<Call>,
    /// RFC 4733 digits regenerated in band into the received audio.
    regen: DtmfGenerator,
    /// In-band digits found in the audio to send.
    detect: DtmfRx,
    /// The previous frame to send (the send path's one-frame delay).
    delay: [i16; FRAME],
    /// A packet capture: the ring and the slot's own address.
    tap: Option<(rtrb::Producer<u8>, SocketAddr)>,
}

/// The SIP channels' media shard.
#[derive(Debug)]
pub struct SipMedia {
    infos: Vec<ChannelInfo>,
    slots: Vec<Slot>,
    ticker: Ticker,
    commands: rtrb::Consumer<ToMedia>,
    trash: rtrb::Producer<Box<Session>>,
    board: Arc<[SlotStats]>,
    /// Datagram buffers: [`udp::recv`] fills all of them; everything else uses the
    /// first.
    bufs: Box<[[u8; MAX_DATAGRAM]; BATCH]>,
    got: [Received; BATCH],
    pcm: [i16; FRAME],
}

fn bind(addr: SocketAddr, slot: u32, what: &str) -> Result<UdpSocket, std::io::Error> {
    let sock = UdpSocket::bind(addr).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("{what} port {addr} for SIP channel slot {slot}: {e}"),
        )
    })?;
    sock.set_nonblocking(true)?;
    udp::prepare(&sock)?;
    Ok(sock)
}

/// Binds every slot's sockets and returns the shard and its control handle.
///
/// # Errors
/// A port could not be bound (the message names the address and the slot), or the tick
/// timer could not be made.
pub fn build(cfg: &SipMediaConfig) -> Result<(SipMedia, SipMediaControl), std::io::Error> {
    let n = cfg.channels as usize;
    let mut infos = Vec::with_capacity(n);
    let mut slots = Vec::with_capacity(n);
    let mut locals = Vec::with_capacity(n);
    let regen_cfg = DtmfGenConfig {
        on_ms: 70,
        off_ms: 50,
        ..DtmfGenConfig::default()
    };
    for i in 0..cfg.channels {
        let port = u32::from(cfg.rtp_port) + 2 * i;
        let port = u16::try_from(port + 1).map(|_| port as u16).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("SIP channel slot {i}: RTP port {port} is beyond 65534"),
            )
        })?;
        let sock = bind(SocketAddr::new(cfg.bind, port), i, "RTP")?;
        let rtcp = bind(SocketAddr::new(cfg.bind, port + 1), i, "RTCP")?;
        let local = sock.local_addr()?;
        let mut location = heapless::String::new();
        let _ = core::fmt::write(&mut location, format_args!("sip rtp {local}"));
        infos.push(ChannelInfo {
            echo_tail_ms: 0,
            id: ChannelId(cfg.first_channel + i),
            kind: ChannelKind::Sip,
            format: AudioFormat {
                encoding: Encoding::Linear,
                period: FramePeriod::Ms20,
            },
            backend: "sip",
            location,
        });
        locals.push(local);
        slots.push(Slot {
            sock,
            rtcp,
            call: None,
            regen: DtmfGenerator::new(regen_cfg)
                .map_err(|e| std::io::Error::other(format!("DTMF generator: {e:?}")))?,
            detect: DtmfRx::new(DtmfRxConfig::default())
                .map_err(|e| std::io::Error::other(format!("DTMF receiver: {e:?}")))?,
            delay: [0; FRAME],
            tap: None,
        });
    }
    let ring = 4 * n + 64;
    let (tx, rx) = rtrb::RingBuffer::new(ring);
    // Every session in flight or in a slot fits: the trash never overflows.
    let (trash_tx, trash_rx) = rtrb::RingBuffer::new(ring + n);
    let board: Arc<[SlotStats]> = (0..n).map(|_| SlotStats::default()).collect();
    let ticker = Ticker::new(FramePeriod::Ms20, cfg.pacing)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok((
        SipMedia {
            infos,
            slots,
            ticker,
            commands: rx,
            trash: trash_tx,
            board: board.clone(),
            bufs: Box::new([[0; MAX_DATAGRAM]; BATCH]),
            got: [Received::default(); BATCH],
            pcm: [0; FRAME],
        },
        SipMediaControl {
            commands: tx,
            trash: trash_rx,
            locals,
            running: vec![None; n],
            first: cfg.first_channel,
            board: RtpStatsBoard {
                slots: board,
                first: cfg.first_channel,
            },
        },
    ))
}

/// How long after a digit came one way (RFC 4733 or SIP INFO) the same digit coming the
/// other way is taken for the same key press, in 8 kHz samples (500 ms). Phones that send
/// both send them within tens of milliseconds; a person pressing a key twice needs a pause
/// between the presses, and a second press sent both ways is again one digit.
const DUPLICATE_WINDOW: u64 = 4_000;

/// Whether `digit`, arriving by INFO (`info`) or RFC 4733 at `now`, is a key press of its
/// own (and records it), or the other way's copy of the last one.
fn first_copy(last: &mut Option<(char, bool, u64)>, digit: char, info: bool, now: u64) -> bool {
    if let Some((d, was_info, at)) = *last
        && d == digit
        && was_info != info
        && now.saturating_sub(at) < DUPLICATE_WINDOW
    {
        return false;
    }
    *last = Some((digit, info, now));
    true
}

impl SipMedia {
    /// The media clock: 8 kHz samples since start.
    fn now(&self) -> u64 {
        self.ticker.ticks() * FRAME as u64
    }

    /// Ends the slot's call: its last figures are published and its session goes back to
    /// the control plane.
    fn finish(&mut self, slot: usize) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        if let Some(call) = s.call.take() {
            if let Some(b) = self.board.get(slot) {
                b.publish(
                    call.codec,
                    &call.session.stats(),
                    call.session.tx.config().ssrc.0,
                    true,
                );
            }
            // Cannot be full (sized for every session there can be); were it ever, the
            // session would be freed here, which is a delay, not an error.
            let _ = self.trash.push(call.session);
        }
        s.regen.clear();
        s.detect.reset();
        s.delay = [0; FRAME];
    }

    fn apply_commands(&mut self) {
        while let Ok(cmd) = self.commands.pop() {
            match cmd {
                ToMedia::Start {
                    slot,
                    session,
                    codec,
                    remote,
                    symmetric,
                } => {
                    self.finish(slot);
                    let now = self.now();
                    let Some(s) = self.slots.get_mut(slot) else {
                        let _ = self.trash.push(session);
                        continue;
                    };
                    // What waited on the port while the slot had no call is stale (the last
                    // call's peer still sending) and is dropped, except what the new peer
                    // already sent: it answers our 200 at once, up to a tick before this.
                    let mut session = session;
                    while let Ok((n, from)) = s.sock.recv_from(&mut self.bufs[0][..]) {
                        if Some(from) == remote {
                            let _ = session.rx.push(now, &self.bufs[0][..n]);
                        }
                    }
                    while s.rtcp.recv_from(&mut self.bufs[0][..]).is_ok() {}
                    if let Some(b) = self.board.get(slot) {
                        b.clear();
                    }
                    let events = session.tx.config().event_payload_type.is_some();
                    s.call = Some(Call {
                        session,
                        codec,
                        remote,
                        remote_rtcp: remote.map(rtcp_of),
                        symmetric,
                        events,
                        regenerated: None,
                        last_digit: None,
                        squelch: 0,
                    });
                }
                ToMedia::Move {
                    slot,
                    remote,
                    symmetric,
                } => {
                    if let Some(c) = self.slots.get_mut(slot).and_then(|s| s.call.as_mut()) {
                        c.remote = remote;
                        c.remote_rtcp = remote.map(rtcp_of);
                        c.symmetric = symmetric;
                    }
                }
                ToMedia::Stop { slot } => self.finish(slot),
                ToMedia::Tap { slot, ring, local } => {
                    if let Some(s) = self.slots.get_mut(slot) {
                        // A tap replaced is only an Arc decrement here: the control plane
                        // still holds its consumer.
                        s.tap = Some((ring, local));
                    }
                }
                ToMedia::Untap { slot } => {
                    if let Some(s) = self.slots.get_mut(slot) {
                        s.tap = None;
                    }
                }
                ToMedia::Digit { slot, digit } => {
                    let now = self.now();
                    if let Some(s) = self.slots.get_mut(slot)
                        && let Some(c) = s.call.as_mut()
                        && first_copy(&mut c.last_digit, digit, true, now)
                    {
                        let mut utf8 = [0u8; 4];
                        let _ = s.regen.queue_digits(digit.encode_utf8(&mut utf8));
                    }
                }
            }
        }
    }

    /// Takes every datagram waiting on the slot's sockets.
    fn receive(&mut self, slot: usize, now: u64) {
        let s = &mut self.slots[slot];
        let Some(c) = s.call.as_mut() else {
            return;
        };
        // Everything waiting; a full batch means there may be more.
        loop {
            let n = udp::recv(&s.sock, &mut self.bufs, &mut self.got);
            for (r, buf) in self.got[..n].iter().zip(self.bufs.iter()) {
                if r.truncated {
                    continue; // longer than any RTP packet we negotiate: not ours
                }
                if let (Some((ring, local)), Some(from)) = (s.tap.as_mut(), r.from) {
                    tap_push(ring, false, now, *local, from, &buf[..r.len]);
                }
                // Errors (malformed packets, unknown payloads) are counted in the session.
                if c.session.rx.push(now, &buf[..r.len]).is_ok()
                    && c.symmetric
                    && r.from.is_some()
                    && c.remote != r.from
                {
                    c.remote = r.from;
                }
            }
            if n < BATCH {
                break;
            }
        }
        // RTCP comes every few seconds: look for it every half second (staggered across
        // slots), not every tick; the socket buffer holds it meanwhile.
        let tick = now / FRAME as u64;
        if !tick
            .wrapping_add(slot as u64)
            .is_multiple_of(RTCP_POLL_TICKS)
        {
            return;
        }
        while let Ok((n, from)) = s.rtcp.recv_from(&mut self.bufs[0][..]) {
            if c.session.handle_rtcp(now, &self.bufs[0][..n]).is_ok() && c.symmetric {
                c.remote_rtcp = Some(from);
            }
        }
    }
}

/// The RTCP address that goes with an RTP address (RFC 3550 §11: the port above).
fn rtcp_of(rtp: SocketAddr) -> SocketAddr {
    SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1))
}

impl Shard for SipMedia {
    fn channels(&self) -> &[ChannelInfo] {
        &self.infos
    }

    fn wait_tick(&mut self) -> Result<u64, HalError> {
        let n = self.ticker.wait()?;
        self.apply_commands();
        Ok(n)
    }

    fn read(&mut self, slot: usize, frame: &mut [u8]) -> Result<usize, HalError> {
        if slot >= self.slots.len() {
            return Err(HalError::NoSuchChannel {
                channel: ChannelId(slot as u32),
            });
        }
        let now = self.now();
        // A slot without a call is not read: what arrives on its port meanwhile is stale and
        // is drained when its next call starts.
        if self.slots[slot].call.is_some() {
            self.receive(slot, now);
        }
        let n = (frame.len() / 2).min(FRAME);
        let s = &mut self.slots[slot];
        let pcm = &mut self.pcm[..n];
        match s.call.as_mut() {
            None => pcm.fill(0),
            Some(c) => {
                let _ = c.session.rx.pull(now, pcm);
                // RFC 4733 digits become in-band tones (see the module docs).
                while let Some(ev) = c.session.rx.poll_event() {
                    let (digit, start) = match ev {
                        RxEvent::DigitBegin { digit, start_ts } => (digit, start_ts),
                        RxEvent::Digit {
                            digit, start_ts, ..
                        } => (digit, start_ts),
                    };
                    if c.regenerated != Some(start) {
                        c.regenerated = Some(start);
                        if first_copy(&mut c.last_digit, digit, false, now) {
                            let mut utf8 = [0u8; 4];
                            let _ = s.regen.queue_digits(digit.encode_utf8(&mut utf8));
                        }
                    }
                }
                if !s.regen.is_idle() {
                    s.regen.generate(pcm);
                }
            }
        }
        for (o, v) in frame.chunks_exact_mut(2).zip(pcm.iter()) {
            o.copy_from_slice(&v.to_le_bytes());
        }
        Ok(2 * n)
    }

    fn write(&mut self, slot: usize, frame: &[u8]) -> Result<(), HalError> {
        let now = self.now();
        let tick = self.ticker.ticks();
        let Some(s) = self.slots.get_mut(slot) else {
            return Err(HalError::NoSuchChannel {
                channel: ChannelId(slot as u32),
            });
        };
        let Some(c) = s.call.as_mut() else {
            return Ok(());
        };
        let n = (frame.len() / 2).min(FRAME);
        for (o, b) in self.pcm[..n].iter_mut().zip(frame.chunks_exact(2)) {
            *o = i16::from_le_bytes([b[0], b[1]]);
        }
        let out: &[i16] = if c.events {
            // In-band tones become RFC 4733 (see the module docs): detect on the new frame,
            // send the delayed one.
            // Digital silence (nothing playing, nothing bridged) holds no tone: account for
            // the time without analysing it.
            if self.pcm[..n].iter().all(|v| *v == 0) {
                let _ = s.detect.fillin(n);
            } else {
                let _ = s.detect.process(&self.pcm[..n]);
            }
            while let Some(ev) = s.detect.poll_event() {
                if let DtmfEvent::Begin { digit, .. } = ev {
                    // A full digit queue drops the digit; the tone is squelched regardless.
                    let _ = c.session.tx.send_digit(digit, CONVERTED_DIGIT_MS);
                }
            }
            if s.detect.current_digit().is_some() {
                c.squelch = SQUELCH_HANGOVER;
            }
            for (d, p) in s.delay[..n].iter_mut().zip(self.pcm[..n].iter_mut()) {
                core::mem::swap(d, p);
            }
            if c.squelch > 0 {
                c.squelch -= 1;
                self.pcm[..n].fill(0);
            }
            &self.pcm[..n]
        } else {
            &self.pcm[..n]
        };
        c.session.tx.push_audio(out);
        while let Some(len) = c.session.tx.poll_packet(&mut self.bufs[0][..]) {
            if let Some(to) = c.remote {
                // A failed send (no route, ICMP refused) loses this packet only.
                let _ = udp::send(&s.sock, &self.bufs[0][..len], to);
                if let Some((ring, local)) = s.tap.as_mut() {
                    tap_push(ring, true, now, *local, to, &self.bufs[0][..len]);
                }
            }
        }
        // RTCP and statistics, staggered across slots.
        let phase = tick.wrapping_add(slot as u64);
        if phase.is_multiple_of(RTCP_TICKS)
            && let Some(to) = c.remote_rtcp
            && let Ok(len) = c.session.build_rtcp(now, &mut self.bufs[0][..])
        {
            let _ = s.rtcp.send_to(&self.bufs[0][..len], to);
        }
        if phase.is_multiple_of(STATS_TICKS)
            && let Some(b) = self.board.get(slot)
        {
            b.publish(
                c.codec,
                &c.session.stats(),
                c.session.tx.config().ssrc.0,
                false,
            );
        }
        Ok(())
    }

    fn command(&mut self, slot: usize, command: &Command) -> Result<(), HalError> {
        // Signalling of SIP channels runs on the control plane; the switch sends it there.
        Err(HalError::Unsupported {
            channel: ChannelId(slot as u32),
            kind: ChannelKind::Sip,
            command: command.verb(),
        })
    }

    fn poll_signal(&mut self) -> Option<(usize, Signal)> {
        // Line signalling comes from the control plane; digits arrive as audio.
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tap_records_round_trip_whole_or_not_at_all() {
        let (mut p, mut c) = rtrb::RingBuffer::new(200);
        let local: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let remote: SocketAddr = "[2001:db8::1]:5004".parse().unwrap();
        tap_push(&mut p, true, 1234, local, remote, &[0x80, 0, 1, 2]);
        tap_push(&mut p, false, 1254, local, remote, &[9; 60]);
        // The third does not fit (200 - 53 - 109 < 49 + 60): dropped whole.
        tap_push(&mut p, false, 1274, local, remote, &[7; 60]);
        let a = tap_record(&mut c).unwrap();
        assert_eq!(
            (a.sent, a.at_ms, a.local, a.remote, a.packet),
            (true, 1234, local, remote, vec![0x80, 0, 1, 2])
        );
        let b = tap_record(&mut c).unwrap();
        assert_eq!((b.sent, b.packet.len()), (false, 60));
        assert!(tap_record(&mut c).is_none());
        // Wrapped around the ring's end, still whole.
        tap_push(&mut p, true, 1294, remote, local, &[5; 90]);
        let d = tap_record(&mut c).unwrap();
        assert_eq!((d.local, d.remote, d.packet), (remote, local, vec![5; 90]));
    }
}
