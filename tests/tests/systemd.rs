//! The systemd units: `systemd-analyze verify` prints nothing for the service; sysusers and
//! tmpfiles do what they say in a scratch root; and the daemon speaks the notify protocol:
//! READY=1 once up, WATCHDOG=1 at half the watchdog period while it runs, STOPPING=1 and a
//! prompt exit on SIGTERM.

mod common;

use common::proc::Daemon;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn unit_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../systemd"))
}

fn tool(name: &str) -> Command {
    let c = Command::new(name);
    assert!(
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .is_ok_and(|o| o.status.success()),
        "{name} is missing: run scripts/deps --test (Debian package systemd)"
    );
    c
}

/// `systemd-analyze verify` exits 0 even on unknown keys and bad values (it only warns), so
/// any output at all fails the test. ExecStart must exist for it: a copy points at /bin/true.
#[test]
fn the_unit_verifies_without_a_word() {
    let unit = std::fs::read_to_string(unit_dir().join("tipringd.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/tipringd"));
    let dir = std::env::temp_dir().join(format!("tipring-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("tipringd.service");
    std::fs::write(
        &copy,
        unit.replace("ExecStart=/usr/bin/tipringd", "ExecStart=/bin/true"),
    )
    .unwrap();
    let out = tool("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify said:\n{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// sysusers creates the tipringd user in dialout and audio; tmpfiles creates its
/// directories with the right owner and mode.
#[test]
fn sysusers_and_tmpfiles_set_up_a_root() {
    let root = std::env::temp_dir().join(format!("tipring-root-{}", std::process::id()));
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/group"), "dialout:x:20:\naudio:x:29:\n").unwrap();
    std::fs::write(root.join("etc/passwd"), "").unwrap();
    let st = tool("systemd-sysusers")
        .arg(format!("--root={}", root.display()))
        .arg(unit_dir().canonicalize().unwrap().join("tipringd.sysusers"))
        .status()
        .unwrap();
    assert!(st.success());
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(passwd.contains("tipringd:x:"), "{passwd}");
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap();
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("dialout:") && l.contains("tipringd")),
        "{group}"
    );
    assert!(
        group
            .lines()
            .any(|l| l.starts_with("audio:") && l.contains("tipringd")),
        "{group}"
    );
    let st = tool("systemd-tmpfiles")
        .arg(format!("--root={}", root.display()))
        .arg("--create")
        .arg(unit_dir().canonicalize().unwrap().join("tipringd.tmpfiles"))
        .status()
        .unwrap();
    assert!(st.success());
    use std::os::unix::fs::PermissionsExt;
    for (d, mode) in [
        ("var/lib/tipring/recordings", 0o750),
        ("var/log/tipring", 0o750),
        ("usr/lib/tipring/handlers", 0o755),
    ] {
        let m = std::fs::metadata(root.join(d)).unwrap_or_else(|e| panic!("{d}: {e}"));
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o777, mode, "{d}");
    }
    let _ = std::fs::remove_dir_all(&root);
}

/// READY=1, then WATCHDOG=1 every half period (1 s period: no gap over 1 s), STOPPING=1
/// and exit status 0 within seconds of SIGTERM.
#[test]
fn ready_watchdog_and_stopping_reach_the_notify_socket() {
    let sock_path =
        std::env::temp_dir().join(format!("tipring-notify-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let cfg = "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 1\n[board]\nphones = 1\ntrunks = 1\n";
    let mut d = Daemon::start(
        cfg,
        &[
            ("NOTIFY_SOCKET", sock_path.display().to_string()),
            ("WATCHDOG_USEC", "1000000".into()),
        ],
    );
    let mut msgs: Vec<(Instant, String)> = Vec::new();
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        if let Ok(n) = sock.recv(&mut buf) {
            msgs.push((
                Instant::now(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
    }
    assert!(
        msgs.iter().any(|m| m.1.lines().any(|l| l == "READY=1")),
        "{msgs:?}"
    );
    let dogs: Vec<Instant> = msgs
        .iter()
        .filter(|m| m.1.lines().any(|l| l == "WATCHDOG=1"))
        .map(|m| m.0)
        .collect();
    assert!(dogs.len() >= 5, "{} watchdog messages in 4 s", dogs.len());
    for w in dogs.windows(2) {
        assert!(
            w[1] - w[0] < Duration::from_millis(1000),
            "a watchdog gap of {:?}",
            w[1] - w[0]
        );
    }
    d.terminate();
    let t = Instant::now();
    let mut stopping = false;
    while t.elapsed() < Duration::from_secs(3) && !stopping {
        if let Ok(n) = sock.recv(&mut buf) {
            stopping = String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "STOPPING=1");
        }
    }
    assert!(stopping, "no STOPPING=1 after SIGTERM");
    assert_eq!(
        d.wait(5),
        Some(0),
        "tipringd did not exit cleanly within 5 s of SIGTERM"
    );
    let _ = std::fs::remove_file(&sock_path);
}
