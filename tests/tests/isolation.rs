//! Handler isolation, end to end on `tipringd`: each handler in its own supervised host
//! process. Four deliberately faulty handlers (segfault, abort, endless loop, memory leak)
//! take calls while 100 concurrent calls run on a well-behaved one: every good call
//! completes with its digits, every faulty handler's call gets the fallback, every call has
//! its record, and each faulty host is restarted with the reason it died visible in the
//! API. A handler that keeps crashing is disabled, and can be enabled again.

mod common;

use common::api::{code, json, post, wait_calls};
use common::proc::{Daemon, http};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A handlers directory with the named shared objects linked in as `NAME.so`.
fn handlers_dir(tag: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("tipring-e2e-handlers-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, so) in files {
        std::os::unix::fs::symlink(so, dir.join(format!("{name}.so"))).unwrap();
    }
    dir
}

fn handler<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["loaded"]
        .as_array()
        .and_then(|l| l.iter().find(|h| h["name"] == name))
        .unwrap_or_else(|| panic!("no handler {name}: {list:#}"))
}

#[test]
fn faulty_handlers_end_only_their_own_calls() {
    const GOOD: u32 = 100;
    let mut files = vec![("ivr-c", tipring_example_ivr_c::SO_PATH)];
    files.extend(tipring_example_faulty::ALL);
    let dir = handlers_dir("faults", &files);
    let db = std::env::temp_dir().join(format!("tipring-e2e-isolation-{}.db", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    // Phones 1..=100 on ivr-c; two phones on each faulty handler.
    let faulty: Vec<(u32, &str)> = tipring_example_faulty::ALL
        .iter()
        .enumerate()
        .flat_map(|(i, (name, _))| {
            let first = GOOD + 1 + 2 * i as u32;
            [(first, *name), (first + 1, *name)]
        })
        .collect();
    let mut cfg = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\nhandlers_dir = \"{}\"\n\n\
         [board]\nphones = {}\ntrunks = 0\n\n[records]\npath = \"{}\"\n\n\
         [policy.faulty-leak]\nmemory_mb = 64\n\n[policy.faulty-loop]\nhard_budget_ms = 500\n\n",
        dir.display(),
        GOOD + faulty.len() as u32,
        db.display()
    );
    for (ch, name) in &faulty {
        cfg.push_str(&format!(
            "[[route]]\nchannel = {ch}\nhandler = \"{name}\"\n\n"
        ));
    }
    cfg.push_str(&format!(
        "[[route]]\nkind = \"fxs\"\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n",
        common::prompts().display()
    ));
    let mut d = Daemon::start(&cfg, &[]);
    let api = d.api.clone();

    let list = json(&api, "/v1/handlers");
    assert_eq!(list["loaded"].as_array().map(Vec::len), Some(5), "{list:#}");
    assert_eq!(list["refused"], Value::Array(vec![]), "{list:#}");
    for (name, _) in &files {
        let h = handler(&list, name);
        assert_eq!(h["isolation"], "process", "{h}");
        assert!(h["pid"].as_u64().is_some(), "{h}");
    }
    let ivr_pid = handler(&list, "ivr-c")["pid"].clone();

    // Every phone goes off hook; each handler answers and collects digits.
    let total = GOOD + faulty.len() as u32;
    for n in 1..=total {
        post(&api, &format!("/v1/sim/lines/{n}/offhook"), "{}");
    }
    wait_calls(&api, 30, "every call answered", |c| {
        c.iter().filter(|c| c["state"] == "up").count() == total as usize
    });
    std::thread::sleep(Duration::from_millis(300));
    for n in 1..=total {
        post(
            &api,
            &format!("/v1/sim/lines/{n}/dial"),
            &format!("{{\"digits\": \"{}\"}}", code(n)),
        );
    }
    // The good calls read the digits back and hang up; the faulty handlers' calls get the
    // apology (tone:sit), then cause 41.
    let calls = wait_calls(&api, 90, "every call ended", |c| {
        c.len() >= total as usize && c.iter().all(|c| c["state"] == "ended")
    });
    for c in &calls {
        let ch = c["channel"].as_u64().unwrap() as u32;
        if ch <= GOOD {
            assert_eq!(c["cause"], 16, "good call on {ch}: {c:#}");
            assert_eq!(c["handler"], "ivr-c", "{c:#}");
            assert_eq!(c["vars"]["digits"], code(ch).as_str(), "{c:#}");
        } else {
            assert_eq!(c["cause"], 41, "faulty call on {ch}: {c:#}");
            assert_eq!(c["outcome"], "fallback", "{c:#}");
            let text = c["events"].to_string();
            assert!(text.contains("failed: its host"), "{c:#}");
        }
    }

    // Every call has its record, good ones with their digits.
    let (st, b) = http(&api, "GET", "/v1/records?limit=1000", "");
    assert_eq!(st, 200, "{b}");
    let records: Value = serde_json::from_str(&b).unwrap();
    let records = records.as_array().unwrap();
    assert_eq!(records.len(), total as usize, "{b}");
    for r in records {
        let ch = r["channel"].as_u64().unwrap() as u32;
        if ch <= GOOD {
            assert_eq!(
                (r["cause"].as_u64(), &r["digits"][0], &r["vars"]["left_at"]),
                (Some(16), &Value::from(code(ch)), &Value::from("done")),
                "{r}"
            );
        } else {
            assert_eq!(r["cause"], 41, "{r}");
        }
    }

    // Each faulty host died for its own reason and was restarted; ivr-c never noticed.
    let deadline = Instant::now() + Duration::from_secs(10);
    let list = loop {
        let list = json(&api, "/v1/handlers");
        let all_up = tipring_example_faulty::ALL
            .iter()
            .all(|(n, _)| handler(&list, n)["state"] == "running");
        if all_up || Instant::now() > deadline {
            break list;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    for (name, why) in [
        ("faulty-segv", "SIGSEGV"),
        ("faulty-abort", "SIGABRT"),
        ("faulty-loop", "did not answer OP_COMPLETE"),
        ("faulty-leak", "MiB of memory (limit 64 MiB)"),
    ] {
        let h = handler(&list, name);
        assert_eq!(h["state"], "running", "{h:#}");
        assert!(h["restarts"].as_u64() >= Some(1), "{h:#}");
        let last = h["last_exit"].as_str().unwrap_or_default();
        assert!(last.contains(why), "{name}: {last:?} lacks {why:?}");
    }
    let ivr = handler(&list, "ivr-c");
    assert_eq!(
        (&ivr["pid"], &ivr["restarts"]),
        (&ivr_pid, &Value::from(0)),
        "{ivr:#}"
    );

    // The same, as Prometheus sees it.
    let (st, m) = http(&api, "GET", "/metrics", "");
    assert_eq!(st, 200);
    let metric = |line: &str| {
        m.lines()
            .find_map(|l| l.strip_prefix(line).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("no {line} in\n{m}"))
    };
    assert_eq!(
        metric("tipring_calls_total{direction=\"inbound\",outcome=\"fallback\"}"),
        faulty.len().to_string()
    );
    assert_eq!(
        metric("tipring_calls_total{direction=\"inbound\",outcome=\"answered\"}"),
        GOOD.to_string()
    );
    assert_eq!(
        metric("tipring_handler_host_restarts_total{handler=\"ivr-c\"}"),
        "0"
    );
    for (name, _) in tipring_example_faulty::ALL {
        let r: u64 = metric(&format!(
            "tipring_handler_host_restarts_total{{handler=\"{name}\"}}"
        ))
        .parse()
        .unwrap();
        assert!(r >= 1, "{name}: {r} restarts");
    }
    let events: u64 = metric("tipring_handler_events_total{handler=\"ivr-c\"}")
        .parse()
        .unwrap();
    // Create, OFFER, ANSWERED, collection, 4 read-backs, goodbye, HANGUP per call at least.
    assert!(events >= u64::from(GOOD) * 9, "{events}");
    let dtmf: u64 = metric("tipring_dsp_detections_total{kind=\"dtmf\"}")
        .parse()
        .unwrap();
    assert_eq!(
        dtmf,
        u64::from(total) * 4,
        "every keyed digit detected once"
    );

    d.terminate();
    assert_eq!(d.wait(20), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Off hook on `line`, wait for the call to be up, key `digits`; returns the call's id.
fn one_call(api: &str, line: u32, digits: &str) -> u64 {
    post(api, &format!("/v1/sim/lines/{line}/offhook"), "{}");
    let calls = wait_calls(api, 10, "the call up", |c| {
        c.iter().any(|c| c["channel"] == line && c["state"] == "up")
    });
    let id = calls
        .iter()
        .find(|c| c["channel"] == line && c["state"] == "up")
        .and_then(|c| c["id"].as_u64())
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    post(
        api,
        &format!("/v1/sim/lines/{line}/dial"),
        &format!("{{\"digits\": \"{digits}\"}}"),
    );
    id
}

fn wait_state(api: &str, name: &str, state: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let list = json(api, "/v1/handlers");
        let h = handler(&list, name).clone();
        if h["state"] == state {
            return h;
        }
        assert!(Instant::now() < deadline, "{name} not {state}: {h:#}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_crash_loop_disables_the_handler_until_enabled() {
    let dir = handlers_dir(
        "loop",
        &[
            ("ivr-c", tipring_example_ivr_c::SO_PATH),
            ("faulty-segv", tipring_example_faulty::SEGV_SO),
        ],
    );
    // Not a shared object: refused at the probe, by name, and nothing else is disturbed.
    std::fs::write(dir.join("broken.so"), "not an ELF file").unwrap();
    let cfg = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 1\nhandlers_dir = \"{}\"\n\n\
         [board]\nphones = 2\ntrunks = 0\n\n\
         [policy.faulty-segv]\nfallback = \"handler:ivr-c\"\n\n\
         [[route]]\nchannel = 1\nhandler = \"faulty-segv\"\n\n\
         [[route]]\nany = true\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n",
        dir.display(),
        common::prompts().display()
    );
    let d = Daemon::start(&cfg, &[]);
    let api = d.api.clone();
    let list = json(&api, "/v1/handlers");
    let refused = list["refused"].to_string();
    assert!(
        refused.contains("broken.so") && refused.contains("not a loadable shared object"),
        "{list:#}"
    );

    // Five crashes in a row: each call is handed to ivr-c (the fallback handler), which
    // answers it afresh; after the fifth the handler is disabled.
    for i in 0..5 {
        wait_state(&api, "faulty-segv", "running", 30);
        let id = one_call(&api, 1, "1#");
        let calls = wait_calls(&api, 10, "the handler crashed", |c| {
            c.iter().any(|c| {
                c["id"] == id
                    && c["handler"] == "ivr-c"
                    && c["events"].to_string().contains("SIGSEGV")
            })
        });
        let c = calls.iter().find(|c| c["id"] == id).unwrap();
        assert!(
            c["outcome"] != "fallback",
            "crash {i}: ivr-c has the call: {c:#}"
        );
        post(&api, "/v1/sim/lines/1/onhook", "{}");
        wait_calls(&api, 10, "the call ended", |c| {
            c.iter().any(|c| c["id"] == id && c["state"] == "ended")
        });
    }
    let h = wait_state(&api, "faulty-segv", "disabled", 10);
    let why = h["disabled"].as_str().unwrap_or_default();
    assert!(
        why.contains("died 5 times") && why.contains("SIGSEGV"),
        "{h:#}"
    );

    // Disabled: a new call goes straight to the fallback handler.
    let id = one_call(&api, 1, "7#");
    let calls = wait_calls(&api, 10, "the call handed over", |c| {
        c.iter().any(|c| c["id"] == id && c["handler"] == "ivr-c")
    });
    let c = calls.iter().find(|c| c["id"] == id).unwrap();
    assert!(c["events"].to_string().contains("disabled"), "{c:#}");
    post(&api, "/v1/sim/lines/1/onhook", "{}");

    // Enabled again through the API; not-disabled and unknown handlers are refused.
    let (st, b) = http(&api, "POST", "/v1/handlers/faulty-segv/enable", "");
    assert_eq!(st, 200, "{b}");
    wait_state(&api, "faulty-segv", "running", 10);
    let (st, _) = http(&api, "POST", "/v1/handlers/ivr-c/enable", "");
    assert_eq!(st, 409);
    let (st, _) = http(&api, "POST", "/v1/handlers/nope/enable", "");
    assert_eq!(st, 404);
    let _ = std::fs::remove_dir_all(Path::new(&dir));
}

/// Limits: a handler at its `max_calls` refuses the next call (a phone hears busy) and the
/// refusal is counted; the calls it has go on; the total limit works the same way.
#[test]
fn a_handler_at_its_call_limit_refuses_more() {
    let cfg = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 1\nmax_calls = 3\n\n\
         [board]\nphones = 4\ntrunks = 0\n\n\
         [policy.ivr-c]\nmax_calls = 2\n\n\
         [[route]]\nchannel = 4\nhandler = \"menu\"\n\n\
         [[route]]\nany = true\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n",
        common::prompts().display()
    );
    let d = Daemon::start(&cfg, &[]);
    let api = d.api.clone();
    for n in 1..=3 {
        post(&api, &format!("/v1/sim/lines/{n}/offhook"), "{}");
    }
    wait_calls(&api, 10, "two calls up", |c| {
        c.iter().filter(|c| c["state"] == "up").count() == 2
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let heard = json(&api, "/v1/sim/lines/3/heard").to_string();
        if heard.contains("heard tone busy") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "line 3 hears no busy tone: {heard}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(json(&api, "/v1/health")["refused_at_limit"], 1);
    // The total: two calls up and one more (menu on line 4) is the third; a fourth would
    // be refused whatever its handler.
    post(&api, "/v1/sim/lines/3/onhook", "{}");
    post(&api, "/v1/sim/lines/4/offhook", "{}");
    wait_calls(&api, 10, "three calls up", |c| {
        c.iter().filter(|c| c["state"] == "up").count() == 3
    });
    post(&api, "/v1/sim/lines/3/offhook", "{}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while json(&api, "/v1/health")["refused_at_limit"] != 2 {
        assert!(Instant::now() < deadline, "the fourth call was not refused");
        std::thread::sleep(Duration::from_millis(100));
    }
    let calls = json(&api, "/v1/calls");
    assert_eq!(calls.as_array().map(Vec::len), Some(3), "{calls:#}");
}

/// Two handlers that fall back to each other: the call goes from the first to the second
/// once; when the second fails too it gets the apology and ends (no ping-pong, no
/// recursion while both hosts restart).
#[test]
fn mutual_fallbacks_hand_a_call_over_once() {
    let dir = handlers_dir(
        "mutual",
        &[
            ("faulty-segv", tipring_example_faulty::SEGV_SO),
            ("faulty-abort", tipring_example_faulty::ABORT_SO),
        ],
    );
    let cfg = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 1\nhandlers_dir = \"{}\"\n\n\
         [board]\nphones = 1\ntrunks = 0\n\n\
         [policy.faulty-segv]\nfallback = \"handler:faulty-abort\"\n\n\
         [policy.faulty-abort]\nfallback = \"handler:faulty-segv\"\n\n\
         [[route]]\nany = true\nhandler = \"faulty-segv\"\n",
        dir.display()
    );
    let d = Daemon::start(&cfg, &[]);
    let api = d.api.clone();
    let id = one_call(&api, 1, "1#");
    wait_calls(&api, 10, "handed to faulty-abort", |c| {
        c.iter()
            .any(|c| c["id"] == id && c["handler"] == "faulty-abort" && c["state"] == "up")
    });
    std::thread::sleep(Duration::from_millis(300));
    post(&api, "/v1/sim/lines/1/dial", "{\"digits\": \"2#\"}");
    let calls = wait_calls(&api, 15, "the call ended", |c| {
        c.iter().any(|c| c["id"] == id && c["state"] == "ended")
    });
    let c = calls.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(c["cause"], 41, "{c:#}");
    assert_eq!(c["outcome"], "fallback", "{c:#}");
    let text = c["events"].to_string();
    assert!(
        text.contains("SIGSEGV") && text.contains("SIGABRT"),
        "{c:#}"
    );
    assert_eq!(json(&api, "/v1/health")["status"], "ok");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A caller who hangs up while the handler is stuck: the call shows `ending` while its
/// host owes the answers, then, at the hard budget counted from the event it is stuck on,
/// the record is written without them and the host is killed for that event (not for
/// HANGUP, which it was never free to take).
#[test]
fn a_call_whose_host_is_stuck_when_the_caller_hangs_up_is_closed_at_the_budget() {
    const BUDGET_MS: u64 = 2_000;
    let dir = handlers_dir(
        "closing",
        &[("faulty-loop", tipring_example_faulty::LOOP_SO)],
    );
    let db = std::env::temp_dir().join(format!("tipring-e2e-closing-{}.db", std::process::id()));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
    let cfg = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 1\nhandlers_dir = \"{}\"\n\n\
         [board]\nphones = 1\ntrunks = 0\n\n[records]\npath = \"{}\"\n\n\
         [policy.faulty-loop]\nhard_budget_ms = {BUDGET_MS}\n\n\
         [[route]]\nany = true\nhandler = \"faulty-loop\"\n",
        dir.display(),
        db.display()
    );
    let mut d = Daemon::start(&cfg, &[]);
    let api = d.api.clone();
    wait_state(&api, "faulty-loop", "running", 30);
    let pid = handler(&json(&api, "/v1/handlers"), "faulty-loop")["pid"].clone();

    // The collection completes on '#': the handler starts spinning in OP_COMPLETE.
    let id = one_call(&api, 1, "42#");
    wait_calls(&api, 10, "the digits collected", |c| {
        c.iter()
            .any(|c| c["id"] == id && c["digits"].as_array().is_some_and(|d| !d.is_empty()))
    });
    let stuck = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    post(&api, "/v1/sim/lines/1/onhook", "{}");
    let calls = wait_calls(&api, 5, "the call ending", |c| {
        c.iter().any(|c| c["id"] == id && c["state"] != "up")
    });
    let c = calls.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(c["state"], "ending", "{c:#}");
    // No record yet: it waits for the host's answers.
    let (st, b) = http(&api, "GET", "/v1/records", "");
    assert_eq!((st, b.trim()), (200, "[]"));

    let calls = wait_calls(&api, 10, "the call ended", |c| {
        c.iter().any(|c| c["id"] == id && c["state"] == "ended")
    });
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let c = calls.iter().find(|c| c["id"] == id).unwrap();
    // The handler has been stuck since the '#' ended its collection (its OP_COMPLETE went
    // out in the same step): the budget counts from there, not from the hangup.
    let hash_at = c["events"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["event"] == "digit #"))
        .and_then(|e| e["at_ms"].as_u64())
        .unwrap_or_else(|| panic!("no '#' in {c:#}"));
    let waited = now_ms - hash_at;
    assert!(
        (BUDGET_MS - 50..BUDGET_MS + 3_000).contains(&waited),
        "closed {waited} ms after the '#', the budget is {BUDGET_MS} ms: {c:#}"
    );
    assert!(stuck.elapsed() < Duration::from_millis(BUDGET_MS + 3_000));
    let (st, b) = http(&api, "GET", "/v1/records", "");
    assert_eq!(st, 200, "{b}");
    let records: Value = serde_json::from_str(&b).unwrap();
    let r = &records[0];
    assert_eq!(
        (r["call"].as_u64(), &r["handler"]),
        (Some(id), &Value::from("faulty-loop")),
        "{b}"
    );
    assert_eq!(r["digits"][0], "42", "{b}");

    // The host was killed for the event it was stuck on, and restarted.
    let deadline = Instant::now() + Duration::from_secs(20);
    let h = loop {
        let h = handler(&json(&api, "/v1/handlers"), "faulty-loop").clone();
        if h["restarts"].as_u64() >= Some(1) && h["state"] == "running" {
            break h;
        }
        assert!(Instant::now() < deadline, "not restarted: {h:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(h["pid"], pid, "{h:#}");
    let last = h["last_exit"].as_str().unwrap_or_default();
    assert!(
        last.contains(&format!(
            "did not answer OP_COMPLETE for call {id} (ended) within {BUDGET_MS} ms"
        )),
        "{h:#}"
    );

    d.terminate();
    assert_eq!(d.wait(20), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
    }
}
