//! RTCP (RFC 3550 §6): sender and receiver reports and the CNAME, parsed and built without
//! allocating.
//!
//! # What does it do?
//! [`parse`] walks a compound RTCP packet and yields each packet in it: sender reports
//! (SR, §6.4.1), receiver reports (RR, §6.4.2), each with its report blocks, and the types a
//! trunk peer may add (SDES, BYE, APP, feedback, XR) as [`RtcpPacket::Other`] or
//! [`RtcpPacket::Bye`], skipped safely. It applies the validity checks of §A.2: version 2,
//! the first packet an SR or RR, padding only on the last packet, lengths adding up to the
//! datagram. [`write_compound`] builds what a call sends: an SR (if it sent RTP since the
//! last report) or an RR, with at most one report block (a call has one remote source),
//! followed by an SDES packet with the CNAME (§6.1: every compound carries one).
//!
//! # How does it work?
//! The parser is an iterator over borrowed bytes; report blocks are another iterator over
//! the packet's bytes, so nothing is copied. Builders write big-endian fields straight into
//! the caller's buffer after checking it is long enough.

use crate::Ssrc;
use crate::error::RtcpError;

/// Packet type of a sender report.
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report.
pub const PT_RR: u8 = 201;
/// Packet type of a source description.
pub const PT_SDES: u8 = 202;
/// Packet type of a BYE.
pub const PT_BYE: u8 = 203;
/// Length of one report block.
const BLOCK_LEN: usize = 24;
/// Longest CNAME this crate sends (RFC 7022 recommends 16 random bytes, base64: 24 chars).
pub const MAX_CNAME: usize = 64;

/// Whether a datagram on a multiplexed RTP/RTCP port is RTCP (RFC 5761 §4: second byte
/// 192–223, payload types 64–95 with the marker bit).
pub fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.get(1).is_some_and(|&b| (192..=223).contains(&b))
}

/// The sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SenderInfo {
    /// NTP timestamp (64-bit fixed point, seconds since 1900).
    pub ntp: u64,
    /// The RTP timestamp of the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// One report block (RFC 3550 §6.4.1): what a receiver saw of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: Ssrc,
    /// Loss since the previous report, 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (signed 24 bits).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub ext_max_seq: u32,
    /// Interarrival jitter, RTP units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from that source.
    pub lsr: u32,
    /// Delay since that SR, 1/65 536 s.
    pub dlsr: u32,
}

/// The report blocks of an SR or RR.
#[derive(Debug, Clone)]
pub struct ReportBlocks<'a> {
    bytes: &'a [u8],
}

impl Iterator for ReportBlocks<'_> {
    type Item = ReportBlock;

    fn next(&mut self) -> Option<ReportBlock> {
        let (b, rest) = self.bytes.split_first_chunk::<BLOCK_LEN>()?;
        self.bytes = rest;
        let word = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        // Sign-extend the 24-bit cumulative loss.
        let lost = (i32::from_be_bytes([b[5], b[6], b[7], 0])) >> 8;
        Some(ReportBlock {
            ssrc: Ssrc(word(0)),
            fraction_lost: b[4],
            cumulative_lost: lost,
            ext_max_seq: word(8),
            jitter: word(12),
            lsr: word(16),
            dlsr: word(20),
        })
    }
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone)]
pub enum RtcpPacket<'a> {
    /// A sender report.
    SenderReport {
        /// The sender's SSRC.
        ssrc: Ssrc,
        /// Its sender information.
        info: SenderInfo,
        /// Its report blocks.
        blocks: ReportBlocks<'a>,
    },
    /// A receiver report.
    ReceiverReport {
        /// The reporter's SSRC.
        ssrc: Ssrc,
        /// Its report blocks.
        blocks: ReportBlocks<'a>,
    },
    /// A BYE: the source leaves (§6.6).
    Bye {
        /// The first SSRC leaving, if any.
        ssrc: Option<Ssrc>,
    },
    /// Another packet type (SDES, APP, feedback, XR…), skipped.
    Other {
        /// Its packet type.
        pt: u8,
    },
}

/// The packets of a compound RTCP packet, each checked as it is reached.
#[derive(Debug, Clone)]
pub struct Compound<'a> {
    rest: &'a [u8],
    at: usize,
    failed: bool,
}

/// Walks a compound RTCP packet (RFC 3550 §6.1). Each item is a packet or the error that
/// stopped the walk (§A.2 validity checks); nothing after an error is yielded.
pub fn parse(datagram: &[u8]) -> Compound<'_> {
    Compound {
        rest: datagram,
        at: 0,
        failed: false,
    }
}

impl<'a> Compound<'a> {
    fn next_packet(&mut self) -> Result<RtcpPacket<'a>, RtcpError> {
        let buf = self.rest;
        if buf.len() < 4 {
            return Err(RtcpError::TooShort { len: buf.len() });
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtcpError::Version { version });
        }
        let padding = buf[0] & 0x20 != 0;
        let count = usize::from(buf[0] & 0x1F);
        let pt = buf[1];
        if self.at == 0 && pt != PT_SR && pt != PT_RR {
            return Err(RtcpError::NotReport { pt });
        }
        let len = (usize::from(u16::from_be_bytes([buf[2], buf[3]])) + 1) * 4;
        if len > buf.len() {
            return Err(RtcpError::Length {
                at: self.at,
                declared: len,
                remaining: buf.len(),
            });
        }
        let mut body = &buf[4..len];
        if padding {
            // Only the last packet of a compound may be padded (§A.2).
            if len != buf.len() {
                return Err(RtcpError::Padding);
            }
            let pad = usize::from(buf[len - 1]);
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::Padding);
            }
            body = &body[..body.len() - pad];
        }
        let at = self.at;
        self.rest = &buf[len..];
        self.at += len;
        let short = |need: usize| RtcpError::Length {
            at,
            declared: need + 4,
            remaining: body.len() + 4,
        };
        let word = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Ok(match pt {
            PT_SR => {
                let need = 24 + count * BLOCK_LEN;
                if body.len() < need {
                    return Err(short(need));
                }
                RtcpPacket::SenderReport {
                    ssrc: Ssrc(word(body, 0)),
                    info: SenderInfo {
                        ntp: (u64::from(word(body, 4)) << 32) | u64::from(word(body, 8)),
                        rtp_timestamp: word(body, 12),
                        packets: word(body, 16),
                        octets: word(body, 20),
                    },
                    blocks: ReportBlocks {
                        bytes: &body[24..need],
                    },
                }
            }
            PT_RR => {
                let need = 4 + count * BLOCK_LEN;
                if body.len() < need {
                    return Err(short(need));
                }
                RtcpPacket::ReceiverReport {
                    ssrc: Ssrc(word(body, 0)),
                    blocks: ReportBlocks {
                        bytes: &body[4..need],
                    },
                }
            }
            PT_BYE => RtcpPacket::Bye {
                ssrc: (count > 0 && body.len() >= 4).then(|| Ssrc(word(body, 0))),
            },
            pt => RtcpPacket::Other { pt },
        })
    }
}

impl<'a> Iterator for Compound<'a> {
    type Item = Result<RtcpPacket<'a>, RtcpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || (self.rest.is_empty() && self.at > 0) {
            return None;
        }
        let r = self.next_packet();
        self.failed = r.is_err();
        Some(r)
    }
}

/// What goes in one outgoing compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<'a> {
    /// Our SSRC.
    pub ssrc: Ssrc,
    /// Sender information: an SR if present, else an RR.
    pub sender: Option<SenderInfo>,
    /// The report block on the remote source, if we receive one.
    pub block: Option<ReportBlock>,
    /// Our CNAME (at most [`MAX_CNAME`] bytes).
    pub cname: &'a [u8],
}

impl Report<'_> {
    /// Bytes [`write_compound`] needs.
    pub fn len(&self) -> usize {
        let rc = usize::from(self.block.is_some()) * BLOCK_LEN;
        let report = 8 + if self.sender.is_some() { 20 } else { 0 } + rc;
        // SDES: header, SSRC, CNAME item (type, length, text), terminating null, padding.
        let sdes = (8 + 2 + self.cname.len() + 1).div_ceil(4) * 4;
        report + sdes
    }

    /// Never empty (present for clippy's sake).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Writes an SR or RR plus an SDES CNAME (RFC 3550 §6.1) into `out`; returns the length.
///
/// # Errors
/// [`RtcpError::BufferTooSmall`] if `out` cannot hold it (CNAMEs longer than
/// [`MAX_CNAME`] are cut to that length).
pub fn write_compound(report: &Report<'_>, out: &mut [u8]) -> Result<usize, RtcpError> {
    let cname = &report.cname[..report.cname.len().min(MAX_CNAME)];
    let report = Report { cname, ..*report };
    let needed = report.len();
    if out.len() < needed {
        return Err(RtcpError::BufferTooSmall {
            needed,
            got: out.len(),
        });
    }
    let rc = u8::from(report.block.is_some());
    let (pt, body) = match report.sender {
        Some(_) => (PT_SR, 24),
        None => (PT_RR, 4),
    };
    let first = 4 + body + usize::from(rc) * BLOCK_LEN;
    out[0] = 0x80 | rc;
    out[1] = pt;
    out[2..4].copy_from_slice(&((first / 4 - 1) as u16).to_be_bytes());
    out[4..8].copy_from_slice(&report.ssrc.0.to_be_bytes());
    let mut at = 8;
    if let Some(info) = report.sender {
        out[8..16].copy_from_slice(&info.ntp.to_be_bytes());
        out[16..20].copy_from_slice(&info.rtp_timestamp.to_be_bytes());
        out[20..24].copy_from_slice(&info.packets.to_be_bytes());
        out[24..28].copy_from_slice(&info.octets.to_be_bytes());
        at = 28;
    }
    if let Some(b) = report.block {
        let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF).to_be_bytes();
        out[at..at + 4].copy_from_slice(&b.ssrc.0.to_be_bytes());
        out[at + 4] = b.fraction_lost;
        out[at + 5..at + 8].copy_from_slice(&lost[1..]);
        out[at + 8..at + 12].copy_from_slice(&b.ext_max_seq.to_be_bytes());
        out[at + 12..at + 16].copy_from_slice(&b.jitter.to_be_bytes());
        out[at + 16..at + 20].copy_from_slice(&b.lsr.to_be_bytes());
        out[at + 20..at + 24].copy_from_slice(&b.dlsr.to_be_bytes());
        at += BLOCK_LEN;
    }
    // SDES with one chunk: our SSRC, CNAME item, end item, padding to 32 bits.
    let sdes_len = needed - at;
    out[at] = 0x81;
    out[at + 1] = PT_SDES;
    out[at + 2..at + 4].copy_from_slice(&((sdes_len / 4 - 1) as u16).to_be_bytes());
    out[at + 4..at + 8].copy_from_slice(&report.ssrc.0.to_be_bytes());
    out[at + 8] = 1; // CNAME
    out[at + 9] = cname.len() as u8;
    out[at + 10..at + 10 + cname.len()].copy_from_slice(cname);
    out[at + 10 + cname.len()..needed].fill(0);
    Ok(needed)
}

/// The middle 32 bits of an NTP timestamp (the LSR format, §6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: Ssrc(0x1234_5678),
            fraction_lost: 25,
            cumulative_lost: -3,
            ext_max_seq: 70_000,
            jitter: 42,
            lsr: 0xAABB_CCDD,
            dlsr: 65_536,
        }
    }

    /// RFC 3550 §6.4.1 SR + §6.5 SDES CNAME: what we write parses back field for field.
    #[test]
    fn rfc3550_6_4_1_sr_round_trip() {
        let info = SenderInfo {
            ntp: 0x0123_4567_89AB_CDEF,
            rtp_timestamp: 160_000,
            packets: 1_000,
            octets: 160_000,
        };
        let report = Report {
            ssrc: Ssrc(7),
            sender: Some(info),
            block: Some(block()),
            cname: b"tipring@example.net",
        };
        let mut buf = [0u8; 200];
        let n = write_compound(&report, &mut buf).unwrap();
        assert_eq!(n, report.len());
        assert_eq!(n % 4, 0);
        let packets: Vec<_> = parse(&buf[..n]).collect::<Result<_, _>>().unwrap();
        assert_eq!(packets.len(), 2);
        match &packets[0] {
            RtcpPacket::SenderReport {
                ssrc,
                info: got,
                blocks,
            } => {
                assert_eq!(*ssrc, Ssrc(7));
                assert_eq!(*got, info);
                assert_eq!(blocks.clone().collect::<Vec<_>>(), [block()]);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(packets[1], RtcpPacket::Other { pt: PT_SDES }));
        // The CNAME item as RFC 3550 §6.5.1 lays it out.
        let sdes = &buf[n - 32..n];
        assert_eq!(&sdes[8..10], &[1, 19]);
        assert_eq!(&sdes[10..29], b"tipring@example.net");
        assert_eq!(sdes[29], 0);
    }

    /// RFC 3550 §6.4.2 RR, with and without a block; a buffer too small is an error.
    #[test]
    fn rfc3550_6_4_2_rr_round_trip() {
        for block in [None, Some(block())] {
            let report = Report {
                ssrc: Ssrc(9),
                sender: None,
                block,
                cname: b"x",
            };
            let mut buf = [0u8; 100];
            let n = write_compound(&report, &mut buf).unwrap();
            let first = parse(&buf[..n]).next().unwrap().unwrap();
            match first {
                RtcpPacket::ReceiverReport { ssrc, blocks } => {
                    assert_eq!(ssrc, Ssrc(9));
                    assert_eq!(
                        blocks.collect::<Vec<_>>(),
                        block.into_iter().collect::<Vec<_>>()
                    );
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(
                write_compound(&report, &mut buf[..n - 1]),
                Err(RtcpError::BufferTooSmall {
                    needed: n,
                    got: n - 1
                })
            );
        }
    }

    /// RFC 3550 §A.2 validity checks.
    #[test]
    fn rfc3550_a2_validity_checks() {
        let rr = [0x80, PT_RR, 0, 1, 0, 0, 0, 9];
        assert!(parse(&rr).all(|p| p.is_ok()));
        // Version 1.
        let mut bad = rr;
        bad[0] = 0x40;
        assert!(matches!(
            parse(&bad).next(),
            Some(Err(RtcpError::Version { version: 1 }))
        ));
        // First packet not a report.
        let app = [0x80, 204, 0, 1, 0, 0, 0, 9];
        assert!(matches!(
            parse(&app).next(),
            Some(Err(RtcpError::NotReport { pt: 204 }))
        ));
        // Length beyond the datagram.
        let long = [0x80, PT_RR, 0, 5, 0, 0, 0, 9];
        assert!(matches!(
            parse(&long).next(),
            Some(Err(RtcpError::Length { .. }))
        ));
        // RC larger than the body.
        let rc = [0x81, PT_RR, 0, 1, 0, 0, 0, 9];
        assert!(matches!(
            parse(&rc).next(),
            Some(Err(RtcpError::Length { .. }))
        ));
        // Padding on a packet that is not the last.
        let mut two = [0u8; 16];
        two[..8].copy_from_slice(&[0xA0, PT_RR, 0, 1, 0, 0, 0, 4]);
        two[8..].copy_from_slice(&[0x80, 203, 0, 1, 0, 0, 0, 1]);
        assert!(matches!(parse(&two).next(), Some(Err(RtcpError::Padding))));
        // Valid padding on the last packet; then a BYE and an unknown type are skipped.
        let mut ok = Vec::new();
        ok.extend_from_slice(&[0x80, PT_RR, 0, 1, 0, 0, 0, 9]);
        ok.extend_from_slice(&[0x81, PT_BYE, 0, 1, 0, 0, 0, 9]);
        ok.extend_from_slice(&[0xA0, 207, 0, 1, 0, 0, 0, 4]);
        let items: Vec<_> = parse(&ok).collect();
        assert_eq!(items.len(), 3);
        assert!(matches!(
            items[1],
            Ok(RtcpPacket::Bye {
                ssrc: Some(Ssrc(9))
            })
        ));
        assert!(matches!(items[2], Ok(RtcpPacket::Other { pt: 207 })));
        assert!(matches!(
            parse(&[]).next(),
            Some(Err(RtcpError::TooShort { len: 0 }))
        ));
        assert!(is_rtcp(&rr));
        assert!(!is_rtcp(&[0x80, 0, 0, 0]));
    }
}
