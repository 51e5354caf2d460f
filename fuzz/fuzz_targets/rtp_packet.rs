//! The RTP session layer on arbitrary input: sequences of operations on a receiving call
//! (raw datagrams, well-formed headers with fuzzed fields and payloads, pulls of 80 or 160
//! samples, RTCP in and out, digits and audio sent and looped back) never panic, every pull
//! fills exactly what it was asked, and every digit ends once after it began. The raw bytes
//! also go to the RTCP parser.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tipring_rtp::{
    Codec, PayloadMap, ReceiverConfig, RxEvent, SenderConfig, Session, SessionConfig, Ssrc, rtcp,
};

/// Reads the input a few bytes at a time.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.byte()?, self.byte()?]))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes([self.byte()?, self.byte()?, self.byte()?, self.byte()?]))
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

fuzz_target!(|data: &[u8]| {
    // Any bytes into the RTCP parser: items until the first error, never a panic.
    for item in rtcp::parse(data) {
        if let Ok(rtcp::RtcpPacket::SenderReport { blocks, .. } | rtcp::RtcpPacket::ReceiverReport { blocks, .. }) = item {
            for b in blocks {
                assert!((-0x80_0000..=0x7F_FFFF).contains(&b.cumulative_lost));
            }
        }
    }

    let mut input = Input(data);
    let Some(setup) = input.byte() else { return };
    let (codec, pt) = if setup & 1 == 0 { (Codec::Pcmu, 0) } else { (Codec::Pcma, 8) };
    let payloads = PayloadMap::new(pt, codec).with_events(101).with_comfort_noise(13);
    let cfg = SessionConfig {
        receiver: ReceiverConfig {
            min_sequential: (setup >> 1) & 3,
            min_delay_ms: 20,
            max_delay_ms: 40 + u32::from(setup >> 3) * 10,
            ..ReceiverConfig::new(payloads)
        },
        sender: SenderConfig {
            codec,
            payload_type: pt,
            event_payload_type: Some(101),
            ssrc: Ssrc(1),
            initial_seq: 0,
            initial_timestamp: 0,
            ptime_ms: 20,
        },
        ntp_at_zero: 0,
    };
    let mut s = Session::new(cfg, "fuzz").expect("valid configuration");
    let mut now = 0u64;
    let mut out = [0i16; 160];
    let mut buf = [0u8; 1500];
    let mut open: Option<u32> = None;
    let mut ssrc = 0x1234_5678u32;
    while let Some(op) = input.byte() {
        match op % 8 {
            0 => {
                // A raw datagram.
                let n = usize::from(input.byte().unwrap_or(0)) * 2;
                let p = input.bytes(n);
                let _ = s.rx.push(now, p);
            }
            1 | 2 => {
                // A well-formed header with fuzzed fields.
                let Some(flags) = input.byte() else { break };
                let seq = input.u16().unwrap_or(0);
                let ts = input.u32().unwrap_or(0);
                if flags & 0x40 != 0 {
                    ssrc = ssrc.wrapping_add(1);
                }
                let pt = match flags & 3 {
                    0 => pt,
                    1 => 101,
                    2 => 13,
                    _ => flags >> 1,
                };
                let n = usize::from(input.byte().unwrap_or(0)) * 4;
                let mut p = vec![0x80, (flags & 0x80) | (pt & 0x7F)];
                p.extend_from_slice(&seq.to_be_bytes());
                p.extend_from_slice(&ts.to_be_bytes());
                p.extend_from_slice(&ssrc.to_be_bytes());
                p.extend_from_slice(input.bytes(n));
                let _ = s.rx.push(now, &p);
            }
            3 | 4 => {
                // A media tick.
                let n = if op & 0x10 != 0 { 80 } else { 160 };
                out.fill(12_345);
                let pulled = s.rx.pull(now, &mut out[..n]);
                let n32 = n as u32;
                assert!(pulled.received + pulled.concealed + pulled.silence <= n32);
                assert!(pulled.received + pulled.concealed + pulled.silence + pulled.squelched >= n32);
                now += n as u64;
                // A queue overflow (events nobody drained) may drop one half of a pair.
                let checked = s.rx.stats().events.queue_overflow == 0;
                while let Some(e) = s.rx.poll_event() {
                    if !checked {
                        continue;
                    }
                    match e {
                        RxEvent::DigitBegin { start_ts, .. } => {
                            assert!(open.is_none(), "a digit began before the last ended");
                            open = Some(start_ts);
                        }
                        RxEvent::Digit { start_ts, .. } => {
                            assert_eq!(open.take(), Some(start_ts), "a digit ended that had not begun");
                        }
                    }
                }
            }
            5 => {
                // Our side sends: audio, maybe a digit, looped back into the receiver.
                if op & 0x80 != 0 {
                    let _ = s.tx.send_digit(char::from(b'0' + op % 10), u32::from(op));
                }
                s.tx.push_audio(&out);
                while let Some(len) = s.tx.poll_packet(&mut buf) {
                    if op & 0x20 != 0 {
                        let p = buf;
                        let _ = s.rx.push(now, &p[..len]);
                    }
                }
            }
            6 => {
                // RTCP in.
                let n = usize::from(input.byte().unwrap_or(0));
                let _ = s.handle_rtcp(now, input.bytes(n));
            }
            _ => {
                // RTCP out, parsed back.
                let len = s.build_rtcp(now, &mut buf).expect("1500 bytes are enough");
                assert!(rtcp::parse(&buf[..len]).all(|p| p.is_ok()));
                let _ = s.stats();
                now += u64::from(op >> 3);
            }
        }
    }
});
