//! `tipring status|channels|calls|call|originate|hangup|handlers|sim`: the daemon's API from
//! the shell. Prints the API's JSON (pretty); errors are the API's reason, one line, with
//! exit status 1 (2 for bad usage).
//!
//! Credentials for a listener that authenticates come from the environment:
//! `TIPRING_TOKEN` (a bearer token) and/or `TIPRING_KEY=ID:HEXSECRET` (each request signed
//! with HMAC-SHA256, `tipring_auth::sign`).

use super::Failure;
use clap::Subcommand;
use serde_json::{Value, json};

/// Commands that talk to a running tipringd.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// The exchange rings the board on exchange line N (an inbound call).
    Ring {
        /// Line (channel) number.
        line: u32,
        /// Caller ID number.
        #[arg(long)]
        number: Option<String>,
        /// Caller ID name.
        #[arg(long)]
        name: Option<String>,
        /// Rings before the caller gives up.
        #[arg(long)]
        rings: Option<u32>,
    },
    /// The phone on line N goes off hook.
    Offhook {
        /// Line number.
        line: u32,
    },
    /// The party on line N keys DTMF.
    Dial {
        /// Line number.
        line: u32,
        /// Digits.
        digits: String,
    },
    /// The party on line N plays a WAV file (8 kHz mono).
    Play {
        /// Line number.
        line: u32,
        /// The file, as the daemon sees it.
        file: String,
    },
    /// The phone on line N hangs up.
    Onhook {
        /// Line number.
        line: u32,
    },
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into()
}

fn url(api: &str, path: &str) -> String {
    format!("{}{path}", api.trim_end_matches('/'))
}

fn send(
    api: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<ureq::http::Response<ureq::Body>, Failure> {
    let bytes = body.map(|b| b.to_string()).unwrap_or_default().into_bytes();
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(url(api, path))
        .header("content-type", "application/json");
    if let Ok(t) = std::env::var("TIPRING_TOKEN") {
        req = req.header("authorization", format!("Bearer {}", t.trim()));
    }
    if let Ok(k) = std::env::var("TIPRING_KEY") {
        let Some((id, hex)) = k.trim().split_once(':') else {
            return Err(Failure::input("TIPRING_KEY: expected ID:HEXSECRET"));
        };
        let secret: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        let secret = secret
            .filter(|_| hex.len().is_multiple_of(2))
            .ok_or_else(|| Failure::input("TIPRING_KEY: the secret is not hex"))?;
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for (h, v) in tipring_auth::sign(id, &secret, method, path, &bytes, ts) {
            req = req.header(h, v);
        }
    }
    let req = req
        .body(bytes)
        .map_err(|e| Failure::input(format!("{method} {path}: {e}")))?;
    agent()
        .run(req)
        .map_err(|e| Failure::runtime(format!("cannot reach tipringd at {api}: {e}")))
}

fn answer(r: ureq::http::Response<ureq::Body>, api: &str) -> Result<Value, Failure> {
    let mut r = r;
    let status = r.status();
    let v: Value = r
        .body_mut()
        .read_json()
        .map_err(|e| Failure::runtime(format!("{api}: not a JSON answer: {e}")))?;
    if status.is_success() {
        Ok(v)
    } else {
        let why = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        Err(Failure::runtime(format!("{} {why}", status.as_u16())))
    }
}

/// GET `path`.
pub fn get(api: &str, path: &str) -> Result<Value, Failure> {
    answer(send(api, "GET", path, None)?, api)
}

/// GET `path` as text (CSV); a failure's JSON reason becomes the error.
pub fn get_text(api: &str, path: &str) -> Result<String, Failure> {
    let mut r = send(api, "GET", path, None)?;
    let status = r.status();
    let text = r
        .body_mut()
        .read_to_string()
        .map_err(|e| Failure::runtime(format!("{api}: {e}")))?;
    if status.is_success() {
        return Ok(text);
    }
    let why = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
        .unwrap_or(text);
    Err(Failure::runtime(format!("{} {why}", status.as_u16())))
}

/// POST `body` to `path`.
pub fn post(api: &str, path: &str, body: &Value) -> Result<Value, Failure> {
    answer(send(api, "POST", path, Some(body))?, api)
}

/// DELETE `path`.
pub fn delete(api: &str, path: &str) -> Result<Value, Failure> {
    answer(send(api, "DELETE", path, None)?, api)
}

/// Prints `v` as pretty JSON.
pub fn print(v: &Value) -> Result<(), Failure> {
    use std::io::Write as _;
    let s = serde_json::to_string_pretty(v).unwrap_or_default();
    match writeln!(std::io::stdout().lock(), "{s}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::runtime(format!("stdout: {e}"))),
    }
}

/// Runs a sim command.
pub fn sim(api: &str, cmd: SimCommand) -> Result<Value, Failure> {
    match cmd {
        SimCommand::Ring {
            line,
            number,
            name,
            rings,
        } => {
            let mut body = json!({});
            if number.is_some() || name.is_some() {
                body["caller"] = json!({"number": number, "name": name});
            }
            if let Some(r) = rings {
                body["rings"] = r.into();
            }
            post(api, &format!("/v1/sim/lines/{line}/ring"), &body)
        }
        SimCommand::Offhook { line } => {
            post(api, &format!("/v1/sim/lines/{line}/offhook"), &json!({}))
        }
        SimCommand::Onhook { line } => {
            post(api, &format!("/v1/sim/lines/{line}/onhook"), &json!({}))
        }
        SimCommand::Dial { line, digits } => post(
            api,
            &format!("/v1/sim/lines/{line}/dial"),
            &json!({"digits": digits}),
        ),
        SimCommand::Play { line, file } => post(
            api,
            &format!("/v1/sim/lines/{line}/play"),
            &json!({"file": file}),
        ),
    }
}
