//! The FXO port's 2-wire hybrid: what the daemon sends comes back in what it reads, at the
//! echo return loss that was set.

mod common;

use common::*;
use std::time::Duration;
use tipring_dahdi_model::{Hybrid, Port, Spec};
use tipring_dsp::synth::Noise;
use tipring_hal::dahdi::sys;

/// Writes `blocks` blocks of noise while reading as many; returns (heard, read).
fn run(hybrid: Hybrid, blocks: usize) -> Option<(Vec<i16>, Vec<i16>)> {
    let model = mount(Spec::analog(&[Port::Fxo]))?;
    let line = model.channel(1).unwrap();
    let f = specify(&model, 1, false);
    setup_audio(&f, 160, true);
    ioctl_int(&f, sys::HOOK, sys::HOOK_OFFHOOK).unwrap();
    line.set_hybrid(Some(hybrid));
    let writer = {
        let f = f.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut noise = Noise::new(7, -15.0);
            for _ in 0..blocks {
                let mut b = [0i16; 160];
                noise.add_to(&mut b);
                write(&f, &le(&b)).unwrap();
            }
        })
    };
    line.take_heard();
    let mut got = Vec::new();
    for _ in 0..blocks {
        got.extend(samples(&read(&f, 320).unwrap()));
    }
    writer.join().unwrap();
    assert!(tipring_dahdi_model::wait_until(
        Duration::from_secs(1),
        || { line.heard().len() >= got.len() }
    ));
    Some((line.take_heard(), got))
}

fn power(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len() as f64
}

#[test]
fn a_pure_delay_hybrid_returns_the_sent_signal_attenuated() {
    let Some((heard, got)) = run(Hybrid::new(40, 6.0), 50) else {
        return;
    };
    // Find the alignment: read[n] = heard[n - lag] / 2 (6 dB), rounded.
    let g = 10f64.powf(-6.0 / 20.0);
    let n = got.len().min(heard.len());
    let lag = (-400i64..400)
        .find(|&lag| {
            (1000..n - 1000).all(|i| {
                let j = i as i64 - lag;
                let want = (f64::from(heard[j as usize]) * g).round();
                (f64::from(got[i]) - want).abs() <= 1.0
            })
        })
        .expect("the read signal is a scaled, delayed copy of what was sent");
    eprintln!("echo alignment between the two recordings: {lag} samples");
}

#[test]
fn a_dispersive_hybrid_gives_the_set_echo_return_loss() {
    let taps = [0.1, 0.5, -0.3, 0.2, -0.1, 0.05];
    let Some((heard, got)) = run(Hybrid::new(32, 12.0).with_taps(&taps), 75) else {
        return;
    };
    // Skip the start, where the echo path was still filling.
    let sent = power(&heard[1600..]);
    let back = power(&got[1600..]);
    assert!(sent > 1e5, "nothing was sent ({sent})");
    let erl = 10.0 * (sent / back).log10();
    assert!((erl - 12.0).abs() < 1.0, "ERL {erl:.2} dB, set 12 dB");
}
