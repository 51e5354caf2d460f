//! The media half of SIP channels: RTP sockets driven by a media thread (feature `sip`).
//!
//! **Split.** SIP signalling runs on the control plane (the daemon's user agent over
//! `tipring-sip`); what it negotiates reaches this shard as a [`SlotCommand`] through a
//! preallocated ring. The shard owns one UDP socket per channel slot, bound at start-up
//! (port `rtp_port + 2·slot`), so nothing is opened, bound or allocated while calls run.
//!
//! **Per tick** ([`Shard::read`]): every datagram waiting on the slot's socket is taken
//! (non-blocking), RTP audio is decoded into the slot's playout queue, RFC 4733 events
//! become [`Signal::Digit`] (once per event, whatever the sender's repetitions), and one
//! frame is played out. [`Shard::write`] encodes the frame the engine mixed and sends it as
//! one RTP packet. With symmetric RTP on, the slot sends to where the peer's packets come
//! from (NAT latching), once a packet has arrived.
//!
//! **What this is not yet.** The playout queue is a bounded FIFO (it drops the oldest audio
//! beyond 100 ms), not an adaptive jitter buffer with concealment, and only G.711 is carried;
//! `tipring-rtp` (jitter buffer, PLC, RTCP, Opus) replaces it.

use crate::audio::{AudioFormat, Encoding, FramePeriod};
use crate::channel::{ChannelInfo, ChannelKind};
use crate::clock::{Pacing, Ticker};
use crate::error::HalError;
use crate::ids::ChannelId;
use crate::shard::Shard;
use crate::signal::{Command, Signal};
use std::net::{SocketAddr, UdpSocket};
use tipring_dsp::g711::Law;

/// The RTP payload a slot carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RtpCodec {
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
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
}

/// A command from the signalling side to a slot. `Copy`: nothing is freed on the media
/// thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotCommand {
    /// Start (or change) the slot's media.
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
    /// First RTP port.
    pub rtp_port: u16,
    /// Pacing.
    pub pacing: Pacing,
}

/// The control plane's handle: commands in, local addresses out.
#[derive(Debug)]
pub struct SipMediaControl {
    commands: rtrb::Producer<SlotCommand>,
    locals: Vec<SocketAddr>,
    first: u32,
}

impl SipMediaControl {
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

    /// Queues `cmd`; false when the ring is full (the media thread is stalled).
    pub fn send(&mut self, cmd: SlotCommand) -> bool {
        self.commands.push(cmd).is_ok()
    }
}

/// Playout queue depth bound: 100 ms.
const MAX_QUEUED: usize = 800;
/// Bytes of the largest RTP datagram taken.
const MAX_DATAGRAM: usize = 1500;

#[derive(Debug)]
struct Slot {
    sock: UdpSocket,
    params: Option<RtpParams>,
    /// Decoded audio waiting to be played out.
    queue: heapless::Deque<i16, 1024>,
    /// Started playing (the queue filled to one frame once).
    playing: bool,
    /// The event (timestamp) last reported, to report each key press once.
    last_event: Option<u32>,
    seq: u16,
    ts: u32,
    sent: u64,
    received: u64,
}

/// The SIP channels' media shard.
#[derive(Debug)]
pub struct SipMedia {
    infos: Vec<ChannelInfo>,
    slots: Vec<Slot>,
    ticker: Ticker,
    commands: rtrb::Consumer<SlotCommand>,
    signals: heapless::Deque<(usize, Signal), 256>,
    buf: Box<[u8; MAX_DATAGRAM]>,
    pcm: [i16; 160],
}

/// Binds every slot's socket and returns the shard and its control handle.
///
/// # Errors
/// A port could not be bound, or the tick timer could not be made; the message names the
/// address and the slot.
pub fn build(cfg: &SipMediaConfig) -> Result<(SipMedia, SipMediaControl), std::io::Error> {
    let mut infos = Vec::with_capacity(cfg.channels as usize);
    let mut slots = Vec::with_capacity(cfg.channels as usize);
    let mut locals = Vec::with_capacity(cfg.channels as usize);
    for i in 0..cfg.channels {
        let port = cfg.rtp_port + 2 * i as u16;
        let addr = SocketAddr::new(cfg.bind, port);
        let sock = UdpSocket::bind(addr).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("RTP port {addr} for SIP channel slot {i}: {e}"),
            )
        })?;
        sock.set_nonblocking(true)?;
        let local = sock.local_addr()?;
        let mut location = heapless::String::new();
        let _ = core::fmt::write(&mut location, format_args!("sip rtp {local}"));
        infos.push(ChannelInfo {
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
            params: None,
            queue: heapless::Deque::new(),
            playing: false,
            last_event: None,
            seq: 0,
            ts: 0,
            sent: 0,
            received: 0,
        });
    }
    let (tx, rx) = rtrb::RingBuffer::new(4 * cfg.channels as usize + 64);
    let ticker = Ticker::new(FramePeriod::Ms20, cfg.pacing)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok((
        SipMedia {
            infos,
            slots,
            ticker,
            commands: rx,
            signals: heapless::Deque::new(),
            buf: Box::new([0; MAX_DATAGRAM]),
            pcm: [0; 160],
        },
        SipMediaControl {
            commands: tx,
            locals,
            first: cfg.first_channel,
        },
    ))
}

impl SipMedia {
    fn apply_commands(&mut self) {
        while let Ok(cmd) = self.commands.pop() {
            match cmd {
                SlotCommand::Start { slot, params } => {
                    if let Some(s) = self.slots.get_mut(slot) {
                        let fresh = s.params.is_none_or(|p| p.ssrc != params.ssrc);
                        s.params = Some(params);
                        if fresh {
                            s.seq = params.seq;
                            s.ts = params.ts;
                            s.queue.clear();
                            s.playing = false;
                            s.last_event = None;
                        }
                    }
                }
                SlotCommand::Stop { slot } => {
                    if let Some(s) = self.slots.get_mut(slot) {
                        s.params = None;
                        s.queue.clear();
                        s.playing = false;
                        // Drain what is left on the socket so the next call starts clean.
                        while s.sock.recv_from(&mut self.buf[..]).is_ok() {}
                    }
                }
            }
        }
    }

    fn receive(&mut self, slot: usize) {
        let Some(s) = self.slots.get_mut(slot) else {
            return;
        };
        // Until WouldBlock (or a transient ICMP error): nothing more this tick.
        while let Ok((n, from)) = s.sock.recv_from(&mut self.buf[..]) {
            let Some(p) = s.params.as_mut() else {
                continue; // not in a call: dropped
            };
            let Ok(r) = rtp_rs::RtpReader::new(&self.buf[..n]) else {
                continue;
            };
            s.received += 1;
            if p.symmetric && p.remote != Some(from) {
                p.remote = Some(from);
            }
            let pt = r.payload_type();
            if Some(pt) == p.event_pt {
                // RFC 4733 §2.3: event, E|R|volume, duration. One report per event,
                // identified by its timestamp (the start of the key press).
                let pl = r.payload();
                if pl.len() >= 4 && pl[0] <= 15 && s.last_event != Some(r.timestamp()) {
                    s.last_event = Some(r.timestamp());
                    let d = b"0123456789*#ABCD"[pl[0] as usize] as char;
                    let _ = self.signals.push_back((slot, Signal::Digit(d)));
                }
                continue;
            }
            if pt != p.pt {
                continue;
            }
            let law = match p.codec {
                RtpCodec::Pcmu => Law::Mu,
                RtpCodec::Pcma => Law::A,
            };
            for b in r.payload() {
                if s.queue.is_full() || s.queue.len() >= MAX_QUEUED {
                    s.queue.pop_front();
                }
                let _ = s.queue.push_back(law.decode(*b));
            }
        }
    }
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
        self.receive(slot);
        let s = &mut self.slots[slot];
        let n = (frame.len() / 2).min(160);
        if !s.playing && s.queue.len() >= n {
            s.playing = true;
        }
        for i in 0..n {
            let v = if s.playing {
                s.queue.pop_front().unwrap_or(0)
            } else {
                0
            };
            frame[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        if s.queue.is_empty() {
            s.playing = false;
        }
        Ok(2 * n)
    }

    fn write(&mut self, slot: usize, frame: &[u8]) -> Result<(), HalError> {
        let Some(s) = self.slots.get_mut(slot) else {
            return Err(HalError::NoSuchChannel {
                channel: ChannelId(slot as u32),
            });
        };
        let Some(p) = s.params else {
            return Ok(());
        };
        let Some(to) = p.remote else {
            return Ok(());
        };
        let n = (frame.len() / 2).min(160);
        for (o, b) in self.pcm[..n].iter_mut().zip(frame.chunks_exact(2)) {
            *o = i16::from_le_bytes([b[0], b[1]]);
        }
        let law = match p.codec {
            RtpCodec::Pcmu => Law::Mu,
            RtpCodec::Pcma => Law::A,
        };
        let mut payload = [0u8; 160];
        law.encode_slice(&self.pcm[..n], &mut payload[..n]);
        let built = rtp_rs::RtpPacketBuilder::new()
            .payload_type(p.pt)
            .ssrc(p.ssrc)
            .sequence(rtp_rs::Seq::from(s.seq))
            .timestamp(s.ts)
            .marked(s.sent == 0)
            .payload(&payload[..n])
            .build_into(&mut self.buf[..]);
        s.seq = s.seq.wrapping_add(1);
        s.ts = s.ts.wrapping_add(n as u32);
        if let Ok(len) = built {
            // A failed send (no route, ICMP refused) loses this packet only.
            if s.sock.send_to(&self.buf[..len], to).is_ok() {
                s.sent += 1;
            }
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
        self.signals.pop_front()
    }
}
