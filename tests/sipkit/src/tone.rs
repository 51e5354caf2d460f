//! A single-tone detector for checking audio paths: "the far side heard 1004 Hz at
//! −10 dBm0 for at least 900 ms".
//!
//! # How does it work?
//! The audio is cut into 20 ms blocks (160 samples at 8 kHz). A block holds the tone when
//! the Goertzel power at the frequency is at least half of the block's mean square (the tone
//! dominates) and above −50 dBm0. Runs of such blocks are timed; the level of a run is the
//! mean Goertzel power over it. With 20 ms blocks the bins are 50 Hz wide: a tone within
//! about ±15 Hz of the asked frequency is accepted, one 30 Hz away is not.

use std::time::Duration;
use tipring_dsp::goertzel::{Goertzel, GoertzelCoeffs};
use tipring_dsp::level::{dbm0_to_power, power_to_dbm0};

/// Samples per analysis block (20 ms).
pub const BLOCK: usize = 160;
/// Quietest block that can count as tone, dBm0.
pub const FLOOR_DBM0: f32 = -50.0;

/// What [`detect`] found for one frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneReport {
    /// The frequency looked for.
    pub freq_hz: f32,
    /// The longest run of blocks holding the tone.
    pub longest: Duration,
    /// Where that run starts, from the start of the audio.
    pub longest_start: Duration,
    /// Mean level of the tone over the longest run, dBm0 (−∞ when there is no run).
    pub level_dbm0: f32,
    /// All the blocks holding the tone, added up.
    pub total: Duration,
}

impl ToneReport {
    /// True when a run of at least `min` held the tone at `level ± tol_db` dBm0.
    pub fn heard(&self, min: Duration, level_dbm0: f32, tol_db: f32) -> bool {
        self.longest >= min && (self.level_dbm0 - level_dbm0).abs() <= tol_db
    }
}

/// Looks for a sine of `freq_hz` in 8 kHz `samples`.
pub fn detect(samples: &[i16], freq_hz: f32) -> ToneReport {
    let coeffs = GoertzelCoeffs::new(freq_hz, 8000);
    let floor = dbm0_to_power(FLOOR_DBM0);
    let block_time = Duration::from_millis(20);
    let (mut run, mut run_start, mut run_power) = (0usize, 0usize, 0f64);
    let (mut best, mut best_start, mut best_power) = (0usize, 0usize, 0f64);
    let mut total = 0usize;
    let blocks = samples.chunks_exact(BLOCK);
    let n = blocks.len();
    for (i, block) in blocks.enumerate() {
        let mut g = Goertzel::new(coeffs);
        g.push_slice(block);
        let tone = g.power();
        let ms = block.iter().map(|&x| f32::from(x).powi(2)).sum::<f32>() / BLOCK as f32;
        let on = tone >= floor && tone >= 0.5 * ms;
        if on {
            if run == 0 {
                run_start = i;
                run_power = 0.0;
            }
            run += 1;
            run_power += f64::from(tone);
            total += 1;
        }
        if (!on || i + 1 == n) && run > 0 {
            if run > best {
                (best, best_start, best_power) = (run, run_start, run_power);
            }
            if !on {
                run = 0;
            }
        }
    }
    ToneReport {
        freq_hz,
        longest: block_time * best as u32,
        longest_start: block_time * best_start as u32,
        level_dbm0: if best == 0 {
            f32::NEG_INFINITY
        } else {
            power_to_dbm0((best_power / best as f64) as f32)
        },
        total: block_time * total as u32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::sine;

    #[test]
    fn finds_a_tone_and_its_level() {
        let mut x = vec![0i16; 800];
        x.extend(sine(1004.0, -10.0, 1000).unwrap());
        x.extend(vec![0i16; 400]);
        let r = detect(&x, 1004.0);
        assert!(r.longest >= Duration::from_millis(980), "{r:?}");
        assert_eq!(r.longest_start, Duration::from_millis(100));
        assert!((r.level_dbm0 + 10.0).abs() < 0.5, "{r:?}");
        assert!(r.heard(Duration::from_millis(900), -10.0, 1.0));
    }

    #[test]
    fn rejects_other_frequencies_and_silence() {
        let x = sine(1034.0, -10.0, 500).unwrap();
        assert_eq!(detect(&x, 1004.0).longest, Duration::ZERO);
        let r = detect(&vec![0i16; 8000], 1004.0);
        assert_eq!(r.total, Duration::ZERO);
        assert_eq!(r.level_dbm0, f32::NEG_INFINITY);
        assert!(!r.heard(Duration::from_millis(1), -10.0, 100.0));
        assert_eq!(detect(&[], 1000.0).longest, Duration::ZERO);
    }

    #[test]
    fn longest_run_wins() {
        let mut x = sine(600.0, -20.0, 100).unwrap();
        x.extend(vec![0i16; 800]);
        x.extend(sine(600.0, -20.0, 300).unwrap());
        let r = detect(&x, 600.0);
        assert_eq!(r.longest, Duration::from_millis(300));
        assert_eq!(r.total, Duration::from_millis(400));
    }
}
