//! Phase-continuous sine oscillator on a 32-bit phase accumulator.
//!
//! # What does it do?
//! Produces a sine at an exact frequency (error below 2 µHz at 8 kHz) whose phase carries on
//! across calls, frequency changes and on/off cadences. Every Tipring tone source (DTMF, call
//! progress, FSK caller ID) is built from it.
//!
//! # How does it work?
//! The phase is a `u32` counting 2⁻³² of a turn; each sample adds `step = f/fs · 2³²` and wraps
//! for free. The sine of the phase comes from [`sin_turns`], an odd polynomial on the quarter
//! wave (error < 1e-7), so there is no table to build and nothing to allocate.

/// Sine of a phase given in 2⁻³² turns (so `0x4000_0000` is a quarter turn, `sin = 1`).
#[inline]
pub fn sin_turns(phase: u32) -> f32 {
    // As a signed angle in [-1/2, 1/2) turn, folded onto the quarter wave [-1/4, 1/4] turn:
    // sin(π - x) = sin(x) and sin(-π - x) = sin(x).
    const QUARTER: i64 = 1 << 30;
    const HALF: i64 = 1 << 31;
    let p = i64::from(phase as i32);
    let q = if p > QUARTER {
        HALF - p
    } else if p < -QUARTER {
        -HALF - p
    } else {
        p
    };
    let x = q as f32 * (core::f32::consts::PI / 2_147_483_648.0); // radians in [-π/2, π/2]
    let x2 = x * x;
    // Taylor series to x^11: max error 6e-8 on [-π/2, π/2].
    x * (1.0
        + x2 * (-1.0 / 6.0
            + x2 * (1.0 / 120.0
                + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362_880.0 + x2 * (-1.0 / 39_916_800.0))))))
}

/// Phase increment per sample for `freq_hz` at `sample_rate` Hz, in 2⁻³² turns.
pub fn phase_step(freq_hz: f32, sample_rate: u32) -> u32 {
    let turns = f64::from(freq_hz) / f64::from(sample_rate);
    let turns = turns - turns.floor();
    (turns * 4_294_967_296.0).round() as u64 as u32
}

/// A phase-continuous sine oscillator.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Oscillator {
    phase: u32,
    step: u32,
    peak: f32,
}

impl Oscillator {
    /// An oscillator at `freq_hz` with peak amplitude `peak` (16-bit linear units), phase 0.
    pub fn new(freq_hz: f32, sample_rate: u32, peak: f32) -> Self {
        Self {
            phase: 0,
            step: phase_step(freq_hz, sample_rate),
            peak,
        }
    }

    /// Changes frequency without a phase jump.
    pub fn set_freq(&mut self, freq_hz: f32, sample_rate: u32) {
        self.step = phase_step(freq_hz, sample_rate);
    }

    /// Changes the peak amplitude.
    pub fn set_peak(&mut self, peak: f32) {
        self.peak = peak;
    }

    /// Current phase in 2⁻³² turns.
    pub fn phase(&self) -> u32 {
        self.phase
    }

    /// Sets the phase (2⁻³² turns).
    pub fn set_phase(&mut self, phase: u32) {
        self.phase = phase;
    }

    /// The next sample, then advances the phase by one sample.
    #[inline]
    pub fn next_sample(&mut self) -> f32 {
        let v = sin_turns(self.phase) * self.peak;
        self.phase = self.phase.wrapping_add(self.step);
        v
    }
}

/// Saturates a float sample to `i16`.
#[inline]
pub fn sat_i16(x: f32) -> i16 {
    x.round().clamp(-32_768.0, 32_767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sin_turns_matches_libm_everywhere() {
        let mut worst = 0f32;
        for i in 0..=65_536u64 {
            let phase = (i * 65_536) as u32; // sweeps one full turn (and wraps at the end)
            let exact = (phase as f64 / 4_294_967_296.0 * core::f64::consts::TAU).sin() as f32;
            worst = worst.max((sin_turns(phase) - exact).abs());
        }
        // Also the fold edges.
        for phase in [
            0u32,
            0x4000_0000,
            0x8000_0000,
            0xC000_0000,
            0x3FFF_FFFF,
            0x8000_0001,
            0xBFFF_FFFF,
            0xC000_0001,
            u32::MAX,
        ] {
            let exact = (phase as f64 / 4_294_967_296.0 * core::f64::consts::TAU).sin() as f32;
            worst = worst.max((sin_turns(phase) - exact).abs());
        }
        assert!(worst < 2e-6, "worst error {worst}");
    }

    #[test]
    fn oscillator_frequency_is_exact() {
        // Count zero crossings of 1000 Hz over 10 s at 8 kHz: 20 000 crossings.
        let mut o = Oscillator::new(1000.0, 8000, 10_000.0);
        let mut prev = o.next_sample();
        let mut crossings = 0;
        for _ in 1..80_000 {
            let v = o.next_sample();
            if (prev < 0.0) != (v < 0.0) {
                crossings += 1;
            }
            prev = v;
        }
        assert!((19_999..=20_001).contains(&crossings), "{crossings}");
    }
}
