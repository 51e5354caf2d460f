//! Deterministic test signals: seeded white noise, a speech-like voiced source, tone mixes,
//! FSK and MF-R1 signalling.
//!
//! # What does it do?
//! Gives the unit tests, the criterion benches and `tipring dsp bench` the same reproducible
//! signals: everything is seeded, so a failing case can be replayed exactly. These are
//! synthetic stand-ins; the talk-off figures in the README come from recorded speech and music
//! (`scripts/talkoff`), because synthetic speech is only a weak proxy for it.
//!
//! # How does it work?
//! [`Rng`] is xorshift64*; [`Noise`] draws Gaussian samples by the Box–Muller transform at a
//! set mean square. [`SpeechLike`] is a glottal pulse train (pitch gliding between 90 and
//! 250 Hz) shaped by two resonators that move between vowel formants, gated into syllables.

use crate::level::{dbm0_to_peak, dbm0_to_power};

use crate::osc::{Oscillator, sat_i16};

/// xorshift64* pseudo-random generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed non-zero seed).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (core::f64::consts::TAU * u2).cos()
    }
}

/// White Gaussian noise at a given level over 0–4 kHz.
#[derive(Debug, Clone)]
pub struct Noise {
    rng: Rng,
    sigma: f64,
}

impl Noise {
    /// Noise whose mean square equals that of a sine at `dbm0`.
    pub fn new(seed: u64, dbm0: f32) -> Self {
        Self {
            rng: Rng::new(seed),
            sigma: f64::from(dbm0_to_power(dbm0)).sqrt(),
        }
    }

    /// The next sample (not saturated).
    pub fn next_sample(&mut self) -> f32 {
        (self.rng.gaussian() * self.sigma) as f32
    }

    /// Adds noise to `x`, saturating.
    pub fn add_to(&mut self, x: &mut [i16]) {
        for s in x {
            *s = sat_i16(f32::from(*s) + self.next_sample());
        }
    }
}

/// Appends `ms` milliseconds at 8 kHz of the sum of sines `(Hz, dBm0)` to `out`.
pub fn tones(out: &mut Vec<i16>, parts: &[(f32, f32)], ms: f32) {
    let n = (ms * 8.0).round() as usize;
    let mut osc: Vec<Oscillator> = parts
        .iter()
        .map(|&(f, l)| Oscillator::new(f, 8000, dbm0_to_peak(l)))
        .collect();
    for _ in 0..n {
        let v: f32 = osc.iter_mut().map(Oscillator::next_sample).sum();
        out.push(sat_i16(v));
    }
}

/// Appends `ms` milliseconds of silence.
pub fn silence(out: &mut Vec<i16>, ms: f32) {
    out.resize(out.len() + (ms * 8.0).round() as usize, 0);
}

/// Appends continuous-phase binary FSK at 1200 bit/s: `bits` random bits alternating between
/// `mark` and `space` Hz, at `dbm0`.
pub fn fsk(out: &mut Vec<i16>, rng: &mut Rng, mark: f32, space: f32, dbm0: f32, bits: usize) {
    let start = out.len();
    let mut osc = Oscillator::new(mark, 8000, dbm0_to_peak(dbm0));
    for i in 0..bits {
        osc.set_freq(if rng.next_u64() & 1 == 1 { mark } else { space }, 8000);
        let end = start + ((i + 1) as f64 * 8000.0 / 1200.0).round() as usize;
        while out.len() < end {
            out.push(sat_i16(osc.next_sample()));
        }
    }
}

/// MF-R1 signals (Bell System multifrequency): `(name, low Hz, high Hz)`.
pub const MF_R1: [(&str, f32, f32); 15] = [
    ("1", 700.0, 900.0),
    ("2", 700.0, 1100.0),
    ("3", 900.0, 1100.0),
    ("4", 700.0, 1300.0),
    ("5", 900.0, 1300.0),
    ("6", 1100.0, 1300.0),
    ("7", 700.0, 1500.0),
    ("8", 900.0, 1500.0),
    ("9", 1100.0, 1500.0),
    ("0", 1300.0, 1500.0),
    ("KP", 1100.0, 1700.0),
    ("ST", 1500.0, 1700.0),
    ("STP", 900.0, 1700.0),
    ("ST2P", 1300.0, 1700.0),
    ("ST3P", 700.0, 1700.0),
];

/// A speech-like source: voiced syllables with a gliding pitch and moving formants.
#[derive(Debug, Clone)]
pub struct SpeechLike {
    rng: Rng,
    gain: f32,
    pitch: f64,
    pitch_target: f64,
    phase: f64,
    f1: Resonator,
    f2: Resonator,
    f3: Resonator,
    period_jitter: f64,
    syllable_left: u32,
    voiced: bool,
    env: f32,
}

#[derive(Debug, Clone)]
struct Resonator {
    a1: f32,
    a2: f32,
    y1: f32,
    y2: f32,
    freq: f64,
    target: f64,
    bw: f64,
}

impl Resonator {
    fn new(freq: f64, bw: f64) -> Self {
        let mut r = Self {
            a1: 0.0,
            a2: 0.0,
            y1: 0.0,
            y2: 0.0,
            freq,
            target: freq,
            bw,
        };
        r.tune();
        r
    }
    fn tune(&mut self) {
        let bw = self.bw;
        let rad = (-core::f64::consts::PI * bw / 8000.0).exp();
        self.a1 = (2.0 * rad * (core::f64::consts::TAU * self.freq / 8000.0).cos()) as f32;
        self.a2 = -(rad * rad) as f32;
    }
    fn step(&mut self, x: f32) -> f32 {
        let y = x + self.a1 * self.y1 + self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

impl SpeechLike {
    /// A source whose long-term level (over syllables and pauses) is `dbm0`. The gain is
    /// calibrated by rendering 4 s of the same seeded signal once.
    pub fn new(seed: u64, dbm0: f32) -> Self {
        let mut s = Self::uncalibrated(seed);
        let mut probe = s.clone();
        let n = 32_000;
        let ms = (0..n)
            .map(|_| f64::from(probe.next_sample()).powi(2))
            .sum::<f64>()
            / n as f64;
        if ms > 0.0 {
            s.gain = (f64::from(dbm0_to_power(dbm0)) / ms).sqrt() as f32;
        }
        s
    }

    fn uncalibrated(seed: u64) -> Self {
        Self {
            rng: Rng::new(seed),
            gain: 1.0,
            pitch: 120.0,
            pitch_target: 160.0,
            phase: 0.0,
            f1: Resonator::new(500.0, 80.0),
            f2: Resonator::new(1500.0, 110.0),
            f3: Resonator::new(2500.0, 160.0),
            period_jitter: 0.0,
            syllable_left: 0,
            voiced: true,
            env: 0.0,
        }
    }

    /// The next sample (not saturated).
    pub fn next_sample(&mut self) -> f32 {
        if self.syllable_left == 0 {
            self.voiced = self.rng.uniform() < 0.75;
            self.syllable_left = self.rng.range(600.0, 2400.0) as u32;
            self.pitch_target = self.rng.range(90.0, 250.0);
            self.f1.target = self.rng.range(250.0, 900.0);
            self.f2.target = self.rng.range(800.0, 2300.0);
            self.f3.target = self.rng.range(2300.0, 3200.0);
        }
        self.syllable_left -= 1;
        self.pitch += (self.pitch_target - self.pitch) * 0.0008;
        for r in [&mut self.f1, &mut self.f2, &mut self.f3] {
            r.freq += (r.target - r.freq) * 0.002;
            r.tune();
        }
        self.env += ((if self.voiced { 1.0 } else { 0.05 }) - self.env) * 0.005;
        self.phase += self.pitch * (1.0 + self.period_jitter) / 8000.0;
        let pulse = if self.phase >= 1.0 {
            self.phase -= 1.0;
            self.period_jitter = self.rng.gaussian() * 0.01;
            1.0
        } else {
            0.0
        };
        let excite = pulse * 40.0 + (self.rng.gaussian() as f32) * 0.6;
        // Formants in parallel (cascade would multiply their peaks into whistles).
        let a = self.f1.step(excite);
        let b = self.f2.step(excite) * 0.5;
        let c = self.f3.step(excite) * 0.25;
        (a + b + c) * self.gain * self.env
    }

    /// Appends `ms` milliseconds to `out`.
    pub fn render(&mut self, out: &mut Vec<i16>, ms: f32) {
        for _ in 0..(ms * 8.0).round() as usize {
            out.push(sat_i16(self.next_sample()));
        }
    }
}

/// Mixes `b` into `a` sample by sample (saturating); `a` keeps its length.
pub fn mix_into(a: &mut [i16], b: &[i16]) {
    for (x, &y) in a.iter_mut().zip(b) {
        *x = sat_i16(f32::from(*x) + f32::from(y));
    }
}

/// Passes `x` through a G.711 encode/decode round trip.
pub fn g711_round_trip(x: &mut [i16], law: crate::g711::Law) {
    for s in x {
        *s = law.decode(law.encode(*s));
    }
}

/// Mean square level of `x` in dBm0.
pub fn level_dbm0(x: &[i16]) -> f32 {
    crate::level::slice_dbm0(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The speech-like source's long-term level is within ±4 dB of the level asked for, so tests
    /// that place speech "10 dB below the digits" do so.
    #[test]
    fn speech_like_level() {
        for l in [-10.0f32, -28.0] {
            let mut x = Vec::new();
            SpeechLike::new(1, l).render(&mut x, 20_000.0);
            let got = level_dbm0(&x);
            assert!((got - l).abs() < 4.0, "asked {l}, got {got}");
        }
    }

    #[test]
    fn noise_level_is_as_asked() {
        let mut x = vec![0i16; 80_000];
        Noise::new(3, -20.0).add_to(&mut x);
        assert!((level_dbm0(&x) + 20.0).abs() < 0.1);
    }
}
