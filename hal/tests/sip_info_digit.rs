//! A digit the peer signalled by SIP INFO (`SlotCommand::Digit`) is regenerated in band into
//! the slot's received audio, like an RFC 4733 digit: a DTMF receiver on what the engine
//! reads finds it exactly once. A slot without a call ignores the command.
#![cfg(feature = "sip")]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use tipring_dsp::dtmf::{DtmfEvent, DtmfRx, DtmfRxConfig};
use tipring_hal::sip::{self, RtpCodec, RtpParams, SipMediaConfig, SlotCommand};
use tipring_hal::{Pacing, Shard};

/// A SIP media shard of `channels` slots on loopback (ports from `from`, virtual clock) and
/// a peer socket; slot 0 has a PCMU call with telephone-event 101 to the peer.
fn shard_with_a_call(
    from: u16,
    channels: u32,
) -> (sip::SipMedia, sip::SipMediaControl, UdpSocket, u16) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let base = (0..50)
        .map(|i| from + i * 4)
        .find(|b| UdpSocket::bind((lo, *b)).is_ok() && UdpSocket::bind((lo, b + 1)).is_ok())
        .expect("a free port pair");
    let (shard, mut control) = sip::build(&SipMediaConfig {
        first_channel: 10,
        channels,
        bind: lo,
        rtp_port: base,
        pacing: Pacing::Virtual,
    })
    .unwrap();
    let peer = UdpSocket::bind((lo, 0)).unwrap();
    control
        .send(SlotCommand::Start {
            slot: 0,
            params: RtpParams {
                remote: Some(peer.local_addr().unwrap()),
                codec: RtpCodec::Pcmu,
                pt: 0,
                event_pt: Some(101),
                ssrc: 1,
                seq: 1,
                ts: 0,
                symmetric: false,
                ptime_ms: 20,
            },
        })
        .unwrap();
    (shard, control, peer, base)
}

/// Reads slot `slot`'s frame for this tick as linear samples.
fn read_pcm(shard: &mut sip::SipMedia, slot: usize) -> Vec<i16> {
    let mut frame = [0u8; 320];
    shard.read(slot, &mut frame).unwrap();
    frame
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn an_info_digit_is_heard_in_band_once() {
    let (mut shard, mut control, _peer, _) = shard_with_a_call(45_400, 2);
    // Slot 1 has no call: its digit goes nowhere.
    control
        .send(SlotCommand::Digit {
            slot: 1,
            digit: '9',
        })
        .unwrap();
    let mut rx = [
        DtmfRx::new(DtmfRxConfig::default()).unwrap(),
        DtmfRx::new(DtmfRxConfig::default()).unwrap(),
    ];
    let mut heard: [Vec<char>; 2] = [Vec::new(), Vec::new()];
    for tick in 0..50 {
        if tick == 5 {
            control
                .send(SlotCommand::Digit {
                    slot: 0,
                    digit: '5',
                })
                .unwrap();
        }
        shard.wait_tick().unwrap();
        for slot in 0..2 {
            let pcm = read_pcm(&mut shard, slot);
            rx[slot].process(&pcm);
            while let Some(e) = rx[slot].poll_event() {
                if let DtmfEvent::Begin { digit, .. } = e {
                    heard[slot].push(digit);
                }
            }
        }
    }
    assert_eq!(heard[0], ['5']);
    assert!(heard[1].is_empty(), "{:?}", heard[1]);
}

/// An RFC 4733 event packet for `digit` (`end` sets the E bit), from SSRC 7.
fn event_packet(seq: u16, ts: u32, digit: u8, duration: u16, end: bool, marker: bool) -> Vec<u8> {
    let mut p = vec![0x80, 101 | if marker { 0x80 } else { 0 }];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&7u32.to_be_bytes());
    p.extend_from_slice(&[digit, 10 | if end { 0x80 } else { 0 }]);
    p.extend_from_slice(&duration.to_be_bytes());
    p
}

/// A phone that signals each key press both by RFC 4733 and by SIP INFO (some do, and some
/// PBXs forward both) is heard once per press, whichever copy comes first; a second press
/// of the same key after a pause is heard again.
#[test]
fn a_key_press_sent_by_info_and_rfc4733_is_heard_once() {
    let (mut shard, mut control, peer, base) = shard_with_a_call(45_800, 1);
    let to = (Ipv4Addr::LOCALHOST, base);
    let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    let mut heard = Vec::new();
    let mut seq = 100u16;
    // Presses: '7' by RFC 4733 at tick 5 and by INFO at tick 6; '3' by INFO at tick 40 and
    // by RFC 4733 at tick 41; '3' again by RFC 4733 only at tick 90.
    let presses: [(u32, u8, bool); 5] = [
        (5, 7, false),
        (6, 7, true),
        (40, 3, true),
        (41, 3, false),
        (90, 3, false),
    ];
    for tick in 0u32..140 {
        for &(at, digit, info) in &presses {
            if info && tick == at {
                control
                    .send(SlotCommand::Digit {
                        slot: 0,
                        digit: char::from(b'0' + digit),
                    })
                    .unwrap();
            }
            // An event of 100 ms: packets every 20 ms, then the end three times.
            if !info && (at..at + 8).contains(&tick) {
                let k = tick - at;
                let ts = 160 * at;
                let end = k >= 5;
                let duration = (160 * (k.min(5) + 1)) as u16;
                seq = seq.wrapping_add(1);
                peer.send_to(&event_packet(seq, ts, digit, duration, end, k == 0), to)
                    .unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        shard.wait_tick().unwrap();
        rx.process(&read_pcm(&mut shard, 0));
        while let Some(e) = rx.poll_event() {
            if let DtmfEvent::Begin { digit, .. } = e {
                heard.push(digit);
            }
        }
    }
    assert_eq!(heard, ['7', '3', '3']);
}
