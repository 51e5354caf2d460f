//! The sending half of a call's RTP session.
//!
//! # What does it do?
//! The media thread gives [`Sender::push_audio`] each tick's 8 kHz audio and drains
//! [`Sender::poll_packet`] into its socket. The sender packetises at the negotiated ptime
//! whatever the tick (with a 30 ms ptime and 20 ms ticks, packets come out on two ticks of
//! three), numbers the packets, stamps them on the call's RTP clock and sets the marker bit
//! at the start of each talkspurt (the first packet, and the first after
//! [`pause`](Sender::pause)). [`Sender::send_digit`] sends a digit as RFC 4733 events: the
//! event reports take the place of the audio packets while the digit plays (see
//! [`event_tx`](crate::event_tx)); the audio clock keeps running, so the audio after the
//! digit has the timestamps it would have had.
//!
//! # How does it work?
//! Audio waits in a small linear buffer (two packets plus 60 ms); each `poll_packet` with a
//! whole packet's worth available builds one packet straight into the caller's buffer: a
//! 12-byte header, then the payload encoded in place (G.711 table lookup, or libopus).
//! The initial SSRC, sequence number and timestamp are the caller's (RFC 3550 §5.1 wants them
//! random; the sans-IO core has no random source).

use crate::codec::Codec;
use crate::error::{ConfigError, SendError};
use crate::event_tx::EventTx;
use crate::{Ssrc, ms_to_samples};
use heapless::Deque;

/// RTP fixed header length.
pub const HEADER_LEN: usize = 12;
/// Digits that can wait to be sent.
pub const DIGIT_QUEUE: usize = 32;
/// Shortest digit accepted, ms.
const DIGIT_MIN_MS: u32 = 10;

/// Settings of a [`Sender`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// The codec.
    pub codec: Codec,
    /// Its payload type (from the SDP answer).
    pub payload_type: u8,
    /// The telephone-event payload type, if the peer accepts RFC 4733.
    pub event_payload_type: Option<u8>,
    /// Our SSRC (random, RFC 3550 §8).
    pub ssrc: Ssrc,
    /// First sequence number (random, RFC 3550 §5.1).
    pub initial_seq: u16,
    /// First timestamp (random, RFC 3550 §5.1).
    pub initial_timestamp: u32,
    /// Packet duration, ms: 10–60 in steps of 10 for G.711; 10 or 20 for Opus.
    pub ptime_ms: u32,
}

/// Counters of a [`Sender`]; a snapshot, `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderStats {
    /// RTP packets sent (RFC 3550 sender's packet count).
    pub packets: u64,
    /// Payload octets sent (RFC 3550 sender's octet count).
    pub octets: u64,
    /// Audio packets.
    pub audio_packets: u64,
    /// Telephone-event packets.
    pub event_packets: u64,
    /// Digits sent.
    pub digits: u64,
    /// Samples of audio dropped because nobody drained the packets.
    pub audio_overflow: u64,
    /// Packets dropped because the caller's buffer was too small.
    pub buffer_too_small: u64,
    /// Audio packets the encoder failed on (dropped).
    pub encode_errors: u64,
}

/// The sending half of a call's RTP session. See the [module docs](self).
#[derive(Debug)]
pub struct Sender {
    cfg: SenderConfig,
    /// Samples (8 kHz) per packet.
    frame: usize,
    ticks_per_sample: u32,
    pending: Box<[i16]>,
    pending_len: usize,
    seq: u16,
    /// Timestamp of the first pending sample.
    ts: u32,
    marker_next: bool,
    digits: Deque<(u8, u16), DIGIT_QUEUE>,
    event: Option<EventTx>,
    #[cfg(feature = "opus")]
    opus: Option<tipring_dsp::opus::OpusEncoder>,
    stats: SenderStats,
}

impl Sender {
    /// A sender with everything sized: the only allocations it makes.
    ///
    /// # Errors
    /// A payload type above 127, or a ptime the codec cannot use.
    pub fn new(cfg: SenderConfig) -> Result<Self, ConfigError> {
        for (field, pt) in [
            ("payload_type", Some(cfg.payload_type)),
            ("event_payload_type", cfg.event_payload_type),
        ] {
            if let Some(pt) = pt.filter(|&pt| pt > 127) {
                return Err(ConfigError::PayloadType { field, pt });
            }
        }
        if cfg.event_payload_type == Some(cfg.payload_type) {
            return Err(ConfigError::DuplicatePayloadType {
                pt: cfg.payload_type,
            });
        }
        let max_ptime = if cfg.codec.law().is_some() { 60 } else { 20 };
        if !(10..=max_ptime).contains(&cfg.ptime_ms) || !cfg.ptime_ms.is_multiple_of(10) {
            return Err(ConfigError::OutOfRange {
                field: "ptime_ms",
                value: cfg.ptime_ms,
                min: 10,
                max: max_ptime,
            });
        }
        let frame = ms_to_samples(cfg.ptime_ms) as usize;
        #[cfg(feature = "opus")]
        let opus = if cfg.codec == Codec::Opus {
            let enc_cfg = tipring_dsp::opus::OpusEncoderConfig::voip(8_000, cfg.ptime_ms);
            Some(tipring_dsp::opus::OpusEncoder::new(enc_cfg).map_err(ConfigError::Opus)?)
        } else {
            None
        };
        Ok(Self {
            cfg,
            frame,
            ticks_per_sample: cfg.codec.ticks_per_sample(),
            pending: vec![0; 2 * frame + 480].into_boxed_slice(),
            pending_len: 0,
            seq: cfg.initial_seq,
            ts: cfg.initial_timestamp,
            marker_next: true,
            digits: Deque::new(),
            event: None,
            #[cfg(feature = "opus")]
            opus,
            stats: SenderStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SenderConfig {
        &self.cfg
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> Ssrc {
        self.cfg.ssrc
    }

    /// Bytes of heap this sender holds (libopus state not counted).
    pub fn heap_bytes(&self) -> usize {
        self.pending.len() * 2
    }

    /// The longest packet [`poll_packet`](Self::poll_packet) can produce: a buffer this
    /// long is always enough.
    pub fn max_packet_len(&self) -> usize {
        match self.cfg.codec.law() {
            Some(_) => HEADER_LEN + self.frame,
            None => HEADER_LEN + 1_276,
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }

    /// The RTP timestamp of the next sample to be pushed: what "now" is on our RTP clock
    /// (for an RTCP sender report).
    pub fn timestamp_now(&self) -> u32 {
        self.ts
            .wrapping_add((self.pending_len as u32).wrapping_mul(self.ticks_per_sample))
    }

    /// Whether a digit is being sent or waits to be.
    pub fn is_sending_digits(&self) -> bool {
        self.event.is_some() || !self.digits.is_empty()
    }

    /// Queues `samples` (8 kHz) for sending. If packets are not drained the oldest audio is
    /// dropped (counted in [`SenderStats::audio_overflow`]).
    pub fn push_audio(&mut self, samples: &[i16]) {
        let cap = self.pending.len();
        let samples = if samples.len() > cap {
            self.drop_oldest(self.pending_len + samples.len() - cap);
            &samples[samples.len() - cap..]
        } else {
            samples
        };
        if self.pending_len + samples.len() > cap {
            self.drop_oldest(self.pending_len + samples.len() - cap);
        }
        self.pending[self.pending_len..self.pending_len + samples.len()].copy_from_slice(samples);
        self.pending_len += samples.len();
    }

    fn drop_oldest(&mut self, n: usize) {
        let from_pending = n.min(self.pending_len);
        self.consume(from_pending);
        // Samples dropped before they were ever pending still advance the clock.
        self.ts = self
            .ts
            .wrapping_add(((n - from_pending) as u32).wrapping_mul(self.ticks_per_sample));
        self.stats.audio_overflow += n as u64;
    }

    /// Removes the first `n` pending samples, advancing the timestamp.
    fn consume(&mut self, n: usize) {
        self.pending.copy_within(n..self.pending_len, 0);
        self.pending_len -= n;
        self.ts = self
            .ts
            .wrapping_add((n as u32).wrapping_mul(self.ticks_per_sample));
    }

    /// Nothing to send for `samples` (hold, silence suppression): pending audio is
    /// discarded, the timestamp advances over the gap, and the next packet carries the
    /// marker bit (RFC 3551 §4.1: the first packet of a talkspurt).
    pub fn pause(&mut self, samples: u32) {
        self.consume(self.pending_len);
        self.ts = self
            .ts
            .wrapping_add(samples.wrapping_mul(self.ticks_per_sample));
        self.marker_next = true;
    }

    /// Queues a digit (`0-9 * # A-D`) to be sent as RFC 4733 events lasting `duration_ms`.
    ///
    /// # Errors
    /// No telephone-event payload type, not a digit, a duration the 16-bit field cannot
    /// carry, or a full queue ([`SendError`] says which).
    pub fn send_digit(&mut self, digit: char, duration_ms: u32) -> Result<(), SendError> {
        if self.cfg.event_payload_type.is_none() {
            return Err(SendError::NoEventPayloadType);
        }
        let event = tipring_dsp::dtmf::rfc4733_event(digit).ok_or(SendError::BadDigit { digit })?;
        let clock = self.cfg.codec.clock_rate();
        let max = u32::from(u16::MAX) * 1_000 / clock;
        if !(DIGIT_MIN_MS..=max).contains(&duration_ms) {
            return Err(SendError::DigitDuration {
                ms: duration_ms,
                min: DIGIT_MIN_MS,
                max,
            });
        }
        let ticks = (duration_ms * (clock / 1_000)) as u16;
        self.digits
            .push_back((event, ticks))
            .map_err(|_| SendError::QueueFull {
                capacity: DIGIT_QUEUE,
            })
    }

    /// Builds the next packet into `out` and returns its length, or `None` if less than a
    /// packet's worth of audio is waiting. Call until `None` after each
    /// [`push_audio`](Self::push_audio). A buffer shorter than
    /// [`max_packet_len`](Self::max_packet_len) may lose the packet (counted in
    /// [`SenderStats::buffer_too_small`]).
    #[must_use]
    pub fn poll_packet(&mut self, out: &mut [u8]) -> Option<usize> {
        while self.pending_len >= self.frame {
            if self.event.is_none()
                && let Some((event, ticks)) = self.digits.pop_front()
            {
                let interval = self.frame as u32 * self.ticks_per_sample;
                self.event = Some(EventTx::new(event, self.ts, ticks, interval));
                self.stats.digits += 1;
            }
            let built = match self.event.as_mut().and_then(|e| e.next_report()) {
                Some(report) => {
                    if self.event.is_some_and(|e| e.is_done()) {
                        self.event = None;
                    }
                    let pt = self.cfg.event_payload_type.unwrap_or(self.cfg.payload_type);
                    let len = HEADER_LEN + 4;
                    if out.len() < len {
                        self.stats.buffer_too_small += 1;
                        None
                    } else {
                        self.header(out, report.marker, pt, report.timestamp);
                        out[HEADER_LEN..len].copy_from_slice(&report.payload.to_bytes());
                        self.stats.event_packets += 1;
                        Some(len)
                    }
                }
                None => self.audio_packet(out),
            };
            // Either way this interval's audio is spent and its sequence number used.
            self.consume(self.frame);
            match built {
                Some(len) => {
                    self.seq = self.seq.wrapping_add(1);
                    self.stats.packets += 1;
                    self.stats.octets += (len - HEADER_LEN) as u64;
                    return Some(len);
                }
                None => continue,
            }
        }
        None
    }

    /// Encodes the first pending frame as an audio packet into `out`.
    fn audio_packet(&mut self, out: &mut [u8]) -> Option<usize> {
        let marker = self.marker_next;
        let ts = self.ts;
        let pcm = &self.pending[..self.frame];
        let payload_len = match self.cfg.codec.law() {
            Some(law) => {
                if out.len() < HEADER_LEN + self.frame {
                    self.stats.buffer_too_small += 1;
                    return None;
                }
                law.encode_slice(pcm, &mut out[HEADER_LEN..HEADER_LEN + self.frame])
            }
            None => {
                #[cfg(feature = "opus")]
                {
                    let enc = self.opus.as_mut()?;
                    if out.len() <= HEADER_LEN {
                        self.stats.buffer_too_small += 1;
                        return None;
                    }
                    match enc.encode(pcm, &mut out[HEADER_LEN..]) {
                        Ok(n) => n,
                        Err(_) => {
                            self.stats.encode_errors += 1;
                            return None;
                        }
                    }
                }
                #[cfg(not(feature = "opus"))]
                return None;
            }
        };
        self.header(out, marker, self.cfg.payload_type, ts);
        self.marker_next = false;
        self.stats.audio_packets += 1;
        Some(HEADER_LEN + payload_len)
    }

    /// Writes the RTP fixed header (RFC 3550 §5.1): V=2, no padding, extension or CSRC.
    fn header(&self, out: &mut [u8], marker: bool, pt: u8, ts: u32) {
        out[0] = 0x80;
        out[1] = (u8::from(marker) << 7) | (pt & 0x7F);
        out[2..4].copy_from_slice(&self.seq.to_be_bytes());
        out[4..8].copy_from_slice(&ts.to_be_bytes());
        out[8..12].copy_from_slice(&self.cfg.ssrc.0.to_be_bytes());
    }
}
