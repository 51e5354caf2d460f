//! Two user agent cores talking on a virtual clock (quinn's way of testing a sans-IO core):
//! every datagram is delivered, dropped or inspected by the test, and time jumps to the
//! earliest timer. The harness is in `common`.

mod common;

use common::*;
use tipring_sip::auth::{Algorithm, ClientAuth, Verifier};
use tipring_sip::msg::{self, Builder};
use tipring_sip::sdp::{self, Capabilities};
use tipring_sip::ua::{Config, Event, RegRef, Registration, Ua};

#[test]
fn a_call_rings_is_answered_and_hung_up_rfc3261_13_and_15() {
    let mut n = Net::new();
    let ca = n.a.invite(0, outbound());
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    match &n.ev_b[0] {
        Event::Incoming { info, .. } => {
            assert_eq!(info.called.as_deref(), Some("1000"));
            assert_eq!(info.caller.as_deref(), Some("5551234"));
            assert_eq!(info.caller_name.as_deref(), Some("Front Desk"));
            assert!(!info.withheld);
        }
        e => panic!("{e:?}"),
    }
    n.b.ringing(cb, None).unwrap();
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    n.pump(|_, _| false);
    assert!(matches!(n.ev_a[0], Event::Progress { code: 180, .. }));
    let Event::Answered { call, sdp: Some(s) } = &n.ev_a[1] else {
        panic!("{:?}", n.ev_a)
    };
    assert_eq!(*call, ca);
    let neg = sdp::Negotiated::from_answer(s, &Capabilities::default()).unwrap();
    assert_eq!(neg.remote, Some(addr("127.0.0.1:40000")));
    assert_eq!(n.count(A, "ACK"), 1);
    // No 200 retransmission once ACKed, even after a while.
    n.run_until(10_000, |_, _| false);
    assert_eq!(n.count(B, "SIP/2.0 200"), 1);
    n.a.hangup(ca, 16).unwrap();
    n.pump(|_, _| false);
    assert_eq!(
        n.ev_b.last(),
        Some(&Event::Ended {
            call: cb,
            cause: 16,
            remote: true
        })
    );
    assert_eq!(n.a.calls() + n.b.calls(), 0);
    // Transactions drain by themselves (timers J/K).
    n.run_until(60_000, |_, _| false);
    assert_eq!(n.a.transactions(), (0, 0));
    assert_eq!(n.b.transactions(), (0, 0));
}

#[test]
fn lost_invite_is_retransmitted_on_timer_a_and_lost_ack_repeats_the_200() {
    let mut n = Net::new();
    let mut dropped_invite = false;
    let ca = n.a.invite(0, outbound());
    n.run_until(400, |t, _| {
        if !dropped_invite && first_line(&t.bytes).starts_with("INVITE") {
            dropped_invite = true;
            return true;
        }
        false
    });
    assert!(n.ev_b.is_empty());
    n.run_until(600, |_, _| false);
    let cb = incoming(&n.ev_b);
    assert_eq!(n.count(A, "INVITE"), 2, "timer A fired once at T1");
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    // Drop the first ACK: B repeats its 200 on timer G, A acknowledges again.
    let mut acks = 0;
    n.run_until(5_000, |t, _| {
        if first_line(&t.bytes).starts_with("ACK") {
            acks += 1;
            return acks == 1;
        }
        false
    });
    assert!(n.count(B, "SIP/2.0 200") >= 2);
    assert_eq!(n.count(A, "ACK"), 2);
    assert!(matches!(n.ev_a.last(), Some(Event::Answered { call, .. }) if *call == ca));
    // Confirmed: no more 200s.
    let before = n.count(B, "SIP/2.0 200");
    n.run_until(40_000, |_, _| false);
    assert_eq!(n.count(B, "SIP/2.0 200"), before);
}

#[test]
fn cancel_before_answer_rfc3261_9() {
    let mut n = Net::new();
    let ca = n.a.invite(0, outbound());
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    n.b.ringing(cb, None).unwrap();
    n.pump(|_, _| false);
    n.a.hangup(ca, 16).unwrap();
    n.pump(|_, _| false);
    assert!(n.ev_b.contains(&Event::Cancelled { call: cb }));
    assert_eq!(n.count(B, "SIP/2.0 487"), 1);
    assert_eq!(n.count(A, "ACK"), 1, "the 487 is acknowledged");
    // The caller hung up: no Failed event for a call it ended itself.
    assert!(!n.ev_a.iter().any(|e| matches!(e, Event::Failed { .. })));
    assert_eq!(n.a.calls() + n.b.calls(), 0);
    // Cancelling before any provisional waits for one (RFC 3261 §9.1).
    let mut n = Net::new();
    let ca = n.a.invite(0, outbound());
    n.a.hangup(ca, 16).unwrap();
    n.pump(|_, _| false);
    // B's 100 Trying is provisional too, but RFC says CANCEL after a provisional: 100 counts
    // as none here (it came hop-by-hop). B rings: then the CANCEL goes.
    let cb = incoming(&n.ev_b);
    n.b.ringing(cb, None).unwrap();
    n.pump(|_, _| false);
    assert!(n.ev_b.contains(&Event::Cancelled { call: cb }));
}

#[test]
fn busy_maps_to_q850_17_and_reason_wins() {
    let mut n = Net::new();
    let ca = n.a.invite(0, outbound());
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    n.b.reject(cb, 486, "Busy Here", None, None).unwrap();
    n.pump(|_, _| false);
    assert_eq!(
        n.ev_a.last(),
        Some(&Event::Failed {
            call: ca,
            code: 486,
            cause: 17,
            retry_after: None
        })
    );
    let mut n = Net::new();
    let ca = n.a.invite(0, outbound());
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    n.b.reject(cb, 503, "Service Unavailable", Some(30), Some(34))
        .unwrap();
    n.pump(|_, _| false);
    assert_eq!(
        n.ev_a.last(),
        Some(&Event::Failed {
            call: ca,
            code: 503,
            cause: 34,
            retry_after: Some(30)
        })
    );
}

#[test]
fn invite_timeout_is_408_cause_102_on_timer_b() {
    let mut n = Net::new();
    let ca = n.a.invite(0, outbound());
    n.run_until(40_000, |_, _| true);
    assert_eq!(
        n.count(A, "INVITE"),
        7,
        "A at 0, .5, 1.5, 3.5, 7.5, 15.5, 31.5 s"
    );
    assert_eq!(
        n.ev_a,
        [Event::Failed {
            call: ca,
            code: 408,
            cause: 102,
            retry_after: None
        }]
    );
    assert_eq!(n.a.transactions(), (0, 0));
}

/// A proxy in front of B that demands digest on INVITE, built from the library's verifier:
/// A must answer the 407 with Proxy-Authorization, with nc in hex, and get through.
#[test]
fn invite_answers_a_407_challenge_rfc3261_22_3() {
    let mut n = Net::new();
    let verifier = Verifier::new("pbx", [3; 32], 30_000, Algorithm::Md5);
    let mut out = outbound();
    out.auth = Some(ClientAuth::new("trunk1", "s3cret"));
    let _ca = n.a.invite(0, out);
    let mut challenged = 0;
    let mut verified = None;
    // Intercept by hand: the first INVITE gets a 407 from "the proxy".
    loop {
        let mut progressed = false;
        while let Some(t) = n.a.poll_transmit() {
            progressed = true;
            let m = msg::parse(&t.bytes, &Default::default()).unwrap();
            if m.method() == "INVITE" && m.header("Proxy-Authorization").is_none() {
                challenged += 1;
                let r =
                    Builder::response(&m.prep, 407, "Proxy Authentication Required", Some("px"))
                        .header("Proxy-Authenticate", &verifier.challenge(0, false))
                        .build();
                n.a.handle_datagram(0, addr(B), &r);
            } else if m.method() == "INVITE" {
                verified = Some(verifier.verify(
                    m.header("Proxy-Authorization"),
                    "INVITE",
                    10,
                    |u| (u == "trunk1").then(|| "s3cret".to_string()),
                ));
                n.b.handle_datagram(0, addr(A), &t.bytes);
            } else if m.method() == "ACK" && m.to().tag() == Some("px") {
                // the ACK for the 407: absorbed by "the proxy"
            } else {
                n.b.handle_datagram(0, addr(A), &t.bytes);
            }
        }
        while let Some(t) = n.b.poll_transmit() {
            progressed = true;
            n.a.handle_datagram(0, addr(B), &t.bytes);
        }
        while let Some(e) = n.b.poll_event() {
            n.ev_b.push(e);
        }
        if !progressed {
            break;
        }
    }
    assert_eq!(challenged, 1);
    assert_eq!(verified, Some(Ok("trunk1".to_string())));
    incoming(&n.ev_b);
}

/// A registrar built from the library's verifier: 401, then 200 with Expires 10; the
/// binding is refreshed at half the grant, and re-challenged refreshes succeed.
#[test]
fn register_authenticates_and_refreshes_at_half_the_grant() {
    let mut ua = Ua::new(Config::new(addr(A)), 5);
    let verifier = Verifier::new("pbx", [9; 32], 60_000, Algorithm::Sha256);
    ua.register(
        0,
        RegRef(1),
        Registration {
            registrar: addr(B),
            registrar_uri: "sip:pbx.example.com".into(),
            aor: "sip:100@pbx.example.com".into(),
            expires: 3600,
            auth: Some(ClientAuth::new("100", "pw")),
            retry_ms: 1_000,
        },
    );
    let mut now = 0;
    let mut registers = Vec::new();
    let mut events = Vec::new();
    let mut used = Vec::new();
    while now < 16_000 {
        while let Some(t) = ua.poll_transmit() {
            let m = msg::parse(&t.bytes, &Default::default()).unwrap();
            assert_eq!(m.method(), "REGISTER");
            registers.push(now);
            if let Some(a) = m.header("Authorization") {
                let field = |k: &str| {
                    a.split(", ")
                        .find_map(|p| p.strip_prefix(k))
                        .map(|v| v.trim_matches('"').to_string())
                };
                let pair = (field("nonce=").unwrap(), field("nc=").unwrap());
                // RFC 7616 §3.4.5: a (nonce, nc) pair sent twice is a replay.
                assert!(!used.contains(&pair), "replayed {pair:?}");
                used.push(pair);
            }
            let ok = verifier.verify(m.header("Authorization"), "REGISTER", now, |u| {
                (u == "100").then(|| "pw".to_string())
            });
            let r = match ok {
                Ok(_) => Builder::response(&m.prep, 200, "OK", Some("r"))
                    .header("Contact", "<sip:100@127.0.0.1:5061>;expires=10")
                    .build(),
                Err(_) => Builder::response(&m.prep, 401, "Unauthorized", Some("r"))
                    .header("WWW-Authenticate", &verifier.challenge(now, false))
                    .build(),
            };
            ua.handle_datagram(now, addr(B), &r);
        }
        while let Some(e) = ua.poll_event() {
            events.push((now, e));
        }
        now = ua.poll_timeout().unwrap_or(now + 1000).max(now + 1);
        ua.handle_timeout(now);
    }
    let registered: Vec<u64> = events
        .iter()
        .filter_map(|(t, e)| matches!(e, Event::Registered { expires: 10, .. }).then_some(*t))
        .collect();
    assert!(registered.len() >= 3, "{events:?}");
    // Refreshes come at ≤ 50 % of the 10 s grant.
    for w in registered.windows(2) {
        assert!(w[1] - w[0] <= 5_000, "{registered:?}");
    }
    assert!(
        !events
            .iter()
            .any(|(_, e)| matches!(e, Event::RegistrationFailed { .. }))
    );
}

#[test]
fn options_ping_is_answered_in_and_out_of_a_call() {
    let mut n = Net::new();
    n.a.ping(0, 77, addr(B), &format!("sip:{B}"));
    n.pump(|_, _| false);
    assert!(n.ev_a.contains(&Event::Pong { id: 77, code: 200 }));
    let _ = n.a.invite(0, outbound());
    n.pump(|_, _| false);
    n.a.ping(0, 78, addr(B), &format!("sip:{B}"));
    n.pump(|_, _| false);
    assert!(n.ev_a.contains(&Event::Pong { id: 78, code: 200 }));
    // Nobody home: the ping times out on timer F.
    n.a.ping(0, 79, addr("127.0.0.1:9"), "sip:127.0.0.1:9");
    n.run_until(40_000, |_, _| false);
    assert!(n.ev_a.contains(&Event::PingTimeout { id: 79 }));
}

#[test]
fn garbage_gets_400_or_is_dropped_never_a_panic() {
    let mut ua = Ua::new(Config::new(addr(B)), 3);
    let src = addr(A);
    let bad_cseq = "INVITE sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
        From: <sip:a@h>;tag=1\r\nTo: <sip:x@h>\r\nCall-ID: c\r\nCSeq: abc INVITE\r\n\r\n";
    ua.handle_datagram(0, src, bad_cseq.as_bytes());
    let t = ua.poll_transmit().expect("a 400");
    assert!(first_line(&t.bytes).starts_with("SIP/2.0 400 Bad Request (CSeq"));
    assert_eq!(t.to, src);
    for junk in [
        &b""[..],
        b"\r\n\r\n",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"INVITE\r\n\r\n",
        &[0xff, 0xfe, 0x00, b'\r', b'\n', b'\r', b'\n'],
    ] {
        ua.handle_datagram(0, src, junk);
    }
    while ua.poll_transmit().is_some() {}
    assert_eq!(ua.calls(), 0);
    // A body we can't read as SDP: 400, no call.
    let bad_sdp = Builder::request("INVITE", "sip:1@127.0.0.1")
        .header("Via", "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK2")
        .header("From", "<sip:a@h>;tag=1")
        .header("To", "<sip:1@h>")
        .header("Call-ID", "c2")
        .header("CSeq", "1 INVITE")
        .body("application/sdp", "not sdp at all")
        .build();
    ua.handle_datagram(0, src, &bad_sdp);
    let t = ua.poll_transmit().unwrap();
    assert!(
        first_line(&t.bytes).starts_with("SIP/2.0 400"),
        "{}",
        first_line(&t.bytes)
    );
    assert_eq!(ua.calls(), 0);
}

/// RFC 4475's torture messages, when the shared test data is present (local runs): none may
/// panic, the well-formed ones must be accepted, and every request gets at most a response.
#[test]
fn rfc4475_torture_messages_when_present() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/sip-rfc4475");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: {} not present", dir.display());
        return;
    };
    // §3.1.1: valid messages that a tolerant parser must accept.
    let valid = [
        "wsinv.dat",
        "intmeth.dat",
        "esc01.dat",
        "escnull.dat",
        "esc02.dat",
        "lwsdisp.dat",
        "longreq.dat",
        "dblreq.dat",
        "semiuri.dat",
        "transports.dat",
        "mpart01.dat",
        "unreason.dat",
        "noreason.dat",
    ];
    let mut accepted = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let bytes = std::fs::read(e.path()).unwrap();
        let mut ua = Ua::new(Config::new(addr(B)), 4);
        ua.handle_datagram(0, addr(A), &bytes);
        let mut responses = 0;
        while ua.poll_transmit().is_some() {
            responses += 1;
        }
        assert!(responses <= 2, "{name}: {responses} datagrams");
        if msg::parse(&bytes, &Default::default()).is_ok() {
            accepted.push(name);
        }
    }
    let missing: Vec<_> = valid
        .iter()
        .filter(|v| !accepted.iter().any(|a| a == *v))
        .collect();
    eprintln!("accepted: {accepted:?}");
    assert!(
        missing.is_empty(),
        "valid torture messages refused: {missing:?}"
    );
}
