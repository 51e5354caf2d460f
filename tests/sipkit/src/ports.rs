//! Free loopback ports for child processes, and checks that a child has bound one.
//!
//! # How does it work?
//! A port is found by binding port 0 and releasing it. That is racy: another process may
//! take the port before the child binds it. The runners therefore treat a bind failure at
//! start-up as "try again with fresh ports" (a few times), and they learn that a child is
//! ready by seeing its port in `/proc/net/udp` rather than by binding it themselves (which
//! would steal it).

use crate::error::{Error, Result};
use std::net::{IpAddr, SocketAddr, TcpListener, UdpSocket};

/// A UDP port that was free on `ip` a moment ago.
///
/// # Errors
/// [`Error::Io`] when binding `ip:0` fails (the address is not local).
pub fn free_udp_port(ip: IpAddr) -> Result<u16> {
    let s = UdpSocket::bind(SocketAddr::new(ip, 0))
        .map_err(|e| Error::io(format!("binding a UDP port on {ip}"), e))?;
    let port = s
        .local_addr()
        .map_err(|e| Error::io("reading a bound UDP socket's address", e))?
        .port();
    Ok(port)
}

/// A UDP port `p` such that `p` and `p + 2` were both free on `ip` a moment ago (SIPp binds
/// its media port and the port two above it).
///
/// # Errors
/// [`Error::Io`] when binding fails, [`Error::Start`] when no pair was found in 64 tries.
pub fn free_udp_port_pair(ip: IpAddr) -> Result<u16> {
    for _ in 0..64 {
        let a = UdpSocket::bind(SocketAddr::new(ip, 0))
            .map_err(|e| Error::io(format!("binding a UDP port on {ip}"), e))?;
        let p = a
            .local_addr()
            .map_err(|e| Error::io("reading a bound UDP socket's address", e))?
            .port();
        let Some(p2) = p.checked_add(2) else { continue };
        if UdpSocket::bind(SocketAddr::new(ip, p2)).is_ok() {
            return Ok(p);
        }
    }
    Err(Error::Start {
        tool: "port allocator",
        why: format!("no UDP port p with p and p+2 free on {ip} in 64 tries"),
    })
}

/// A TCP port that was free on `ip` a moment ago.
///
/// # Errors
/// [`Error::Io`] when binding `ip:0` fails.
pub fn free_tcp_port(ip: IpAddr) -> Result<u16> {
    let s = TcpListener::bind(SocketAddr::new(ip, 0))
        .map_err(|e| Error::io(format!("binding a TCP port on {ip}"), e))?;
    let port = s
        .local_addr()
        .map_err(|e| Error::io("reading a bound TCP socket's address", e))?
        .port();
    Ok(port)
}

/// True when some socket is bound to UDP `port` (any address), according to
/// `/proc/net/udp` and `/proc/net/udp6`. False when neither file can be read.
pub fn udp_port_bound(port: u16) -> bool {
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|f| {
        std::fs::read_to_string(f)
            .map(|t| table_has_local_port(&t, port))
            .unwrap_or(false)
    })
}

/// True when process `pid` holds a UDP socket bound to `port`: a socket inode listed for
/// the port in `/proc/net/udp{,6}` is among the process's open files. (A port merely being
/// bound could be someone else's.) False when `/proc` cannot be read.
pub fn udp_port_bound_by(pid: u32, port: u16) -> bool {
    let inodes: Vec<String> = ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|t| socket_inodes(&t, port))
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .any(|link| {
            let link = link.to_string_lossy();
            link.strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|ino| inodes.iter().any(|i| i == ino))
        })
}

/// The local port of a `/proc/net/{udp,tcp}` table line.
fn local_port(line: &str) -> Option<u16> {
    line.split_whitespace()
        .nth(1)
        .and_then(|local| local.rsplit_once(':'))
        .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok())
}

/// True when a `/proc/net/{udp,tcp}` table lists `port` as a local port.
fn table_has_local_port(table: &str, port: u16) -> bool {
    table
        .lines()
        .skip(1)
        .any(|line| local_port(line) == Some(port))
}

/// The socket inodes (10th column) of the table's lines with local port `port`.
fn socket_inodes(table: &str, port: u16) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter(|line| local_port(line) == Some(port))
        .filter_map(|line| line.split_whitespace().nth(9).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn proc_table_parsing() {
        let t = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                 1: 0100007F:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1 2 0 0\n";
        assert!(table_has_local_port(t, 0x1F90));
        assert!(!table_has_local_port(t, 0x1F91));
        assert_eq!(socket_inodes(t, 0x1F90), vec!["1".to_string()]);
        assert!(!table_has_local_port("garbage", 1));
    }

    #[test]
    fn bound_port_is_seen() {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = s.local_addr().unwrap().port();
        assert!(udp_port_bound(port));
        assert!(udp_port_bound_by(std::process::id(), port));
        // PID 1 is not this test.
        assert!(!udp_port_bound_by(1, port));
    }

    #[test]
    fn allocators_return_free_ports() {
        let p = free_udp_port(LO).unwrap();
        UdpSocket::bind((LO, p)).unwrap();
        let q = free_udp_port_pair(LO).unwrap();
        UdpSocket::bind((LO, q)).unwrap();
        UdpSocket::bind((LO, q + 2)).unwrap();
        let t = free_tcp_port(LO).unwrap();
        TcpListener::bind((LO, t)).unwrap();
    }
}
