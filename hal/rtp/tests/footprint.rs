//! Per-call memory and CPU: 2 000 calls run on one core, so every byte and microsecond of a
//! session counts. The sizes are checked (so growth is noticed); the cost is measured by an
//! ignored test (`cargo test -p tipring-rtp --release --test footprint -- --ignored
//! --nocapture`).

use tipring_rtp::{
    Codec, PayloadMap, Receiver, ReceiverConfig, SenderConfig, Session, SessionConfig, Ssrc,
};

fn config(ssrc: u32) -> SessionConfig {
    SessionConfig {
        receiver: ReceiverConfig::new(PayloadMap::new(0, Codec::Pcmu).with_events(101)),
        sender: SenderConfig {
            codec: Codec::Pcmu,
            payload_type: 0,
            event_payload_type: Some(101),
            ssrc: Ssrc(ssrc),
            initial_seq: 1,
            initial_timestamp: 1,
            ptime_ms: 20,
        },
        ntp_at_zero: 0,
    }
}

#[test]
fn per_call_memory() {
    let s = Session::new(config(1), "x").unwrap();
    let rx = size_of::<tipring_rtp::Receiver>();
    let tx = size_of::<tipring_rtp::Sender>();
    let session = size_of::<Session>();
    let rx_heap = s.rx.heap_bytes();
    let tx_heap = s.tx.heap_bytes();
    println!(
        "Receiver {rx} B + {rx_heap} B heap (jitter buffer: 100 ms max delay + 200 ms headroom), \
         Sender {tx} B + {tx_heap} B heap, Session {session} B: {} B per call in all",
        session + rx_heap + tx_heap
    );
    // The jitter buffer: 300 ms of 16-bit samples plus a presence bit each.
    assert_eq!(rx_heap, 2_432 * 2 + 2_432 / 8);
    assert!(rx <= 3_000, "{rx}");
    assert!(tx <= 400, "{tx}");
    assert!(session + rx_heap + tx_heap <= 10_500);
    // A longer maximum delay costs 2.1 bytes per extra sample.
    let big = Receiver::new(ReceiverConfig {
        max_delay_ms: 300,
        ..ReceiverConfig::new(PayloadMap::new(0, Codec::Pcmu))
    })
    .unwrap();
    println!("with 300 ms max delay: {} B heap", big.heap_bytes());
}

/// CPU per call per 20 ms tick, everything a media thread does for a G.711 call with
/// RFC 4733: push one packet, pull a frame, send a frame, 1 % loss; RTCP every 5 s.
#[test]
#[ignore = "timing measurement, run in release"]
#[expect(
    clippy::disallowed_methods,
    reason = "a benchmark reads the clock; the session layer does not"
)]
fn per_call_cpu() {
    const CALLS: usize = 2_000;
    const TICKS: u64 = 500;
    let mut near: Vec<Session> = (0..CALLS)
        .map(|i| Session::new(config(i as u32), "near").unwrap())
        .collect();
    let mut far: Vec<Session> = (0..CALLS)
        .map(|i| Session::new(config(100_000 + i as u32), "far").unwrap())
        .collect();
    let speech: Vec<i16> = (0..160)
        .map(|k| ((k * 37) % 200) as i16 * 40 - 4000)
        .collect();
    let mut frame = [0i16; 160];
    let mut buf = [0u8; 256];
    let mut packets = vec![Vec::new(); CALLS];
    // The far ends' packets, made outside the timing.
    let mut total = std::time::Duration::ZERO;
    for tick in 0..TICKS {
        let now = tick * 160;
        for (f, p) in far.iter_mut().zip(packets.iter_mut()) {
            p.clear();
            f.tx.push_audio(&speech);
            while let Some(len) = f.tx.poll_packet(&mut buf) {
                p.extend_from_slice(&buf[..len]);
            }
        }
        let t0 = std::time::Instant::now();
        for (i, (s, p)) in near.iter_mut().zip(&packets).enumerate() {
            if !(tick + i as u64).is_multiple_of(100) && !p.is_empty() {
                let _ = s.rx.push(now, p);
            }
            let _ = s.rx.pull(now, &mut frame);
            while s.rx.poll_event().is_some() {}
            s.tx.push_audio(&frame);
            while let Some(len) = s.tx.poll_packet(&mut buf) {
                std::hint::black_box(&buf[..len]);
            }
            if (tick + i as u64).is_multiple_of(250) {
                let len = s.build_rtcp(now, &mut buf).unwrap();
                std::hint::black_box(&buf[..len]);
            }
        }
        total += t0.elapsed();
    }
    let st = near[7].stats().receiver;
    println!(
        "call 7: delay {} ms, target {} ms, concealed {}, stretched {}, shrunk {}",
        st.delay_ms, st.target_delay_ms, st.buffer.concealed, st.buffer.stretched, st.buffer.shrunk
    );
    let per_tick = total.as_secs_f64() / TICKS as f64;
    let per_call = per_tick / CALLS as f64;
    println!(
        "{CALLS} calls: {:.2} ms per 20 ms tick ({:.1} % of a core), {:.2} µs per call per tick",
        per_tick * 1e3,
        per_tick / 0.020 * 100.0,
        per_call * 1e6
    );
}
