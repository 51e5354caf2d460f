//! The real-time contract: after construction, `process`/`generate` (and the codecs' per-frame
//! calls) never touch the heap. A counting global allocator counts the heap operations made by
//! the thread under test while it runs each block over several seconds of varied audio in
//! odd-sized chunks. Both the switch and the count are per thread, so tests running in
//! parallel (one of which allocates on purpose) cannot disturb each other.

#[global_allocator]
static GLOBAL: tipring_testkit::Counting = tipring_testkit::Counting;

/// Runs `f` counting this thread's heap operations; returns the count.
fn count<F: FnOnce()>(f: F) -> usize {
    tipring_testkit::count(f).1
}

/// 8 s of varied 8 kHz audio: digits, speech, tones, noise.
fn audio() -> Vec<i16> {
    use tipring_dsp::synth::{Noise, SpeechLike, silence, tones};
    let mut x = Vec::new();
    let mut g = tipring_dsp::dtmf::DtmfGenerator::new(Default::default()).unwrap();
    g.queue_digits("0123456789*#ABCD").unwrap();
    let mut d = vec![0i16; g.remaining_samples() as usize];
    g.generate(&mut d);
    x.extend_from_slice(&d);
    SpeechLike::new(1, -20.0).render(&mut x, 3000.0);
    tones(&mut x, &[(480.0, -24.0), (620.0, -24.0)], 500.0);
    silence(&mut x, 500.0);
    tones(&mut x, &[(440.0, -19.0), (480.0, -19.0)], 2000.0);
    Noise::new(3, -45.0).add_to(&mut x);
    x
}

/// Odd chunk sizes exercise every carry path.
const CHUNKS: [usize; 6] = [1, 7, 80, 160, 333, 1000];

fn chunks(x: &[i16]) -> impl Iterator<Item = &[i16]> {
    let mut at = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        if at >= x.len() {
            return None;
        }
        let n = CHUNKS[i % CHUNKS.len()].min(x.len() - at);
        i += 1;
        at += n;
        Some(&x[at - n..at])
    })
}

#[test]
fn dtmf_receiver_does_not_allocate() {
    use tipring_dsp::dtmf::{DtmfRx, DtmfRxConfig};
    let x = audio();
    let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    let mut digits = 0;
    let n = count(|| {
        for c in chunks(&x) {
            let mut done = 0;
            while done < c.len() {
                done += rx.process(&c[done..]);
                while rx.poll_event().is_some() {
                    digits += 1;
                }
            }
        }
    });
    assert!(
        digits >= 16,
        "the workload must exercise detection ({digits} events)"
    );
    assert_eq!(n, 0);
}

#[test]
fn dtmf_generator_does_not_allocate() {
    use tipring_dsp::dtmf::DtmfGenerator;
    let mut g = DtmfGenerator::new(Default::default()).unwrap();
    let mut buf = [0i16; 333];
    let mut written = 0;
    let n = count(|| {
        for _ in 0..20 {
            g.queue_digits("159#").unwrap();
            while !g.is_idle() {
                written += g.generate(&mut buf);
            }
        }
    });
    assert!(written > 0);
    assert_eq!(n, 0);
}

#[test]
fn g711_level_vad_do_not_allocate() {
    use tipring_dsp::g711::Law;
    use tipring_dsp::level::LevelMeter;
    use tipring_dsp::vad::Vad;
    let x = audio();
    let mut codes = vec![0u8; 1000];
    let mut back = vec![0i16; 1000];
    let mut meter = LevelMeter::new(20, 100);
    let mut vad = Vad::new(Default::default());
    let n = count(|| {
        for c in chunks(&x) {
            for law in [Law::Mu, Law::A] {
                let k = law.encode_slice(c, &mut codes);
                law.decode_slice(&codes[..k], &mut back);
            }
            meter.process(c);
            let mut done = 0;
            while done < c.len() {
                done += vad.process(&c[done..]);
                while vad.poll_event().is_some() {}
            }
        }
    });
    assert!(meter.blocks() > 300);
    assert_eq!(n, 0);
}

#[test]
fn resampler_does_not_allocate() {
    use tipring_dsp::resample::Resampler;
    let x = audio();
    let mut up = Resampler::new(8000, 48_000).unwrap();
    let mut down = Resampler::new(48_000, 8000).unwrap();
    let mut wide = vec![0i16; 6000];
    let mut narrow = vec![0i16; 1000];
    let n = count(|| {
        for c in chunks(&x) {
            let mut done = 0;
            while done < c.len() {
                let (used, made) = up.process(&c[done..], &mut wide);
                done += used;
                let mut d = 0;
                while d < made {
                    let (u, _) = down.process(&wide[d..made], &mut narrow);
                    d += u;
                }
            }
        }
    });
    assert_eq!(n, 0);
}

#[cfg(feature = "opus")]
#[test]
fn opus_frames_do_not_allocate() {
    use tipring_dsp::opus::{OpusDecoder, OpusEncoder, OpusEncoderConfig};
    let x = audio();
    let mut enc = OpusEncoder::new(OpusEncoderConfig::voip(8000, 20)).unwrap();
    let mut dec = OpusDecoder::new(8000, 20).unwrap();
    let mut pkt = [0u8; 1500];
    let mut out = [0i16; 160];
    let n = count(|| {
        for (i, f) in x.chunks_exact(160).enumerate() {
            let len = enc.encode(f, &mut pkt).unwrap();
            if i % 10 == 9 {
                dec.conceal(&mut out).unwrap();
            } else {
                dec.decode(&pkt[..len], &mut out).unwrap();
            }
        }
    });
    assert_eq!(n, 0);
}

/// The counter sees heap use (so the zeros above mean something).
#[test]
fn counter_sees_allocations() {
    let n = count(|| {
        let v = std::hint::black_box(vec![1u8; 100]);
        drop(v);
    });
    assert_eq!(n, 2);
}

#[test]
fn call_progress_does_not_allocate() {
    use tipring_dsp::progress::plan::{DE, US};
    use tipring_dsp::progress::{ProgressConfig, ProgressDetector, ToneGenerator};
    let mut x = audio();
    let mut busy = vec![0i16; 32_000];
    ToneGenerator::new(US.busy).generate(&mut busy);
    x.extend_from_slice(&busy);
    let mut events = 0;
    let mut us = ProgressDetector::new(ProgressConfig::new(&US));
    let mut de = ProgressDetector::new(ProgressConfig::new(&DE));
    let mut tx = ToneGenerator::new(US.busy);
    let mut buf = [0i16; 333];
    let n = count(|| {
        for c in chunks(&x) {
            for d in [&mut us, &mut de] {
                let mut done = 0;
                while done < c.len() {
                    done += d.process(&c[done..]);
                    while d.poll_event().is_some() {
                        events += 1;
                    }
                }
            }
            tx.generate(&mut buf);
        }
    });
    assert!(events >= 1, "the workload must exercise detection");
    assert_eq!(n, 0);
}

#[test]
fn caller_id_does_not_allocate() {
    use tipring_dsp::cid::{
        CallerId, CidReceiver, CidRxConfig, Format, FskConfig, FskModulator, FskStandard, Message,
    };
    let id = CallerId {
        number: Some(heapless::String::try_from("0123456789").unwrap()),
        datetime: Some(*b"11211845"),
        ..Default::default()
    };
    let msg = Message::CallerId(id);
    let mut tx = FskModulator::new(FskConfig::on_hook(FskStandard::V23));
    let mut rx = CidReceiver::new(CidRxConfig::new(FskStandard::V23));
    let mut burst = [0i16; 7];
    let mut messages = 0;
    let n = count(|| {
        for _ in 0..3 {
            tx.load_message(&msg, Format::Etsi).unwrap();
            loop {
                let k = tx.generate(&mut burst);
                let mut done = 0;
                while done < k {
                    done += rx.process(&burst[done..k]);
                    while rx.poll_event().is_some() {
                        messages += 1;
                    }
                }
                if k == 0 {
                    break;
                }
            }
            let mut done = 0;
            let gap = [0i16; 800];
            while done < gap.len() {
                done += rx.process(&gap[done..]);
                while rx.poll_event().is_some() {
                    messages += 1;
                }
            }
        }
    });
    assert_eq!(messages, 3);
    assert_eq!(n, 0);
}

#[test]
fn echo_canceller_does_not_allocate() {
    use tipring_dsp::echo::{EchoCanceller, Tail};
    let far = audio();
    // The near end: a crude echo of the far end plus the far end's reverse as near talk.
    let near: Vec<i16> = (0..far.len())
        .map(|i| {
            let e = if i >= 40 { far[i - 40] / 4 } else { 0 };
            e.saturating_add(far[far.len() - 1 - i] / 8)
        })
        .collect();
    for tail in [Tail::Ms32, Tail::Ms128] {
        let mut ec = EchoCanceller::new(tail);
        let mut out = vec![0i16; 1000];
        // The first table builds (none here) and lazy statics are not the tick path: warm up.
        ec.process(&far[..160], &near[..160], &mut out[..160]);
        let n = count(|| {
            let mut at = 0;
            for c in chunks(&far) {
                let len = c.len();
                ec.process(c, &near[at..at + len], &mut out[..len]);
                at += len;
            }
            ec.freeze(true);
            ec.process(&far[..500], &near[..500], &mut out[..500]);
            ec.reset();
        });
        assert_eq!(n, 0, "{tail:?}: {n} heap operations");
    }
}
