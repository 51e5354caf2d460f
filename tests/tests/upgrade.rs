//! Live upgrades and config reloads on `tipringd`, with calls up: a new handler version
//! dropped into the handlers directory takes the new calls while the calls up finish on
//! the old one (no call dropped); a broken config on SIGHUP, or through the API, is refused
//! with its place and the daemon serves on with the old one.

mod common;

use common::api::{code, json, post, wait_calls};
use common::proc::{Daemon, http};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn ivr(list: &Value) -> Value {
    list["loaded"]
        .as_array()
        .and_then(|l| l.iter().find(|h| h["name"] == "ivr-c"))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The example C handler built as another version.
fn build_ivr(version: &str, out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let tmp = out.with_extension("tmp");
    let ok = std::process::Command::new("cc")
        .args(["-std=c11", "-O2", "-fPIC", "-shared", "-fvisibility=hidden"])
        .arg(format!("-DIVR_VERSION=\"{version}\""))
        .arg("-I")
        .arg(root.join("sdk/include"))
        .arg("-o")
        .arg(&tmp)
        .arg(root.join("sdk/examples/ivr-c/ivr.c"))
        .status()
        .expect("a C compiler");
    assert!(ok.success());
    // Installed the way an operator should: written elsewhere, renamed into place.
    std::fs::rename(&tmp, out).unwrap();
}

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tipring-e2e-upgrade-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_new_version_takes_new_calls_while_old_calls_finish() {
    live_upgrade("process");
}

/// In process the old version's library stays loaded (never unloaded); its calls finish on
/// it all the same.
#[test]
fn an_in_process_handler_upgrades_the_same_way() {
    live_upgrade("in-process");
}

fn live_upgrade(isolation: &str) {
    const UP: u32 = 50;
    let isolated = isolation == "process";
    let handlers = dir(isolation);
    std::os::unix::fs::symlink(
        tipring_example_ivr_c::SO_PATH,
        handlers.join("ivr-c-1.0.0.so"),
    )
    .unwrap();
    let cfg = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 2\nhandlers_dir = \"{}\"\n\n\
         [board]\nphones = {}\ntrunks = 0\n\n\
         [policy.ivr-c]\nisolation = \"{isolation}\"\n\n\
         [[route]]\nany = true\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n",
        handlers.display(),
        2 * UP,
        common::prompts().display()
    );
    let mut d = Daemon::start(&cfg, &[]);
    let api = d.api.clone();
    let v1 = ivr(&json(&api, "/v1/handlers"));
    assert_eq!(v1["version"], "1.0.0", "{v1:#}");

    // 50 calls up on 1.0.0, waiting for their digits.
    for n in 1..=UP {
        post(&api, &format!("/v1/sim/lines/{n}/offhook"), "{}");
    }
    wait_calls(&api, 20, "50 calls up", |c| {
        c.iter().filter(|c| c["state"] == "up").count() == UP as usize
    });

    // 2.0.0 is dropped into the directory: picked up by itself.
    build_ivr("2.0.0", &handlers.join("ivr-c-2.0.0.so"));
    let deadline = Instant::now() + Duration::from_secs(15);
    let list = loop {
        let list = json(&api, "/v1/handlers");
        if ivr(&list)["version"] == "2.0.0" && ivr(&list)["state"] == "running" {
            break list;
        }
        assert!(Instant::now() < deadline, "2.0.0 not in place: {list:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let upgraded_at = Instant::now();
    let v2_pid = ivr(&list)["pid"].clone();
    assert_eq!(ivr(&list)["isolation"], isolation, "{list:#}");
    if isolated {
        assert_ne!(ivr(&list)["pid"], v1["pid"], "{list:#}");
        let retiring = &list["retiring"];
        assert_eq!(retiring[0]["version"], "1.0.0", "{list:#}");
        assert_eq!(retiring[0]["calls"], UP, "{list:#}");
    }
    // A second reload finds nothing new, and says 1.0.0 is superseded.
    let (st, b) = http(&api, "POST", "/v1/handlers/reload", "");
    assert_eq!(st, 200, "{b}");
    let rep: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(rep["installed"], Value::Array(vec![]), "{rep:#}");
    assert!(
        rep["superseded"].to_string().contains("ivr-c-1.0.0.so"),
        "{rep:#}"
    );

    // 50 new calls: on 2.0.0.
    for n in UP + 1..=2 * UP {
        post(&api, &format!("/v1/sim/lines/{n}/offhook"), "{}");
    }
    wait_calls(&api, 20, "100 calls up", |c| {
        c.iter().filter(|c| c["state"] == "up").count() == 2 * UP as usize
    });
    for n in 1..=2 * UP {
        post(
            &api,
            &format!("/v1/sim/lines/{n}/dial"),
            &format!("{{\"digits\": \"{}\"}}", code(n)),
        );
    }
    let calls = wait_calls(&api, 60, "every call ended", |c| {
        c.len() == 2 * UP as usize && c.iter().all(|c| c["state"] == "ended")
    });
    for c in &calls {
        let ch = c["channel"].as_u64().unwrap() as u32;
        let want = if ch <= UP { "1.0.0" } else { "2.0.0" };
        assert_eq!(c["handler_version"], want, "{c:#}");
        assert_eq!(c["cause"], 16, "call on {ch} dropped? {c:#}");
        assert_eq!(c["vars"]["digits"], code(ch).as_str(), "{c:#}");
    }
    // The old host finished its calls and went.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let list = json(&api, "/v1/handlers");
        if list["retiring"] == Value::Array(vec![]) {
            break;
        }
        assert!(Instant::now() < deadline, "the old host stays: {list:#}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The new host outlives the thread that ran the reload (a blocking-pool thread that
    // retires after 10 s idle): it was started from a long-lived one.
    if isolated {
        let wait = Duration::from_secs(12).saturating_sub(upgraded_at.elapsed());
        std::thread::sleep(wait);
        let now = ivr(&json(&api, "/v1/handlers"));
        assert_eq!(
            (&now["pid"], &now["restarts"]),
            (&v2_pid, &Value::from(0)),
            "{now:#}"
        );
    }
    d.terminate();
    assert_eq!(d.wait(20), Some(0));
    let _ = std::fs::remove_dir_all(&handlers);
}

#[test]
fn sighup_with_a_broken_config_keeps_the_old_one() {
    let base = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 1\n\n\
         [board]\nphones = 2\ntrunks = 0\n\n\
         [[route]]\nany = true\nhandler = \"ivr-c\"\nparams = {{ prompts = \"{}\" }}\n",
        common::prompts().display()
    );
    let d = Daemon::start(&base, &[]);
    let api = d.api.clone();
    // The file goes bad; SIGHUP.
    std::fs::write(&d.config, format!("{base}\n[board.nope]\n")).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &d.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut said = String::new();
    while Instant::now() < deadline && !said.contains("config reload refused") {
        if let Ok(l) = d.log.recv_timeout(Duration::from_millis(200)) {
            said = l;
        }
    }
    assert!(said.contains("config reload refused"), "{said}");
    assert!(said.contains(&format!("{}:", d.config.display())), "{said}");
    // Through the API: 400 with the place.
    let (st, b) = http(&api, "POST", "/v1/config/reload", "");
    assert_eq!(st, 400, "{b}");
    assert!(
        b.contains(&format!("{}:", d.config.display())) && b.contains("nope"),
        "the place and the key: {b}"
    );
    // Still serving with the old config: a call runs to its end.
    post(&api, "/v1/sim/lines/1/offhook", "{}");
    wait_calls(&api, 10, "the call up", |c| {
        c.iter().any(|c| c["state"] == "up")
    });
    std::thread::sleep(Duration::from_millis(300));
    post(&api, "/v1/sim/lines/1/dial", "{\"digits\": \"42#\"}");
    let calls = wait_calls(&api, 20, "the call ended", |c| {
        c.iter().any(|c| c["state"] == "ended")
    });
    assert_eq!(calls[0]["cause"], 16, "{:#}", calls[0]);
    assert_eq!(calls[0]["vars"]["digits"], "42", "{:#}", calls[0]);
    post(&api, "/v1/sim/lines/1/onhook", "{}");
    // A good new file: routes apply at once; a board change waits for a restart.
    std::fs::write(&d.config, base.replace("phones = 2", "phones = 3")).unwrap();
    let (st, b) = http(&api, "POST", "/v1/config/reload", "");
    assert_eq!(st, 200, "{b}");
    let rep: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(rep["restart_needed"][0], "[board]", "{rep:#}");
}
