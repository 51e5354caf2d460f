//! The media thread's UDP calls: non-blocking receive of what waits on a slot's socket,
//! send, and the socket options RTP wants.
//!
//! **Receive.** A slot's RTP socket is read once per tick: `recvfrom(2)` with
//! `MSG_DONTWAIT` until it says `EAGAIN` (or [`BATCH`] datagrams are taken). With one packet
//! per 20 ms tick that is two calls, the second only saying "nothing left". That measured
//! cheaper than one `recvmmsg(2)`, which copies in and validates a `msghdr` and an iovec for
//! every slot it tries, the empty last one included: 1.6 against 1.9 µs per socket on this
//! machine's loopback (2 000 sockets with one datagram each, 300 rounds, several runs).
//!
//! **No cancellation points.** The C library's `recvfrom` and `sendto` wrap the system call
//! in pthread asynchronous-cancellation bookkeeping (2.5 % of the media thread in `perf`).
//! Nothing in a Rust program cancels threads, so these calls go straight to `syscall(2)`.
//!
//! **Don't fragment.** [`prepare`] sets `IP_PMTUDISC_DO` on IPv4 sockets. An RTP packet is
//! at most a few hundred bytes (G.711 at 60 ms: 492) and never needs fragmenting, and with
//! DF set Linux leaves the IP identification at 0 instead of hashing a fresh one for every
//! datagram an unconnected socket sends (`__ip_select_ident`: 2.7 % of the media thread).
//!
//! Everything lives on the caller's stack or in the caller's buffers: nothing allocates.

#![allow(unsafe_code)] // raw system calls, see the SAFETY notes

use nix::libc;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams taken per call of [`recv`]. A slot receives one packet per tick (20 ms ptime)
/// or two (10 ms); four leaves room for a burst after a network stall.
pub const BATCH: usize = 4;

/// The largest datagram kept whole; longer ones are flagged truncated.
pub const MAX_DATAGRAM: usize = 1500;

/// One received datagram: its length in the buffer of the same index and its source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Received {
    /// Bytes in the buffer.
    pub len: usize,
    /// The sender (`None` for an address family other than IPv4/IPv6, which a UDP socket
    /// does not produce).
    pub from: Option<SocketAddr>,
    /// The datagram was longer than [`MAX_DATAGRAM`] and was cut.
    pub truncated: bool,
}

/// Socket options for an RTP or RTCP socket: don't fragment (IPv4), see the module notes.
///
/// # Errors
/// The `setsockopt` failed (it does not on Linux for a UDP socket).
pub fn prepare(sock: &UdpSocket) -> std::io::Result<()> {
    if sock.local_addr()?.is_ipv4() {
        let v: libc::c_int = libc::IP_PMTUDISC_DO;
        // SAFETY: the option value is a c_int that lives across the call, its size is
        // given, and the descriptor is open while `sock` is borrowed.
        let r = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                (&raw const v).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Takes up to [`BATCH`] datagrams waiting on `sock` into `bufs` without blocking, and
/// describes them in `out`. Returns how many: fewer than `BATCH` means the socket is empty
/// (or reported an error, such as a pending ICMP error, which is consumed this way as
/// `recv_from` would report it).
pub fn recv(
    sock: &UdpSocket,
    bufs: &mut [[u8; MAX_DATAGRAM]; BATCH],
    out: &mut [Received; BATCH],
) -> usize {
    let fd = sock.as_raw_fd();
    for (i, (buf, r)) in bufs.iter_mut().zip(out.iter_mut()).enumerate() {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut name: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the buffer is MAX_DATAGRAM writable bytes, `name` and `len` are a
        // sockaddr_storage and its size; all outlive the call, and the kernel writes within
        // the lengths given. The descriptor is open while `sock` is borrowed. MSG_TRUNC
        // makes the result the datagram's real length, so a cut one is seen.
        let n = unsafe {
            libc::syscall(
                libc::SYS_recvfrom,
                fd,
                buf.as_mut_ptr(),
                MAX_DATAGRAM,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
                &raw mut name,
                &raw mut len,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            return i; // -1: EAGAIN (nothing waiting) or an error
        };
        *r = Received {
            len: n.min(MAX_DATAGRAM),
            from: address(&name, len),
            truncated: n > MAX_DATAGRAM,
        };
    }
    BATCH
}

/// Sends one datagram to `to`, without blocking. A failure (no route, a pending ICMP
/// error, a full socket buffer) loses this datagram only and is returned for counting.
pub fn send(sock: &UdpSocket, buf: &[u8], to: SocketAddr) -> Result<(), i32> {
    // SAFETY: as in `address`, the storage is valid when zeroed.
    let mut name: libc::sockaddr_storage = unsafe { core::mem::zeroed() };
    let len = match to {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in.
            let sin = unsafe { &mut *(&raw mut name).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for a sockaddr_in6.
            let sin6 = unsafe { &mut *(&raw mut name).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            size_of::<libc::sockaddr_in6>()
        }
    };
    // SAFETY: `buf` is readable for its length, `name` holds a socket address of `len`
    // bytes; both outlive the call. The descriptor is open while `sock` is borrowed.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            sock.as_raw_fd(),
            buf.as_ptr(),
            buf.len(),
            libc::MSG_DONTWAIT,
            &raw const name,
            len as libc::socklen_t,
        )
    };
    if n < 0 {
        Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        Ok(())
    }
}

/// The socket address the kernel wrote into `ss` (`len` bytes of it).
fn address(ss: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    let len = len as usize;
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and sockaddr_storage
            // is large and aligned enough for every socket address type.
            let sin = unsafe { &*(&raw const *ss).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &*(&raw const *ss).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bufs() -> Box<[[u8; MAX_DATAGRAM]; BATCH]> {
        Box::new([[0; MAX_DATAGRAM]; BATCH])
    }

    #[test]
    fn takes_what_waits_up_to_a_batch_with_sources() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        let mut bufs = bufs();
        let mut out = [Received::default(); BATCH];
        assert_eq!(recv(&rx, &mut bufs, &mut out), 0, "nothing waiting");
        for i in 0..6u8 {
            let s = if i.is_multiple_of(2) { &a } else { &b };
            s.send_to(&[i; 3][..usize::from(i % 3) + 1], to).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(recv(&rx, &mut bufs, &mut out), BATCH);
        for (i, r) in out.iter().enumerate() {
            let i = i as u8;
            let from = if i.is_multiple_of(2) { &a } else { &b };
            assert_eq!(r.from, Some(from.local_addr().unwrap()));
            assert_eq!(r.len, usize::from(i % 3) + 1);
            assert_eq!(&bufs[usize::from(i)][..r.len], &[i; 3][..r.len]);
            assert!(!r.truncated);
        }
        assert_eq!(recv(&rx, &mut bufs, &mut out), 2, "the rest, in order");
        assert_eq!(bufs[0][0], 4);
        assert_eq!(bufs[1][0], 5);
        assert_eq!(recv(&rx, &mut bufs, &mut out), 0);
    }

    #[test]
    fn reports_ipv6_sources_and_truncation() {
        let Ok(rx) = UdpSocket::bind("[::1]:0") else {
            return; // no IPv6 loopback on this machine
        };
        let tx = UdpSocket::bind("[::1]:0").unwrap();
        tx.send_to(&[7; MAX_DATAGRAM + 100], rx.local_addr().unwrap())
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut bufs = bufs();
        let mut out = [Received::default(); BATCH];
        assert_eq!(recv(&rx, &mut bufs, &mut out), 1);
        assert_eq!(out[0].from, Some(tx.local_addr().unwrap()));
        assert_eq!(out[0].len, MAX_DATAGRAM);
        assert!(out[0].truncated);
    }

    #[test]
    fn sends_to_ipv4_and_ipv6_with_df_set_and_reports_failures() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        prepare(&tx).unwrap();
        let mut v: libc::c_int = 0;
        let mut l = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: a c_int and its size, both outliving the call.
        let r = unsafe {
            libc::getsockopt(
                tx.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_MTU_DISCOVER,
                (&raw mut v).cast(),
                &raw mut l,
            )
        };
        assert_eq!((r, v), (0, libc::IP_PMTUDISC_DO));
        send(&tx, b"rtp", rx.local_addr().unwrap()).unwrap();
        let mut buf = [0; 8];
        rx.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let (n, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"rtp"[..], tx.local_addr().unwrap()));
        // Too big for the don't-fragment path: refused, not fragmented.
        assert_eq!(
            send(&tx, &[0; 70_000], rx.local_addr().unwrap()),
            Err(libc::EMSGSIZE)
        );
        // An IPv6 destination from an IPv4 socket: the kernel's error comes back.
        assert!(send(&tx, b"x", "[::1]:9".parse().unwrap()).is_err());
        if let (Ok(rx6), Ok(tx6)) = (UdpSocket::bind("[::1]:0"), UdpSocket::bind("[::1]:0")) {
            prepare(&tx6).unwrap();
            send(&tx6, b"six", rx6.local_addr().unwrap()).unwrap();
            rx6.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            let (n, from) = rx6.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&b"six"[..], tx6.local_addr().unwrap()));
        }
    }
}
