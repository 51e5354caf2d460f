//! The real-time contract: once built, a session never touches the heap. A counting global
//! allocator counts the heap operations of the thread under test while 50 calls run for
//! 30 s of media time through everything the media thread does: push (in order, reordered,
//! lost, duplicated, late, garbage, a new SSRC, timestamp jumps), pull, events and digits
//! both ways, sending, RTCP both ways, statistics, and the PLC on its own.

use tipring_dsp::plc::Plc;
use tipring_rtp::{Codec, PayloadMap, ReceiverConfig, SenderConfig, Session, SessionConfig, Ssrc};

#[global_allocator]
static GLOBAL: tipring_testkit::Counting = tipring_testkit::Counting;

fn session(ssrc: u32, codec: Codec, pt: u8) -> Session {
    Session::new(
        SessionConfig {
            receiver: ReceiverConfig::new(PayloadMap::new(pt, codec).with_events(101)),
            sender: SenderConfig {
                codec,
                payload_type: pt,
                event_payload_type: Some(101),
                ssrc: Ssrc(ssrc),
                initial_seq: (ssrc as u16).wrapping_mul(7),
                initial_timestamp: ssrc.wrapping_mul(1_000_003),
                ptime_ms: 20,
            },
            ntp_at_zero: 0,
        },
        "no-alloc@tipring",
    )
    .unwrap()
}

/// The allocator does count: a `Vec` is seen.
#[test]
fn the_counter_sees_a_vec() {
    let (_, ops) = tipring_testkit::count(|| std::hint::black_box(vec![1u8; 10]));
    assert!(ops >= 1);
}

#[test]
fn a_session_never_allocates_after_new() {
    const CALLS: usize = 50;
    // Pairs of sessions: `near[i]` is the call under test, `far[i]` its peer.
    let mut near: Vec<Session> = (0..CALLS)
        .map(|i| session(1 + i as u32, Codec::Pcmu, 0))
        .collect();
    let mut far: Vec<Session> = (0..CALLS)
        .map(|i| session(1_000 + i as u32, Codec::Pcmu, 0))
        .collect();
    // Fixed buffers, allocated before counting.
    let mut wire = vec![[0u8; 256]; 8];
    let mut wire_len = [0usize; 8];
    let mut held = [0u8; 256];
    let mut held_len = 0usize;
    let mut frame = [0i16; 160];
    let mut speech = [0i16; 160];
    let mut rtcp = [0u8; 256];
    let mut plc = Plc::new();
    let garbage = [0x80u8, 0x7F, 1, 2, 3];

    let ((), ops) = tipring_testkit::count(|| {
        for tick in 0..1_500u64 {
            let now = tick * 160;
            for (k, s) in speech.iter_mut().enumerate() {
                *s = ((now + k as u64) % 80) as i16 * 200 - 8000;
            }
            for i in 0..CALLS {
                let (a, b) = (&mut near[i], &mut far[i]);
                if tick == 700 {
                    // Timestamp jump on the far side: it restarts its clock (pause far ahead).
                    b.tx.pause(80_000);
                }
                if tick % 100 == 10 {
                    b.tx.send_digit('7', 60).unwrap();
                    a.tx.send_digit('#', 80).unwrap();
                }
                // Far end talks.
                b.tx.push_audio(&speech);
                let mut n = 0;
                while let Some(len) = b.tx.poll_packet(&mut wire[n]) {
                    wire_len[n] = len;
                    n += 1;
                }
                // Network: every 13th packet lost, every 7th held back a tick (reordered),
                // every 11th duplicated, and garbage now and then.
                for k in 0..n {
                    let p = &wire[k][..wire_len[k]];
                    match tick % 13 {
                        0 => continue,
                        3 => {
                            held[..p.len()].copy_from_slice(p);
                            held_len = p.len();
                            continue;
                        }
                        _ => {}
                    }
                    let _ = a.rx.push(now, p);
                    if tick % 11 == 0 {
                        let _ = a.rx.push(now, p);
                    }
                }
                if tick % 13 == 4 && held_len > 0 {
                    let _ = a.rx.push(now, &held[..held_len]);
                }
                if tick % 17 == 0 {
                    let _ = a.rx.push(now, &garbage);
                }
                // The media tick of the call under test.
                let _ = a.rx.pull(now, &mut frame);
                while a.rx.poll_event().is_some() {}
                a.tx.push_audio(&frame);
                while let Some(len) = a.tx.poll_packet(&mut wire[0]) {
                    let _ = b.rx.push(now, &wire[0][..len]);
                }
                let _ = b.rx.pull(now, &mut frame);
                while b.rx.poll_event().is_some() {}
                // RTCP both ways every 5 s.
                if tick % 250 == 100 {
                    let len = a.build_rtcp(now, &mut rtcp).unwrap();
                    let _ = b.handle_rtcp(now, &rtcp[..len]);
                    let len = b.build_rtcp(now, &mut rtcp).unwrap();
                    let _ = a.handle_rtcp(now, &rtcp[..len]);
                    let _ = a.handle_rtcp(now, &garbage);
                }
                std::hint::black_box(a.stats());
            }
            // The PLC alone, any lengths.
            plc.good(&mut speech[..37]);
            plc.conceal(&mut frame[..123]);
            plc.good(&mut speech);
        }
    });
    assert_eq!(ops, 0, "heap operations after new");
    // And it all happened.
    let s = near[0].stats();
    assert!(s.receiver.buffer.concealed > 0);
    assert!(s.receiver.duplicates > 0);
    assert!(s.receiver.malformed > 0);
    assert!(s.receiver.resyncs > 0);
    assert!(s.receiver.events.digits > 0);
    assert!(s.rtt_ms.is_some());
    assert!(far[0].stats().receiver.events.digits > 0);
}

/// A new SSRC taking over allocates nothing either.
#[test]
fn an_ssrc_change_never_allocates() {
    let mut a = session(1, Codec::Pcma, 8);
    let mut b = session(2, Codec::Pcma, 8);
    let mut c = session(3, Codec::Pcma, 8);
    let mut buf = [0u8; 256];
    let mut frame = [0i16; 160];
    let ((), ops) = tipring_testkit::count(|| {
        for tick in 0..400u64 {
            let now = tick * 160;
            let src = if tick < 200 { &mut b } else { &mut c };
            src.tx.push_audio(&[100; 160]);
            while let Some(len) = src.tx.poll_packet(&mut buf) {
                let _ = a.rx.push(now, &buf[..len]);
            }
            let _ = a.rx.pull(now, &mut frame);
        }
    });
    assert_eq!(ops, 0);
    assert_eq!(a.stats().receiver.ssrc_changes, 1);
}

/// Opus both ways, with loss (decoder concealment and FEC) and digits: no heap operations
/// from Rust, and libopus's own scratch memory is on the stack (see `tipring_dsp::opus`).
#[cfg(feature = "opus")]
#[test]
fn an_opus_session_never_allocates() {
    let mut a = session(1, Codec::Opus, 111);
    let mut b = session(2, Codec::Opus, 111);
    let mut buf = [0u8; 1_500];
    let mut frame = [0i16; 160];
    let speech: Vec<i16> = (0..160)
        .map(|k| ((k * 37) % 200) as i16 * 40 - 4000)
        .collect();
    let ((), ops) = tipring_testkit::count(|| {
        for tick in 0..500u64 {
            let now = tick * 160;
            if tick % 100 == 50 {
                b.tx.send_digit('3', 60).unwrap();
            }
            b.tx.push_audio(&speech);
            while let Some(len) = b.tx.poll_packet(&mut buf) {
                if tick % 9 != 4 {
                    let _ = a.rx.push(now, &buf[..len]);
                }
            }
            let _ = a.rx.pull(now, &mut frame);
            while a.rx.poll_event().is_some() {}
            std::hint::black_box(a.stats());
        }
    });
    assert_eq!(ops, 0);
    let s = a.stats().receiver;
    assert!(s.buffer.concealed > 0);
    assert_eq!(s.events.digits, 5);
}
