//! RTP streams as phones send them: G.711 μ-law audio, RFC 4733 telephone-events in several
//! vendors' timing styles, in-band DTMF, or both at once.
//!
//! # What does it do?
//! [`StreamBuilder`] lays out an 8 kHz audio timeline (silence, samples, sine tones, DTMF
//! digits) and turns it into [`TimedPacket`]s: one μ-law packet per `ptime` of audio, plus
//! the RFC 4733 event packets of each digit, interleaved by send time and numbered in send
//! order (one SSRC, one sequence space, one timestamp clock). [`crate::pcap`] writes them to
//! a file SIPp plays.
//!
//! # How does it work?
//! Audio frame `f` covers samples `[f·P, (f+1)·P)` (P = 160 at 20 ms, 240 at 30 ms); it is
//! sent when its last sample has been captured, at time `(f+1)·P`, with timestamp `f·P`.
//! Each digit starts on a frame boundary. An event starting at sample `S` with a tone of
//! `N` samples carries timestamp `S` in every packet; a packet sent at `S + d` reports
//! duration `d`. The styles ([`EventStyle`]) differ in when packets go and what the last
//! ones say. With [`AudioDuringEvents::Suppress`], the audio frames overlapping the tone are
//! not sent (what most phones do: the events replace the audio); with `Continue` they are.
//! [`DtmfCarriage::Both`] always continues the audio, since it carries the in-band tones.

use crate::error::{Error, Result};
use crate::rtp::{RtpPacket, TelephoneEvent};
use std::time::Duration;
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator, rfc4733_event};
use tipring_dsp::g711::linear_to_ulaw;
use tipring_dsp::level::dbm0_to_peak;
use tipring_dsp::osc::{Oscillator, sat_i16};

/// Samples per second of G.711 and telephone-event/8000.
pub const RATE: u32 = 8000;
/// Samples per millisecond.
const PER_MS: usize = 8;
/// Cisco's update interval, samples (50 ms).
const CISCO_UPDATE: usize = 400;
/// Longest audio a builder accepts (one hour), samples.
const MAX_SAMPLES: usize = 3600 * RATE as usize;

/// Packetisation interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ptime {
    /// 20 ms, 160 samples per packet (the usual).
    #[default]
    Ms20,
    /// 30 ms, 240 samples per packet (SIPp's own `g711a.pcap`, some gateways).
    Ms30,
}

impl Ptime {
    /// Samples per packet.
    pub fn samples(self) -> usize {
        match self {
            Self::Ms20 => 160,
            Self::Ms30 => 240,
        }
    }

    /// Milliseconds per packet.
    pub fn ms(self) -> u32 {
        match self {
            Self::Ms20 => 20,
            Self::Ms30 => 30,
        }
    }
}

/// The RTP session a stream is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpParams {
    /// Synchronisation source (default `0x5eed_0001`).
    pub ssrc: u32,
    /// Sequence number of the first packet (default 1000).
    pub first_seq: u16,
    /// Timestamp of the first sample (default 8000).
    pub first_timestamp: u32,
    /// Packetisation interval (default 20 ms).
    pub ptime: Ptime,
    /// Payload type of the μ-law audio (default 0, PCMU).
    pub audio_pt: u8,
    /// Payload type of telephone-event (default 101).
    pub event_pt: u8,
    /// Volume field of the events, −dBm0, 0–63 (default 10).
    pub event_volume: u8,
}

impl Default for RtpParams {
    fn default() -> Self {
        Self {
            ssrc: 0x5eed_0001,
            first_seq: 1000,
            first_timestamp: 8000,
            ptime: Ptime::Ms20,
            audio_pt: 0,
            event_pt: 101,
            event_volume: 10,
        }
    }
}

/// How a vendor times its RFC 4733 packets. `P` is the ptime in samples, `N` the tone's
/// length, `S` its first sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EventStyle {
    /// Updates every ptime: packets at `S + k·P` with duration `k·P` while `k·P < N` (the
    /// first with the marker), then the end packet (E bit, duration `N`) three times back
    /// to back at `S + N`, each with its own sequence number (as Asterisk sends them).
    #[default]
    Standard,
    /// Cisco: the start packet three times at `S` with duration 0 (marker on the first),
    /// updates every 50 ms, then the end packet three times at `S + N`.
    Cisco,
    /// Intel PIMG: standard updates plus one at `S + N` with duration `N`, then three end
    /// packets whose duration is *smaller* than that last update (`N − P`).
    Pimg,
    /// Standard with the end packets lost: the receiver never sees an E bit.
    NoEnd,
}

/// Where the digits travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfCarriage {
    /// RFC 4733 events only; the audio carries no tones.
    Rfc4733(EventStyle),
    /// Tones in the μ-law audio only; no events.
    InBand,
    /// Tones in the audio *and* events for the same digits (the doubled-digit trap).
    Both(EventStyle),
}

impl Default for DtmfCarriage {
    fn default() -> Self {
        Self::Rfc4733(EventStyle::Standard)
    }
}

/// What the audio does while an event is being sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AudioDuringEvents {
    /// The audio frames that overlap the tone are not sent (most phones).
    #[default]
    Suppress,
    /// Audio packets go on as usual.
    Continue,
}

/// Digit timing, levels and carriage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfOptions {
    /// Where the digits travel (default RFC 4733, standard timing).
    pub carriage: DtmfCarriage,
    /// Tone (event) length, ms, 10–8000 (default 80).
    pub on_ms: u32,
    /// Pause after each digit, ms, 0–10 000 (default 80).
    pub off_ms: u32,
    /// In-band low-group level, dBm0, −20…−3 (default −10).
    pub low_dbm0: f32,
    /// In-band high-group level, dBm0, −20…−3 (default −8: the usual +2 dB pre-emphasis).
    pub high_dbm0: f32,
    /// Audio during events (default suppress; ignored for [`DtmfCarriage::Both`]).
    pub audio_during_events: AudioDuringEvents,
}

impl Default for DtmfOptions {
    fn default() -> Self {
        Self {
            carriage: DtmfCarriage::default(),
            on_ms: 80,
            off_ms: 80,
            low_dbm0: -10.0,
            high_dbm0: -8.0,
            audio_during_events: AudioDuringEvents::Suppress,
        }
    }
}

/// One packet and when to send it, relative to the stream's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimedPacket {
    /// Send time after the stream's start.
    pub at: Duration,
    /// The packet.
    pub packet: RtpPacket,
}

/// A digit's RFC 4733 event, planned.
#[derive(Debug, Clone, Copy)]
struct PlannedEvent {
    code: u8,
    start: usize,
    len: usize,
    style: EventStyle,
    suppress_audio: bool,
}

/// Builds an RTP stream. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct StreamBuilder {
    params: RtpParams,
    audio: Vec<i16>,
    events: Vec<PlannedEvent>,
}

impl StreamBuilder {
    /// An empty stream in the given session.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a payload type above 127, equal audio and event payload types,
    /// or an event volume above 63.
    pub fn new(params: RtpParams) -> Result<Self> {
        if params.audio_pt > 127 || params.event_pt > 127 {
            return Err(Error::invalid(
                "payload type",
                format!(
                    "audio {} / event {}: RTP payload types are 0-127",
                    params.audio_pt, params.event_pt
                ),
            ));
        }
        if params.audio_pt == params.event_pt {
            return Err(Error::invalid(
                "payload type",
                format!("audio and events both use {}", params.audio_pt),
            ));
        }
        if params.event_volume > 63 {
            return Err(Error::invalid(
                "event volume",
                format!("{} (the field holds 0-63)", params.event_volume),
            ));
        }
        Ok(Self {
            params,
            audio: Vec::new(),
            events: Vec::new(),
        })
    }

    /// The session parameters.
    pub fn params(&self) -> &RtpParams {
        &self.params
    }

    /// The audio timeline so far (8 kHz).
    pub fn samples(&self) -> &[i16] {
        &self.audio
    }

    /// The stream's length so far.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.audio.len() as u64 * 125)
    }

    fn grow(&mut self, extra: usize) -> Result<()> {
        if self.audio.len().saturating_add(extra) > MAX_SAMPLES {
            return Err(Error::invalid(
                "stream length",
                format!(
                    "{} + {extra} samples is more than one hour",
                    self.audio.len()
                ),
            ));
        }
        Ok(())
    }

    /// Appends `ms` of silence.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the stream would exceed one hour.
    pub fn silence(&mut self, ms: u32) -> Result<&mut Self> {
        let n = ms as usize * PER_MS;
        self.grow(n)?;
        self.audio.resize(self.audio.len() + n, 0);
        Ok(self)
    }

    /// Appends 8 kHz samples.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the stream would exceed one hour.
    pub fn audio(&mut self, samples: &[i16]) -> Result<&mut Self> {
        self.grow(samples.len())?;
        self.audio.extend_from_slice(samples);
        Ok(self)
    }

    /// Appends a sine of `freq_hz` at `dbm0` for `ms` (see [`sine`]).
    ///
    /// # Errors
    /// As [`sine`], or a stream longer than one hour.
    pub fn tone(&mut self, freq_hz: f32, dbm0: f32, ms: u32) -> Result<&mut Self> {
        let s = sine(freq_hz, dbm0, ms)?;
        self.audio(&s)
    }

    /// Appends `digits` (`0-9 * # A-D`), each as a tone of `on_ms` then a pause of `off_ms`,
    /// starting on the next frame boundary (silence pads up to it), carried as `opts` says.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a character that is not a digit, timing or levels out of
    /// range, or a stream longer than one hour.
    pub fn dtmf(&mut self, digits: &str, opts: &DtmfOptions) -> Result<&mut Self> {
        if !(10..=8000).contains(&opts.on_ms) {
            return Err(Error::invalid(
                "DTMF on time",
                format!(
                    "{} ms (10-8000 ms: the event duration field holds 8.19 s)",
                    opts.on_ms
                ),
            ));
        }
        if opts.off_ms > 10_000 {
            return Err(Error::invalid(
                "DTMF off time",
                format!("{} ms (at most 10 000 ms)", opts.off_ms),
            ));
        }
        let mut codes = Vec::new();
        for (i, ch) in digits.chars().enumerate() {
            let code = rfc4733_event(ch).ok_or_else(|| {
                Error::invalid(
                    "DTMF digit",
                    format!("{ch:?} at position {i} of {digits:?} (expected 0-9, *, #, A-D)"),
                )
            })?;
            codes.push((ch, code));
        }
        let (inband, style) = match opts.carriage {
            DtmfCarriage::Rfc4733(s) => (false, Some(s)),
            DtmfCarriage::InBand => (true, None),
            DtmfCarriage::Both(s) => (true, Some(s)),
        };
        let suppress_audio = !inband && opts.audio_during_events == AudioDuringEvents::Suppress;
        let on = opts.on_ms as usize * PER_MS;
        let off = opts.off_ms as usize * PER_MS;
        let p = self.params.ptime.samples();
        let per_digit = on + off + p;
        self.grow(per_digit.saturating_mul(codes.len()))?;
        for (ch, code) in codes {
            let start = self.audio.len().div_ceil(p) * p;
            self.audio.resize(start, 0);
            if inband {
                let tone = inband_tone(ch, opts.on_ms, opts.low_dbm0, opts.high_dbm0)?;
                self.audio.extend_from_slice(&tone);
            } else {
                self.audio.resize(start + on, 0);
            }
            self.audio.resize(start + on + off, 0);
            if let Some(style) = style {
                self.events.push(PlannedEvent {
                    code,
                    start,
                    len: on,
                    style,
                    suppress_audio,
                });
            }
        }
        Ok(self)
    }

    /// The packets, in send order, numbered from `first_seq`.
    pub fn packets(&self) -> Vec<TimedPacket> {
        let prm = &self.params;
        let p = prm.ptime.samples();
        let frames = self.audio.len().div_ceil(p);
        let mut suppressed = vec![false; frames];
        for e in self.events.iter().filter(|e| e.suppress_audio) {
            let last = (e.start + e.len - 1) / p;
            for s in suppressed.iter_mut().take(last + 1).skip(e.start / p) {
                *s = true;
            }
        }
        // (send time in samples, audio before events at the same time, order of creation)
        let mut out: Vec<(usize, u8, usize, RtpPacket)> = Vec::new();
        let mut first_audio = true;
        for (f, &skip) in suppressed.iter().enumerate() {
            if skip {
                continue;
            }
            let mut payload = vec![0xffu8; p];
            let end = ((f + 1) * p).min(self.audio.len());
            for (o, &x) in payload.iter_mut().zip(&self.audio[f * p..end]) {
                *o = linear_to_ulaw(x);
            }
            let n = out.len();
            out.push((
                (f + 1) * p,
                0,
                n,
                RtpPacket {
                    marker: first_audio,
                    payload_type: prm.audio_pt,
                    seq: 0,
                    timestamp: prm.first_timestamp.wrapping_add(((f * p) as u64) as u32),
                    ssrc: prm.ssrc,
                    payload,
                },
            ));
            first_audio = false;
        }
        for e in &self.events {
            for (at, marker, end, duration) in event_schedule(e, p) {
                let ev = TelephoneEvent {
                    event: e.code,
                    end,
                    volume: prm.event_volume,
                    duration: u16::try_from(duration).unwrap_or(u16::MAX),
                };
                let n = out.len();
                out.push((
                    e.start + at,
                    1,
                    n,
                    RtpPacket {
                        marker,
                        payload_type: prm.event_pt,
                        seq: 0,
                        timestamp: prm.first_timestamp.wrapping_add(e.start as u32),
                        ssrc: prm.ssrc,
                        payload: ev.to_bytes().to_vec(),
                    },
                ));
            }
        }
        out.sort_by_key(|&(at, kind, n, _)| (at, kind, n));
        out.into_iter()
            .enumerate()
            .map(|(i, (at, _, _, mut packet))| {
                packet.seq = prm.first_seq.wrapping_add(i as u16);
                TimedPacket {
                    at: Duration::from_micros(at as u64 * 125),
                    packet,
                }
            })
            .collect()
    }
}

/// The packets of one event: (offset from its start in samples, marker, E bit, duration).
fn event_schedule(e: &PlannedEvent, p: usize) -> Vec<(usize, bool, bool, usize)> {
    let n = e.len;
    let mut v = Vec::new();
    let updates = |v: &mut Vec<(usize, bool, bool, usize)>, step: usize| {
        let mut d = step;
        while d < n {
            v.push((d, v.is_empty(), false, d));
            d += step;
        }
    };
    let ends = |v: &mut Vec<(usize, bool, bool, usize)>, dur: usize| {
        for _ in 0..3 {
            v.push((n, v.is_empty(), true, dur));
        }
    };
    match e.style {
        EventStyle::Standard => {
            updates(&mut v, p);
            ends(&mut v, n);
        }
        EventStyle::Cisco => {
            for i in 0..3 {
                v.push((0, i == 0, false, 0));
            }
            updates(&mut v, CISCO_UPDATE);
            ends(&mut v, n);
        }
        EventStyle::Pimg => {
            updates(&mut v, p);
            v.push((n, v.is_empty(), false, n));
            ends(&mut v, if n > p { n - p } else { n / 2 });
        }
        EventStyle::NoEnd => {
            updates(&mut v, p);
            if v.is_empty() {
                v.push((n, true, false, n));
            }
        }
    }
    v
}

/// `ms` of a sine at `freq_hz` (0 < f < 4000) and `dbm0` (−60…+3 dBm0; a full-scale sine is
/// +3.14 dBm0), starting at phase zero, 8 kHz.
///
/// # Errors
/// [`Error::Invalid`] for a frequency or level out of range, or more than an hour.
pub fn sine(freq_hz: f32, dbm0: f32, ms: u32) -> Result<Vec<i16>> {
    if !(freq_hz > 0.0 && freq_hz < 4000.0) {
        return Err(Error::invalid(
            "tone frequency",
            format!("{freq_hz} Hz (must be above 0 and below 4000 Hz at 8 kHz)"),
        ));
    }
    if !(-60.0..=3.0).contains(&dbm0) {
        return Err(Error::invalid(
            "tone level",
            format!("{dbm0} dBm0 (must be -60 ... +3 dBm0)"),
        ));
    }
    let n = ms as usize * PER_MS;
    if n > MAX_SAMPLES {
        return Err(Error::invalid(
            "tone length",
            format!("{ms} ms is more than one hour"),
        ));
    }
    let mut osc = Oscillator::new(freq_hz, RATE, dbm0_to_peak(dbm0));
    Ok((0..n).map(|_| sat_i16(osc.next_sample())).collect())
}

/// `on_ms` of the DTMF tone pair of `digit`, from the DSP's generator. The generator refuses
/// tones under 50 ms; a shorter tone is the start of a 50 ms one (each tone starts at phase
/// zero, so the cut is the only difference).
fn inband_tone(digit: char, on_ms: u32, low_dbm0: f32, high_dbm0: f32) -> Result<Vec<i16>> {
    let cfg = DtmfGenConfig {
        low_dbm0,
        high_dbm0,
        on_ms: on_ms.max(50),
        off_ms: 45,
        sample_rate: RATE,
    };
    let mut g =
        DtmfGenerator::new(cfg).map_err(|e| Error::invalid("in-band DTMF", e.to_string()))?;
    g.queue_digits(digit.encode_utf8(&mut [0; 4]))
        .map_err(|e| Error::invalid("in-band DTMF", e.to_string()))?;
    let mut out = vec![0i16; on_ms as usize * PER_MS];
    g.generate(&mut out);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(pk: &[TimedPacket]) -> Vec<(u64, bool, TelephoneEvent, u32)> {
        pk.iter()
            .filter(|t| t.packet.payload_type == 101)
            .map(|t| {
                (
                    t.at.as_millis() as u64,
                    t.packet.marker,
                    TelephoneEvent::parse(&t.packet.payload).unwrap(),
                    t.packet.timestamp,
                )
            })
            .collect()
    }

    fn one_digit(style: EventStyle) -> Vec<TimedPacket> {
        let mut b = StreamBuilder::new(RtpParams::default()).unwrap();
        b.silence(100)
            .unwrap()
            .dtmf(
                "5",
                &DtmfOptions {
                    carriage: DtmfCarriage::Rfc4733(style),
                    ..DtmfOptions::default()
                },
            )
            .unwrap();
        b.packets()
    }

    #[test]
    fn audio_frames_numbered_and_timed() {
        let mut b = StreamBuilder::new(RtpParams::default()).unwrap();
        b.silence(100).unwrap();
        let pk = b.packets();
        assert_eq!(pk.len(), 5);
        for (i, t) in pk.iter().enumerate() {
            assert_eq!(t.packet.seq, 1000 + i as u16);
            assert_eq!(t.packet.timestamp, 8000 + 160 * i as u32);
            assert_eq!(t.at, Duration::from_millis(20 * (i as u64 + 1)));
            assert_eq!(t.packet.payload, vec![0xff; 160]);
            assert_eq!(t.packet.marker, i == 0);
        }
    }

    #[test]
    fn ptime_30_pads_the_last_frame() {
        let mut b = StreamBuilder::new(RtpParams {
            ptime: Ptime::Ms30,
            ..RtpParams::default()
        })
        .unwrap();
        b.tone(1000.0, -10.0, 100).unwrap();
        let pk = b.packets();
        assert_eq!(pk.len(), 4);
        assert_eq!(pk[3].packet.timestamp - pk[2].packet.timestamp, 240);
        assert_eq!(pk[3].packet.payload[80..], [0xff; 160]);
    }

    #[test]
    fn standard_style() {
        let pk = one_digit(EventStyle::Standard);
        let ev = events(&pk);
        // Digit starts at 100 ms (sample 800); 80 ms tone: updates at 20, 40, 60 ms; 3 ends.
        let at: Vec<u64> = ev.iter().map(|e| e.0).collect();
        assert_eq!(at, [120, 140, 160, 180, 180, 180]);
        assert!(ev[0].1 && ev.iter().skip(1).all(|e| !e.1));
        let d: Vec<u16> = ev.iter().map(|e| e.2.duration).collect();
        assert_eq!(d, [160, 320, 480, 640, 640, 640]);
        assert!(ev.iter().all(|e| e.3 == 8000 + 800 && e.2.event == 5));
        assert_eq!(ev.iter().filter(|e| e.2.end).count(), 3);
        // Audio suppressed during the tone: frames 5..=8 (100-180 ms) are missing.
        let audio_ts: Vec<u32> = pk
            .iter()
            .filter(|t| t.packet.payload_type == 0)
            .map(|t| (t.packet.timestamp - 8000) / 160)
            .collect();
        assert_eq!(audio_ts, [0, 1, 2, 3, 4, 9, 10, 11, 12]);
        // Sequence numbers follow send order.
        for w in pk.windows(2) {
            assert_eq!(w[1].packet.seq, w[0].packet.seq + 1);
            assert!(w[1].at >= w[0].at);
        }
    }

    #[test]
    fn cisco_style() {
        let ev = events(&one_digit(EventStyle::Cisco));
        let v: Vec<(u64, bool, bool, u16)> = ev
            .iter()
            .map(|e| (e.0, e.1, e.2.end, e.2.duration))
            .collect();
        assert_eq!(
            v,
            [
                (100, true, false, 0),
                (100, false, false, 0),
                (100, false, false, 0),
                (150, false, false, 400),
                (180, false, true, 640),
                (180, false, true, 640),
                (180, false, true, 640),
            ]
        );
    }

    #[test]
    fn pimg_style_ends_shorter_than_last_update() {
        let ev = events(&one_digit(EventStyle::Pimg));
        let last_update = ev.iter().filter(|e| !e.2.end).map(|e| e.2.duration).max();
        assert_eq!(last_update, Some(640));
        let ends: Vec<u16> = ev
            .iter()
            .filter(|e| e.2.end)
            .map(|e| e.2.duration)
            .collect();
        assert_eq!(ends, [480, 480, 480]);
    }

    #[test]
    fn no_end_style_has_no_e_bit() {
        let ev = events(&one_digit(EventStyle::NoEnd));
        assert_eq!(ev.len(), 3);
        assert!(ev.iter().all(|e| !e.2.end));
    }

    #[test]
    fn inband_has_tones_and_no_events() {
        let mut b = StreamBuilder::new(RtpParams::default()).unwrap();
        b.dtmf(
            "1",
            &DtmfOptions {
                carriage: DtmfCarriage::InBand,
                on_ms: 40,
                off_ms: 40,
                ..DtmfOptions::default()
            },
        )
        .unwrap();
        assert_eq!(b.samples().len(), 640);
        assert!(b.samples()[..320].iter().any(|&x| x.abs() > 3000));
        assert!(b.samples()[320..].iter().all(|&x| x == 0));
        let pk = b.packets();
        assert!(pk.iter().all(|t| t.packet.payload_type == 0));
        assert_eq!(pk.len(), 4);
    }

    #[test]
    fn both_keeps_audio_during_events() {
        let mut b = StreamBuilder::new(RtpParams::default()).unwrap();
        b.dtmf(
            "12",
            &DtmfOptions {
                carriage: DtmfCarriage::Both(EventStyle::Standard),
                ..DtmfOptions::default()
            },
        )
        .unwrap();
        let pk = b.packets();
        let audio = pk.iter().filter(|t| t.packet.payload_type == 0).count();
        assert_eq!(audio, 16);
        assert_eq!(events(&pk).len(), 12);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(
            StreamBuilder::new(RtpParams {
                event_pt: 0,
                ..RtpParams::default()
            })
            .is_err()
        );
        assert!(
            StreamBuilder::new(RtpParams {
                audio_pt: 128,
                ..RtpParams::default()
            })
            .is_err()
        );
        let mut b = StreamBuilder::new(RtpParams::default()).unwrap();
        let e = b.dtmf("12x", &DtmfOptions::default()).unwrap_err();
        assert!(e.to_string().contains("'x' at position 2"), "{e}");
        let bad_on = DtmfOptions {
            on_ms: 5,
            ..DtmfOptions::default()
        };
        assert!(b.dtmf("1", &bad_on).is_err());
        let loud = DtmfOptions {
            carriage: DtmfCarriage::InBand,
            low_dbm0: 0.0,
            ..DtmfOptions::default()
        };
        assert!(b.dtmf("1", &loud).is_err());
        assert!(sine(4000.0, -10.0, 10).is_err());
        assert!(sine(f32::NAN, -10.0, 10).is_err());
        assert!(sine(1000.0, 4.0, 10).is_err());
        assert!(b.silence(u32::MAX).is_err());
    }

    #[test]
    fn sequence_and_timestamp_wrap() {
        let mut b = StreamBuilder::new(RtpParams {
            first_seq: 0xffff,
            first_timestamp: u32::MAX - 100,
            ..RtpParams::default()
        })
        .unwrap();
        b.silence(40).unwrap();
        let pk = b.packets();
        assert_eq!(pk[1].packet.seq, 0);
        assert_eq!(pk[1].packet.timestamp, 59);
    }
}
