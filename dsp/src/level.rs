//! Signal levels in dBm0, and conversions between dBm0 and 16-bit linear samples.
//!
//! # What does it do?
//! Every level in Tipring is in dBm0 (ITU-T G.711 / G.100): the power of a signal relative to
//! the 0 dBm0 reference at the digital interface. For 16-bit linear audio we use the same
//! convention as spandsp: a full-scale sine (peak 32 767) is **+3.14 dBm0**, so a 0 dBm0 sine
//! peaks at about 22 826. DTMF and call-progress levels are given *per tone*.
//!
//! [`LevelMeter`] measures a stream's level in dBm0 per block and smoothed; [`crate::vad`]
//! builds voice activity detection on it.
//!
//! # How does it work?
//! A sine of peak `A` has mean square `A²/2`; its level is `10·log10(ms / P0)` with
//! `P0 = A0²/2`, `A0` being the 0 dBm0 peak. The conversion functions are pure; the
//! real-time paths accumulate mean squares and convert only when asked for a reading.

/// Level of a full-scale 16-bit sine, in dBm0 (G.711 A-law overload point, spandsp convention).
#[allow(clippy::approx_constant)] // +3.14 dBm0 is G.711's overload level, not π
pub const FULL_SCALE_SINE_DBM0: f32 = 3.14;

/// Peak amplitude (16-bit linear) of a 0 dBm0 sine.
pub const DBM0_REF_PEAK: f32 = 32_767.0 * 0.696_627_6; // 10^(-3.14/20)

/// Mean square (16-bit linear) of a 0 dBm0 sine.
pub const DBM0_REF_POWER: f32 = DBM0_REF_PEAK * DBM0_REF_PEAK / 2.0;

/// Peak amplitude of a sine at `dbm0`.
///
/// ```
/// let a = tipring_dsp::level::dbm0_to_peak(0.0);
/// assert!((a - 22_826.0).abs() < 1.0);
/// ```
pub fn dbm0_to_peak(dbm0: f32) -> f32 {
    DBM0_REF_PEAK * 10f32.powf(dbm0 / 20.0)
}

/// Mean square of a sine at `dbm0` (the power the level meter reports for it).
pub fn dbm0_to_power(dbm0: f32) -> f32 {
    DBM0_REF_POWER * 10f32.powf(dbm0 / 10.0)
}

/// Level in dBm0 of a signal with mean square `power` (16-bit linear units squared).
/// A power of zero gives `-inf`.
pub fn power_to_dbm0(power: f32) -> f32 {
    10.0 * (power / DBM0_REF_POWER).log10()
}

/// Level in dBm0 of the samples in `x` (mean square over the slice); `-inf` for silence or an
/// empty slice.
pub fn slice_dbm0(x: &[i16]) -> f32 {
    if x.is_empty() {
        return f32::NEG_INFINITY;
    }
    let ms = x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64;
    power_to_dbm0(ms as f32)
}

/// A level meter: mean square per block (default 20 ms), a smoothed level (first-order,
/// time constant `smoothing_ms`) and the peak sample. Any input length; nothing allocates.
#[derive(Debug, Clone)]
pub struct LevelMeter {
    block: u32,
    alpha: f32,
    acc: f64,
    fill: u32,
    last_block: f32,
    smoothed: f32,
    peak: u16,
    blocks: u64,
}

impl LevelMeter {
    /// A meter with `block_ms` blocks (1 … 1000, at 8 kHz) and a smoothing time constant of
    /// `smoothing_ms` (≥ `block_ms`). Out-of-range values are clamped.
    pub fn new(block_ms: u32, smoothing_ms: u32) -> Self {
        let block_ms = block_ms.clamp(1, 1000);
        let tau = smoothing_ms.max(block_ms) as f32;
        Self {
            block: block_ms * 8,
            alpha: 1.0 - (-(block_ms as f32) / tau).exp(),
            acc: 0.0,
            fill: 0,
            last_block: 0.0,
            smoothed: 0.0,
            peak: 0,
            blocks: 0,
        }
    }

    /// Feeds samples; returns how many whole blocks completed.
    pub fn process(&mut self, x: &[i16]) -> u32 {
        let mut done = 0;
        for &s in x {
            let v = f64::from(s);
            self.acc += v * v;
            self.peak = self.peak.max(s.unsigned_abs());
            self.fill += 1;
            if self.fill == self.block {
                let ms = (self.acc / f64::from(self.block)) as f32;
                self.last_block = ms;
                self.smoothed += self.alpha * (ms - self.smoothed);
                self.acc = 0.0;
                self.fill = 0;
                self.blocks += 1;
                done += 1;
            }
        }
        done
    }

    /// Level of the last complete block, dBm0 (`-inf` before the first or for digital silence).
    pub fn block_dbm0(&self) -> f32 {
        power_to_dbm0(self.last_block)
    }

    /// Mean square of the last complete block.
    pub fn block_power(&self) -> f32 {
        self.last_block
    }

    /// Smoothed level, dBm0.
    pub fn smoothed_dbm0(&self) -> f32 {
        power_to_dbm0(self.smoothed)
    }

    /// Peak sample since the last [`reset_peak`](Self::reset_peak), as dBm0 of a sine with that
    /// peak.
    pub fn peak_dbm0(&self) -> f32 {
        let a = f32::from(self.peak);
        power_to_dbm0(a * a / 2.0)
    }

    /// Restarts peak tracking.
    pub fn reset_peak(&mut self) {
        self.peak = 0;
    }

    /// Complete blocks so far.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// G.711 (11/88) Table 5/6 convention as used by spandsp: full-scale sine = +3.14 dBm0.
    #[test]
    fn full_scale_sine_is_plus_3_14_dbm0() {
        assert!((dbm0_to_peak(FULL_SCALE_SINE_DBM0) - 32_767.0).abs() < 0.5);
        let p = 32_767.0f32 * 32_767.0 / 2.0;
        assert!((power_to_dbm0(p) - FULL_SCALE_SINE_DBM0).abs() < 0.001);
    }

    /// A −20 dBm0 tone reads −20 dBm0 per block, smoothed and as a peak.
    #[test]
    fn meter_reads_a_tone() {
        let mut o = crate::osc::Oscillator::new(1004.0, 8000, dbm0_to_peak(-20.0));
        let x: Vec<i16> = (0..8000)
            .map(|_| crate::osc::sat_i16(o.next_sample()))
            .collect();
        let mut m = LevelMeter::new(20, 100);
        for c in x.chunks(37) {
            m.process(c);
        }
        assert_eq!(m.blocks(), 50);
        assert!((m.block_dbm0() + 20.0).abs() < 0.1, "{}", m.block_dbm0());
        assert!((m.smoothed_dbm0() + 20.0).abs() < 0.1);
        assert!((m.peak_dbm0() + 20.0).abs() < 0.1);
        assert_eq!(LevelMeter::new(20, 100).block_dbm0(), f32::NEG_INFINITY);
    }

    #[test]
    fn power_and_peak_agree() {
        for dbm0 in [-55.0f32, -30.0, -10.0, 0.0, 3.0] {
            let a = dbm0_to_peak(dbm0);
            assert!((power_to_dbm0(a * a / 2.0) - dbm0).abs() < 1e-3);
            assert!((power_to_dbm0(dbm0_to_power(dbm0)) - dbm0).abs() < 1e-3);
        }
    }
}
