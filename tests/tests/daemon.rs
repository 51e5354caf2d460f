//! The `tipringd` process: config errors, the API answering good and bad requests, a whole
//! call driven through the API, and a clean shutdown on SIGTERM.

mod common;

use common::api::{post, wait_calls};
use common::proc::{Daemon, events, http, next_event, tipringd};
use serde_json::Value;
use std::time::Duration;

fn config(extra: &str) -> String {
    format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\n\n[board]\nphones = 2\ntrunks = 2\n\n\
         [[route]]\nkind = \"fxo\"\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n{extra}",
        common::prompts().display()
    )
}

/// A fresh records database path (and its WAL files gone).
fn fresh_db(tag: &str) -> std::path::PathBuf {
    let db = std::env::temp_dir().join(format!("tipring-e2e-{tag}-{}.db", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    db
}

/// The records in `db`, newest first.
fn records_in(db: &std::path::Path) -> Vec<tipringd::records::CallRecord> {
    use tipringd::records::CallStore;
    tipringd::records::SqliteStore::open(db)
        .expect("the records file")
        .query(&tipringd::records::Query {
            limit: 10,
            ..Default::default()
        })
        .unwrap()
}

/// The sim exchange rings line 3 with caller ID; waits until the IVR has answered.
fn ring_and_answer(api: &str) {
    post(
        api,
        "/v1/sim/lines/3/ring",
        "{\"caller\": {\"number\": \"5550123\"}}",
    );
    wait_calls(api, 15, "the call answered", |c| {
        c.iter().any(|c| c["channel"] == 3 && c["state"] == "up")
    });
    // The greeting has begun: digits now are collected.
    std::thread::sleep(Duration::from_millis(300));
}

/// Waits until every call has ended.
fn wait_ended(api: &str) {
    wait_calls(api, 15, "the call ended", |c| {
        !c.is_empty() && c.iter().all(|c| c["state"] == "ended")
    });
}

/// A bad config names its file, line, column and key, and the daemon exits with status 2.
#[test]
fn a_bad_config_is_refused_with_its_location() {
    let bin = tipringd();
    let cfg = std::env::temp_dir().join(format!("tipring-bad-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[board]\nphones = 2\nplan = \"mars\"\n").unwrap();
    let out = std::process::Command::new(&bin)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:3:8: board.plan: \"mars\": expected us, uk, de or fr",
            cfg.display()
        )),
        "{err}"
    );
    let out = std::process::Command::new(&bin)
        .args(["--config", "/nonexistent/tipring.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/tipring.toml"));
}

/// The API: health, channels, handlers; 4xx with a JSON reason for bad JSON, unknown ids
/// and endpoints; a sim caller rings in, keys digits, and the call shows them.
#[test]
fn the_api_runs_a_call_and_refuses_bad_requests() {
    let mut d = Daemon::start(&config(""), &[]);
    let api = d.api.clone();
    let (st, body) = http(&api, "GET", "/v1/health", "");
    assert_eq!(st, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["channels"], 4);
    assert_eq!(v["media"]["events_lost"], 0);
    let (st, body) = http(&api, "GET", "/v1/channels", "");
    assert_eq!(st, 200);
    let ch: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ch[2]["kind"], "fxo");
    assert_eq!(ch[0]["state"], "idle");
    let (_, body) = http(&api, "GET", "/v1/handlers", "");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["loaded"][0]["name"], "ivr-c");

    for (method, path, body, want) in [
        ("POST", "/v1/calls", "{not json", 400),
        ("POST", "/v1/calls", "{\"channel\": 1, \"frob\": 2}", 400),
        ("POST", "/v1/calls", "{\"channel\": 42}", 404),
        (
            "POST",
            "/v1/calls",
            "{\"channel\": 3, \"handler\": \"nope\"}",
            404,
        ),
        ("POST", "/v1/calls", "{\"channel\": 3}", 400),
        ("GET", "/v1/calls/77", "", 404),
        ("GET", "/v1/calls/abc", "", 400),
        ("DELETE", "/v1/calls/77", "", 404),
        ("POST", "/v1/sim/lines/9/ring", "{}", 404),
        ("POST", "/v1/sim/lines/1/ring", "{}", 409),
        ("POST", "/v1/sim/lines/3/dial", "{\"digits\": \"12x\"}", 400),
        ("GET", "/v2/nothing", "", 404),
    ] {
        let (st, b) = http(&api, method, path, body);
        assert_eq!(st, want, "{method} {path} {body}: {b}");
        let v: Value =
            serde_json::from_str(&b).unwrap_or_else(|_| panic!("{method} {path}: not JSON: {b}"));
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{b}");
    }

    // A call: the exchange rings line 3 with caller ID; the caller keys 42#. The event
    // stream is open before it starts.
    let mut ws = events(&api);
    let (st, b) = http(
        &api,
        "POST",
        "/v1/sim/lines/3/ring",
        "{\"caller\": {\"number\": \"5550123\"}}",
    );
    assert_eq!(st, 200, "{b}");
    std::thread::sleep(Duration::from_millis(4500));
    let (st, b) = http(
        &api,
        "POST",
        "/v1/sim/lines/3/dial",
        "{\"digits\": \"42#\"}",
    );
    assert_eq!(st, 200, "{b}");
    let mut call = Value::Null;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(100));
        let (_, b) = http(&api, "GET", "/v1/calls/1", "");
        call = serde_json::from_str(&b).unwrap_or(Value::Null);
        if call["state"] == "ended" {
            break;
        }
    }
    assert_eq!(call["state"], "ended", "{call:#}");
    assert_eq!(call["digits"][0], "42");
    assert_eq!(call["caller"], "5550123");
    assert_eq!(call["cause"], 16);
    // The stream told it as it happened.
    let mut seen = Vec::new();
    while let Some(m) = next_event(&mut ws) {
        let v: Value = serde_json::from_str(&m).unwrap();
        seen.push(format!(
            "{} {}",
            v["channel"],
            v["event"].as_str().unwrap_or("")
        ));
        if v["event"].as_str().is_some_and(|e| e.starts_with("ended")) {
            break;
        }
    }
    for want in [
        "3 signal ring-begin",
        "3 offered to ivr-c 1.0.0",
        "3 answered",
        "3 digit 4",
        "3 digit 2",
    ] {
        assert!(seen.iter().any(|s| s == want), "no {want:?} in {seen:#?}");
    }
    d.terminate();
    assert_eq!(d.wait(10), Some(0));
}

/// Call records: a finished call's record is in SQLite before the call shows as ended; the
/// API filters and pages them and exports CSV; after `kill -9` of tipringd the record is
/// still in the file.
#[test]
fn a_finished_calls_record_survives_kill_9() {
    let db = fresh_db("records");
    let mut d = Daemon::start(
        &config(&format!("\n[records]\npath = \"{}\"\n", db.display())),
        &[],
    );
    let api = d.api.clone();
    let mut ws = events(&api);
    ring_and_answer(&api);
    post(&api, "/v1/sim/lines/3/dial", "{\"digits\": \"42#\"}");
    // The stream says `ended` only once the record (with what the isolated handler set
    // while handling HANGUP) is written.
    while let Some(m) = next_event(&mut ws) {
        let v: Value = serde_json::from_str(&m).unwrap();
        if v["event"].as_str().is_some_and(|e| e.starts_with("ended")) {
            break;
        }
    }
    let (st, b) = http(&api, "GET", "/v1/records?channel=3&cause=16", "");
    assert_eq!(st, 200, "{b}");
    let list: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{b}");
    assert_eq!(list[0]["caller"], "5550123");
    assert_eq!(list[0]["digits"][0], "42");
    assert_eq!(list[0]["handler"], "ivr-c");
    assert_eq!(list[0]["presentation"], "allowed");
    assert_eq!(list[0]["route"], "kind fxo -> ivr-c");
    // Set by the (isolated) handler while handling HANGUP.
    assert_eq!(list[0]["vars"]["left_at"], "done", "{list:#}");
    let ring = list[0]["ring_ms"].as_u64().expect("the first ring's time");
    assert!(ring <= list[0]["created_ms"].as_u64().unwrap(), "{list:#}");
    // The CLI exports the same as CSV.
    let out = std::process::Command::new(common::proc::tipring_cli())
        .args(["--api", &api, "records", "--csv", "--channel", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(csv.starts_with("run,call,channel,direction,"), "{csv}");
    assert!(csv.contains(",3,inbound,ivr-c,1.0.0,5550123,"), "{csv}");
    assert!(csv.contains(r#"""left_at"":""done"""#), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");
    let (_, b) = http(&api, "GET", "/v1/records?channel=4", "");
    assert_eq!(b, "[]");
    let (st, b) = http(&api, "GET", "/v1/records.csv?limit=5", "");
    assert_eq!(st, 200, "{b}");
    assert!(b.starts_with("run,call,channel,direction,"), "{b}");
    assert!(b.contains(",3,inbound,ivr-c,"), "{b}");
    let (st, b) = http(&api, "GET", "/v1/records?limit=0", "");
    assert_eq!(
        (st, b.contains("limit: 0: between 1 and 1000")),
        (400, true),
        "{b}"
    );
    let (st, b) = http(&api, "GET", "/v1/records?chanel=3", "");
    assert_eq!(
        (st, b.contains("unknown filter \\\"chanel\\\"")),
        (400, true),
        "{b}"
    );
    // kill -9: no chance to flush anything.
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &d.child.id().to_string()])
        .status();
    let _ = d.child.wait();
    let kept = records_in(&db);
    assert_eq!(kept.len(), 1);
    assert_eq!(
        (kept[0].channel, kept[0].digits.clone()),
        (3, vec!["42".to_string()])
    );
    assert_eq!(kept[0].cause, Some(16));
    assert!(kept[0].duration_ms > 0, "{:?}", kept[0]);
    assert_eq!(
        kept[0].vars.get("left_at").map(String::as_str),
        Some("done")
    );
}

/// SIGTERM with a call up: the drain deadline hangs it up, and its record is in the file
/// when tipringd has exited.
#[test]
fn sigterm_with_a_call_up_keeps_its_record() {
    let db = fresh_db("term");
    let mut d = Daemon::start(
        &config(&format!("\n[records]\npath = \"{}\"\n", db.display())),
        &[],
    );
    let api = d.api.clone();
    ring_and_answer(&api);
    // systemd's stop signals the whole unit: the handler's host ignores SIGTERM and keeps
    // serving its calls while tipringd drains them.
    let (_, b) = http(&api, "GET", "/v1/handlers", "");
    let h: Value = serde_json::from_str(&b).unwrap();
    let pid = h["loaded"][0]["pid"].as_u64().expect("an isolated host") as u32;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the host died of SIGTERM"
    );
    d.terminate();
    assert_eq!(d.wait(20), Some(0));
    let kept = records_in(&db);
    assert_eq!(kept.len(), 1, "{kept:#?}");
    assert_eq!(kept[0].channel, 3);
    assert!(kept[0].cause.is_some(), "{kept:#?}");
    assert!(kept[0].answered_ms.is_some(), "{kept:#?}");
    assert_ne!(kept[0].outcome.as_deref(), Some("fallback"), "{kept:#?}");
    // Hung up mid-greeting by the drain: the host's answer to HANGUP (what it set then)
    // was waited for before the record was written and tipringd exited.
    assert_eq!(
        kept[0].vars.get("left_at").map(String::as_str),
        Some("greeting"),
        "{kept:#?}"
    );
}

/// A channel captured at run time: the stereo WAV holds what the line sent (the IVR's
/// greeting and read-back, right) and what it received (the caller's DTMF, left), in step.
#[test]
fn a_channel_capture_holds_both_directions() {
    use tipring_dsp::dtmf::{DtmfEvent, DtmfRx, DtmfRxConfig};
    let dir = std::env::temp_dir().join(format!("tipring-e2e-capture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = config("").replacen(
        "drain_seconds = 2\n",
        &format!("drain_seconds = 2\ncapture_dir = \"{}\"\n", dir.display()),
        1,
    );
    let d = Daemon::start(&cfg, &[]);
    let api = d.api.clone();
    let (st, b) = http(&api, "POST", "/v1/channels/3/capture", "{\"on\": true}");
    assert_eq!(st, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let file = v["file"].as_str().unwrap().to_string();
    assert!(file.starts_with(&dir.display().to_string()), "{file}");
    let (st, b) = http(&api, "POST", "/v1/channels/3/capture", "{\"on\": true}");
    assert_eq!(st, 409, "a second capture of the same channel: {b}");
    let (st, _) = http(&api, "POST", "/v1/channels/99/capture", "{\"on\": true}");
    assert_eq!(st, 404);
    let (_, b) = http(&api, "GET", "/v1/channels", "");
    assert!(b.contains(&file), "{b}");
    ring_and_answer(&api);
    post(&api, "/v1/sim/lines/3/dial", "{\"digits\": \"42#\"}");
    wait_ended(&api);
    let (st, b) = http(&api, "POST", "/v1/channels/3/capture", "{\"on\": false}");
    assert_eq!(st, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let secs = v["seconds"].as_f64().unwrap();
    // It covers the whole call (it ran from before the ring to after the hang-up).
    let (_, b) = http(&api, "GET", "/v1/calls/1", "");
    let call: Value = serde_json::from_str(&b).unwrap();
    let up_ms = call["ended_ms"].as_u64().unwrap() - call["answered_ms"].as_u64().unwrap();
    assert!(
        secs * 1000.0 >= up_ms as f64,
        "{v} for a call up {up_ms} ms"
    );
    let mut r = hound::WavReader::open(&file).unwrap();
    assert_eq!((r.spec().channels, r.spec().sample_rate), (2, 8000));
    let s: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(s.len() as f64 / 2.0 / 8000.0, secs);
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let mut rx = DtmfRx::new(DtmfRxConfig::default()).unwrap();
    let mut heard = String::new();
    let mut rest = &left[..];
    while !rest.is_empty() {
        let n = rx.process(rest);
        rest = &rest[n..];
        while let Some(ev) = rx.poll_event() {
            if let DtmfEvent::Begin { digit, .. } = ev {
                heard.push(digit);
            }
        }
        if n == 0 {
            break;
        }
    }
    assert_eq!(heard, "42#", "the caller's digits, received");
    let energy = |x: &[i16]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
    assert!(
        energy(&right) > 1e4,
        "the IVR's prompts, sent: {}",
        energy(&right)
    );
    let (st, _) = http(&api, "POST", "/v1/channels/3/capture", "{\"on\": false}");
    assert_eq!(st, 409, "not capturing any more");
    let _ = std::fs::remove_dir_all(&dir);
}
