//! Late offer (RFC 3264 §5 with RFC 3261 §13.2.1): an INVITE or re-INVITE without SDP; we
//! offer in the 2xx and the caller answers in the ACK.

mod common;

use common::*;
use tipring_sip::msg::{Builder, Message};
use tipring_sip::sdp::{self, Capabilities};
use tipring_sip::ua::{Config, Event, Ua};

/// A scripted caller at A talking to a core at B.
struct Caller {
    now: u64,
    ua: Ua,
    events: Vec<Event>,
}

impl Caller {
    fn new() -> Caller {
        Caller {
            now: 0,
            ua: Ua::new(Config::new(addr(B)), 11),
            events: Vec::new(),
        }
    }

    fn give(&mut self, bytes: &[u8]) -> Vec<Message> {
        self.ua.handle_datagram(self.now, addr(A), bytes);
        self.take()
    }

    fn take(&mut self) -> Vec<Message> {
        let mut v = Vec::new();
        while let Some(t) = self.ua.poll_transmit() {
            v.push(parsed(&t.bytes));
        }
        while let Some(e) = self.ua.poll_event() {
            self.events.push(e);
        }
        v
    }

    fn advance(&mut self, to: u64) -> Vec<Message> {
        self.now = to;
        self.ua.handle_timeout(to);
        self.take()
    }
}

fn request(method: &str, cseq: u32, branch: &str, to_tag: Option<&str>) -> Builder {
    let to = match to_tag {
        Some(t) => format!("<sip:1000@{B}>;tag={t}"),
        None => format!("<sip:1000@{B}>"),
    };
    Builder::request(method, &format!("sip:1000@{B}"))
        .header("Via", &format!("SIP/2.0/UDP {A};branch={branch}"))
        .header("Max-Forwards", "70")
        .header("From", "<sip:555@127.0.0.1>;tag=caller")
        .header("To", &to)
        .header("Call-ID", "late-offer-1")
        .header("CSeq", &format!("{cseq} {method}"))
        .header("Contact", &format!("<sip:555@{A}>"))
}

fn our_answer_to(offer: &Message) -> String {
    let o = sdp::Sdp::parse(offer.body()).unwrap();
    sdp::answer(&o, addr("127.0.0.1:30000"), &Capabilities::default(), 5, 1)
        .unwrap()
        .0
        .render()
}

fn acked(ev: &[Event]) -> Vec<Option<sdp::Sdp>> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Acked { sdp, .. } => Some(sdp.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn offer_in_the_200_answer_in_the_ack_even_when_the_first_ack_is_lost() {
    let mut c = Caller::new();
    let out = c.give(&request("INVITE", 1, "z9hG4bKi1", None).build());
    assert_eq!(out[0].code(), Some(100));
    let Some(Event::Incoming { call, info }) = c.events.first().cloned() else {
        panic!("{:?}", c.events)
    };
    assert!(info.offer.is_none(), "no offer: we offer in the 200");
    let our_offer = offer();
    c.ua.answer(call, &our_offer).unwrap();
    let ok = c.take().remove(0);
    assert_eq!(ok.code(), Some(200));
    assert_eq!(ok.body(), our_offer.as_bytes());
    let tag = ok.to().tag().unwrap().to_string();
    // The first ACK is lost: the 200 repeats on timer G, and the next ACK carries the answer.
    let again = c.advance(500);
    assert_eq!(again[0].code(), Some(200));
    let answer = our_answer_to(&ok);
    let ack = request("ACK", 1, "z9hG4bKa1", Some(&tag))
        .body("application/sdp", answer.clone())
        .build();
    assert!(c.give(&ack).is_empty());
    assert_eq!(
        acked(&c.events),
        [Some(sdp::Sdp::parse(answer.as_bytes()).unwrap())]
    );
    // Acknowledged: no more 200s, and a repeated ACK reports nothing new.
    assert!(c.advance(10_000).is_empty());
    c.give(&ack);
    assert_eq!(acked(&c.events).len(), 1);

    // An offerless re-INVITE: the application offers in the 200, the ACK answers.
    let out = c.give(&request("INVITE", 2, "z9hG4bKi2", Some(&tag)).build());
    assert_eq!(out[0].code(), Some(100));
    assert!(matches!(
        c.events.last(),
        Some(Event::Reinvite { offer: None, .. })
    ));
    c.ua.accept_reinvite(call, Some(&our_offer)).unwrap();
    let ok2 = c.take().remove(0);
    assert_eq!((ok2.code(), ok2.cseq().0), (Some(200), 2));
    // An ACK without SDP: the offer/answer failed; the application hears of it.
    c.give(&request("ACK", 2, "z9hG4bKa2", Some(&tag)).build());
    assert_eq!(acked(&c.events).len(), 2);
    assert_eq!(acked(&c.events)[1], None);
    // The re-INVITE's 200 stops repeating on that ACK.
    assert!(c.advance(20_000).is_empty());
}

#[test]
fn an_offer_answered_in_the_200_gives_no_acked_event() {
    let mut n = Net::new();
    let _ = n.a.invite(0, outbound());
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    n.pump(|_, _| false);
    assert_eq!(n.count(A, "ACK"), 1);
    assert!(acked(&n.ev_b).is_empty());
}
