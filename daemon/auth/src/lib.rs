//! Authentication for tipringd's HTTP API.
//!
//! Every API listener that is not on loopback ([`is_loopback`]) is put behind [`require`]:
//! a request is handled only if it carries a valid bearer token, a valid HMAC-SHA256
//! signature, or both (then both must be valid). Anything else gets `401 Unauthorized` with
//! a JSON body `{"error": "<reason>"}` and a `WWW-Authenticate: Bearer realm="tipring"`
//! header, and nothing is executed. TLS comes from rustls ([`tls_config`], [`TlsListener`])
//! when a certificate is configured.
//!
//! # Bearer tokens
//!
//! Send `Authorization: Bearer TOKEN`. The daemon stores only [`hash_token`] of each
//! accepted token (`sha256:` and 64 lowercase hex digits of SHA-256 of the token) and
//! compares hashes in constant time. [`new_token`] makes a good token (32 random bytes as
//! 64 hex digits). A bearer token is sent as is on every request: use it over TLS or on
//! loopback.
//!
//! # Signed requests
//!
//! A client holding a key id and its secret (at least 16 bytes) adds three headers:
//!
//! | header | value |
//! |---|---|
//! | `X-Tipring-Key` | the key id |
//! | `X-Tipring-Timestamp` | the time of signing, Unix seconds, decimal without leading zeros |
//! | `X-Tipring-Signature` | lowercase hex of HMAC-SHA256(secret, canonical string) |
//!
//! The canonical string is four lines joined by `\n` (no `\n` at the end):
//!
//! ```text
//! {timestamp}
//! {METHOD}
//! {path and query}
//! {lowercase hex SHA-256 of the body}
//! ```
//!
//! - the timestamp exactly as in `X-Tipring-Timestamp`;
//! - the method in upper case (`GET`, `POST`, `DELETE`);
//! - the request target as sent on the request line: path and query string, same
//!   percent-encoding, no scheme or host (`/v1/calls?state=up`);
//! - the SHA-256 of the body bytes as sent; of zero bytes when there is no body
//!   (`e3b0c442…b855`).
//!
//! The server accepts the signature only if the timestamp is within the replay window of its
//! own clock (default 300 s either way, [`DEFAULT_REPLAY_WINDOW`]) and that signature has not
//! been accepted before: accepted signatures are remembered until their timestamp leaves the
//! window, so a captured request cannot be replayed. Sign every request afresh, retries
//! included; two identical requests in the same second have the same signature, so the second
//! is refused as a replay. The server remembers at most [`DEFAULT_REPLAY_CAPACITY`]
//! signatures; when that many are unexpired it answers `503` until some expire. A signed
//! request's body may be at most 1 MiB ([`SIGNED_BODY_LIMIT`], else `413`).
//!
//! [`sign`] computes the headers; [`canonical_string`] shows the string signed:
//!
//! ```
//! use std::time::{SystemTime, UNIX_EPOCH};
//!
//! let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
//! let body = br#"{"to":"sip:200@pbx"}"#;
//! let headers = tipring_auth::sign("ops", b"a secret of 16+ bytes", "POST", "/v1/calls", body, now);
//! // headers == [("x-tipring-key", "ops"), ("x-tipring-timestamp", "<now>"),
//! //             ("x-tipring-signature", "<64 hex digits>")]: add them to the request.
//! # assert_eq!(headers[0].1, "ops");
//!
//! // The server side, for comparison:
//! let mut creds = tipring_auth::Credentials::new();
//! creds.add_key("ops", b"a secret of 16+ bytes")?;
//! let verifier = tipring_auth::Verifier::new(creds, tipring_auth::DEFAULT_REPLAY_WINDOW);
//! let mut map = http::HeaderMap::new();
//! for (name, value) in &headers {
//!     map.insert(*name, value.parse()?);
//! }
//! let who = verifier.check("POST", "/v1/calls", &map, body, now)?;
//! assert_eq!(who, tipring_auth::Principal::Key { id: "ops".into() });
//! // The same request again is a replay.
//! assert_eq!(
//!     verifier.check("POST", "/v1/calls", &map, body, now),
//!     Err(tipring_auth::AuthError::Replay)
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors seen by clients
//!
//! The `error` string is the [`AuthError`]'s message: it says what is wrong (no
//! credentials, unknown token, unknown key id, clock skew with the distance and the window,
//! signature mismatch, replay, a malformed header) and never repeats a token or secret.

#![deny(missing_docs)]

mod credentials;
mod hex;
mod middleware;
mod peer;
mod replay;
mod signing;
mod tls;
mod token;
mod verifier;

pub use credentials::{Credentials, CredentialsError, MAX_KEY_ID_LEN, MIN_SECRET_LEN};
pub use middleware::{SIGNED_BODY_LIMIT, require};
pub use peer::{PeerAddr, is_loopback};
pub use signing::{KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, canonical_string, sign};
pub use tls::{
    DEFAULT_HANDSHAKE_TIMEOUT, MAX_PENDING_HANDSHAKES, TlsError, TlsListener, tls_config,
};
pub use token::{hash_token, new_token};
pub use verifier::{
    AuthError, DEFAULT_REPLAY_CAPACITY, DEFAULT_REPLAY_WINDOW, Principal, Verifier,
};
