//! The axum middleware: refuse before the handler runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Extensions, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::Verifier;
use crate::peer::PeerAddr;

/// The largest body a signed request may have, in bytes (1 MiB). The body must be held in
/// memory to check its hash.
pub const SIGNED_BODY_LIMIT: usize = 1 << 20;

/// Lets a request through to the handler only if `v` authenticates it.
///
/// For [`axum::middleware::from_fn_with_state`]:
///
/// ```
/// # use std::{sync::Arc, time::Duration};
/// # use axum::{Router, middleware, routing::get};
/// # use tipring_auth::{Credentials, Verifier, hash_token};
/// let mut creds = Credentials::new();
/// creds.add_token_hash(&hash_token("an operator's long random token"))?;
/// let verifier = Arc::new(Verifier::new(creds, Duration::from_secs(300)));
/// let app: Router = Router::new()
///     .route("/v1/health", get(|| async { "ok" }))
///     .layer(middleware::from_fn_with_state(verifier, tipring_auth::require));
/// # Ok::<(), tipring_auth::CredentialsError>(())
/// ```
///
/// A signed request's body is read (up to [`SIGNED_BODY_LIMIT`], else 413 Payload Too
/// Large) and handed on to the handler intact; other bodies are not touched. On success the
/// request carries the [`Principal`](crate::Principal) as an extension. On failure the
/// handler is not called: the answer is the [`AuthError::status`](crate::AuthError::status)
/// (401, with `WWW-Authenticate: Bearer realm="tipring"`) and a JSON body
/// `{"error": "<reason>"}`, and the refusal is logged with `tracing::warn!` (method, path
/// without the query, peer address when the service was made with `ConnectInfo` of
/// [`PeerAddr`] or `SocketAddr`, and the reason).
///
/// The signed path is the request's original one ([`OriginalUri`]), so the layer may sit on
/// a nested router.
pub async fn require(State(v): State<Arc<Verifier>>, req: Request, next: Next) -> Response {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let method = req.method().clone();
    let peer = peer(req.extensions());
    let refuse = |status: StatusCode, reason: &dyn std::fmt::Display| {
        tracing::warn!(
            %method,
            path = uri.path(),
            peer = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string()),
            %reason,
            "API request refused"
        );
        refusal(status, &reason.to_string())
    };

    let (parts, body) = req.into_parts();
    let pending = match v.check_headers(&parts.headers, now) {
        Ok(pending) => pending,
        Err(e) => return refuse(e.status(), &e),
    };
    let (body, bytes) = if pending.needs_body() {
        match read_body(&parts.headers, body).await {
            Ok(bytes) => (Body::from(bytes.clone()), bytes),
            Err((status, reason)) => return refuse(status, &reason),
        }
    } else {
        (body, Bytes::new())
    };
    match v.finish(pending, method.as_str(), path_and_query, &bytes, now) {
        Ok(principal) => {
            let mut req = Request::from_parts(parts, body);
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Err(e) => refuse(e.status(), &e),
    }
}

/// Reads a signed request's whole body, refusing one over [`SIGNED_BODY_LIMIT`].
async fn read_body(headers: &http::HeaderMap, body: Body) -> Result<Bytes, (StatusCode, String)> {
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a signed request's body may be at most {SIGNED_BODY_LIMIT} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > SIGNED_BODY_LIMIT as u64) {
        return Err(too_large());
    }
    match Limited::new(body, SIGNED_BODY_LIMIT).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err((
            StatusCode::BAD_REQUEST,
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// The peer's address, if the service was made with connect info.
fn peer(ext: &Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<PeerAddr>>()
        .map(|c| c.0.0)
        .or_else(|| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0))
}

/// A JSON refusal: `{"error": reason}`, with the Bearer challenge on a 401.
fn refusal(status: StatusCode, reason: &str) -> Response {
    let mut response = Response::new(Body::from(
        serde_json::json!({ "error": reason }).to_string(),
    ));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"tipring\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn body_up_to_the_limit_is_read_whole() {
        let body = vec![7u8; SIGNED_BODY_LIMIT];
        let read = run(read_body(&HeaderMap::new(), Body::from(body.clone())));
        assert_eq!(read.as_deref(), Ok(&body[..]));
    }

    #[test]
    fn undeclared_body_over_the_limit_is_413() {
        // No Content-Length (as with chunked encoding): the limit is counted while reading.
        let body = Body::from(vec![7u8; SIGNED_BODY_LIMIT + 1]);
        let (status, reason) = run(read_body(&HeaderMap::new(), body)).unwrap_err();
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(
            reason,
            "a signed request's body may be at most 1048576 bytes"
        );
    }

    #[test]
    fn declared_length_over_the_limit_is_413_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(SIGNED_BODY_LIMIT + 1));
        let (status, _) = run(read_body(&headers, Body::empty())).unwrap_err();
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn refusal_is_json_with_the_bearer_challenge() {
        let r = refusal(StatusCode::UNAUTHORIZED, "unknown \"key\"");
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[WWW_AUTHENTICATE], "Bearer realm=\"tipring\"");
        assert_eq!(r.headers()[CONTENT_TYPE], "application/json");
        let body = run(r.into_body().collect()).unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"error":"unknown \"key\""}"#);
        let r = refusal(StatusCode::SERVICE_UNAVAILABLE, "busy");
        assert!(r.headers().get(WWW_AUTHENTICATE).is_none());
    }
}
