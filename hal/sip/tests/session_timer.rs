//! RFC 4028 session timers between two cores on the virtual clock: refreshes by UPDATE and
//! by re-INVITE, 422 and Min-SE, and the BYE when refreshes stop.

mod common;

use common::*;
use tipring_sip::hdr::SessionExpires;
use tipring_sip::sdp::{self, Capabilities};
use tipring_sip::ua::{CallRef, Event};

/// A calls B and B answers.
fn up(n: &mut Net) -> (CallRef, CallRef) {
    let ca = n.a.invite(n.now, outbound());
    n.pump(|_, _| false);
    let cb = incoming(&n.ev_b);
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    n.pump(|_, _| false);
    assert!(
        n.ev_a.iter().any(|e| matches!(e, Event::Answered { .. })),
        "{:?}",
        n.ev_a
    );
    (ca, cb)
}

fn ended(ev: &[Event]) -> Vec<(CallRef, u8)> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Ended { call, cause, .. } => Some((*call, *cause)),
            _ => None,
        })
        .collect()
}

fn short(se: u32) -> Net {
    Net::with(|c| c.session_expires = se, |c| c.session_expires = se)
}

#[test]
fn uac_refreshes_by_update_at_half_the_interval_and_survives_lost_refreshes() {
    let mut n = short(90);
    let (_ca, _cb) = up(&mut n);
    let invite = &n.sent(A, "INVITE")[0];
    assert_eq!(invite.header("Session-Expires"), Some("90"));
    assert!(
        invite
            .option_tags("Supported")
            .contains(&"timer".to_string())
    );
    let ok = &n.sent(B, "SIP/2.0 200")[0];
    // A supports timers and named no refresher: B makes A the refresher and requires timer.
    assert_eq!(ok.header("Session-Expires"), Some("90;refresher=uac"));
    assert_eq!(ok.header("Require"), Some("timer"));
    // Three and more refresh cycles (the target: survive 3 at 90 s), with the first UPDATE
    // of every other cycle lost (retransmitted on timer E).
    let mut updates = 0;
    n.run_until(400_000, |t, _| {
        if first_line(&t.bytes).starts_with("UPDATE") {
            updates += 1;
            return updates % 3 == 1;
        }
        false
    });
    let refreshes = n.sent(A, "UPDATE");
    assert!(refreshes.len() >= 8, "{} UPDATEs", refreshes.len());
    let se = SessionExpires::parse(refreshes[0].header("Session-Expires").unwrap()).unwrap();
    assert_eq!((se.seconds, se.refresher_uac), (90, Some(true)));
    // Every 45 s: the first at 45 s, none before.
    let first = n
        .log
        .iter()
        .position(|(_, _, l)| l.starts_with("UPDATE"))
        .unwrap();
    assert!(first > 0);
    assert_eq!(n.calls(), (1, 1), "the call is still up");
    assert!(ended(&n.ev_a).is_empty() && ended(&n.ev_b).is_empty());
    assert_eq!(n.count(A, "BYE") + n.count(B, "BYE"), 0);
}

#[test]
fn no_refresh_means_bye_at_the_interval_less_a_third_with_cause_102() {
    let mut n = short(90);
    let (ca, cb) = up(&mut n);
    let silent = |t: &mut tipring_sip::ua::Transmit, from| {
        from == addr(A) && first_line(&t.bytes).starts_with("UPDATE")
    };
    // The last refresh was the answer, at 0: B waits 90 − 30 = 60 s.
    n.run_until(59_900, silent);
    assert_eq!(n.count(B, "BYE"), 0);
    n.run_until(60_100, silent);
    assert_eq!(n.count(B, "BYE"), 1);
    assert_eq!(
        ended(&n.ev_b),
        [(cb, 102)],
        "B gives up on the silent session"
    );
    // B's BYE carries the cause and reaches A, which ends too.
    let bye = &n.sent(B, "BYE")[0];
    assert_eq!(bye.header("Reason"), Some("Q.850;cause=102"));
    assert_eq!(ended(&n.ev_a), [(ca, 102)]);
    assert_eq!(n.calls(), (0, 0));
}

#[test]
fn a_422_raises_the_interval_to_the_min_se_rfc4028_7_4() {
    let mut n = Net::with(|c| c.session_expires = 90, |c| c.min_se = 600);
    let (_ca, _cb) = up(&mut n);
    assert_eq!(n.count(B, "SIP/2.0 422"), 1);
    let invites = n.sent(A, "INVITE");
    assert_eq!(invites.len(), 2);
    assert_eq!(invites[1].header("Session-Expires"), Some("600"));
    assert_eq!(invites[1].header("Min-SE"), Some("600"));
    // The retry is a new transaction of the same call (§8.1.3.5): CSeq up by one.
    assert_eq!(invites[1].call_id(), invites[0].call_id());
    assert_eq!(invites[1].cseq().0, invites[0].cseq().0 + 1);
    assert_eq!(n.count(A, "ACK"), 2, "the 422 and the 200 are acknowledged");
    // The first refresh comes at 300 s, not before.
    n.run_until(299_000, |_, _| false);
    assert_eq!(n.count(A, "UPDATE"), 0);
    n.run_until(301_000, |_, _| false);
    assert_eq!(n.count(A, "UPDATE"), 1);
    assert_eq!(n.calls(), (1, 1));
}

/// A caller that supports neither timers nor UPDATE: B runs the timer and refreshes by
/// re-INVITE with the SDP it sent before; A answers each like any re-INVITE.
#[test]
fn uas_refreshes_by_reinvite_when_the_caller_lacks_timer_and_update() {
    let mut n = short(90);
    let plain = |t: &mut tipring_sip::ua::Transmit, from| {
        if from == addr(A) && first_line(&t.bytes).starts_with("INVITE") {
            rewrite(t, "Supported: 100rel, timer\r\n", "");
            rewrite(t, ", UPDATE, PRACK", "");
        }
        false
    };
    let ca = n.a.invite(0, outbound());
    n.pump(plain);
    let cb = incoming(&n.ev_b);
    let ans = answer_sdp(&n.ev_b);
    n.b.answer(cb, &ans).unwrap();
    n.pump(plain);
    let ok = &n.sent(B, "SIP/2.0 200")[0];
    assert_eq!(ok.header("Session-Expires"), Some("90;refresher=uas"));
    assert_eq!(
        ok.header("Require"),
        None,
        "A did not say it supports timer"
    );
    let mut answered = 0;
    let mut lose_next = true;
    while n.now < 300_000 {
        n.run_until(n.now + 1_000, |t, from| {
            // Lose the first re-INVITE once: timer A repeats it.
            if from == addr(B) && first_line(&t.bytes).starts_with("INVITE") && lose_next {
                lose_next = false;
                return true;
            }
            false
        });
        let offers: Vec<_> = n
            .ev_a
            .drain(..)
            .filter_map(|e| match e {
                Event::Reinvite { call, offer } => Some((call, offer)),
                _ => None,
            })
            .collect();
        for (call, offer) in offers {
            assert_eq!(call, ca);
            let offer = offer.expect("a refresh re-INVITE carries the SDP");
            let ans = sdp::answer(
                &offer,
                addr("127.0.0.1:30000"),
                &Capabilities::default(),
                1,
                2,
            )
            .unwrap()
            .0
            .render();
            n.a.accept_reinvite(call, Some(&ans)).unwrap();
            answered += 1;
        }
    }
    let reinvites = n.sent(B, "INVITE");
    assert!(reinvites.len() >= 6, "{} re-INVITEs", reinvites.len());
    // Same SDP as the answer B sent at first (RFC 4028 §10: unchanged session).
    assert_eq!(reinvites[0].body(), ans.as_bytes());
    assert!(answered >= 5);
    assert_eq!(n.count(B, "UPDATE"), 0);
    assert!(n.count(B, "ACK") >= 5, "every refresh 2xx is acknowledged");
    assert_eq!(n.calls(), (1, 1));
    assert!(ended(&n.ev_b).is_empty());
}

#[test]
fn a_refresh_answered_481_ends_the_call() {
    let mut n = short(90);
    let (ca, cb) = up(&mut n);
    n.run_until(50_000, |_, _| false);
    assert_eq!(n.count(A, "UPDATE"), 1, "refreshed once, at 45 s");
    // B forgets the call; its BYE is lost: only the next refresh can tell A (481).
    n.b.hangup(cb, 16).unwrap();
    n.run_until(100_000, |t, from| {
        from == addr(B) && first_line(&t.bytes).starts_with("BYE")
    });
    assert!(n.count(B, "SIP/2.0 481") >= 1);
    assert_eq!(ended(&n.ev_a), [(ca, 102)]);
    assert_eq!(n.calls(), (0, 0));
}
