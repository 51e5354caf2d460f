//! The SIP channels' media shard keeps the real-time contract: once built, `wait_tick`,
//! `read`, `write` and `poll_signal` never touch the heap while RTP audio and RFC 4733
//! events arrive from a peer socket, packets and RTCP go back to it, and calls stop and
//! start (sessions are built and dropped on the control side). Counts the test thread's
//! heap operations with the workspace's counting allocator (the peer and the control side
//! run with counting off).
//!
//! It also checks the DTMF conversion at the edge: an RFC 4733 key press comes out of
//! `read` as one in-band digit, and an in-band digit written to a slot whose peer accepts
//! telephone-event leaves as RFC 4733 events with the tone squelched from the audio.
#![cfg(feature = "sip")]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use tipring_dsp::dtmf::{DtmfEvent, DtmfGenConfig, DtmfGenerator, DtmfRx, DtmfRxConfig};
use tipring_dsp::g711::Law;
use tipring_hal::sip::{self, RtpCodec, RtpParams, SipMediaConfig, SlotCommand};
use tipring_hal::{ChannelId, Pacing, Shard};

#[global_allocator]
static GLOBAL: tipring_testkit::Counting = tipring_testkit::Counting;

fn rtp(seq: u16, ts: u32, pt: u8, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn params(remote: std::net::SocketAddr, ssrc: u32) -> RtpParams {
    RtpParams {
        remote: Some(remote),
        codec: RtpCodec::Pcmu,
        pt: 0,
        event_pt: Some(101),
        ssrc,
        seq: 100,
        ts: 1000,
        symmetric: true,
        ptime_ms: 20,
    }
}

#[test]
fn rtp_in_and_out_never_allocates_and_digits_convert_at_the_edge() {
    const SLOTS: u32 = 8;
    const TICKS: u32 = 260;
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Find a free run of ports (RTP and RTCP per slot).
    let base = (0..50)
        .map(|i| 41_000 + i * 40)
        .find(|b| {
            let socks: Vec<_> = (0..2 * SLOTS as u16)
                .map(|p| UdpSocket::bind((lo, b + p)))
                .collect();
            socks.iter().all(Result::is_ok)
        })
        .expect("a free port range");
    let (mut shard, mut control) = sip::build(&SipMediaConfig {
        first_channel: 100,
        channels: SLOTS,
        bind: lo,
        rtp_port: base,
        pacing: Pacing::Virtual,
    })
    .unwrap();
    // The peer: RTP on an even port, RTCP on the one above.
    let (peer, peer_rtcp) = (0..200)
        .map(|i| 43_000 + 2 * i)
        .find_map(|p| {
            Some((
                UdpSocket::bind((lo, p)).ok()?,
                UdpSocket::bind((lo, p + 1)).ok()?,
            ))
        })
        .expect("a free peer port pair");
    peer.set_nonblocking(true).unwrap();
    peer_rtcp.set_nonblocking(true).unwrap();
    let remote = peer.local_addr().unwrap();
    for slot in 0..SLOTS as usize {
        control
            .send(SlotCommand::Start {
                slot,
                params: params(remote, 7 + slot as u32),
            })
            .unwrap();
    }
    // What the engine would send on slot 5: the digit 7 in band, from tick 30.
    let mut keyed = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
    // What slot 3's reader hears, and what the peer hears from slot 5 in band.
    let mut heard = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    let mut far = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    let mut heard_digits = String::new();
    let mut far_digits = String::new();
    let (mut events_from_5, mut audio_from_5, mut rtcp) = (Vec::new(), 0, 0);
    let mut frame = [0u8; 320];
    let mut samples = [0i16; 160];
    let mut allocations = 0;
    let mut tap: Option<rtrb::Consumer<u8>> = None;
    let mut tapped = (0u32, 0u32);
    let mut datagram = [0u8; 1500];
    for tick in 0..TICKS {
        // The peer: one audio packet per slot per tick, and key '5' on slot 3 as RFC 4733
        // in place of the audio (start three times, updates, end three times: one key
        // press).
        for slot in 0..SLOTS {
            if slot == 3 && (10..16).contains(&tick) {
                continue;
            }
            let to = (lo, base + 2 * slot as u16);
            let _ = peer.send_to(
                &rtp(tick as u16, tick * 160, 0, tick == 0, &[0xff; 160]),
                to,
            );
        }
        if (10..16).contains(&tick) {
            let end = if tick >= 14 { 0x80 } else { 0 };
            let dur = ((tick - 9) * 160) as u16;
            let ev = [5, end | 10, (dur >> 8) as u8, dur as u8];
            for _ in 0..if tick == 10 || tick >= 14 { 3 } else { 1 } {
                let _ = peer.send_to(
                    &rtp(tick as u16, 1600, 101, tick == 10, &ev),
                    (lo, base + 6),
                );
            }
        }
        if tick == 30 {
            keyed.queue_digits("7").unwrap();
        }
        // The control side ends slot 2's call and starts another (the old session comes
        // back on the trash ring: the media side frees nothing).
        if tick == 100 {
            control.send(SlotCommand::Stop { slot: 2 }).unwrap();
        }
        // A packet capture of slot 4 from tick 20 to 150; its ring's consumer is kept
        // until the media side has let go of the producer.
        if tick == 20 {
            let (p, c) = rtrb::RingBuffer::new(1 << 16);
            control.tap(4, p).unwrap();
            tap = Some(c);
        }
        if tick == 150 {
            control.untap(4).unwrap();
        }
        if let Some(c) = tap.as_mut() {
            while let Some(t) = sip::tap_record(c) {
                assert_eq!(t.local.port(), base + 8);
                if t.sent {
                    tapped.1 += 1;
                } else {
                    tapped.0 += 1;
                }
            }
        }
        if tick == 120 {
            control
                .send(SlotCommand::Start {
                    slot: 2,
                    params: params(remote, 99),
                })
                .unwrap();
        }
        let mut tone = [0i16; 160];
        keyed.generate(&mut tone);
        let mut tone_bytes = [0u8; 320];
        for (b, v) in tone_bytes.chunks_exact_mut(2).zip(tone) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        let mut read3 = [0u8; 320];
        let ((), n) = tipring_testkit::count(|| {
            shard.wait_tick().unwrap();
            for slot in 0..SLOTS as usize {
                shard.read(slot, &mut frame).unwrap();
                if slot == 3 {
                    read3 = frame;
                }
                if slot == 5 {
                    shard.write(slot, &tone_bytes).unwrap();
                } else {
                    shard.write(slot, &frame).unwrap();
                }
            }
            assert!(shard.poll_signal().is_none());
        });
        allocations += n;
        for (o, b) in samples.iter_mut().zip(read3.chunks_exact(2)) {
            *o = i16::from_le_bytes([b[0], b[1]]);
        }
        heard.process(&samples);
        while let Some(ev) = heard.poll_event() {
            if let DtmfEvent::Begin { digit, .. } = ev {
                heard_digits.push(digit);
            }
        }
        while let Ok((len, from)) = peer.recv_from(&mut datagram) {
            if from.port() != base + 10 || len < 12 {
                continue;
            }
            let pt = datagram[1] & 0x7f;
            let payload = &datagram[12..len];
            if pt == 101 {
                events_from_5.push((payload[0], payload[1] & 0x80 != 0));
            } else if pt == 0 {
                audio_from_5 += 1;
                let pcm: Vec<i16> = payload.iter().map(|b| Law::Mu.decode(*b)).collect();
                far.process(&pcm);
                while let Some(ev) = far.poll_event() {
                    if let DtmfEvent::Begin { digit, .. } = ev {
                        far_digits.push(digit);
                    }
                }
            }
        }
        while peer_rtcp.recv_from(&mut datagram).is_ok() {
            rtcp += 1;
        }
    }
    assert_eq!(allocations, 0, "heap operations on the media side");
    // The tap saw slot 4's packets both ways for its 130 ticks (one in, one out each), and
    // the media side has dropped its end of the ring.
    assert!(
        tapped.0 >= 120 && tapped.1 >= 120,
        "tapped {tapped:?} (received, sent)"
    );
    assert!(tap.is_some_and(|c| c.is_abandoned()));
    assert_eq!(
        heard_digits, "5",
        "slot 3 hears the RFC 4733 key press once, in band"
    );
    // Slot 5: the tone left as events (start, updates, three ends), none of it in band.
    assert_eq!(far_digits, "", "no in-band tone reached the peer");
    assert!(
        events_from_5.iter().all(|(e, _)| *e == 7) && events_from_5.len() >= 4,
        "{events_from_5:?}"
    );
    assert_eq!(events_from_5.iter().filter(|(_, end)| *end).count(), 3);
    assert!(
        audio_from_5 > 200,
        "audio kept flowing: {audio_from_5} packets"
    );
    // Every slot sent one RTCP report (every 5 s, staggered by slot).
    assert_eq!(rtcp, SLOTS);
    // The figures the API shows.
    let board = control.stats();
    let s3 = board.get(ChannelId(103)).expect("slot 3 published");
    assert_eq!(s3.codec, "PCMU");
    assert_eq!(s3.digits_received, 1);
    assert!(s3.packets_received > 200, "{s3:?}");
    assert_eq!(board.get(ChannelId(105)).unwrap().digits_sent, 1);
    let s2 = board.get(ChannelId(102)).expect("slot 2 published");
    assert!(s2.packets_sent < 160, "slot 2 is its second call: {s2:?}");
    assert!(board.get(ChannelId(99)).is_none());
}
