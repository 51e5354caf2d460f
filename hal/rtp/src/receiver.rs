//! The receiving half of a call's RTP session.
//!
//! # What does it do?
//! [`Receiver::push`] takes each datagram from the call's RTP socket; [`Receiver::pull`]
//! gives the media thread exactly the samples of 8 kHz audio it asks for, every tick;
//! [`Receiver::poll_event`] gives the RFC 4733 digits. In between:
//!
//! * **Parsing** (with `rtp-rs`): version 2, padding, CSRC list, header extension. Garbage
//!   is an [`RtpError`] naming what was wrong, and changes nothing.
//! * **Classification** by the call's [`PayloadMap`]: audio into the jitter buffer,
//!   telephone events to the [event receiver](crate::event_rx) (bypassing the buffer),
//!   comfort noise noted, unknown payload types counted and dropped.
//! * **Source state** per RFC 3550 [§A.1/A.3/A.8](crate::source): probation, extended
//!   sequence numbers, loss, jitter. Duplicates are recognised by a 128-packet window of
//!   extended sequence numbers.
//! * **SSRC changes.** Another SSRC is a *candidate*: once it has passed probation and the
//!   current source has been silent for 60 ms, it becomes the source and the stream is
//!   resynchronised. A stray packet from elsewhere never disturbs a live stream.
//! * **Timestamp jumps and sender restarts** (the newest packet lands far before the
//!   playout point, beyond the buffer, or far ahead of the clock; or §A.1 confirms a
//!   sequence restart) re-anchor the timeline so that packet plays after the target delay:
//!   no stall, no flood of concealment.
//! * **Squelch.** Audio whose timestamp falls inside a telephone event (from 10 ms before its
//!   start to 40 ms after its end; until it ends, open-ended) is replaced with silence in
//!   `pull`. A peer that sends a digit both as RFC 4733 events and in-band therefore reaches
//!   the media engine's in-band DTMF detector only once, as the event.
//!
//! # How does it work?
//! The timeline maps RTP timestamps to 8 kHz positions: the timestamp is extended to 64 bits
//! around the last newest packet's, divided by the codec's ticks per sample, and offset by
//! an anchor chosen when the stream (re)starts. The [`JitterBuffer`](crate::jitter) works on
//! positions only. G.711 is decoded as it arrives (stateless); Opus in order, see
//! `opus_rx` (feature `opus`).

use crate::codec::{Codec, Payload, PayloadMap};
use crate::error::{ConfigError, RtpError};
use crate::event_rx::{EventCounters, EventReceiver, RxEvent};
use crate::jitter::{DelayLimits, JitterBuffer, JitterCounters, Placement, Pulled};
use crate::source::{Reception, SeqVerdict, SourceState};
use crate::telephone_event::EventPayload;
use crate::{Ssrc, ms_to_samples};
use rtp_rs::{RtpReader, RtpReaderError};

/// Silence of the current source after which a validated new SSRC takes over (60 ms).
const SWITCH_QUIET: u64 = 480;
/// Duplicate-detection window, packets.
const SEEN_WINDOW: u32 = 128;

/// Settings of a [`Receiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// What each payload type means (from the SDP answer).
    pub payloads: PayloadMap,
    /// Smallest target delay, ms (default 20: one packet at the usual ptime).
    pub min_delay_ms: u32,
    /// Largest target delay, ms (default 100, for trunks).
    pub max_delay_ms: u32,
    /// Target delay at the start of a stream, ms (default 40).
    pub initial_delay_ms: u32,
    /// Room beyond the largest delay for early packets and long packets, ms (default 200).
    pub headroom_ms: u32,
    /// Packets in sequence before a new source is valid (RFC 3550 §A.1 `MIN_SEQUENTIAL`,
    /// default 2: the first packet of a new source is not played). 0 or 1 accepts at once.
    pub min_sequential: u8,
    /// A telephone event without a report for this long has ended, ms (default 200).
    pub event_timeout_ms: u32,
}

impl ReceiverConfig {
    /// The defaults for a trunk, with the given payload map.
    pub const fn new(payloads: PayloadMap) -> Self {
        Self {
            payloads,
            min_delay_ms: 20,
            max_delay_ms: 100,
            initial_delay_ms: 40,
            headroom_ms: 200,
            min_sequential: 2,
            event_timeout_ms: 200,
        }
    }
}

/// What [`Receiver::push`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Received {
    /// Audio stored for playout.
    Audio {
        /// Its duration in 8 kHz samples.
        samples: u32,
    },
    /// A telephone-event report, handed to the event receiver (see
    /// [`Receiver::poll_event`]).
    Event,
    /// A comfort-noise packet (RFC 3389): noted; the buffer plays silence for missing audio.
    ComfortNoise,
    /// Valid, but not used.
    Dropped(DropReason),
}

/// Why a valid packet was not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its payload type is not in the map.
    UnknownPayload {
        /// The payload type.
        pt: u8,
    },
    /// Its source is on probation (RFC 3550 §A.1).
    Probation,
    /// From an SSRC other than the current source's, which is still live.
    OtherSource {
        /// Its SSRC.
        ssrc: Ssrc,
    },
    /// A sequence jump not (yet) confirmed by the next packet (RFC 3550 §A.1).
    SequenceJump,
    /// A packet already received.
    Duplicate,
    /// Arrived after its audio was played.
    Late,
    /// Too far ahead of the playout point for the buffer.
    TooEarly,
}

/// Counters and figures of a [`Receiver`]; a snapshot, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ReceiverStats {
    /// The current source.
    pub ssrc: Option<Ssrc>,
    /// Valid packets received (RFC 3550 sense: duplicates included).
    pub packets: u64,
    /// Payload octets of those packets.
    pub octets: u64,
    /// Audio packets stored.
    pub audio_packets: u64,
    /// Telephone-event packets.
    pub event_packets: u64,
    /// Comfort-noise packets.
    pub comfort_noise_packets: u64,
    /// Packets refused as malformed ([`RtpError`]).
    pub malformed: u64,
    /// Packets of unknown payload types.
    pub unknown_payload: u64,
    /// Packets dropped during probation.
    pub probation: u64,
    /// Packets from another SSRC while the current one was live.
    pub other_source: u64,
    /// Packets dropped as unconfirmed sequence jumps.
    pub sequence_jumps: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Late packets dropped.
    pub late: u64,
    /// Packets too far ahead, dropped.
    pub too_early: u64,
    /// Timeline resynchronisations (timestamp jumps, restarts, SSRC changes).
    pub resyncs: u32,
    /// Times a new SSRC took over.
    pub ssrc_changes: u32,
    /// Packets expected from the current source (RFC 3550 §A.3).
    pub expected: u32,
    /// Packets lost from the current source (RFC 3550 §A.3; negative with duplicates).
    pub cumulative_lost: i32,
    /// Highest extended sequence number of the current source.
    pub ext_max_seq: u32,
    /// Interarrival jitter (RFC 3550 §A.8), RTP timestamp units.
    pub jitter: u32,
    /// The same in milliseconds.
    pub jitter_ms: f32,
    /// Playout delay at the last pull, ms.
    pub delay_ms: f32,
    /// Target delay, ms.
    pub target_delay_ms: f32,
    /// Jitter buffer counters (samples played, concealed, stretched…).
    pub buffer: JitterCounters,
    /// Telephone-event counters.
    pub events: EventCounters,
    /// Lost Opus frames decoded from the next packet's in-band FEC data (libopus conceals
    /// instead when the packet carries none).
    pub fec_frames: u64,
}

/// Maps RTP timestamps to positions on the receiver's 8 kHz timeline.
#[derive(Debug, Clone, Copy)]
struct Timeline {
    ts_ref: u32,
    ext_ref: i64,
    anchor: i64,
    tps: i64,
}

impl Timeline {
    fn ext(&self, ts: u32) -> i64 {
        self.ext_ref + i64::from(ts.wrapping_sub(self.ts_ref) as i32)
    }

    fn pos(&self, ts: u32) -> i64 {
        self.ext(ts).div_euclid(self.tps) + self.anchor
    }

    /// Moves the reference to `ts` (the newest packet), so later timestamps extend across
    /// wraps.
    fn advance(&mut self, ts: u32) {
        self.ext_ref = self.ext(ts);
        self.ts_ref = ts;
    }

    /// Makes timestamp `ts` map to `pos`.
    fn anchor(&mut self, ts: u32, pos: i64) {
        self.ts_ref = ts;
        self.ext_ref = 0;
        self.anchor = pos;
    }
}

/// The receiving half of a call's RTP session. See the [module docs](self).
#[derive(Debug)]
pub struct Receiver {
    map: PayloadMap,
    min_sequential: u8,
    max_packet: usize,
    source: Option<SourceState>,
    candidate: Option<SourceState>,
    /// `now` of the current source's latest packet.
    last_heard: u64,
    /// Duplicate window: bit `k` is extended sequence `seen_max − k`.
    seen: u128,
    seen_max: Option<u32>,
    timeline: Timeline,
    need_resync: bool,
    jb: JitterBuffer,
    events: EventReceiver,
    #[cfg(feature = "opus")]
    opus: Option<crate::opus_rx::OpusRx>,
    stats: ReceiverStats,
    last_delay: u32,
}

fn check(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), ConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

impl Receiver {
    /// A receiver with everything sized: the only allocations it makes.
    ///
    /// # Errors
    /// A payload map that does not [validate](PayloadMap::validate), or a delay setting
    /// out of range ([`ConfigError::OutOfRange`] names it).
    pub fn new(cfg: ReceiverConfig) -> Result<Self, ConfigError> {
        cfg.payloads.validate()?;
        check("max_delay_ms", cfg.max_delay_ms, 20, 1_000)?;
        check("min_delay_ms", cfg.min_delay_ms, 0, cfg.max_delay_ms)?;
        check(
            "initial_delay_ms",
            cfg.initial_delay_ms,
            cfg.min_delay_ms,
            cfg.max_delay_ms,
        )?;
        check("headroom_ms", cfg.headroom_ms, 60, 2_000)?;
        check("min_sequential", u32::from(cfg.min_sequential), 0, 10)?;
        check("event_timeout_ms", cfg.event_timeout_ms, 50, 2_000)?;
        let capacity = ms_to_samples(cfg.max_delay_ms + cfg.headroom_ms) as usize;
        let limits = DelayLimits {
            min: ms_to_samples(cfg.min_delay_ms),
            max: ms_to_samples(cfg.max_delay_ms),
            initial: ms_to_samples(cfg.initial_delay_ms),
        };
        let tps = cfg.payloads.ticks_per_sample();
        #[cfg(feature = "opus")]
        let opus = if cfg.payloads.audio().iter().any(|(_, c)| *c == Codec::Opus) {
            Some(crate::opus_rx::OpusRx::new().map_err(ConfigError::Opus)?)
        } else {
            None
        };
        Ok(Self {
            map: cfg.payloads,
            min_sequential: cfg.min_sequential,
            max_packet: (ms_to_samples(cfg.headroom_ms) as usize).min(960),
            source: None,
            candidate: None,
            last_heard: 0,
            seen: 0,
            seen_max: None,
            timeline: Timeline {
                ts_ref: 0,
                ext_ref: 0,
                anchor: 0,
                tps: i64::from(tps),
            },
            need_resync: true,
            jb: JitterBuffer::new(capacity, limits),
            events: EventReceiver::new(tps, ms_to_samples(cfg.event_timeout_ms) as u64),
            #[cfg(feature = "opus")]
            opus,
            stats: ReceiverStats::default(),
            last_delay: 0,
        })
    }

    /// The payload map.
    pub fn payloads(&self) -> &PayloadMap {
        &self.map
    }

    /// Bytes of heap this receiver holds (the jitter buffer; libopus state not counted).
    pub fn heap_bytes(&self) -> usize {
        self.jb.heap_bytes()
    }

    /// The current source's SSRC.
    pub fn ssrc(&self) -> Option<Ssrc> {
        self.source.filter(|s| s.is_valid()).map(|s| Ssrc(s.ssrc()))
    }

    /// Handles one datagram that arrived at `now` (8 kHz samples of the media clock).
    ///
    /// # Errors
    /// A malformed packet ([`RtpError`]): counted, nothing else changes.
    pub fn push(&mut self, now: u64, packet: &[u8]) -> Result<Received, RtpError> {
        let r = self.parse(now, packet);
        if r.is_err() {
            self.stats.malformed += 1;
        }
        r
    }

    fn parse(&mut self, now: u64, packet: &[u8]) -> Result<Received, RtpError> {
        let rtp = RtpReader::new(packet).map_err(|e| map_reader_error(e, packet))?;
        let pt = rtp.payload_type();
        let kind = self.map.classify(pt);
        if kind == Payload::Unknown {
            self.stats.unknown_payload += 1;
            return Ok(Received::Dropped(DropReason::UnknownPayload { pt }));
        }
        let payload = rtp.payload();
        if payload.is_empty() {
            return Err(RtpError::EmptyPayload { pt });
        }
        // Validate the payload before any state changes.
        let samples = match kind {
            Payload::Audio(codec) => {
                let samples = audio_samples(codec, payload)?;
                if samples > self.max_packet {
                    return Err(RtpError::PayloadTooLong {
                        samples,
                        max: self.max_packet,
                    });
                }
                samples
            }
            Payload::Event => {
                EventPayload::parse(payload)?;
                0
            }
            _ => 0,
        };
        let ts = rtp.timestamp();
        let (ext, newest) = match self.check_source(now, rtp.ssrc(), rtp.sequence_number().into()) {
            Ok(v) => v,
            Err(reason) => return Ok(Received::Dropped(reason)),
        };
        if !self.first_sighting(ext) {
            self.stats.duplicates += 1;
            return Ok(Received::Dropped(DropReason::Duplicate));
        }
        self.last_heard = now;
        self.stats.packets += 1;
        self.stats.octets += payload.len() as u64;
        match kind {
            Payload::Event => {
                self.stats.event_packets += 1;
                let pos = (self.jb.is_synced() && !self.need_resync).then(|| self.timeline.pos(ts));
                if let Ok(e) = EventPayload::parse(payload) {
                    self.events.on_report(now, ts, e, pos);
                }
                Ok(Received::Event)
            }
            Payload::ComfortNoise => {
                self.stats.comfort_noise_packets += 1;
                Ok(Received::ComfortNoise)
            }
            Payload::Audio(codec) => self.audio(now, codec, ts, newest, payload, samples),
            Payload::Unknown => Ok(Received::Dropped(DropReason::UnknownPayload { pt })),
        }
    }

    /// RFC 3550 §A.1 for the packet's source, with the candidate-SSRC rule; the extended
    /// sequence number and whether it is the newest.
    fn check_source(&mut self, now: u64, ssrc: u32, seq: u16) -> Result<(u32, bool), DropReason> {
        let verdict = match self.source.as_mut() {
            Some(s) if s.ssrc() == ssrc => s.update_seq(seq),
            Some(s) if s.is_valid() => {
                // Another source while ours is valid: a candidate.
                let cand = match self.candidate.as_mut() {
                    Some(c) if c.ssrc() == ssrc => c,
                    _ => self
                        .candidate
                        .insert(SourceState::new(ssrc, seq, self.min_sequential)),
                };
                let v = cand.update_seq(seq);
                let live = now.saturating_sub(self.last_heard) < SWITCH_QUIET;
                match v {
                    SeqVerdict::Valid { .. } if !live => {
                        self.source = self.candidate.take();
                        self.stats.ssrc_changes += 1;
                        self.new_stream(now);
                        v
                    }
                    _ => {
                        self.stats.other_source += 1;
                        return Err(DropReason::OtherSource { ssrc: Ssrc(ssrc) });
                    }
                }
            }
            _ => {
                // No source yet, or the current one never became valid: take this one.
                let s = self
                    .source
                    .insert(SourceState::new(ssrc, seq, self.min_sequential));
                s.update_seq(seq)
            }
        };
        match verdict {
            SeqVerdict::Valid {
                ext,
                newest,
                restarted,
            } => {
                if restarted {
                    self.new_stream(now);
                }
                Ok((ext, newest))
            }
            SeqVerdict::Probation => {
                self.stats.probation += 1;
                Err(DropReason::Probation)
            }
            SeqVerdict::BadJump => {
                self.stats.sequence_jumps += 1;
                Err(DropReason::SequenceJump)
            }
        }
    }

    /// A new source or a restart of the current one: forget sequence history, resync.
    fn new_stream(&mut self, now: u64) {
        self.seen = 0;
        self.seen_max = None;
        self.need_resync = true;
        self.events.new_stream(now);
    }

    /// Marks `ext` as seen; false if it had been.
    fn first_sighting(&mut self, ext: u32) -> bool {
        let Some(max) = self.seen_max else {
            self.seen = 1;
            self.seen_max = Some(ext);
            return true;
        };
        let ahead = ext.wrapping_sub(max) as i32;
        if ahead > 0 {
            let shift = ahead as u32;
            self.seen = if shift >= SEEN_WINDOW {
                1
            } else {
                (self.seen << shift) | 1
            };
            self.seen_max = Some(ext);
            return true;
        }
        let back = ahead.unsigned_abs();
        if back >= SEEN_WINDOW {
            // Too old to tell: it would be late anyway.
            return true;
        }
        let bit = 1u128 << back;
        let first = self.seen & bit == 0;
        self.seen |= bit;
        first
    }

    fn audio(
        &mut self,
        now: u64,
        codec: Codec,
        ts: u32,
        newest: bool,
        payload: &[u8],
        samples: usize,
    ) -> Result<Received, RtpError> {
        let len = samples as i64;
        let mut resynced = false;
        if self.need_resync || !self.jb.is_synced() {
            self.resync(now, ts);
            resynced = true;
        }
        let mut pos = self.timeline.pos(ts);
        match self.jb.place(now, pos, len, newest) {
            Placement::Store => {}
            Placement::Rewind { to } => self.jb.rewind(to),
            Placement::Late { .. } => {
                self.jb.note_arrival(now, pos);
                self.stats.late += 1;
                return Ok(Received::Dropped(DropReason::Late));
            }
            Placement::TooEarly => {
                self.stats.too_early += 1;
                return Ok(Received::Dropped(DropReason::TooEarly));
            }
            Placement::Resync => {
                self.resync(now, ts);
                resynced = true;
                pos = self.timeline.pos(ts);
            }
        }
        if let Some(s) = self.source.as_mut() {
            if resynced {
                s.reset_transit();
            }
            let arrival = now.wrapping_mul(self.timeline.tps as u64) as u32;
            s.update_jitter(arrival, ts);
        }
        if let Some(law) = codec.law() {
            self.jb.write(pos, samples, |dst, off| {
                law.decode_slice(&payload[off..], dst);
            });
        } else {
            #[cfg(feature = "opus")]
            if let Some(opus) = self.opus.as_mut() {
                if opus.is_late(pos) {
                    self.stats.late += 1;
                    return Ok(Received::Dropped(DropReason::Late));
                }
                opus.decode(&mut self.jb, pos, samples, payload)
                    .map_err(RtpError::Opus)?;
            }
        }
        if newest {
            self.timeline.advance(ts);
        }
        self.jb.note_arrival(now, pos);
        self.stats.audio_packets += 1;
        Ok(Received::Audio {
            samples: samples as u32,
        })
    }

    /// Re-anchors the timeline so timestamp `ts` plays after the target delay.
    fn resync(&mut self, now: u64, ts: u32) {
        if self.jb.is_synced() {
            self.stats.resyncs += 1;
        }
        let pos = self.jb.anchor_position();
        self.timeline.anchor(ts, pos);
        self.jb.start(now, pos);
        self.need_resync = false;
        #[cfg(feature = "opus")]
        if let Some(opus) = self.opus.as_mut() {
            opus.restart();
        }
    }

    /// Fills `out` with the next `out.len()` samples of 8 kHz audio due at `now` (call it
    /// once per tick, with `now` advancing by the tick): received audio, concealment, or
    /// silence; squelched where telephone events cover it.
    pub fn pull(&mut self, now: u64, out: &mut [i16]) -> Pulled {
        self.events.expire(now);
        #[cfg(feature = "opus")]
        let opus_concealed = match self.opus.as_mut() {
            Some(opus) if self.jb.is_synced() => {
                let until = self.jb.play() + out.len() as i64;
                opus.fill_until(&mut self.jb, until, &self.events)
            }
            _ => 0,
        };
        #[allow(unused_mut)]
        let mut pulled = self.jb.pull(now, out, &self.events);
        #[cfg(feature = "opus")]
        {
            let c = opus_concealed.min(pulled.received);
            pulled.received -= c;
            pulled.concealed += c;
        }
        self.last_delay = pulled.delay;
        pulled
    }

    /// The next telephone event (digit begin or end), oldest first.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<RxEvent> {
        self.events.poll()
    }

    /// Counters and figures so far.
    pub fn stats(&self) -> ReceiverStats {
        let mut s = self.stats;
        s.ssrc = self.ssrc();
        if let Some(src) = self.source.as_ref().filter(|s| s.is_valid()) {
            s.expected = src.expected();
            s.cumulative_lost = src.cumulative_lost();
            s.ext_max_seq = src.ext_max_seq();
            s.jitter = src.jitter();
        }
        let rate = self.timeline.tps as f32 * 8.0;
        s.jitter_ms = s.jitter as f32 / rate;
        s.delay_ms = self.last_delay as f32 / 8.0;
        s.target_delay_ms = self.jb.target() as f32 / 8.0;
        s.buffer = self.jb.counters();
        s.events = self.events.counters();
        #[cfg(feature = "opus")]
        if let Some(o) = self.opus.as_ref() {
            s.fec_frames = o.fec_frames;
            s.buffer.concealed += o.concealed;
        }
        s
    }

    /// The RFC 3550 report-block figures for the current source, starting a new interval
    /// for the fraction lost (§A.3); `None` before a source is valid.
    pub fn reception_report(&mut self) -> Option<(Ssrc, Reception)> {
        let s = self.source.as_mut().filter(|s| s.is_valid())?;
        Some((Ssrc(s.ssrc()), s.report()))
    }
}

/// Samples (8 kHz) in an audio payload.
fn audio_samples(codec: Codec, payload: &[u8]) -> Result<usize, RtpError> {
    match codec {
        Codec::Pcmu | Codec::Pcma => Ok(payload.len()),
        #[cfg(feature = "opus")]
        Codec::Opus => crate::opus_rx::packet_samples(payload).map_err(RtpError::Opus),
    }
}

fn map_reader_error(e: RtpReaderError, packet: &[u8]) -> RtpError {
    match e {
        RtpReaderError::BufferTooShort(len) => RtpError::TooShort { len },
        RtpReaderError::UnsupportedVersion(version) => RtpError::Version { version },
        RtpReaderError::HeadersTruncated { header_len, .. } => RtpError::Truncated {
            needed: header_len,
            len: packet.len(),
        },
        RtpReaderError::PaddingLengthInvalid(count) => RtpError::Padding { count },
    }
}
