//! ICMP errors on the SIP UDP socket, as transport errors (RFC 3261 §18.4).
//!
//! A trunk whose PBX is down answers our UDP datagrams with ICMP "port unreachable" (or a
//! router says "host/network unreachable"). Without this module Linux drops that news for
//! an unconnected socket, and an INVITE to a dead address waits for timer B (32 s) before
//! failing over to the trunk's next address. With `IP_RECVERR` (`IPV6_RECVERR`) set, each
//! such error is queued on the socket with the destination of the datagram that caused it,
//! and the next `recvfrom` fails with it. The adapter then (and whenever the socket reports
//! error readiness, which tokio does not always raise in time) reads the queue with
//! [`drain`] and reports each destination to the core with
//! `Ua::handle_transport_error`, which ends the transactions waiting on it at once (an INVITE
//! fails over; with no address left the call fails with 503, cause 38).
//!
//! Only hard errors count: port, host and network unreachable. "Fragmentation needed" and
//! errors of local origin are read and ignored. An ICMP error only affects transactions
//! already waiting on exactly that address and port.

use nix::errno::Errno;
use nix::libc;
use nix::sys::socket::{
    ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, setsockopt, sockopt,
};
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};

/// Asks the kernel to queue ICMP errors on `sock` (bound to an address of family `v6` or
/// not).
///
/// # Errors
/// The `setsockopt` failed.
pub(super) fn enable(sock: &impl AsFd, v6: bool) -> nix::Result<()> {
    if v6 {
        setsockopt(sock, sockopt::Ipv6RecvErr, &true)
    } else {
        setsockopt(sock, sockopt::Ipv4RecvErr, &true)
    }
}

/// One error read from the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Unreachable {
    /// Where the datagram that caused it was going.
    pub to: SocketAddr,
    /// What the ICMP message says (`ECONNREFUSED`: port unreachable, `EHOSTUNREACH`,
    /// `ENETUNREACH`).
    pub errno: Errno,
}

/// Reads the next error queued on `sock` without blocking: `Ok(Some(_))` for a hard ICMP
/// error, `Ok(None)` for one that does not mean the destination is unreachable (read and
/// dropped), `Err(EAGAIN)` when the queue is empty.
///
/// # Errors
/// `EAGAIN` (nothing queued) or the `recvmsg` error.
pub(super) fn next(sock: &impl AsRawFd) -> nix::Result<Option<Unreachable>> {
    // The original datagram comes back as data; its head is all that fits, and all we need
    // is the address it was going to, which is in the message's name.
    let mut data = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut data)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let msg = recvmsg::<SockaddrStorage>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT,
    )?;
    let to = msg.address.and_then(|a| socket_addr(&a));
    let mut errno = None;
    for c in msg.cmsgs()? {
        let e = match c {
            ControlMessageOwned::Ipv4RecvErr(e, _) => e,
            ControlMessageOwned::Ipv6RecvErr(e, _) => e,
            _ => continue,
        };
        let icmp =
            e.ee_origin == libc::SO_EE_ORIGIN_ICMP || e.ee_origin == libc::SO_EE_ORIGIN_ICMP6;
        let code = Errno::from_raw(e.ee_errno as i32);
        if icmp
            && matches!(
                code,
                Errno::ECONNREFUSED | Errno::EHOSTUNREACH | Errno::ENETUNREACH
            )
        {
            errno = Some(code);
        }
    }
    Ok(to.zip(errno).map(|(to, errno)| Unreachable { to, errno }))
}

fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// Every hard error queued on `sock` now, oldest first (at most `max`; the rest stay
/// queued for the next call).
pub(super) fn drain(sock: &impl AsRawFd, max: usize) -> Vec<Unreachable> {
    let mut out = Vec::new();
    for _ in 0..max {
        match next(sock) {
            Ok(Some(u)) => out.push(u),
            Ok(None) => {}
            Err(Errno::EINTR) => {}
            Err(_) => break, // EAGAIN: empty
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::time::{Duration, Instant};

    /// A port on `ip` nobody listens on (bound, noted, closed).
    fn dead_port(ip: &str) -> Option<SocketAddr> {
        let s = UdpSocket::bind((ip, 0)).ok()?;
        s.local_addr().ok()
    }

    fn wait_for(sock: &UdpSocket) -> Vec<Unreachable> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = drain(sock, 16);
            if !got.is_empty() || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_refused_datagram_is_reported_with_its_destination() {
        for (ip, v6) in [("127.0.0.1", false), ("::1", true)] {
            let Ok(sock) = UdpSocket::bind((ip, 0)) else {
                continue; // no IPv6 loopback here
            };
            let Some(dead) = dead_port(ip) else { continue };
            enable(&sock, v6).unwrap();
            assert!(drain(&sock, 16).is_empty(), "nothing queued yet");
            sock.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", dead)
                .unwrap();
            let got = wait_for(&sock);
            assert_eq!(
                got,
                vec![Unreachable {
                    to: dead,
                    errno: Errno::ECONNREFUSED
                }],
                "{ip}"
            );
            assert!(drain(&sock, 16).is_empty(), "read once");
        }
    }

    #[test]
    fn without_the_option_nothing_is_queued() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dead = dead_port("127.0.0.1").unwrap();
        sock.send_to(b"x", dead).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(drain(&sock, 16).is_empty());
    }
}
