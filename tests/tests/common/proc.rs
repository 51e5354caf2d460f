//! Running the real `tipringd` binary.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `tipringd` binary of this build profile, built if needed (with the same cargo).
pub fn tipringd() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args([
        "build",
        "--quiet",
        "-p",
        "tipringd",
        "--bin",
        "tipringd",
        "--bin",
        "tipring",
        "-p",
        "tipring-example-menu",
    ]);
    if release {
        cmd.arg("--release");
    }
    let st = cmd.status().expect("cargo");
    assert!(st.success(), "building tipringd failed");
    profile_dir.join("tipringd")
}

/// The `tipring` CLI, built beside `tipringd`.
pub fn tipring_cli() -> PathBuf {
    tipringd().with_file_name("tipring")
}

/// A running daemon whose log lines arrive on `log`.
pub struct Daemon {
    pub child: Child,
    pub log: mpsc::Receiver<String>,
    pub api: String,
    /// The config file it runs on.
    pub config: PathBuf,
}

impl Daemon {
    /// Starts `tipringd --config CONFIG` (a temp file with `toml`), with `env`, through
    /// `sh -c 'WATCHDOG_PID=$$ exec …'` so that a watchdog's PID is the daemon's; waits for
    /// the API address in its log.
    pub fn start(toml: &str, env: &[(&str, String)]) -> Daemon {
        let bin = tipringd();
        let cfg = std::env::temp_dir().join(format!(
            "tipring-e2e-{}-{}.toml",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::write(&cfg, toml).unwrap();
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "WATCHDOG_PID=$$ exec '{}' --config '{}'",
                bin.display(),
                cfg.display()
            ))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start tipringd");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut api = String::new();
        let mut seen = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while api.is_empty() && std::time::Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if let Some(i) = line.find("API listening on ") {
                    api = line[i + "API listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches("/v1")
                        .to_string();
                }
                seen.push(line);
            }
        }
        if api.is_empty() {
            let st = child.try_wait();
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tipringd did not start its API ({st:?}); it said:\n{}",
                seen.join("\n")
            );
        }
        Daemon {
            child,
            log: rx,
            api,
            config: cfg,
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// Waits for the exit (at most `secs`); its status code.
    pub fn wait(&mut self, secs: u64) -> Option<i32> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos().into())
}

/// A small HTTP/1.1 client over TcpStream (the API's answers are small JSON): method, path,
/// body → status and body.
pub fn http(api: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let addr = api.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status: u16 = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    if !chunked {
        return (status, body.to_string());
    }
    // Chunked: size line (hex), data, CRLF; a zero size ends it.
    let mut rest = body;
    let mut data = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        data.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    (status, data)
}

/// Opens the API's event WebSocket (`GET /v1/events`).
pub fn events(api: &str) -> std::net::TcpStream {
    use std::io::{Read, Write};
    let addr = api.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the API");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("the upgrade answer");
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// The next text message on an event WebSocket (server frames are not masked).
pub fn next_event(s: &mut std::net::TcpStream) -> Option<String> {
    use std::io::Read;
    let mut h = [0u8; 2];
    s.read_exact(&mut h).ok()?;
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).ok()?;
            usize::from(u16::from_be_bytes(l))
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).ok()?;
            u64::from_be_bytes(l) as usize
        }
        n => usize::from(n),
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).ok()?;
    (h[0] & 0x0F == 1).then(|| String::from_utf8_lossy(&payload).into_owned())
}
