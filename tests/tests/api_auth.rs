//! API authentication on `tipringd`: an `[api] listen` listener speaks TLS and takes only
//! requests with a valid bearer token or HMAC signature; `[daemon] api` with
//! `auth_on_loopback` takes the same credentials over plain HTTP, from the `tipring` CLI
//! too. A refused request gets 401 with the reason and nothing is executed.

mod common;

use common::proc::{Daemon, http, tipring_cli};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// One HTTPS request (HTTP/1.1, `Connection: close`) trusting `cert`; status and body.
fn https(
    addr: &str,
    cert: &rustls::pki_types::CertificateDer<'static>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> (u16, String) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tls.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    // The server closes after the answer; a TLS close without close_notify is fine here.
    let _ = tls.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).to_string();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |x| x.1).to_string();
    (status, body)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn only_authenticated_requests_are_executed() {
    let dir = std::env::temp_dir().join(format!("tipring-e2e-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
    let cert = ck.cert.der().clone();
    let token = tipring_auth::new_token().unwrap();
    let secret = "00112233445566778899aabbccddeeff";
    let cfg = format!(
        "[daemon]\napi = \"127.0.0.1:0\"\nrt_priority = 0\ndrain_seconds = 1\n\n\
         [board]\nphones = 2\ntrunks = 2\n\n\
         [api]\nlisten = [\"127.0.0.1:0\"]\ntokens = [\"{}\"]\nkeys = {{ ops = \"hex:{secret}\" }}\n\
         tls_cert = \"{}\"\ntls_key = \"{}\"\nauth_on_loopback = true\n",
        tipring_auth::hash_token(&token),
        dir.join("cert.pem").display(),
        dir.join("key.pem").display(),
    );
    let d = Daemon::start(&cfg, &[]);
    let plain = d.api.clone();
    // The TLS listener's address, from its log line.
    let mut tls_addr = String::new();
    while tls_addr.is_empty() {
        let line = d
            .log
            .recv_timeout(Duration::from_secs(10))
            .expect("the TLS listener's log line");
        if let Some(i) = line.find("API listening on https://") {
            tls_addr = line[i + "API listening on https://".len()..]
                .split('/')
                .next()
                .unwrap()
                .to_string();
        }
    }
    let bearer = vec![("Authorization".to_string(), format!("Bearer {token}"))];

    // No credentials, a wrong token: 401 with the reason, and nothing done.
    let (st, b) = https(&tls_addr, &cert, "GET", "/v1/health", &[], "");
    assert_eq!(st, 401, "{b}");
    assert!(b.contains("no credentials"), "{b}");
    let wrong = vec![(
        "Authorization".to_string(),
        format!("Bearer {}", "x".repeat(64)),
    )];
    let (st, b) = https(
        &tls_addr,
        &cert,
        "POST",
        "/v1/sim/lines/3/ring",
        &wrong,
        "{}",
    );
    assert_eq!(st, 401, "{b}");
    assert!(b.contains("unknown token"), "{b}");
    let (st, b) = http(&plain, "POST", "/v1/sim/lines/3/ring", "{}");
    assert_eq!(st, 401, "plain HTTP with auth_on_loopback: {b}");
    let (st, b) = https(&tls_addr, &cert, "GET", "/v1/channels", &bearer, "");
    assert_eq!(st, 200, "{b}");
    let ch: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        ch[2]["state"], "idle",
        "the refused ring did not happen: {b}"
    );

    // A bearer token, and a signed request (once: its replay is refused).
    let (st, b) = https(&tls_addr, &cert, "GET", "/v1/health", &bearer, "");
    assert_eq!(st, 200, "{b}");
    let body = "{\"caller\": {\"number\": \"5550123\"}}";
    let signed: Vec<(String, String)> = tipring_auth::sign(
        "ops",
        &(0..secret.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&secret[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>(),
        "POST",
        "/v1/sim/lines/3/ring",
        body.as_bytes(),
        now(),
    )
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (st, b) = https(
        &tls_addr,
        &cert,
        "POST",
        "/v1/sim/lines/3/ring",
        &signed,
        body,
    );
    assert_eq!(st, 200, "{b}");
    let (st, b) = https(
        &tls_addr,
        &cert,
        "POST",
        "/v1/sim/lines/4/ring",
        &signed,
        body,
    );
    assert_eq!(st, 401, "a signature for another path: {b}");
    let (st, b) = https(
        &tls_addr,
        &cert,
        "POST",
        "/v1/sim/lines/3/ring",
        &signed,
        body,
    );
    assert_eq!(st, 401, "{b}");
    assert!(b.contains("replay"), "{b}");

    // The CLI: refused without credentials, served with a token or a key.
    let cli = |env: &[(&str, String)]| {
        let mut c = std::process::Command::new(tipring_cli());
        c.args(["--api", &plain, "channels"]);
        c.env_remove("TIPRING_TOKEN").env_remove("TIPRING_KEY");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = cli(&[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{out:?}"
    );
    assert!(cli(&[("TIPRING_TOKEN", token.clone())]).status.success());
    let out = cli(&[("TIPRING_KEY", format!("ops:{secret}"))]);
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"ringing\""));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A listener that is not loopback without credentials is a config error, by place.
#[test]
fn an_open_listener_elsewhere_is_refused() {
    let cfg = std::env::temp_dir().join(format!("tipring-e2e-open-{}.toml", std::process::id()));
    std::fs::write(&cfg, "[daemon]\napi = \"0.0.0.0:8080\"\n").unwrap();
    let out = std::process::Command::new(common::proc::tipringd())
        .arg("--config")
        .arg(&cfg)
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:2:7: daemon.api", cfg.display()))
            && err.contains("needs credentials"),
        "{err}"
    );
}
