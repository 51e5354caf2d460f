//! A digit the peer signalled by SIP INFO (`SlotCommand::Digit`) is regenerated in band into
//! the slot's received audio, like an RFC 4733 digit: a DTMF receiver on what the engine
//! reads finds it exactly once. A slot without a call ignores the command.
#![cfg(feature = "sip")]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use tipring_dsp::dtmf::{DtmfEvent, DtmfRx, DtmfRxConfig};
use tipring_hal::sip::{self, RtpCodec, RtpParams, SipMediaConfig, SlotCommand};
use tipring_hal::{Pacing, Shard};

#[test]
fn an_info_digit_is_heard_in_band_once() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let base = (0..50)
        .map(|i| 45_400 + i * 4)
        .find(|b| UdpSocket::bind((lo, *b)).is_ok() && UdpSocket::bind((lo, b + 1)).is_ok())
        .expect("a free port pair");
    let (mut shard, mut control) = sip::build(&SipMediaConfig {
        first_channel: 10,
        channels: 2,
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
    let mut frame = [0u8; 320];
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
            shard.read(slot, &mut frame).unwrap();
            let pcm: Vec<i16> = frame
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
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
