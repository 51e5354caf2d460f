//! The middleware in front of a real axum server on 127.0.0.1: refusals execute nothing,
//! bearer tokens and signed requests get through with their bodies intact.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use common::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

async fn send(addr: SocketAddr, raw: &[u8]) -> Response {
    let mut stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connected in time")
        .expect("connected");
    exchange(&mut stream, raw).await
}

fn assert_refused(r: &Response, reason: &str) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.error(), reason);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"tipring\"")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn unauthenticated_requests_get_401_json_and_run_nothing() {
    let (addr, calls) = serve().await;
    let r = send(addr, &request("GET", "/v1/count", &[], b"")).await;
    assert_refused(
        &r,
        "no credentials: send Authorization: Bearer TOKEN or sign the request \
         (X-Tipring-Key, X-Tipring-Timestamp, X-Tipring-Signature)",
    );
    let r = send(
        addr,
        &request("POST", "/v1/count", &bearer("not-the-token"), b"x"),
    )
    .await;
    assert_refused(&r, "unknown token");
    let mut wrong_key = signed_headers("POST", "/v1/count", b"x");
    wrong_key[0] = "x-tipring-key: nobody".into();
    let r = send(addr, &request("POST", "/v1/count", &wrong_key, b"x")).await;
    assert_refused(&r, "unknown key id \"nobody\"");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn bearer_token_gets_200() {
    let (addr, calls) = serve().await;
    let r = send(addr, &request("GET", "/v1/count?a=1", &bearer(TOKEN), b"")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The handler sees the principal, and its own (nested) URI.
    assert_eq!(r.text(), "bearer token 0|/count?a=1|");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn signed_post_gets_200_with_its_body_intact() {
    let (addr, calls) = serve().await;
    let body = br#"{"to":"sip:200@pbx","note":"caf\u00e9 \n tab\t"}"#;
    let headers = signed_headers("POST", "/v1/count?dry=1", body);
    let raw = request("POST", "/v1/count?dry=1", &headers, body);
    let r = send(addr, &raw).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let expected = format!(
        "key \"ops\"|/count?dry=1|{}",
        std::str::from_utf8(body).unwrap()
    );
    assert_eq!(r.text(), expected);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // The same bytes again are a replay, and run nothing.
    let r = send(addr, &raw).await;
    assert_refused(&r, "signature already used (replay)");
    // A changed body under the same signature does not match.
    let r = send(addr, &request("POST", "/v1/count?dry=1", &headers, b"{}")).await;
    assert_refused(&r, "signature does not match");
    // Signed for another path.
    let headers = signed_headers("POST", "/v1/count", body);
    let r = send(addr, &request("POST", "/v1/count?dry=0", &headers, body)).await;
    assert_refused(&r, "signature does not match");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn signed_body_over_the_limit_gets_413() {
    let (addr, calls) = serve().await;
    let headers = signed_headers("POST", "/v1/count", b"");
    let mut raw = request("POST", "/v1/count", &headers, b"");
    // Declare a body one byte over the limit and send only the head: the answer must come
    // from the declared length, before any of the body is read.
    let head = String::from_utf8(raw.clone()).unwrap().replace(
        "Content-Length: 0",
        &format!("Content-Length: {}", tipring_auth::SIGNED_BODY_LIMIT + 1),
    );
    raw = head.into_bytes();
    let r = send(addr, &raw).await;
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(
        r.error(),
        "a signed request's body may be at most 1048576 bytes"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    // Exactly at the limit is fine.
    let body = vec![b'a'; tipring_auth::SIGNED_BODY_LIMIT];
    let headers = signed_headers("POST", "/v1/count", &body);
    let r = send(addr, &request("POST", "/v1/count", &headers, &body)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), "key \"ops\"|/count|".len() + body.len());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn websocket_upgrade_works_with_a_bearer_token() {
    let (addr, _) = serve().await;
    let upgrade = |auth: &[String]| {
        let mut lines = vec![
            "Upgrade: websocket".to_owned(),
            "Connection: Upgrade".to_owned(),
            "Sec-WebSocket-Version: 13".to_owned(),
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==".to_owned(),
        ];
        lines.extend_from_slice(auth);
        // `request` adds "Connection: close"; an upgrade must not have it.
        String::from_utf8(request("GET", "/v1/ws", &lines, b""))
            .unwrap()
            .replace("Connection: close\r\n", "")
            .into_bytes()
    };
    let r = send(addr, &upgrade(&[])).await;
    assert_eq!(r.status, 401);

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let r = exchange(&mut stream, &upgrade(&bearer(TOKEN))).await;
    assert_eq!(r.status, 101, "{}", r.text());
    // RFC 6455 section 1.3's example key and accept value.
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    // The server's first frame: FIN + text, unmasked, 5 bytes, "hello".
    let mut frame = r.rest;
    while frame.len() < 7 {
        let mut chunk = [0u8; 64];
        let n = tokio::time::timeout(STEP, stream.read(&mut chunk))
            .await
            .expect("a frame in time")
            .expect("a frame");
        assert!(n > 0, "closed before the frame: {frame:?}");
        frame.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(&frame[..7], b"\x81\x05hello");
}
