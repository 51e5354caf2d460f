//! What a refusal writes to the log: the peer, method, path and reason, never the token
//! or the query.
//!
//! Alone in its own test binary on purpose. `tracing` caches each call site's interest
//! once per process, computed on whichever thread reaches it first: a sibling test that
//! is refused on a thread without a subscriber pins the refusal's `warn!` to "never", and
//! this test's thread-local subscriber then sees nothing (it failed that way once in CI).
//! With no sibling tests, this thread is the only one to reach it.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use tokio::net::TcpStream;

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A current-thread runtime: the server's tasks run on this thread, under the test's
// subscriber.
#[tokio::test(flavor = "current_thread")]
async fn refusals_are_logged_with_peer_and_reason_but_not_the_token() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (addr, _) = serve().await;
    let secret_looking = "wrong-but-secret-looking-token-XYZ";
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let me = stream.local_addr().unwrap();
    let raw = request(
        "DELETE",
        "/v1/count?q=private",
        &bearer(secret_looking),
        b"",
    );
    let r = exchange(&mut stream, &raw).await;
    assert_eq!(r.status, 401);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("API request refused"), "{text}");
    assert!(text.contains("method=DELETE"), "{text}");
    assert!(text.contains("path=\"/v1/count\""), "{text}");
    assert!(text.contains(&format!("peer=\"{me}\"")), "{text}");
    assert!(text.contains("reason=unknown token"), "{text}");
    assert!(!text.contains(secret_looking), "{text}");
    assert!(!text.contains("private"), "{text}");
}
