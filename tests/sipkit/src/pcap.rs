//! RTP captures that SIPp's `play_pcap_audio` replays.
//!
//! # What does it do?
//! Writes classic libpcap files (magic `a1b2c3d4`, version 2.4, microsecond times) of
//! Ethernet / IPv4 / UDP frames carrying RTP, and reads such files back. Helpers build the
//! usual streams in one call: μ-law audio ([`write_ulaw`]), a sine ([`write_tone`]) and
//! DTMF digits ([`write_dtmf`]) carried as RFC 4733 events, in-band tones, or both.
//!
//! # Why Ethernet?
//! SIPp 3.6.1 replays link types 1 (Ethernet) and 113 (Linux cooked) only; it refuses raw
//! IPv4 (12, 101, 228) with "Unsupported link-type". It sends each packet's UDP payload
//! unchanged (sequence numbers, timestamps and SSRC as written here) from its media port
//! to the port in the peer's SDP, at the packets' relative capture times. The addresses in
//! the file are not used, except that the lowest destination port is the "base port": a
//! packet to `base + k` goes to the peer's media port `+ k`. Every packet here goes to the
//! same port.

use crate::error::{Error, Result};
use crate::stream::{DtmfOptions, RtpParams, StreamBuilder, TimedPacket};
use std::io::{BufWriter, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

/// pcap link type of Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Capture time of the first packet (seconds since the epoch): 2023-11-14.
const EPOCH_SECS: u64 = 1_700_000_000;
/// Where the packets claim to come from (TEST-NET-1, RFC 5737).
pub const DEFAULT_SRC: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 40_000);
/// Where the packets claim to go.
pub const DEFAULT_DST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 40_002);

/// Lead-in silence before the first digit in [`write_dtmf`], ms.
pub const DTMF_LEAD_MS: u32 = 200;
/// Silence after the last digit's pause in [`write_dtmf`], ms.
pub const DTMF_TAIL_MS: u32 = 200;

/// Writes UDP datagrams as Ethernet/IPv4/UDP frames into a pcap stream.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    w: W,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    ip_id: u16,
    packets: usize,
    last_at: Duration,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header; datagrams will go from `src` to `dst`.
    ///
    /// # Errors
    /// [`Error::Io`] when writing fails.
    pub fn new(mut w: W, src: SocketAddrV4, dst: SocketAddrV4) -> Result<Self> {
        let mut h = Vec::with_capacity(24);
        h.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&4u16.to_le_bytes());
        h.extend_from_slice(&0i32.to_le_bytes()); // thiszone
        h.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
        h.extend_from_slice(&65_535u32.to_le_bytes()); // snaplen
        h.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        w.write_all(&h)
            .map_err(|e| Error::io("writing the pcap header", e))?;
        Ok(Self {
            w,
            src,
            dst,
            ip_id: 1,
            packets: 0,
            last_at: Duration::ZERO,
        })
    }

    /// Appends one datagram captured `at` after the start.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a payload too large for one IPv4 packet or a time going
    /// backwards, [`Error::Io`] when writing fails.
    pub fn write_udp(&mut self, at: Duration, payload: &[u8]) -> Result<()> {
        if payload.len() > 65_507 {
            return Err(Error::invalid(
                "UDP payload",
                format!("{} bytes (at most 65 507 in IPv4)", payload.len()),
            ));
        }
        if at < self.last_at {
            return Err(Error::invalid(
                "packet time",
                format!("{at:?} is before the previous packet's {:?}", self.last_at),
            ));
        }
        self.last_at = at;
        let frame = self.frame(payload);
        let secs = EPOCH_SECS + at.as_secs();
        let mut rec = Vec::with_capacity(16 + frame.len());
        rec.extend_from_slice(&(secs as u32).to_le_bytes());
        rec.extend_from_slice(&at.subsec_micros().to_le_bytes());
        rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        rec.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        rec.extend_from_slice(&frame);
        self.w
            .write_all(&rec)
            .map_err(|e| Error::io("writing a pcap record", e))?;
        self.packets += 1;
        Ok(())
    }

    /// Datagrams written so far.
    pub fn packets(&self) -> usize {
        self.packets
    }

    /// Flushes and returns the writer.
    ///
    /// # Errors
    /// [`Error::Io`] when flushing fails.
    pub fn finish(mut self) -> Result<W> {
        self.w
            .flush()
            .map_err(|e| Error::io("flushing the pcap file", e))?;
        Ok(self.w)
    }

    fn frame(&mut self, payload: &[u8]) -> Vec<u8> {
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut f = Vec::with_capacity(14 + ip_len);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // destination MAC (local)
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // source MAC (local)
        f.extend_from_slice(&0x0800u16.to_be_bytes());
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[1] = 0xb8; // DSCP EF, as phones mark RTP
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&self.src.ip().octets());
        ip[16..20].copy_from_slice(&self.dst.ip().octets());
        let sum = checksum(&[&ip]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        f.extend_from_slice(&ip);
        let mut udp = [0u8; 8];
        udp[0..2].copy_from_slice(&self.src.port().to_be_bytes());
        udp[2..4].copy_from_slice(&self.dst.port().to_be_bytes());
        udp[4..6].copy_from_slice(&(udp_len as u16).to_be_bytes());
        let mut pseudo = [0u8; 12];
        pseudo[0..4].copy_from_slice(&self.src.ip().octets());
        pseudo[4..8].copy_from_slice(&self.dst.ip().octets());
        pseudo[9] = 17;
        pseudo[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
        let sum = match checksum(&[&pseudo, &udp, payload]) {
            0 => 0xffff,
            s => s,
        };
        udp[6..8].copy_from_slice(&sum.to_be_bytes());
        f.extend_from_slice(&udp);
        f.extend_from_slice(payload);
        f
    }
}

/// The Internet checksum (RFC 1071) of the concatenated parts (each of even length except
/// possibly the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// What a written capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapSummary {
    /// Packets in the file.
    pub packets: usize,
    /// Time from the first packet to the last.
    pub duration: Duration,
}

/// Writes `packets` (from [`StreamBuilder::packets`]) to `path`, from [`DEFAULT_SRC`] to
/// [`DEFAULT_DST`].
///
/// # Errors
/// [`Error::Invalid`] for an empty list, [`Error::Io`] when the file cannot be written.
pub fn write_packets(path: &Path, packets: &[TimedPacket]) -> Result<PcapSummary> {
    let (Some(first), Some(last)) = (packets.first(), packets.last()) else {
        return Err(Error::invalid(
            "RTP stream",
            "no packets (SIPp refuses an empty capture)",
        ));
    };
    let file = std::fs::File::create(path)
        .map_err(|e| Error::io(format!("creating {}", path.display()), e))?;
    let mut w = PcapWriter::new(BufWriter::new(file), DEFAULT_SRC, DEFAULT_DST)?;
    for p in packets {
        w.write_udp(p.at, &p.packet.to_bytes())?;
    }
    w.finish()?;
    Ok(PcapSummary {
        packets: packets.len(),
        duration: last.at.saturating_sub(first.at),
    })
}

/// Writes the stream a builder holds.
///
/// # Errors
/// As [`write_packets`].
pub fn write_stream(path: &Path, stream: &StreamBuilder) -> Result<PcapSummary> {
    write_packets(path, &stream.packets())
}

/// Writes 8 kHz `samples` as μ-law RTP.
///
/// # Errors
/// As [`StreamBuilder::new`] and [`write_packets`].
pub fn write_ulaw(path: &Path, samples: &[i16], params: RtpParams) -> Result<PcapSummary> {
    let mut b = StreamBuilder::new(params)?;
    b.audio(samples)?;
    write_stream(path, &b)
}

/// Writes a sine of `freq_hz` at `dbm0` lasting `ms`, as μ-law RTP.
///
/// # Errors
/// As [`crate::stream::sine`] and [`write_packets`].
pub fn write_tone(
    path: &Path,
    freq_hz: f32,
    dbm0: f32,
    ms: u32,
    params: RtpParams,
) -> Result<PcapSummary> {
    let mut b = StreamBuilder::new(params)?;
    b.tone(freq_hz, dbm0, ms)?;
    write_stream(path, &b)
}

/// Writes [`DTMF_LEAD_MS`] of silence, `digits` as `opts` says, then [`DTMF_TAIL_MS`] of
/// silence.
///
/// # Errors
/// As [`StreamBuilder::dtmf`] and [`write_packets`].
pub fn write_dtmf(
    path: &Path,
    digits: &str,
    opts: &DtmfOptions,
    params: RtpParams,
) -> Result<PcapSummary> {
    let mut b = StreamBuilder::new(params)?;
    b.silence(DTMF_LEAD_MS)?
        .dtmf(digits, opts)?
        .silence(DTMF_TAIL_MS)?;
    write_stream(path, &b)
}

/// One UDP datagram read back from a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcapRecord {
    /// Capture time relative to the first record.
    pub at: Duration,
    /// Source address.
    pub src: SocketAddrV4,
    /// Destination address.
    pub dst: SocketAddrV4,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// Reads the IPv4/UDP datagrams of a classic pcap file with Ethernet or Linux-cooked frames
/// (either byte order, micro- or nanosecond times); other frames are skipped.
///
/// # Errors
/// [`Error::Io`] when the file cannot be read, [`Error::Malformed`] for a bad header, an
/// unsupported link type or a truncated record.
pub fn read_udp(path: &Path) -> Result<Vec<PcapRecord>> {
    let data =
        std::fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    parse_udp(&data).map_err(|e| match e {
        Error::Malformed { what, why } => Error::Malformed {
            what,
            why: format!("{}: {why}", path.display()),
        },
        e => e,
    })
}

/// [`read_udp`] on bytes in memory.
///
/// # Errors
/// As [`read_udp`].
pub fn parse_udp(data: &[u8]) -> Result<Vec<PcapRecord>> {
    let bad = |why: String| Error::malformed("pcap file", why);
    if data.len() < 24 {
        return Err(bad(format!(
            "{} bytes, shorter than the header",
            data.len()
        )));
    }
    let magic = [data[0], data[1], data[2], data[3]];
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return Err(bad(format!("magic {magic:02x?} is not classic pcap"))),
    };
    let u32_at = |o: usize| {
        let b = [data[o], data[o + 1], data[o + 2], data[o + 3]];
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32_at(20);
    let l2 = match link {
        1 => 14,
        113 => 16,
        _ => return Err(bad(format!("link type {link} (only 1 and 113 are read)"))),
    };
    let mut out = Vec::new();
    let mut off = 24;
    let mut t0: Option<Duration> = None;
    while off < data.len() {
        if data.len() - off < 16 {
            return Err(bad(format!("record header cut short at byte {off}")));
        }
        let secs = u32_at(off);
        let frac = u32_at(off + 4);
        let incl = u32_at(off + 8) as usize;
        off += 16;
        if data.len() - off < incl {
            return Err(bad(format!(
                "record of {incl} bytes at byte {off} runs past the end"
            )));
        }
        let frame = &data[off..off + incl];
        off += incl;
        let t = Duration::from_secs(u64::from(secs))
            + if nanos {
                Duration::from_nanos(u64::from(frac))
            } else {
                Duration::from_micros(u64::from(frac))
            };
        let t0 = *t0.get_or_insert(t);
        if let Some(rec) = udp_of_frame(frame, l2) {
            out.push(PcapRecord {
                at: t.saturating_sub(t0),
                ..rec
            });
        }
    }
    Ok(out)
}

/// The IPv4/UDP datagram in a link-layer frame with `l2` header bytes, if it is one.
fn udp_of_frame(frame: &[u8], l2: usize) -> Option<PcapRecord> {
    let ethertype = u16::from_be_bytes([*frame.get(l2 - 2)?, *frame.get(l2 - 1)?]);
    if ethertype != 0x0800 {
        return None;
    }
    let ip = frame.get(l2..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if ip.first()? >> 4 != 4 || ihl < 20 || *ip.get(9)? != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
    let ip = ip.get(..total.min(ip.len()))?;
    let udp = ip.get(ihl..)?;
    let len = usize::from(u16::from_be_bytes([*udp.get(4)?, *udp.get(5)?]));
    let payload = udp.get(8..len.max(8))?;
    let addr = |o: usize, p: usize| {
        SocketAddrV4::new(
            Ipv4Addr::new(ip[o], ip[o + 1], ip[o + 2], ip[o + 3]),
            u16::from_be_bytes([udp[p], udp[p + 1]]),
        )
    };
    Some(PcapRecord {
        at: Duration::ZERO,
        src: addr(12, 0),
        dst: addr(16, 2),
        payload: payload.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::RtpPacket;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            !0xddf2
        );
        assert_eq!(checksum(&[&[0x01]]), !0x0100);
    }

    #[test]
    fn write_then_read() {
        let mut buf = Vec::new();
        {
            let mut w = PcapWriter::new(&mut buf, DEFAULT_SRC, DEFAULT_DST).unwrap();
            w.write_udp(Duration::from_millis(0), b"abc").unwrap();
            w.write_udp(Duration::from_millis(1500), b"defg").unwrap();
            assert!(w.write_udp(Duration::from_millis(10), b"x").is_err());
            w.finish().unwrap();
        }
        assert_eq!(buf.len(), 24 + 2 * (16 + 42) + 7);
        let r = parse_udp(&buf).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].at, Duration::from_millis(1500));
        assert_eq!(r[1].payload, b"defg");
        assert_eq!((r[0].src, r[0].dst), (DEFAULT_SRC, DEFAULT_DST));
        // IPv4 header checksum verifies to zero.
        assert_eq!(checksum(&[&buf[24 + 16 + 14..24 + 16 + 34]]), 0);
    }

    #[test]
    fn reads_sipps_own_capture() {
        let p = Path::new("/usr/share/sip-tester/dtmf_2833_1.pcap");
        if !p.exists() {
            eprintln!("skipped: {} is not installed", p.display());
            return;
        }
        let r = read_udp(p).unwrap();
        assert_eq!(r.len(), 10);
        let pk = RtpPacket::parse(&r[0].payload).unwrap();
        assert_eq!(pk.payload_type, 101);
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(parse_udp(&[0; 10]).is_err());
        assert!(parse_udp(&[0; 24]).is_err());
        let mut buf = Vec::new();
        PcapWriter::new(&mut buf, DEFAULT_SRC, DEFAULT_DST).unwrap();
        buf[20] = 101; // raw IP link type
        assert!(parse_udp(&buf).is_err());
        buf[20] = 1;
        buf.extend_from_slice(&[0; 10]);
        assert!(parse_udp(&buf).is_err());
        buf.truncate(24);
        buf.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 200, 0, 0, 0, 200, 0, 0, 0, 1]);
        assert!(parse_udp(&buf).is_err());
        // A frame that is not IPv4 is skipped, not an error.
        buf.truncate(24);
        buf.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 3, 0, 0, 0, 1, 2, 3]);
        assert!(parse_udp(&buf).unwrap().is_empty());
        assert!(write_packets(Path::new("/nonexistent/x.pcap"), &[]).is_err());
    }
}
