//! A SIP slot carrying Opus (RFC 7587): the engine side stays 8 kHz linear, so bridging a
//! SIP Opus call to a G.711 or analog line is a transcode by construction. A peer session
//! (`tipring-rtp`, Opus) sends a 1 kHz tone to the slot and the slot sends a 600 Hz tone
//! back; each side must hear the other's tone at about its level, and the slot's figures
//! must say `opus`.
#![cfg(all(feature = "sip", feature = "opus"))]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use tipring_hal::sip::{self, RtpCodec, RtpParams, SipMediaConfig, SlotCommand};
use tipring_hal::{ChannelId, Pacing, Shard};
use tipring_rtp::{Codec, PayloadMap, ReceiverConfig, SenderConfig, Session, SessionConfig, Ssrc};

fn sine(freq: f32, amp: f32, start: usize, out: &mut [i16]) {
    for (i, o) in out.iter_mut().enumerate() {
        let t = (start + i) as f32 / 8000.0;
        *o = (amp * (2.0 * std::f32::consts::PI * freq * t).sin()) as i16;
    }
}

/// Power of `freq` in `x` relative to the whole signal's (1.0: a pure tone).
fn purity(x: &[i16], freq: f32) -> (f32, f32) {
    let w = 2.0 * std::f32::consts::PI * freq / 8000.0;
    let (mut re, mut im, mut total) = (0.0f64, 0.0f64, 0.0f64);
    for (i, v) in x.iter().enumerate() {
        let v = f64::from(*v);
        re += v * f64::from((w * i as f32).cos());
        im += v * f64::from((w * i as f32).sin());
        total += v * v;
    }
    let n = x.len() as f64;
    let tone = 2.0 * (re * re + im * im) / n;
    let rms = (total / n).sqrt();
    ((tone / total.max(1.0)) as f32, rms as f32)
}

#[test]
fn an_opus_slot_carries_tones_both_ways() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let base = (0..50)
        .map(|i| 45_000 + i * 4)
        .find(|b| UdpSocket::bind((lo, *b)).is_ok() && UdpSocket::bind((lo, b + 1)).is_ok())
        .expect("a free port pair");
    let (mut shard, mut control) = sip::build(&SipMediaConfig {
        first_channel: 10,
        channels: 1,
        bind: lo,
        rtp_port: base,
        pacing: Pacing::Virtual,
    })
    .unwrap();
    let peer_sock = UdpSocket::bind((lo, 0)).unwrap();
    peer_sock.set_nonblocking(true).unwrap();
    control
        .send(SlotCommand::Start {
            slot: 0,
            params: RtpParams {
                remote: Some(peer_sock.local_addr().unwrap()),
                codec: RtpCodec::Opus,
                pt: 111,
                event_pt: Some(101),
                ssrc: 1,
                seq: 1,
                ts: 0,
                symmetric: false,
                ptime_ms: 20,
            },
        })
        .unwrap();
    let mut peer = Session::new(
        SessionConfig {
            receiver: ReceiverConfig::new(PayloadMap::new(111, Codec::Opus).with_events(101)),
            sender: SenderConfig {
                codec: Codec::Opus,
                payload_type: 111,
                event_payload_type: Some(101),
                ssrc: Ssrc(2),
                initial_seq: 9,
                initial_timestamp: 77,
                ptime_ms: 20,
            },
            ntp_at_zero: 0,
        },
        "peer@test",
    )
    .unwrap();
    let to_slot = (lo, base);
    let (mut heard_by_slot, mut heard_by_peer) = (Vec::new(), Vec::new());
    let mut frame = [0u8; 320];
    let mut buf = [0u8; 1500];
    for tick in 0..150usize {
        let mut tone = [0i16; 160];
        sine(1000.0, 8000.0, tick * 160, &mut tone);
        peer.tx.push_audio(&tone);
        while let Some(n) = peer.tx.poll_packet(&mut buf) {
            peer_sock.send_to(&buf[..n], to_slot).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        shard.wait_tick().unwrap();
        shard.read(0, &mut frame).unwrap();
        heard_by_slot.extend(
            frame
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]])),
        );
        let mut back = [0i16; 160];
        sine(600.0, 8000.0, tick * 160, &mut back);
        for (b, v) in frame.chunks_exact_mut(2).zip(back) {
            b.copy_from_slice(&v.to_le_bytes());
        }
        shard.write(0, &frame).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
        while let Ok(n) = peer_sock.recv(&mut buf) {
            let _ = peer.rx.push(tick as u64 * 160, &buf[..n]);
        }
        let mut out = [0i16; 160];
        let _ = peer.rx.pull(tick as u64 * 160, &mut out);
        heard_by_peer.extend_from_slice(&out);
    }
    // The last second of each direction: the tone, clean, at about its level (8000 peak is
    // 5657 RMS).
    let (p, rms) = purity(&heard_by_slot[8000..], 1000.0);
    assert!(
        p > 0.9 && (4500.0..7000.0).contains(&rms),
        "slot heard 1 kHz: purity {p}, rms {rms}"
    );
    let (p, rms) = purity(&heard_by_peer[8000..], 600.0);
    assert!(
        p > 0.9 && (4500.0..7000.0).contains(&rms),
        "peer heard 600 Hz: purity {p}, rms {rms}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1));
    let stats = control.stats().get(ChannelId(10)).expect("figures");
    assert_eq!(stats.codec, "opus");
    assert!(stats.packets_received > 100, "{stats:?}");
}
