//! The `tipringd` process: config errors, the API answering good and bad requests, a whole
//! call driven through the API, and a clean shutdown on SIGTERM.

mod common;

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
