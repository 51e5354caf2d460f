//! FSK modulator: burst structure, timing, tones, level, continuity.

use super::*;
use crate::goertzel::{Goertzel, GoertzelCoeffs};
use crate::level::slice_dbm0;

fn sdmf_10_digits() -> Frame {
    let id = CallerId {
        datetime: Some(*b"01021504"),
        number: Some("5551234567".try_into().unwrap()),
        ..CallerId::default()
    };
    encode(&Message::CallerId(id), Format::Sdmf).unwrap()
}

#[test]
fn gr30_sdmf_10_digit_burst_lasts_0_575_s() {
    // GR-30-CORE on-hook: 300 seizure + 180 mark bits + 21 characters × 10 bits = 690 bits
    // at 1200 bit/s = 0.575 s; it must fit the ~3.3 s gap between rings.
    let f = sdmf_10_digits();
    assert_eq!(f.len(), 21);
    let audio = modulate(FskConfig::on_hook(FskStandard::Bell202), &f);
    let seconds = audio.len() as f64 / 8000.0;
    assert_eq!(audio.len(), 4600);
    assert!((0.56..0.59).contains(&seconds), "{seconds}");
    let mut tx = FskModulator::new(FskConfig::on_hook(FskStandard::Bell202));
    tx.load(&f).unwrap();
    assert_eq!(tx.remaining_samples(), 4600);
}

#[test]
fn gr30_call_waiting_burst_has_no_seizure_and_80_mark_bits() {
    // GR-30-CORE type 2 (off-hook): no channel seizure, 80 mark bits.
    let f = sdmf_10_digits();
    let audio = modulate(FskConfig::call_waiting(FskStandard::Bell202), &f);
    assert_eq!(audio.len(), ((80 + 210) * 20usize).div_ceil(3));
    // The first 80 bits are pure mark: 1200 Hz dominates 2200 Hz.
    let mark = &audio[..500];
    let mut g12 = Goertzel::new(GoertzelCoeffs::new(1200.0, 8000));
    let mut g22 = Goertzel::new(GoertzelCoeffs::new(2200.0, 8000));
    g12.push_slice(mark);
    g22.push_slice(mark);
    assert!(g12.power() > 1000.0 * g22.power());
}

#[test]
fn modulator_matches_an_independent_fsk_reference() {
    // Continuous-phase FSK with exact 1200 bit/s edges: the crate's modulator against an f64
    // reference written in the test, for both standards.
    for standard in [FskStandard::Bell202, FskStandard::V23] {
        let f = sdmf_10_digits();
        let ours = modulate(FskConfig::on_hook(standard), &f);
        let line = Line::nominal(standard, -13.0);
        let reference = line.modulate(&burst_bits(&f, true, 180, 0));
        assert_eq!(ours.len(), reference.len());
        let worst = ours
            .iter()
            .zip(&reference)
            .map(|(&a, &b)| (f64::from(a) - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 3.0, "{standard:?}: worst difference {worst}");
    }
}

#[test]
fn modulator_is_phase_continuous() {
    // No phase jump at bit edges: the sample-to-sample step never exceeds that of the space
    // tone at full slope (2·A·sin(π·f/fs)).
    for standard in [FskStandard::Bell202, FskStandard::V23] {
        let audio = modulate(FskConfig::on_hook(standard), &sdmf_10_digits());
        let a = f64::from(dbm0_to_peak(-13.0));
        let limit =
            2.0 * a * (core::f64::consts::PI * f64::from(standard.space_hz()) / 8000.0).sin();
        for w in audio.windows(2) {
            let step = (f64::from(w[1]) - f64::from(w[0])).abs();
            assert!(step <= limit + 2.0, "{standard:?}: step {step} > {limit}");
        }
        // Starts at phase 0: no click.
        assert_eq!(audio[0], 0);
    }
}

#[test]
fn modulator_level_and_tones() {
    // −13 dBm0 default (GR-30-CORE nominal CPE data level); mark 1200/1300 Hz.
    for (standard, level) in [(FskStandard::Bell202, -13.0), (FskStandard::V23, -30.0)] {
        let cfg = FskConfig {
            level_dbm0: level,
            ..FskConfig::call_waiting(standard)
        };
        let audio = modulate(cfg, &sdmf_10_digits());
        let mark = &audio[..520];
        assert!(
            (slice_dbm0(mark) - level).abs() < 0.1,
            "{}",
            slice_dbm0(mark)
        );
        let mut g = Goertzel::new(GoertzelCoeffs::new(standard.mark_hz(), 8000));
        g.push_slice(mark);
        let p = crate::level::power_to_dbm0(g.power());
        assert!((p - level).abs() < 0.2, "{standard:?} {p}");
    }
    // Out-of-range levels are clamped.
    let tx = FskModulator::new(FskConfig {
        level_dbm0: 20.0,
        ..FskConfig::default()
    });
    assert_eq!(tx.config().level_dbm0, 3.0);
}

#[test]
fn generate_is_independent_of_block_size() {
    // Real-time contract: 1-sample, 7-sample and whole-burst blocks give the same audio.
    let f = sdmf_10_digits();
    let run = |block: usize| {
        let mut tx = FskModulator::new(FskConfig::on_hook(FskStandard::V23));
        tx.load(&f).unwrap();
        let mut out = Vec::new();
        let mut buf = std::vec![0i16; block];
        loop {
            let n = tx.generate(&mut buf);
            if n == 0 {
                break;
            }
            assert!(n == block || !tx.is_busy());
            out.extend_from_slice(&buf[..n]);
        }
        out
    };
    let whole = run(10_000);
    assert_eq!(run(1), whole);
    assert_eq!(run(7), whole);
    assert_eq!(run(160), whole);
}

#[test]
fn modulator_load_and_idle_behaviour() {
    let mut tx = FskModulator::new(FskConfig::default());
    let mut buf = [7i16; 10];
    assert_eq!(tx.generate(&mut buf), 0);
    assert_eq!(buf, [7; 10], "idle generate leaves the buffer alone");
    assert_eq!(
        tx.load(&[0u8; 259]),
        Err(CidError::TooLong {
            field: Field::Message,
            max: 258,
            len: 259
        })
    );
    tx.load(&[0x06, 3, 0x42, 0x42, 0x42, 0x31]).unwrap();
    let before = tx.remaining_samples();
    assert_eq!(tx.generate(&mut buf), 10);
    assert_eq!(tx.remaining_samples(), before - 10);
    assert!(tx.is_busy());
    // Loading again restarts the burst.
    tx.load(&[0x06, 3, 0x42, 0x42, 0x42, 0x31]).unwrap();
    assert_eq!(tx.remaining_samples(), before);
}
