//! The verifier: which request is authenticated, and by what.

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use sha2::Sha256;

use crate::credentials::Credentials;
use crate::hex;
use crate::replay::{Refused, ReplayCache};
use crate::signing::{KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, canonical_string};
use crate::token::TokenHash;

/// The replay window unless told otherwise: 300 s either side of the server's clock.
pub const DEFAULT_REPLAY_WINDOW: Duration = Duration::from_secs(300);
/// How many accepted signatures the replay cache holds unless told otherwise.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The longest key id an error message repeats, in characters.
const SHOWN_KEY_ID: usize = 64;

/// Checks requests against [`Credentials`]: a bearer token, an HMAC signature, or both.
///
/// `Send + Sync`; share one in an `Arc` between all connections so the replay cache is shared.
#[derive(Debug)]
pub struct Verifier {
    credentials: Credentials,
    window: u64,
    replay: Mutex<ReplayCache>,
}

/// How a request was authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A bearer token: the number of its hash in the [`Credentials`], from 0.
    Token {
        /// The token's number.
        index: usize,
    },
    /// A signature made with the key `id`.
    Key {
        /// The key id.
        id: String,
    },
    /// Both a bearer token and a signature, each valid.
    TokenAndKey {
        /// The token's number.
        index: usize,
        /// The key id.
        id: String,
    },
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Token { index } => write!(f, "bearer token {index}"),
            Self::Key { id } => write!(f, "key {id:?}"),
            Self::TokenAndKey { index, id } => write!(f, "bearer token {index} and key {id:?}"),
        }
    }
}

/// Why a request is not authenticated. The messages are meant for the client: they say what
/// is wrong and never repeat a token or a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// Neither an `Authorization` header nor any signature header.
    #[error(
        "no credentials: send Authorization: Bearer TOKEN or sign the request \
         (X-Tipring-Key, X-Tipring-Timestamp, X-Tipring-Signature)"
    )]
    NoCredentials,
    /// The `Authorization` header is not `Bearer TOKEN`.
    #[error("malformed Authorization header: {why}")]
    MalformedAuthorization {
        /// What is wrong with it.
        why: &'static str,
    },
    /// The bearer token's hash is not among the accepted ones.
    #[error("unknown token")]
    UnknownToken,
    /// A header that must appear once appears more than once.
    #[error("more than one {header} header")]
    DuplicateHeader {
        /// The header's name.
        header: &'static str,
    },
    /// Some but not all of the three signature headers.
    #[error(
        "incomplete signature: {missing} is missing (a signed request sends X-Tipring-Key, \
         X-Tipring-Timestamp and X-Tipring-Signature)"
    )]
    IncompleteSignature {
        /// The missing header's name.
        missing: &'static str,
    },
    /// A signature header's value has the wrong form.
    #[error("malformed {header}: expected {expected}")]
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What its value should be.
        expected: &'static str,
    },
    /// No key has this id (shown cut to 64 characters).
    #[error("unknown key id {0:?}")]
    UnknownKeyId(String),
    /// The timestamp is further from the server's clock than the replay window.
    #[error(
        "timestamp {ts} is {skew} s {} this server's clock (window {window} s)",
        if *ahead { "ahead of" } else { "behind" }
    )]
    ClockSkew {
        /// The request's timestamp.
        ts: u64,
        /// Its distance from the server's clock, in seconds.
        skew: u64,
        /// Whether it is in the server's future.
        ahead: bool,
        /// The replay window, in seconds.
        window: u64,
    },
    /// The signature is not the HMAC of this request under the named key.
    #[error("signature does not match")]
    SignatureMismatch,
    /// This signature was accepted before, within the replay window.
    #[error("signature already used (replay)")]
    Replay,
    /// The replay cache is full of unexpired signatures; a correctly signed request is refused
    /// rather than the cache growing without bound.
    #[error(
        "too many signed requests within the replay window ({capacity} remembered): \
         retry later or use a bearer token"
    )]
    ReplayCacheFull {
        /// The cache's capacity.
        capacity: usize,
    },
}

impl AuthError {
    /// The HTTP status to answer with: 503 Service Unavailable for
    /// [`ReplayCacheFull`](Self::ReplayCacheFull) (the request may be good; the server is
    /// busy), 401 Unauthorized for everything else.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::ReplayCacheFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }
}

/// What the headers alone establish; the body is needed only to check a signature.
#[derive(Debug)]
pub(crate) struct Pending<'a> {
    token: Option<usize>,
    signed: Option<Signed<'a>>,
}

#[derive(Debug)]
struct Signed<'a> {
    id: &'a str,
    mac: &'a Hmac<Sha256>,
    ts: u64,
    signature: [u8; 32],
}

impl Pending<'_> {
    /// Whether [`Verifier::finish`] needs the request body (the request is signed).
    pub(crate) fn needs_body(&self) -> bool {
        self.signed.is_some()
    }
}

impl Verifier {
    /// A verifier accepting `credentials`, with signature timestamps allowed to be
    /// `replay_window` (whole seconds; a fraction is dropped) either side of the clock, and a
    /// replay cache of [`DEFAULT_REPLAY_CAPACITY`] signatures.
    #[must_use]
    pub fn new(credentials: Credentials, replay_window: Duration) -> Self {
        Self {
            credentials,
            window: replay_window.as_secs(),
            replay: Mutex::new(ReplayCache::new(DEFAULT_REPLAY_CAPACITY)),
        }
    }

    /// Sets how many accepted signatures the replay cache holds (and so how many signed
    /// requests are accepted within one replay window); it starts empty.
    #[must_use]
    pub fn with_replay_capacity(self, capacity: usize) -> Self {
        Self {
            replay: Mutex::new(ReplayCache::new(capacity)),
            ..self
        }
    }

    /// The replay window, in whole seconds.
    #[must_use]
    pub fn replay_window(&self) -> Duration {
        Duration::from_secs(self.window)
    }

    /// How many signatures the replay cache holds now (expired ones included until the next
    /// signed request drops them).
    #[must_use]
    pub fn replay_entries(&self) -> usize {
        self.cache().len()
    }

    /// Checks one request. `method` and `path_and_query` are as on the request line, `body`
    /// the whole body (only read if the request is signed), `now_unix` the server's clock in
    /// Unix seconds.
    ///
    /// Either a valid bearer token or a valid signature authenticates; when both are sent,
    /// both must be valid. An accepted signature is remembered and refused if seen again
    /// while its timestamp is within the window.
    ///
    /// # Errors
    ///
    /// The first thing found wrong, as an [`AuthError`]. A refused request leaves the replay
    /// cache unchanged.
    pub fn check(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &[u8],
        now_unix: u64,
    ) -> Result<Principal, AuthError> {
        let pending = self.check_headers(headers, now_unix)?;
        self.finish(pending, method, path_and_query, body, now_unix)
    }

    /// The checks that need only the headers: the bearer token, the key id, the timestamp.
    pub(crate) fn check_headers<'a>(
        &'a self,
        headers: &HeaderMap,
        now_unix: u64,
    ) -> Result<Pending<'a>, AuthError> {
        let bearer = bearer_token(headers)?;
        let signature = signature_headers(headers)?;
        if bearer.is_none() && signature.is_none() {
            return Err(AuthError::NoCredentials);
        }
        let token = match bearer {
            Some(token) => Some(self.token_index(token)?),
            None => None,
        };
        let signed = match signature {
            Some(raw) => Some(self.check_signature_headers(raw, now_unix)?),
            None => None,
        };
        Ok(Pending { token, signed })
    }

    /// The checks that need the body: the signature itself, then the replay cache.
    pub(crate) fn finish(
        &self,
        pending: Pending<'_>,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now_unix: u64,
    ) -> Result<Principal, AuthError> {
        let key = match pending.signed {
            None => None,
            Some(signed) => {
                let mut mac = signed.mac.clone();
                mac.update(canonical_string(signed.ts, method, path_and_query, body).as_bytes());
                mac.verify_slice(&signed.signature)
                    .map_err(|_| AuthError::SignatureMismatch)?;
                let expires_at = signed.ts.saturating_add(self.window);
                let mut cache = self.cache();
                cache
                    .record(signed.signature, expires_at, now_unix)
                    .map_err(|refused| match refused {
                        Refused::Replay => AuthError::Replay,
                        Refused::Full => AuthError::ReplayCacheFull {
                            capacity: cache.capacity(),
                        },
                    })?;
                Some(signed.id.to_owned())
            }
        };
        match (pending.token, key) {
            (Some(index), Some(id)) => Ok(Principal::TokenAndKey { index, id }),
            (Some(index), None) => Ok(Principal::Token { index }),
            (None, Some(id)) => Ok(Principal::Key { id }),
            (None, None) => Err(AuthError::NoCredentials),
        }
    }

    fn token_index(&self, token: &str) -> Result<usize, AuthError> {
        let presented = TokenHash::of(token);
        // Every stored hash is compared, each in constant time.
        let mut found = None;
        for (index, stored) in self.credentials.tokens.iter().enumerate() {
            if stored.matches(&presented) && found.is_none() {
                found = Some(index);
            }
        }
        found.ok_or(AuthError::UnknownToken)
    }

    fn check_signature_headers<'a>(
        &'a self,
        raw: RawSignature<'_>,
        now_unix: u64,
    ) -> Result<Signed<'a>, AuthError> {
        let Some((id, mac)) = self.credentials.keys.get_key_value(raw.key) else {
            return Err(AuthError::UnknownKeyId(
                raw.key.chars().take(SHOWN_KEY_ID).collect(),
            ));
        };
        let ts = parse_timestamp(raw.timestamp)?;
        let skew = now_unix.abs_diff(ts);
        if skew > self.window {
            return Err(AuthError::ClockSkew {
                ts,
                skew,
                ahead: ts > now_unix,
                window: self.window,
            });
        }
        let signature = hex::decode::<32>(raw.signature).ok_or(AuthError::MalformedHeader {
            header: "X-Tipring-Signature",
            expected: "64 hex digits (HMAC-SHA256)",
        })?;
        Ok(Signed {
            id,
            mac,
            ts,
            signature,
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, ReplayCache> {
        // Nothing panics while the lock is held; if something did, the cache is still whole.
        self.replay.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The three signature headers' values, as sent.
struct RawSignature<'a> {
    key: &'a str,
    timestamp: &'a str,
    signature: &'a str,
}

/// The value of a header that may appear at most once, as text.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &str,
    shown: &'static str,
) -> Result<Option<&'a str>, AuthError> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::DuplicateHeader { header: shown });
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| AuthError::MalformedHeader {
            header: shown,
            expected: "visible ASCII text",
        })
}

fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let Some(value) = single(headers, AUTHORIZATION.as_str(), "Authorization")? else {
        return Ok(None);
    };
    let malformed = |why| AuthError::MalformedAuthorization { why };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(malformed(
            "the scheme is not Bearer (send Authorization: Bearer TOKEN)",
        ));
    }
    let token = token.trim_start();
    if token.is_empty() {
        return Err(malformed("no token after \"Bearer\""));
    }
    Ok(Some(token))
}

fn signature_headers(headers: &HeaderMap) -> Result<Option<RawSignature<'_>>, AuthError> {
    let key = single(headers, KEY_HEADER, "X-Tipring-Key")?;
    let timestamp = single(headers, TIMESTAMP_HEADER, "X-Tipring-Timestamp")?;
    let signature = single(headers, SIGNATURE_HEADER, "X-Tipring-Signature")?;
    match (key, timestamp, signature) {
        (None, None, None) => Ok(None),
        (Some(key), Some(timestamp), Some(signature)) => Ok(Some(RawSignature {
            key,
            timestamp,
            signature,
        })),
        (None, _, _) => Err(AuthError::IncompleteSignature {
            missing: "X-Tipring-Key",
        }),
        (_, None, _) => Err(AuthError::IncompleteSignature {
            missing: "X-Tipring-Timestamp",
        }),
        (_, _, None) => Err(AuthError::IncompleteSignature {
            missing: "X-Tipring-Signature",
        }),
    }
}

fn parse_timestamp(text: &str) -> Result<u64, AuthError> {
    let malformed = AuthError::MalformedHeader {
        header: "X-Tipring-Timestamp",
        expected: "Unix time in seconds, decimal digits without leading zeros",
    };
    // Leading zeros are refused so that the header and the canonical string's first line
    // (the number written out) are always the same text.
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if text.is_empty() || leading_zero || !text.bytes().all(|c| c.is_ascii_digit()) {
        return Err(malformed);
    }
    text.parse().map_err(|_| malformed)
}

#[cfg(test)]
mod tests;
