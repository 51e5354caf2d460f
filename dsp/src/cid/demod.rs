//! FSK front end: complex band-pass, normalised phase discriminator, post-detection filter and
//! carrier detect. Produces one soft bit value per sample (≈ −1 mark, ≈ +1 space).

use super::{CENTER_HZ, FskStandard, SAMPLE_RATE};
use crate::level::dbm0_to_power;

/// Taps of the complex band-pass (prototype low-pass) filter.
const BPF_TAPS: usize = 15;
/// Cut-off of the prototype low-pass, Hz: the band-pass spans 1700 ± this.
const BPF_CUTOFF_HZ: f64 = 850.0;
/// Length of the post-detection moving average, samples.
const POST_TAPS: usize = 6;
/// One-pole smoothing of the power estimates (≈ 4 ms time constant).
const POWER_ALPHA: f32 = 1.0 / 32.0;
/// Carrier on when the in-band power, relative to what a pure mark or space tone of the same
/// input power (after the high-pass) gives, exceeds this (white noise over 0–4 kHz gives
/// about 0.55 for Bell 202 and 0.5 for V.23, a tone in white noise at 0 dB SNR about 0.78).
const PURITY_ON: f32 = 0.75;
/// Carrier off below this.
const PURITY_OFF: f32 = 0.6;
/// Hysteresis of the level threshold, as a power ratio (3 dB).
const LEVEL_HYSTERESIS: f32 = 0.5;
/// Fast smoothing of the band power (≈ 1 ms), to notice a carrier that stops.
const FAST_ALPHA: f32 = 1.0 / 8.0;
/// Carrier off when the fast band power falls this far under the slow one (−13 dB) …
const DROP_OFF: f32 = 0.05;
/// … and on again only once it is within 6 dB of it.
const DROP_ON: f32 = 0.25;

/// Corner of the 2nd-order Butterworth high-pass in front of everything, Hz: removes DC and
/// mains hum (−33 dB at 60 Hz) so they count neither in the band nor in the purity test.
const HPF_HZ: f64 = 400.0;

/// Output of the front end for one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Soft {
    /// Normalised frequency: −1 at the nominal mark, +1 at the nominal space, 0 at 1700 Hz.
    pub value: f32,
    /// Carrier detected (level and purity above threshold).
    pub carrier: bool,
}

/// The front end.
#[derive(Debug, Clone)]
pub(crate) struct FskFrontEnd {
    /// High-pass biquad coefficients (b0, b1, b2, a1, a2; a0 = 1) and transposed direct-form
    /// II state.
    hp: [f32; 5],
    hp_s1: f32,
    hp_s2: f32,
    taps_re: [f32; BPF_TAPS],
    taps_im: [f32; BPF_TAPS],
    /// Input history, stored twice so the newest `BPF_TAPS` samples are contiguous.
    hist: [f32; 2 * BPF_TAPS],
    pos: usize,
    prev_re: f32,
    prev_im: f32,
    prev_pow: f32,
    /// e^{-jωc}: removes the centre frequency's phase advance.
    rot_re: f32,
    rot_im: f32,
    /// 1 / sin(2π·deviation/fs).
    scale: f32,
    post: [f32; POST_TAPS],
    post_pos: usize,
    p_band: f32,
    p_fast: f32,
    p_in: f32,
    on_power: f32,
    /// |z|² / x² of a pure tone at the nominal mark or space.
    purity_scale: f32,
    carrier: bool,
    /// Tiny power below which the phase is meaningless (digital silence).
    floor: f32,
}

impl FskFrontEnd {
    /// A front end for `standard` that detects carrier at `min_level_dbm0` and above.
    pub(crate) fn new(standard: FskStandard, min_level_dbm0: f32) -> Self {
        let fs = f64::from(SAMPLE_RATE);
        let wc = core::f64::consts::TAU * f64::from(CENTER_HZ) / fs;
        let mut proto = [0f64; BPF_TAPS];
        let mid = (BPF_TAPS - 1) as f64 / 2.0;
        let wcut = core::f64::consts::TAU * BPF_CUTOFF_HZ / fs;
        for (k, h) in proto.iter_mut().enumerate() {
            let t = k as f64 - mid;
            let sinc = if t == 0.0 {
                wcut / core::f64::consts::PI
            } else {
                (wcut * t).sin() / (core::f64::consts::PI * t)
            };
            // Blackman window.
            let x = core::f64::consts::TAU * k as f64 / (BPF_TAPS - 1) as f64;
            let w = 0.42 - 0.5 * x.cos() + 0.08 * (2.0 * x).cos();
            *h = sinc * w;
        }
        let dc: f64 = proto.iter().sum();
        let mut taps_re = [0f32; BPF_TAPS];
        let mut taps_im = [0f32; BPF_TAPS];
        for k in 0..BPF_TAPS {
            // Tap k multiplies x[n-k]; centring on k = mid keeps the phase reference tidy.
            let a = wc * (k as f64 - mid);
            taps_re[k] = (proto[k] / dc * a.cos()) as f32;
            taps_im[k] = (proto[k] / dc * a.sin()) as f32;
        }
        let dev = (f64::from(standard.space_hz()) - f64::from(standard.mark_hz())) / 2.0;
        // Power gain of the band-pass at the nominal tones (both are `dev` from the centre).
        let wd = core::f64::consts::TAU * dev / fs;
        let g: f64 = proto
            .iter()
            .enumerate()
            .map(|(k, h)| h / dc * (wd * (k as f64 - mid)).cos())
            .sum();
        let tone_gain = (g * g) as f32;
        let level = if min_level_dbm0.is_nan() {
            -48.0
        } else {
            min_level_dbm0.clamp(-70.0, 0.0)
        };
        // Butterworth high-pass by the bilinear transform (RBJ cookbook form).
        let w0 = core::f64::consts::TAU * HPF_HZ / fs;
        let alpha = w0.sin() / (2.0 * core::f64::consts::FRAC_1_SQRT_2);
        let cw = w0.cos();
        let a0 = 1.0 + alpha;
        let hp = [
            ((1.0 + cw) / 2.0 / a0) as f32,
            (-(1.0 + cw) / a0) as f32,
            ((1.0 + cw) / 2.0 / a0) as f32,
            (-2.0 * cw / a0) as f32,
            ((1.0 - alpha) / a0) as f32,
        ];
        Self {
            hp,
            hp_s1: 0.0,
            hp_s2: 0.0,
            taps_re,
            taps_im,
            hist: [0.0; 2 * BPF_TAPS],
            pos: 0,
            prev_re: 0.0,
            prev_im: 0.0,
            prev_pow: 0.0,
            rot_re: wc.cos() as f32,
            rot_im: -(wc.sin() as f32),
            scale: (1.0 / (core::f64::consts::TAU * dev / fs).sin()) as f32,
            post: [0.0; POST_TAPS],
            post_pos: 0,
            p_band: 0.0,
            p_fast: 0.0,
            p_in: 0.0,
            // A tone of mean square P comes out of the analytic band-pass with |z|² = g²·P/2.
            on_power: dbm0_to_power(level) / 2.0 * tone_gain,
            purity_scale: tone_gain / 2.0,
            carrier: false,
            floor: 1e-3,
        }
    }

    /// Clears all state.
    pub(crate) fn reset(&mut self) {
        self.hp_s1 = 0.0;
        self.hp_s2 = 0.0;
        self.hist = [0.0; 2 * BPF_TAPS];
        self.pos = 0;
        self.prev_re = 0.0;
        self.prev_im = 0.0;
        self.prev_pow = 0.0;
        self.post = [0.0; POST_TAPS];
        self.post_pos = 0;
        self.p_band = 0.0;
        self.p_fast = 0.0;
        self.p_in = 0.0;
        self.carrier = false;
    }

    /// Feeds one sample.
    #[inline]
    pub(crate) fn push(&mut self, x: i16) -> Soft {
        let x = f32::from(x);
        let [b0, b1, b2, a1, a2] = self.hp;
        let xf = b0 * x + self.hp_s1;
        self.hp_s1 = b1 * x - a1 * xf + self.hp_s2;
        self.hp_s2 = flush(b2 * x - a2 * xf);
        self.hp_s1 = flush(self.hp_s1);
        // Newest sample at hist[pos] (and its twin), older ones after it.
        self.pos = if self.pos == 0 {
            BPF_TAPS - 1
        } else {
            self.pos - 1
        };
        self.hist[self.pos] = xf;
        self.hist[self.pos + BPF_TAPS] = xf;
        let win = &self.hist[self.pos..self.pos + BPF_TAPS];
        let mut re = 0f32;
        let mut im = 0f32;
        for ((&h, &tr), &ti) in win.iter().zip(&self.taps_re).zip(&self.taps_im) {
            re += h * tr;
            im += h * ti;
        }
        let pow = re * re + im * im;

        // Phase advance since the previous sample, relative to the centre frequency:
        // Im(z[n]·conj(z[n-1])·e^{-jωc}) normalised by the mean power of the two samples.
        let pr = re * self.prev_re + im * self.prev_im;
        let pi = im * self.prev_re - re * self.prev_im;
        let qi = pr * self.rot_im + pi * self.rot_re;
        let norm = 0.5 * (pow + self.prev_pow);
        let d = if norm > self.floor {
            (qi / norm * self.scale).clamp(-2.0, 2.0)
        } else {
            0.0
        };
        self.prev_re = re;
        self.prev_im = im;
        self.prev_pow = pow;

        self.post[self.post_pos] = d;
        self.post_pos = (self.post_pos + 1) % POST_TAPS;
        let value = self.post.iter().sum::<f32>() * (1.0 / POST_TAPS as f32);

        self.p_band = flush(self.p_band + POWER_ALPHA * (pow - self.p_band));
        self.p_fast = flush(self.p_fast + FAST_ALPHA * (pow - self.p_fast));
        // Compare with the input as it was at the band-pass's group delay, so a level step
        // (twist between mark and space) moves both estimates together.
        let xd = win[(BPF_TAPS - 1) / 2];
        self.p_in = flush(self.p_in + POWER_ALPHA * (xd * xd - self.p_in));
        let tone_like = self.purity_scale * self.p_in;
        self.carrier = if self.carrier {
            self.p_band > self.on_power * LEVEL_HYSTERESIS
                && self.p_band > PURITY_OFF * tone_like
                && self.p_fast > DROP_OFF * self.p_band
        } else {
            self.p_band > self.on_power
                && self.p_band > PURITY_ON * tone_like
                && self.p_fast > DROP_ON * self.p_band
        };
        Soft {
            value,
            carrier: self.carrier,
        }
    }
}

/// Zero for magnitudes far below one LSB², so decaying state after silence never reaches the
/// (slow) subnormal range.
#[inline]
fn flush(x: f32) -> f32 {
    if x.abs() < 1e-20 { 0.0 } else { x }
}
