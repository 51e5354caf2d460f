//! The receiver and its jitter buffer on synthetic streams: order, loss, duplicates, source
//! and timeline changes, packet sizes, network jitter. Each test names the RFC 3550 clause
//! it checks where there is one.

mod common;

use common::{Media, Network, Peer, align, max_step, rtp, signal};
use tipring_dsp::synth::Rng;
use tipring_rtp::{Codec, DropReason, PayloadMap, Received, Receiver, ReceiverConfig, RtpError};

fn receiver() -> Receiver {
    Receiver::new(ReceiverConfig::new(
        PayloadMap::new(0, Codec::Pcmu).with_events(101),
    ))
    .unwrap()
}

/// Runs `ticks` media ticks of `frame` samples while `peer` sends one packet per ptime; each
/// packet's network delay (samples, after it is complete) is `delay(k)`, `None` to lose it.
fn run(
    peer: &mut Peer,
    media: &mut Media,
    ticks: usize,
    mut delay: impl FnMut(usize, &mut Peer) -> Option<u64>,
) {
    let mut net = Network::default();
    let mut k = 0usize;
    for _ in 0..ticks {
        // Send every packet completed by the end of this tick.
        while peer.n + peer.ptime as u64 <= media.now + media.frame as u64 {
            let done_at = peer.n + peer.ptime as u64;
            let d = delay(k, peer);
            let p = peer.audio();
            if let Some(d) = d {
                net.send(done_at + d, p);
            }
            k += 1;
        }
        let due = net.due(media.now);
        media.tick(&due);
    }
}

fn conceal_free_after(media: &Media, tick: usize) -> u32 {
    media.concealed_since(tick)
}

#[test]
fn an_in_order_stream_plays_exactly_after_startup() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 150, |_, _| Some(0));
    assert_eq!(conceal_free_after(&m, 0), 0);
    let s = m.rx.stats();
    assert_eq!(s.late + s.duplicates + s.too_early, 0);
    // The first packet was on probation (RFC 3550 §A.1), the stream starts at the second.
    assert_eq!(s.probation, 1);
    // Steady state: the output is the signal, delayed, with only G.711's quantisation error.
    let (d, err) = align(&m.out, 20_000, 24_000, 1000);
    println!(
        "delay {d} samples, mean abs error {err:.1}, target {}",
        s.target_delay_ms
    );
    assert!(err < 40.0, "{err}");
    // With no jitter the delay settles at the minimum (20 ms) plus less than a tick.
    assert!((160..400).contains(&d), "{d}");
    assert_eq!(s.target_delay_ms, 20.0);
}

/// Packets swapped in flight are put back in timestamp order.
#[test]
fn reordered_packets_are_absorbed() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    // Every 5th packet overtakes its predecessor by 10 ms.
    run(&mut peer, &mut m, 200, |k, _| {
        Some(if k % 5 == 3 { 80 } else { 0 })
    });
    assert_eq!(conceal_free_after(&m, 10), 0);
    assert_eq!(m.rx.stats().late, 0);
    let (_, err) = align(&m.out, 26_000, 30_000, 1000);
    assert!(err < 40.0, "{err}");
}

/// RFC 3550 §A.3: lost packets are counted; the buffer conceals them without clicks.
#[test]
fn lost_packets_are_concealed_and_counted() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 300, |k, _| (k % 25 != 12).then_some(0));
    let s = m.rx.stats();
    assert_eq!(s.cumulative_lost, 12);
    assert_eq!(s.expected, s.packets as u32 + 12);
    // One packet's worth each time, give or take the time-scaling around it.
    let concealed = conceal_free_after(&m, 10);
    assert!((11 * 160..=13 * 160).contains(&concealed), "{concealed}");
    // No click: the output never steps more than the signal itself does, plus margin.
    let own = max_step(&(0..8000).map(signal).collect::<Vec<_>>());
    let step = max_step(&m.out[4000..]);
    assert!(step <= own * 2, "step {step}, signal's own {own}");
}

/// Duplicated packets are recognised and dropped; the audio is the same as without them.
#[test]
fn duplicates_are_dropped() {
    let mut clean = Media::new(receiver(), 160);
    run(&mut Peer::new(160), &mut clean, 100, |_, _| Some(0));

    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    let mut net = Network::default();
    for _ in 0..100 {
        while peer.n + 160 <= m.now + 160 {
            let at = peer.n + 160;
            let p = peer.audio();
            net.send(at, p.clone());
            net.send(at + 40, p);
        }
        let due = net.due(m.now);
        m.tick(&due);
    }
    assert_eq!(m.out, clean.out);
    let s = m.rx.stats();
    // 98 copies arrive in time; the first packet's copy arrives during probation (and restarts
    // it, RFC 3550 §A.1), so 97 are duplicates.
    assert_eq!(s.duplicates, 97);
    // RFC 3550 §A.3 counts duplicates as received: cumulative lost goes negative.
    assert!(s.cumulative_lost < 0);
}

/// RFC 3550 §A.1: the extended sequence number carries across 65535 → 0.
#[test]
fn sequence_wrap_at_65535_is_seamless() {
    let mut peer = Peer::new(160);
    peer.seq = 65_500;
    peer.ts = u32::MAX - 5_000; // the timestamp wraps too
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 150, |_, _| Some(0));
    let s = m.rx.stats();
    assert_eq!(conceal_free_after(&m, 0), 0);
    assert_eq!(s.cumulative_lost, 0);
    assert!(s.ext_max_seq > 65_535, "{}", s.ext_max_seq);
    let (_, err) = align(&m.out, 19_000, 23_000, 1000);
    assert!(err < 40.0, "{err}");
}

/// A new SSRC (a re-INVITE moved the far end) takes over once validated (RFC 3550 §A.1
/// probation) and the old source has gone quiet; the stream carries on without a stall.
#[test]
fn ssrc_change_resyncs_without_stall() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 100, |_, _| Some(0));
    peer.ssrc = 0x0BAD_CAFE;
    peer.seq = 7;
    peer.ts = 123_456;
    run(&mut peer, &mut m, 100, |_, _| Some(0));
    let s = m.rx.stats();
    assert_eq!(s.ssrc_changes, 1);
    assert_eq!(s.ssrc, Some(tipring_rtp::Ssrc(0x0BAD_CAFE)));
    // One packet on probation: about 20 ms concealed, then the new stream plays.
    let concealed = conceal_free_after(&m, 95);
    assert!(concealed <= 2 * 160, "{concealed}");
    let (_, err) = align(&m.out, 27_000, 31_000, 1000);
    assert!(err < 40.0, "{err}");
    // A stray packet of a third source while the stream is live changes nothing.
    let stray = rtp(0, false, 1, 1, 0x5555, &[0xFF; 160]);
    assert!(matches!(
        m.rx.push(m.now, &stray),
        Ok(Received::Dropped(DropReason::OtherSource { .. }))
    ));
    assert_eq!(m.rx.stats().ssrc_changes, 1);
}

/// A sender whose timestamp jumps (a B2BUA splicing streams, a restarted codec) is
/// re-anchored at once: neither a stall nor a flood of concealment.
#[test]
fn timestamp_jumps_resync() {
    for jump in [8 * 8000i64, -5 * 8000, 2_000] {
        let mut peer = Peer::new(160);
        let mut m = Media::new(receiver(), 160);
        run(&mut peer, &mut m, 100, |_, _| Some(0));
        peer.ts = peer.ts.wrapping_add(jump as u32);
        run(&mut peer, &mut m, 100, |_, _| Some(0));
        let s = m.rx.stats();
        let concealed = conceal_free_after(&m, 90);
        println!("jump {jump}: concealed {concealed}, resyncs {}", s.resyncs);
        assert_eq!(s.resyncs, 1, "jump {jump}");
        assert!(concealed <= 3 * 160, "jump {jump}: {concealed}");
        let silent = m.pulls[95..].iter().map(|p| p.silence).sum::<u32>();
        assert_eq!(silent, 0, "jump {jump}");
    }
}

/// Packets of 10, 20, 30, 40 and 60 ms, played in 10 and 20 ms ticks: addressed by
/// timestamp, so any mix plays without concealment.
#[test]
fn ptime_10_20_30_40_60_in_with_10_and_20_ms_ticks() {
    for ptime in [80usize, 160, 240, 320, 480] {
        for frame in [80usize, 160] {
            let mut peer = Peer::new(ptime);
            let mut m = Media::new(receiver(), frame);
            run(&mut peer, &mut m, 16_000 / frame * 3, |_, _| Some(0));
            let settle = 8000 / frame;
            let c = conceal_free_after(&m, settle);
            let s = m.rx.stats();
            println!(
                "ptime {} ms, tick {} ms: concealed {c} after 1 s, target {} ms, delay {} ms",
                ptime / 8,
                frame / 8,
                s.target_delay_ms,
                s.delay_ms
            );
            assert_eq!(c, 0, "ptime {ptime} frame {frame}");
            let (_, err) = align(&m.out, 36_000, 40_000, 1000);
            assert!(err < 40.0, "ptime {ptime} frame {frame}: {err}");
        }
    }
}

/// Network jitter of ±40 ms (each packet delayed uniformly 0–80 ms, so reordered too) is
/// absorbed: after the buffer has grown, nothing is concealed.
#[test]
fn jitter_of_40_ms_is_absorbed_without_concealment() {
    let mut rng = Rng::new(42);
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 3_000, |_, _| {
        Some(common::jitter(&mut rng, 640))
    });
    let s = m.rx.stats();
    let early = m.concealed_since(0) - m.concealed_since(500);
    let steady = m.concealed_since(500);
    let max_delay = m.pulls[500..].iter().map(|p| p.delay).max().unwrap();
    println!(
        "±40 ms jitter: concealed {early} samples in the first 10 s, {steady} in the next 50 s; \
         late {}, target {} ms, max delay {} ms, RFC 3550 jitter {:.1} ms",
        s.late,
        s.target_delay_ms,
        f64::from(max_delay) / 8.0,
        s.jitter_ms
    );
    assert_eq!(steady, 0);
    assert!(max_delay <= 8 * 110, "{max_delay}");
    assert!(s.target_delay_ms <= 100.0);
}

/// After the jitter stops, the buffer comes back down to the minimum delay (slowly: the
/// target decays with a 10 s time constant), without concealing anything on the way.
#[test]
fn the_delay_shrinks_back_when_the_jitter_stops() {
    let mut rng = Rng::new(7);
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 1_000, |_, _| {
        Some(common::jitter(&mut rng, 640))
    });
    let jittery = m.rx.stats();
    let calm_from = m.pulls.len();
    run(&mut peer, &mut m, 3_000, |_, _| Some(640));
    let calm = m.rx.stats();
    let delay_at = |t: usize| f64::from(m.pulls[t].delay) / 8.0;
    println!(
        "delay {:.0} ms after 20 s of ±40 ms jitter; then without jitter: {:.0} ms after 10 s, \
         {:.0} ms after 30 s, {:.0} ms after 60 s; shrunk by {} samples",
        jittery.delay_ms,
        delay_at(calm_from + 500),
        delay_at(calm_from + 1_500),
        calm.delay_ms,
        calm.buffer.shrunk - jittery.buffer.shrunk
    );
    assert!(jittery.delay_ms >= 80.0);
    assert!(calm.delay_ms <= 35.0, "{}", calm.delay_ms);
    assert_eq!(m.concealed_since(calm_from + 10), 0);
}

/// RFC 3550 §A.8 in the receiver: transit alternating between two values 20 ms apart gives
/// |D| = 20 ms at every packet, so the jitter converges to 20 ms (160 RTP units).
#[test]
fn rfc3550_a8_jitter_of_a_known_stream() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 500, |k, _| {
        Some(if k % 2 == 1 { 160 } else { 0 })
    });
    let s = m.rx.stats();
    assert!((158..=160).contains(&s.jitter), "{}", s.jitter);
    assert!((s.jitter_ms - 20.0).abs() < 0.3, "{}", s.jitter_ms);
    // And a constant transit gives zero.
    let mut m = Media::new(receiver(), 160);
    run(&mut Peer::new(160), &mut m, 200, |_, _| Some(123));
    assert_eq!(m.rx.stats().jitter, 0);
}

/// Silence before the stream starts; concealment then silence when it stops; and a
/// talkspurt after silence suppression (timestamp consistent with the pause) plays on time.
#[test]
fn silence_before_and_after_the_stream() {
    let mut m = Media::new(receiver(), 160);
    for _ in 0..10 {
        m.tick(&[]);
    }
    assert!(m.out.iter().all(|&x| x == 0));
    assert_eq!(m.pulls.iter().map(|p| p.silence).sum::<u32>(), 1600);

    let mut peer = Peer::new(160);
    peer.n = m.now;
    run(&mut peer, &mut m, 100, |_, _| Some(0));
    // The peer stops for 1 s (silence suppression: its clock runs on).
    let stop = m.pulls.len();
    let gap_start = m.now;
    for _ in 0..50 {
        m.tick(&[]);
    }
    peer.skip((m.now - gap_start) as usize);
    let pulls = &m.pulls[stop..];
    let concealed: u32 = pulls.iter().map(|p| p.concealed).sum();
    let silence: u32 = pulls.iter().map(|p| p.silence).sum();
    assert!(
        concealed <= 480,
        "concealment fades out at 60 ms: {concealed}"
    );
    assert!(silence >= 50 * 160 - 480 - 400, "{silence}");
    // The talkspurt resumes, consistent with the clock: no resync, no loss of delay.
    let resume = m.pulls.len();
    run(&mut peer, &mut m, 50, |_, _| Some(0));
    assert_eq!(m.rx.stats().resyncs, 0);
    assert!(m.concealed_since(resume + 5) == 0);
}

/// A delay spike (every packet suddenly 60 ms later) is absorbed by moving the playout point
/// back to the first late packet: one burst of concealment, then nothing.
#[test]
fn a_delay_spike_grows_the_buffer_once() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 400, |k, _| {
        Some(if k >= 200 { 480 } else { 0 })
    });
    let s = m.rx.stats();
    let during = m.concealed_since(195) - m.concealed_since(215);
    println!(
        "spike: concealed {during}, rewinds {}, late {}",
        s.buffer.rewinds, s.late
    );
    assert!(s.buffer.rewinds >= 1);
    assert!(during <= 480 + 160, "{during}");
    assert_eq!(m.concealed_since(215), 0);
}

/// A single very late packet is dropped and counted (RFC 3550: it was received, so it is not
/// lost), and does not resynchronise the stream.
#[test]
fn a_very_late_packet_is_dropped_not_resynced() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 200, |k, _| {
        Some(if k == 100 { 8 * 300 } else { 0 })
    });
    let s = m.rx.stats();
    assert_eq!(s.late, 1);
    assert_eq!(s.resyncs, 0);
    assert_eq!(s.cumulative_lost, 0);
}

/// Malformed packets are refused with the precise reason and change nothing.
#[test]
fn garbage_is_refused_precisely() {
    let mut rx = receiver();
    assert_eq!(rx.push(0, &[0x80; 5]), Err(RtpError::TooShort { len: 5 }));
    let mut p = rtp(0, false, 1, 1, 1, &[0xFF; 160]);
    p[0] = 0x40;
    assert_eq!(rx.push(0, &p), Err(RtpError::Version { version: 1 }));
    // CSRC count 3 with no CSRCs.
    let mut p = rtp(0, false, 1, 1, 1, &[]);
    p[0] = 0x83;
    assert_eq!(
        rx.push(0, &p),
        Err(RtpError::Truncated {
            needed: 24,
            len: 12
        })
    );
    // Padding count larger than the payload.
    let mut p = rtp(0, false, 1, 1, 1, &[0xFF, 0xFF, 50]);
    p[0] |= 0x20;
    assert_eq!(rx.push(0, &p), Err(RtpError::Padding { count: 50 }));
    assert_eq!(
        rx.push(0, &rtp(0, false, 1, 1, 1, &[])),
        Err(RtpError::EmptyPayload { pt: 0 })
    );
    assert_eq!(
        rx.push(0, &rtp(101, false, 1, 1, 1, &[1, 2])),
        Err(RtpError::EventPayload { len: 2 })
    );
    assert_eq!(
        rx.push(0, &rtp(0, false, 1, 1, 1, &[0xFF; 3000])),
        Err(RtpError::PayloadTooLong {
            samples: 3000,
            max: 960
        })
    );
    assert_eq!(
        rx.push(0, &rtp(18, false, 1, 1, 1, &[0; 20])),
        Ok(Received::Dropped(DropReason::UnknownPayload { pt: 18 }))
    );
    let s = rx.stats();
    assert_eq!(s.malformed, 7);
    assert_eq!(s.unknown_payload, 1);
    assert_eq!(s.packets, 0);
    assert_eq!(s.ssrc, None);
    // Padding, CSRCs and a header extension are all parsed (RFC 3550 §5.1, §5.3.1).
    let mut p = vec![0x80 | 0x20 | 0x10 | 0x01, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1];
    p.extend_from_slice(&[0, 0, 0, 9]); // CSRC
    p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension, 1 word
    p.extend_from_slice(&[0xFF; 160]);
    p.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
    let mut rx = Receiver::new(ReceiverConfig {
        min_sequential: 1,
        ..ReceiverConfig::new(PayloadMap::new(0, Codec::Pcmu))
    })
    .unwrap();
    assert_eq!(rx.push(0, &p), Ok(Received::Audio { samples: 160 }));
}

/// Bad configurations are refused with the field named.
#[test]
fn invalid_configuration_names_the_field() {
    let base = ReceiverConfig::new(PayloadMap::new(0, Codec::Pcmu));
    let e = Receiver::new(ReceiverConfig {
        max_delay_ms: 5,
        ..base
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "max_delay_ms = 5 is outside 20 ..= 1000");
    assert!(
        Receiver::new(ReceiverConfig {
            min_delay_ms: 200,
            ..base
        })
        .is_err()
    );
    assert!(
        Receiver::new(ReceiverConfig {
            payloads: PayloadMap::new(0, Codec::Pcmu).with_events(0),
            ..base
        })
        .is_err()
    );
}

/// A media thread that runs late misses pulls: the audio due meanwhile is skipped, and the
/// delay afterwards is what the jitter statistics ask for, with nothing to shrink. (Before
/// playout followed the clock, each missed 20 ms tick added 20 ms to the delay, which the
/// buffer then shrank one pitch period at a time, analysing the pitch on every tick: under
/// overload that work fed the overload.)
#[test]
fn missed_pulls_skip_their_audio_and_keep_the_delay() {
    let mut peer = Peer::new(160);
    let mut m = Media::new(receiver(), 160);
    run(&mut peer, &mut m, 100, |_, _| Some(0));
    let before = m.pulls.last().map(|p| p.delay).unwrap();
    let shrunk_before = m.rx.stats().buffer.shrunk;
    // The thread stalls for three ticks: no pulls; the packets sent meanwhile are read at
    // the next tick, all at once (so they look late: the target delay grows).
    m.now += 3 * 160;
    run(&mut peer, &mut m, 100, |_, _| Some(0));
    let s = m.rx.stats();
    assert_eq!(s.buffer.skipped, 3 * 160, "{s:?}");
    assert_eq!(s.buffer.shrunk, shrunk_before, "{s:?}");
    let target = (s.target_delay_ms * 8.0).round() as u32;
    let after: Vec<u32> = m.pulls[101..].iter().map(|p| p.delay).collect();
    assert!(
        after.iter().all(|&d| d <= target + 80),
        "before {before}, target {target}, after {after:?}"
    );
    assert_eq!(m.concealed_since(101), 0);
}
