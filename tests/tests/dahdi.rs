//! DAHDI analog ports end to end against the user-space DAHDI model served through FUSE
//! (`tests/dahdimodel`): the daemon's DAHDI backend makes its real syscalls (open,
//! `DAHDI_SPECIFY`, ioctls, blocking reads paced at 8 kHz, errno 500 and `GETEVENT`), the
//! media engine and call control run as in tipringd, and the test plays the exchange and
//! the phones through the model's control interface.
//!
//! Each test skips, saying why, only when `/dev/fuse` cannot be mounted here.

mod common;

use common::{examples, params};
use std::collections::HashMap;
use tipring_board::Profile;
use tipring_dahdi_model::{Hybrid, Model, ModelError, Port, Spec};
use tipring_dsp::cid::{CallerId, Format, FskConfig, FskModulator, FskStandard, Message};
use tipring_dsp::dtmf::{DtmfGenConfig, DtmfGenerator};
use tipring_dsp::progress::plan::US;
use tipring_hal::{ChannelId, Shard};
use tipringd::call::{Match, Route, Switch};
use tipringd::media::{self, MediaShard};

/// Channels 1-2: FXO ports (exchange lines); 3-4: FXS ports (phones).
const PROFILE: &str = r#"
[board]
name = "test-analog"
description = "two FXO and two FXS ports on the DAHDI model"
hardware = "dahdi"
country = "us"
caller_id = "bell202"

[dahdi]
root = "ROOT"

[[span]]
number = 1
kind = "analog"
channels = 4

[[group]]
name = "lines"
kind = "fxo"
span = 1
channels = "1-2"
signalling = "kewlstart"
echo_tail_ms = 128

[[group]]
name = "phones"
kind = "fxs"
span = 1
channels = "3-4"
signalling = "kewlstart"
echo_tail_ms = 0
"#;

/// The tests run one at a time: each has a FUSE server and a media thread that must keep
/// up with 8 kHz, and this machine has two cores.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Rig {
    _turn: std::sync::MutexGuard<'static, ()>,
    model: Model,
    spans: std::sync::Arc<tipring_hal::dahdi::SpanBoard>,
    engine: MediaShard,
    switch: Switch,
    ms: u64,
}

impl Rig {
    /// Mounts the model and opens its channels through the daemon's DAHDI backend; `None`
    /// (the test skips) when FUSE is not available here.
    fn new(name: &str, routes: Vec<Route>) -> Option<Rig> {
        let spec = Spec::analog(&[Port::Fxo, Port::Fxo, Port::Fxs, Port::Fxs]);
        Rig::with(name, spec, PROFILE, routes)
    }

    /// As [`Rig::new`], for another card and profile (`ROOT` in it is the mount).
    fn with(name: &str, spec: Spec, profile: &str, routes: Vec<Route>) -> Option<Rig> {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let root =
            std::env::temp_dir().join(format!("tipring-dahdi-{name}-{}", std::process::id()));
        let model = match Model::mount(&root, spec) {
            Ok(m) => m,
            Err(ModelError::Unavailable(why)) => {
                eprintln!("SKIPPED: the DAHDI model cannot be mounted here: {why}");
                return None;
            }
            Err(e) => panic!("mounting the DAHDI model at {}: {e}", root.display()),
        };
        let text = profile.replace("ROOT", &root.display().to_string());
        let profile = Profile::parse("test-analog.toml", &text).expect("the test profile");
        let cfg = tipringd::app::dahdi_config(&profile, 20);
        let shard = tipring_hal::dahdi::build(&cfg).expect("opening the model's channels");
        let want: Vec<u32> = profile_channels(&profile);
        assert_eq!(
            shard.channels().iter().map(|c| c.id.0).collect::<Vec<_>>(),
            want
        );
        let spans = shard.spans();
        let shards: Vec<Box<dyn Shard>> = vec![Box::new(shard)];
        let (mut engines, link) = media::build(shards, &US);
        let mut groups: HashMap<u32, Vec<String>> = HashMap::new();
        for g in &profile.groups {
            for c in &g.channels {
                groups.entry(*c).or_default().push(g.name.clone());
            }
        }
        Some(Rig {
            _turn: turn,
            model,
            spans,
            engine: engines.remove(0),
            switch: Switch::new(link, examples(), routes, &US, &groups),
            ms: 0,
        })
    }

    /// Runs the engine on the model's clock (20 ms blocks) for `ms` of its time.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms / 20 {
            self.engine.tick().expect("engine tick");
            self.ms += 20;
            self.switch.step(self.ms);
            for e in self.switch.drain_stream() {
                eprintln!("{:>6} ms  channel {}: {}", e.at_ms, e.channel, e.event);
            }
        }
    }

    /// Runs until `cond` holds, for at most `ms`; whether it came.
    fn run_until(&mut self, ms: u64, mut cond: impl FnMut(&mut Rig) -> bool) -> bool {
        for _ in 0..ms / 20 {
            if cond(self) {
                return true;
            }
            self.run(20);
        }
        cond(self)
    }
}

/// A profile with one T1 span (`ROOT` the mount) and one group of its channels, `trunks`.
fn t1_profile(framing: &str, coding: &str, span_extra: &str, channels: &str, sig: &str) -> String {
    format!(
        r#"
[board]
name = "test-t1"
description = "one T1 span on the DAHDI model"
hardware = "dahdi"
country = "us"
caller_id = "none"

[dahdi]
root = "ROOT"

[[span]]
number = 1
kind = "t1"
framing = "{framing}"
coding = "{coding}"
timing = 1
{span_extra}

[[group]]
name = "trunks"
kind = "t1"
span = 1
channels = "{channels}"
signalling = "{sig}"
"#
    )
}

fn profile_channels(p: &Profile) -> Vec<u32> {
    p.groups
        .iter()
        .flat_map(|g| g.channels.iter().copied())
        .collect()
}

fn dtmf(digits: &str) -> Vec<i16> {
    let mut g = DtmfGenerator::new(DtmfGenConfig::default()).unwrap();
    g.queue_digits(digits).unwrap();
    let mut out = vec![0i16; 8000 * 2];
    let n = g.generate(&mut out);
    out.truncate(n);
    out
}

fn route(m: Match, number: Option<&str>, handler: &str) -> Route {
    Route {
        matches: m,
        number: number.map(Into::into),
        handler: handler.into(),
        params: params(),
    }
}

/// An exchange call on an FXO port: ring, Bell 202 caller ID between the first and second
/// ring, ring again; the C IVR answers (the port goes off hook) and collects the digits the
/// caller keys; the exchange hangs up (battery drop) and the call record has it all.
#[test]
fn an_fxo_call_with_caller_id_is_answered_and_collects_digits() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new(
            "fxo",
            vec![route(Match::Group("lines".into()), None, "ivr-c")],
        ) else {
            return;
        };
        let line = r.model.channel(1).unwrap();
        line.ring_begin().unwrap();
        r.run(2_000);
        line.ring_end().unwrap();
        r.run(500);
        // Caller ID in the first silent interval.
        let caller = CallerId {
            number: Some("2125551212".try_into().unwrap()),
            name: Some("TIPRING TEST".try_into().unwrap()),
            ..CallerId::default()
        };
        let mut fsk = FskModulator::new(FskConfig::on_hook(FskStandard::Bell202));
        fsk.load_message(&Message::CallerId(caller), Format::Mdmf)
            .unwrap();
        let mut burst = vec![0i16; 8000];
        let n = fsk.generate(&mut burst);
        burst.truncate(n);
        line.speak(&burst);
        r.run(3_000);
        line.ring_begin().unwrap();
        let answered = r.run_until(3_000, |_| line.line_seized());
        assert!(
            answered,
            "the IVR did not answer; channel log: {:?}",
            r.model.ioctl_log(1)
        );
        line.ring_end().unwrap();
        let c = r.switch.call(1).expect("the call");
        assert_eq!(c.caller.as_deref(), Some("2125551212"));
        assert_eq!(c.caller_name.as_deref(), Some("TIPRING TEST"));
        assert_eq!(c.handler.as_deref(), Some("ivr-c"));
        // The caller keys 908# after the prompt has started.
        r.run(1_000);
        line.speak(&dtmf("908#"));
        let collected = r.run_until(6_000, |r| {
            r.switch
                .call(1)
                .is_some_and(|c| c.digits.iter().any(|d| d == "908"))
        });
        let c = r.switch.call(1).unwrap();
        assert!(collected, "digits: {:?}; events {:?}", c.digits, c.events);
        line.battery_drop().unwrap();
        let ended = r.run_until(3_000, |r| {
            r.switch.call(1).is_some_and(|c| c.state == "ended")
        });
        assert!(ended, "{:?}", r.switch.call(1).unwrap().events);
        r.run(200);
        assert!(
            !line.line_seized(),
            "the port stayed off hook after the far end cleared"
        );
        let log = r.model.ioctl_log(1);
        for want in [
            "SPECIFY",
            "GET_PARAMS",
            "SET_BLOCKSIZE",
            "SETLINEAR",
            "GETEVENT",
            "HOOK",
        ] {
            assert!(log.iter().any(|l| l.contains(want)), "no {want} in {log:?}");
        }
    })
}

/// A phone on an FXS port goes off hook, hears dial tone (from the daemon, through the
/// port), dials 201 and is routed to the menu by the number; a hook flash reaches the
/// handler; hanging up ends the call.
#[test]
fn an_fxs_phone_dials_is_routed_and_flashes() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new(
            "fxs",
            vec![
                route(Match::Group("phones".into()), Some("2XX"), "menu"),
                route(Match::Group("lines".into()), None, "ivr-c"),
            ],
        ) else {
            return;
        };
        let phone = r.model.channel(3).unwrap();
        phone.take_heard();
        phone.phone_off_hook().unwrap();
        r.run(2_000);
        // Dial tone: 350 + 440 Hz, continuous; the engine's progress detector knows it.
        let heard = phone.take_heard();
        let mut det = tipring_dsp::progress::ProgressDetector::new(
            tipring_dsp::progress::ProgressConfig::new(&US),
        );
        let mut rest = &heard[..];
        while !rest.is_empty() {
            let n = det.process(rest);
            rest = &rest[n..];
            if n == 0 {
                break;
            }
        }
        let mut tones = Vec::new();
        while let Some(e) = det.poll_event() {
            tones.push(e.tone);
        }
        assert!(
            tones.contains(&tipring_dsp::progress::ProgressTone::Dial),
            "no dial tone in {} samples heard (tones: {tones:?})",
            heard.len()
        );
        phone.speak(&dtmf("201"));
        let routed = r.run_until(4_000, |r| r.switch.call(1).is_some());
        assert!(routed, "the dialled number was not routed");
        let c = r.switch.call(1).unwrap();
        assert_eq!(
            (c.called.as_deref(), c.handler.as_deref()),
            (Some("201"), Some("menu"))
        );
        let up = r.run_until(2_000, |r| r.switch.call(1).is_some_and(|c| c.state == "up"));
        assert!(up);
        phone.phone_flash().unwrap();
        let flashed = r.run_until(3_000, |r| {
            r.switch
                .call(1)
                .is_some_and(|c| c.vars.get("flashes").map(String::as_str) == Some("1"))
        });
        assert!(flashed, "{:?}", r.switch.call(1).unwrap().events);
        assert_eq!(
            r.switch.call(1).unwrap().state,
            "up",
            "a flash is not a hang-up"
        );
        phone.phone_on_hook().unwrap();
        let ended = r.run_until(3_000, |r| {
            r.switch.call(1).is_some_and(|c| c.state == "ended")
        });
        assert!(ended, "{:?}", r.switch.call(1).unwrap().events);
    })
}

/// ETSI caller ID before the first ring on an FXO line: the exchange reverses the
/// polarity, sends DT-AS and V.23 FSK, restores the polarity and rings; the call is offered
/// at the first ring with the caller's number.
#[test]
fn an_fxo_call_with_etsi_caller_id_before_the_ring() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new("etsi", vec![route(Match::Any, None, "ivr-c")]) else {
            return;
        };
        let line = r.model.channel(2).unwrap();
        let mut burst = tipring_hal::dahdi::cid::CidSender::new();
        let caller = tipring_hal::Caller {
            number: Some(tipring_hal::Digits::parse(ChannelId(2), "441632960123").unwrap()),
            withheld: false,
        };
        let ms = burst.start(tipring_hal::dahdi::CidStyle::EtsiLineReversal, &caller);
        let mut audio = vec![0i16; (ms as usize + 20) * 8];
        burst.generate(&mut audio);
        line.polarity().unwrap();
        r.run(100);
        line.speak(&audio);
        r.run(u64::from(ms) + 200);
        line.polarity().unwrap();
        r.run(100);
        assert!(r.switch.call(1).is_none(), "offered before the ring");
        line.ring_begin().unwrap();
        let offered = r.run_until(1_000, |r| r.switch.call(1).is_some());
        assert!(offered, "not offered at the first ring");
        assert_eq!(
            r.switch.call(1).unwrap().caller.as_deref(),
            Some("441632960123")
        );
        let answered = r.run_until(2_000, |_| line.line_seized());
        assert!(answered);
        line.ring_end().unwrap();
        line.battery_drop().unwrap();
        let ended = r.run_until(2_000, |r| {
            r.switch.call(1).is_some_and(|c| c.state == "ended")
        });
        assert!(ended);
    })
}

/// A call out on an FXO port: the port seizes the line, waits for dial tone (the exchange
/// gives it), dials by `DAHDI_DIAL` (the exchange hears the DTMF, decoded), and the far
/// end's answer reverses the polarity; the exchange's busy tone after the far end hung up
/// ends the call.
#[test]
fn an_fxo_call_out_dials_and_is_answered_by_polarity_reversal() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new("out", vec![route(Match::Any, None, "ivr-c")]) else {
            return;
        };
        let line = r.model.channel(1).unwrap();
        let id = r
            .switch
            .originate(1, Some("5551234"), Some("ivr-c"), &params())
            .expect("originate on the FXO port");
        let seized = r.run_until(1_000, |_| line.line_seized());
        assert!(seized, "{:?}", r.model.ioctl_log(1));
        // Dial tone from the exchange.
        let mut tone = tipring_dsp::progress::ToneGenerator::new(US.dial);
        let mut dial_tone = vec![0i16; 20_000];
        tone.generate(&mut dial_tone);
        line.speak(&dial_tone);
        let dialled = r.run_until(6_000, |_| line.dialled() == "5551234" && !line.dialing());
        assert!(
            dialled,
            "dialled {:?}; {:?}",
            line.dialled(),
            r.switch.call(id.0).unwrap().events
        );
        // What the exchange heard holds the digits as DTMF.
        let heard = line.take_heard();
        let mut rx =
            tipring_dsp::dtmf::DtmfRx::new(tipring_dsp::dtmf::DtmfRxConfig::default()).unwrap();
        let mut rest = &heard[..];
        let mut digits = String::new();
        while !rest.is_empty() {
            let n = rx.process(rest);
            rest = &rest[n..];
            while let Some(e) = rx.poll_event() {
                if let tipring_dsp::dtmf::DtmfEvent::Begin { digit, .. } = e {
                    digits.push(digit);
                }
            }
            if n == 0 {
                break;
            }
        }
        assert_eq!(digits, "5551234");
        let events = r.switch.call(id.0).unwrap().events;
        assert!(
            events
                .iter()
                .any(|e| e.event.contains("dial tone") && e.event.starts_with("heard")),
            "the dial tone was not heard: {events:?}"
        );
        r.run(500);
        line.polarity().unwrap();
        let up = r.run_until(2_000, |r| {
            r.switch.call(id.0).is_some_and(|c| c.state == "up")
        });
        assert!(up, "{:?}", r.switch.call(id.0).unwrap().events);
        // The far end hangs up and the exchange gives busy tone, with no loop-current drop
        // (a loop-start line): the tone is the disconnect signal.
        let mut tone = tipring_dsp::progress::ToneGenerator::new(US.busy);
        let mut busy = vec![0i16; 4 * 8000];
        tone.generate(&mut busy);
        line.speak(&busy);
        let ended = r.run_until(5_000, |r| {
            r.switch.call(id.0).is_some_and(|c| c.state == "ended")
        });
        let c = r.switch.call(id.0).unwrap();
        assert!(ended, "{:?}", c.events);
        assert!(
            c.events
                .iter()
                .any(|e| e.event.contains("tone says the far end hung up")),
            "{:?}",
            c.events
        );
        r.run(200);
        assert!(
            !line.line_seized(),
            "the port stayed off hook after the busy tone"
        );
    })
}

/// A call to a phone on an FXS port tells it who calls: the Bell 202 caller ID (the test
/// profile's standard) is written during on-hook transfer in the first silence between
/// rings, and the phone decodes the number from what it heard; then it answers.
#[test]
fn an_fxs_phone_is_told_who_calls() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new("cid", vec![route(Match::Any, None, "ivr-c")]) else {
            return;
        };
        let phone = r.model.channel(4).unwrap();
        let id = r
            .switch
            .originate_as(4, None, Some("ivr-c"), &params(), Some("2125551212"), false)
            .expect("originate to the phone");
        let rang = r.run_until(1_000, |_| phone.ringing());
        assert!(rang, "{:?}", r.model.ioctl_log(4));
        assert_eq!(phone.cadence(), [2000, 4000], "the US plan's ring cadence");
        // Through the first ring and well into the silence after it.
        let heard_cid = r.run_until(5_000, |_| {
            !phone.heard().is_empty() && !phone.onhook_transfer_active()
        });
        let heard = phone.take_heard();
        assert!(
            heard_cid,
            "no on-hook transfer heard: {:?}",
            r.model.ioctl_log(4)
        );
        let mut rx = tipring_dsp::cid::CidReceiver::new(tipring_dsp::cid::CidRxConfig::new(
            FskStandard::Bell202,
        ));
        let mut number = None;
        let mut rest = &heard[..];
        while !rest.is_empty() && number.is_none() {
            let n = rx.process(rest);
            rest = &rest[n..];
            while let Some(e) = rx.poll_event() {
                if let tipring_dsp::cid::CidEvent::Message {
                    message: Message::CallerId(cid),
                    ..
                } = e
                {
                    number = cid.number.map(|n| n.to_string());
                }
            }
            if n == 0 {
                break;
            }
        }
        assert_eq!(
            number.as_deref(),
            Some("2125551212"),
            "{} samples heard",
            heard.len()
        );
        assert!(
            r.model
                .ioctl_log(4)
                .iter()
                .any(|l| l.contains("ONHOOKTRANSFER"))
        );
        phone.phone_off_hook().unwrap();
        let up = r.run_until(2_000, |r| {
            r.switch.call(id.0).is_some_and(|c| c.state == "up")
        });
        assert!(up, "{:?}", r.switch.call(id.0).unwrap().events);
    })
}

/// A span alarm takes its channels out of service (a call on them ends with cause 38,
/// calls can't be placed) and back when it clears.
#[test]
fn a_span_alarm_takes_channels_out_of_service_and_back() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new("alarm", vec![route(Match::Any, None, "ivr-c")]) else {
            return;
        };
        let phone = r.model.channel(4).unwrap();
        // A call up on the FXS port: the phone rings and answers.
        let id = r
            .switch
            .originate(4, None, Some("ivr-c"), &params())
            .expect("originate to the phone");
        let ringing = r.run_until(2_000, |_| phone.ringing());
        assert!(ringing, "the port was not rung: {:?}", r.model.ioctl_log(4));
        phone.phone_off_hook().unwrap();
        let up = r.run_until(2_000, |r| {
            r.switch.call(id.0).is_some_and(|c| c.state == "up")
        });
        assert!(up);
        r.model
            .span_alarm(1, tipring_hal::dahdi::sys::ALARM_RED)
            .unwrap();
        let ended = r.run_until(2_000, |r| {
            r.switch.call(id.0).is_some_and(|c| c.state == "ended")
        });
        assert!(ended);
        assert_eq!(r.switch.call(id.0).unwrap().cause, Some(38));
        let states = |r: &Rig| {
            r.switch
                .channels()
                .iter()
                .map(|c| c.state)
                .collect::<Vec<_>>()
        };
        assert_eq!(states(&r), ["alarm"; 4]);
        let e = r
            .switch
            .originate(3, None, Some("ivr-c"), &params())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "channel 3: out of service (red alarm on its span)"
        );
        r.model.span_alarm(1, 0).unwrap();
        let back = r.run_until(2_000, |r| states(r).iter().all(|s| *s != "alarm"));
        assert!(back, "{:?}", states(&r));
        phone.phone_on_hook().unwrap();
        r.run(1_200);
        r.switch
            .originate(3, None, Some("ivr-c"), &params())
            .expect("in service again");
    })
}

/// Echo on a simulated 2-wire hybrid (ERL 6 dB, 4 ms bulk delay plus dispersion) behind
/// an FXO port is cancelled by the engine's canceller while the IVR plays to the line and
/// the far end is silent: ERLE measured on what came back.
#[test]
fn echo_on_a_hybrid_is_cancelled() {
    common::steal::retry_if_stolen(|| {
        // Fourteen seconds of speech-like greeting: the IVR talks to the line while the far end is
        // silent, so what comes back is the echo alone.
        let prompts =
            std::env::temp_dir().join(format!("tipring-dahdi-echo-prompts-{}", std::process::id()));
        std::fs::create_dir_all(&prompts).unwrap();
        let mut sp = tipring_dsp::synth::SpeechLike::new(7, -16.0);
        let greeting: Vec<i16> = (0..14 * 8000)
            .map(|_| tipring_dsp::osc::sat_i16(sp.next_sample()))
            .collect();
        tipringd::wav::write(&prompts.join("hello-world.wav"), &greeting).unwrap();
        let mut ivr = route(Match::Any, None, "ivr-c");
        ivr.params = serde_json::json!({ "prompts": prompts }).to_string();
        let Some(mut r) = Rig::new("echo", vec![ivr]) else {
            return;
        };
        let line = r.model.channel(2).unwrap();
        line.set_hybrid(Some(
            Hybrid::new(32, 6.0).with_taps(&[0.1, 0.5, -0.3, 0.2, -0.1, 0.05]),
        ));
        line.ring_begin().unwrap();
        r.run(600);
        line.ring_end().unwrap();
        r.run(200);
        line.ring_begin().unwrap();
        let answered = r.run_until(5_000, |_| line.line_seized());
        assert!(answered);
        line.ring_end().unwrap();
        // The greeting plays for fourteen seconds; the canceller converges on it. ERLE is measured
        // per second. A play-out underrun (the media thread late by more than the two blocks
        // buffered, which a loaded test machine does now and then) moves the echo path by up
        // to a block, and the canceller has to converge again: seconds with an underrun, or
        // right after one, say nothing about the canceller and are not judged.
        r.run(1_000);
        let mut judged = Vec::new();
        let mut last_dry = line.underruns();
        let mut dry_before = true;
        for _ in 0..8 {
            if judged.len() == 3 {
                break;
            }
            let (_, in0, out0) = r
                .engine
                .echo(ChannelId(2))
                .expect("a canceller on channel 2");
            r.run(1_000);
            let (stats, in1, out1) = r.engine.echo(ChannelId(2)).unwrap();
            let erle = 10.0 * ((in1 - in0) / (out1 - out0).max(1.0)).log10();
            let dry = line.underruns() != last_dry;
            last_dry = line.underruns();
            eprintln!(
                "ERLE {erle:.1} dB over a second (echo energy {:.2e}; underrun: {dry}; {stats:?})",
                in1 - in0
            );
            assert!(in1 - in0 > 1e6, "no echo came back: {}", in1 - in0);
            if !dry && !dry_before {
                judged.push(erle);
            }
            dry_before = dry;
        }
        assert!(
            !judged.is_empty(),
            "the media thread was late every second (play-out underruns): nothing to judge"
        );
        for erle in &judged {
            assert!(
                *erle >= 25.0,
                "ERLE {erle:.1} dB in a second without underruns: {judged:?}"
            );
        }
    })
}

/// A T1 PRI span: its 23 B-channels are channels, its D-channel (24) is opened and kept
/// drained; `spans()` (the API's `GET /v1/spans`) shows the frames it carries and its
/// layer 1 going down with a red alarm (the B-channels out of service) and back.
#[test]
fn a_pri_span_reports_its_d_channel_and_alarms() {
    let profile = t1_profile("esf", "b8zs", "dchannel = 24", "1-23", "clear");
    let spec = Spec::new().span(tipring_dahdi_model::SpanSpec::t1(
        tipring_dahdi_model::DigitalSig::Pri,
    ));
    let Some(mut r) = Rig::with(
        "pri",
        spec,
        &profile,
        vec![route(Match::Any, None, "ivr-c")],
    ) else {
        return;
    };
    r.run(200);
    let span = |r: &Rig| {
        let c = r.spans.span(1).expect("span 1");
        (c.alarms(), c.layer1_up(), c.frames_in())
    };
    assert_eq!(span(&r), (vec![], true, 0));
    let d = r.model.channel(24).unwrap();
    for f in [
        &[0x02u8, 0x01, 0x7f][..],
        &[0x00, 0x01, 0x01, 0x01],
        &[0x02, 0x01, 0x03],
    ] {
        d.dchan_send(f).unwrap();
    }
    let counted = r.run_until(1_000, |r| span(r).2 == 3);
    assert!(counted, "{:?}", span(&r));
    r.model
        .span_alarm(1, tipring_hal::dahdi::sys::ALARM_RED)
        .unwrap();
    let down = r.run_until(1_000, |r| !span(r).1);
    assert!(down, "{:?}", span(&r));
    assert_eq!(span(&r).0, ["red"]);
    let states = |r: &Rig| {
        r.switch
            .channels()
            .iter()
            .map(|c| c.state)
            .collect::<Vec<_>>()
    };
    let out = r.run_until(1_000, |r| states(r).iter().all(|s| *s == "alarm"));
    assert!(out, "{:?}", states(&r));
    r.model.span_alarm(1, 0).unwrap();
    let up = r.run_until(1_000, |r| {
        span(r).1 && states(r).iter().all(|s| *s == "idle")
    });
    assert!(up, "{:?} {:?}", span(&r), states(&r));
    assert!(span(&r).0.is_empty());
}

/// T1 trunks with E&M wink start (robbed bits): the far end seizes (A bit), Tipring winks,
/// the far end sends the number in DTMF, the route for it takes the call and answers (off
/// hook), the far end clears; and out: Tipring seizes, dials when the far end winks, the far
/// end's off hook answers, Tipring clears.
#[test]
fn e_and_m_wink_start_trunks_both_ways() {
    common::steal::retry_if_stolen(|| {
        let profile = t1_profile("d4", "ami", "", "1-24", "em-wink");
        let spec = Spec::new().span(tipring_dahdi_model::SpanSpec::t1(
            tipring_dahdi_model::DigitalSig::Em,
        ));
        let routes = vec![route(Match::Group("trunks".into()), Some("4XXX"), "ivr-c")];
        let Some(mut r) = Rig::with("em", spec, &profile, routes) else {
            return;
        };
        // In.
        let t = r.model.channel(1).unwrap();
        t.set_rx_bits(0b1000).unwrap();
        let winked = r.run_until(1_000, |_| t.flashes() == 1);
        assert!(winked, "no wink: {:?}", r.model.ioctl_log(1));
        r.run(300);
        t.speak(&dtmf("4001"));
        let answered = r.run_until(4_000, |_| t.off_hook());
        assert!(answered, "not answered: {:?}", r.switch.calls());
        let c = r.switch.call(1).expect("the call in");
        assert_eq!(
            (c.called.as_deref(), c.handler.as_deref()),
            (Some("4001"), Some("ivr-c"))
        );
        t.set_rx_bits(0).unwrap();
        let ended = r.run_until(2_000, |r| {
            r.switch.call(1).is_some_and(|c| c.state == "ended")
        });
        assert!(ended, "{:?}", r.switch.call(1).unwrap().events);
        r.run(100);
        assert!(!t.off_hook(), "still off hook after the far end cleared");

        // Out.
        let t = r.model.channel(2).unwrap();
        let id = r
            .switch
            .originate(2, Some("5551234"), Some("ivr-c"), &params())
            .expect("originate on the trunk");
        let seized = r.run_until(1_000, |_| t.off_hook());
        assert!(seized, "{:?}", r.model.ioctl_log(2));
        r.run(200);
        assert_eq!(t.dialled(), "", "dialled before the wink");
        t.raise_event(tipring_hal::dahdi::sys::EVENT_WINKFLASH);
        let dialled = r.run_until(3_000, |_| t.dialled() == "5551234" && !t.dialing());
        assert!(dialled, "{:?}", r.switch.call(id.0).unwrap().events);
        t.set_rx_bits(0b1000).unwrap();
        let up = r.run_until(2_000, |r| {
            r.switch.call(id.0).is_some_and(|c| c.state == "up")
        });
        assert!(up, "{:?}", r.switch.call(id.0).unwrap().events);
        r.switch.hangup(id.0).unwrap();
        let on_hook = r.run_until(1_000, |_| !t.off_hook());
        assert!(on_hook, "{:?}", r.model.ioctl_log(2));
    })
}

/// A T1 of robbed-bit FXO loop-start channels (a channel bank's FXS ports at the far end)
/// works as FXO lines: the exchange side rings channel 5, the IVR answers (off hook) and
/// the channel is released when the call ends; a T1 of FXS loop-start channels rings its
/// far-end phone.
#[test]
fn loop_start_emulation_on_t1_channels() {
    common::steal::retry_if_stolen(|| {
        let profile = t1_profile("esf", "b8zs", "", "1-24", "fxo-loopstart");
        let spec = Spec::new().span(tipring_dahdi_model::SpanSpec::t1(
            tipring_dahdi_model::DigitalSig::FxoLoopStart,
        ));
        let Some(mut r) = Rig::with(
            "t1fxo",
            spec,
            &profile,
            vec![route(Match::Any, None, "ivr-c")],
        ) else {
            return;
        };
        assert_eq!(r.switch.channels()[4].kind, "fxo");
        let line = r.model.channel(5).unwrap();
        line.ring_begin().unwrap();
        r.run(600);
        line.ring_end().unwrap();
        r.run(400);
        line.ring_begin().unwrap();
        let answered = r.run_until(2_000, |_| line.line_seized());
        assert!(answered, "{:?}", r.switch.calls());
        line.ring_end().unwrap();
        // Loop start gives no disconnect signal (a battery drop says nothing here): Tipring
        // clears, and the channel goes back on hook.
        let id = r.switch.calls()[0].id;
        r.switch.hangup(id).unwrap();
        let released = r.run_until(1_000, |_| !line.line_seized());
        assert!(released, "{:?}", r.model.ioctl_log(5));
        drop(r);

        let profile = t1_profile("esf", "b8zs", "", "1-24", "fxs-loopstart");
        let spec = Spec::new().span(tipring_dahdi_model::SpanSpec::t1(
            tipring_dahdi_model::DigitalSig::FxsLoopStart,
        ));
        let Some(mut r) = Rig::with(
            "t1fxs",
            spec,
            &profile,
            vec![route(Match::Any, None, "ivr-c")],
        ) else {
            return;
        };
        let phone = r.model.channel(3).unwrap();
        r.switch
            .originate(3, None, Some("ivr-c"), &params())
            .expect("ring the far-end phone");
        let rang = r.run_until(1_000, |_| phone.ringing());
        assert!(rang, "{:?}", r.model.ioctl_log(3));
    })
}

/// A group that asks for the card's hardware echo canceller gets it enabled through
/// `DAHDI_ECHOCANCEL_PARAMS` with its tail, and Tipring's own stays off on those channels;
/// the other group keeps Tipring's.
#[test]
fn a_hardware_echo_canceller_is_enabled_instead_of_tipring_s() {
    let profile = PROFILE.replace(
        "channels = \"3-4\"\nsignalling = \"kewlstart\"\necho_tail_ms = 0",
        "channels = \"3-4\"\nsignalling = \"kewlstart\"\necho_tail_ms = 64\necho_canceller = \"hardware\"",
    );
    assert_ne!(
        profile, PROFILE,
        "the test profile changed: update the replacement"
    );
    let spec = Spec::analog(&[Port::Fxo, Port::Fxo, Port::Fxs, Port::Fxs]);
    let Some(r) = Rig::with(
        "hwec",
        spec,
        &profile,
        vec![route(Match::Any, None, "ivr-c")],
    ) else {
        return;
    };
    assert_eq!(r.model.channel(3).unwrap().echo_canceller_taps(), 512);
    assert!(r.engine.echo(ChannelId(3)).is_none());
    assert_eq!(r.model.channel(1).unwrap().echo_canceller_taps(), 0);
    assert!(r.engine.echo(ChannelId(1)).is_some());
}

/// Channels opened through their per-channel nodes (`chan/001/00N`, already bound: no
/// `DAHDI_SPECIFY`) work as through the generic node; a missing node names itself.
#[test]
fn per_channel_nodes_open_without_specify() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = std::env::temp_dir().join(format!("tipring-dahdi-nodes-{}", std::process::id()));
    let spec = Spec::analog(&[Port::Fxo, Port::Fxo, Port::Fxs, Port::Fxs]);
    let model = match Model::mount(&root, spec) {
        Ok(m) => m,
        Err(ModelError::Unavailable(why)) => {
            eprintln!("SKIPPED: the DAHDI model cannot be mounted here: {why}");
            return;
        }
        Err(e) => panic!("mounting the DAHDI model: {e}"),
    };
    let text = PROFILE.replace("ROOT", &root.display().to_string());
    let profile = Profile::parse("t.toml", &text).unwrap();
    let mut cfg = tipringd::app::dahdi_config(&profile, 20);
    cfg.nodes = tipring_hal::dahdi::NodeStyle::PerChannel;
    let mut shard = tipring_hal::dahdi::build(&cfg).expect("per-channel nodes");
    // The location is the node's path when it fits the channel model's 48 bytes.
    let node = format!("{}/chan/001/003", root.display());
    let loc = shard.channels()[2].location.as_str();
    assert!(loc == node || loc == "DAHDI channel 3 (span 1)", "{loc}");
    for _ in 0..5 {
        shard.wait_tick().unwrap();
    }
    let mut block = [0u8; 320];
    assert_eq!(shard.read(0, &mut block).unwrap(), 320);
    let log = model.ioctl_log(1);
    assert!(!log.iter().any(|l| l.contains("SPECIFY")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("SET_BLOCKSIZE")), "{log:?}");
    drop(shard);
    cfg.channels[0].chanpos = 9;
    let e = tipring_hal::dahdi::build(&cfg).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "DAHDI channel 1: cannot open {}/chan/001/009: ",
            root.display()
        )),
        "{e}"
    );
}

/// The shard ticks on the card's clock: one tick per block (20 ms), not slower (missed
/// readiness) nor faster.
#[test]
fn the_shard_ticks_on_the_cards_clock() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new("clock", vec![route(Match::Any, None, "ivr-c")]) else {
            return;
        };
        let (t0, w0, s0) = (
            r.model.now_ms(),
            std::time::Instant::now(),
            r.model.stalled_ms(),
        );
        r.run(2_000);
        let model_ms = r.model.now_ms() - t0;
        let stalled = r.model.stalled_ms() - s0;
        eprintln!(
            "100 ticks: {model_ms} ms of the model's clock, {:?} of wall time, the machine \
             stalled {stalled} ms",
            w0.elapsed()
        );
        assert!(
            (1_900..=2_300).contains(&model_ms),
            "100 ticks took {model_ms} ms of model time (the machine stalled {stalled} ms)"
        );
    })
}

/// A card that stops delivering blocks (the model's clock held) still gets a tick every
/// three periods, so signalling runs, but no audio: what the daemon sends stays in step
/// with the card's clock instead of filling a stalled card's buffers with blocks that
/// would play late, and nothing is sent twice when the card comes back.
#[test]
fn a_stalled_card_ticks_for_signalling_but_is_sent_no_audio() {
    common::steal::retry_if_stolen(|| {
        let Some(mut r) = Rig::new("stall", vec![route(Match::Any, None, "ivr-c")]) else {
            return;
        };
        // An FXS phone off hook hears dial tone: the daemon writes every block.
        let phone = r.model.channel(3).unwrap();
        phone.phone_off_hook().unwrap();
        r.run(1_000);
        assert!(
            phone.blocks().1 >= 40,
            "dial tone written: {:?}",
            phone.blocks()
        );

        r.model.hold_clock(true);
        // Blocks the card had delivered before it stalled (buffered while the media thread
        // was behind) are still read, and answered, first.
        let mut before = phone.blocks();
        for _ in 0..8 {
            r.run(20);
            let now = phone.blocks();
            if now == before {
                break;
            }
            before = now;
        }
        let (read0, written0) = phone.blocks();
        let refused0 = phone.writes_refused();
        let w0 = std::time::Instant::now();
        r.run(100); // 5 ticks, each on the stall timeout (3 periods)
        let took = w0.elapsed();
        let held = (phone.blocks(), phone.writes_refused());
        r.model.hold_clock(false);
        assert!(
            took >= std::time::Duration::from_millis(250),
            "5 ticks without blocks took {took:?}"
        );
        // Not a block read, and not a write tried (whether the buffers had room or not).
        assert_eq!(
            held,
            ((read0, written0), refused0),
            "((read, written), refused) while the card stalled"
        );

        // Audio again once the card is back: a block written for each block read.
        r.run(1_000);
        let (read1, written1) = phone.blocks();
        let (reads, writes) = (read1 - read0, written1 - written0);
        assert!(reads >= 40, "{reads} blocks read in 50 ticks");
        assert!(
            writes.abs_diff(reads) <= 2,
            "{writes} blocks written for {reads} read after the stall"
        );
        assert!(phone.phone_is_off_hook());
    })
}

/// tipringd itself on the model: `board.profile` names a profile file whose DAHDI root is
/// the model's mount; the API lists the DAHDI channels, a phone that goes off hook is
/// offered to the menu and shows in the API, and a bad profile is refused at start with
/// its file, line and column.
#[test]
fn tipringd_runs_a_dahdi_profile() {
    let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let root = std::env::temp_dir().join(format!("tipring-dahdi-daemon-{}", std::process::id()));
    let spec = Spec::analog(&[Port::Fxo, Port::Fxo, Port::Fxs, Port::Fxs]);
    let model = match Model::mount(&root, spec) {
        Ok(m) => m,
        Err(ModelError::Unavailable(why)) => {
            eprintln!("SKIPPED: the DAHDI model cannot be mounted here: {why}");
            return;
        }
        Err(e) => panic!("mounting the DAHDI model: {e}"),
    };
    let dir = std::env::temp_dir().join(format!("tipring-dahdi-daemon-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("box.toml"),
        PROFILE.replace("ROOT", &root.display().to_string()),
    )
    .unwrap();
    let prompts = common::prompts();
    let toml = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\n\n\
         [board]\nprofile = \"{}\"\n\n\
         [[route]]\ngroup = \"phones\"\nhandler = \"menu\"\nparams = {{ prompts = \"{}\" }}\n",
        dir.join("box.toml").display(),
        prompts.display()
    );
    let mut d = common::proc::Daemon::start(&toml, &[]);
    let (code, body) = common::proc::http(&d.api, "GET", "/v1/channels", "");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let list = v.as_array().expect("a list of channels");
    assert_eq!(list.len(), 4, "{body}");
    assert!(list.iter().all(|c| c["backend"] == "dahdi"), "{body}");
    let (code, body) = common::proc::http(&d.api, "GET", "/v1/spans", "");
    assert_eq!(code, 200, "{body}");
    let spans: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        spans,
        serde_json::json!([{ "span": 1, "alarms": [], "dchannel": null }]),
        "{body}"
    );
    let phone = model.channel(3).unwrap();
    phone.phone_off_hook().unwrap();
    let offered = tipring_dahdi_model::wait_until(std::time::Duration::from_secs(5), || {
        let (_, body) = common::proc::http(&d.api, "GET", "/v1/channels", "");
        body.contains("in-call")
    });
    assert!(offered, "the phone's call did not show in the API");
    phone.phone_on_hook().unwrap();
    d.terminate();
    let code = d.wait(10);
    let said: Vec<String> = d.log.try_iter().collect();
    assert_eq!(code, Some(0), "tipringd said:\n{}", said.join("\n"));
    drop(model);
    drop(turn);

    // A profile with a mistake: refused with where it is.
    std::fs::write(
        dir.join("bad.toml"),
        "[board]\nname = \"bad\"\nhardware = \"dahdi\"\ncountry = \"xx\"\n",
    )
    .unwrap();
    let cfg = dir.join("tipring.toml");
    std::fs::write(&cfg, "[board]\nprofile = \"bad.toml\"\n").unwrap();
    let out = std::process::Command::new(common::proc::tipringd())
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("tipring.toml:2:11: board.profile:"), "{err}");
    assert!(err.contains("bad.toml:"), "{err}");
}
