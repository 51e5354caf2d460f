//! Who is on the other end: loopback or not, and the peer address for logs.

use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::net::TcpListener;

use crate::tls::TlsListener;

/// Whether `addr` is a loopback address: `127.0.0.0/8`, `::1`, or an IPv4-mapped loopback
/// address (`::ffff:127.0.0.1`).
///
/// The unspecified addresses (`0.0.0.0`, `::`) are not loopback: a listener bound to them
/// answers on every interface.
///
/// ```
/// use tipring_auth::is_loopback;
/// assert!(is_loopback(&"127.0.0.1:8080".parse().unwrap()));
/// assert!(is_loopback(&"[::ffff:127.0.0.2]:8080".parse().unwrap()));
/// assert!(!is_loopback(&"0.0.0.0:8080".parse().unwrap()));
/// ```
#[must_use]
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        IpAddr::V4(ip) => ip.is_loopback(),
        IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// The peer's address as connect info, the same for plain and TLS listeners:
/// serve with `app.into_make_service_with_connect_info::<PeerAddr>()` and
/// [`require`](crate::require) logs the peer of every refused request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, TcpListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, TlsListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        Self(*stream.remote_addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn loopback_addresses() {
        for yes in [
            "127.0.0.1:1",
            "127.255.255.254:1",
            "[::1]:1",
            "[::ffff:127.0.0.1]:1",
            "[::ffff:127.1.2.3]:1",
        ] {
            assert!(is_loopback(&at(yes)), "{yes}");
        }
        for no in [
            "0.0.0.0:1",
            "[::]:1",
            "128.0.0.1:1",
            "10.0.0.1:1",
            "[::2]:1",
            "[::ffff:10.0.0.1]:1",
            // IPv4-compatible (deprecated), not mapped: not loopback.
            "[::127.0.0.1]:1",
        ] {
            assert!(!is_loopback(&at(no)), "{no}");
        }
    }
}
