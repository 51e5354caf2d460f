//! Opus (RFC 6716) mono encoder and decoder for the Opus legs: WebRTC/SIP peers and the
//! wideband intercom, at 8, 16 or 48 kHz in 10 or 20 ms frames.
//!
//! # What does it do?
//! [`OpusEncoder`] turns exactly one frame of 16-bit PCM into one Opus packet (one frame per
//! packet, so at most [`MAX_PACKET_BYTES`]); [`OpusDecoder`] turns a packet back into PCM,
//! conceals a missing packet ([`OpusDecoder::conceal`], the codec's packet-loss concealment),
//! or rebuilds a missing packet from the in-band forward error correction (LBRR) carried by the
//! packet that follows it ([`OpusDecoder::decode_fec`]). Supported settings: rates 8 000,
//! 16 000 and 48 000 Hz, frames of 10 or 20 ms, bitrates 6–510 kbit/s (the RFC 6716 range),
//! complexity 0–10, in-band FEC with an expected loss percentage, DTX. Whatever the network
//! delivers — any bytes, any length — decodes or gives an [`OpusError`], never a panic.
//!
//! The codec delay is [`OpusEncoder::lookahead_samples`] (2.5 ms + 4 ms in VoIP mode: 52, 104
//! and 312 samples at 8, 16 and 48 kHz): the decoder's output is that much behind the
//! encoder's input (measured: within one sample at 8 and 16 kHz; at 48 kHz, where speech is
//! coded in hybrid SILK + CELT mode, the best alignment is 3–4 samples earlier).
//!
//! # How does it work?
//! It wraps libopus through `audiopus` (system libopus found by pkg-config; Debian
//! `libopus-dev`). All libopus state is created in `new()` (`opus_encoder_create` /
//! `opus_decoder_create`, the only heap allocations). `audiopus`'s `encode`/`decode` only
//! borrow the caller's slices and call `opus_encode`/`opus_decode`; libopus takes its scratch
//! memory from the stack (C99 variable-length arrays or `alloca`), so encoding and decoding do
//! not allocate, lock or do I/O — checked with valgrind (heap-allocation count independent of
//! the number of frames encoded, decoded, concealed or FEC-decoded). That scratch memory is
//! stack: valgrind measured a 58 kB peak at 48 kHz, so give the calling thread at least
//! 128 kB.
//!
//! This module validates what libopus would otherwise reject late or silently clamp (rate,
//! frame length, bitrate, complexity, loss percentage, output room) and turns libopus' integer
//! codes into [`OpusError`]. A packet's duration is read from its table-of-contents byte
//! before decoding, so a too-small output slice is reported with the size it needs.
//!
//! ```
//! use tipring_dsp::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig, MAX_PACKET_BYTES};
//! let mut enc = OpusEncoder::new(OpusEncoderConfig::voip(16_000, 20)).unwrap();
//! let mut dec = OpusDecoder::new(16_000, 20).unwrap();
//! let pcm = [0i16; 320];
//! let mut packet = [0u8; MAX_PACKET_BYTES];
//! let len = enc.encode(&pcm, &mut packet).unwrap();
//! let mut out = [0i16; 320];
//! assert_eq!(dec.decode(&packet[..len], &mut out).unwrap(), 320);
//! assert_eq!(dec.conceal(&mut out).unwrap(), 320); // next packet lost
//! ```

use audiopus::coder::{Decoder, Encoder, GenericCtl};
use audiopus::packet::Packet;
use audiopus::{Bitrate, Channels, ErrorCode, MutSignals, SampleRate};
use core::fmt;

/// The largest packet [`OpusEncoder::encode`] can produce: one frame is at most 1 275 bytes
/// (RFC 6716 §3.2.1) plus the table-of-contents byte. An output slice this long never limits
/// the encoder.
pub const MAX_PACKET_BYTES: usize = 1_276;

/// Lowest and highest bitrate accepted (bit/s), RFC 6716 §2.1.1.
pub const BITRATE_RANGE: core::ops::RangeInclusive<u32> = 6_000..=510_000;

/// What the encoder is tuned for (libopus `OPUS_APPLICATION_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Application {
    /// Speech: favours intelligibility, enables SILK and the high-pass/voice tuning.
    Voip,
    /// Music or mixed content: favours fidelity to the input.
    Audio,
    /// CELT only, lowest delay (2.5 ms less look-ahead), no FEC, no SILK.
    RestrictedLowDelay,
}

/// Settings of an [`OpusEncoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusEncoderConfig {
    /// PCM sample rate in Hz: 8 000, 16 000 or 48 000.
    pub sample_rate: u32,
    /// Frame length in milliseconds: 10 or 20.
    pub frame_ms: u32,
    /// Target bitrate in bit/s, within [`BITRATE_RANGE`].
    pub bitrate: u32,
    /// Encoder complexity 0 (cheapest) to 10 (best).
    pub complexity: u8,
    /// In-band forward error correction: each packet also carries a coarse copy of the
    /// previous frame (SILK and hybrid modes only), for [`OpusDecoder::decode_fec`].
    ///
    /// Needs `expected_loss_pct > 0` and enough bitrate: libopus codes FEC only when the
    /// bitrate left after its loss allowance exceeds a per-bandwidth threshold (it narrows the
    /// bandwidth to get there when loss > 5 %). At 8 kHz, 16 kbit/s with 10–20 % loss carries
    /// no FEC at all; 20 kbit/s does. FEC is also coded only for frames its VAD finds active.
    pub fec: bool,
    /// Expected packet loss, 0–100 %. Tunes FEC strength and loss robustness.
    pub expected_loss_pct: u8,
    /// Discontinuous transmission: during silence most packets shrink to 1–2 bytes, which the
    /// caller need not send (the decoder then runs comfort noise/concealment).
    pub dtx: bool,
    /// Tuning of the encoder.
    pub application: Application,
}

impl OpusEncoderConfig {
    /// VoIP settings for `sample_rate` and `frame_ms`: 16, 24 or 32 kbit/s at 8, 16 or 48 kHz,
    /// complexity 5, no FEC, 0 % loss, no DTX. (Invalid rates or frame lengths are reported by
    /// [`OpusEncoder::new`].)
    pub fn voip(sample_rate: u32, frame_ms: u32) -> Self {
        Self {
            sample_rate,
            frame_ms,
            bitrate: match sample_rate {
                8_000 => 16_000,
                16_000 => 24_000,
                _ => 32_000,
            },
            complexity: 5,
            fec: false,
            expected_loss_pct: 0,
            dtx: false,
            application: Application::Voip,
        }
    }
}

/// Why an Opus operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpusError {
    /// Sample rate (Hz) other than 8 000, 16 000 or 48 000.
    UnsupportedSampleRate(u32),
    /// Frame length (ms) other than 10 or 20.
    UnsupportedFrameMs(u32),
    /// Bitrate (bit/s) outside [`BITRATE_RANGE`].
    BitrateOutOfRange(u32),
    /// Complexity above 10.
    ComplexityOutOfRange(u8),
    /// Expected loss above 100 %.
    LossPctOutOfRange(u8),
    /// [`OpusEncoder::encode`] needs exactly one frame of PCM.
    WrongFrameLength {
        /// Samples in one frame.
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// The output slice is too short.
    OutputTooSmall {
        /// Length needed (samples, or bytes for a packet).
        needed: usize,
        /// Length given.
        got: usize,
    },
    /// A zero-length packet (a lost packet is signalled with [`OpusDecoder::conceal`]).
    EmptyPacket,
    /// The packet is malformed (bad framing, lengths or duration over 120 ms).
    InvalidPacket,
    /// Any other libopus failure, with its `OPUS_*` error code (negative).
    Libopus(i32),
}

impl fmt::Display for OpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UnsupportedSampleRate(hz) => {
                write!(
                    f,
                    "unsupported Opus sample rate {hz} Hz (use 8000, 16000 or 48000)"
                )
            }
            Self::UnsupportedFrameMs(ms) => {
                write!(f, "unsupported Opus frame length {ms} ms (use 10 or 20)")
            }
            Self::BitrateOutOfRange(b) => write!(
                f,
                "Opus bitrate {b} bit/s outside {}..={} bit/s",
                BITRATE_RANGE.start(),
                BITRATE_RANGE.end()
            ),
            Self::ComplexityOutOfRange(c) => write!(f, "Opus complexity {c} above 10"),
            Self::LossPctOutOfRange(p) => write!(f, "expected packet loss {p} % above 100 %"),
            Self::WrongFrameLength { expected, got } => write!(
                f,
                "Opus encoder needs exactly one frame of {expected} samples, got {got}"
            ),
            Self::OutputTooSmall { needed, got } => {
                write!(f, "output buffer too small: {needed} needed, {got} given")
            }
            Self::EmptyPacket => f.write_str("empty Opus packet"),
            Self::InvalidPacket => f.write_str("malformed Opus packet"),
            Self::Libopus(code) => {
                let name = match code {
                    -1 => "OPUS_BAD_ARG",
                    -2 => "OPUS_BUFFER_TOO_SMALL",
                    -3 => "OPUS_INTERNAL_ERROR",
                    -4 => "OPUS_INVALID_PACKET",
                    -5 => "OPUS_UNIMPLEMENTED",
                    -6 => "OPUS_INVALID_STATE",
                    -7 => "OPUS_ALLOC_FAIL",
                    _ => "unknown code",
                };
                write!(f, "libopus error {code} ({name})")
            }
        }
    }
}

impl core::error::Error for OpusError {}

fn map_err(e: audiopus::Error) -> OpusError {
    match e {
        audiopus::Error::Opus(ErrorCode::InvalidPacket) => OpusError::InvalidPacket,
        audiopus::Error::Opus(code) => OpusError::Libopus(code as i32),
        audiopus::Error::EmptyPacket => OpusError::EmptyPacket,
        audiopus::Error::PacketTooLarge => OpusError::InvalidPacket,
        _ => OpusError::Libopus(ErrorCode::BadArgument as i32),
    }
}

/// Checks rate and frame length; returns the libopus rate and the samples per frame.
fn frame_setup(sample_rate: u32, frame_ms: u32) -> Result<(SampleRate, usize), OpusError> {
    let rate = match sample_rate {
        8_000 => SampleRate::Hz8000,
        16_000 => SampleRate::Hz16000,
        48_000 => SampleRate::Hz48000,
        hz => return Err(OpusError::UnsupportedSampleRate(hz)),
    };
    if !matches!(frame_ms, 10 | 20) {
        return Err(OpusError::UnsupportedFrameMs(frame_ms));
    }
    Ok((rate, (sample_rate * frame_ms / 1000) as usize))
}

/// A mono Opus encoder producing one packet per frame.
#[derive(Debug)]
pub struct OpusEncoder {
    enc: Encoder,
    frame_samples: usize,
    lookahead: usize,
}

impl OpusEncoder {
    /// An encoder with `config` (allocates the libopus state, ~30 kB).
    pub fn new(config: OpusEncoderConfig) -> Result<Self, OpusError> {
        let (rate, frame_samples) = frame_setup(config.sample_rate, config.frame_ms)?;
        if !BITRATE_RANGE.contains(&config.bitrate) {
            return Err(OpusError::BitrateOutOfRange(config.bitrate));
        }
        if config.complexity > 10 {
            return Err(OpusError::ComplexityOutOfRange(config.complexity));
        }
        if config.expected_loss_pct > 100 {
            return Err(OpusError::LossPctOutOfRange(config.expected_loss_pct));
        }
        let app = match config.application {
            Application::Voip => audiopus::Application::Voip,
            Application::Audio => audiopus::Application::Audio,
            Application::RestrictedLowDelay => audiopus::Application::LowDelay,
        };
        let mut enc = Encoder::new(rate, Channels::Mono, app).map_err(map_err)?;
        // The range checks above make these infallible in libopus; still, report rather
        // than ignore.
        enc.set_bitrate(Bitrate::BitsPerSecond(config.bitrate as i32))
            .map_err(map_err)?;
        enc.set_complexity(config.complexity).map_err(map_err)?;
        enc.set_inband_fec(config.fec).map_err(map_err)?;
        enc.set_packet_loss_perc(config.expected_loss_pct)
            .map_err(map_err)?;
        enc.set_dtx(config.dtx).map_err(map_err)?;
        let lookahead = enc.lookahead().map_err(map_err)? as usize;
        Ok(Self {
            enc,
            frame_samples,
            lookahead,
        })
    }

    /// Samples in one frame (`sample_rate · frame_ms / 1000`).
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Total codec delay in samples: decoded audio lags the encoder's input by this much.
    pub fn lookahead_samples(&self) -> usize {
        self.lookahead
    }

    /// Encodes exactly one frame of `pcm` into `out`; returns the packet length in bytes.
    ///
    /// `out` caps the packet size: [`MAX_PACKET_BYTES`] never limits the encoder, a shorter
    /// slice lowers this frame's quality to fit. With DTX, packets of 1–2 bytes mean
    /// "silence, need not be sent".
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, OpusError> {
        if pcm.len() != self.frame_samples {
            return Err(OpusError::WrongFrameLength {
                expected: self.frame_samples,
                got: pcm.len(),
            });
        }
        if out.is_empty() {
            return Err(OpusError::OutputTooSmall { needed: 1, got: 0 });
        }
        let out = if out.len() > MAX_PACKET_BYTES {
            &mut out[..MAX_PACKET_BYTES]
        } else {
            out
        };
        self.enc.encode(pcm, out).map_err(map_err)
    }

    /// Returns the encoder to its freshly built state (same settings).
    pub fn reset(&mut self) -> Result<(), OpusError> {
        self.enc.reset_state().map_err(map_err)
    }
}

/// A mono Opus decoder with packet-loss concealment and in-band FEC recovery.
#[derive(Debug)]
pub struct OpusDecoder {
    dec: Decoder,
    rate: SampleRate,
    frame_samples: usize,
}

impl OpusDecoder {
    /// A decoder producing `sample_rate` PCM; `frame_ms` (10 or 20) is the stream's frame
    /// length, the length [`conceal`](Self::conceal) and [`decode_fec`](Self::decode_fec)
    /// produce. Any packet duration (2.5–120 ms) is still decoded by
    /// [`decode`](Self::decode).
    pub fn new(sample_rate: u32, frame_ms: u32) -> Result<Self, OpusError> {
        let (rate, frame_samples) = frame_setup(sample_rate, frame_ms)?;
        let dec = Decoder::new(rate, Channels::Mono).map_err(map_err)?;
        Ok(Self {
            dec,
            rate,
            frame_samples,
        })
    }

    /// Samples in one frame.
    pub fn frame_samples(&self) -> usize {
        self.frame_samples
    }

    /// Decodes `packet` into the start of `out`; returns the samples written (the packet's
    /// duration, usually one frame; up to 120 ms, 5 760 samples at 48 kHz).
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        let needed = self.packet_samples(packet)?;
        let out = fit(out, needed)?;
        let packet = Packet::try_from(packet).map_err(map_err)?;
        let out = MutSignals::try_from(out).map_err(map_err)?;
        self.dec.decode(Some(packet), out, false).map_err(map_err)
    }

    /// Packet-loss concealment: writes one frame extrapolated from the past (pitch-repeating
    /// and fading for speech, comfort noise after DTX) for a packet that did not arrive.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, OpusError> {
        let out = fit(out, self.frame_samples)?;
        let out = MutSignals::try_from(out).map_err(map_err)?;
        self.dec.decode(None, out, false).map_err(map_err)
    }

    /// Recovers the lost frame *before* `next_packet` from the FEC data `next_packet` carries,
    /// writing one frame. Call it for the lost frame, then [`decode`](Self::decode)
    /// `next_packet` as usual. If `next_packet` has no FEC data (FEC off, CELT-only mode, too
    /// low a bitrate, or a packet shorter than one frame), libopus conceals instead, as
    /// [`conceal`](Self::conceal) would.
    pub fn decode_fec(&mut self, next_packet: &[u8], out: &mut [i16]) -> Result<usize, OpusError> {
        self.packet_samples(next_packet)?; // validates the framing first
        let out = fit(out, self.frame_samples)?;
        let packet = Packet::try_from(next_packet).map_err(map_err)?;
        let out = MutSignals::try_from(out).map_err(map_err)?;
        self.dec.decode(Some(packet), out, true).map_err(map_err)
    }

    /// Returns the decoder to its freshly built state (e.g. for a new stream).
    pub fn reset(&mut self) -> Result<(), OpusError> {
        self.dec.reset_state().map_err(map_err)
    }

    /// Duration of `packet` in samples at our rate, from its framing alone.
    fn packet_samples(&self, packet: &[u8]) -> Result<usize, OpusError> {
        let packet = Packet::try_from(packet).map_err(map_err)?;
        audiopus::packet::nb_samples(packet, self.rate).map_err(map_err)
    }
}

/// The first `needed` samples of `out`, or the error saying how many are missing.
fn fit(out: &mut [i16], needed: usize) -> Result<&mut [i16], OpusError> {
    let got = out.len();
    out.get_mut(..needed)
        .ok_or(OpusError::OutputTooSmall { needed, got })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::{dbm0_to_peak, slice_dbm0};
    use crate::osc::{Oscillator, sat_i16};
    use proptest::prelude::*;

    const RATES: [u32; 3] = [8_000, 16_000, 48_000];
    const FRAMES_MS: [u32; 2] = [10, 20];

    fn sine(freq: f32, rate: u32, dbm0: f32, len: usize) -> Vec<i16> {
        let mut o = Oscillator::new(freq, rate, dbm0_to_peak(dbm0));
        (0..len).map(|_| sat_i16(o.next_sample())).collect()
    }

    /// Voiced-speech-like test signal: a glottal pulse train (f0 gliding 100–160 Hz) through
    /// three formant resonators whose F1/F2 move between vowel targets, 4 syllables per
    /// second, a little aspiration noise; scaled to `dbm0` over the whole signal.
    fn speech_like(rate: u32, dbm0: f32, len: usize) -> Vec<i16> {
        let fs = f64::from(rate);
        let tau = core::f64::consts::TAU;
        let mut phase = 0.0f64;
        let mut glottal = 0.0f64;
        let mut seed = 0x1234_5678u32;
        let mut res = [[0.0f64; 2]; 3];
        let mut y = Vec::with_capacity(len);
        for n in 0..len {
            let t = n as f64 / fs;
            let f0 = 130.0 + 30.0 * (tau * 0.9 * t).sin();
            phase += f0 / fs;
            let pulse = if phase >= 1.0 {
                phase -= 1.0;
                1.0
            } else {
                0.0
            };
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (f64::from(seed >> 8) / f64::from(1u32 << 24) - 0.5) * 0.05;
            // Glottal roll-off: one-pole low-pass at 300 Hz.
            let a = (-tau * 300.0 / fs).exp();
            glottal = a * glottal + (1.0 - a) * (pulse * 40.0 + noise);
            let syll = (core::f64::consts::PI * 4.0 * t).sin().powi(2);
            let v = (tau * 1.3 * t).sin();
            let formants = [
                (550.0 + 200.0 * v, 90.0),
                (1500.0 - 500.0 * v, 110.0),
                (2500.0 + 100.0 * v, 170.0),
            ];
            let mut x = glottal * (0.15 + syll);
            for (state, (f, bw)) in res.iter_mut().zip(formants) {
                let r = (-core::f64::consts::PI * bw / fs).exp();
                let out = x + 2.0 * r * (tau * f / fs).cos() * state[0] - r * r * state[1];
                state[1] = state[0];
                state[0] = out;
                x = out * (1.0 - r); // keep the cascade's gain moderate
            }
            y.push(x);
        }
        let ms = y.iter().map(|v| v * v).sum::<f64>() / len as f64;
        let target = f64::from(crate::level::dbm0_to_power(dbm0));
        let g = (target / ms).sqrt();
        y.iter().map(|v| sat_i16((v * g) as f32)).collect()
    }

    /// Encodes then decodes `pcm` frame by frame; returns the decoded signal.
    fn round_trip(cfg: OpusEncoderConfig, pcm: &[i16]) -> (Vec<i16>, usize) {
        let mut enc = OpusEncoder::new(cfg).unwrap();
        let mut dec = OpusDecoder::new(cfg.sample_rate, cfg.frame_ms).unwrap();
        let n = enc.frame_samples();
        let mut out = vec![0i16; pcm.len()];
        let mut pkt = [0u8; MAX_PACKET_BYTES];
        for (frame, o) in pcm.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            let len = enc.encode(frame, &mut pkt).unwrap();
            assert_eq!(dec.decode(&pkt[..len], o).unwrap(), n);
        }
        (out, enc.lookahead_samples())
    }

    /// Best alignment of `y` against `x` over `lags`: (lag, SNR dB, correlation).
    /// Compares `x[start..start+len]` with `y[start+lag..]`.
    fn align(
        x: &[i16],
        y: &[i16],
        start: usize,
        len: usize,
        lags: core::ops::RangeInclusive<usize>,
    ) -> (usize, f64, f64) {
        let mut best = (0, f64::MIN, f64::MIN);
        for lag in lags {
            let (mut sxy, mut sxx, mut syy, mut err) = (0f64, 0f64, 0f64, 0f64);
            for i in start..start + len {
                let a = f64::from(x[i]);
                let b = f64::from(y[i + lag]);
                sxy += a * b;
                sxx += a * a;
                syy += b * b;
                err += (a - b) * (a - b);
            }
            let corr = sxy / (sxx * syy).sqrt().max(1e-9);
            if corr > best.2 {
                best = (lag, 10.0 * (sxx / err.max(1e-9)).log10(), corr);
            }
        }
        best
    }

    struct Quality {
        level_db: f64,
        lag: usize,
        snr: f64,
        corr: f64,
    }

    /// Round trip of `pcm`, aligned by searching lags `0..=2·lookahead`, or, with `period`
    /// (a sine's lag is only known modulo its period), within half a period of the look-ahead.
    fn measure(cfg: OpusEncoderConfig, pcm: &[i16], period: Option<usize>) -> (Quality, usize) {
        let (out, lookahead) = round_trip(cfg, pcm);
        let rate = cfg.sample_rate as usize;
        let start = rate / 2; // let the encoder settle
        let len = pcm.len() - start - rate / 10;
        let lags = match period {
            None => 0..=2 * lookahead,
            Some(p) => lookahead - p / 2..=lookahead + p / 2 - 1,
        };
        let (lag, snr, corr) = align(pcm, &out, start, len, lags);
        let level_db = f64::from(slice_dbm0(&out[start + lag..start + lag + len]))
            - f64::from(slice_dbm0(&pcm[start..start + len]));
        (
            Quality {
                level_db,
                lag,
                snr,
                corr,
            },
            lookahead,
        )
    }

    /// 1 kHz sine at −10 dBm0 through encode/decode at each rate and frame length: level within
    /// 1 dB, the decoder lags by exactly the look-ahead, and the waveform matches (SNR and
    /// correlation thresholds from the measured figures with a few dB of margin).
    #[test]
    fn sine_round_trip() {
        for rate in RATES {
            for ms in FRAMES_MS {
                let cfg = OpusEncoderConfig::voip(rate, ms);
                let pcm = sine(1000.0, rate, -10.0, rate as usize * 2);
                let (q, lookahead) = measure(cfg, &pcm, Some(rate as usize / 1000));
                println!(
                    "sine {rate} Hz {ms} ms: level {:+.2} dB, lag {} (lookahead {lookahead}), \
                     SNR {:.1} dB, corr {:.4}",
                    q.level_db, q.lag, q.snr, q.corr
                );
                assert!(q.level_db.abs() <= 1.0, "level {}", q.level_db);
                assert!(q.snr >= 12.0, "snr {}", q.snr);
                assert!(q.corr >= 0.97, "corr {}", q.corr);
            }
        }
    }

    /// The speech-like signal at −16 dBm0: level within 1 dB, correlation and SNR above the
    /// measured floor (a perceptual codec does not preserve the waveform exactly).
    #[test]
    fn speech_round_trip() {
        for rate in RATES {
            for ms in FRAMES_MS {
                let cfg = OpusEncoderConfig::voip(rate, ms);
                let pcm = speech_like(rate, -16.0, rate as usize * 3);
                let (q, lookahead) = measure(cfg, &pcm, None);
                println!(
                    "speech {rate} Hz {ms} ms: level {:+.2} dB, lag {} (lookahead {lookahead}), \
                     SNR {:.1} dB, corr {:.4}",
                    q.level_db, q.lag, q.snr, q.corr
                );
                assert!(q.level_db.abs() <= 1.0, "level {}", q.level_db);
                assert!(q.lag.abs_diff(lookahead) <= 4, "lag {}", q.lag);
                assert!(q.snr >= 6.0, "snr {}", q.snr);
                assert!(q.corr >= 0.9, "corr {}", q.corr);
            }
        }
    }

    /// Loses frames of speech (every 9th from 0.4 s on) and repairs them by concealment and by
    /// FEC; compares the repaired frames with a loss-free decode. PLC must be non-silent and
    /// bounded; FEC must beat PLC.
    #[test]
    fn plc_and_fec_repair_lost_frames() {
        for rate in RATES {
            let ms = 20;
            let mut cfg = OpusEncoderConfig::voip(rate, ms);
            cfg.fec = true;
            cfg.expected_loss_pct = 10;
            // libopus drops FEC when the bitrate left after its loss allowance is too low for
            // the bandwidth: 16 kbit/s at 8 kHz carries none, 20 kbit/s does.
            cfg.bitrate = cfg.bitrate.max(20_000);
            let pcm = speech_like(rate, -16.0, rate as usize * 4);
            let mut enc = OpusEncoder::new(cfg).unwrap();
            let n = enc.frame_samples();
            let packets: Vec<Vec<u8>> = pcm
                .chunks_exact(n)
                .map(|f| {
                    let mut p = [0u8; MAX_PACKET_BYTES];
                    let len = enc.encode(f, &mut p).unwrap();
                    p[..len].to_vec()
                })
                .collect();
            let first = (400 / ms) as usize;
            let lost =
                |i: usize| i >= first && (i - first).is_multiple_of(9) && i + 1 < packets.len();
            let mut reference = OpusDecoder::new(rate, ms).unwrap();
            let mut plc = OpusDecoder::new(rate, ms).unwrap();
            let mut fec = OpusDecoder::new(rate, ms).unwrap();
            let (mut sig, mut err_plc, mut err_fec) = (0f64, 0f64, 0f64);
            let (mut plc_power, mut lost_frames) = (0f64, 0);
            let (mut r, mut p, mut f) = (vec![0i16; n], vec![0i16; n], vec![0i16; n]);
            for (i, pkt) in packets.iter().enumerate() {
                reference.decode(pkt, &mut r).unwrap();
                if lost(i) {
                    assert_eq!(plc.conceal(&mut p).unwrap(), n);
                    assert_eq!(fec.decode_fec(&packets[i + 1], &mut f).unwrap(), n);
                    for k in 0..n {
                        let (a, b, c) = (f64::from(r[k]), f64::from(p[k]), f64::from(f[k]));
                        sig += a * a;
                        err_plc += (a - b) * (a - b);
                        err_fec += (a - c) * (a - c);
                        plc_power += b * b;
                    }
                    lost_frames += 1;
                } else {
                    plc.decode(pkt, &mut p).unwrap();
                    fec.decode(pkt, &mut f).unwrap();
                }
            }
            let snr_plc = 10.0 * (sig / err_plc).log10();
            let snr_fec = 10.0 * (sig / err_fec).log10();
            let plc_level = 10.0 * (plc_power / sig).log10();
            println!(
                "{rate} Hz: {lost_frames} lost frames, PLC level {plc_level:+.1} dB, \
                 SNR vs loss-free decode: PLC {snr_plc:.1} dB, FEC {snr_fec:.1} dB"
            );
            assert!(
                plc_level > -12.0 && plc_level < 3.0,
                "PLC level {plc_level}"
            );
            assert!(snr_fec > snr_plc + 3.0, "FEC {snr_fec} vs PLC {snr_plc}");
        }
    }

    /// With DTX on, digital silence is sent as 1–2-byte packets after a short hangover
    /// (except periodic comfort-noise updates); without DTX the packets are larger.
    #[test]
    fn dtx_shrinks_silence() {
        for rate in RATES {
            let mut cfg = OpusEncoderConfig::voip(rate, 20);
            cfg.dtx = true;
            let mut enc = OpusEncoder::new(cfg).unwrap();
            let silence = vec![0i16; enc.frame_samples()];
            let mut pkt = [0u8; MAX_PACKET_BYTES];
            let lens: Vec<usize> = (0..150)
                .map(|_| enc.encode(&silence, &mut pkt).unwrap())
                .collect();
            let tiny = lens[50..].iter().filter(|&&l| l <= 2).count();
            println!(
                "{rate} Hz DTX: {tiny}/100 packets of ≤ 2 bytes after 1 s, sizes {:?}",
                &lens[..30]
            );
            assert!(tiny >= 90, "{tiny}");
            // The decoder accepts the tiny packets.
            let mut dec = OpusDecoder::new(rate, 20).unwrap();
            let mut out = vec![0i16; enc.frame_samples()];
            let len = enc.encode(&silence, &mut pkt).unwrap();
            assert_eq!(dec.decode(&pkt[..len], &mut out).unwrap(), out.len());
        }
    }

    #[test]
    fn wrong_frame_length_is_a_clear_error() {
        let mut enc = OpusEncoder::new(OpusEncoderConfig::voip(16_000, 20)).unwrap();
        let mut pkt = [0u8; MAX_PACKET_BYTES];
        let err = enc.encode(&[0; 319], &mut pkt).unwrap_err();
        assert_eq!(
            err,
            OpusError::WrongFrameLength {
                expected: 320,
                got: 319
            }
        );
        assert_eq!(
            err.to_string(),
            "Opus encoder needs exactly one frame of 320 samples, got 319"
        );
        assert!(enc.encode(&[0; 640], &mut pkt).is_err());
        assert_eq!(
            enc.encode(&[0; 320], &mut []).unwrap_err(),
            OpusError::OutputTooSmall { needed: 1, got: 0 }
        );
    }

    #[test]
    fn invalid_settings_are_rejected() {
        let ok = OpusEncoderConfig::voip(8_000, 20);
        let e = |c| OpusEncoder::new(c).unwrap_err();
        assert_eq!(
            e(OpusEncoderConfig {
                sample_rate: 44_100,
                ..ok
            }),
            OpusError::UnsupportedSampleRate(44_100)
        );
        assert_eq!(
            e(OpusEncoderConfig { frame_ms: 30, ..ok }),
            OpusError::UnsupportedFrameMs(30)
        );
        assert_eq!(
            e(OpusEncoderConfig {
                bitrate: 5_999,
                ..ok
            }),
            OpusError::BitrateOutOfRange(5_999)
        );
        assert_eq!(
            e(OpusEncoderConfig {
                complexity: 11,
                ..ok
            }),
            OpusError::ComplexityOutOfRange(11)
        );
        assert_eq!(
            e(OpusEncoderConfig {
                expected_loss_pct: 101,
                ..ok
            }),
            OpusError::LossPctOutOfRange(101)
        );
        assert_eq!(
            OpusDecoder::new(12_000, 20).unwrap_err(),
            OpusError::UnsupportedSampleRate(12_000)
        );
        assert_eq!(
            OpusDecoder::new(8_000, 60).unwrap_err(),
            OpusError::UnsupportedFrameMs(60)
        );
        for err in [
            OpusError::Libopus(-4),
            OpusError::InvalidPacket,
            OpusError::EmptyPacket,
        ] {
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn decoder_errors_are_precise() {
        let mut dec = OpusDecoder::new(48_000, 20).unwrap();
        let mut out = [0i16; 960];
        assert_eq!(
            dec.decode(&[], &mut out).unwrap_err(),
            OpusError::EmptyPacket
        );
        assert_eq!(
            dec.decode_fec(&[], &mut out).unwrap_err(),
            OpusError::EmptyPacket
        );
        // TOC code 3 (arbitrary frame count) without its count byte.
        assert_eq!(
            dec.decode(&[0x03], &mut out).unwrap_err(),
            OpusError::InvalidPacket
        );
        // A valid 20 ms packet into a 10 ms buffer says what it needs.
        let mut enc = OpusEncoder::new(OpusEncoderConfig::voip(48_000, 20)).unwrap();
        let mut pkt = [0u8; MAX_PACKET_BYTES];
        let len = enc.encode(&[0; 960], &mut pkt).unwrap();
        assert_eq!(
            dec.decode(&pkt[..len], &mut out[..480]).unwrap_err(),
            OpusError::OutputTooSmall {
                needed: 960,
                got: 480
            }
        );
        assert_eq!(
            dec.conceal(&mut out[..100]).unwrap_err(),
            OpusError::OutputTooSmall {
                needed: 960,
                got: 100
            }
        );
        // Decoding into a larger buffer writes only the packet's duration.
        let mut big = [7i16; 2000];
        assert_eq!(dec.decode(&pkt[..len], &mut big).unwrap(), 960);
        assert_eq!(big[960..], [7i16; 1040]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// Random bytes as packets: decode, FEC-decode and conceal return a length or an error,
        /// never panic, never claim more samples than the buffer holds.
        #[test]
        fn malformed_packets_never_panic(
            rate in 0usize..3,
            bytes in proptest::collection::vec(any::<u8>(), 0..1500),
            out_len in prop_oneof![Just(5760usize), 0usize..2000],
        ) {
            let rate = RATES[rate];
            let mut dec = OpusDecoder::new(rate, 20).unwrap();
            let mut out = vec![0i16; out_len];
            if let Ok(n) = dec.decode(&bytes, &mut out) {
                prop_assert!(n <= out_len);
            }
            if let Ok(n) = dec.decode_fec(&bytes, &mut out) {
                prop_assert!(n <= out_len);
            }
            if let Ok(n) = dec.conceal(&mut out) {
                prop_assert_eq!(n, dec.frame_samples());
            }
        }

        /// Random PCM (including full-scale noise) always encodes, and the packet decodes.
        #[test]
        fn random_pcm_encodes(
            rate in 0usize..3,
            ms in prop_oneof![Just(10u32), Just(20u32)],
            seed in any::<u64>(),
            complexity in 0u8..=10,
        ) {
            let rate = RATES[rate];
            let cfg = OpusEncoderConfig { complexity, ..OpusEncoderConfig::voip(rate, ms) };
            let mut enc = OpusEncoder::new(cfg).unwrap();
            let mut dec = OpusDecoder::new(rate, ms).unwrap();
            let mut s = seed;
            let pcm: Vec<i16> = (0..enc.frame_samples())
                .map(|_| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    (s >> 48) as i16
                })
                .collect();
            let mut pkt = [0u8; MAX_PACKET_BYTES];
            let len = enc.encode(&pcm, &mut pkt).unwrap();
            prop_assert!((1..=MAX_PACKET_BYTES).contains(&len));
            let mut out = vec![0i16; pcm.len()];
            prop_assert_eq!(dec.decode(&pkt[..len], &mut out).unwrap(), pcm.len());
        }
    }

    /// Encode + decode cost per 20 ms frame at complexity 5 and 8
    /// (`cargo test --release -- --ignored --nocapture opus_cost`).
    #[test]
    #[ignore = "timing measurement, not a check"]
    #[expect(
        clippy::disallowed_methods,
        reason = "a benchmark reads the clock; the DSP does not"
    )]
    fn opus_cost() {
        for rate in RATES {
            for complexity in [5u8, 8] {
                let cfg = OpusEncoderConfig {
                    complexity,
                    ..OpusEncoderConfig::voip(rate, 20)
                };
                let pcm = speech_like(rate, -16.0, rate as usize * 10);
                let mut enc = OpusEncoder::new(cfg).unwrap();
                let mut dec = OpusDecoder::new(rate, 20).unwrap();
                let n = enc.frame_samples();
                let mut pkt = [0u8; MAX_PACKET_BYTES];
                let mut out = vec![0i16; n];
                let (mut t_enc, mut t_dec) = (0f64, 0f64);
                let frames = pcm.len() / n;
                for f in pcm.chunks_exact(n) {
                    let t0 = std::time::Instant::now();
                    let len = enc.encode(f, &mut pkt).unwrap();
                    let t1 = std::time::Instant::now();
                    dec.decode(&pkt[..len], &mut out).unwrap();
                    t_dec += t1.elapsed().as_secs_f64();
                    t_enc += (t1 - t0).as_secs_f64();
                }
                let per = |t: f64| t / frames as f64 * 1e6;
                println!(
                    "{rate} Hz c{complexity}: encode {:.0} µs + decode {:.0} µs per 20 ms frame \
                     = {:.0}x realtime",
                    per(t_enc),
                    per(t_dec),
                    20_000.0 / (per(t_enc) + per(t_dec))
                );
            }
        }
    }
}
