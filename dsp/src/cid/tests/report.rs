//! Measurements behind the figures in the module docs. Ignored by default (about 10 s):
//! `cargo test --lib cid::tests::report -- --ignored --nocapture`.

use super::*;

fn corner(standard: FskStandard, sign: f64, twist: f64) -> Line {
    let mut l = Line::nominal(standard, -20.0);
    l.baud *= 1.0 + sign * 0.015;
    l.mark_hz += sign * (10.0 + 0.01 * l.mark_hz);
    l.space_hz += sign * (10.0 + 0.01 * l.space_hz);
    l.space_dbm0 += twist;
    l
}

/// Largest `x` (in `step`s, up to `max`) for which `pass(+x)` and `pass(−x)` both hold.
fn margin(step: f64, max: f64, pass: impl Fn(f64) -> bool) -> f64 {
    let mut x = 0.0;
    while x < max && pass(x + step) && pass(-(x + step)) {
        x += step;
    }
    x
}

#[test]
#[ignore = "measurement report, not a check"]
fn report_ber_and_margins() {
    for standard in [FskStandard::Bell202, FskStandard::V23] {
        let mut s = std::format!("{standard:?} BER, nominal, 80 000 bits:");
        for snr in [20.0, 15.0, 12.0, 10.0, 8.0, 6.0] {
            let (e, n) = measure_ber(standard, Line::nominal(standard, -20.0), snr, 10_000, 21);
            s += &std::format!(" {snr} dB {:.1e}", e as f64 / n as f64);
        }
        std::println!("{s}");
        let mut s = std::format!("{standard:?} BER, worst tolerance corner, 40 000 bits:");
        for snr in [20.0, 15.0, 12.0, 10.0] {
            let mut worst: f64 = 0.0;
            for sign in [-1.0, 1.0] {
                for tw in [-6.0, 6.0] {
                    let (e, n) = measure_ber(standard, corner(standard, sign, tw), snr, 5000, 22);
                    worst = worst.max(e as f64 / n as f64);
                }
            }
            s += &std::format!(" {snr} dB {worst:.1e}");
        }
        std::println!("{s}");
        for snr in [60.0, 20.0] {
            let ok = |l: Line| measure_ber(standard, l, snr, 2500, 3).0 <= 2;
            let nominal = Line::nominal(standard, -20.0);
            let rate = margin(0.0025, 0.2, |r| {
                ok(Line {
                    baud: 1200.0 * (1.0 + r),
                    ..nominal
                })
            });
            let offset = margin(5.0, 400.0, |d| {
                ok(Line {
                    mark_hz: nominal.mark_hz + d,
                    space_hz: nominal.space_hz + d,
                    ..nominal
                })
            });
            let twist = margin(1.0, 40.0, |t| {
                ok(Line {
                    space_dbm0: nominal.space_dbm0 + t,
                    ..nominal
                })
            });
            std::println!(
                "{standard:?} margins at {snr} dB SNR (BER ≤ 1e-4): rate ±{:.2} %, \
                 offset ±{offset} Hz, twist ±{twist} dB",
                rate * 100.0
            );
        }
    }
}

#[test]
#[ignore = "measurement report, not a check"]
#[expect(
    clippy::disallowed_methods,
    reason = "CPU-time measurement in an ignored test"
)]
fn report_throughput() {
    let line = Line::nominal(FskStandard::Bell202, -20.0);
    let mut rng = Rng::new(1);
    let data: Vec<u8> = (0..20_000).map(|_| rng.byte()).collect();
    let audio = add_noise(
        &line.modulate(&burst_bits(&data, true, 180, 0)),
        line.power(),
        20.0,
        &mut rng,
    );
    let mut rx = CidReceiver::new(CidRxConfig::default());
    let t = std::time::Instant::now();
    for block in audio.chunks(160) {
        let _ = rx.process(block);
        while rx.poll_event().is_some() {}
    }
    let secs = t.elapsed().as_secs_f64();
    std::println!(
        "receiver: {:.0}× real time ({} s of audio in {secs:.3} s)",
        audio.len() as f64 / 8000.0 / secs,
        audio.len() / 8000
    );
    let mut tx = FskModulator::new(FskConfig::default());
    let mut buf = [0i16; 160];
    let t = std::time::Instant::now();
    let mut n = 0;
    for _ in 0..100 {
        tx.load(&[0x55; 258]).unwrap();
        loop {
            let k = tx.generate(&mut buf);
            if k == 0 {
                break;
            }
            n += k;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    std::println!("modulator: {:.0}× real time", n as f64 / 8000.0 / secs);
}
