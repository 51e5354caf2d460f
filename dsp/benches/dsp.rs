//! Criterion benches per DSP block. Throughput is in input samples (8 kHz): divide the
//! reported elements/s by 8000 for "× real time" on one core.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::g711::Law;
use tipring_dsp::synth::{Noise, SpeechLike};

/// 10 s of realistic input: digits, speech and noise.
fn workload() -> Vec<i16> {
    let mut g = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
    g.queue_digits("0123456789*#ABCD").unwrap();
    let mut x = vec![0i16; 80_000];
    let n = g.generate(&mut x[..40_000]);
    assert!(n > 0);
    let mut sp = SpeechLike::new(1, -20.0);
    for s in &mut x[40_000..] {
        *s = tipring_dsp::osc::sat_i16(sp.next_sample());
    }
    Noise::new(2, -50.0).add_to(&mut x);
    x
}

fn dtmf_rx(c: &mut Criterion) {
    let x = workload();
    let mut g = c.benchmark_group("dtmf_rx");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function("10s_20ms_frames", |b| {
        let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
        b.iter(|| {
            for f in x.chunks(160) {
                rx.process(black_box(f));
                while rx.poll_event().is_some() {}
            }
        })
    });
    g.finish();
}

fn dtmf_gen(c: &mut Criterion) {
    let mut g = c.benchmark_group("dtmf_gen");
    g.throughput(Throughput::Elements(8000));
    g.bench_function("1s", |b| {
        let mut tx = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
        let mut buf = [0i16; 160];
        b.iter(|| {
            if tx.pending() < 8 {
                tx.queue_digits("12345678").unwrap();
            }
            for _ in 0..50 {
                tx.generate(black_box(&mut buf));
            }
        })
    });
    g.finish();
}

fn g711(c: &mut Criterion) {
    let x = workload();
    let mut codes = vec![0u8; x.len()];
    let mut back = vec![0i16; x.len()];
    let mut g = c.benchmark_group("g711");
    g.throughput(Throughput::Elements(x.len() as u64));
    for law in [Law::Mu, Law::A] {
        g.bench_function(format!("{law:?}_encode"), |b| {
            b.iter(|| law.encode_slice(black_box(&x), &mut codes))
        });
        g.bench_function(format!("{law:?}_decode"), |b| {
            b.iter(|| law.decode_slice(black_box(&codes), &mut back))
        });
    }
    g.finish();
}

fn cid(c: &mut Criterion) {
    use tipring_dsp::cid::{
        CallerId, CidReceiver, CidRxConfig, Format, FskConfig, FskModulator, FskStandard, Message,
    };
    let id = CallerId {
        number: Some(heapless::String::try_from("5551234567").unwrap()),
        datetime: Some(*b"11211845"),
        ..Default::default()
    };
    let mut m = FskModulator::new(FskConfig::on_hook(FskStandard::Bell202));
    m.load_message(&Message::CallerId(id), Format::Mdmf)
        .unwrap();
    let mut x = vec![0i16; 8000];
    let n = m.generate(&mut x);
    x.truncate(n + 800);
    let mut g = c.benchmark_group("cid");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function("fsk_rx_burst", |b| {
        b.iter(|| {
            let mut rx = CidReceiver::new(CidRxConfig::new(FskStandard::Bell202));
            for f in x.chunks(160) {
                let _ = rx.process(black_box(f));
                while rx.poll_event().is_some() {}
            }
        })
    });
    g.finish();
}

fn resample(c: &mut Criterion) {
    use tipring_dsp::resample::Resampler;
    let x = workload();
    let mut wide = vec![0i16; 960];
    let mut narrow = vec![0i16; 160];
    let mut g = c.benchmark_group("resample");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function("8k_to_48k_to_8k", |b| {
        let mut up = Resampler::new(8000, 48_000).unwrap();
        let mut down = Resampler::new(48_000, 8000).unwrap();
        b.iter(|| {
            for f in x.chunks(160) {
                let (_, made) = up.process(black_box(f), &mut wide);
                down.process(&wide[..made], &mut narrow);
            }
        })
    });
    g.finish();
}

#[cfg(feature = "opus")]
fn opus(c: &mut Criterion) {
    use tipring_dsp::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
    let x = workload();
    let mut g = c.benchmark_group("opus");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.sample_size(10);
    g.bench_function("8k_20ms_encode_decode", |b| {
        let mut enc = OpusEncoder::new(OpusEncoderConfig::voip(8000, 20)).unwrap();
        let mut dec = OpusDecoder::new(8000, 20).unwrap();
        let mut pkt = [0u8; 400];
        let mut out = [0i16; 160];
        b.iter(|| {
            for f in x.chunks_exact(160) {
                let n = enc.encode(black_box(f), &mut pkt).unwrap();
                dec.decode(&pkt[..n], &mut out).unwrap();
            }
        })
    });
    g.finish();
}

#[cfg(not(feature = "opus"))]
fn opus(_: &mut Criterion) {}

fn vad(c: &mut Criterion) {
    use tipring_dsp::level::LevelMeter;
    use tipring_dsp::vad::Vad;
    let x = workload();
    let mut g = c.benchmark_group("levels");
    g.throughput(Throughput::Elements(x.len() as u64));
    g.bench_function("meter_and_vad", |b| {
        let mut m = LevelMeter::new(20, 100);
        let mut v = Vad::new(Default::default());
        b.iter(|| {
            for f in x.chunks(160) {
                m.process(black_box(f));
                v.process(f);
                while v.poll_event().is_some() {}
            }
        })
    });
    g.finish();
}

/// 10 s of a plan's call-progress tones and speech: 3 s of speech (−20 dBm0), then dial,
/// ringback, busy, congestion and SIT, with speech at −35 dBm0 under the last 2 s, plus
/// noise at −50 dBm0.
fn progress_workload(plan: &'static tipring_dsp::progress::plan::TonePlan) -> Vec<i16> {
    use tipring_dsp::progress::ToneGenerator;
    let mut x = Vec::new();
    SpeechLike::new(3, -20.0).render(&mut x, 3000.0);
    for (d, ms) in [
        (plan.dial, 1500),
        (plan.ringback, 2500),
        (plan.busy, 1000),
        (plan.congestion, 1000),
        (plan.sit, 1000),
    ] {
        let mut part = vec![0i16; ms * 8];
        ToneGenerator::new(d).generate(&mut part);
        x.extend_from_slice(&part);
    }
    x.truncate(80_000);
    let mut under = Vec::new();
    SpeechLike::new(4, -35.0).render(&mut under, 2000.0);
    tipring_dsp::synth::mix_into(&mut x[64_000..], &under);
    Noise::new(5, -50.0).add_to(&mut x);
    x
}

fn progress(c: &mut Criterion) {
    use tipring_dsp::progress::plan::PLANS;
    use tipring_dsp::progress::{ProgressConfig, ProgressDetector};
    let mut g = c.benchmark_group("progress");
    for plan in PLANS {
        let x = progress_workload(plan);
        g.throughput(Throughput::Elements(x.len() as u64));
        g.bench_function(format!("{}_10s_20ms_frames", plan.name), |b| {
            let mut det = ProgressDetector::new(ProgressConfig::new(plan));
            b.iter(|| {
                for f in x.chunks(160) {
                    det.process(black_box(f));
                    while det.poll_event().is_some() {}
                }
            })
        });
    }
    g.finish();
}

/// The pitch search of a loss (and of a jitter-buffer cut): one [`HISTORY_LEN`] window of
/// speech-like audio. Throughput is one search.
///
/// [`HISTORY_LEN`]: tipring_dsp::plc::HISTORY_LEN
fn plc_pitch(c: &mut Criterion) {
    use tipring_dsp::plc::{HISTORY_LEN, PITCH_MAX, PITCH_MIN, best_period};
    let mut sp = SpeechLike::new(3, -20.0);
    let x: Vec<i16> = (0..HISTORY_LEN)
        .map(|_| tipring_dsp::osc::sat_i16(sp.next_sample()))
        .collect();
    let mut g = c.benchmark_group("plc");
    g.throughput(Throughput::Elements(1));
    g.bench_function("best_period", |b| {
        b.iter(|| best_period(black_box(&x), PITCH_MIN, PITCH_MAX))
    });
    g.finish();
}

criterion_group!(
    benches, dtmf_rx, dtmf_gen, g711, cid, resample, opus, vad, progress, plc_pitch
);
criterion_main!(benches);
