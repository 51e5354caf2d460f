//! Call control end to end on the sim board's virtual clock: the example handlers run real
//! calls whose digits travel as in-band DTMF, both ways.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tipring_dsp::cid::CallerId;
use tipring_dsp::progress::plan::US;
use tipring_hal::sim::{self, Destination, Script, SimConfig, SimControl, SimEvent, Step};
use tipring_hal::{ChannelId, Digits, Pacing, Shard};
use tipringd::call::{CallView, Match, Route, Switch};
use tipringd::handler::Registry;
use tipringd::media::{self, MediaShard};

/// Prompts for the examples, made up for the test: speech-like noise bursts of a few
/// hundred ms (nothing a DTMF receiver could take for a digit).
fn prompts() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tipring-prompts-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("digits")).unwrap();
    let mut names: Vec<String> = [
        "hello-world",
        "goodbye",
        "vm-enter-num-to-call",
        "pls-hold-while-try",
        "pbx-invalid",
        "please-try-call-later",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend((0..10).map(|d| format!("digits/{d}")));
    names.extend(["digits/star".into(), "digits/pound".into()]);
    for (i, n) in names.iter().enumerate() {
        let mut sp = tipring_dsp::synth::SpeechLike::new(i as u64 + 1, -20.0);
        let x: Vec<i16> = (0..4000)
            .map(|_| tipring_dsp::osc::sat_i16(sp.next_sample()))
            .collect();
        tipringd::wav::write(&dir.join(format!("{n}.wav")), &x).unwrap();
    }
    dir
}

fn menu_so() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().join("libtipring_example_menu.so")
}

struct Rig {
    engine: MediaShard,
    switch: Switch,
    sim: SimControl,
    heard: Vec<sim::SimReport>,
    ms: u64,
}

impl Rig {
    fn new(phones: u32, trunks: u32, directory: sim::Directory) -> Self {
        let (shards, sim) = sim::build(SimConfig {
            phones,
            trunks,
            directory,
            pacing: Pacing::Virtual,
            ..SimConfig::default()
        })
        .unwrap();
        let shards: Vec<Box<dyn Shard>> = shards.into_iter().map(|s| Box::new(s) as _).collect();
        let (mut engines, link) = media::build(shards, &US);
        let mut reg = Registry::default();
        let params = format!("{{\"prompts\": \"{}\"}}", prompts().display());
        reg.load(Path::new(tipring_example_ivr_c::SO_PATH), "{}")
            .unwrap();
        reg.load(&menu_so(), "{}").unwrap();
        let routes = vec![
            Route {
                matches: Match::Kind("fxo".into()),
                handler: "ivr-c".into(),
                params: params.clone(),
            },
            Route {
                matches: Match::Kind("fxs".into()),
                handler: "menu".into(),
                params,
            },
        ];
        let switch = Switch::new(link, reg, routes, &US, &HashMap::new());
        Rig {
            engine: engines.remove(0),
            switch,
            sim,
            heard: Vec::new(),
            ms: 0,
        }
    }

    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 20 {
            self.engine.tick().unwrap();
            self.ms += 20;
            self.switch.step(self.ms);
            while let Some(r) = self.sim.poll() {
                self.heard.push(r);
            }
        }
    }

    fn call(&self, id: u64) -> CallView {
        self.switch.call(id).expect("the call exists")
    }
}

fn script(steps: &[Step]) -> Script {
    steps.iter().cloned().collect()
}

fn digits(s: &str) -> Digits {
    Digits::parse(ChannelId(0), s).unwrap()
}

/// An inbound call with caller ID reaches the C IVR; the caller keys 1234# in band; the
/// IVR collects it, reads it back, says goodbye and hangs up; the record has it all.
#[test]
fn an_inbound_call_runs_the_c_ivr() {
    let mut r = Rig::new(0, 1, Vec::new());
    let caller = CallerId {
        number: Some("5551234567".try_into().unwrap()),
        name: Some("SIM CALLER".try_into().unwrap()),
        ..CallerId::default()
    };
    r.sim
        .ring_in(
            1,
            Some(&caller),
            6,
            script(&[
                Step::Wait { ms: 1200 },
                Step::Dial {
                    digits: digits("1234#"),
                },
            ]),
        )
        .unwrap();
    r.run(20_000);
    let calls = r.switch.calls();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let c = &calls[0];
    assert_eq!(c.state, "ended", "{c:#?}");
    assert_eq!(c.handler.as_deref(), Some("ivr-c"));
    assert_eq!(c.handler_version.as_deref(), Some("1.0.0"));
    assert_eq!(c.caller.as_deref(), Some("5551234567"));
    assert_eq!(c.caller_name.as_deref(), Some("SIM CALLER"));
    assert_eq!(c.digits, vec!["1234".to_string()]);
    assert_eq!(c.vars.get("digits").map(String::as_str), Some("1234"));
    assert_eq!(c.cause, Some(16));
    assert!(c.answered_ms.is_some());
    // The IVR hung up after reading back 4 digits and saying goodbye.
    let events: Vec<&str> = c.events.iter().map(|e| e.event.as_str()).collect();
    assert!(
        events.iter().any(|e| e.starts_with("the handler hung up")),
        "{events:#?}"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("play ") && e.contains("/digits/"))
            .count(),
        8,
        "{events:#?}"
    );
}

/// A phone lifts the handset: the Rust menu answers, the caller keys 2#, the menu rings
/// phone 2, which answers; the two are bridged: DTMF crosses both ways, and when phone 1
/// hangs up the leg to phone 2 ends too.
#[test]
fn the_rust_menu_bridges_two_phones() {
    let mut r = Rig::new(2, 0, Vec::new());
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
        r.heard
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
    let a = r.call(a.id);
    let b = r.call(b.id);
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
    let mut r = Rig::new(1, 4, dir);
    r.switch.timing_mut().no_answer_ms = 12_000;
    let busy = r.switch.originate(2, Some("5550100"), None, "{}").unwrap();
    let none = r.switch.originate(3, Some("5550300"), None, "{}").unwrap();
    let ans = r.switch.originate(4, Some("5550200"), None, "{}").unwrap();
    let sit = r.switch.originate(5, Some("5559999"), None, "{}").unwrap();
    let phone = r.switch.originate(1, None, None, "{}").unwrap();
    r.run(25_000);
    let o = |id: tipring_hal::CallId| {
        let c = r.call(id.0);
        (c.outcome.unwrap_or("-"), c.cause.unwrap_or(0), c.state)
    };
    assert_eq!(o(busy), ("busy", 17, "ended"));
    assert_eq!(o(none), ("no-answer", 19, "ended"));
    assert_eq!(o(ans), ("answered", 16, "ended"));
    assert_eq!(o(sit), ("sit", 1, "ended"));
    assert_eq!(o(phone), ("no-answer", 19, "ended"));
}
