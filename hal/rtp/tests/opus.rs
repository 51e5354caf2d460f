//! Opus (RFC 7587) through the session layer: 48 kHz timestamps, 8 kHz audio, libopus's
//! concealment and FEC for what is lost. Needs the `opus` feature (libopus).
#![cfg(feature = "opus")]

mod common;

use rtp_rs::RtpReader;
use tipring_rtp::{Codec, PayloadMap, Receiver, ReceiverConfig, Sender, SenderConfig, Ssrc};

fn pair(ptime_ms: u32) -> (Sender, common::Media) {
    let tx = Sender::new(SenderConfig {
        codec: Codec::Opus,
        payload_type: 111,
        event_payload_type: Some(101),
        ssrc: Ssrc(77),
        initial_seq: 1,
        initial_timestamp: 1_000,
        ptime_ms,
    })
    .unwrap();
    let rx = Receiver::new(ReceiverConfig::new(
        PayloadMap::new(111, Codec::Opus).with_events(101),
    ))
    .unwrap();
    (tx, common::Media::new(rx, 160))
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Runs 4 s of the test signal; `keep(k)` says whether packet `k` is delivered.
fn run(ptime_ms: u32, keep: impl Fn(usize) -> bool) -> (Vec<Vec<u8>>, common::Media) {
    let (mut tx, mut m) = pair(ptime_ms);
    let mut buf = vec![0u8; tx.max_packet_len()];
    let mut sent = Vec::new();
    for tick in 0..200u64 {
        let frame: Vec<i16> = (0..160).map(|k| common::signal(tick * 160 + k)).collect();
        tx.push_audio(&frame);
        if tick == 100 {
            tx.send_digit('9', 100).unwrap();
        }
        let mut due = Vec::new();
        while let Some(len) = tx.poll_packet(&mut buf) {
            let p = buf[..len].to_vec();
            if keep(sent.len()) {
                due.push(p.clone());
            }
            sent.push(p);
        }
        m.tick(&due);
    }
    (sent, m)
}

/// RFC 7587 §4.1: the RTP clock is 48 kHz whatever the codec rate; audio comes back at the
/// level it went in; the digit arrives once.
#[test]
fn rfc7587_48_khz_timestamps_and_a_round_trip() {
    for ptime in [10u32, 20] {
        let (sent, m) = run(ptime, |_| true);
        let ts: Vec<u32> = sent
            .iter()
            .map(|p| RtpReader::new(p).unwrap())
            .filter(|r| r.payload_type() == 111)
            .map(|r| r.timestamp())
            .collect();
        assert_eq!(ts[1] - ts[0], 48 * ptime);
        let level_in = rms(&(8000..24_000).map(common::signal).collect::<Vec<_>>());
        let level_out = rms(&m.out[8000..24_000]);
        let s = m.rx.stats();
        println!(
            "Opus {ptime} ms: level in {level_in:.0}, out {level_out:.0}; concealed {}; digits {:?}",
            s.buffer.concealed,
            m.digits()
        );
        assert!((level_out / level_in - 1.0).abs() < 0.3);
        assert_eq!(m.concealed_since(20), 0);
        assert_eq!(m.digits(), "9");
    }
}

/// Lost packets are concealed by libopus (the buffer keeps playing sound, not silence).
#[test]
fn lost_opus_packets_are_concealed_by_the_decoder() {
    let (_, m) = run(20, |k| k % 10 != 5);
    let s = m.rx.stats();
    println!(
        "Opus with 10 % loss: concealed {} samples, FEC frames {}, lost {}",
        s.buffer.concealed, s.fec_frames, s.cumulative_lost
    );
    assert!(s.cumulative_lost >= 18);
    assert!(s.buffer.concealed >= 18 * 160);
    assert_eq!(m.pulls[20..].iter().map(|p| p.silence).sum::<u32>(), 0);
    let level = rms(&m.out[8000..]);
    assert!(level > 1000.0, "{level}");
}
