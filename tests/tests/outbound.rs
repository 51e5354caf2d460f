//! Outbound calls and bridges end to end on the virtual clock: the Rust menu bridges two
//! phones with DTMF crossing both ways; calls placed through the switch meet busy, no
//! answer, answer, SIT and an unanswered phone with the right outcome and cause.

mod common;

use common::{Rig, examples, params, script};
use tipring_hal::sim::{Destination, Script, SimEvent, Step};
use tipring_hal::{ChannelId, Digits};
use tipringd::call::{Match, Route};

fn routes() -> Vec<Route> {
    vec![
        Route {
            matches: Match::Kind("fxo".into()),
            number: None,
            handler: "ivr-c".into(),
            params: params(),
        },
        Route {
            matches: Match::Kind("fxs".into()),
            number: None,
            handler: "menu".into(),
            params: params(),
        },
    ]
}

fn digits(s: &str) -> Digits {
    Digits::parse(ChannelId(0), s).unwrap()
}

/// A phone lifts the handset: the Rust menu answers, the caller keys 2#, the menu rings
/// phone 2, which answers; the two are bridged: DTMF crosses both ways, and when phone 1
/// hangs up the leg to phone 2 ends too.
#[test]
fn the_rust_menu_bridges_two_phones() {
    let mut r = Rig::new(2, 0, Vec::new(), examples(), routes());
    r.sim.auto_answer(2, Some(2000), Script::new()).unwrap();
    r.sim
        .offhook(
            1,
            script(&[
                Step::Wait { ms: 800 },
                Step::Dial {
                    digits: digits("2#"),
                },
            ]),
        )
        .unwrap();
    r.run(6000);
    let live = r.switch.calls();
    assert_eq!(live.len(), 2, "{live:#?}");
    let (a, b) = (&live[0], &live[1]);
    assert_eq!((a.handler.as_deref(), a.channel), (Some("menu"), 1));
    assert_eq!(
        (b.handler.as_deref(), b.channel, b.parent),
        (None, 2, Some(a.id))
    );
    assert_eq!(a.bridged_to, Some(b.id), "{a:#?}");
    assert_eq!(a.vars.get("bridge_to").map(String::as_str), Some("2"));
    // DTMF across the bridge, both ways (in band).
    r.sim
        .run(
            1,
            script(&[Step::Dial {
                digits: digits("58"),
            }]),
        )
        .unwrap();
    r.sim
        .run(
            2,
            script(&[
                Step::Wait { ms: 600 },
                Step::Dial {
                    digits: digits("*0"),
                },
            ]),
        )
        .unwrap();
    r.run(2000);
    let heard = |line: u32| -> String {
        r.reports
            .iter()
            .filter(|h| h.line == ChannelId(line))
            .filter_map(|h| match h.event {
                SimEvent::HeardDigit(d) => Some(d),
                _ => None,
            })
            .collect()
    };
    assert!(heard(2).ends_with("58"), "phone 2 heard {:?}", heard(2));
    assert!(heard(1).ends_with("*0"), "phone 1 heard {:?}", heard(1));
    // Phone 1 hangs up: both calls end.
    r.sim.onhook(1).unwrap();
    r.run(1000);
    let a = r.switch.call(a.id).unwrap();
    let b = r.switch.call(b.id).unwrap();
    assert_eq!((a.state, b.state), ("ended", "ended"));
    assert_eq!(a.cause, Some(16));
}

/// Originate from the API to busy, unanswered, answering and unknown numbers on an exchange
/// line, and to a phone that never answers: each call ends with the right outcome and cause.
#[test]
fn originate_meets_every_outcome() {
    let dir = vec![
        (digits("5550100"), Destination::Busy),
        (digits("5550300"), Destination::NoAnswer),
        (
            digits("5550200"),
            Destination::Answer {
                after_ms: 3000,
                polarity: true,
                script: script(&[Step::Wait { ms: 3000 }, Step::Hangup]),
            },
        ),
    ];
    let mut r = Rig::new(1, 4, dir, examples(), routes());
    r.switch.timing_mut().no_answer_ms = 12_000;
    let busy = r.switch.originate(2, Some("5550100"), None, "{}").unwrap();
    let none = r.switch.originate(3, Some("5550300"), None, "{}").unwrap();
    let ans = r.switch.originate(4, Some("5550200"), None, "{}").unwrap();
    let sit = r.switch.originate(5, Some("5559999"), None, "{}").unwrap();
    let phone = r.switch.originate(1, None, None, "{}").unwrap();
    r.run(25_000);
    let o = |id: tipring_hal::CallId| {
        let c = r.switch.call(id.0).unwrap();
        (c.outcome.unwrap_or("-"), c.cause.unwrap_or(0), c.state)
    };
    assert_eq!(o(busy), ("busy", 17, "ended"));
    assert_eq!(o(none), ("no-answer", 19, "ended"));
    assert_eq!(o(ans), ("answered", 16, "ended"));
    assert_eq!(o(sit), ("sit", 1, "ended"));
    assert_eq!(o(phone), ("no-answer", 19, "ended"));
}
