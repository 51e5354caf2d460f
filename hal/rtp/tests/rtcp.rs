//! RTCP between two sessions (RFC 3550 §6.4): SR and RR round trip, round-trip time from
//! LSR/DLSR, loss and jitter as each side reports them.

mod common;

use tipring_dsp::synth::Rng;
use tipring_rtp::rtcp::{self, PT_RR, PT_SR, RtcpPacket};
use tipring_rtp::{
    Codec, PayloadMap, ReceiverConfig, RtcpError, SenderConfig, Session, SessionConfig, Ssrc,
};

fn session(ssrc: u32, ntp_at_zero: u64) -> Session {
    Session::new(
        SessionConfig {
            receiver: ReceiverConfig::new(PayloadMap::new(0, Codec::Pcmu).with_events(101)),
            sender: SenderConfig {
                codec: Codec::Pcmu,
                payload_type: 0,
                event_payload_type: Some(101),
                ssrc: Ssrc(ssrc),
                initial_seq: ssrc as u16,
                initial_timestamp: ssrc,
                ptime_ms: 20,
            },
            ntp_at_zero,
        },
        "test@tipring",
    )
    .unwrap()
}

/// A one-way network: delay in samples, a loss pattern, optional jitter.
struct Link {
    delay: u64,
    queue: Vec<(u64, Vec<u8>)>,
}

impl Link {
    fn send(&mut self, now: u64, extra: u64, p: &[u8]) {
        self.queue.push((now + self.delay + extra, p.to_vec()));
    }
    fn due(&mut self, now: u64) -> Vec<Vec<u8>> {
        self.queue.sort_by_key(|q| q.0);
        let k = self.queue.iter().take_while(|q| q.0 <= now).count();
        self.queue.drain(..k).map(|q| q.1).collect()
    }
}

/// Two sessions talking for `ticks` 20 ms ticks over links with 40 ms one-way delay; A→B
/// loses every 10th packet and B→A delays vary by 0, 20 or 40 ms. RTCP every 5 s each way, B's half a
/// second after A's.
fn converse(ticks: u64) -> (Session, Session, Vec<Option<f32>>) {
    let mut a = session(0xAAAA, 0x1234_5678_0000_0000);
    let mut b = session(0xBBBB, 0x9999_0000_0000_0000);
    let mut ab = Link {
        delay: 320,
        queue: Vec::new(),
    };
    let mut ba = Link {
        delay: 320,
        queue: Vec::new(),
    };
    let mut ab_rtcp = Link {
        delay: 320,
        queue: Vec::new(),
    };
    let mut ba_rtcp = Link {
        delay: 320,
        queue: Vec::new(),
    };
    let mut rng = Rng::new(5);
    let mut buf = [0u8; 1500];
    let mut frame = [0i16; 160];
    let mut rtts = Vec::new();
    let mut k_ab = 0;
    for tick in 0..ticks {
        let now = tick * 160;
        for (s, link, rtcp_in) in [
            (&mut a, &mut ba, &mut ba_rtcp),
            (&mut b, &mut ab, &mut ab_rtcp),
        ] {
            for p in link.due(now) {
                let _ = s.rx.push(now, &p);
            }
            for p in rtcp_in.due(now) {
                if let Ok(summary) = s.handle_rtcp(now, &p)
                    && s.tx.ssrc() == Ssrc(0xAAAA)
                    && summary.report_on_us
                {
                    rtts.push(summary.rtt_ms);
                }
            }
            let _ = s.rx.pull(now, &mut frame);
        }
        let speech: Vec<i16> = (0..160).map(|n| common::signal(now + n)).collect();
        a.tx.push_audio(&speech);
        while let Some(len) = a.tx.poll_packet(&mut buf) {
            k_ab += 1;
            if k_ab % 10 != 0 {
                ab.send(now, 0, &buf[..len]);
            }
        }
        b.tx.push_audio(&speech);
        while let Some(len) = b.tx.poll_packet(&mut buf) {
            let j = 160 * common::jitter(&mut rng, 2);
            ba.send(now, j, &buf[..len]);
        }
        if tick % 250 == 249 {
            let len = a.build_rtcp(now, &mut buf).unwrap();
            ab_rtcp.send(now, 0, &buf[..len]);
        }
        if tick % 250 == 24 && tick > 250 {
            let len = b.build_rtcp(now, &mut buf).unwrap();
            ba_rtcp.send(now, 0, &buf[..len]);
        }
    }
    (a, b, rtts)
}

/// RFC 3550 §6.4.1: the round-trip time A − LSR − DLSR, here 2 × 40 ms, is measured from
/// our own clock only (the two sides' NTP clocks are unrelated).
#[test]
fn rfc3550_6_4_1_round_trip_time_from_lsr_and_dlsr() {
    let (a, b, rtts) = converse(1_600);
    println!("RTTs measured by A: {rtts:?}");
    assert!(!rtts.is_empty());
    for rtt in rtts.iter().flatten() {
        assert!((rtt - 80.0).abs() < 0.1, "{rtt}");
    }
    let sa = a.stats();
    assert!((sa.rtt_ms.unwrap() - 80.0).abs() < 0.1);
    // B heard A's sender reports.
    let sb = b.stats();
    let sr = sb.last_sr.unwrap();
    assert_eq!(sr.ssrc, Ssrc(0xAAAA));
    assert!(sr.packets > 0);
}

/// RFC 3550 §6.4.1/§A.3/§A.8: each side reports what it received; the other sees it.
#[test]
fn rfc3550_report_blocks_carry_loss_and_jitter() {
    let (a, b, _) = converse(1_600);
    let sa = a.stats();
    let sb = b.stats();
    println!(
        "B received {} (lost {}, fraction {}/256, jitter {:.1} ms); A received {} \
         (jitter {:.1} ms); A's view of B's report: {:?}",
        sb.packets_received,
        sb.cumulative_lost,
        sb.fraction_lost,
        sb.jitter_ms,
        sa.packets_received,
        sa.jitter_ms,
        sa.remote
    );
    // Every 10th A→B packet lost.
    let remote = sa.remote.unwrap();
    assert!((remote.cumulative_lost - sb.cumulative_lost).abs() <= 30);
    assert!(sb.cumulative_lost > 100);
    assert!(
        (24..=27).contains(&remote.fraction_lost),
        "{}",
        remote.fraction_lost
    );
    // B→A delays vary by 0, 20 or 40 ms (so packets also reorder): the RFC 3550 estimator
    // tends to the mean |D| between consecutive arrivals, near 18 ms. A→B has none.
    assert!(
        sa.jitter_ms > 12.0 && sa.jitter_ms < 24.0,
        "{}",
        sa.jitter_ms
    );
    assert_eq!(sb.jitter_ms, 0.0);
    // All sent is received or lost, but for the packets still in flight.
    let accounted = sb.packets_received + sb.cumulative_lost as u64;
    assert!(
        sa.packets_sent - accounted <= 3,
        "{} vs {accounted}",
        sa.packets_sent
    );
    assert!(sa.rtcp_sent >= 6 && sb.rtcp_received >= 6);
}

/// SR when we sent RTP since the last report, RR otherwise (RFC 3550 §6.4); every compound
/// carries the CNAME (§6.1).
#[test]
fn sr_or_rr_depending_on_sending() {
    let mut s = session(1, 0);
    let mut buf = [0u8; 200];
    let n = s.build_rtcp(0, &mut buf).unwrap();
    let kinds: Vec<u8> = rtcp::parse(&buf[..n])
        .map(|p| match p.unwrap() {
            RtcpPacket::SenderReport { .. } => PT_SR,
            RtcpPacket::ReceiverReport { .. } => PT_RR,
            RtcpPacket::Other { pt } => pt,
            RtcpPacket::Bye { .. } => 203,
        })
        .collect();
    assert_eq!(kinds, [PT_RR, 202]);
    s.tx.push_audio(&[0; 160]);
    let mut pkt = [0u8; 200];
    let _ = s.tx.poll_packet(&mut pkt).unwrap();
    let n = s.build_rtcp(8000, &mut buf).unwrap();
    assert!(matches!(
        rtcp::parse(&buf[..n]).next(),
        Some(Ok(RtcpPacket::SenderReport { .. }))
    ));
    let n = s.build_rtcp(16000, &mut buf).unwrap();
    assert!(matches!(
        rtcp::parse(&buf[..n]).next(),
        Some(Ok(RtcpPacket::ReceiverReport { .. }))
    ));
    assert!(matches!(
        s.build_rtcp(0, &mut buf[..10]),
        Err(RtcpError::BufferTooSmall { .. })
    ));
}

/// Invalid compounds are refused whole and counted; BYE and unknown types are tolerated.
#[test]
fn incoming_rtcp_is_checked_and_other_types_ignored() {
    let mut s = session(1, 0);
    assert!(s.handle_rtcp(0, &[1, 2, 3]).is_err());
    assert!(s.handle_rtcp(0, &[0x80, 204, 0, 1, 0, 0, 0, 1]).is_err());
    let mut ok = vec![0x80, PT_RR, 0, 1, 0, 0, 0, 9];
    ok.extend_from_slice(&[0x80, 206, 0, 1, 0, 0, 0, 9]); // PSFB
    ok.extend_from_slice(&[0x81, 203, 0, 1, 0, 0, 0, 9]); // BYE
    let summary = s.handle_rtcp(0, &ok).unwrap();
    assert!(summary.bye);
    assert!(!summary.report_on_us);
    let st = s.stats();
    assert_eq!(st.rtcp_malformed, 2);
    assert_eq!(st.rtcp_received, 1);
    assert!(st.remote.is_none());
}
