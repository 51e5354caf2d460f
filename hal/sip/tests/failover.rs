//! Failover between a trunk's targets (RFC 3263 §4.3): a 503 or no answer at all sends the
//! INVITE to the next address; the last one's answer is the call's.

mod common;

use common::*;
use tipring_sip::msg::Builder;
use tipring_sip::ua::{Event, Outbound, Transport};

/// Answers 503 (with Retry-After) to every INVITE.
const BUSY: &str = "127.0.0.1:5071";
/// Never answers.
const DEAD: &str = "127.0.0.1:5072";

fn run(n: &mut Net, until: u64) {
    loop {
        while let Some(t) = n.a.poll_transmit() {
            n.log.push((addr(A), t.to, first_line(&t.bytes)));
            if t.to == addr(BUSY) {
                let m = parsed(&t.bytes);
                if m.method() == "INVITE" {
                    let r = Builder::response(&m.prep, 503, "Service Unavailable", Some("x"))
                        .header("Retry-After", "30")
                        .build();
                    n.a.handle_datagram(n.now, addr(BUSY), &r);
                }
            } else if t.to == addr(B) {
                n.b.handle_datagram(n.now, addr(A), &t.bytes);
            }
        }
        while let Some(t) = n.b.poll_transmit() {
            n.a.handle_datagram(n.now, addr(B), &t.bytes);
        }
        while let Some(e) = n.a.poll_event() {
            n.ev_a.push(e);
        }
        while let Some(e) = n.b.poll_event() {
            n.ev_b.push(e);
        }
        match n.a.poll_timeout().filter(|t| *t <= until) {
            Some(t) => {
                n.now = n.now.max(t);
                n.a.handle_timeout(n.now);
            }
            None => return,
        }
    }
}

fn sent_to(n: &Net, to: &str) -> usize {
    n.log
        .iter()
        .filter(|(_, t, l)| *t == addr(to) && l.starts_with("INVITE"))
        .count()
}

#[test]
fn a_503_then_silence_then_an_answer() {
    let mut n = Net::new();
    let ca = n.a.invite(
        0,
        Outbound {
            target: addr(BUSY),
            alternates: vec![addr(DEAD), addr(B)],
            ..outbound()
        },
    );
    run(&mut n, 10_000);
    assert_eq!(sent_to(&n, BUSY), 1);
    assert!(sent_to(&n, DEAD) >= 2, "retransmitted to the silent one");
    assert_eq!(sent_to(&n, B), 0, "not before timer B");
    run(&mut n, 40_000);
    assert_eq!(sent_to(&n, B), 1, "after timer B at 32 s");
    let cb = incoming(&n.ev_b);
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    run(&mut n, 40_000);
    assert!(matches!(n.ev_a.last(), Some(Event::Answered { call, .. }) if *call == ca));
    assert!(!n.ev_a.iter().any(|e| matches!(e, Event::Failed { .. })));
}

#[test]
fn the_last_targets_failure_is_reported() {
    let mut n = Net::new();
    let ca = n.a.invite(
        0,
        Outbound {
            target: addr(DEAD),
            alternates: vec![addr(BUSY)],
            ..outbound()
        },
    );
    run(&mut n, 100_000);
    assert_eq!(
        n.ev_a,
        [Event::Failed {
            call: ca,
            code: 503,
            cause: 41,
            retry_after: Some(30)
        }]
    );
    // Busy elsewhere is not a reason to try further: 486 is final.
    let mut n = Net::new();
    let ca = n.a.invite(
        0,
        Outbound {
            alternates: vec![addr(BUSY)],
            ..outbound()
        },
    );
    run(&mut n, 1_000);
    let cb = incoming(&n.ev_b);
    n.b.reject(cb, 486, "Busy Here", None, None).unwrap();
    run(&mut n, 1_000);
    assert!(matches!(n.ev_a[..], [Event::Failed { call, code: 486, .. }] if call == ca));
    assert_eq!(sent_to(&n, BUSY), 0);
}

#[test]
fn a_refused_tcp_connection_fails_over_at_once() {
    let mut n = Net::new();
    let ca = n.a.invite(
        0,
        Outbound {
            target: addr(DEAD),
            request_uri: format!("sip:1000@{DEAD};transport=tcp"),
            alternates: vec![addr(B)],
            ..outbound()
        },
    );
    let first = n.a.poll_transmit().unwrap();
    assert_eq!((first.to, first.transport), (addr(DEAD), Transport::Tcp));
    // The adapter could not connect: no waiting for timer B.
    n.a.handle_transport_error(100, addr(DEAD), Transport::Tcp);
    let next = n.a.poll_transmit().unwrap();
    assert_eq!(next.to, addr(B));
    assert!(first_line(&next.bytes).starts_with("INVITE"));
    assert!(n.a.poll_event().is_none(), "nothing failed yet");
    // Without alternates left, the error is the call's failure: 503, cause 38 (network
    // out of order), as RFC 3261 §8.1.3.1 treats a transport error.
    n.a.handle_transport_error(200, addr(B), Transport::Tcp);
    assert_eq!(
        n.a.poll_event(),
        Some(Event::Failed {
            call: ca,
            code: 503,
            cause: 38,
            retry_after: None
        })
    );
}

#[test]
fn an_icmp_unreachable_fails_a_udp_invite_over_at_once() {
    let mut n = Net::new();
    let ca = n.a.invite(
        0,
        Outbound {
            target: addr(DEAD),
            alternates: vec![addr(B)],
            ..outbound()
        },
    );
    let first = n.a.poll_transmit().unwrap();
    assert_eq!((first.to, first.transport), (addr(DEAD), Transport::Udp));
    // An error for another address, or another transport, changes nothing.
    n.a.handle_transport_error(50, addr(B), Transport::Udp);
    n.a.handle_transport_error(60, addr(DEAD), Transport::Tcp);
    assert!(n.a.poll_transmit().is_none());
    assert!(n.a.poll_event().is_none());
    // Port unreachable from DEAD: the INVITE goes to B now, not after timer B.
    n.a.handle_transport_error(100, addr(DEAD), Transport::Udp);
    let next = n.a.poll_transmit().unwrap();
    assert_eq!(next.to, addr(B));
    assert!(first_line(&next.bytes).starts_with("INVITE"));
    // B answers: the call goes on there, and a late error for DEAD does not touch it.
    run(&mut n, 1_000);
    let cb = incoming(&n.ev_b);
    n.b.reject(cb, 486, "Busy Here", None, None).unwrap();
    n.a.handle_transport_error(1_100, addr(DEAD), Transport::Udp);
    run(&mut n, 1_000);
    assert!(matches!(n.ev_a[..], [Event::Failed { call, code: 486, .. }] if call == ca));
}
