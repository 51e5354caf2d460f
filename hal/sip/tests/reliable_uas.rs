//! Reliable provisional responses of ours (RFC 3262 §3): a caller that requires `100rel`
//! gets its 180/183 with `RSeq`, retransmitted until the PRACK; an early answer waits for
//! that PRACK; no PRACK in 64·T1 refuses the call.

mod common;

use common::*;
use tipring_sip::msg::{Builder, Message};
use tipring_sip::ua::{CallRef, Config, Event, Ua};

/// Our core at [`B`], driven by hand: the caller at [`A`] is scripted.
struct Callee {
    ua: Ua,
    events: Vec<Event>,
}

impl Callee {
    fn new() -> Callee {
        Callee {
            ua: Ua::new(Config::new(addr(B)), 11),
            events: Vec::new(),
        }
    }

    /// Everything B sends now, parsed (all to A).
    fn take(&mut self) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(t) = self.ua.poll_transmit() {
            assert_eq!(t.to, addr(A));
            v.push(parsed(&t.bytes));
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
        v
    }

    fn at(&mut self, now: u64) -> Vec<Message> {
        self.ua.handle_timeout(now);
        self.take()
    }
}

fn invite(require_100rel: bool) -> Vec<u8> {
    let mut b = Builder::request("INVITE", &format!("sip:2000@{B}"))
        .header("Via", &format!("SIP/2.0/UDP {A};branch=z9hG4bKrel1"))
        .header("From", &format!("<sip:1001@{A}>;tag=a1"))
        .header("To", &format!("<sip:2000@{B}>"))
        .header("Call-ID", "rel-1@127.0.0.1")
        .header("CSeq", "10 INVITE")
        .header("Contact", &format!("<sip:1001@{A}>"))
        .header("Supported", "100rel");
    if require_100rel {
        b = b.header("Require", "100rel");
    }
    b.body("application/sdp", offer()).build()
}

fn prack(provisional: &Message, rack: &str, branch: &str) -> Vec<u8> {
    Builder::request("PRACK", &format!("sip:{B}"))
        .header("Via", &format!("SIP/2.0/UDP {A};branch={branch}"))
        .header("From", provisional.header("From").unwrap())
        .header("To", provisional.header("To").unwrap())
        .header("Call-ID", provisional.call_id())
        .header("CSeq", "11 PRACK")
        .header("RAck", rack)
        .build()
}

fn offered(b: &mut Callee, require_100rel: bool) -> (CallRef, Message) {
    let inv = invite(require_100rel);
    b.ua.handle_datagram(0, addr(A), &inv);
    let out = b.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].code(), Some(100));
    let call = match b.events.last() {
        Some(Event::Incoming { call, .. }) => *call,
        other => panic!("{other:?}"),
    };
    (call, parsed(&inv))
}

fn answer_for(invite: &Message) -> String {
    let offer = tipring_sip::sdp::Sdp::parse(invite.body()).unwrap();
    tipring_sip::sdp::answer(&offer, addr("127.0.0.1:40000"), &Default::default(), 3, 1)
        .unwrap()
        .0
        .render()
}

#[test]
fn a_required_100rel_gets_a_reliable_180_until_the_prack() {
    let mut b = Callee::new();
    let (call, inv) = offered(&mut b, true);
    b.ua.ringing(call, None).unwrap();
    let out = b.take();
    assert_eq!(out.len(), 1);
    let r180 = out[0].clone();
    assert_eq!(r180.code(), Some(180));
    assert_eq!(r180.header("Require"), Some("100rel"));
    let rseq: u32 = r180.header("RSeq").unwrap().parse().unwrap();
    assert!((1..1 << 31).contains(&rseq));
    // Retransmitted at T1, then 2·T1 later, the same RSeq (§3).
    for t in [500, 1500] {
        let again = b.at(t);
        assert_eq!(again.len(), 1, "at {t}");
        assert_eq!(again[0].code(), Some(180));
        assert_eq!(again[0].header("RSeq"), r180.header("RSeq"));
    }
    assert!(b.at(1499).is_empty());
    // A PRACK naming another RSeq is refused; the right one is answered and ends them.
    b.ua.handle_datagram(
        1600,
        addr(A),
        &prack(&r180, &format!("{} 10 INVITE", rseq + 1), "z9hG4bKp0"),
    );
    assert_eq!(b.take()[0].code(), Some(481));
    b.ua.handle_datagram(
        1700,
        addr(A),
        &prack(&r180, &format!("{rseq} 10 INVITE"), "z9hG4bKp1"),
    );
    let ok = b.take();
    assert_eq!(ok.len(), 1);
    assert_eq!((ok[0].code(), ok[0].cseq().1), (Some(200), "PRACK"));
    assert!(b.at(3500).is_empty(), "no 180 after the PRACK");
    assert!(b.at(40_000).iter().all(|m| m.code() != Some(504)));
    b.ua.answer(call, &answer_for(&inv)).unwrap();
    let fin = b.take();
    assert_eq!((fin[0].code(), fin[0].cseq().1), (Some(200), "INVITE"));
}

/// §3 lets our 2xx overtake a reliable 180 without SDP; the caller's PRACK for it then
/// comes after the 2xx and must still get 200 (a 481 there made callers drop the call they
/// had just been answered on). The 180 is no longer resent.
#[test]
fn a_prack_after_the_answer_to_a_180_without_sdp_gets_200() {
    let mut b = Callee::new();
    let (call, inv) = offered(&mut b, true);
    b.ua.ringing(call, None).unwrap();
    let r180 = b.take()[0].clone();
    let rseq: u32 = r180.header("RSeq").unwrap().parse().unwrap();
    b.ua.answer(call, &answer_for(&inv)).unwrap();
    let fin = b.take();
    assert_eq!((fin[0].code(), fin[0].cseq().1), (Some(200), "INVITE"));
    let r200 = fin[0].clone();
    // A wrong RAck is still refused; the right one is answered, once.
    b.ua.handle_datagram(
        100,
        addr(A),
        &prack(&r200, &format!("{} 10 INVITE", rseq + 1), "z9hG4bKq0"),
    );
    assert_eq!(b.take()[0].code(), Some(481));
    b.ua.handle_datagram(
        150,
        addr(A),
        &prack(&r200, &format!("{rseq} 10 INVITE"), "z9hG4bKq1"),
    );
    let ok = b.take();
    assert_eq!((ok[0].code(), ok[0].cseq().1), (Some(200), "PRACK"));
    // No 180 comes again (the 200 to the INVITE is resent on timer G until the ACK).
    assert!(b.at(2_000).iter().all(|m| m.code() != Some(180)));
}

#[test]
fn an_answer_waits_for_the_prack_of_a_183_with_sdp() {
    let mut b = Callee::new();
    let (call, inv) = offered(&mut b, true);
    let sdp = answer_for(&inv);
    b.ua.ringing(call, Some(&sdp)).unwrap();
    let r183 = b.take().remove(0);
    assert_eq!(r183.code(), Some(183));
    let rseq = r183.header("RSeq").unwrap().to_string();
    // The application answers at once; the 200 waits for the PRACK (§3).
    b.ua.answer(call, &sdp).unwrap();
    assert!(b.take().is_empty());
    b.ua.handle_datagram(
        300,
        addr(A),
        &prack(&r183, &format!("{rseq} 10 INVITE"), "z9hG4bKp2"),
    );
    let out = b.take();
    let got: Vec<(Option<u16>, String)> = out
        .iter()
        .map(|m| (m.code(), m.cseq().1.to_string()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(200), "PRACK".to_string()),
            (Some(200), "INVITE".to_string())
        ]
    );
}

#[test]
fn no_prack_in_64_t1_refuses_the_call_with_504() {
    let mut b = Callee::new();
    let (call, _) = offered(&mut b, true);
    b.ua.ringing(call, None).unwrap();
    b.take();
    let mut sent = 0;
    let mut refused = None;
    while let Some(t) = b.ua.poll_timeout() {
        if t > 40_000 {
            break;
        }
        for m in b.at(t) {
            match m.code() {
                Some(180) => sent += 1,
                Some(504) => refused = Some(t),
                other => panic!("{other:?}"),
            }
        }
        if refused.is_some() {
            break;
        }
    }
    // T1 = 500 ms: resent at 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s; refused at 64·T1 = 32 s.
    assert_eq!(sent, 6);
    assert_eq!(refused, Some(32_000));
    assert!(
        b.events
            .iter()
            .any(|e| matches!(e, Event::Ended { call: c, cause: 102, remote: true } if *c == call))
    );
}

#[test]
fn without_require_provisionals_are_not_reliable() {
    let mut b = Callee::new();
    let (call, _) = offered(&mut b, false);
    b.ua.ringing(call, None).unwrap();
    let r180 = b.take().remove(0);
    assert_eq!(r180.header("RSeq"), None);
    assert_eq!(r180.header("Require"), None);
    assert!(b.at(500).is_empty());
}
