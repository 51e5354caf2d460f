//! Goertzel single-frequency analysis, real and complex.
//!
//! # What does it do?
//! Measures the energy (and, with [`Goertzel::complex`], the phase) of one frequency over a
//! block of samples, far more cheaply than an FFT when only a few frequencies matter, which is
//! the case for tone detection (call progress, FSK, fax tones).
//!
//! # How does it work?
//! The second-order recursion `s[n] = x[n] + 2cos(ω)·s[n-1] − s[n-2]` is run over the block;
//! at its end `y = s[N-1] − e^{-jω}·s[N-2]` equals `Σ x[n]·e^{jω(N-1-n)}`, whose squared
//! magnitude is the block's DFT power at ω. For a sine of peak `A` exactly on frequency,
//! `|y|² = (A·N/2)²`; [`Goertzel::power`] returns that scaled to a mean square
//! (`2|y|²/N²`), directly comparable with a block's mean square or with
//! [`crate::level::dbm0_to_power`].

/// Precomputed coefficients of one Goertzel frequency.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoertzelCoeffs {
    /// `2·cos(ω)`.
    pub fac: f32,
    /// `cos(ω)`.
    pub cos: f32,
    /// `sin(ω)`.
    pub sin: f32,
}

impl GoertzelCoeffs {
    /// Coefficients for `freq_hz` at `sample_rate`.
    pub fn new(freq_hz: f32, sample_rate: u32) -> Self {
        let w = core::f64::consts::TAU * f64::from(freq_hz) / f64::from(sample_rate);
        Self {
            fac: (2.0 * w.cos()) as f32,
            cos: w.cos() as f32,
            sin: w.sin() as f32,
        }
    }
}

/// Running state of one Goertzel filter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goertzel {
    c: GoertzelCoeffs,
    s1: f32,
    s2: f32,
    n: u32,
}

impl Goertzel {
    /// A filter for the given coefficients, reset.
    pub fn new(c: GoertzelCoeffs) -> Self {
        Self {
            c,
            s1: 0.0,
            s2: 0.0,
            n: 0,
        }
    }

    /// Feeds one sample.
    #[inline]
    pub fn push(&mut self, x: f32) {
        let s = x + self.c.fac * self.s1 - self.s2;
        self.s2 = self.s1;
        self.s1 = s;
        self.n += 1;
    }

    /// Feeds a slice of samples.
    pub fn push_slice(&mut self, x: &[i16]) {
        for &v in x {
            self.push(f32::from(v));
        }
    }

    /// Samples fed since the last reset.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// True when no sample has been fed since the last reset.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// `|y|²`, the raw DFT power of the block so far.
    pub fn raw_power(&self) -> f32 {
        self.s1 * self.s1 + self.s2 * self.s2 - self.c.fac * self.s1 * self.s2
    }

    /// The block's power at the frequency as a mean square: a sine of peak `A` on frequency
    /// gives `A²/2`. Zero for an empty block.
    pub fn power(&self) -> f32 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as f32;
        2.0 * self.raw_power() / (n * n)
    }

    /// The complex output `y = Σ x[n]·e^{jω(N-1-n)}` as `(re, im)`.
    pub fn complex(&self) -> (f32, f32) {
        (self.s1 - self.c.cos * self.s2, self.c.sin * self.s2)
    }

    /// Clears the state for the next block.
    pub fn reset(&mut self) {
        self.s1 = 0.0;
        self.s2 = 0.0;
        self.n = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osc::Oscillator;

    #[test]
    fn on_frequency_sine_power_is_its_mean_square() {
        let mut o = Oscillator::new(1000.0, 8000, 10_000.0);
        let mut g = Goertzel::new(GoertzelCoeffs::new(1000.0, 8000));
        for _ in 0..160 {
            g.push(o.next_sample());
        }
        let p = g.power();
        assert!((p / 50_000_000.0 - 1.0).abs() < 0.01, "{p}");
        // A frequency 4 bins away sees almost nothing.
        let mut g2 = Goertzel::new(GoertzelCoeffs::new(1200.0, 8000));
        let mut o = Oscillator::new(1000.0, 8000, 10_000.0);
        for _ in 0..160 {
            g2.push(o.next_sample());
        }
        assert!(g2.power() < 50_000_000.0 * 1e-3);
    }
}
