//! Calls end to end on the virtual clock: the sim board's far ends talk to the example
//! handlers through the real media engine and switch; every digit travels as in-band DTMF.

mod common;

use common::{Rig, dial, examples, params, script};
use std::path::Path;
use tipring_dsp::cid::CallerId;
use tipring_hal::sim::{self, Script, Step};
use tipringd::call::{Match, Route};
use tipringd::handler::{Isolation, LoadOptions, Registry};

fn route(m: Match, handler: &str) -> Route {
    Route {
        matches: m,
        number: None,
        handler: handler.into(),
        params: params(),
    }
}

/// Inbound call → C IVR → digits keyed in band → collected → hang-up → the call record.
#[test]
fn an_inbound_call_is_collected_and_recorded() {
    let mut r = Rig::new(
        0,
        1,
        Vec::new(),
        examples(),
        vec![route(Match::Any, "ivr-c")],
    );
    let caller = CallerId {
        number: Some("2125551212".try_into().unwrap()),
        ..CallerId::default()
    };
    r.sim
        .ring_in(
            1,
            Some(&caller),
            5,
            script(&[Step::Wait { ms: 1000 }, dial("908#")]),
        )
        .unwrap();
    r.run(15_000);
    let c = r.switch.call(1).expect("call 1");
    assert_eq!(c.state, "ended");
    assert_eq!(c.caller.as_deref(), Some("2125551212"));
    assert_eq!(c.digits, ["908"]);
    assert_eq!((c.cause, c.handler.as_deref()), (Some(16), Some("ivr-c")));
}

/// 200 calls at once: 100 exchange callers in the C IVR, each keying its own 4 digits, and
/// 50 phones in the Rust menu, each bridged to another phone (50 more calls). Every digit
/// string comes out right.
#[test]
fn two_hundred_calls_at_once() {
    const IVR: u32 = 100;
    const MENU: u32 = 50;
    let phones = 2 * MENU;
    let routes = vec![
        route(Match::Kind("fxo".into()), "ivr-c"),
        route(Match::Kind("fxs".into()), "menu"),
    ];
    let mut r = Rig::new(phones, IVR, Vec::new(), examples(), routes);
    for p in MENU + 1..=phones {
        r.sim.auto_answer(p, Some(1500), Script::new()).unwrap();
    }
    for p in 1..=MENU {
        let target = p + MENU;
        r.sim
            .offhook(
                p,
                script(&[Step::Wait { ms: 700 }, dial(&format!("{target}#"))]),
            )
            .unwrap();
    }
    for t in 1..=IVR {
        let line = phones + t;
        let keyed = format!("{:04}", t * 37 % 10_000);
        r.sim
            .ring_in(
                line,
                None,
                8,
                script(&[Step::Wait { ms: 1500 }, dial(&format!("{keyed}#"))]),
            )
            .unwrap();
    }
    // Everyone is in a call at the same moment.
    r.run(9_000);
    assert_eq!(r.switch.active(), 200, "calls up at 9 s");
    r.run(30_000);
    let calls = r.switch.calls();
    let mut ivr_ok = 0;
    let mut bridged = 0;
    for c in &calls {
        match c.handler.as_deref() {
            Some("ivr-c") => {
                let t = c.channel - phones;
                assert_eq!(
                    c.digits,
                    [format!("{:04}", t * 37 % 10_000)],
                    "call {} on channel {}",
                    c.id,
                    c.channel
                );
                assert_eq!(c.state, "ended");
                ivr_ok += 1;
            }
            Some("menu") => {
                let want = (c.channel + MENU).to_string();
                assert_eq!(c.vars.get("bridge_to"), Some(&want), "call {}", c.id);
                assert!(c.bridged_to.is_some(), "call {} was not bridged", c.id);
                bridged += 1;
            }
            None => assert!(
                c.parent.is_some(),
                "call {} has no handler and no parent",
                c.id
            ),
            Some(other) => panic!("unexpected handler {other}"),
        }
    }
    assert_eq!((ivr_ok, bridged), (IVR as usize, MENU as usize));
}

/// A handler refused for a bad ABI (among others loading fine) doesn't stop calls to the
/// others.
#[test]
fn a_refused_handler_leaves_the_others_working() {
    let dir = std::env::temp_dir().join(format!("tipring-e2e-handlers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(tipring_example_ivr_c::SO_PATH, dir.join("a-ivr.so")).unwrap();
    // A handler built for ABI 2.
    let src = dir.join("v2.c");
    std::fs::write(
        &src,
        "#include \"tipring/handler.h\"\nstatic const tipring_handler_vtable vt = { sizeof vt, 2, 0, \"v2\", \"2.0\", 0, 0, 0, 0, 0, 0 };\nconst tipring_handler_vtable *tipring_handler_entry_v1(uint16_t a, uint16_t b) { (void)a; (void)b; return &vt; }\n",
    )
    .unwrap();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk/include");
    let ok = std::process::Command::new("cc")
        .args(["-std=c11", "-shared", "-fPIC", "-o"])
        .arg(dir.join("b-v2.so"))
        .arg(&src)
        .arg("-I")
        .arg(include)
        .status()
        .expect("a C compiler");
    assert!(ok.success());
    std::fs::write(dir.join("c-notes.so"), "this is not a shared object").unwrap();
    // Each file is probed in a throwaway host first (tipringd --handler-host); the good one
    // then runs in process beside this test's switch.
    let mut reg = Registry::default();
    reg.set_host_program(common::proc::tipringd());
    reg.load_dir(&dir, |_| {
        (
            "{}".into(),
            LoadOptions {
                isolation: Isolation::InProcess,
                ..LoadOptions::default()
            },
        )
    });
    let refused: Vec<String> = reg.refused().iter().map(|r| r.reason.clone()).collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused[0].contains("built for ABI 2.0"), "{refused:?}");
    assert!(
        refused[1].starts_with("not a loadable shared object"),
        "{refused:?}"
    );
    let mut r = Rig::new(0, 2, Vec::new(), reg, vec![route(Match::Any, "ivr-c")]);
    for line in 1..=2 {
        r.sim
            .ring_in(
                line,
                None,
                5,
                script(&[Step::Wait { ms: 1000 }, dial("55#")]),
            )
            .unwrap();
    }
    r.run(12_000);
    let calls = r.switch.calls();
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| c.digits == ["55"]), "{calls:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `tipring_wake` from a handler's own thread delivers `EV_WAKE` with each token, in order,
/// to that call only, while the calls beside it go on.
#[test]
fn a_handler_thread_wakes_its_call() {
    let mut reg = Registry::default();
    reg.load(&common::built_so("libtipring_test_panicky.so"), "{}")
        .unwrap();
    let mut r = Rig::new(0, 4, Vec::new(), reg, vec![route(Match::Any, "panicky")]);
    for (line, d) in [(1, "7"), (2, "4"), (3, "7")] {
        r.sim
            .ring_in(line, None, 5, script(&[Step::Wait { ms: 800 }, dial(d)]))
            .unwrap();
    }
    r.run(10_000);
    // The wakes come from real threads while the rig's clock is virtual: give them real
    // time (the calls stay up, waiting, until they arrive).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while r.switch.calls().iter().any(|c| c.cause.is_none()) && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(5));
        r.run(20);
    }
    let calls = r.switch.calls();
    assert_eq!(calls.len(), 3);
    for c in calls {
        assert_eq!(c.cause, Some(16), "{c:#?}");
        let woken = c.vars.get("woken").map(String::as_str);
        match c.channel {
            1 | 3 => assert_eq!(woken, Some("70,71"), "{c:#?}"),
            _ => assert_eq!(woken, None, "{c:#?}"),
        }
    }
}

/// A panic in a Rust handler ends only the call it happened in: that call is hung up with
/// cause 41 (temporary failure); the calls beside it, in the same handler, go on.
#[test]
fn a_handler_panic_ends_only_its_call() {
    let mut reg = Registry::default();
    reg.load(&common::built_so("libtipring_test_panicky.so"), "{}")
        .unwrap();
    let mut r = Rig::new(0, 4, Vec::new(), reg, vec![route(Match::Any, "panicky")]);
    for (line, d) in [(1, "3"), (2, "9"), (3, "4"), (4, "9")] {
        r.sim
            .ring_in(line, None, 5, script(&[Step::Wait { ms: 800 }, dial(d)]))
            .unwrap();
    }
    r.run(10_000);
    let calls = r.switch.calls();
    assert_eq!(calls.len(), 4);
    for c in calls {
        match c.channel {
            1 | 3 => {
                assert_eq!(c.cause, Some(16), "{c:#?}");
                assert!(c.vars.contains_key("digit"));
            }
            _ => {
                assert_eq!(c.cause, Some(41), "{c:#?}");
                assert!(
                    c.events
                        .iter()
                        .any(|e| e.event.starts_with("handler failed")),
                    "{c:#?}"
                );
            }
        }
    }
    // The handler still takes calls afterwards.
    r.sim
        .ring_in(2, None, 5, script(&[Step::Wait { ms: 800 }, dial("1")]))
        .unwrap();
    r.run(8_000);
    let last = r.switch.calls().into_iter().max_by_key(|c| c.id).unwrap();
    assert_eq!((last.channel, last.cause), (2, Some(16)));
}

/// Dial plan: a phone goes off hook, hears dial tone, dials 201, and the route for `2XX`
/// offers the call to the menu with the number; a hook flash reaches the handler (the menu
/// counts it and starts over). A phone that dials a number no route takes hears
/// congestion and no call is made.
#[test]
fn a_phone_dials_a_number_and_flashes() {
    let routes = vec![
        Route {
            matches: Match::Any,
            number: Some("2XX".into()),
            handler: "menu".into(),
            params: params(),
        },
        Route {
            matches: Match::Any,
            number: Some("9.".into()),
            handler: "ivr-c".into(),
            params: params(),
        },
    ];
    let mut r = Rig::new(2, 0, Vec::new(), examples(), routes);
    r.sim
        .offhook(1, script(&[Step::Wait { ms: 1500 }, dial("201")]))
        .unwrap();
    r.run(4_000);
    let heard_dial = r.reports.iter().any(|x| {
        x.line.0 == 1
            && matches!(
                x.event,
                sim::SimEvent::HeardTone(tipring_dsp::progress::ProgressTone::Dial)
            )
    });
    assert!(heard_dial, "no dial tone heard: {:?}", r.reports);
    let c = r.switch.call(1).expect("the dialled call");
    assert_eq!(c.called.as_deref(), Some("201"));
    assert_eq!(c.handler.as_deref(), Some("menu"));
    assert_eq!(c.state, "up");
    r.sim.flash(1).unwrap();
    r.run(2_000);
    let c = r.switch.call(1).unwrap();
    assert_eq!(c.state, "up", "{:?}", c.events);
    assert_eq!(
        c.vars.get("flashes").map(String::as_str),
        Some("1"),
        "{:?}",
        c.events
    );
    assert_eq!(c.state, "up");
    r.sim.onhook(1).unwrap();
    r.run(2_000);
    assert_eq!(r.switch.call(1).unwrap().state, "ended");

    // 4 matches no route: congestion, no call.
    r.sim
        .offhook(2, script(&[Step::Wait { ms: 1000 }, dial("4")]))
        .unwrap();
    r.run(4_000);
    let congestion = r.reports.iter().any(|x| {
        x.line.0 == 2
            && matches!(
                x.event,
                sim::SimEvent::HeardTone(tipring_dsp::progress::ProgressTone::Congestion)
            )
    });
    assert!(congestion, "no congestion heard: {:?}", r.reports);
    assert!(r.switch.call(2).is_none());
}
