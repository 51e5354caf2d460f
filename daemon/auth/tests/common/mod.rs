//! A minimal HTTP/1.1 client over any stream, for the integration tests (raw bytes on the
//! wire, so nothing is hidden by a client library), and the test application.

#![allow(dead_code)] // Each test file uses a different part.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::http::Uri;
use axum::routing::get;
use axum::{Extension, Router, middleware};
use tipring_auth::{Credentials, PeerAddr, Principal, Verifier, hash_token};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Every network step of a test must finish within this.
pub const STEP: Duration = Duration::from_secs(10);

pub const TOKEN: &str = "integration-test-token-0123456789";
pub const KEY_ID: &str = "ops";
pub const SECRET: &[u8] = b"integration-test-secret";

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Bytes read after the body (after a 101: the first WebSocket frames).
    pub rest: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The `error` field of a JSON body.
    pub fn error(&self) -> String {
        let v: serde_json::Value = serde_json::from_slice(&self.body).expect("a JSON body");
        v["error"].as_str().expect("an \"error\" string").to_owned()
    }
}

/// Builds a request: `extra` header lines (without CRLF), then the body with its length.
pub fn request(method: &str, target: &str, extra: &[String], body: &[u8]) -> Vec<u8> {
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for line in extra {
        head.push_str(line);
        head.push_str("\r\n");
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// The header lines that sign a request now.
pub fn signed_headers(method: &str, target: &str, body: &[u8]) -> Vec<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    tipring_auth::sign(KEY_ID, SECRET, method, target, body, now)
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect()
}

pub fn bearer(token: &str) -> Vec<String> {
    vec![format!("Authorization: Bearer {token}")]
}

/// Sends `raw` and reads one response (headers, then `Content-Length` bytes of body).
pub async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, raw: &[u8]) -> Response {
    tokio::time::timeout(STEP, async {
        stream.write_all(raw).await.expect("request written");
        stream.flush().await.expect("request flushed");
        read_response(stream).await
    })
    .await
    .expect("a response within the time limit")
}

/// Reads one response's head and its `Content-Length` body; leaves anything after it.
pub async fn read_response<S: AsyncRead + Unpin>(stream: &mut S) -> Response {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("response readable");
        assert!(n > 0, "connection closed before a response head: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[head_end + 4..].to_vec();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| {
            v.parse::<usize>().expect("a numeric Content-Length")
        });
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.expect("body readable");
        assert!(n > 0, "connection closed inside the body");
        body.extend_from_slice(&chunk[..n]);
    }
    let rest = body.split_off(length);
    Response {
        status,
        headers,
        body,
        rest,
    }
}

/// The test application: `/v1/count` (GET or POST) counts its calls and answers
/// `principal|uri|body`; `/v1/ws` upgrades and sends "hello". The middleware sits on the
/// nested router, so the handlers see `/count` while clients sign `/v1/count`.
pub fn app(verifier: Arc<Verifier>, calls: Arc<AtomicUsize>) -> Router {
    let count = move |Extension(who): Extension<Principal>, uri: Uri, body: String| {
        let calls = Arc::clone(&calls);
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            format!("{who}|{uri}|{body}")
        }
    };
    let ws = |upgrade: WebSocketUpgrade| async move {
        upgrade.on_upgrade(|mut socket| async move {
            let _ = socket.send(Message::Text("hello".into())).await;
        })
    };
    let api = Router::new()
        .route("/count", get(count.clone()).post(count))
        .route("/ws", get(ws))
        .layer(middleware::from_fn_with_state(
            verifier,
            tipring_auth::require,
        ));
    Router::new().nest("/v1", api)
}

/// A verifier accepting [`TOKEN`] and the key [`KEY_ID`].
pub fn verifier() -> Arc<Verifier> {
    let mut creds = Credentials::new();
    creds.add_token_hash(&hash_token(TOKEN)).unwrap();
    creds.add_key(KEY_ID, SECRET).unwrap();
    Arc::new(Verifier::new(creds, tipring_auth::DEFAULT_REPLAY_WINDOW))
}

/// Binds 127.0.0.1 on a free port.
pub async fn loopback() -> (tokio::net::TcpListener, SocketAddr) {
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    (tcp, addr)
}

/// Serves the test application over plain TCP; returns its address and call counter.
pub async fn serve() -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (tcp, addr) = loopback().await;
    let app = app(verifier(), Arc::clone(&calls));
    tokio::spawn(async move {
        axum::serve(tcp, app.into_make_service_with_connect_info::<PeerAddr>()).await
    });
    (addr, calls)
}
