//! DTMF generator.
//!
//! # What does it do?
//! Sends a queue of digits as DTMF tone pairs at the exact Q.23 frequencies. Levels are per
//! tone, −3 … −20 dBm0 (default −10 dBm0 low group, −8 dBm0 high group: the +2 dB
//! pre-emphasis phones use, inside BT SIN 351's 1–4 dB window). Timing defaults to 80 ms on /
//! 80 ms off; anything shorter than 50 ms on or 45 ms off is refused, since some Q.24
//! administrations need 40 ms and margin is cheap.
//!
//! # How does it work?
//! Two [`Oscillator`]s on 32-bit phase accumulators (frequency error < 2 µHz, phase continuous
//! through the whole tone) summed and saturated to 16 bits. Each tone starts at phase zero so
//! that its onset has no click. Time is counted in samples; the current digit's position is
//! carried across `generate` calls, so the output does not depend on the caller's buffer size.

use super::{COL_HZ, ROW_HZ, digit_position};
use crate::level::dbm0_to_peak;
use crate::osc::{Oscillator, sat_i16};
use core::fmt;

/// How many digits can wait in the generator's queue.
pub const QUEUE_CAPACITY: usize = 64;

/// Generator settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtmfGenConfig {
    /// Low-group (row) tone level, dBm0, −20 … −3.
    pub low_dbm0: f32,
    /// High-group (column) tone level, dBm0, −20 … −3.
    pub high_dbm0: f32,
    /// Tone duration in ms, ≥ 50.
    pub on_ms: u32,
    /// Pause after each tone in ms, ≥ 45.
    pub off_ms: u32,
    /// Sample rate in Hz (8000 for telephony; 16000 and 48000 for wideband legs).
    pub sample_rate: u32,
}

impl Default for DtmfGenConfig {
    fn default() -> Self {
        Self {
            low_dbm0: -10.0,
            high_dbm0: -8.0,
            on_ms: 80,
            off_ms: 80,
            sample_rate: 8000,
        }
    }
}

/// Why a configuration or a digit string was refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DtmfGenError {
    /// A tone level outside −20 … −3 dBm0.
    Level {
        /// The level given.
        dbm0: f32,
    },
    /// A tone shorter than 50 ms.
    OnTooShort {
        /// The duration given, ms.
        ms: u32,
    },
    /// A pause shorter than 45 ms.
    OffTooShort {
        /// The duration given, ms.
        ms: u32,
    },
    /// A tone or pause longer than 10 s.
    TooLong {
        /// The duration given, ms.
        ms: u32,
    },
    /// A sample rate other than 8000, 16000 or 48000 Hz.
    SampleRate {
        /// The rate given.
        hz: u32,
    },
    /// A character that is not a DTMF digit; nothing of the string was queued.
    BadDigit {
        /// The character.
        ch: char,
        /// Its position (in characters) in the string.
        index: usize,
    },
    /// The string does not fit in the queue; nothing of it was queued.
    QueueFull {
        /// Free places in the queue.
        free: usize,
        /// Digits in the string.
        wanted: usize,
    },
}

impl fmt::Display for DtmfGenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Level { dbm0 } => {
                write!(f, "DTMF tone level {dbm0} dBm0 is outside -20 ... -3 dBm0")
            }
            Self::OnTooShort { ms } => {
                write!(f, "DTMF tone of {ms} ms is shorter than the 50 ms minimum")
            }
            Self::OffTooShort { ms } => {
                write!(f, "DTMF pause of {ms} ms is shorter than the 45 ms minimum")
            }
            Self::TooLong { ms } => {
                write!(f, "DTMF tone or pause of {ms} ms is longer than 10 000 ms")
            }
            Self::SampleRate { hz } => {
                write!(
                    f,
                    "sample rate {hz} Hz is not supported (8000, 16000 or 48000)"
                )
            }
            Self::BadDigit { ch, index } => write!(
                f,
                "{ch:?} at position {index} is not a DTMF digit (expected 0-9, *, #, A-D)"
            ),
            Self::QueueFull { free, wanted } => {
                write!(
                    f,
                    "{wanted} digits do not fit in the DTMF queue ({free} free)"
                )
            }
        }
    }
}

impl core::error::Error for DtmfGenError {}

/// A DTMF digit sender. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    queue: heapless::Deque<u8, QUEUE_CAPACITY>,
    low_peak: f32,
    high_peak: f32,
    on_samples: u32,
    off_samples: u32,
    sample_rate: u32,
    /// Index in the keypad of the digit being sent, or `None` when idle.
    current: Option<u8>,
    /// Samples of the current digit (tone + pause) already sent.
    pos: u32,
    low: Oscillator,
    high: Oscillator,
}

impl DtmfGenerator {
    /// A generator with the given settings.
    ///
    /// # Errors
    /// A level, duration or sample rate out of range (see [`DtmfGenError`]).
    pub fn new(cfg: DtmfGenConfig) -> Result<Self, DtmfGenError> {
        for dbm0 in [cfg.low_dbm0, cfg.high_dbm0] {
            if !(-20.0..=-3.0).contains(&dbm0) {
                return Err(DtmfGenError::Level { dbm0 });
            }
        }
        if cfg.on_ms < 50 {
            return Err(DtmfGenError::OnTooShort { ms: cfg.on_ms });
        }
        if cfg.off_ms < 45 {
            return Err(DtmfGenError::OffTooShort { ms: cfg.off_ms });
        }
        for ms in [cfg.on_ms, cfg.off_ms] {
            if ms > 10_000 {
                return Err(DtmfGenError::TooLong { ms });
            }
        }
        if ![8000, 16000, 48000].contains(&cfg.sample_rate) {
            return Err(DtmfGenError::SampleRate {
                hz: cfg.sample_rate,
            });
        }
        let per_ms = cfg.sample_rate / 1000;
        Ok(Self {
            queue: heapless::Deque::new(),
            low_peak: dbm0_to_peak(cfg.low_dbm0),
            high_peak: dbm0_to_peak(cfg.high_dbm0),
            on_samples: cfg.on_ms * per_ms,
            off_samples: cfg.off_ms * per_ms,
            sample_rate: cfg.sample_rate,
            current: None,
            pos: 0,
            low: Oscillator::new(0.0, cfg.sample_rate, 0.0),
            high: Oscillator::new(0.0, cfg.sample_rate, 0.0),
        })
    }

    /// Queues the digits of `digits` (`0-9 * # A-D`, either case). All or nothing: on error
    /// nothing is queued. Returns the number of digits queued.
    ///
    /// # Errors
    /// [`DtmfGenError::BadDigit`] for a character that is not a digit,
    /// [`DtmfGenError::QueueFull`] when the string does not fit.
    pub fn queue_digits(&mut self, digits: &str) -> Result<usize, DtmfGenError> {
        let mut wanted = 0;
        for (index, ch) in digits.chars().enumerate() {
            if digit_position(ch).is_none() {
                return Err(DtmfGenError::BadDigit { ch, index });
            }
            wanted += 1;
        }
        let free = QUEUE_CAPACITY - self.queue.len();
        if wanted > free {
            return Err(DtmfGenError::QueueFull { free, wanted });
        }
        for ch in digits.chars() {
            if let Some((r, c)) = digit_position(ch) {
                // Cannot fail: capacity was checked above.
                let _ = self.queue.push_back((r * 4 + c) as u8);
            }
        }
        Ok(wanted)
    }

    /// True when nothing is being sent or waiting.
    pub fn is_idle(&self) -> bool {
        self.current.is_none() && self.queue.is_empty()
    }

    /// Digits waiting (not counting the one being sent).
    pub fn pending(&self) -> usize {
        self.queue.len()
    }

    /// Drops the queue and stops the current digit at once.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.current = None;
        self.pos = 0;
    }

    /// Samples needed to send everything queued, including the digit under way.
    pub fn remaining_samples(&self) -> u64 {
        let per = u64::from(self.on_samples + self.off_samples);
        let cur = if self.current.is_some() {
            per - u64::from(self.pos)
        } else {
            0
        };
        cur + per * self.queue.len() as u64
    }

    fn start_next(&mut self) -> bool {
        let Some(idx) = self.queue.pop_front() else {
            self.current = None;
            return false;
        };
        let (r, c) = (usize::from(idx / 4), usize::from(idx % 4));
        self.low = Oscillator::new(ROW_HZ[r], self.sample_rate, self.low_peak);
        self.high = Oscillator::new(COL_HZ[c], self.sample_rate, self.high_peak);
        self.current = Some(idx);
        self.pos = 0;
        true
    }

    /// Writes audio into `out` while there is something to send; returns the number of
    /// samples written (less than `out.len()` when the queue ran out, 0 when idle). Samples past
    /// the returned count are left untouched.
    pub fn generate(&mut self, out: &mut [i16]) -> usize {
        let mut n = 0;
        while n < out.len() {
            if self.current.is_none() && !self.start_next() {
                break;
            }
            let period = self.on_samples + self.off_samples;
            let avail = (period - self.pos) as usize;
            let take = avail.min(out.len() - n);
            for o in &mut out[n..n + take] {
                *o = if self.pos < self.on_samples {
                    sat_i16(self.low.next_sample() + self.high.next_sample())
                } else {
                    0
                };
                self.pos += 1;
            }
            n += take;
            if self.pos >= period {
                self.current = None;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::{Goertzel, GoertzelCoeffs};
    use crate::level::power_to_dbm0;

    fn render(digits: &str, cfg: DtmfGenConfig) -> Vec<i16> {
        let mut g = DtmfGenerator::new(cfg).unwrap();
        g.queue_digits(digits).unwrap();
        let mut out = vec![0i16; g.remaining_samples() as usize + 100];
        let n = g.generate(&mut out);
        out.truncate(n);
        out
    }

    /// Default timing 80 ms on / 80 ms off: exact sample counts.
    #[test]
    fn default_timing_is_80_on_80_off() {
        let x = render("1", DtmfGenConfig::default());
        assert_eq!(x.len(), 1280);
        assert!(x[..640].iter().any(|&s| s != 0));
        assert!(x[640..].iter().all(|&s| s == 0));
    }

    /// Q.23 frequencies and the default levels −10 / −8 dBm0 per tone, measured over 1 s
    /// (whole cycles, so the other DTMF frequencies sit on exact nulls); purity per BT SIN 351
    /// §4.1: harmonics and intermodulation products below −33 dBm0.
    #[test]
    fn q23_frequencies_levels_and_purity() {
        let cfg = DtmfGenConfig {
            on_ms: 1000,
            ..DtmfGenConfig::default()
        };
        let power_at = |x: &[i16], hz: f32| {
            let mut g = Goertzel::new(GoertzelCoeffs::new(hz, 8000));
            g.push_slice(x);
            power_to_dbm0(g.power())
        };
        for (i, &d) in super::super::KEYPAD.iter().enumerate() {
            let x = render(&d.to_string(), cfg);
            let tone = &x[..8000];
            let (fr, fc) = (ROW_HZ[i / 4], COL_HZ[i % 4]);
            assert!(
                (power_at(tone, fr) + 10.0).abs() < 0.05,
                "{d} low group level"
            );
            assert!(
                (power_at(tone, fc) + 8.0).abs() < 0.05,
                "{d} high group level"
            );
            for &hz in ROW_HZ.iter().chain(COL_HZ.iter()) {
                if hz != fr && hz != fc {
                    assert!(power_at(tone, hz) < -60.0, "{d}: energy at {hz} Hz");
                }
            }
            let products = [
                2.0 * fr,
                3.0 * fr,
                2.0 * fc,
                3.0 * fc,
                fc - fr,
                fc + fr,
                (2.0 * fr - fc).abs(),
                2.0 * fc - fr,
            ];
            for hz in products {
                if hz < 4000.0 {
                    assert!(power_at(tone, hz) < -33.0, "{d}: product at {hz} Hz");
                }
            }
        }
    }

    /// The oscillators are exact: zero crossings of a long 697+1209 Hz tone pair give the
    /// expected phase progression (checked via the row tone alone with a 1-tone config).
    #[test]
    fn generated_frequency_error_below_0_1_percent() {
        let cfg = DtmfGenConfig {
            on_ms: 1000,
            ..DtmfGenConfig::default()
        };
        let x = render("1", cfg);
        // Estimate the frequency of the sum's slow component with two Goertzels 1 Hz apart.
        for hz in [697.0f32, 1209.0] {
            let p = |f: f32| {
                let mut g = Goertzel::new(GoertzelCoeffs::new(f, 8000));
                g.push_slice(&x[..8000]);
                g.power()
            };
            assert!(p(hz) > 10.0 * p(hz + 1.0) && p(hz) > 10.0 * p(hz - 1.0));
        }
    }

    /// Chunked generation gives the same samples as one call.
    #[test]
    fn chunk_size_does_not_matter() {
        let whole = render("123#", DtmfGenConfig::default());
        for chunk in [1usize, 7, 160, 333] {
            let mut g = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
            g.queue_digits("123#").unwrap();
            let mut out = Vec::new();
            let mut buf = vec![0i16; chunk];
            loop {
                let n = g.generate(&mut buf);
                out.extend_from_slice(&buf[..n]);
                if n < chunk {
                    break;
                }
            }
            assert_eq!(out, whole, "chunk {chunk}");
        }
    }

    /// Refusals are precise and nothing of a refused string is queued.
    #[test]
    fn bad_input_is_refused_whole() {
        let mut g = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
        assert_eq!(
            g.queue_digits("12x4"),
            Err(DtmfGenError::BadDigit { ch: 'x', index: 2 })
        );
        assert!(g.is_idle());
        g.queue_digits(&"1".repeat(60)).unwrap();
        assert_eq!(
            g.queue_digits("12345"),
            Err(DtmfGenError::QueueFull { free: 4, wanted: 5 })
        );
        assert_eq!(g.pending(), 60);
        let bad = |c: DtmfGenConfig| DtmfGenerator::new(c).unwrap_err();
        let d = DtmfGenConfig::default();
        assert_eq!(
            bad(DtmfGenConfig { on_ms: 49, ..d }),
            DtmfGenError::OnTooShort { ms: 49 }
        );
        assert_eq!(
            bad(DtmfGenConfig { off_ms: 44, ..d }),
            DtmfGenError::OffTooShort { ms: 44 }
        );
        assert_eq!(
            bad(DtmfGenConfig {
                low_dbm0: -2.0,
                ..d
            }),
            DtmfGenError::Level { dbm0: -2.0 }
        );
        assert_eq!(
            bad(DtmfGenConfig {
                high_dbm0: -21.0,
                ..d
            }),
            DtmfGenError::Level { dbm0: -21.0 }
        );
        assert!(
            DtmfGenerator::new(DtmfGenConfig {
                on_ms: 50,
                off_ms: 45,
                ..d
            })
            .is_ok()
        );
    }

    /// The loudest allowed pair (−3 dBm0 per tone) does not clip.
    #[test]
    fn loudest_pair_does_not_clip() {
        let cfg = DtmfGenConfig {
            low_dbm0: -3.0,
            high_dbm0: -3.0,
            ..DtmfGenConfig::default()
        };
        let x = render("D", cfg);
        let peak = x.iter().map(|&s| i32::from(s).abs()).max().unwrap();
        assert!(peak < 32_767, "{peak}");
    }
}
