//! Trunk addresses (RFC 3263 §4): `address:port` as given; `name:port` through the system
//! resolver (A/AAAA); a bare `name` through SRV (`_sip._udp.name` or `_sip._tcp.name`) asked
//! of the resolv.conf name servers with the sans-IO [`tipring_sip::dns`] codec (over UDP,
//! and again over TCP when the answer comes back truncated), falling back to the name's
//! addresses on port 5060. The result is the list calls fail over along.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tipring_sip::dns::{self, RecordType};
use tipring_sip::hdr;
use tipring_sip::ua::Transport;

/// How long one name server gets to answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A trunk's targets and how long they may be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Targets {
    /// In the order to try.
    pub addrs: Vec<SocketAddr>,
    /// Seconds until they should be looked up again (none: never, a literal address).
    pub ttl: Option<u32>,
}

/// The name servers of /etc/resolv.conf (port 53), or 127.0.0.53's stub when it names none.
pub(super) fn nameservers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut ns: Vec<SocketAddr> = dns::nameservers(&text)
        .into_iter()
        .map(|ip| SocketAddr::new(ip, 53))
        .collect();
    if ns.is_empty() {
        ns.push(SocketAddr::from(([127, 0, 0, 53], 53)));
    }
    ns
}

/// Resolves a trunk's `host` for `transport`, asking `ns` for SRV records; `random` orders
/// records of equal priority.
///
/// # Errors
/// No address was found (the message says why).
pub(super) async fn resolve(
    host: &str,
    transport: Transport,
    ns: &[SocketAddr],
    mut random: impl FnMut() -> u64,
) -> Result<Targets, String> {
    if let Ok(a) = host.parse::<SocketAddr>() {
        return Ok(Targets {
            addrs: vec![a],
            ttl: None,
        });
    }
    let (name, port) =
        hdr::split_host_port(host).ok_or_else(|| format!("{host:?} is not a host"))?;
    if let Some(port) = port {
        return Ok(Targets {
            addrs: lookup(&name, port).await?,
            ttl: Some(300),
        });
    }
    let service = match transport {
        Transport::Udp => "_sip._udp",
        Transport::Tcp => "_sip._tcp",
    };
    let srv_name = format!("{service}.{name}");
    let mut why = String::new();
    for server in ns {
        match srv(*server, &srv_name, random() as u16).await {
            Ok(answer) if !answer.srv.is_empty() => {
                let mut addrs = Vec::new();
                for r in dns::order(answer.srv.clone(), &mut random) {
                    let glue: Vec<IpAddr> = answer.addresses_of(&r.target).collect();
                    if glue.is_empty() {
                        match lookup(&r.target, r.port).await {
                            Ok(a) => addrs.extend(a),
                            Err(e) => tracing::info!("SIP: {srv_name}: {e}"),
                        }
                    } else {
                        addrs.extend(glue.into_iter().map(|ip| SocketAddr::new(ip, r.port)));
                    }
                }
                addrs.dedup();
                if addrs.is_empty() {
                    return Err(format!("{srv_name}: no SRV target has an address"));
                }
                return Ok(Targets {
                    addrs,
                    ttl: Some(answer.ttl.clamp(30, 3600)),
                });
            }
            // No SRV records (or no such name): the name's own addresses (§4.2).
            Ok(_) | Err(dns::DnsError::NoSuchName) => break,
            Err(e) => why = format!("{server}: {e}"),
        }
    }
    if !why.is_empty() {
        tracing::info!("SIP: {srv_name}: {why}; trying the name's addresses");
    }
    Ok(Targets {
        addrs: lookup(&name, 5060).await?,
        ttl: Some(300),
    })
}

/// The system resolver's addresses for `name`.
async fn lookup(name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| format!("{name}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{name}: no address"));
    }
    Ok(addrs)
}

/// One SRV query to `server`.
async fn srv(server: SocketAddr, name: &str, id: u16) -> Result<dns::Answer, dns::DnsError> {
    let io = |_| dns::DnsError::Server(255);
    let q = dns::query(id, name, RecordType::Srv).ok_or(dns::DnsError::Malformed("name"))?;
    let bind: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = tokio::net::UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(server).await.map_err(io)?;
    sock.send(&q).await.map_err(io)?;
    let mut buf = vec![0u8; 4096];
    let deadline = tokio::time::Instant::now() + QUERY_TIMEOUT;
    loop {
        let n = tokio::time::timeout_at(deadline, sock.recv(&mut buf))
            .await
            .map_err(|_| dns::DnsError::Server(254))?
            .map_err(io)?;
        match dns::parse(&buf[..n], id) {
            // Someone else's datagram: keep waiting for ours.
            Err(dns::DnsError::Malformed("id")) => continue,
            // Too many records for a datagram (a trunk with many SRV targets): the same
            // question over TCP (RFC 7766 §5).
            Err(dns::DnsError::Truncated) => {
                return tokio::time::timeout_at(deadline + QUERY_TIMEOUT, srv_tcp(server, &q, id))
                    .await
                    .map_err(|_| dns::DnsError::Server(254))?;
            }
            r => return r,
        }
    }
}

/// The query `q` (id `id`) asked of `server` over TCP.
async fn srv_tcp(server: SocketAddr, q: &[u8], id: u16) -> Result<dns::Answer, dns::DnsError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let io = |_| dns::DnsError::Server(255);
    let frame = dns::tcp_frame(q).ok_or(dns::DnsError::Malformed("query too long"))?;
    let mut conn = tokio::net::TcpStream::connect(server).await.map_err(io)?;
    conn.write_all(&frame).await.map_err(io)?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut buf).await.map_err(io)?;
    match dns::parse(&buf, id) {
        // TC over TCP makes no sense: the answer is unusable either way.
        Err(dns::DnsError::Truncated) => Err(dns::DnsError::Malformed("truncated over TCP")),
        r => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer to query `q`: SRV for `_sip._udp.pbx.test` with two targets, `b.pbx.test`
    /// (priority 10, with glue 127.0.0.2) and `localhost` (priority 20, no glue: the system
    /// resolver finds it); NXDOMAIN for anything else. `tc` sets the truncation flag and
    /// leaves the records out, as a server does when they do not fit a datagram.
    fn srv_answer(q: &[u8], tc: bool) -> Vec<u8> {
        let mut r = q.to_vec();
        r[2] |= 0x80;
        if !q.windows(3).any(|w| w == b"pbx") || !q.windows(4).any(|w| w == b"_udp") {
            r[3] |= 3;
        } else if tc {
            r[2] |= 0x02;
        } else {
            r[7] = 2; // two answers
            r[11] = 1; // one additional
            let rec = |r: &mut Vec<u8>, t: u16, data: &[u8]| {
                r.extend_from_slice(&[0xc0, 12]);
                r.extend_from_slice(&t.to_be_bytes());
                r.extend_from_slice(&[0, 1, 0, 0, 0, 120]);
                r.extend_from_slice(&(data.len() as u16).to_be_bytes());
                r.extend_from_slice(data);
            };
            // `_sip._udp.pbx.test` is at 12; "pbx.test" at 12 + 5 + 5 = 22.
            rec(&mut r, 33, &[0, 10, 0, 1, 0x13, 0xc5, 1, b'b', 0xc0, 22]);
            rec(
                &mut r,
                33,
                &[
                    0, 20, 0, 1, 0x13, 0xc6, 9, b'l', b'o', b'c', b'a', b'l', b'h', b'o', b's',
                    b't', 0,
                ],
            );
            r.extend_from_slice(&[1, b'b', 0xc0, 22]);
            r.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 2]);
        }
        r
    }

    /// A name server on loopback answering with [`srv_answer`] over UDP (truncated when
    /// `tc`) and, when `tcp`, in full over TCP on the same port.
    async fn server_with(tc: bool, tcp: bool) -> SocketAddr {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let at = sock.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = sock.recv_from(&mut buf).await {
                let _ = sock.send_to(&srv_answer(&buf[..n], tc), from).await;
            }
        });
        if tcp {
            let l = tokio::net::TcpListener::bind(at).await.unwrap();
            tokio::spawn(async move {
                while let Ok((mut c, _)) = l.accept().await {
                    let mut len = [0u8; 2];
                    if c.read_exact(&mut len).await.is_err() {
                        continue;
                    }
                    let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                    if c.read_exact(&mut q).await.is_err() {
                        continue;
                    }
                    let a = srv_answer(&q, false);
                    let _ = c.write_all(&(a.len() as u16).to_be_bytes()).await;
                    let _ = c.write_all(&a).await;
                }
            });
        }
        at
    }

    async fn server() -> SocketAddr {
        server_with(false, false).await
    }

    #[tokio::test]
    async fn a_truncated_answer_is_asked_again_over_tcp() {
        let ns = server_with(true, true).await;
        let t = resolve("pbx.test", Transport::Udp, &[ns], || 7)
            .await
            .unwrap();
        assert_eq!(t.addrs[0], "127.0.0.2:5061".parse().unwrap());
        assert_eq!(t.ttl, Some(60));
        // No TCP at that server: the truncated answer is not used as if it were complete
        // (it would read as "no SRV records"); the next server answers.
        let udp_only = server_with(true, false).await;
        let full = server().await;
        let t = resolve("pbx.test", Transport::Udp, &[udp_only, full], || 7)
            .await
            .unwrap();
        assert_eq!(t.addrs[0], "127.0.0.2:5061".parse().unwrap());
    }

    #[tokio::test]
    async fn srv_targets_in_priority_order_with_glue_and_lookup() {
        let ns = server().await;
        let dead: SocketAddr = "127.0.0.1:9".parse().unwrap();
        // The first name server is dead (ICMP or timeout): the second answers.
        let t = resolve("pbx.test", Transport::Udp, &[dead, ns], || 7)
            .await
            .unwrap();
        assert_eq!(t.addrs[0], "127.0.0.2:5061".parse().unwrap());
        assert!(
            t.addrs[1..]
                .iter()
                .any(|a| a.port() == 5062 && a.ip().is_loopback())
        );
        assert_eq!(t.ttl, Some(60));
    }

    #[tokio::test]
    async fn literals_names_with_ports_and_no_srv() {
        let ns = server().await;
        let lit = resolve("192.0.2.1:5070", Transport::Udp, &[ns], || 0)
            .await
            .unwrap();
        assert_eq!(lit.addrs, ["192.0.2.1:5070".parse().unwrap()]);
        assert_eq!(lit.ttl, None);
        let named = resolve("localhost:5080", Transport::Udp, &[ns], || 0)
            .await
            .unwrap();
        assert!(named.addrs.iter().all(|a| a.port() == 5080));
        // NXDOMAIN for the SRV name: the name's addresses on 5060.
        let plain = resolve("localhost", Transport::Tcp, &[ns], || 0)
            .await
            .unwrap();
        assert!(plain.addrs.iter().all(|a| a.port() == 5060));
        assert!(
            resolve("no-such-host.invalid", Transport::Udp, &[ns], || 0)
                .await
                .is_err()
        );
    }
}
