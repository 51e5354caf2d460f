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
