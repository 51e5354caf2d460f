//! Receiver tests, each naming the clause it checks (ITU-T Q.24 AT&T column, ETSI ES 201 235-3,
//! and the rows of docs/dsp-criteria §1).

use super::*;
use crate::dtmf::{DtmfGenConfig, DtmfGenerator, digit_freqs};
use crate::g711::Law;
use crate::synth::{self, Noise, Rng, SpeechLike, silence, tones};

const ALL: &str = "123A456B789C*0#D";

fn rx() -> DtmfRx {
    DtmfRx::new(DtmfRxConfig::default()).unwrap()
}

/// Begin events as (digit, at).
fn detect(x: &[i16]) -> Vec<(char, u64)> {
    let mut r = rx();
    let mut out = Vec::new();
    let mut done = 0;
    while done < x.len() {
        done += r.process(&x[done..]);
        while let Some(e) = r.poll_event() {
            if let DtmfEvent::Begin { digit, at } = e {
                out.push((digit, at));
            }
        }
    }
    // Flush: trailing silence lets the last digit end.
    r.process(&[0; 800]);
    out
}

fn digits(x: &[i16]) -> String {
    detect(x).into_iter().map(|(d, _)| d).collect()
}

/// A digit with per-tone frequency offsets (fraction) and levels (dBm0).
fn digit(out: &mut Vec<i16>, d: char, off: (f32, f32), lvl: (f32, f32), ms: f32) {
    let (r, c) = digit_freqs(d).unwrap();
    tones(
        out,
        &[(r * (1.0 + off.0), lvl.0), (c * (1.0 + off.1), lvl.1)],
        ms,
    );
}

fn one(d: char, off: (f32, f32), lvl: (f32, f32), ms: f32) -> Vec<i16> {
    let mut x = Vec::new();
    silence(&mut x, 50.0);
    digit(&mut x, d, off, lvl, ms);
    silence(&mut x, 100.0);
    x
}

/// Q.23: all 16 digits at nominal frequency and level.
#[test]
fn q23_all_sixteen_digits() {
    let mut x = Vec::new();
    for d in ALL.chars() {
        digit(&mut x, d, (0.0, 0.0), (-10.0, -8.0), 60.0);
        silence(&mut x, 60.0);
    }
    assert_eq!(digits(&x), ALL);
}

/// Q.24 AT&T, frequency deviation: operate at ±1.5 % on each tone, both directions.
#[test]
fn q24_accepts_1_5_percent_deviation() {
    for d in ALL.chars() {
        for off in [
            (0.015, 0.015),
            (0.015, -0.015),
            (-0.015, 0.015),
            (-0.015, -0.015),
        ] {
            assert_eq!(
                digits(&one(d, off, (-10.0, -10.0), 60.0)),
                d.to_string(),
                "{d} {off:?}"
            );
        }
    }
}

/// Q.24 AT&T, frequency deviation: non-operate at ±3.5 % on either tone.
#[test]
fn q24_rejects_3_5_percent_deviation() {
    for d in ALL.chars() {
        for off in [(0.035, 0.0), (-0.035, 0.0), (0.0, 0.035), (0.0, -0.035)] {
            assert_eq!(
                digits(&one(d, off, (-10.0, -10.0), 100.0)),
                "",
                "{d} {off:?}"
            );
        }
    }
}

/// Q.24 AT&T twist: operate from +4 dB (high group louder) to −8 dB; reject beyond +8 / −12.
#[test]
fn q24_twist_limits() {
    for d in ALL.chars() {
        for (tw, ok) in [
            (4.0, true),
            (-8.0, true),
            (0.0, true),
            (8.5, false),
            (-12.5, false),
        ] {
            // Keep both tones between −6 and −24 dBm0.
            let lvl = if tw >= 0.0 {
                (-10.0 - tw, -10.0)
            } else {
                (-10.0, -10.0 + tw)
            };
            let want = if ok { d.to_string() } else { String::new() };
            assert_eq!(
                digits(&one(d, (0.0, 0.0), lvl, 60.0)),
                want,
                "{d} twist {tw}"
            );
        }
    }
}

/// Q.24 AT&T duration: operate ≥ 40 ms, non-operate ≤ 23 ms, at every alignment of the tone
/// against the receiver's 5 ms hop.
#[test]
fn q24_duration_40_ms_accepted_23_ms_rejected() {
    for d in ALL.chars() {
        for shift in (0..40).step_by(3) {
            for (ms, want) in [(40.0, d.to_string()), (23.0, String::new())] {
                let mut x = vec![0i16; 400 + shift];
                digit(&mut x, d, (0.0, 0.0), (-10.0, -8.0), ms);
                silence(&mut x, 100.0);
                assert_eq!(digits(&x), want, "{d} {ms} ms shift {shift}");
            }
        }
    }
}

/// Q.24 AT&T pause / ETSI ES 201 235-3: a 40 ms pause separates two digits, also two of the
/// same key; 40 ms tones.
#[test]
fn q24_40_ms_pause_separates_digits() {
    for shift in (0..40).step_by(5) {
        let mut x = vec![0i16; 400 + shift];
        for d in "1155##DD09".chars() {
            digit(&mut x, d, (0.0, 0.0), (-10.0, -8.0), 40.0);
            silence(&mut x, 40.0);
        }
        assert_eq!(digits(&x), "1155##DD09", "shift {shift}");
    }
}

/// Q.24 AT&T interruption: a drop-out ≤ 10 ms is bridged (one digit); ETSI: no end for an
/// interruption < 20 ms. Every position of the hole inside a 100 ms tone.
#[test]
fn q24_dropout_bridged() {
    for d in ['1', '5', '0', 'D'] {
        for hole in [10.0, 20.0] {
            for at in (30..70).step_by(3) {
                let mut x = Vec::new();
                silence(&mut x, 50.0);
                digit(&mut x, d, (0.0, 0.0), (-10.0, -8.0), at as f32);
                silence(&mut x, hole);
                digit(&mut x, d, (0.0, 0.0), (-10.0, -8.0), 100.0 - at as f32);
                silence(&mut x, 100.0);
                assert_eq!(digits(&x), d.to_string(), "{d} hole {hole} ms at {at} ms");
            }
        }
    }
}

/// Q.24 AT&T level: operate from −3 to −30 dBm0 per tone (and −36, row 6b), non-operate at
/// −55 dBm0.
#[test]
fn q24_level_range() {
    for d in ALL.chars() {
        for l in [-3.0, -6.0, -10.0, -15.0, -20.0, -25.0, -30.0, -33.0, -36.0] {
            assert_eq!(
                digits(&one(d, (0.0, 0.0), (l, l), 60.0)),
                d.to_string(),
                "{d} {l} dBm0"
            );
        }
        assert_eq!(
            digits(&one(d, (0.0, 0.0), (-55.0, -55.0), 200.0)),
            "",
            "{d} -55 dBm0"
        );
    }
}

/// Digits in white noise. SNR = total DTMF power against noise power over 0–4 kHz.
/// Returns (detected correctly, sent, false or wrong digits).
fn noise_run(snr_db: f32, count: usize, seed: u64) -> (usize, usize, usize) {
    let mut rng = Rng::new(seed);
    let mut x = Vec::new();
    let mut sent = String::new();
    silence(&mut x, 100.0);
    for _ in 0..count {
        let d = ALL.as_bytes()[(rng.next_u64() % 16) as usize] as char;
        sent.push(d);
        digit(&mut x, d, (0.0, 0.0), (-13.0, -13.0), 60.0);
        silence(&mut x, 60.0);
    }
    // Two tones at −13 dBm0 = −10 dBm0 in total.
    let mut n = Noise::new(seed ^ 0xA5A5, -10.0 - snr_db);
    n.add_to(&mut x);
    let got = digits(&x);
    let ok = sent
        .chars()
        .zip(got.chars())
        .filter(|(a, b)| a == b)
        .count();
    let bad = got.len().saturating_sub(ok);
    // Align by position only when counts match; otherwise count the shortfall as misses.
    if got.len() == sent.len() {
        (ok, count, bad)
    } else {
        (ok.min(got.len()), count, bad)
    }
}

/// Row 7: 100 % detection at 18 dB SNR.
#[test]
fn snr_18_db_all_detected() {
    let (ok, n, bad) = noise_run(18.0, 500, 1);
    assert_eq!((ok, bad), (n, 0));
}

/// Row 7: ≥ 99 % at 15 dB SNR, no false digits.
#[test]
fn snr_15_db_99_percent() {
    let (ok, n, bad) = noise_run(15.0, 1000, 2);
    assert!(ok * 100 >= n * 99, "{ok}/{n}");
    assert_eq!(bad, 0);
}

/// Row 7 (should): ≥ 95 % at 12 dB SNR.
#[test]
fn snr_12_db_95_percent() {
    let (ok, n, _) = noise_run(12.0, 500, 3);
    assert!(ok * 100 >= n * 95, "{ok}/{n}");
}

/// Row 7: no digit in noise alone (60 s at −20 dBm0 and at −40 dBm0).
#[test]
fn noise_alone_gives_nothing() {
    for (seed, l) in [(4, -20.0), (5, -40.0)] {
        let mut x = vec![0i16; 8000 * 60];
        Noise::new(seed, l).add_to(&mut x);
        assert_eq!(digits(&x), "");
    }
}

/// Row 8: 100 % through G.711 μ-law and A-law at −10 and −25 dBm0.
#[test]
fn g711_round_trip_intact() {
    for law in [Law::Mu, Law::A] {
        for l in [-10.0, -25.0] {
            let mut x = Vec::new();
            for d in ALL.chars() {
                digit(&mut x, d, (0.0, 0.0), (l, l), 50.0);
                silence(&mut x, 50.0);
            }
            synth::g711_round_trip(&mut x, law);
            assert_eq!(digits(&x), ALL, "{law:?} {l}");
        }
    }
}

/// Row 9 (should): digits at −15 dBm0 over dial tone 350+440 Hz at −25 dBm0 each.
#[test]
fn dial_tone_underneath() {
    let mut x = Vec::new();
    for d in ALL.chars() {
        digit(&mut x, d, (0.0, 0.0), (-15.0, -15.0), 60.0);
        silence(&mut x, 60.0);
    }
    let mut dial = Vec::new();
    tones(
        &mut dial,
        &[(350.0, -25.0), (440.0, -25.0)],
        x.len() as f32 / 8.0,
    );
    synth::mix_into(&mut x, &dial);
    assert_eq!(digits(&x), ALL);
}

/// Row 10 (should): an echo of the digit 20 ms later, 10 dB down, still gives one digit.
#[test]
fn echo_of_the_digit() {
    let mut x = Vec::new();
    for d in ALL.chars() {
        digit(&mut x, d, (0.0, 0.0), (-10.0, -10.0), 60.0);
        silence(&mut x, 80.0);
    }
    let g = 10f32.powf(-10.0 / 20.0);
    let mut y = x.clone();
    for i in 160..x.len() {
        y[i] = crate::osc::sat_i16(f32::from(x[i]) + g * f32::from(x[i - 160]));
    }
    assert_eq!(digits(&y), ALL);
}

/// Row 13: no digit from the network tones of the US, UK, DE and FR plans, SIT, CAS, fax
/// tones, FSK caller ID or MF-R1 signalling (each long enough to matter).
#[test]
fn network_tones_give_no_digit() {
    let mut x = Vec::new();
    fn add_to(x: &mut Vec<i16>, parts: &[(f32, f32)], on: f32, off: f32, reps: usize) {
        for _ in 0..reps {
            tones(x, parts, on);
            silence(x, off);
        }
    }
    for l in [-10.0, -20.0] {
        add_to(&mut x, &[(350.0, l), (440.0, l)], 3000.0, 100.0, 1); // US/UK dial
        add_to(&mut x, &[(425.0, l)], 3000.0, 100.0, 1); // DE dial
        add_to(&mut x, &[(440.0, l)], 3000.0, 100.0, 1); // FR dial
        add_to(&mut x, &[(330.0, l), (440.0, l)], 3000.0, 100.0, 1);
        add_to(&mut x, &[(440.0, l), (480.0, l)], 2000.0, 4000.0, 2); // US ringback
        add_to(&mut x, &[(400.0, l), (450.0, l)], 400.0, 200.0, 4); // UK ringback
        add_to(&mut x, &[(480.0, l), (620.0, l)], 500.0, 500.0, 6); // US busy
        add_to(&mut x, &[(480.0, l), (620.0, l)], 250.0, 250.0, 6); // reorder
        add_to(&mut x, &[(400.0, l)], 375.0, 375.0, 4);
        for sit in [
            [950.0, 1400.0, 1800.0],
            [913.8, 1370.6, 1776.7],
            [985.2, 1428.5, 1776.7],
        ] {
            for f in sit {
                add_to(&mut x, &[(f, l)], 330.0, 15.0, 1);
            }
            silence(&mut x, 1000.0);
        }
        add_to(&mut x, &[(2130.0, l), (2750.0, l)], 85.0, 500.0, 4); // CAS
        add_to(&mut x, &[(1100.0, l)], 500.0, 3000.0, 2); // CNG
        add_to(&mut x, &[(2100.0, l)], 3300.0, 500.0, 1); // CED
        for (_, lo, hi) in synth::MF_R1 {
            add_to(&mut x, &[(lo, l), (hi, l)], 68.0, 68.0, 3);
            add_to(&mut x, &[(lo, l), (hi, l)], 100.0, 68.0, 1);
        }
        add_to(
            &mut x,
            &[(1400.0, l), (2060.0, l), (2450.0, l), (2600.0, l)],
            100.0,
            100.0,
            10,
        ); // ROH
    }
    // CED with 180° phase reversals every 450 ms (ANSam / V.25 echo-canceller disabler).
    let mut o = crate::osc::Oscillator::new(2100.0, 8000, crate::level::dbm0_to_peak(-12.0));
    for i in 0..8000 * 4 {
        if i % 3600 == 0 && i > 0 {
            o.set_phase(o.phase().wrapping_add(0x8000_0000));
        }
        x.push(crate::osc::sat_i16(o.next_sample()));
    }
    let mut rng = Rng::new(7);
    for l in [-10.0, -30.0] {
        synth::fsk(&mut x, &mut rng, 1200.0, 2200.0, l, 2400); // Bell 202
        synth::fsk(&mut x, &mut rng, 1300.0, 2100.0, l, 2400); // V.23
    }
    assert_eq!(digits(&x), "");
}

/// Row 15: reported within 60 ms of tone onset for 95 % of digits (every onset alignment).
#[test]
fn latency_p95_under_60_ms() {
    let mut lat = Vec::new();
    let mut rng = Rng::new(11);
    for i in 0..400 {
        let d = ALL.as_bytes()[i % 16] as char;
        let mut x = vec![0i16; 400 + (rng.next_u64() % 40) as usize];
        let onset = x.len() as u64;
        digit(&mut x, d, (0.0, 0.0), (-10.0, -8.0), 60.0);
        silence(&mut x, 100.0);
        let got = detect(&x);
        assert_eq!(got.len(), 1);
        lat.push((got[0].1 - onset) as f64 / 8.0);
    }
    lat.sort_by(f64::total_cmp);
    let p95 = lat[lat.len() * 95 / 100];
    assert!(p95 <= 60.0, "p95 {p95} ms");
    assert!(lat[0] >= 20.0, "reported before 20 ms of tone: {}", lat[0]);
    eprintln!(
        "latency min {} p50 {} p95 {} max {} ms",
        lat[0],
        lat[lat.len() / 2],
        p95,
        lat[lat.len() - 1]
    );
}

/// Row 14: realistic dialing — 60–120 ms on, 60–150 ms off, ±1 % frequency offset, random
/// twist inside +4/−8 dB, over speech ≥ 10 dB below the digits, through μ-law: ≥ 98 % of
/// digits and ≤ 1 false per 50 digits.
#[test]
fn realistic_dialing() {
    let mut rng = Rng::new(21);
    let mut x = Vec::new();
    let mut sent = String::new();
    silence(&mut x, 200.0);
    for _ in 0..500 {
        let d = ALL.as_bytes()[(rng.next_u64() % 16) as usize] as char;
        sent.push(d);
        let off = (rng.range(-0.01, 0.01) as f32, rng.range(-0.01, 0.01) as f32);
        let tw = rng.range(-8.0, 4.0) as f32;
        let base = rng.range(-18.0, -8.0) as f32;
        let lvl = if tw >= 0.0 {
            (base - tw, base)
        } else {
            (base, base + tw)
        };
        digit(&mut x, d, off, lvl, rng.range(60.0, 120.0) as f32);
        silence(&mut x, rng.range(60.0, 150.0) as f32);
    }
    // Speech 10 dB below the quietest digits.
    let mut sp = SpeechLike::new(5, -28.0);
    let mut speech = Vec::new();
    sp.render(&mut speech, x.len() as f32 / 8.0);
    synth::mix_into(&mut x, &speech);
    synth::g711_round_trip(&mut x, Law::Mu);
    let got = digits(&x);
    let ok = lcs(&sent, &got);
    let false_digits = got.len() - ok;
    assert!(ok * 100 >= sent.len() * 98, "{ok}/{}", sent.len());
    assert!(false_digits * 50 <= sent.len(), "{false_digits} false");
}

/// Longest common subsequence length, to score detected against sent digits.
fn lcs(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut dp = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            dp[i][j] = if a[i - 1] == b[j - 1] {
                dp[i - 1][j - 1] + 1
            } else {
                dp[i - 1][j].max(dp[i][j - 1])
            };
        }
    }
    dp[a.len()][b.len()]
}

/// Row 11 proxy: ≤ 10 false digits per hour of synthetic speech, over 10 minutes at −10, −20
/// and −30 dBm0 (so at most 1 here; 0 measured). Recorded speech and music are measured by
/// `tipring dsp talkoff` (README, performance section).
#[test]
fn synthetic_speech_talk_off() {
    let mut false_digits = String::new();
    for (seed, l) in [(31, -10.0), (32, -20.0), (33, -30.0)] {
        let mut x = Vec::new();
        SpeechLike::new(seed, l).render(&mut x, 200_000.0);
        false_digits += &digits(&x);
    }
    assert!(false_digits.len() <= 1, "false digits: {false_digits:?}");
}

/// Our own generator's digits, through G.711, are detected (dsp-criteria §2 self-check).
#[test]
fn own_generator_self_check() {
    for law in [Law::Mu, Law::A] {
        for cfg in [
            DtmfGenConfig::default(),
            DtmfGenConfig {
                on_ms: 50,
                off_ms: 45,
                low_dbm0: -20.0,
                high_dbm0: -20.0,
                ..Default::default()
            },
            DtmfGenConfig {
                low_dbm0: -3.0,
                high_dbm0: -3.0,
                ..Default::default()
            },
        ] {
            let mut g = DtmfGenerator::new(cfg).unwrap();
            g.queue_digits(ALL).unwrap();
            g.queue_digits("5555").unwrap();
            let mut x = vec![0i16; g.remaining_samples() as usize];
            g.generate(&mut x);
            synth::g711_round_trip(&mut x, law);
            assert_eq!(digits(&x), format!("{ALL}5555"), "{law:?} {cfg:?}");
        }
    }
}

/// Chunk size does not change any event (1, 7, 160 samples, whole signal).
#[test]
fn chunk_size_independent() {
    let mut x = Vec::new();
    let mut rng = Rng::new(41);
    for d in "0123456789".chars() {
        digit(
            &mut x,
            d,
            (0.0, 0.0),
            (-12.0, -10.0),
            rng.range(40.0, 90.0) as f32,
        );
        silence(&mut x, rng.range(40.0, 90.0) as f32);
    }
    Noise::new(42, -35.0).add_to(&mut x);
    let all = |chunk: usize| {
        let mut r = rx();
        let mut ev = Vec::new();
        for c in x.chunks(chunk) {
            let mut done = 0;
            while done < c.len() {
                done += r.process(&c[done..]);
                while let Some(e) = r.poll_event() {
                    ev.push(e);
                }
            }
        }
        ev
    };
    let whole = all(x.len());
    assert_eq!(
        whole
            .iter()
            .filter(|e| matches!(e, DtmfEvent::Begin { .. }))
            .count(),
        10
    );
    for chunk in [1, 7, 160] {
        assert_eq!(all(chunk), whole, "chunk {chunk}");
    }
}

/// End events carry the tone's duration to within a hop or so.
#[test]
fn end_event_duration() {
    let x = one('7', (0.0, 0.0), (-10.0, -10.0), 200.0);
    let mut r = rx();
    r.process(&x);
    let mut dur = None;
    while let Some(e) = r.poll_event() {
        if let DtmfEvent::End {
            duration, digit, ..
        } = e
        {
            assert_eq!(digit, '7');
            dur = Some(duration);
        }
    }
    let ms = dur.expect("an End event") as f64 / 8.0;
    assert!((185.0..=215.0).contains(&ms), "{ms} ms");
}

/// A full event queue stops `process` at a hop boundary; nothing is lost.
#[test]
fn full_queue_stops_and_loses_nothing() {
    let mut x = Vec::new();
    for _ in 0..20 {
        digit(&mut x, '9', (0.0, 0.0), (-10.0, -10.0), 50.0);
        silence(&mut x, 60.0);
    }
    let mut r = rx();
    let first = r.process(&x);
    assert!(first < x.len());
    let mut begins = 0;
    let mut done = first;
    loop {
        while let Some(e) = r.poll_event() {
            begins += usize::from(matches!(e, DtmfEvent::Begin { .. }));
        }
        if done == x.len() {
            break;
        }
        done += r.process(&x[done..]);
    }
    assert_eq!(begins, 20);
}

/// Bad configuration is refused with the field named.
#[test]
fn config_validation() {
    let e = DtmfRx::new(DtmfRxConfig {
        freq_tolerance_pct: 9.0,
        ..Default::default()
    });
    assert!(matches!(
        e,
        Err(DtmfRxError::OutOfRange {
            field: "freq_tolerance_pct",
            ..
        })
    ));
    assert!(e.unwrap_err().to_string().contains("freq_tolerance_pct"));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Arbitrary samples never panic and keep the event queue bounded.
        #[test]
        fn random_samples_never_panic(x in proptest::collection::vec(any::<i16>(), 0..4000), chunk in 1usize..500) {
            let mut r = rx();
            for c in x.chunks(chunk) {
                let mut done = 0;
                while done < c.len() {
                    done += r.process(&c[done..]);
                    while r.poll_event().is_some() {}
                }
            }
        }
    }
}

/// The scalloping table matches the closed form, and the window's loss at 0.5 bin is the
/// textbook 1.75 dB of a Hamming window.
#[test]
fn hamming_gain_table() {
    for i in 1..=64 {
        let d = i as f64 / 64.0;
        let exact = hamming_gain_exact(d) as f32;
        assert!((HAMMING_GAIN[i] - exact).abs() < 1e-6, "{i}");
        let mid = hamming_gain_exact(d - 1.0 / 128.0) as f32;
        assert!(
            (hamming_gain(d as f32 - 1.0 / 128.0) - mid).abs() < 2e-3,
            "{i}"
        );
    }
    let db = 10.0 * hamming_gain(0.5).log10();
    assert!((db + 1.75).abs() < 0.05, "{db}");
}

/// The AVX2 + FMA build and the portable build report the same events on the same input.
#[test]
fn simd_and_portable_builds_agree() {
    let mut x = Vec::new();
    let mut rng = Rng::new(51);
    for _ in 0..200 {
        let d = ALL.as_bytes()[(rng.next_u64() % 16) as usize] as char;
        let off = (rng.range(-0.02, 0.02) as f32, rng.range(-0.02, 0.02) as f32);
        digit(
            &mut x,
            d,
            off,
            (rng.range(-30.0, -5.0) as f32, rng.range(-30.0, -5.0) as f32),
            rng.range(30.0, 90.0) as f32,
        );
        silence(&mut x, rng.range(30.0, 90.0) as f32);
    }
    SpeechLike::new(52, -25.0).render(&mut x, 5000.0);
    Noise::new(53, -40.0).add_to(&mut x);
    let run = |simd: bool| {
        let mut r = rx();
        r.simd = simd;
        let mut ev = Vec::new();
        for c in x.chunks(160) {
            r.process(c);
            while let Some(e) = r.poll_event() {
                ev.push(e);
            }
        }
        ev
    };
    let portable = run(false);
    assert!(portable.len() > 100, "{} events", portable.len());
    if simd_available() {
        assert_eq!(run(true), portable);
    }
}

/// Lost packets: 20 ms lost inside a digit keeps it one digit; 100 ms lost ends it (and the
/// tone resuming counts as a new digit, as a 100 ms pause would).
#[test]
fn fillin_for_lost_packets() {
    for (lost, want) in [(160usize, "7"), (800, "77")] {
        let mut a = Vec::new();
        silence(&mut a, 50.0);
        digit(&mut a, '7', (0.0, 0.0), (-10.0, -10.0), 60.0);
        let mut b = Vec::new();
        digit(&mut b, '7', (0.0, 0.0), (-10.0, -10.0), 60.0);
        silence(&mut b, 100.0);
        let mut r = rx();
        let mut got = String::new();
        let mut drain = |r: &mut DtmfRx| {
            while let Some(e) = r.poll_event() {
                if let DtmfEvent::Begin { digit, .. } = e {
                    got.push(digit);
                }
            }
        };
        r.process(&a);
        drain(&mut r);
        assert_eq!(r.fillin(lost), lost);
        r.process(&b);
        drain(&mut r);
        assert_eq!(got, want, "{lost} samples lost");
        assert_eq!(r.position(), (a.len() + lost + b.len()) as u64);
    }
}

/// Digits back to back with no pause (a keypad held while another is pressed, or two
/// senders overlapping): each is reported, and each End carries its own tone's duration.
#[test]
fn back_to_back_digits_without_pause() {
    for (ms_a, ms_b) in [(80.0, 80.0), (200.0, 80.0), (500.0, 200.0)] {
        let mut x = Vec::new();
        silence(&mut x, 50.0);
        digit(&mut x, '1', (0.0, 0.0), (-10.0, -10.0), ms_a);
        digit(&mut x, '2', (0.0, 0.0), (-10.0, -10.0), ms_b);
        silence(&mut x, 100.0);
        let mut r = rx();
        r.process(&x);
        let mut ends = Vec::new();
        let mut begins = String::new();
        while let Some(e) = r.poll_event() {
            match e {
                DtmfEvent::Begin { digit, .. } => begins.push(digit),
                DtmfEvent::End {
                    digit,
                    duration,
                    at,
                } => {
                    assert!(duration <= at, "duration {duration} after {at}");
                    ends.push((digit, duration as f32 / 8.0));
                }
            }
        }
        assert_eq!(begins, "12");
        assert_eq!(ends.len(), 2);
        for ((d, got), want) in ends.iter().zip([ms_a, ms_b]) {
            assert!(
                (got - want).abs() <= 25.0,
                "{d}: {got} ms for a {want} ms tone"
            );
        }
    }
}
