//! RTP packets (RFC 3550 §5.1) and RFC 4733 telephone-event payloads, built and parsed.
//!
//! This is a test tool's codec, independent of the product's RTP stack on purpose: the
//! tests compare what the product sends with what this decodes.

use crate::error::{Error, Result};

/// The fixed RTP header is 12 bytes.
pub const HEADER_LEN: usize = 12;

/// One RTP packet with an owned payload. CSRCs, header extensions and padding are skipped by
/// [`RtpPacket::parse`] and never written by [`RtpPacket::to_bytes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// The marker bit (first packet of a talkspurt or of an RFC 4733 event).
    pub marker: bool,
    /// Payload type, 0–127.
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Timestamp (8 kHz clock for G.711 and telephone-event/8000).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload.
    pub payload: Vec<u8>,
}

impl RtpPacket {
    /// The packet on the wire: version 2, no padding, extension or CSRC.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_LEN + self.payload.len());
        b.push(0x80);
        b.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7f));
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.timestamp.to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        b.extend_from_slice(&self.payload);
        b
    }

    /// Parses a datagram.
    ///
    /// # Errors
    /// [`Error::Malformed`] for a datagram shorter than its headers, a version other than 2,
    /// or padding longer than the payload.
    pub fn parse(b: &[u8]) -> Result<Self> {
        if b.len() < HEADER_LEN {
            return Err(Error::malformed(
                "RTP packet",
                format!("{} bytes, shorter than the 12-byte header", b.len()),
            ));
        }
        let version = b[0] >> 6;
        if version != 2 {
            return Err(Error::malformed(
                "RTP packet",
                format!("version {version}, expected 2"),
            ));
        }
        let padding = b[0] & 0x20 != 0;
        let extension = b[0] & 0x10 != 0;
        let csrc_count = usize::from(b[0] & 0x0f);
        let mut start = HEADER_LEN + 4 * csrc_count;
        if extension {
            if b.len() < start + 4 {
                return Err(Error::malformed(
                    "RTP packet",
                    "header extension cut short".to_string(),
                ));
            }
            let words = usize::from(u16::from_be_bytes([b[start + 2], b[start + 3]]));
            start += 4 + 4 * words;
        }
        if b.len() < start {
            return Err(Error::malformed(
                "RTP packet",
                format!("{} bytes, shorter than its CSRC/extension headers", b.len()),
            ));
        }
        let mut end = b.len();
        if padding {
            let pad = usize::from(b[b.len() - 1]);
            if pad == 0 || pad > end - start {
                return Err(Error::malformed(
                    "RTP packet",
                    format!("padding count {pad} with {} payload bytes", end - start),
                ));
            }
            end -= pad;
        }
        Ok(Self {
            marker: b[1] & 0x80 != 0,
            payload_type: b[1] & 0x7f,
            seq: u16::from_be_bytes([b[2], b[3]]),
            timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
            payload: b[start..end].to_vec(),
        })
    }
}

/// An RFC 4733 §2.3 telephone-event payload (4 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (§3.2: 0–9, `*` 10, `#` 11, A–D 12–15).
    pub event: u8,
    /// The E bit: this packet ends the event.
    pub end: bool,
    /// Power level as −dBm0, 0–63.
    pub volume: u8,
    /// Duration so far, in timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// The 4-byte payload (the reserved R bit is 0).
    pub fn to_bytes(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (u8::from(self.end) << 7) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }

    /// Parses the first 4 bytes of a payload (RFC 4733 §2.5.1.3 allows several events in one
    /// packet; test streams never send more than one, and the first is the current one).
    ///
    /// # Errors
    /// [`Error::Malformed`] for a payload shorter than 4 bytes.
    pub fn parse(p: &[u8]) -> Result<Self> {
        if p.len() < 4 {
            return Err(Error::malformed(
                "telephone-event payload",
                format!("{} bytes, expected at least 4", p.len()),
            ));
        }
        Ok(Self {
            event: p[0],
            end: p[1] & 0x80 != 0,
            volume: p[1] & 0x3f,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    /// The digit of the event code, `None` outside 0–15.
    pub fn digit(&self) -> Option<char> {
        tipring_dsp::dtmf::rfc4733_digit(self.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_round_trip() {
        let p = RtpPacket {
            marker: true,
            payload_type: 101,
            seq: 0xfffe,
            timestamp: 0x1234_5678,
            ssrc: 0xdead_beef,
            payload: vec![1, 2, 3],
        };
        let b = p.to_bytes();
        assert_eq!(&b[..2], &[0x80, 0x80 | 101]);
        assert_eq!(RtpPacket::parse(&b).unwrap(), p);
    }

    #[test]
    fn sipp_dtmf_packet_parses() {
        // The first packet of /usr/share/sip-tester/dtmf_2833_1.pcap.
        let b = [
            0x80, 0xe5, 0x1f, 0x30, 0, 0, 0x33, 0xe0, 0x0e, 0x05, 0x38, 0x4e, 0x01, 0x0a, 0, 0,
        ];
        let p = RtpPacket::parse(&b).unwrap();
        assert!(p.marker);
        assert_eq!(p.payload_type, 101);
        let e = TelephoneEvent::parse(&p.payload).unwrap();
        assert_eq!(e.digit(), Some('1'));
        assert_eq!((e.end, e.volume, e.duration), (false, 10, 0));
    }

    #[test]
    fn bad_packets_are_errors() {
        assert!(RtpPacket::parse(&[0x80; 11]).is_err());
        assert!(RtpPacket::parse(&[0x40; 12]).is_err());
        // One CSRC announced, none present.
        let mut b = vec![0x81, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(RtpPacket::parse(&b).is_err());
        // Padding longer than the payload.
        b[0] = 0xa0;
        b.push(5);
        assert!(RtpPacket::parse(&b).is_err());
        // Extension cut short.
        assert!(RtpPacket::parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(TelephoneEvent::parse(&[1, 2, 3]).is_err());
    }

    #[test]
    fn padding_and_extension_are_skipped() {
        let mut b = vec![0xb0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        b.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]); // extension, one word
        b.extend_from_slice(&[7, 7, 0, 2]); // payload 7 7, two bytes of padding
        let p = RtpPacket::parse(&b).unwrap();
        assert_eq!(p.payload, vec![7, 7]);
    }
}
