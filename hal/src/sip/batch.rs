//! Batched, non-blocking receive of RTP datagrams (`recvmmsg(2)`).
//!
//! A slot's RTP socket is read once per tick. Reading datagram by datagram costs one system
//! call per datagram plus one more that only says "nothing left" (`EAGAIN`); with one packet
//! per 20 ms tick, that last call is half of all the receiving. `recvmmsg` with
//! `MSG_DONTWAIT` takes everything waiting, up to [`BATCH`] datagrams, in one call, and comes
//! back with fewer than `BATCH` exactly when the socket is empty.
//!
//! Everything lives on the caller's stack or in the caller's buffers: nothing allocates.

#![allow(unsafe_code)] // one libc call, see the SAFETY notes

use nix::libc;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;

/// Datagrams taken per call. A slot receives one packet per tick (20 ms ptime) or two (10
/// ms); four leaves room for a burst after a network stall without a second call.
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

/// Takes up to [`BATCH`] datagrams waiting on `sock` into `bufs` without blocking, and
/// describes them in `out`. Returns how many; 0 when none is waiting or on any error (a
/// pending ICMP error is consumed this way, as `recv_from` would report it).
pub fn recv(
    sock: &UdpSocket,
    bufs: &mut [[u8; MAX_DATAGRAM]; BATCH],
    out: &mut [Received; BATCH],
) -> usize {
    // SAFETY: all-zero is a valid value of these plain C structs (null pointers, zero
    // lengths); every pointer the kernel uses is set below.
    let mut names: [libc::sockaddr_storage; BATCH] = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut iov: [libc::iovec; BATCH] = unsafe { core::mem::zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { core::mem::zeroed() };
    for i in 0..BATCH {
        iov[i] = libc::iovec {
            iov_base: bufs[i].as_mut_ptr().cast(),
            iov_len: MAX_DATAGRAM,
        };
        let h = &mut hdrs[i].msg_hdr;
        h.msg_name = (&raw mut names[i]).cast();
        h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        h.msg_iov = &raw mut iov[i];
        h.msg_iovlen = 1;
    }
    // SAFETY: `hdrs` holds BATCH headers, each pointing at one iovec over a distinct
    // MAX_DATAGRAM-byte buffer of `bufs` and at its own sockaddr_storage; all of them outlive
    // the call, and the kernel writes within the lengths given. The descriptor is open for
    // as long as `sock` is borrowed.
    let n = unsafe {
        libc::recvmmsg(
            sock.as_raw_fd(),
            hdrs.as_mut_ptr(),
            BATCH as libc::c_uint,
            libc::MSG_DONTWAIT,
            core::ptr::null_mut(),
        )
    };
    let Ok(n) = usize::try_from(n) else {
        return 0; // -1: EAGAIN (nothing waiting) or an error
    };
    let n = n.min(BATCH);
    for i in 0..n {
        let h = &hdrs[i];
        out[i] = Received {
            len: (h.msg_len as usize).min(MAX_DATAGRAM),
            from: address(&names[i], h.msg_hdr.msg_namelen),
            truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
        };
    }
    n
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
}
