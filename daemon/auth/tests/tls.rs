//! TLS through `TlsListener` with a certificate made at test time: requests over TLS, a
//! plain-TCP client and a stalled client that do not stop the listener, and the
//! configuration errors naming the file.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use rustls::pki_types::{CertificateDer, ServerName};
use tipring_auth::{PeerAddr, TlsError, TlsListener, tls_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A fresh directory under Cargo's scratch space for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("tipring-auth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A self-signed certificate for `localhost` and 127.0.0.1: (cert.pem, key.pem, cert DER).
fn self_signed(dir: &Path) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key, ck.cert.der().clone())
}

fn connector(trusted: CertificateDer<'static>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_connect(connector: &TlsConnector, addr: SocketAddr) -> TlsStream<TcpStream> {
    tokio::time::timeout(STEP, async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await.expect("TLS handshake")
    })
    .await
    .expect("handshake in time")
}

/// Serves the test application over TLS; returns the address, call counter and a client.
async fn serve_tls(
    name: &str,
    handshake_timeout: Duration,
) -> (SocketAddr, Arc<AtomicUsize>, TlsConnector) {
    let dir = scratch(name);
    let (cert, key, der) = self_signed(&dir);
    let config = tls_config(&cert, &key).expect("a usable certificate and key");
    let calls = Arc::new(AtomicUsize::new(0));
    let (tcp, addr) = loopback().await;
    let listener = TlsListener::new(tcp, config).with_handshake_timeout(handshake_timeout);
    let app = app(verifier(), Arc::clone(&calls));
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<PeerAddr>(),
        )
        .await
    });
    (addr, calls, connector(der))
}

#[tokio::test]
async fn requests_over_tls_are_authenticated() {
    let (addr, calls, connector) = serve_tls("auth", Duration::from_millis(500)).await;
    let mut tls = tls_connect(&connector, addr).await;
    let r = exchange(&mut tls, &request("GET", "/v1/count", &bearer(TOKEN), b"")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "bearer token 0|/count|");

    let mut tls = tls_connect(&connector, addr).await;
    let r = exchange(&mut tls, &request("GET", "/v1/count", &[], b"")).await;
    assert_eq!(r.status, 401);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn plain_tcp_client_fails_and_the_listener_goes_on() {
    let (addr, calls, connector) = serve_tls("plain", Duration::from_millis(500)).await;

    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain
        .write_all(&request("GET", "/v1/count", &bearer(TOKEN), b""))
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The server gives up on the handshake and closes (perhaps after a TLS alert): the read
    // ends, and it is not HTTP.
    let read = tokio::time::timeout(STEP, plain.read_to_end(&mut answer))
        .await
        .expect("the server closes the plain connection");
    if read.is_ok() {
        assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    }

    let mut tls = tls_connect(&connector, addr).await;
    let r = exchange(&mut tls, &request("GET", "/v1/count", &bearer(TOKEN), b"")).await;
    assert_eq!(r.status, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn stalled_handshake_holds_up_no_one() {
    // A handshake timeout far beyond the test's time limit: if handshakes were done one
    // after the other, the request below would wait for the stalled one and time out.
    let (addr, _, connector) = serve_tls("stall", Duration::from_secs(3600)).await;
    let _stalled = TcpStream::connect(addr).await.unwrap();
    let _half = {
        // Another one that sends half a ClientHello record header and stops.
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        s
    };
    let mut tls = tls_connect(&connector, addr).await;
    let r = exchange(&mut tls, &request("GET", "/v1/count", &bearer(TOKEN), b"")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn stalled_handshake_is_closed_after_the_timeout() {
    let (addr, _, connector) = serve_tls("timeout", Duration::from_millis(300)).await;
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(STEP, stalled.read(&mut buf))
        .await
        .expect("the stalled connection is closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    // And the listener still serves.
    let mut tls = tls_connect(&connector, addr).await;
    let r = exchange(&mut tls, &request("GET", "/v1/count", &bearer(TOKEN), b"")).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn signed_post_over_tls() {
    let (addr, calls, connector) = serve_tls("signed", Duration::from_millis(500)).await;
    let body = b"dial 200";
    let headers = signed_headers("POST", "/v1/count", body);
    let mut tls = tls_connect(&connector, addr).await;
    let r = exchange(&mut tls, &request("POST", "/v1/count", &headers, body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "key \"ops\"|/count|dial 200");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn config_errors_name_the_file_and_the_problem() {
    let dir = scratch("errors");
    let (cert, key, _) = self_signed(&dir);
    let missing = dir.join("missing.pem");

    let e = tls_config(&missing, &key).unwrap_err();
    assert!(matches!(e, TlsError::Read { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("cannot read {}: ", missing.display())),
        "{e}"
    );

    // The key file given as the certificate, and the other way round.
    let e = tls_config(&key, &key).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} holds no certificate (no \"BEGIN CERTIFICATE\" block)",
            key.display()
        )
    );
    let e = tls_config(&cert, &cert).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{} holds no private key (no \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \
             \"BEGIN EC PRIVATE KEY\" block)",
            cert.display()
        )
    );

    // Another certificate's key.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let (_, other_key, _) = self_signed(&other);
    let e = tls_config(&cert, &other_key).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "the private key in {} does not match the certificate in {}",
            other_key.display(),
            cert.display()
        )
    );

    // Broken PEM.
    let broken = dir.join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\n!!!not base64!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let e = tls_config(&broken, &key).unwrap_err();
    assert!(matches!(e, TlsError::Pem { .. }), "{e:?}");
    assert!(
        e.to_string()
            .starts_with(&format!("{} is not valid PEM: ", broken.display())),
        "{e}"
    );

    // A key rustls cannot use (valid PEM, not a key).
    let junk_key = dir.join("junk-key.pem");
    std::fs::write(
        &junk_key,
        "-----BEGIN PRIVATE KEY-----\nAAECAwQFBgcICQ==\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let e = tls_config(&cert, &junk_key).unwrap_err();
    assert!(matches!(e, TlsError::UnusableKey { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with(&format!(
            "the private key in {} cannot be used: ",
            junk_key.display()
        )),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
