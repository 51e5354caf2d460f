//! Caller identity on the wire (RFC 3325 P-Asserted-Identity, RFC 3323 Privacy) and digest
//! challenges to inbound INVITEs (RFC 3261 §22), between two cores.

mod common;

use common::*;
use tipring_sip::auth::{Algorithm, AuthFailure, ClientAuth, Verifier};
use tipring_sip::ua::{Event, Outbound};

#[test]
fn a_withheld_caller_is_anonymous_in_from_and_asserted_in_pai() {
    let mut n = Net::new();
    let _ = n.a.invite(
        0,
        Outbound {
            withhold: true,
            from_domain: Some("trunk.example".into()),
            ..outbound()
        },
    );
    n.pump(|_, _| false);
    let invite = &n.sent(A, "INVITE")[0];
    assert!(invite.header("From").unwrap().contains("anonymous.invalid"));
    assert_eq!(
        invite.header("P-Asserted-Identity"),
        Some("<sip:5551234@trunk.example>")
    );
    assert_eq!(invite.header("Privacy"), Some("id"));
    assert!(!invite.header("Contact").unwrap().contains("5551234"));
    // The receiving core reads the number from PAI and marks it withheld.
    let Some(Event::Incoming { info, .. }) = n.ev_b.first() else {
        panic!("{:?}", n.ev_b)
    };
    assert_eq!(info.caller.as_deref(), Some("5551234"));
    assert!(info.withheld);
}

/// B challenges every INVITE without good credentials, the way the adapter does for a trunk
/// with `challenge` set.
fn challenge_round(password: &str) -> Net {
    let mut n = Net::new();
    let verifier = Verifier::new("tipring", [5; 32], 300_000, Algorithm::Md5);
    let _ = n.a.invite(
        0,
        Outbound {
            auth: Some(ClientAuth::new("pbx", password)),
            ..outbound()
        },
    );
    for _ in 0..5 {
        n.pump(|_, _| false);
        let pending: Vec<_> = n
            .ev_b
            .drain(..)
            .filter_map(|e| match e {
                Event::Incoming { call, info } => Some((call, info)),
                _ => None,
            })
            .collect();
        for (call, info) in pending {
            let ok = verifier.verify(info.authorization.as_deref(), "INVITE", n.now, |u| {
                (u == "pbx").then(|| "s3cret".to_string())
            });
            match ok {
                Ok(user) => {
                    assert_eq!(user, "pbx");
                    let ans = answer_sdp(&[Event::Incoming { call, info }]);
                    n.b.answer(call, &ans).unwrap();
                }
                Err(e) => {
                    let stale = e == AuthFailure::Stale;
                    n.b.challenge(call, true, &verifier.challenge(n.now, stale))
                        .unwrap();
                }
            }
        }
    }
    n
}

#[test]
fn inbound_invites_are_challenged_and_good_credentials_get_through() {
    let n = challenge_round("s3cret");
    assert_eq!(n.count(B, "SIP/2.0 407"), 1);
    assert_eq!(n.count(A, "INVITE"), 2);
    assert!(n.ev_a.iter().any(|e| matches!(e, Event::Answered { .. })));
    assert_eq!(n.b.calls(), 1, "the challenged attempt left nothing behind");
}

#[test]
fn a_wrong_password_ends_in_407() {
    let n = challenge_round("wrong");
    assert!(
        matches!(n.ev_a.last(), Some(Event::Failed { code: 407, .. })),
        "{:?}",
        n.ev_a
    );
    assert_eq!(n.b.calls(), 0);
    assert_eq!(n.a.calls(), 0);
}

/// A call out on a trunk with credentials, answered; then A hangs up and the far end
/// challenges the BYE `challenges` times (401, as a PBX that authenticates every request
/// does). Returns the net and every BYE A sent.
fn challenged_bye(challenges: usize) -> (Net, Vec<tipring_sip::msg::Message>) {
    let verifier = Verifier::new("pbx.example", [9; 32], 300_000, Algorithm::Md5);
    let mut n = Net::new();
    let ca = n.a.invite(
        0,
        Outbound {
            auth: Some(ClientAuth::new("pbx", "s3cret")),
            ..outbound()
        },
    );
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    n.pump(|_, _| false);
    assert!(n.ev_a.iter().any(|e| matches!(e, Event::Answered { .. })));
    n.a.hangup(ca, 16).unwrap();
    let mut left = challenges;
    for _ in 0..10 {
        // Hold back each BYE while challenges are left, and answer it with a 401.
        let mut held = None;
        n.pump(|t, from| {
            let bye = from == addr(A) && first_line(&t.bytes).starts_with("BYE");
            if bye && left > 0 && held.is_none() {
                held = Some(t.bytes.clone());
                return true;
            }
            false
        });
        let Some(bye) = held else { break };
        left -= 1;
        let m = parsed(&bye);
        let to_tag = m.to().param("tag").map(str::to_string);
        let r =
            tipring_sip::msg::Builder::response(&m.prep, 401, "Unauthorized", to_tag.as_deref())
                .header("WWW-Authenticate", &verifier.challenge(n.now, false))
                .build();
        n.a.handle_datagram(n.now, addr(B), &r);
    }
    n.pump(|_, _| false);
    let byes = n.sent(A, "BYE");
    // Every authorized BYE carries good credentials for its own method and URI.
    for b in byes.iter().filter(|b| b.header("Authorization").is_some()) {
        assert_eq!(
            verifier.verify(b.header("Authorization"), "BYE", n.now, |u| {
                (u == "pbx").then(|| "s3cret".to_string())
            }),
            Ok("pbx".to_string())
        );
    }
    (n, byes)
}

#[test]
fn a_challenged_bye_is_sent_again_with_credentials() {
    let (n, byes) = challenged_bye(1);
    assert_eq!(byes.len(), 2, "the BYE and its authorized resend");
    assert!(byes[0].header("Authorization").is_none());
    assert!(byes[1].header("Authorization").is_some());
    assert_eq!(byes[1].cseq().0, byes[0].cseq().0 + 1, "the next CSeq");
    assert_ne!(
        byes[0].top_via().unwrap().branch(),
        byes[1].top_via().unwrap().branch(),
        "a new transaction"
    );
    assert_eq!(byes[0].call_id(), byes[1].call_id());
    // B took the authorized BYE: both sides are done with the call.
    assert!(
        n.ev_b.iter().any(|e| matches!(e, Event::Ended { .. })),
        "{:?}",
        n.ev_b
    );
    assert_eq!(n.count(B, "SIP/2.0 200"), 2, "the INVITE's and the BYE's");
}

#[test]
fn a_bye_challenged_over_and_over_gives_up_after_two_answers() {
    let (_, byes) = challenged_bye(5);
    assert_eq!(byes.len(), 3, "the BYE and two authorized resends, no more");
}
