//! Reliable provisional responses (RFC 3262) to our INVITE, and UPDATE (RFC 3311) received in
//! early and confirmed dialogs.

mod common;

use common::*;
use tipring_sip::msg::{Builder, Message};
use tipring_sip::ua::{Config, Event, Ua};

/// A scripted peer at B's address: what A sent, and a way to answer it.
struct Peer {
    now: u64,
    ua: Ua,
    events: Vec<Event>,
}

impl Peer {
    fn new() -> Peer {
        Peer {
            now: 0,
            ua: Ua::new(Config::new(addr(A)), 7),
            events: Vec::new(),
        }
    }

    /// Everything A sends now, parsed.
    fn take(&mut self) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(t) = self.ua.poll_transmit() {
            assert_eq!(t.to, addr(B));
            v.push(parsed(&t.bytes));
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
        v
    }

    fn give(&mut self, bytes: &[u8]) {
        self.ua.handle_datagram(self.now, addr(B), bytes);
    }

    fn advance(&mut self, to: u64) {
        self.now = to;
        self.ua.handle_timeout(to);
    }
}

fn reliable_183(invite: &Message, rseq: u32) -> Vec<u8> {
    Builder::response(&invite.prep, 183, "Session Progress", Some("b-tag"))
        .header("Contact", &format!("<sip:{B}>"))
        .header("Require", "100rel")
        .header("RSeq", &rseq.to_string())
        .header("Record-Route", "<sip:127.0.0.1:5060;lr>")
        .body("application/sdp", answer_for(invite))
        .build()
}

fn answer_for(invite: &Message) -> String {
    let offer = tipring_sip::sdp::Sdp::parse(invite.body()).unwrap();
    tipring_sip::sdp::answer(&offer, addr("127.0.0.1:40000"), &Default::default(), 3, 1)
        .unwrap()
        .0
        .render()
}

#[test]
fn a_reliable_183_is_pracked_once_per_rseq_rfc3262_4() {
    let mut p = Peer::new();
    let call = p.ua.invite(0, outbound());
    let invite = p.take().remove(0);
    assert_eq!(invite.method(), "INVITE");
    let supported = invite.option_tags("Supported");
    assert!(supported.contains(&"100rel".to_string()), "{supported:?}");
    p.give(&reliable_183(&invite, 7));
    let sent = p.take();
    assert_eq!(sent.len(), 1, "one PRACK");
    let prack = &sent[0];
    assert_eq!(prack.method(), "PRACK");
    let (cseq, _) = invite.cseq();
    assert_eq!(
        prack.header("RAck"),
        Some(format!("7 {cseq} INVITE").as_str())
    );
    assert_eq!(prack.cseq(), (cseq + 1, "PRACK"));
    assert_eq!(prack.to().tag(), Some("b-tag"), "in the early dialog");
    assert_eq!(
        prack.uri(),
        Some(format!("sip:{B}").as_str()),
        "to its Contact"
    );
    assert_eq!(prack.header("Route"), Some("<sip:127.0.0.1:5060;lr>"));
    assert!(matches!(
        p.events[..],
        [Event::Progress {
            code: 183,
            sdp: Some(_),
            ..
        }]
    ));
    // The PRACK is lost: it repeats on timer E; the 183 repeated by the far end is not
    // acknowledged or reported again.
    p.advance(500);
    let again = p.take();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].method(), "PRACK");
    p.give(&reliable_183(&invite, 7));
    assert!(p.take().is_empty());
    assert_eq!(p.events.len(), 1);
    p.give(&Builder::response(&again[0].prep, 200, "OK", None).build());
    // A second reliable provisional (RSeq 8) gets its own PRACK.
    p.give(&reliable_183(&invite, 8));
    let sent = p.take();
    assert_eq!(
        sent[0].header("RAck"),
        Some(format!("8 {cseq} INVITE").as_str())
    );
    assert_eq!(sent[0].cseq().0, cseq + 2);
    p.give(&Builder::response(&sent[0].prep, 200, "OK", None).build());
    // Answered: the ACK and later the BYE follow the PRACKs' CSeq.
    let ok = Builder::response(&invite.prep, 200, "OK", Some("b-tag"))
        .header("Contact", &format!("<sip:{B}>"))
        .body("application/sdp", answer_for(&invite))
        .build();
    p.give(&ok);
    let sent = p.take();
    assert_eq!(sent[0].method(), "ACK");
    assert_eq!(sent[0].cseq().0, cseq);
    assert!(p.events.iter().any(|e| matches!(e, Event::Answered { .. })));
    p.ua.hangup(call, 16).unwrap();
    let bye = p.take().remove(0);
    assert_eq!(bye.cseq(), (cseq + 3, "BYE"));
    // Nothing left retransmitting once the PRACKs were answered.
    p.give(&Builder::response(&bye.prep, 200, "OK", None).build());
    p.advance(40_000);
    assert!(p.take().is_empty());
    assert_eq!(p.ua.transactions(), (0, 0));
}

#[test]
fn a_reliable_provisional_without_rseq_is_ignored() {
    let mut p = Peer::new();
    let _ = p.ua.invite(0, outbound());
    let invite = p.take().remove(0);
    let bad = String::from_utf8(reliable_183(&invite, 1))
        .unwrap()
        .replace("RSeq: 1\r\n", "");
    p.give(bad.as_bytes());
    assert!(p.take().is_empty());
    assert!(p.events.is_empty());
}

/// UPDATE from the caller to B (a core), built from the dialog as B answered it.
fn update(n: &Net, cseq: u32, branch: &str, sdp: Option<&str>, se: Option<&str>) -> Vec<u8> {
    let ok = n
        .sent(B, "SIP/2.0 1")
        .into_iter()
        .chain(n.sent(B, "SIP/2.0 200"))
        .find(|m| m.method() == "INVITE" && m.to().tag().is_some())
        .expect("B's response with its tag");
    let mut b = Builder::request("UPDATE", &format!("sip:{B}"))
        .header("Via", &format!("SIP/2.0/UDP {A};branch={branch}"))
        .header("From", ok.header("From").unwrap())
        .header("To", ok.header("To").unwrap())
        .header("Call-ID", ok.call_id())
        .header("CSeq", &format!("{cseq} UPDATE"))
        .header("Contact", &format!("<sip:{A}>"))
        .header("Supported", "timer");
    if let Some(se) = se {
        b = b.header("Session-Expires", se);
    }
    if let Some(s) = sdp {
        b = b.body("application/sdp", s.to_string());
    }
    b.build()
}

#[test]
fn update_without_sdp_refreshes_and_with_sdp_is_an_offer_rfc3311() {
    let mut n = Net::new();
    let _ca = n.a.invite(0, outbound());
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    // Early dialog: B rang; an UPDATE with an offer reaches the application.
    n.b.ringing(cb, None).unwrap();
    n.pump(|_, _| false);
    let offer = offer();
    let u = update(&n, 9000, "z9hG4bKu1", Some(&offer), None);
    n.b.handle_datagram(n.now, addr(A), &u);
    n.pump(|_, _| false);
    assert!(
        matches!(n.ev_b.last(), Some(Event::Reinvite { call, offer: Some(_) }) if *call == cb),
        "{:?}",
        n.ev_b
    );
    // A second offer while the first is pending: 500 with Retry-After (§5.2).
    let u2 = update(&n, 9001, "z9hG4bKu2", Some(&offer), None);
    n.b.handle_datagram(n.now, addr(A), &u2);
    let r = parsed(&n.b.poll_transmit().unwrap().bytes);
    assert_eq!(r.code(), Some(500));
    assert!(r.header("Retry-After").is_some());
    let ans = answer_sdp(&n.ev_b);
    n.b.accept_reinvite(cb, Some(&ans)).unwrap();
    let r = parsed(&n.b.poll_transmit().unwrap().bytes);
    assert_eq!((r.code(), r.method()), (Some(200), "UPDATE"));
    assert_eq!(r.body(), ans.as_bytes());
    // Confirmed dialog: an UPDATE without SDP (a session refresh) is answered at once,
    // with the session timer it proposes.
    n.b.answer(cb, &ans).unwrap();
    n.pump(|_, _| false);
    let before = n.ev_b.len();
    let u3 = update(&n, 9002, "z9hG4bKu3", None, Some("300;refresher=uac"));
    n.b.handle_datagram(n.now, addr(A), &u3);
    let r = parsed(&n.b.poll_transmit().unwrap().bytes);
    assert_eq!(r.code(), Some(200));
    assert_eq!(r.header("Session-Expires"), Some("300;refresher=uac"));
    assert_eq!(r.header("Require"), Some("timer"));
    assert!(r.body().is_empty());
    assert_eq!(n.ev_b.len(), before, "nothing for the application");
    // Too short: 422 with our Min-SE.
    let u4 = update(&n, 9003, "z9hG4bKu4", None, Some("30"));
    n.b.handle_datagram(n.now, addr(A), &u4);
    let r = parsed(&n.b.poll_transmit().unwrap().bytes);
    assert_eq!(r.code(), Some(422));
    assert_eq!(r.header("Min-SE"), Some("90"));
    // A PRACK to a core that never sends reliable provisionals: 481 (RFC 3262 §3).
    let prack = String::from_utf8(update(&n, 9004, "z9hG4bKu5", None, None))
        .unwrap()
        .replace("UPDATE", "PRACK");
    n.b.handle_datagram(n.now, addr(A), prack.as_bytes());
    let r = parsed(&n.b.poll_transmit().unwrap().bytes);
    assert_eq!(r.code(), Some(481));
}
