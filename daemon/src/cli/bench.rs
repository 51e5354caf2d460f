//! `tipring dsp bench`: throughput of the DSP blocks on one core.
//!
//! Each figure runs the block on one thread over a realistic signal for about a second of
//! wall time, timing every pass, and reports how many times faster than real time it ran
//! (input seconds per wall second): the median pass, and the best. The receive pipeline figure runs many channel states round-robin, 20 ms
//! frames at a time, as the media engine does, so cache effects are counted: each channel
//! decodes μ-law and runs the DTMF receiver and the call-progress detector (US plan). The echo
//! canceller figures run 1 000 cancellers the same way (64 and 128 ms tails).

use super::Failure;
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::echo::{EchoCanceller, Tail};
use tipring_dsp::g711::Law;
use tipring_dsp::progress::plan::US;
use tipring_dsp::progress::{ProgressConfig, ProgressDetector};
use tipring_dsp::synth::{Noise, SpeechLike};

/// 10 s at 8 kHz: DTMF digits, speech and line noise.
fn workload() -> Vec<i16> {
    let mut g = DtmfGenerator::new(DtmfGenConfig::default()).expect("default config");
    let _ = g.queue_digits("0123456789*#ABCD");
    let mut x = vec![0i16; 80_000];
    g.generate(&mut x[..40_000]);
    let mut sp = SpeechLike::new(1, -20.0);
    for s in &mut x[40_000..] {
        *s = tipring_dsp::osc::sat_i16(sp.next_sample());
    }
    Noise::new(2, -50.0).add_to(&mut x);
    x
}

/// Throughput of one figure, input samples per second of wall time: the median over the
/// timed calls, and the best call. The machines we measure on are shared, so the median is
/// the figure we report and the best one shows what the core does undisturbed.
#[derive(Debug, Clone, Copy)]
struct Rate {
    median: f64,
    best: f64,
}

/// Runs `f` (which processes `samples` input samples per call) repeatedly for about `budget`,
/// timing every call.
fn rate(samples: usize, budget: Duration, mut f: impl FnMut()) -> Rate {
    f(); // warm up
    let start = Instant::now();
    let mut per_call = Vec::new();
    while start.elapsed() < budget || per_call.len() < 3 {
        let t = Instant::now();
        f();
        per_call.push(samples as f64 / t.elapsed().as_secs_f64().max(1e-9));
    }
    per_call.sort_by(f64::total_cmp);
    Rate {
        median: per_call[per_call.len() / 2],
        best: per_call[per_call.len() - 1],
    }
}

fn report(block: &str, r: Rate) -> serde_json::Value {
    json!({
        "block": block,
        "msamples_per_s": (r.median / 1e5).round() / 10.0,
        "x_realtime": (r.median / 8000.0).round(),
        "x_realtime_best": (r.best / 8000.0).round(),
    })
}

/// Runs the benchmarks and prints one JSON line per figure.
///
/// # Errors
/// Writing to stdout failed.
pub fn run(seconds: f64) -> Result<(), Failure> {
    let budget = Duration::from_secs_f64(seconds.clamp(0.1, 60.0));
    let x = workload();
    let mut lines = Vec::new();

    let mut rx = DtmfRx::new(DtmfRxConfig::default()).expect("default config");
    let r = rate(x.len(), budget, || {
        for f in x.chunks(160) {
            rx.process(black_box(f));
            while rx.poll_event().is_some() {}
        }
    });
    lines.push(report("dtmf_rx", r));
    let mut rx = DtmfRx::new(DtmfRxConfig {
        simd: false,
        ..DtmfRxConfig::default()
    })
    .expect("portable config");
    let r = rate(x.len(), budget, || {
        for f in x.chunks(160) {
            rx.process(black_box(f));
            while rx.poll_event().is_some() {}
        }
    });
    lines.push(report("dtmf_rx_portable", r));

    let mut tx = DtmfGenerator::new(DtmfGenConfig::default()).expect("default config");
    let mut buf = [0i16; 160];
    let r = rate(8000, budget, || {
        if tx.pending() < 4 {
            let _ = tx.queue_digits("1234");
        }
        for _ in 0..50 {
            tx.generate(black_box(&mut buf));
        }
    });
    lines.push(report("dtmf_gen", r));

    let mut codes = vec![0u8; x.len()];
    let mut back = vec![0i16; x.len()];
    let r = rate(x.len(), budget, || {
        Law::Mu.encode_slice(black_box(&x), &mut codes);
    });
    lines.push(report("g711_ulaw_encode", r));
    let r = rate(x.len(), budget, || {
        Law::Mu.decode_slice(black_box(&codes), &mut back);
    });
    lines.push(report("g711_ulaw_decode", r));

    let mut cpt = ProgressDetector::new(ProgressConfig::new(&US));
    let r = rate(x.len(), budget, || {
        for f in x.chunks(160) {
            let _ = cpt.process(black_box(f));
            while cpt.poll_event().is_some() {}
        }
    });
    lines.push(report("progress_us", r));

    // Receive pipeline: μ-law decode + DTMF + call progress, channels round-robin. With 100
    // channels a media thread's state stays in cache; with 1000 it streams from memory.
    let ulaw: Vec<u8> = x
        .iter()
        .map(|&s| tipring_dsp::g711::linear_to_ulaw(s))
        .collect();
    for channels in [10usize, 100, 1000] {
        lines.push(pipeline(&ulaw, channels, budget));
    }

    // Echo canceller: 1 000 channels round-robin (their filters stream from memory, as on
    // a loaded media thread), 64 and 128 ms tails, on speech with an echo and near-end noise.
    for tail in [Tail::Ms64, Tail::Ms128] {
        lines.push(echo(&x, tail, 1000, budget));
    }

    for l in lines {
        super::dsp::emit(l)?;
    }
    Ok(())
}

/// `channels` echo cancellers, 20 ms frames round-robin, converged on `x` (the far end) and
/// its echo (20 ms late, 10 dB down) before timing.
fn echo(x: &[i16], tail: Tail, channels: usize, budget: Duration) -> serde_json::Value {
    let near: Vec<i16> = (0..x.len())
        .map(|i| if i >= 160 { x[i - 160] / 3 } else { 0 })
        .collect();
    let mut ecs: Vec<EchoCanceller> = (0..channels).map(|_| EchoCanceller::new(tail)).collect();
    let mut out = [0i16; 160];
    let mut offset = 0usize;
    let frames_per_call = 5;
    let mut step = |ecs: &mut Vec<EchoCanceller>, offset: &mut usize| {
        for (i, ec) in ecs.iter_mut().enumerate() {
            let at = (*offset + i * 160) % (x.len() - 160);
            ec.process(black_box(&x[at..at + 160]), &near[at..at + 160], &mut out);
        }
        *offset = (*offset + 160) % x.len();
    };
    for _ in 0..25 {
        step(&mut ecs, &mut offset); // half a second: adapting, as on a live call
    }
    let r = rate(channels * 160 * frames_per_call, budget, || {
        for _ in 0..frames_per_call {
            step(&mut ecs, &mut offset);
        }
    });
    let mut line = report(
        match tail {
            Tail::Ms32 => "echo_canceller_32ms",
            Tail::Ms64 => "echo_canceller_64ms",
            Tail::Ms128 => "echo_canceller_128ms",
        },
        r,
    );
    line["channels_per_thread"] = json!(channels);
    line["channels_per_core"] = json!((r.median / 8000.0).round());
    line["channels_per_core_best"] = json!((r.best / 8000.0).round());
    line
}

/// One media thread's receive work for `channels` channels, 20 ms frames round-robin: μ-law
/// decode, DTMF receiver, call-progress detector (US plan).
fn pipeline(ulaw: &[u8], channels: usize, budget: Duration) -> serde_json::Value {
    // Channels on one plan are clones of one detector: they share its tables, as the media
    // engine's channels do.
    let rx = DtmfRx::new(DtmfRxConfig::default()).expect("config");
    let cpt = ProgressDetector::new(ProgressConfig::new(&US));
    let mut chans: Vec<(DtmfRx, ProgressDetector)> =
        (0..channels).map(|_| (rx.clone(), cpt.clone())).collect();
    let mut frame = [0i16; 160];
    let mut offset = 0usize;
    let frames_per_call = 10;
    let r = rate(channels * 160 * frames_per_call, budget, || {
        for _ in 0..frames_per_call {
            for (i, (rx, cpt)) in chans.iter_mut().enumerate() {
                let at = (offset + i * 160) % (ulaw.len() - 160);
                Law::Mu.decode_slice(&ulaw[at..at + 160], &mut frame);
                rx.process(black_box(&frame));
                while rx.poll_event().is_some() {}
                let _ = cpt.process(&frame);
                while cpt.poll_event().is_some() {}
            }
            offset = (offset + 160) % ulaw.len();
        }
    });
    let mut line = report("rx_pipeline_ulaw_dtmf_progress", r);
    line["channels_per_thread"] = json!(channels);
    line["channels_per_core"] = json!((r.median / 8000.0).round());
    line["channels_per_core_best"] = json!((r.best / 8000.0).round());
    line
}
