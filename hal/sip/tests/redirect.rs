//! 3xx redirects of our INVITE (RFC 3261 §8.1.3.4): a redirect server in front of B sends
//! A elsewhere; loops and long chains end the call instead of going round.

mod common;

use common::*;
use tipring_sip::msg::Builder;
use tipring_sip::ua::{Event, Outbound};

/// The redirect server's address: INVITEs sent there get `redirect(request_uri)`.
const R: &str = "127.0.0.1:5070";

/// Runs A against the redirect server and B until nothing moves; `redirect` gives the
/// Contacts for a Request-URI.
fn run(n: &mut Net, mut redirect: impl FnMut(&str) -> Vec<String>) -> usize {
    let mut redirected = 0;
    loop {
        let mut moved = false;
        while let Some(t) = n.a.poll_transmit() {
            moved = true;
            n.log.push((addr(A), t.to, first_line(&t.bytes)));
            if t.to == addr(R) {
                let m = parsed(&t.bytes);
                if m.method() == "INVITE" {
                    redirected += 1;
                    let mut b = Builder::response(&m.prep, 302, "Moved Temporarily", Some("r"));
                    for c in redirect(m.uri().unwrap()) {
                        b = b.header("Contact", &c);
                    }
                    n.a.handle_datagram(n.now, addr(R), &b.build());
                }
            } else if t.to == addr(B) {
                n.b.handle_datagram(n.now, addr(A), &t.bytes);
            }
        }
        while let Some(t) = n.b.poll_transmit() {
            moved = true;
            n.log.push((addr(B), t.to, first_line(&t.bytes)));
            n.a.handle_datagram(n.now, addr(B), &t.bytes);
        }
        while let Some(e) = n.a.poll_event() {
            n.ev_a.push(e);
        }
        while let Some(e) = n.b.poll_event() {
            n.ev_b.push(e);
        }
        if !moved {
            return redirected;
        }
    }
}

fn via_redirector() -> Outbound {
    Outbound {
        target: addr(R),
        request_uri: format!("sip:1000@{R}"),
        ..outbound()
    }
}

#[test]
fn a_302_is_followed_to_the_best_contact() {
    let mut n = Net::new();
    let ca = n.a.invite(0, via_redirector());
    let hops = run(&mut n, |_| {
        vec![
            format!("<sip:3000@{B}>;q=0.5"),
            format!("<sip:2000@{B}>;q=0.9"),
        ]
    });
    assert_eq!(hops, 1);
    assert_eq!(n.count(A, "ACK"), 1, "the 302 is acknowledged");
    let cb = incoming(&n.ev_b);
    let Event::Incoming { info, .. } = &n.ev_b[0] else {
        unreachable!()
    };
    assert_eq!(info.called.as_deref(), Some("2000"), "q=0.9 first");
    // The call goes on as usual: answered, and A's Answered names the first call.
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    run(&mut n, |_| Vec::new());
    assert!(matches!(n.ev_a.last(), Some(Event::Answered { call, .. }) if *call == ca));
}

#[test]
fn the_next_contact_is_tried_when_the_first_fails() {
    let mut n = Net::new();
    let _ca = n.a.invite(0, via_redirector());
    run(&mut n, |_| {
        vec![format!("<sip:2000@{B}>"), format!("<sip:3000@{B}>")]
    });
    let first = incoming(&n.ev_b);
    n.b.reject(first, 486, "Busy Here", None, None).unwrap();
    run(&mut n, |_| Vec::new());
    let called: Vec<_> = n
        .ev_b
        .iter()
        .filter_map(|e| match e {
            Event::Incoming { info, .. } => info.called.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(called, ["2000", "3000"]);
    assert!(!n.ev_a.iter().any(|e| matches!(e, Event::Failed { .. })));
}

#[test]
fn loops_and_long_chains_end_in_failure() {
    // A loop: the redirect points back at what was asked.
    let mut n = Net::new();
    let ca = n.a.invite(0, via_redirector());
    let hops = run(&mut n, |uri| vec![format!("<{uri}>")]);
    assert_eq!(hops, 1);
    assert!(matches!(
        n.ev_a[..],
        [Event::Failed { call, code: 302, cause: 23, .. }] if call == ca
    ));
    // A chain that never ends: five redirects are followed, then the call fails.
    let mut n = Net::new();
    let ca = n.a.invite(0, via_redirector());
    let mut i = 0;
    let hops = run(&mut n, |_| {
        i += 1;
        vec![format!("<sip:{i}@{R}>")]
    });
    assert_eq!(hops, 6, "the first INVITE and five redirected ones");
    assert!(matches!(
        n.ev_a[..],
        [Event::Failed { call, code: 302, .. }] if call == ca
    ));
    assert_eq!(n.a.calls(), 0);
}
