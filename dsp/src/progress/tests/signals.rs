//! Test signals: tone bursts with deviations, G.711 μ-law round trip, synthetic speech.

use crate::level::{DBM0_REF_PEAK, dbm0_to_peak};
use crate::progress::plan::{ToneDescriptor, TonePlan};
use crate::progress::{
    ProgressConfig, ProgressDetector, ProgressEvent, ToneGenerator, ToneVariation,
};

/// xorshift64* pseudo-random numbers, seeded, so every test signal is reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }
    /// Roughly Gaussian (sum of 4 uniforms), unit variance.
    pub fn gauss(&mut self) -> f32 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732
    }
}

/// Passes a signal through the crate's G.711 μ-law encoder and decoder.
pub fn ulaw_round_trip(x: &mut [i16]) {
    crate::synth::g711_round_trip(x, crate::g711::Law::Mu);
}

/// Loudest component level of a descriptor, dBm0.
pub fn loudest_dbm0(d: &ToneDescriptor) -> f32 {
    d.segments()
        .iter()
        .flat_map(|s| s.components())
        .map(|c| c.level_dbm0)
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `ms` milliseconds of `d` with `var` applied (silence after a tone that ends).
pub fn tone(d: &'static ToneDescriptor, var: ToneVariation, ms: u32) -> Vec<i16> {
    let mut v = vec![0i16; ms as usize * 8];
    let mut g = ToneGenerator::with_variation(d, var);
    g.generate(&mut v);
    v
}

/// Like [`tone`], with the loudest component moved to `dbm0`.
pub fn tone_at(d: &'static ToneDescriptor, dbm0: f32, mut var: ToneVariation, ms: u32) -> Vec<i16> {
    var.level_db = dbm0 - loudest_dbm0(d);
    tone(d, var, ms)
}

/// Runs a fresh detector for `plan` over `x` cut into `chunk`-sample calls, draining the
/// events after each call; returns all events.
pub fn detect(plan: &'static TonePlan, x: &[i16], chunk: usize) -> Vec<ProgressEvent> {
    let mut det = ProgressDetector::new(ProgressConfig::new(plan));
    detect_with(&mut det, x, chunk)
}

/// Like [`detect`] on an existing detector.
pub fn detect_with(det: &mut ProgressDetector, x: &[i16], chunk: usize) -> Vec<ProgressEvent> {
    let mut out = Vec::new();
    for c in x.chunks(chunk.max(1)) {
        let mut rest = c;
        while !rest.is_empty() {
            let n = det.process(rest);
            rest = &rest[n..];
            while let Some(e) = det.poll_event() {
                out.push(e);
            }
        }
    }
    out
}

/// Synthetic speech-like signal: voiced syllables (harmonics of a pitch gliding anywhere in
/// 90–250 Hz, shaped by three moving formant resonances, −12 dB/octave-ish source),
/// occasional unvoiced (noise) bursts, pauses between syllables, and white noise 30 dB below
/// the speech throughout. Active level about `dbm0`.
pub fn speech(seconds: f32, dbm0: f32, seed: u64) -> Vec<i16> {
    let n = (seconds * 8000.0) as usize;
    let mut rng = Rng::new(seed);
    let mut y = vec![0f32; n];
    let mut phase = [0f64; 48];
    let mut i = 0;
    while i < n {
        // A syllable.
        let len = (rng.range(0.10, 0.40) * 8000.0) as usize;
        let f0a = rng.range(90.0, 250.0);
        let f0b = (f0a * rng.range(0.75, 1.3)).clamp(90.0, 250.0);
        let fa = [
            rng.range(300.0, 850.0),
            rng.range(850.0, 2300.0),
            rng.range(2300.0, 3300.0),
        ];
        let fb = [
            rng.range(300.0, 850.0),
            rng.range(850.0, 2300.0),
            rng.range(2300.0, 3300.0),
        ];
        let bw = [
            rng.range(60.0, 120.0),
            rng.range(80.0, 160.0),
            rng.range(120.0, 250.0),
        ];
        let unvoiced_lead = if rng.unit() < 0.3 {
            (rng.range(0.04, 0.12) * 8000.0) as usize
        } else {
            0
        };
        for k in 0..unvoiced_lead.min(n - i) {
            y[i + k] += rng.gauss() * 0.15;
        }
        i += unvoiced_lead;
        let mut amps = [0f32; 48];
        for k in 0..len.min(n.saturating_sub(i)) {
            let t = k as f32 / len as f32;
            let f0 = f0a + (f0b - f0a) * t + 3.0 * (k as f32 * 0.004).sin();
            if k % 40 == 0 {
                let f = [0, 1, 2].map(|j| fa[j] + (fb[j] - fa[j]) * t);
                for (h, a) in amps.iter_mut().enumerate() {
                    let fh = f0 * (h + 1) as f32;
                    if fh > 3600.0 {
                        *a = 0.0;
                        continue;
                    }
                    let mut g = 1.0 / (h + 1) as f32;
                    for j in 0..3 {
                        let (fj, bj) = (f[j], bw[j]);
                        let d = (fj * fj - fh * fh).powi(2) + (bj * fh).powi(2);
                        g *= fj * fj / d.sqrt().max(1.0);
                    }
                    *a = g;
                }
            }
            let env = (t * 8.0).min(1.0) * ((1.0 - t) * 6.0).min(1.0);
            let mut v = 0.0;
            for (h, a) in amps.iter().enumerate() {
                phase[h] += f64::from(f0) * (h + 1) as f64 / 8000.0;
                phase[h] -= phase[h].floor();
                if *a > 0.0 {
                    v += a * (phase[h] * core::f64::consts::TAU).sin() as f32;
                }
            }
            y[i + k] += v * env;
        }
        i += len;
        // A pause.
        let pause = if rng.unit() < 0.15 {
            rng.range(0.4, 1.0)
        } else {
            rng.range(0.03, 0.25)
        };
        i += (pause * 8000.0) as usize;
    }
    // Scale the active part to `dbm0`, then add white noise 30 dB below it.
    let active: Vec<f32> = y.iter().copied().filter(|v| v.abs() > 1e-6).collect();
    let ms = active.iter().map(|v| v * v).sum::<f32>() / active.len().max(1) as f32;
    let target = dbm0_to_peak(dbm0) / core::f32::consts::SQRT_2;
    let gain = target / ms.sqrt().max(1e-9);
    let noise = target * 10f32.powf(-30.0 / 20.0);
    y.iter()
        .map(|v| {
            let s = v * gain + rng.gauss() * noise;
            s.round().clamp(-32_768.0, 32_767.0) as i16
        })
        .collect()
}

/// White Gaussian noise at `dbm0`.
pub fn white_noise(seconds: f32, dbm0: f32, seed: u64) -> Vec<i16> {
    let mut rng = Rng::new(seed);
    let rms = DBM0_REF_PEAK * 10f32.powf(dbm0 / 20.0) / core::f32::consts::SQRT_2;
    (0..(seconds * 8000.0) as usize)
        .map(|_| (rng.gauss() * rms).round().clamp(-32_768.0, 32_767.0) as i16)
        .collect()
}
