//! SIP over TCP between two cores (RFC 3261 §18.3, §17 timers for reliable transports):
//! every message goes through a stream framer, split at awkward places; nothing is
//! retransmitted, and completed transactions end at once.

mod common;

use common::*;
use std::net::SocketAddr;
use tipring_sip::frame::{Framed, StreamFramer};
use tipring_sip::ua::{Event, Outbound, Transport, Ua};

/// Two cores joined by one TCP "connection" each way.
struct Tcp {
    n: Net,
    to_a: StreamFramer,
    to_b: StreamFramer,
    /// Everything sent, with its transport.
    sent: Vec<(SocketAddr, Transport, String)>,
}

impl Tcp {
    fn new() -> Tcp {
        Tcp {
            n: Net::new(),
            to_a: StreamFramer::new(),
            to_b: StreamFramer::new(),
            sent: Vec::new(),
        }
    }

    /// Delivers everything; `drop` loses a message (a dead connection, for the timer tests).
    fn pump(&mut self, mut drop: impl FnMut(&str) -> bool) {
        loop {
            let mut moved = false;
            for side in [A, B] {
                let (ua, framer): (&mut Ua, &mut StreamFramer) = if side == A {
                    (&mut self.n.a, &mut self.to_b)
                } else {
                    (&mut self.n.b, &mut self.to_a)
                };
                while let Some(t) = ua.poll_transmit() {
                    moved = true;
                    let line = first_line(&t.bytes);
                    self.sent.push((addr(side), t.transport, line.clone()));
                    if !drop(&line) {
                        // Split the bytes in three uneven pieces, as a stream may.
                        let (x, y) = (t.bytes.len() / 3, t.bytes.len() / 2 + 1);
                        framer.push(&t.bytes[..x]);
                        framer.push(&t.bytes[x..y]);
                        framer.push(&t.bytes[y..]);
                    }
                }
            }
            for (ua, framer, from) in [
                (&mut self.n.b, &mut self.to_b, A),
                (&mut self.n.a, &mut self.to_a, B),
            ] {
                while let Some(f) = framer.pop(&Default::default()).expect("frames") {
                    moved = true;
                    if let Framed::Message(p) = f {
                        ua.handle_stream(self.n.now, addr(from), p);
                    }
                }
            }
            while let Some(e) = self.n.a.poll_event() {
                self.n.ev_a.push(e);
            }
            while let Some(e) = self.n.b.poll_event() {
                self.n.ev_b.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    fn run_until(&mut self, until: u64, mut drop: impl FnMut(&str) -> bool) {
        self.pump(&mut drop);
        while let Some(t) = [self.n.a.poll_timeout(), self.n.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= until)
        {
            self.n.now = self.n.now.max(t);
            self.n.a.handle_timeout(self.n.now);
            self.n.b.handle_timeout(self.n.now);
            self.pump(&mut drop);
        }
        self.n.now = self.n.now.max(until);
    }

    fn count(&self, from: &str, starts: &str) -> usize {
        self.sent
            .iter()
            .filter(|(f, _, l)| *f == addr(from) && l.starts_with(starts))
            .count()
    }
}

fn over_tcp() -> Outbound {
    Outbound {
        request_uri: format!("sip:1000@{B};transport=tcp"),
        ..outbound()
    }
}

#[test]
fn a_call_over_tcp_uses_tcp_everywhere_and_retransmits_nothing() {
    let mut t = Tcp::new();
    let ca = t.n.a.invite(0, over_tcp());
    t.pump(|_| false);
    let cb = incoming(&t.n.ev_b);
    let ans = answer_sdp(&t.n.ev_b);
    t.n.b.answer(cb, &ans).unwrap();
    t.run_until(20_000, |_| false);
    assert!(
        t.n.ev_a
            .iter()
            .any(|e| matches!(e, Event::Answered { call, .. } if *call == ca))
    );
    assert!(
        t.sent.iter().all(|(_, tr, _)| *tr == Transport::Tcp),
        "{:?}",
        t.sent
    );
    assert_eq!(t.count(A, "INVITE"), 1);
    assert_eq!(t.count(B, "SIP/2.0 200"), 1, "no timer G over TCP");
    t.n.a.hangup(ca, 16).unwrap();
    t.pump(|_| false);
    assert!(matches!(
        t.n.ev_b.last(),
        Some(Event::Ended { cause: 16, .. })
    ));
    // Completed transactions end at once (timers D/J/K are zero over TCP)…
    t.run_until(t.n.now, |_| false);
    assert_eq!(t.n.b.transactions().1, 0);
    assert_eq!(t.n.a.transactions(), (0, 0));
    // …except the INVITE server transaction's wait for the ACK (timer H), long done here.
    t.run_until(t.n.now + 40_000, |_| false);
    assert_eq!(t.n.b.transactions(), (0, 0));
}

#[test]
fn via_and_contact_say_tcp() {
    let mut n = Net::new();
    let _ = n.a.invite(0, over_tcp());
    let invite = parsed(&n.a.poll_transmit().unwrap().bytes);
    let via = invite.top_via().unwrap();
    assert_eq!(via.transport, "TCP");
    assert!(invite.header("Contact").unwrap().contains(";transport=tcp"));
    // An OPTIONS ping to a TCP URI goes over TCP too.
    n.a.ping(0, 1, addr(B), &format!("sip:{B};transport=tcp"));
    let ping = n.a.poll_transmit().unwrap();
    assert_eq!(ping.transport, Transport::Tcp);
}

#[test]
fn a_lost_response_over_tcp_times_out_instead_of_being_repeated() {
    let mut t = Tcp::new();
    let ca = t.n.a.invite(0, over_tcp());
    t.pump(|_| false);
    let cb = incoming(&t.n.ev_b);
    let ans = answer_sdp(&t.n.ev_b);
    t.n.b.answer(cb, &ans).unwrap();
    // The connection dies with the 200 in it.
    t.run_until(40_000, |l| l.starts_with("SIP/2.0 200"));
    assert_eq!(t.count(B, "SIP/2.0 200"), 1);
    assert_eq!(t.count(A, "INVITE"), 1);
    assert!(t.n.ev_a.contains(&Event::Failed {
        call: ca,
        code: 408,
        cause: 102,
        retry_after: None
    }));
    // B never got its ACK: timer H ends the call.
    assert!(
        t.n.ev_b
            .iter()
            .any(|e| matches!(e, Event::Ended { cause: 102, .. }))
    );
}
