//! The sender: packetisation at any ptime from 20 ms ticks, talkspurt markers, RFC 4733
//! digits, and a sender → receiver round trip.

mod common;

use common::Media;
use rtp_rs::RtpReader;
use tipring_rtp::telephone_event::EventPayload;
use tipring_rtp::{
    Codec, ConfigError, PayloadMap, Receiver, ReceiverConfig, SendError, Sender, SenderConfig, Ssrc,
};

fn config(ptime_ms: u32) -> SenderConfig {
    SenderConfig {
        codec: Codec::Pcma,
        payload_type: 8,
        event_payload_type: Some(101),
        ssrc: Ssrc(0xCAFE_F00D),
        initial_seq: 65_530,
        initial_timestamp: 4_294_960_000,
        ptime_ms,
    }
}

/// Pushes `ticks` 20 ms ticks of `pcm(n)` and drains; returns the packets of each tick.
fn drive(tx: &mut Sender, ticks: usize, pcm: impl Fn(u64) -> i16) -> Vec<Vec<Vec<u8>>> {
    let mut n = 0u64;
    let mut out = Vec::new();
    let mut buf = vec![0u8; tx.max_packet_len()];
    for _ in 0..ticks {
        let frame: Vec<i16> = (n..n + 160).map(&pcm).collect();
        n += 160;
        tx.push_audio(&frame);
        let mut this = Vec::new();
        while let Some(len) = tx.poll_packet(&mut buf) {
            this.push(buf[..len].to_vec());
        }
        out.push(this);
    }
    out
}

/// RFC 3550 §5.1 headers; RFC 3551 §4.1 marker on the first packet; packets at the ptime
/// whatever the tick (30 ms from 20 ms ticks: two packets every three ticks).
#[test]
fn ptime_10_20_30_out_from_20_ms_ticks() {
    for (ptime, pattern) in [
        (10u32, vec![2, 2, 2]),
        (20, vec![1, 1, 1]),
        (30, vec![0, 1, 1]),
    ] {
        let mut tx = Sender::new(config(ptime)).unwrap();
        let ticks = drive(&mut tx, 30, |n| (n % 100) as i16 * 50);
        let counts: Vec<usize> = ticks.iter().map(Vec::len).collect();
        assert_eq!(counts[..3], pattern[..], "ptime {ptime}");
        let packets: Vec<&Vec<u8>> = ticks.iter().flatten().collect();
        let samples = ptime as usize * 8;
        assert_eq!(packets.len(), 30 * 160 / samples);
        for (k, p) in packets.iter().enumerate() {
            let r = RtpReader::new(p).unwrap();
            assert_eq!(r.payload_type(), 8);
            assert_eq!(r.ssrc(), 0xCAFE_F00D);
            assert_eq!(
                u16::from(r.sequence_number()),
                65_530u16.wrapping_add(k as u16)
            );
            assert_eq!(
                r.timestamp(),
                4_294_960_000u32.wrapping_add((k * samples) as u32)
            );
            assert_eq!(r.mark(), k == 0, "ptime {ptime} packet {k}");
            assert_eq!(r.payload().len(), samples);
            // The payload is the A-law of the audio pushed.
            let first = (k * samples) as u64;
            assert_eq!(
                r.payload()[1],
                tipring_dsp::g711::Law::A.encode((((first + 1) % 100) * 50) as i16)
            );
        }
        assert_eq!(tx.stats().packets, packets.len() as u64);
        assert_eq!(tx.stats().octets, (packets.len() * samples) as u64);
    }
}

/// After a pause the timestamp has moved on by the gap and the marker starts the talkspurt.
#[test]
fn a_pause_starts_a_new_talkspurt() {
    let mut tx = Sender::new(config(20)).unwrap();
    let before = drive(&mut tx, 3, |_| 0);
    tx.pause(8000);
    let after = drive(&mut tx, 2, |_| 0);
    let ts = |p: &Vec<u8>| RtpReader::new(p).unwrap().timestamp();
    let last = before.iter().flatten().last().unwrap();
    let next = &after[0][0];
    assert_eq!(ts(next).wrapping_sub(ts(last)), 160 + 8000);
    assert!(RtpReader::new(next).unwrap().mark());
    assert!(!RtpReader::new(&after[1][0]).unwrap().mark());
}

/// RFC 4733 §2.5.1: event reports replace the audio while the digit plays, timestamp =
/// event start, marker on the first, duration growing, final report three times with the
/// same duration (§2.5.1.4) and new sequence numbers, volume 10; audio resumes on its clock.
#[test]
fn rfc4733_digits_replace_audio() {
    let mut tx = Sender::new(config(20)).unwrap();
    drive(&mut tx, 2, |_| 100);
    tx.send_digit('#', 100).unwrap();
    let ticks = drive(&mut tx, 12, |_| 100);
    let packets: Vec<RtpReader<'_>> = ticks
        .iter()
        .flatten()
        .map(|p| RtpReader::new(p).unwrap())
        .collect();
    // 100 ms at 20 ms: reports at 160, 320, 480, 640 and the final 800 ×3, then audio.
    let events: Vec<EventPayload> = packets[..7]
        .iter()
        .map(|r| {
            assert_eq!(r.payload_type(), 101);
            EventPayload::parse(r.payload()).unwrap()
        })
        .collect();
    let durations: Vec<u16> = events.iter().map(|e| e.duration).collect();
    assert_eq!(durations, [160, 320, 480, 640, 800, 800, 800]);
    assert_eq!(
        events.iter().map(|e| e.end).collect::<Vec<_>>(),
        [false, false, false, false, true, true, true]
    );
    assert!(events.iter().all(|e| e.event == 11 && e.volume == 10));
    let start = packets[0].timestamp();
    assert_eq!(start, 4_294_960_000u32.wrapping_add(320));
    assert!(packets[..7].iter().all(|r| r.timestamp() == start));
    assert!(packets[0].mark());
    assert!(packets[1..7].iter().all(|r| !r.mark()));
    // Sequence numbers never skip; audio resumes 7 intervals later on its own clock.
    for w in packets.windows(2) {
        assert_eq!(
            u16::from(w[1].sequence_number()),
            u16::from(w[0].sequence_number()).wrapping_add(1)
        );
    }
    assert_eq!(packets[7].payload_type(), 8);
    assert_eq!(packets[7].timestamp(), start.wrapping_add(7 * 160));
    assert_eq!(tx.stats().event_packets, 7);
    assert_eq!(tx.stats().digits, 1);
    assert!(!tx.is_sending_digits());
}

#[test]
fn digit_and_configuration_errors_are_precise() {
    let mut tx = Sender::new(config(20)).unwrap();
    assert_eq!(
        tx.send_digit('x', 100),
        Err(SendError::BadDigit { digit: 'x' })
    );
    assert_eq!(
        tx.send_digit('1', 9_000),
        Err(SendError::DigitDuration {
            ms: 9_000,
            min: 10,
            max: 8_191
        })
    );
    for _ in 0..32 {
        tx.send_digit('1', 50).unwrap();
    }
    assert_eq!(
        tx.send_digit('1', 50),
        Err(SendError::QueueFull { capacity: 32 })
    );
    let mut no_events = Sender::new(SenderConfig {
        event_payload_type: None,
        ..config(20)
    })
    .unwrap();
    assert_eq!(
        no_events.send_digit('1', 100),
        Err(SendError::NoEventPayloadType)
    );
    assert_eq!(
        Sender::new(config(25)).unwrap_err(),
        ConfigError::OutOfRange {
            field: "ptime_ms",
            value: 25,
            min: 10,
            max: 60
        }
    );
    assert!(
        Sender::new(SenderConfig {
            payload_type: 128,
            ..config(20)
        })
        .is_err()
    );
    assert!(
        Sender::new(SenderConfig {
            event_payload_type: Some(8),
            ..config(20)
        })
        .is_err()
    );
}

/// Audio nobody drains is dropped oldest first, and a buffer too small loses the packet;
/// both are counted, neither panics.
#[test]
fn overflow_and_small_buffers_are_counted() {
    let mut tx = Sender::new(config(20)).unwrap();
    for _ in 0..20 {
        tx.push_audio(&[1; 160]);
    }
    assert!(tx.stats().audio_overflow > 0);
    let mut small = [0u8; 50];
    assert_eq!(tx.poll_packet(&mut small), None);
    assert!(tx.stats().buffer_too_small > 0);
    // A huge push keeps only the newest audio.
    tx.push_audio(&vec![2; 100_000]);
    let mut buf = [0u8; 200];
    let len = tx.poll_packet(&mut buf).unwrap();
    assert_eq!(len, 12 + 160);
}

/// Sender → receiver: the audio comes back (through A-law), the digits once each.
#[test]
fn round_trip_audio_and_digits() {
    let mut tx = Sender::new(config(30)).unwrap();
    let rx = Receiver::new(ReceiverConfig::new(
        PayloadMap::new(8, Codec::Pcma).with_events(101),
    ))
    .unwrap();
    let mut m = Media::new(rx, 160);
    let mut buf = [0u8; 300];
    let mut sent = Vec::new();
    for tick in 0..200u64 {
        let frame: Vec<i16> = (0..160).map(|k| common::signal(tick * 160 + k)).collect();
        sent.extend_from_slice(&frame);
        tx.push_audio(&frame);
        if tick == 50 {
            for d in "147*".chars() {
                tx.send_digit(d, 60).unwrap();
            }
        }
        let mut packets = Vec::new();
        while let Some(len) = tx.poll_packet(&mut buf) {
            packets.push(buf[..len].to_vec());
        }
        m.tick(&packets);
    }
    assert_eq!(m.digits(), "147*");
    assert_eq!(m.begins(), "147*");
    // The audio before the digits is the signal, delayed.
    let (d, err) = common::align(&m.out, 4000, 7000, 1000);
    println!("round trip delay {d} samples, mean abs error {err:.1}");
    assert!(err < 40.0, "{err}");
}
