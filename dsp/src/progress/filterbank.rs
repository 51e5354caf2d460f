//! Sliding-window Goertzel filter bank used by the call-progress detector.
//!
//! A Hann window of [`WINDOW`] samples (50 ms, bins 20 Hz apart) slides by [`HOP`] samples
//! (10 ms).
//!
//! * Each bin runs the Goertzel recursion of [`crate::goertzel`] over one hop only; the
//!   rectangular-window DFT value is the sum of the last [`WINDOW_HOPS`] hop outputs, each
//!   turned by `e^{jω·HOP}` per hop of age (Horner's rule), so a sample costs one recursion
//!   step per bin whatever the overlap. Bins are laid out as arrays so the per-sample loop
//!   vectorises across bins.
//! * Bins sit on an exact 10 Hz grid, so the bins ±20 Hz (= ±1 DFT bin of the window) from
//!   any bin are also on the grid. The Hann value is
//!   `H(ω) = ½Y(ω) − ¼e^{−jΔ}Y(ω−Δ) − ¼e^{jΔ}Y(ω+Δ)` with `Δ = 2π/WINDOW`; each band
//!   carries 2 guard bins on each side for this. The taper matters: with a rectangular
//!   window two components 2.5 bins apart (UK ringback 400+450 Hz) leak into each other at
//!   −18 dB and, depending on their relative phase, the tone-vs-rest ratio swings by ±1.5 dB;
//!   the Hann sidelobe there is −32 dB.
//! * The window's energy is weighted by the Hann window itself, `Σw·x² / Σw` with
//!   `w = ½ − ½cos(Δn)`: the plain energy minus the DFT of `x²` at one bin, computed the same
//!   way. Weighting by `w` rather than `w²` matters: two tones beat in `x²` at their
//!   difference frequency, and `w²` has spectral lines at 2 bins that turn the 40 Hz beat of
//!   440+480 Hz into a ±16 % swing of the energy; `w`'s transform is 32 dB down by 2.5 bins.
//!   For a steady sine the weighted energy equals the power of its bin; for a sine filling
//!   part of the window the ratio of the two is the weighted fraction filled (≤ 1).
//! * Power is scaled so that a sine of peak `A` on a bin reads `A²/2`, like the weighted
//!   energy of the same sine; a sine between two grid bins loses at most 0.35 dB.
//! * The per-sample loop runs four samples per pass over the bins (state kept in registers);
//!   the arithmetic is the same as one sample at a time, so results don't depend on how the
//!   input was cut.

use crate::goertzel::GoertzelCoeffs;

use super::SAMPLE_RATE;

/// Samples per hop (10 ms).
pub(crate) const HOP: usize = 80;
/// Hops per analysis window.
pub(crate) const WINDOW_HOPS: usize = 5;
/// Samples per analysis window (50 ms).
pub(crate) const WINDOW: usize = HOP * WINDOW_HOPS;
/// Capacity of the bank, in bins (guard bins included).
pub(crate) const MAX_BINS: usize = 320;
/// Capacity of the bank, in bands.
pub(crate) const MAX_BANDS: usize = 24;
/// Grid spacing of the bins inside a band: a quarter of the window's bin spacing.
const BIN_STEP_HZ: f32 = SAMPLE_RATE as f32 / WINDOW as f32 / GUARD as f32;
/// Guard bins on each side of a band: one window bin (20 Hz) on the 10 Hz grid.
const GUARD: usize = 2;
/// `x²` bins (at 1 window bin), for the weighted energy.
const ENERGY_BINS: usize = 1;

/// A contiguous run of bins covering one frequency band; `first` is the first measured bin
/// (its [`GUARD`] lower guard bins come before it).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Band {
    first: usize,
    len: usize,
}

/// The strongest peak inside a band over the last window.
///
/// Only local maxima on interior bins count: energy leaking in from a sine outside the band
/// (or one sitting in a neighbouring, overlapping band) slopes up to the band's edge bin and
/// has no interior peak, so it reads 0.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct BandPower {
    /// Mean-square power of the strongest interior peak (a sine of peak `A` on a bin gives
    /// `A²/2`); 0 when the band has no interior peak.
    pub power: f32,
    /// That bin's frequency, Hz.
    pub freq_hz: f32,
}

/// The filter bank. Sized at construction; `push` and `measure` never allocate.
#[derive(Debug, Clone)]
pub(crate) struct FilterBank {
    n: usize,
    fac: [f32; MAX_BINS],
    cos: [f32; MAX_BINS],
    sin: [f32; MAX_BINS],
    rot_re: [f32; MAX_BINS],
    rot_im: [f32; MAX_BINS],
    freq: [f32; MAX_BINS],
    s1: [f32; MAX_BINS],
    s2: [f32; MAX_BINS],
    /// Per-hop complex outputs, ring of `WINDOW_HOPS`; `slot` is the oldest.
    y_re: [[f32; MAX_BINS]; WINDOW_HOPS],
    y_im: [[f32; MAX_BINS]; WINDOW_HOPS],
    /// Per hop: `Σx²` and the complex Goertzel output of `x²` at 1 window bin.
    energy: [f64; WINDOW_HOPS],
    e_re: [[f64; ENERGY_BINS]; WINDOW_HOPS],
    e_im: [[f64; ENERGY_BINS]; WINDOW_HOPS],
    e_s1: [f64; ENERGY_BINS],
    e_s2: [f64; ENERGY_BINS],
    /// [`energy_coeffs`] of the `x²` bins.
    e_coef: [[f64; 5]; ENERGY_BINS],
    slot: usize,
    acc_energy: f64,
    fill: usize,
    bands: heapless::Vec<Band, MAX_BANDS>,
}

/// Goertzel constants of an `x²` bin: (2cos ω, cos ω, sin ω, cos ωH, sin ωH) for
/// ω = 2πm/WINDOW, H = [`HOP`].
fn energy_coeffs(m: usize) -> [f64; 5] {
    let w = core::f64::consts::TAU * m as f64 / WINDOW as f64;
    let wh = w * HOP as f64;
    [2.0 * w.cos(), w.cos(), w.sin(), wh.cos(), wh.sin()]
}

impl FilterBank {
    /// An empty bank.
    pub(crate) fn new() -> Self {
        Self {
            n: 0,
            fac: [0.0; MAX_BINS],
            cos: [0.0; MAX_BINS],
            sin: [0.0; MAX_BINS],
            rot_re: [0.0; MAX_BINS],
            rot_im: [0.0; MAX_BINS],
            freq: [0.0; MAX_BINS],
            s1: [0.0; MAX_BINS],
            s2: [0.0; MAX_BINS],
            y_re: [[0.0; MAX_BINS]; WINDOW_HOPS],
            y_im: [[0.0; MAX_BINS]; WINDOW_HOPS],
            energy: [0.0; WINDOW_HOPS],
            e_re: [[0.0; ENERGY_BINS]; WINDOW_HOPS],
            e_im: [[0.0; ENERGY_BINS]; WINDOW_HOPS],
            e_s1: [0.0; ENERGY_BINS],
            e_s2: [0.0; ENERGY_BINS],
            e_coef: [energy_coeffs(1)],
            slot: 0,
            acc_energy: 0.0,
            fill: 0,
            bands: heapless::Vec::new(),
        }
    }

    /// Adds a band of bins spanning `lo_hz..=hi_hz`; returns its index, or `None` when the
    /// bank is full. Construction time only.
    pub(crate) fn add_band(&mut self, lo_hz: f32, hi_hz: f32) -> Option<usize> {
        let span = (hi_hz - lo_hz).max(0.0);
        // Centre the grid on the band.
        let len = (span / BIN_STEP_HZ).ceil() as usize + 1;
        let lo = (lo_hz + hi_hz) / 2.0 - BIN_STEP_HZ * (len - 1) as f32 / 2.0;
        let total = len + 2 * GUARD;
        if self.n + total > MAX_BINS || self.bands.is_full() {
            return None;
        }
        for i in 0..total {
            let f = lo + BIN_STEP_HZ * (i as f32 - GUARD as f32);
            let c = GoertzelCoeffs::new(f, SAMPLE_RATE);
            let k = self.n + i;
            self.fac[k] = c.fac;
            self.cos[k] = c.cos;
            self.sin[k] = c.sin;
            let w = core::f64::consts::TAU * f64::from(f) / f64::from(SAMPLE_RATE) * HOP as f64;
            self.rot_re[k] = w.cos() as f32;
            self.rot_im[k] = w.sin() as f32;
            self.freq[k] = f;
        }
        let band = Band {
            first: self.n + GUARD,
            len,
        };
        self.n += total;
        self.bands.push(band).ok()?;
        Some(self.bands.len() - 1)
    }

    /// Number of bins in use.
    pub(crate) fn bins(&self) -> usize {
        self.n
    }

    /// Clears all signal state (keeps the bands).
    pub(crate) fn reset(&mut self) {
        self.s1 = [0.0; MAX_BINS];
        self.s2 = [0.0; MAX_BINS];
        self.y_re = [[0.0; MAX_BINS]; WINDOW_HOPS];
        self.y_im = [[0.0; MAX_BINS]; WINDOW_HOPS];
        self.energy = [0.0; WINDOW_HOPS];
        self.e_re = [[0.0; ENERGY_BINS]; WINDOW_HOPS];
        self.e_im = [[0.0; ENERGY_BINS]; WINDOW_HOPS];
        self.e_s1 = [0.0; ENERGY_BINS];
        self.e_s2 = [0.0; ENERGY_BINS];
        self.slot = 0;
        self.acc_energy = 0.0;
        self.fill = 0;
    }

    /// Samples still needed to complete the current hop.
    pub(crate) fn room(&self) -> usize {
        HOP - self.fill
    }

    /// Feeds `x` (at most [`room`](Self::room) samples); true when it completed a hop (a
    /// new window is ready to measure).
    pub(crate) fn push(&mut self, x: &[i16]) -> bool {
        let x = &x[..x.len().min(self.room())];
        for &v in x {
            let x2 = f64::from(v) * f64::from(v);
            self.acc_energy += x2;
            for m in 0..ENERGY_BINS {
                let c = self.e_coef[m];
                let s = x2 + c[0] * self.e_s1[m] - self.e_s2[m];
                self.e_s2[m] = self.e_s1[m];
                self.e_s1[m] = s;
            }
        }
        // Four samples per pass over the bins: the state stays in registers in between,
        // and the loop over bins vectorises.
        let n = self.n;
        let mut quads = x.chunks_exact(4);
        for q in &mut quads {
            let [a, b, c, d] = [q[0], q[1], q[2], q[3]].map(f32::from);
            for ((s1, s2), &fac) in self.s1[..n]
                .iter_mut()
                .zip(self.s2[..n].iter_mut())
                .zip(self.fac[..n].iter())
            {
                let sa = a + fac * *s1 - *s2;
                let sb = b + fac * sa - *s1;
                let sc = c + fac * sb - sa;
                let sd = d + fac * sc - sb;
                *s2 = sc;
                *s1 = sd;
            }
        }
        for &v in quads.remainder() {
            let v = f32::from(v);
            for ((s1, s2), &fac) in self.s1[..n]
                .iter_mut()
                .zip(self.s2[..n].iter_mut())
                .zip(self.fac[..n].iter())
            {
                let s = v + fac * *s1 - *s2;
                *s2 = *s1;
                *s1 = s;
            }
        }
        self.fill += x.len();
        if self.fill < HOP {
            return false;
        }
        // y = s1 − e^{−jω}·s2 = Σ x[m]·e^{jω(HOP−1−m)} over this hop.
        let slot = self.slot;
        for k in 0..n {
            self.y_re[slot][k] = self.s1[k] - self.cos[k] * self.s2[k];
            self.y_im[slot][k] = self.sin[k] * self.s2[k];
        }
        self.s1[..n].fill(0.0);
        self.s2[..n].fill(0.0);
        self.energy[slot] = self.acc_energy;
        self.acc_energy = 0.0;
        for m in 0..ENERGY_BINS {
            let c = self.e_coef[m];
            self.e_re[slot][m] = self.e_s1[m] - c[1] * self.e_s2[m];
            self.e_im[slot][m] = c[2] * self.e_s2[m];
        }
        self.e_s1 = [0.0; ENERGY_BINS];
        self.e_s2 = [0.0; ENERGY_BINS];
        self.fill = 0;
        self.slot = (slot + 1) % WINDOW_HOPS;
        true
    }

    /// Measures the last window: writes each band's strongest Hann bin into `out` (one
    /// entry per band) and returns the window's Hann-weighted mean square.
    pub(crate) fn measure(&self, out: &mut [BandPower; MAX_BANDS]) -> f32 {
        let n = self.n;
        let mut re = [0.0f32; MAX_BINS];
        let mut im = [0.0f32; MAX_BINS];
        for age in 0..WINDOW_HOPS {
            // Oldest first: Y = ((y0·r + y1)·r + y2)·r … + y_newest.
            let s = (self.slot + age) % WINDOW_HOPS;
            let (yr, yi) = (&self.y_re[s], &self.y_im[s]);
            for k in 0..n {
                let (a, b) = (re[k], im[k]);
                re[k] = a * self.rot_re[k] - b * self.rot_im[k] + yr[k];
                im[k] = a * self.rot_im[k] + b * self.rot_re[k] + yi[k];
            }
        }
        let (dc, ds) = {
            let d = core::f64::consts::TAU / WINDOW as f64;
            (d.cos() as f32, d.sin() as f32)
        };
        // Σw = N/2 for Hann: a sine of peak A on a bin gives |H| = A·N/4.
        let scale = 8.0 / (WINDOW as f32 * WINDOW as f32);
        let mut p = [0.0f32; MAX_BINS];
        for band in &self.bands {
            for k in band.first..band.first + band.len {
                let (lo, hi) = (k - GUARD, k + GUARD);
                // H = ½Y(k) − ¼e^{−jΔ}Y(k−1 bin) − ¼e^{jΔ}Y(k+1 bin)
                let h_re = 0.5 * re[k]
                    - 0.25 * (dc * re[lo] + ds * im[lo])
                    - 0.25 * (dc * re[hi] - ds * im[hi]);
                let h_im = 0.5 * im[k]
                    - 0.25 * (dc * im[lo] - ds * re[lo])
                    - 0.25 * (dc * im[hi] + ds * re[hi]);
                p[k] = (h_re * h_re + h_im * h_im) * scale;
            }
        }
        for (band, o) in self.bands.iter().zip(out.iter_mut()) {
            let mut best = BandPower::default();
            for k in band.first + 1..(band.first + band.len).saturating_sub(1) {
                if p[k] > best.power && p[k] >= p[k - 1] && p[k] >= p[k + 1] {
                    best = BandPower {
                        power: p[k],
                        freq_hz: self.freq[k],
                    };
                }
            }
            *o = best;
        }
        self.weighted_energy()
    }

    /// `Σw·x² / Σw` over the window (Hann `w`).
    fn weighted_energy(&self) -> f32 {
        let mut s0 = 0.0f64;
        let mut s = [(0.0f64, 0.0f64); ENERGY_BINS];
        for age in 0..WINDOW_HOPS {
            let slot = (self.slot + age) % WINDOW_HOPS;
            s0 += self.energy[slot];
            for (m, acc) in s.iter_mut().enumerate() {
                let c = self.e_coef[m];
                let (a, b) = *acc;
                *acc = (
                    a * c[3] - b * c[4] + self.e_re[slot][m],
                    a * c[4] + b * c[3] + self.e_im[slot][m],
                );
            }
        }
        // Σx²cos(Δn) = Re(e^{jΔ}·Y₁); cos Δ and sin Δ are the x² bin's cos ω and sin ω.
        let c = self.e_coef[0];
        let (a, b) = s[0];
        let weighted = 0.5 * s0 - 0.5 * (a * c[1] - b * c[2]);
        (weighted / (0.5 * WINDOW as f64)).max(0.0) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sliding, hop-assembled Hann analysis equals a direct Hann-windowed DFT of the
    /// last 50 ms (f64), for two tones 50 Hz apart (UK ringback) at a sub-hop offset; the
    /// weighted energy equals `Σw·x²/Σw`.
    #[test]
    fn hop_assembled_hann_matches_the_direct_transform() {
        let mut bank = FilterBank::new();
        let b400 = bank.add_band(380.0, 420.0).unwrap();
        let b450 = bank.add_band(430.0, 470.0).unwrap();
        let x: Vec<i16> = (0..1237)
            .map(|n| {
                let t = n as f64 / 8000.0;
                (6000.0 * (core::f64::consts::TAU * 403.0 * t).sin()
                    + 3000.0 * (core::f64::consts::TAU * 447.0 * t + 1.0).sin())
                    as i16
            })
            .collect();
        let mut out = [BandPower::default(); MAX_BANDS];
        let mut last = 0;
        for (i, &s) in x.iter().enumerate() {
            if bank.push(&[s]) {
                last = i + 1;
            }
        }
        let energy = bank.measure(&mut out);
        let win = &x[last - WINDOW..last];
        let hann = |n: usize| 0.5 - 0.5 * (core::f64::consts::TAU * n as f64 / WINDOW as f64).cos();
        let direct = |f: f32| {
            let (mut re, mut im) = (0f64, 0f64);
            for (n, &s) in win.iter().enumerate() {
                let w = core::f64::consts::TAU * f64::from(f) * n as f64 / 8000.0;
                re += hann(n) * f64::from(s) * w.cos();
                im += hann(n) * f64::from(s) * w.sin();
            }
            8.0 * (re * re + im * im) / (WINDOW * WINDOW) as f64
        };
        for (b, f) in [(b400, 403.0f32), (b450, 447.0)] {
            let got = out[b];
            assert!(
                (got.freq_hz - f).abs() <= 5.0,
                "peak at {} for {f}",
                got.freq_hz
            );
            let want = direct(got.freq_hz);
            assert!(
                (f64::from(got.power) / want - 1.0).abs() < 1e-3,
                "{} vs {want}",
                got.power
            );
        }
        let e_direct = win
            .iter()
            .enumerate()
            .map(|(n, &s)| hann(n) * f64::from(s).powi(2))
            .sum::<f64>()
            / (WINDOW as f64 / 2.0);
        assert!((f64::from(energy) / e_direct - 1.0).abs() < 1e-4);
        // A steady sine's bin power equals its weighted energy, 6000²/2.
        assert!((f64::from(out[b400].power) / 18e6 - 1.0).abs() < 0.02);
    }

    /// A sine just outside a band (or in a neighbouring band) makes no interior peak: what
    /// the band reads is at most a Hann sidelobe, more than 30 dB down.
    #[test]
    fn leakage_from_outside_the_band_reads_zero() {
        let mut bank = FilterBank::new();
        let b = bank.add_band(430.0, 470.0).unwrap();
        let mut out = [BandPower::default(); MAX_BANDS];
        for n in 0..800 {
            let v = 8000.0 * (core::f64::consts::TAU * 410.0 * n as f64 / 8000.0).sin();
            let _ = bank.push(&[v as i16]);
        }
        bank.measure(&mut out);
        assert!(out[b].power < 32e6 * 1e-3, "{}", out[b].power);
    }
}
