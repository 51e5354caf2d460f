//! Generator tests: sample-exact cadences, phase rules, levels, buffer-size independence.

use crate::level::{dbm0_to_peak, slice_dbm0};
use crate::progress::plan::*;
use crate::progress::{ToneGenerator, ToneVariation};

/// Independent model of what the generator must play (f64 phases): segment `i` lasts
/// `round(ms · 8 · time_scale)` samples, tones after silence start at phase 0, tones after
/// tones carry their phase (plus ½ turn on a reversal). Stops after `n` samples or when a
/// non-repeating tone ends.
fn reference(d: &ToneDescriptor, var: ToneVariation, n: usize) -> Vec<f64> {
    let mut out = Vec::new();
    let mut phase = [0f64; MAX_COMPONENTS];
    let mut after_tone = false;
    'outer: loop {
        for seg in d.segments() {
            let len = match seg.duration_ms() {
                0 => usize::MAX,
                ms => (f64::from(ms) * 8.0 * f64::from(var.time_scale)).round() as usize,
            };
            let comps = seg.components();
            if !comps.is_empty() {
                if !after_tone {
                    phase = [0.0; MAX_COMPONENTS];
                }
                if seg.reverses_phase() {
                    phase.iter_mut().for_each(|p| *p += 0.5);
                }
            }
            for _ in 0..len {
                if out.len() == n {
                    break 'outer;
                }
                let mut v = 0.0;
                for (k, c) in comps.iter().enumerate() {
                    let a = f64::from(dbm0_to_peak(c.level_dbm0 + var.level_db));
                    v += a * (core::f64::consts::TAU * phase[k]).sin();
                    phase[k] += f64::from(c.freq_hz * var.freq_scale) / 8000.0;
                    phase[k] -= phase[k].floor();
                }
                out.push(v);
            }
            after_tone = !comps.is_empty();
        }
        if !d.repeats() {
            break;
        }
    }
    out
}

fn every_descriptor() -> Vec<&'static ToneDescriptor> {
    let mut v: Vec<&'static ToneDescriptor> = Vec::new();
    for plan in PLANS {
        for d in plan.tones() {
            if !v.iter().any(|x| core::ptr::eq(*x, d)) {
                v.push(d);
            }
        }
    }
    v
}

/// Cadence lengths exact to the sample and phase rules, for every descriptor of every plan,
/// as written and with +20 % cadence / +3 % frequency / −6 dB: the generator matches the
/// independent model within 1 LSB (rounding) over 12 s, and a non-repeating tone ends on the
/// exact sample.
#[test]
fn cadences_are_exact_to_the_sample() {
    let vars = [
        ToneVariation::NONE,
        ToneVariation {
            freq_scale: 1.03,
            level_db: -6.0,
            time_scale: 1.2,
        },
        ToneVariation {
            freq_scale: 0.97,
            level_db: 0.0,
            time_scale: 0.8,
        },
    ];
    for d in every_descriptor() {
        for var in vars {
            let n = 12 * 8000;
            let want = reference(d, var, n);
            let mut got = vec![0i16; n];
            let written = ToneGenerator::with_variation(d, var).generate(&mut got);
            assert_eq!(written, want.len(), "{} {var:?}: length", d.name());
            for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(g) - w).abs() <= 1.0,
                    "{} {var:?}: sample {i}: {g} vs {w:.2}",
                    d.name()
                );
            }
        }
    }
}

/// The same, read at the segment edges of US busy (0.5/0.5 s = 4000/4000 samples): the last
/// tone sample is 3999, samples 4000–7999 are exactly 0, the next burst starts at phase 0 on
/// sample 8000.
#[test]
fn us_busy_edges_fall_on_exact_samples() {
    let mut x = vec![0i16; 16_000];
    assert_eq!(ToneGenerator::new(&US_BUSY).generate(&mut x), 16_000);
    assert!(x[3990..4000].iter().any(|&s| s.abs() > 100));
    assert!(x[4000..8000].iter().all(|&s| s == 0));
    assert_eq!(x[8000], 0);
    assert!(x[8001] != 0);
    assert_eq!(x[..4000], x[8000..12_000], "every burst identical");
}

/// Real-time contract: 1-, 7-, 160-sample and whole-buffer calls produce identical samples.
#[test]
fn buffer_sizes_do_not_change_the_samples() {
    for d in every_descriptor() {
        let n = 7 * 8000;
        let mut whole = vec![0i16; n];
        let total = ToneGenerator::new(d).generate(&mut whole);
        for chunk in [1, 7, 160] {
            let mut g = ToneGenerator::new(d);
            let mut x = vec![0i16; n];
            let mut written = 0;
            for c in x.chunks_mut(chunk) {
                written += g.generate(c);
            }
            assert_eq!(written, total, "{} chunk {chunk}", d.name());
            assert_eq!(x, whole, "{} chunk {chunk}", d.name());
        }
    }
}

/// A non-repeating descriptor ends: US call waiting (one 0.3 s burst) gives 2400 samples,
/// then 0; US SIT IC gives 274 + 274 + 380 ms; CED 3.3 s; `reset` plays it again.
#[test]
fn a_tone_that_does_not_repeat_ends() {
    for (d, samples) in [
        (&US_CALL_WAITING, 2400),
        (&US_SIT_IC, 928 * 8),
        (&FAX_CED, 3300 * 8),
    ] {
        let mut g = ToneGenerator::new(d);
        let mut x = vec![0i16; 40_000];
        assert_eq!(g.generate(&mut x), samples, "{}", d.name());
        assert!(g.is_done());
        assert_eq!(g.generate(&mut x), 0);
        g.reset();
        assert_eq!(g.generate(&mut x), samples);
    }
}

/// Levels are dBm0 per component (dsp-criteria.md §3; full-scale sine = +3.14 dBm0): the
/// continuous dial tones measure the power sum of their components (US 2 × −13 → −9.99,
/// UK −22 & −18 → −16.54, DE/FR −16), and `level_db` shifts them exactly.
#[test]
fn levels_are_dbm0_per_component() {
    for plan in PLANS {
        let want = 10.0
            * plan.dial.segments()[0]
                .components()
                .iter()
                .map(|c| 10f32.powf(c.level_dbm0 / 10.0))
                .sum::<f32>()
                .log10();
        for shift in [0.0, -20.0] {
            let var = ToneVariation {
                level_db: shift,
                ..ToneVariation::NONE
            };
            let mut x = vec![0i16; 8000];
            ToneGenerator::with_variation(plan.dial, var).generate(&mut x);
            let got = slice_dbm0(&x);
            assert!(
                (got - want - shift).abs() < 0.05,
                "{}: {got} vs {}",
                plan.name,
                want + shift
            );
        }
    }
}

/// V.8 ANSam: the 2100 Hz carrier turns by 180° at each 450 ms boundary (measured by
/// demodulating 50 ms either side), and is 15 Hz amplitude-modulated by 20 % (envelope
/// max/min ≈ 1.2/0.8).
#[test]
fn ansam_reverses_phase_every_450_ms_and_is_modulated() {
    let mut x = vec![0i16; 3300 * 8];
    ToneGenerator::new(&FAX_ANSAM).generate(&mut x);
    // Complex 2100 Hz demodulation of x[start..start + len]: (phase, magnitude).
    let demod = |start: usize, len: usize| {
        let (mut re, mut im) = (0f64, 0f64);
        for (i, &s) in x.iter().enumerate().skip(start).take(len) {
            let w = core::f64::consts::TAU * 2100.0 * i as f64 / 8000.0;
            re += f64::from(s) * w.cos();
            im -= f64::from(s) * w.sin();
        }
        (im.atan2(re), re.hypot(im))
    };
    let phase_at = |start: usize| demod(start, 400).0;
    for k in 1..7 {
        let b = k * 3600;
        let d = (phase_at(b) - phase_at(b - 400)).rem_euclid(core::f64::consts::TAU);
        assert!((d - core::f64::consts::PI).abs() < 0.2, "boundary {k}: {d}");
    }
    // Envelope: 2100 Hz demodulated over 5 ms slices, over one 15 Hz period (67 ms)
    // inside the first segment.
    let env: Vec<f64> = (0..14).map(|k| demod(800 + k * 40, 40).1).collect();
    let (hi, lo) = env
        .iter()
        .fold((0f64, f64::MAX), |(h, l), &p| (h.max(p), l.min(p)));
    assert!(
        (hi / lo - 1.5).abs() < 0.1,
        "AM depth 20 %: max/min {}",
        hi / lo
    );
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Real-time contract: any variation (even absurd, NaN-producing or zero-length)
        /// and any buffer size never panics nor hangs, and never claims more than asked.
        #[test]
        fn on_any_variation(
            which in 0usize..20,
            freq_scale in prop_oneof![-1e6f32..1e6, Just(f32::NAN), Just(f32::INFINITY)],
            level_db in prop_oneof![-200f32..200.0, Just(f32::NAN)],
            time_scale in prop_oneof![0f32..5.0, Just(0.0), Just(f32::NAN), Just(1e-6)],
            chunks in proptest::collection::vec(0usize..3000, 1..20),
        ) {
            let all = every_descriptor();
            let d = all[which % all.len()];
            let mut g = ToneGenerator::with_variation(d, ToneVariation { freq_scale, level_db, time_scale });
            for c in chunks {
                let mut x = vec![0i16; c];
                prop_assert!(g.generate(&mut x) <= c);
            }
        }
    }
}
