//! The daemon's API from the tests: GET as JSON, POST expecting 200, waiting on calls.

use super::proc::http;
use serde_json::Value;
use std::time::{Duration, Instant};

/// GET `path`; asserts 200 and JSON.
pub fn json(api: &str, path: &str) -> Value {
    let (st, b) = http(api, "GET", path, "");
    assert_eq!(st, 200, "{path}: {b}");
    serde_json::from_str(&b).unwrap_or_else(|_| panic!("{path}: not JSON: {b}"))
}

/// POST `body` to `path`; asserts 200.
pub fn post(api: &str, path: &str, body: &str) {
    let (st, b) = http(api, "POST", path, body);
    assert_eq!(st, 200, "POST {path} {body}: {b}");
}

/// Waits (at most `secs`) until `f` holds for the API's calls (`what` says what for the
/// failure); returns them.
pub fn wait_calls(api: &str, secs: u64, what: &str, f: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let calls = json(api, "/v1/calls");
        let calls = calls.as_array().cloned().unwrap_or_default();
        if f(&calls) {
            return calls;
        }
        assert!(
            Instant::now() < deadline,
            "{what} within {secs} s; calls now:\n{}",
            calls
                .iter()
                .map(|c| format!(
                    "{} ch {} {} {} {} cause {} {}",
                    c["id"],
                    c["channel"],
                    c["handler"],
                    c["handler_version"],
                    c["state"],
                    c["cause"],
                    c["events"]
                ))
                .collect::<Vec<_>>()
                .join("\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A 4-digit code for line `n` (distinct for the lines the tests use).
pub fn code(n: u32) -> String {
    format!("{:04}", (n * 7919) % 10_000)
}
