//! The SIP channels' media shard keeps the real-time contract: once built, `wait_tick`,
//! `read`, `write` and `poll_signal` never touch the heap while RTP audio and RFC 4733
//! events arrive from a peer socket and packets go back to it. Counts the test thread's heap
//! operations with the workspace's counting allocator (the peer runs with counting off).
#![cfg(feature = "sip")]

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use tipring_hal::sip::{self, RtpCodec, RtpParams, SipMediaConfig, SlotCommand};
use tipring_hal::{Pacing, Shard, Signal};

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

#[test]
fn rtp_in_and_out_never_allocates_and_each_event_is_one_digit() {
    const SLOTS: u32 = 8;
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    // Find a free run of ports.
    let base = (0..50)
        .map(|i| 41_000 + i * 40)
        .find(|b| (0..SLOTS).all(|s| UdpSocket::bind((lo, b + 2 * s as u16)).is_ok()))
        .expect("a free port range");
    let (mut shard, mut control) = sip::build(&SipMediaConfig {
        first_channel: 100,
        channels: SLOTS,
        bind: lo,
        rtp_port: base,
        pacing: Pacing::Virtual,
    })
    .unwrap();
    let peer = UdpSocket::bind((lo, 0)).unwrap();
    peer.set_nonblocking(true).unwrap();
    for slot in 0..SLOTS as usize {
        assert!(control.send(SlotCommand::Start {
            slot,
            params: RtpParams {
                remote: Some(peer.local_addr().unwrap()),
                codec: RtpCodec::Pcmu,
                pt: 0,
                event_pt: Some(101),
                ssrc: 7 + slot as u32,
                seq: 100,
                ts: 1000,
                symmetric: true,
            },
        }));
    }
    let mut frame = [0u8; 320];
    let mut digits = Vec::with_capacity(64);
    let mut allocations = 0;
    for tick in 0..100u32 {
        // The peer: one audio packet per slot per tick, and key '5' on slot 3 as RFC 4733
        // (start three times, updates, end three times: one key press).
        for slot in 0..SLOTS {
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
                    &rtp(500 + tick as u16, 1600, 101, tick == 10, &ev),
                    (lo, base + 6),
                );
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        let ((), n) = tipring_testkit::count(|| {
            shard.wait_tick().unwrap();
            for slot in 0..SLOTS as usize {
                shard.read(slot, &mut frame).unwrap();
                shard.write(slot, &frame).unwrap();
            }
        });
        allocations += n;
        while let Some((slot, s)) = shard.poll_signal() {
            digits.push((slot, s));
        }
        while peer.recv_from(&mut [0u8; 1500]).is_ok() {}
    }
    assert_eq!(allocations, 0, "heap operations on the media side");
    assert_eq!(digits, [(3, Signal::Digit('5'))]);
}
