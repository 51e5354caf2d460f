//! DNS for locating trunks (RFC 3263 §4.2, SRV per RFC 2782), sans-IO: queries to send and
//! answers to read; the adapter owns the socket and the clock.
//!
//! **How it works.** A trunk given by name is looked up as `_sip._udp.<name>` (or `_tcp`);
//! the SRV records, ordered by priority and then by a weighted draw, give host names and
//! ports, and the answer's additional section usually gives their addresses. Without SRV
//! records the name's A records with port 5060 serve. Calls fail over along that list.
//!
//! The reader never panics on a hostile answer: every read is bounds-checked, compression
//! pointers may only point backwards and are followed a bounded number of times, and counts
//! beyond what the packet holds end the parse with an error.
//!
//! ```
//! use tipring_sip::dns::{self, RecordType};
//! let q = dns::query(0x1234, "_sip._udp.example.com", RecordType::Srv).unwrap();
//! assert_eq!(&q[..2], &[0x12, 0x34]);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The record types Tipring asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Service location.
    Srv,
}

impl RecordType {
    fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Aaaa => 28,
            RecordType::Srv => 33,
        }
    }
}

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    /// Lower is tried first.
    pub priority: u16,
    /// Share among records of the same priority.
    pub weight: u16,
    /// The port.
    pub port: u16,
    /// The host name (no trailing dot).
    pub target: String,
}

/// What an answer said.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Answer {
    /// SRV records, in the order given.
    pub srv: Vec<Srv>,
    /// Addresses by owner name (answer and additional sections), lower-cased names.
    pub addresses: Vec<(String, IpAddr)>,
    /// The smallest TTL seen, s (how long the answer may be kept).
    pub ttl: u32,
}

impl Answer {
    /// The addresses of `name` the answer carried.
    pub fn addresses_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = IpAddr> + 'a {
        self.addresses
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, ip)| *ip)
    }
}

/// Why an answer was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// Not the answer to our query (id, flags), or cut short.
    #[error("DNS: malformed or unrelated answer ({0})")]
    Malformed(&'static str),
    /// The name does not exist (NXDOMAIN).
    #[error("DNS: no such name")]
    NoSuchName,
    /// The server failed (SERVFAIL, REFUSED…), with its response code.
    #[error("DNS: server error (rcode {0})")]
    Server(u8),
    /// The answer did not fit a UDP datagram (TC set): ask again over TCP (RFC 7766 §5),
    /// framing the query with [`tcp_frame`].
    #[error("DNS: answer truncated; ask over TCP")]
    Truncated,
}

/// `query` framed for TCP: its length as two bytes, then the query (RFC 1035 §4.2.2). The
/// answer comes back framed the same way; [`parse`] reads what follows the length.
pub fn tcp_frame(query: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(query.len()).ok()?;
    let mut f = Vec::with_capacity(query.len() + 2);
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(query);
    Some(f)
}

/// A query for `name`'s `rtype` records with id `id` (recursion desired), or `None` when
/// `name` is not a valid DNS name (a label over 63 bytes, the whole over 253, empty labels).
pub fn query(id: u16, name: &str, rtype: RecordType) -> Option<Vec<u8>> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return None;
    }
    let mut q = Vec::with_capacity(18 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return None;
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&rtype.code().to_be_bytes());
    q.extend_from_slice(&[0, 1]); // IN
    Some(q)
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Result<u8, DnsError> {
        let v = *self
            .b
            .get(self.at)
            .ok_or(DnsError::Malformed("cut short"))?;
        self.at += 1;
        Ok(v)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        Ok(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        Ok(u32::from(self.u16()?) << 16 | u32::from(self.u16()?))
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], DnsError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(DnsError::Malformed("length"))?;
        let s = self
            .b
            .get(self.at..end)
            .ok_or(DnsError::Malformed("cut short"))?;
        self.at = end;
        Ok(s)
    }

    /// A possibly compressed name (RFC 1035 §4.1.4), lower-cased, without the final dot.
    fn name(&mut self) -> Result<String, DnsError> {
        let mut out = String::new();
        let mut pos = self.at;
        let mut jumped = false;
        for _ in 0..128 {
            let len = *self.b.get(pos).ok_or(DnsError::Malformed("cut short"))?;
            match len {
                0 => {
                    if !jumped {
                        self.at = pos + 1;
                    }
                    return Ok(out);
                }
                l if l & 0xc0 == 0xc0 => {
                    let lo = *self
                        .b
                        .get(pos + 1)
                        .ok_or(DnsError::Malformed("cut short"))?;
                    let target = usize::from(l & 0x3f) << 8 | usize::from(lo);
                    // Only backwards: no loops.
                    if target >= pos {
                        return Err(DnsError::Malformed("forward name pointer"));
                    }
                    if !jumped {
                        self.at = pos + 2;
                    }
                    jumped = true;
                    pos = target;
                }
                l if l & 0xc0 != 0 => return Err(DnsError::Malformed("label type")),
                l => {
                    let label = self
                        .b
                        .get(pos + 1..pos + 1 + usize::from(l))
                        .ok_or(DnsError::Malformed("cut short"))?;
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&String::from_utf8_lossy(label).to_ascii_lowercase());
                    if out.len() > 255 {
                        return Err(DnsError::Malformed("name too long"));
                    }
                    pos += 1 + usize::from(l);
                }
            }
        }
        Err(DnsError::Malformed("too many labels"))
    }
}

/// Reads the answer to the query with id `id`.
///
/// # Errors
/// [`DnsError`]: not our answer or unreadable, no such name, or a server failure.
pub fn parse(resp: &[u8], id: u16) -> Result<Answer, DnsError> {
    let mut r = Reader { b: resp, at: 0 };
    if r.u16()? != id {
        return Err(DnsError::Malformed("id"));
    }
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("not a response"));
    }
    if flags & 0x0200 != 0 {
        return Err(DnsError::Truncated);
    }
    match (flags & 0x000f) as u8 {
        0 => {}
        3 => return Err(DnsError::NoSuchName),
        rc => return Err(DnsError::Server(rc)),
    }
    let (qd, an, ns, ar) = (r.u16()?, r.u16()?, r.u16()?, r.u16()?);
    for _ in 0..qd {
        r.name()?;
        r.bytes(4)?;
    }
    let mut out = Answer {
        ttl: u32::MAX,
        ..Answer::default()
    };
    let total = u32::from(an) + u32::from(ns) + u32::from(ar);
    for _ in 0..total {
        let owner = r.name()?;
        let (rtype, class, ttl, len) = (r.u16()?, r.u16()?, r.u32()?, r.u16()?);
        let start = r.at;
        let data = r.bytes(usize::from(len))?;
        if class != 1 {
            continue;
        }
        match rtype {
            1 if data.len() == 4 => {
                let ip = Ipv4Addr::new(data[0], data[1], data[2], data[3]);
                out.addresses.push((owner, IpAddr::V4(ip)));
            }
            28 if data.len() == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(data);
                out.addresses.push((owner, IpAddr::V6(Ipv6Addr::from(a))));
            }
            33 if data.len() >= 7 => {
                // The target may be compressed: read it in place.
                let mut sub = Reader { b: resp, at: start };
                let (priority, weight, port) = (sub.u16()?, sub.u16()?, sub.u16()?);
                let target = sub.name()?;
                if !target.is_empty() && port != 0 {
                    out.srv.push(Srv {
                        priority,
                        weight,
                        port,
                        target,
                    });
                }
            }
            _ => continue,
        }
        out.ttl = out.ttl.min(ttl);
    }
    if out.ttl == u32::MAX {
        out.ttl = 0;
    }
    Ok(out)
}

/// Orders SRV records to try (RFC 2782): by priority, and within one priority by a draw
/// weighted by `weight` (records of weight 0 last), `random` supplying the draws.
pub fn order(mut records: Vec<Srv>, mut random: impl FnMut() -> u64) -> Vec<Srv> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    while !records.is_empty() {
        let p = records[0].priority;
        let n = records.iter().take_while(|r| r.priority == p).count();
        let mut group: Vec<Srv> = records.drain(..n).collect();
        while !group.is_empty() {
            let total: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                let mut x = random() % total;
                group
                    .iter()
                    .position(|r| {
                        let w = u64::from(r.weight);
                        if x < w {
                            true
                        } else {
                            x -= w;
                            false
                        }
                    })
                    .unwrap_or(0)
            };
            out.push(group.remove(pick));
        }
    }
    out
}

/// The `nameserver` addresses of a resolv.conf.
pub fn nameservers(resolv_conf: &str) -> Vec<IpAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            (it.next()? == "nameserver").then_some(())?;
            it.next()?.split('%').next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `q` with `records` (owner, type, data) in the answer section.
    fn answer(q: &[u8], records: &[(&[u8], u16, Vec<u8>)]) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] |= 0x80;
        r[7] = records.len() as u8;
        for (owner, t, data) in records {
            r.extend_from_slice(owner);
            r.extend_from_slice(&t.to_be_bytes());
            r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            r.extend_from_slice(&(data.len() as u16).to_be_bytes());
            r.extend_from_slice(data);
        }
        r
    }

    #[test]
    fn srv_with_compressed_names_and_glue_rfc2782() {
        let q = query(7, "_sip._udp.example.com", RecordType::Srv).unwrap();
        // The question's name starts at offset 12: point back at "example.com" (offset 12 +
        // 5 + 5 = 22) for the target "pbx.example.com".
        let mut srv = vec![0, 10, 0, 60, 0x13, 0xc4, 3, b'p', b'b', b'x', 0xc0, 22];
        let glue: &[u8] = &[3, b'p', b'b', b'x', 0xc0, 22];
        let r = answer(
            &q,
            &[
                (&[0xc0, 12], 33, std::mem::take(&mut srv)),
                (glue, 1, vec![192, 0, 2, 7]),
            ],
        );
        let a = parse(&r, 7).unwrap();
        assert_eq!(
            a.srv,
            [Srv {
                priority: 10,
                weight: 60,
                port: 5060,
                target: "pbx.example.com".into()
            }]
        );
        assert_eq!(
            a.addresses_of("pbx.example.com").collect::<Vec<_>>(),
            [IpAddr::from([192, 0, 2, 7])]
        );
        assert_eq!(a.ttl, 60);
    }

    #[test]
    fn hostile_answers_are_errors_not_panics() {
        let q = query(9, "example.com", RecordType::A).unwrap();
        assert_eq!(parse(&q, 9), Err(DnsError::Malformed("not a response")));
        assert_eq!(parse(&answer(&q, &[]), 8), Err(DnsError::Malformed("id")));
        // A pointer to itself.
        let r = answer(&q, &[(&[0xc0, 29], 1, vec![1, 2, 3, 4])]);
        assert!(parse(&r, 9).is_err());
        // Counts beyond the packet.
        let mut r = answer(&q, &[]);
        r[7] = 200;
        assert!(parse(&r, 9).is_err());
        let mut nx = answer(&q, &[]);
        nx[3] |= 3;
        assert_eq!(parse(&nx, 9), Err(DnsError::NoSuchName));
        let mut tc = answer(&q, &[(&[0xc0, 12], 1, vec![1, 2, 3, 4])]);
        tc[2] |= 0x02;
        assert_eq!(parse(&tc, 9), Err(DnsError::Truncated));
        for n in 0..q.len() + 10 {
            let mut r = answer(&q, &[(&[0xc0, 12], 1, vec![1, 2, 3, 4])]);
            r.truncate(n);
            let _ = parse(&r, 9);
        }
        assert!(query(1, "a..b", RecordType::A).is_none());
        assert!(query(1, &"x".repeat(64), RecordType::A).is_none());
    }

    #[test]
    fn order_by_priority_then_weight() {
        let rec = |p, w, t: &str| Srv {
            priority: p,
            weight: w,
            port: 5060,
            target: t.into(),
        };
        let recs = vec![rec(20, 0, "c"), rec(10, 1, "b"), rec(10, 99, "a")];
        let mut firsts = [0usize; 2];
        let mut seed = 1u64;
        for _ in 0..1000 {
            let o = order(recs.clone(), || {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                seed >> 33
            });
            assert_eq!(o[2].target, "c", "priority 20 last");
            firsts[usize::from(o[0].target == "b")] += 1;
        }
        assert!(firsts[0] > 950, "weight 99 first nearly always: {firsts:?}");
    }

    #[test]
    fn tcp_frames_carry_the_length_first() {
        let q = query(7, "_sip._tcp.example.com", RecordType::Srv).unwrap();
        let f = tcp_frame(&q).unwrap();
        assert_eq!(usize::from(u16::from_be_bytes([f[0], f[1]])), q.len());
        assert_eq!(&f[2..], &q[..]);
        assert!(tcp_frame(&vec![0; 70_000]).is_none());
    }

    #[test]
    fn resolv_conf() {
        let ns = nameservers("# c\nsearch x\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\n");
        assert_eq!(ns.len(), 2);
        assert_eq!(ns[0], IpAddr::from([10, 0, 0, 2]));
    }
}
