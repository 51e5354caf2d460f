//! The harness the core's tests share: two user agent cores on a virtual clock (quinn's way
//! of testing a sans-IO core). Every datagram is delivered, dropped, rewritten or inspected
//! by the test, and time jumps to the earliest timer.
#![allow(dead_code)]

use std::net::SocketAddr;
use tipring_sip::msg::{self, Message};
use tipring_sip::sdp::{self, Capabilities};
use tipring_sip::ua::{CallRef, Config, Event, Outbound, Transmit, Ua};

pub const A: &str = "127.0.0.1:5061";
pub const B: &str = "127.0.0.1:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Two cores, A at [`A`] and B at [`B`], and what passed between them.
pub struct Net {
    /// The virtual clock, ms.
    pub now: u64,
    /// The caller's core.
    pub a: Ua,
    /// The callee's core.
    pub b: Ua,
    /// Every datagram, in order: (from, to, first line).
    pub log: Vec<(SocketAddr, SocketAddr, String)>,
    /// Every datagram, whole, as delivered (or dropped): (from, bytes).
    pub wire: Vec<(SocketAddr, Vec<u8>)>,
    /// A's events.
    pub ev_a: Vec<Event>,
    /// B's events.
    pub ev_b: Vec<Event>,
}

pub fn first_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

impl Net {
    pub fn new() -> Net {
        Net::with(|_| {}, |_| {})
    }

    /// Two cores whose configurations `fa` and `fb` adjust.
    pub fn with(fa: impl FnOnce(&mut Config), fb: impl FnOnce(&mut Config)) -> Net {
        let (mut ca, mut cb) = (Config::new(addr(A)), Config::new(addr(B)));
        fa(&mut ca);
        fb(&mut cb);
        Net {
            now: 0,
            a: Ua::new(ca, 1),
            b: Ua::new(cb, 2),
            log: Vec::new(),
            wire: Vec::new(),
            ev_a: Vec::new(),
            ev_b: Vec::new(),
        }
    }

    /// Delivers datagrams until none are left; `drop` decides per datagram (and may
    /// rewrite it).
    pub fn pump(&mut self, mut drop: impl FnMut(&mut Transmit, SocketAddr) -> bool) {
        loop {
            let mut moved = false;
            while let Some(mut t) = self.a.poll_transmit() {
                self.log.push((addr(A), t.to, first_line(&t.bytes)));
                moved = true;
                let dropped = drop(&mut t, addr(A));
                self.wire.push((addr(A), t.bytes.clone()));
                if t.to == addr(B) && !dropped {
                    self.b.handle_datagram(self.now, addr(A), &t.bytes);
                }
            }
            while let Some(mut t) = self.b.poll_transmit() {
                self.log.push((addr(B), t.to, first_line(&t.bytes)));
                moved = true;
                let dropped = drop(&mut t, addr(B));
                self.wire.push((addr(B), t.bytes.clone()));
                if t.to == addr(A) && !dropped {
                    self.a.handle_datagram(self.now, addr(B), &t.bytes);
                }
            }
            while let Some(e) = self.a.poll_event() {
                self.ev_a.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.ev_b.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances to the next timer (of either side) and runs it.
    pub fn tick(&mut self) -> bool {
        let next = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) => {
                self.now = self.now.max(t);
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
                true
            }
            None => false,
        }
    }

    pub fn run_until(
        &mut self,
        until: u64,
        mut drop: impl FnMut(&mut Transmit, SocketAddr) -> bool,
    ) {
        self.pump(&mut drop);
        while self
            .a
            .poll_timeout()
            .into_iter()
            .chain(self.b.poll_timeout())
            .min()
            .is_some_and(|t| t <= until)
        {
            self.tick();
            self.pump(&mut drop);
        }
        self.now = self.now.max(until);
    }

    pub fn count(&self, from: &str, starts: &str) -> usize {
        self.log
            .iter()
            .filter(|(f, _, l)| *f == addr(from) && l.starts_with(starts))
            .count()
    }
}

pub fn offer() -> String {
    sdp::offer(addr("127.0.0.1:30000"), &Capabilities::default(), 1, 1).render()
}

pub fn outbound() -> Outbound {
    Outbound {
        target: addr(B),
        request_uri: format!("sip:1000@{B}"),
        from_user: "5551234".into(),
        from_name: Some("Front Desk".into()),
        from_domain: None,
        withhold: false,
        sdp: offer(),
        auth: None,
        alternates: Vec::new(),
    }
}

pub fn incoming(ev: &[Event]) -> CallRef {
    ev.iter()
        .find_map(|e| match e {
            Event::Incoming { call, .. } => Some(*call),
            _ => None,
        })
        .expect("an incoming call")
}

pub fn answer_sdp(ev: &[Event]) -> String {
    let offer = ev
        .iter()
        .find_map(|e| match e {
            Event::Incoming { info, .. } => info.offer.clone(),
            _ => None,
        })
        .unwrap();
    sdp::answer(
        &offer,
        addr("127.0.0.1:40000"),
        &Capabilities::default(),
        9,
        1,
    )
    .unwrap()
    .0
    .render()
}

/// Parses a datagram the cores sent (they only send what parses).
pub fn parsed(bytes: &[u8]) -> Message {
    msg::parse(bytes, &Default::default()).expect("the core sends parseable messages")
}

impl Net {
    /// The whole messages `from` sent whose first line starts with `starts`.
    pub fn sent(&self, from: &str, starts: &str) -> Vec<Message> {
        self.wire
            .iter()
            .filter(|(f, b)| *f == addr(from) && first_line(b).starts_with(starts))
            .map(|(_, b)| parsed(b))
            .collect()
    }

    /// A's and B's calls, both gone or both up.
    pub fn calls(&self) -> (usize, usize) {
        (self.a.calls(), self.b.calls())
    }
}

/// Replaces `from` by `to` in a datagram (for a peer that behaves differently).
pub fn rewrite(t: &mut Transmit, from: &str, to: &str) {
    let s = String::from_utf8_lossy(&t.bytes).replace(from, to);
    // Tests rewrite header text only, so Content-Length stays right.
    t.bytes = s.into_bytes();
}
