//! The HTTP API, JSON under `/v1` (axum). Bad JSON and unknown ids get a 4xx with a JSON
//! `{"error": "…"}`; nothing a request sends can take the daemon down.

use crate::app::Shared;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tipring_hal::sim::{Script, Step};
use tipring_hal::{ChannelId, Digits};

/// An error answer.
#[derive(Debug)]
pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn not_found(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, msg.into())
}

/// Parses a JSON body (empty means `{}`), answering 400 with serde's words otherwise.
fn body<T: DeserializeOwned>(b: &Bytes) -> Result<T, ApiError> {
    let b: &[u8] = if b.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        b
    };
    serde_json::from_slice(b).map_err(|e| bad(format!("bad JSON body: {e}")))
}

/// The router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/v1/health", get(health))
        .route("/v1/channels", get(channels))
        .route("/v1/spans", get(spans))
        .route("/v1/channels/{n}/capture", post(capture))
        .route("/v1/records", get(records))
        .route("/v1/records.csv", get(records_csv))
        .route("/v1/calls", get(calls).post(originate))
        .route("/v1/calls/{id}", get(call).delete(hangup))
        .route("/v1/handlers", get(handlers))
        .route("/v1/handlers/{name}/enable", post(enable_handler))
        .route("/v1/handlers/reload", post(reload_handlers))
        .route("/v1/config/reload", post(reload_config))
        .route("/v1/events", get(events))
        .route("/v1/sim/lines/{n}/{action}", post(sim).get(sim_heard))
        .fallback(|| async { not_found("no such endpoint (see /v1/health, /v1/calls, /v1/channels, /v1/handlers, /v1/events)") })
        .with_state(shared)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaptureReq {
    on: bool,
}

/// `POST /v1/channels/N/capture {"on": true|false}`: a stereo WAV of the channel's audio
/// (left received, right sent) in the capture directory.
async fn capture(
    State(s): State<Arc<Shared>>,
    Path(n): Path<String>,
    raw: Bytes,
) -> Result<Json<Value>, ApiError> {
    let n: u32 = n
        .parse()
        .map_err(|_| bad(format!("channel {n:?} is not a number")))?;
    let req: CaptureReq = body(&raw)?;
    let dir = s
        .config
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .daemon
        .capture_dir();
    let mut sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    let code = |e: &crate::call::SwitchError| match e {
        crate::call::SwitchError::NoChannel(_) => StatusCode::NOT_FOUND,
        _ => StatusCode::CONFLICT,
    };
    if req.on {
        let file = sw
            .capture_start(n, &dir)
            .map_err(|e| ApiError(code(&e), e.to_string()))?;
        Ok(Json(
            json!({"channel": n, "capturing": true, "file": file.display().to_string()}),
        ))
    } else {
        let (file, secs) = sw
            .capture_stop(n)
            .map_err(|e| ApiError(code(&e), e.to_string()))?;
        Ok(Json(json!({
            "channel": n,
            "capturing": false,
            "file": file.display().to_string(),
            "seconds": secs,
        })))
    }
}

/// `GET /metrics`: Prometheus (OpenMetrics text).
async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let body = crate::metrics::render(&s);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn health(State(s): State<Arc<Shared>>) -> Json<Value> {
    let (channels, active, refused) = {
        let sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
        (sw.channels().len(), sw.active(), sw.limit_refusals)
    };
    let ticks: u64 = s.media.iter().map(|m| m.ticks.load(Relaxed)).sum();
    let missed: u64 = s.media.iter().map(|m| m.missed.load(Relaxed)).sum();
    let events_lost: u64 = s.media.iter().map(|m| m.events_lost.load(Relaxed)).sum();
    let bridge_slips: u64 = s.media.iter().map(|m| m.bridge_slips.load(Relaxed)).sum();
    let leaked: u64 = s.media.iter().map(|m| m.leaked.load(Relaxed)).sum();
    Json(json!({
        "status": if s.draining.load(Relaxed) { "draining" } else { "ok" },
        "version": env!("CARGO_PKG_VERSION"),
        "board": "sim",
        "channels": channels,
        "active_calls": active,
        "refused_at_limit": refused,
        "media": {
            "threads": s.media.len(),
            "ticks": ticks,
            "missed_ticks": missed,
            "events_lost": events_lost,
            "bridge_slips": bridge_slips,
            "buffers_leaked": leaked,
        },
    }))
}

async fn channels(State(s): State<Arc<Shared>>) -> Json<Value> {
    let sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!(sw.channels()))
}

/// The filters of `GET /v1/records[.csv]`: `from_ms`, `to_ms` (call end, Unix ms),
/// `channel`, `handler`, `cause`, `limit` (1..=1000, default 100), `offset`.
fn record_query(
    q: &std::collections::HashMap<String, String>,
) -> Result<crate::records::Query, ApiError> {
    let num = |k: &str| -> Result<Option<u64>, ApiError> {
        q.get(k)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("{k}: {v:?} is not a number")))
            })
            .transpose()
    };
    for k in q.keys() {
        if !matches!(
            k.as_str(),
            "from_ms" | "to_ms" | "channel" | "handler" | "cause" | "limit" | "offset"
        ) {
            return Err(bad(format!(
                "unknown filter {k:?} (from_ms, to_ms, channel, handler, cause, limit, offset)"
            )));
        }
    }
    let limit = num("limit")?.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(bad(format!("limit: {limit}: between 1 and 1000")));
    }
    let small = |k: &str| -> Result<Option<u32>, ApiError> {
        num(k)?
            .map(|v| u32::try_from(v).map_err(|_| bad(format!("{k}: {v} is too large"))))
            .transpose()
    };
    Ok(crate::records::Query {
        from_ms: num("from_ms")?,
        to_ms: num("to_ms")?,
        channel: small("channel")?,
        handler: q.get("handler").cloned(),
        cause: small("cause")?,
        limit: limit as u32,
        offset: small("offset")?.unwrap_or(0),
    })
}

fn stored(
    s: &Shared,
    q: &crate::records::Query,
) -> Result<Vec<crate::records::CallRecord>, ApiError> {
    let sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    match sw.records(q) {
        Some(Ok(r)) => Ok(r),
        Some(Err(e)) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        None => Err(not_found(
            "call records are not stored: set [records] path in the configuration",
        )),
    }
}

/// Stored call records, newest first, filtered and paged.
async fn records(
    State(s): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let q = record_query(&q)?;
    Ok(Json(json!(stored(&s, &q)?)))
}

/// The same as CSV (RFC 4180).
async fn records_csv(
    State(s): State<Arc<Shared>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<([(axum::http::header::HeaderName, &'static str); 1], String), ApiError> {
    let q = record_query(&q)?;
    let body = crate::records::csv(&stored(&s, &q)?);
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        body,
    ))
}

/// A DAHDI board's spans: alarms in words, and each PRI span's D-channel (its layer 1 and
/// the frames and HDLC errors seen on it). The sim has no spans: an empty list.
async fn spans(State(s): State<Arc<Shared>>) -> Json<Value> {
    let list: Vec<Value> = s
        .spans
        .iter()
        .flat_map(|b| b.spans.iter())
        .map(|c| {
            json!({
                "span": c.span,
                "alarms": c.alarms(),
                "dchannel": c.dchannel.map(|ch| json!({
                    "channel": ch,
                    "layer1": if c.layer1_up() { "up" } else { "down" },
                    "frames_in": c.frames_in(),
                    "errors": c.errors(),
                })),
            })
        })
        .collect();
    Json(Value::Array(list))
}

async fn calls(State(s): State<Arc<Shared>>) -> Json<Value> {
    let sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    Json(json!(sw.calls()))
}

fn parse_id(id: &str) -> Result<u64, ApiError> {
    id.parse()
        .map_err(|_| bad(format!("call id {id:?} is not a number")))
}

async fn call(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    sw.call(id)
        .map(|c| Json(json!(c)))
        .ok_or_else(|| not_found(format!("call {id}: no such call")))
}

async fn hangup(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let mut sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    sw.hangup(id).map_err(|e| not_found(e.to_string()))?;
    // `ended`, or `ending` while an isolated handler's last answers are due.
    let state = sw.call(id).map_or("ended", |c| c.state);
    Ok(Json(json!({"id": id, "state": state})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Originate {
    channel: Option<u32>,
    group: Option<String>,
    to: Option<String>,
    handler: Option<String>,
    #[serde(default)]
    params: Option<Value>,
    /// The calling number to present (SIP: `From`).
    caller: Option<String>,
    /// Withhold the calling number (SIP: anonymous `From`, `Privacy: id`).
    #[serde(default)]
    withhold: bool,
}

async fn originate(State(s): State<Arc<Shared>>, b: Bytes) -> Result<Response, ApiError> {
    let req: Originate = body(&b)?;
    if let Some(p) = &req.params
        && !p.is_object()
    {
        return Err(bad("params must be a JSON object"));
    }
    let params = req
        .params
        .map_or_else(|| "{}".to_string(), |p| p.to_string());
    let mut sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    let channel = match (req.channel, &req.group) {
        (Some(c), None) => c,
        (None, Some(g)) => {
            let members = sw
                .group_members(g)
                .ok_or_else(|| bad(format!("group {g:?}: no such group")))?;
            sw.idle_of(&members).ok_or_else(|| {
                ApiError(
                    StatusCode::CONFLICT,
                    format!("group {g:?}: no idle channel"),
                )
            })?
        }
        _ => return Err(bad("give exactly one of \"channel\" or \"group\"")),
    };
    let id = sw
        .originate_as(
            channel,
            req.to.as_deref(),
            req.handler.as_deref(),
            &params,
            req.caller.as_deref(),
            req.withhold,
        )
        .map_err(|e| {
            use crate::call::SwitchError as E;
            let code = match e {
                E::NoChannel(_) | E::NoHandler(_) => StatusCode::NOT_FOUND,
                E::ChannelBusy(..) | E::Ringing(_) => StatusCode::CONFLICT,
                E::Draining | E::Media(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_REQUEST,
            };
            ApiError(code, e.to_string())
        })?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id.0, "channel": channel})),
    )
        .into_response())
}

async fn handlers(State(s): State<Arc<Shared>>) -> Json<Value> {
    let sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    let r = sw.handlers();
    let hosts = sw.host_status();
    Json(json!({
        "loaded": r.loaded().iter().map(|h| {
            let mut v = json!({
                "name": h.name,
                "version": h.version,
                "file": h.path.display().to_string(),
                "abi": format!("{}.{}", h.abi.0, h.abi.1),
                "isolation": if h.is_isolated() { "process" } else { "in-process" },
                "state": "running",
            });
            if let Some(st) = hosts.get(&h.name) {
                v["state"] = json!(st.state);
                v["pid"] = json!(st.pid);
                v["restarts"] = json!(st.restarts);
                v["last_exit"] = json!(st.last_exit);
                v["disabled"] = json!(st.disabled);
            }
            v
        }).collect::<Vec<_>>(),
        "refused": r.refused().iter().map(|x| json!({
            "file": x.path.display().to_string(),
            "reason": x.reason,
        })).collect::<Vec<_>>(),
        "retiring": sw.retired_hosts().into_iter().map(|(name, version, pid, calls)| json!({
            "name": name,
            "version": version,
            "pid": pid,
            "calls": calls,
        })).collect::<Vec<_>>(),
    }))
}

/// `POST /v1/handlers/reload`: the handlers directory again; new versions take new calls.
async fn reload_handlers(State(s): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let r = tokio::task::spawn_blocking(move || {
        let cfg = s.config.lock().unwrap_or_else(|p| p.into_inner()).clone();
        crate::reload::handlers(&s.switch, &cfg)
    })
    .await
    .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    r.map(|rep| Json(json!(rep)))
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e))
}

/// `POST /v1/config/reload`: the config file again (as SIGHUP); a broken file gets 400
/// with its place and reason, and the running config stays.
async fn reload_config(State(s): State<Arc<Shared>>) -> Result<Json<Value>, ApiError> {
    let r = tokio::task::spawn_blocking(move || crate::reload::config(&s.switch, &s.config))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match r {
        Ok(rep) => Ok(Json(json!(rep))),
        Err(e) => {
            tracing::error!("config reload refused, the running config stays: {e}");
            Err(ApiError(StatusCode::BAD_REQUEST, e))
        }
    }
}

/// `POST /v1/handlers/NAME/enable`: a handler disabled for crashing takes calls again.
async fn enable_handler(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut sw = s.switch.lock().unwrap_or_else(|p| p.into_inner());
    if sw.handlers().get(&name).is_none() {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no handler {name:?} is loaded"),
        ));
    }
    if sw.enable_handler(&name) {
        Ok(Json(json!({"handler": name, "enabled": true})))
    } else {
        Err(ApiError(
            StatusCode::CONFLICT,
            format!("handler {name:?} is not disabled"),
        ))
    }
}

async fn events(State(s): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let rx = s.stream.subscribe();
    ws.on_upgrade(move |socket| stream(socket, rx))
}

async fn stream(mut socket: WebSocket, mut rx: tokio::sync::broadcast::Receiver<String>) {
    loop {
        match rx.recv().await {
            Ok(line) => {
                if socket.send(Message::Text(line.into())).await.is_err() {
                    return;
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let note = json!({"lagged": n}).to_string();
                if socket.send(Message::Text(note.into())).await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SimCaller {
    number: Option<String>,
    name: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct SimRing {
    caller: Option<SimCaller>,
    rings: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimDial {
    digits: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimPlay {
    file: String,
}

/// `GET /v1/sim/lines/{n}/heard`: what the far end on sim line `n` heard and did, oldest
/// first (`[{"at_ms": 1234, "event": "heard digit 5"}, ...]`).
async fn sim_heard(
    State(s): State<Arc<Shared>>,
    Path((n, what)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    if what != "heard" {
        return Err(not_found(format!("no sim query {what:?} (heard)")));
    }
    let n: u32 = n
        .parse()
        .map_err(|_| bad(format!("line {n:?} is not a number")))?;
    let lines = s
        .sim
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map_or(0, |sim| sim.lines());
    if lines < n || n == 0 {
        return Err(not_found(format!("no sim line {n}")));
    }
    let heard = s.sim_heard.lock().unwrap_or_else(|p| p.into_inner());
    let list: Vec<Value> = heard
        .get(&n)
        .into_iter()
        .flatten()
        .map(|(at, e)| json!({"at_ms": at, "event": e}))
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn sim(
    State(s): State<Arc<Shared>>,
    Path((n, action)): Path<(String, String)>,
    b: Bytes,
) -> Result<Json<Value>, ApiError> {
    let n: u32 = n
        .parse()
        .map_err(|_| bad(format!("line {n:?} is not a number")))?;
    let refused = |e: tipring_hal::sim::SimError| match e {
        tipring_hal::sim::SimError::NoSuchLine(..) => not_found(e.to_string()),
        tipring_hal::sim::SimError::Full(_) => {
            ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        _ => ApiError(StatusCode::CONFLICT, e.to_string()),
    };
    let mut guard = s.sim.lock().unwrap_or_else(|p| p.into_inner());
    let Some(sim) = guard.as_mut() else {
        return Err(not_found(
            "this board is not the sim: there are no simulated far ends",
        ));
    };
    match action.as_str() {
        "ring" => {
            let r: SimRing = body(&b)?;
            let caller = match r.caller {
                Some(c) => {
                    let mut id = tipring_dsp::cid::CallerId::default();
                    if let Some(num) = c.number {
                        id.number = Some(
                            num.as_str()
                                .try_into()
                                .map_err(|_| bad("caller.number: at most 20 characters"))?,
                        );
                    }
                    if let Some(name) = c.name {
                        id.name = Some(
                            name.as_str()
                                .try_into()
                                .map_err(|_| bad("caller.name: at most 50 characters"))?,
                        );
                    }
                    Some(id)
                }
                None => None,
            };
            let rings = r.rings.unwrap_or(10).clamp(1, 100);
            sim.ring_in(n, caller.as_ref(), rings, Script::new())
                .map_err(refused)?;
        }
        "offhook" => {
            let _: Value = body(&b)?;
            sim.offhook(n, Script::new()).map_err(refused)?;
        }
        "onhook" => {
            let _: Value = body(&b)?;
            sim.onhook(n).map_err(refused)?;
        }
        "dial" => {
            let d: SimDial = body(&b)?;
            let digits = Digits::parse(ChannelId(n), &d.digits).map_err(|e| bad(e.to_string()))?;
            let script: Script = std::iter::once(Step::Dial { digits }).collect();
            sim.run(n, script).map_err(refused)?;
        }
        "play" => {
            let p: SimPlay = body(&b)?;
            let wav = crate::wav::read(std::path::Path::new(&p.file)).map_err(bad)?;
            let script: Script = std::iter::once(Step::Play {
                audio: wav.samples.into(),
            })
            .collect();
            sim.run(n, script).map_err(refused)?;
        }
        other => {
            return Err(not_found(format!(
                "no sim action {other:?} (ring, offhook, dial, play, onhook)"
            )));
        }
    }
    Ok(Json(json!({"line": n, "action": action})))
}
