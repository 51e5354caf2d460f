//! Signal levels in dBm0, and conversions between dBm0 and 16-bit linear samples.
//!
//! # What does it do?
//! Every level in Tipring is in dBm0 (ITU-T G.711 / G.100): the power of a signal relative to
//! the 0 dBm0 reference at the digital interface. For 16-bit linear audio we use the same
//! convention as spandsp: a full-scale sine (peak 32 767) is **+3.14 dBm0**, so a 0 dBm0 sine
//! peaks at about 22 826. DTMF and call-progress levels are given *per tone*.
//!
//! # How does it work?
//! A sine of peak `A` has mean square `A²/2`; its level is `10·log10(ms / P0)` with
//! `P0 = A0²/2`, `A0` being the 0 dBm0 peak. The functions here are pure and used at
//! construction time (they call `powf`/`log10`); the real-time paths compare mean squares
//! against thresholds precomputed with them.

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

    #[test]
    fn power_and_peak_agree() {
        for dbm0 in [-55.0f32, -30.0, -10.0, 0.0, 3.0] {
            let a = dbm0_to_peak(dbm0);
            assert!((power_to_dbm0(a * a / 2.0) - dbm0).abs() < 1e-3);
            assert!((power_to_dbm0(dbm0_to_power(dbm0)) - dbm0).abs() < 1e-3);
        }
    }
}
