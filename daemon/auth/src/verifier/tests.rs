use super::*;
use crate::{hash_token, sign};
use http::HeaderValue;

const NOW: u64 = 1_700_000_000;
const SECRET: &[u8] = b"0123456789abcdef0123";
const TOKEN: &str = "a-long-random-operator-token";

fn verifier() -> Verifier {
    let mut creds = Credentials::new();
    creds
        .add_token_hash(&hash_token("another-token-entirely"))
        .unwrap();
    creds.add_token_hash(&hash_token(TOKEN)).unwrap();
    creds.add_key("ops", SECRET).unwrap();
    creds.add_key("other", b"a different secret").unwrap();
    Verifier::new(creds, DEFAULT_REPLAY_WINDOW)
}

fn bearer(token: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    h
}

fn signed(id: &str, secret: &[u8], method: &str, path: &str, body: &[u8], ts: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in sign(id, secret, method, path, body, ts) {
        h.insert(name, HeaderValue::from_str(&value).unwrap());
    }
    h
}

#[test]
fn verifier_is_shareable() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Verifier>();
}

#[test]
fn bearer_token_accepted_by_number() {
    let v = verifier();
    assert_eq!(
        v.check("GET", "/v1/health", &bearer(TOKEN), b"", NOW),
        Ok(Principal::Token { index: 1 })
    );
    assert_eq!(
        v.check("GET", "/", &bearer("another-token-entirely"), b"", NOW),
        Ok(Principal::Token { index: 0 })
    );
    // The scheme is case-insensitive (RFC 9110 section 11.1).
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("bearer  {TOKEN}")).unwrap(),
    );
    assert_eq!(
        v.check("GET", "/", &h, b"", NOW),
        Ok(Principal::Token { index: 1 })
    );
}

#[test]
fn wrong_tokens_refused() {
    let v = verifier();
    for wrong in [&TOKEN[1..], "a-long-random-operator-tokeN", "x"] {
        let e = v.check("GET", "/", &bearer(wrong), b"", NOW).unwrap_err();
        assert_eq!(e, AuthError::UnknownToken);
        assert_eq!(e.to_string(), "unknown token");
        assert_eq!(e.status(), StatusCode::UNAUTHORIZED);
    }
    // A stored hash is not a token.
    let e = v.check("GET", "/", &bearer(&hash_token(TOKEN)), b"", NOW);
    assert_eq!(e, Err(AuthError::UnknownToken));
}

#[test]
fn no_credentials_message() {
    let e = verifier()
        .check("GET", "/", &HeaderMap::new(), b"", NOW)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "no credentials: send Authorization: Bearer TOKEN or sign the request \
         (X-Tipring-Key, X-Tipring-Timestamp, X-Tipring-Signature)"
    );
}

#[test]
fn malformed_authorization_refused() {
    let v = verifier();
    let mut h = HeaderMap::new();
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Basic b3BzOnNlY3JldA=="),
    );
    let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed Authorization header: the scheme is not Bearer \
         (send Authorization: Bearer TOKEN)"
    );
    h.insert(AUTHORIZATION, HeaderValue::from_static("Bearer"));
    let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed Authorization header: no token after \"Bearer\""
    );
    h.insert(
        AUTHORIZATION,
        HeaderValue::from_bytes(b"Bearer caf\xe9").unwrap(),
    );
    let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "malformed Authorization: expected visible ASCII text"
    );
    let mut h = bearer(TOKEN);
    h.append(AUTHORIZATION, HeaderValue::from_static("Bearer other"));
    let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
    assert_eq!(e.to_string(), "more than one Authorization header");
}

#[test]
fn hmac_signature_accepted() {
    let v = verifier();
    let body = br#"{"to":"200"}"#;
    let h = signed("ops", SECRET, "POST", "/v1/calls?x=1", body, NOW);
    assert_eq!(
        v.check("POST", "/v1/calls?x=1", &h, body, NOW),
        Ok(Principal::Key { id: "ops".into() })
    );
    assert_eq!(v.replay_entries(), 1);
}

#[test]
fn wrong_secret_refused() {
    let v = verifier();
    let h = signed(
        "ops",
        b"0123456789abcdef0124",
        "GET",
        "/v1/health",
        b"",
        NOW,
    );
    let e = v.check("GET", "/v1/health", &h, b"", NOW).unwrap_err();
    assert_eq!(e, AuthError::SignatureMismatch);
    assert_eq!(e.to_string(), "signature does not match");
    // Another configured key's secret under this id is no better.
    let h = signed("ops", b"a different secret", "GET", "/v1/health", b"", NOW);
    assert_eq!(
        v.check("GET", "/v1/health", &h, b"", NOW),
        Err(AuthError::SignatureMismatch)
    );
    assert_eq!(v.replay_entries(), 0);
}

#[test]
fn tampered_body_path_method_or_timestamp_refused() {
    let v = verifier();
    let h = signed("ops", SECRET, "POST", "/v1/calls", b"{\"to\":\"200\"}", NOW);
    let tampered: [(&str, &str, &[u8]); 4] = [
        ("POST", "/v1/calls", b"{\"to\":\"900\"}"),
        ("POST", "/v1/calls", b""),
        ("POST", "/v1/calls?to=900", b"{\"to\":\"200\"}"),
        ("DELETE", "/v1/calls", b"{\"to\":\"200\"}"),
    ];
    for (method, path, body) in tampered {
        assert_eq!(
            v.check(method, path, &h, body, NOW),
            Err(AuthError::SignatureMismatch),
            "{method} {path}"
        );
    }
    let mut h2 = h.clone();
    h2.insert(TIMESTAMP_HEADER, HeaderValue::from(NOW + 1));
    assert_eq!(
        v.check("POST", "/v1/calls", &h2, b"{\"to\":\"200\"}", NOW),
        Err(AuthError::SignatureMismatch)
    );
    // None of the refusals used up the signature.
    assert_eq!(
        v.check("POST", "/v1/calls", &h, b"{\"to\":\"200\"}", NOW),
        Ok(Principal::Key { id: "ops".into() })
    );
}

#[test]
fn unknown_key_id_named_and_cut_short() {
    let v = verifier();
    let h = signed("x", SECRET, "GET", "/", b"", NOW);
    let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
    assert_eq!(e.to_string(), "unknown key id \"x\"");
    let long = "k".repeat(500);
    let h = signed(&long, SECRET, "GET", "/", b"", NOW);
    let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
    assert_eq!(e, AuthError::UnknownKeyId("k".repeat(64)));
}

#[test]
fn skew_outside_window_refused_with_distance() {
    let v = verifier();
    let behind = signed("ops", SECRET, "GET", "/", b"", NOW - 412);
    let e = v.check("GET", "/", &behind, b"", NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "timestamp 1699999588 is 412 s behind this server's clock (window 300 s)"
    );
    let ahead = signed("ops", SECRET, "GET", "/", b"", NOW + 301);
    let e = v.check("GET", "/", &ahead, b"", NOW).unwrap_err();
    assert_eq!(
        e.to_string(),
        "timestamp 1700000301 is 301 s ahead of this server's clock (window 300 s)"
    );
    // The window's edges are inside.
    for ts in [NOW - 300, NOW + 300] {
        let h = signed("ops", SECRET, "GET", "/", b"", ts);
        assert!(v.check("GET", "/", &h, b"", NOW).is_ok(), "{ts}");
    }
}

#[test]
fn malformed_and_incomplete_signature_headers() {
    let v = verifier();
    let good = signed("ops", SECRET, "GET", "/", b"", NOW);
    for (name, shown) in [
        (KEY_HEADER, "X-Tipring-Key"),
        (TIMESTAMP_HEADER, "X-Tipring-Timestamp"),
        (SIGNATURE_HEADER, "X-Tipring-Signature"),
    ] {
        let mut h = good.clone();
        h.remove(name);
        let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
        assert_eq!(e, AuthError::IncompleteSignature { missing: shown });
        assert!(
            e.to_string()
                .starts_with(&format!("incomplete signature: {shown} is missing"))
        );
    }
    for bad in [
        "",
        "-5",
        "+1700000000",
        "01700000000",
        "00",
        " 1700000000",
        "1700000000.5",
        "1e9",
        "99999999999999999999999",
    ] {
        let mut h = good.clone();
        h.insert(TIMESTAMP_HEADER, HeaderValue::from_str(bad).unwrap());
        let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed X-Tipring-Timestamp: \
             expected Unix time in seconds, decimal digits without leading zeros",
            "{bad:?}"
        );
    }
    for bad in ["abc", &"g".repeat(64), &"0".repeat(63)] {
        let mut h = good.clone();
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(bad).unwrap());
        let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed X-Tipring-Signature: expected 64 hex digits (HMAC-SHA256)"
        );
    }
    let mut h = good.clone();
    h.append(KEY_HEADER, HeaderValue::from_static("ops"));
    let e = v.check("GET", "/", &h, b"", NOW).unwrap_err();
    assert_eq!(e.to_string(), "more than one X-Tipring-Key header");
}

#[test]
fn replay_refused_in_any_letter_case() {
    let v = verifier();
    let h = signed("ops", SECRET, "GET", "/v1/health", b"", NOW);
    assert!(v.check("GET", "/v1/health", &h, b"", NOW).is_ok());
    let e = v.check("GET", "/v1/health", &h, b"", NOW + 10).unwrap_err();
    assert_eq!(e, AuthError::Replay);
    assert_eq!(e.to_string(), "signature already used (replay)");
    let mut upper = h.clone();
    let sig = h[SIGNATURE_HEADER].to_str().unwrap().to_ascii_uppercase();
    upper.insert(SIGNATURE_HEADER, HeaderValue::from_str(&sig).unwrap());
    assert_eq!(
        v.check("GET", "/v1/health", &upper, b"", NOW + 10),
        Err(AuthError::Replay)
    );
}

#[test]
fn replay_still_refused_at_the_windows_end_then_stale_and_forgotten() {
    let v = verifier();
    // Signed by a client whose clock is 200 s ahead: acceptable until NOW + 200 + 300.
    let ts = NOW + 200;
    let h = signed("ops", SECRET, "GET", "/", b"", ts);
    assert!(v.check("GET", "/", &h, b"", NOW).is_ok());
    // Remembering it for only the window after it was first seen would let it through here.
    assert_eq!(
        v.check("GET", "/", &h, b"", NOW + 301),
        Err(AuthError::Replay)
    );
    assert_eq!(
        v.check("GET", "/", &h, b"", ts + 300),
        Err(AuthError::Replay)
    );
    // After that the clock check refuses it, and the cache forgets it on the next signed request.
    assert!(matches!(
        v.check("GET", "/", &h, b"", ts + 301),
        Err(AuthError::ClockSkew {
            skew: 301,
            ahead: false,
            ..
        })
    ));
    assert_eq!(v.replay_entries(), 1);
    let fresh = signed("ops", SECRET, "GET", "/", b"", ts + 301);
    assert!(v.check("GET", "/", &fresh, b"", ts + 301).is_ok());
    assert_eq!(v.replay_entries(), 1);
}

#[test]
fn replay_cache_is_bounded_and_frees_up_after_the_window() {
    let v = verifier().with_replay_capacity(2);
    let req = |path: &str, ts: u64| signed("ops", SECRET, "GET", path, b"", ts);
    assert!(v.check("GET", "/a", &req("/a", NOW), b"", NOW).is_ok());
    assert!(
        v.check("GET", "/b", &req("/b", NOW + 10), b"", NOW + 10)
            .is_ok()
    );
    let e = v
        .check("GET", "/c", &req("/c", NOW + 20), b"", NOW + 20)
        .unwrap_err();
    assert_eq!(e, AuthError::ReplayCacheFull { capacity: 2 });
    assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        e.to_string(),
        "too many signed requests within the replay window (2 remembered): \
         retry later or use a bearer token"
    );
    assert_eq!(v.replay_entries(), 2);
    // Bearer tokens are not affected.
    assert!(v.check("GET", "/", &bearer(TOKEN), b"", NOW + 20).is_ok());
    // Once "/a" (ts NOW) leaves the window there is room for one more.
    let later = NOW + 301;
    assert!(v.check("GET", "/c", &req("/c", later), b"", later).is_ok());
    assert_eq!(
        v.check("GET", "/d", &req("/d", later), b"", later),
        Err(AuthError::ReplayCacheFull { capacity: 2 })
    );
}

#[test]
fn token_and_signature_together_must_both_be_valid() {
    let v = verifier();
    let both = |token: &str, secret: &[u8], path: &str| {
        let mut h = signed("ops", secret, "GET", path, b"", NOW);
        h.extend(bearer(token));
        h
    };
    // A bad token refuses the request, and does not use up its valid signature.
    let bad_token = both("wrong-token-here", SECRET, "/t");
    assert_eq!(
        v.check("GET", "/t", &bad_token, b"", NOW),
        Err(AuthError::UnknownToken)
    );
    let alone = signed("ops", SECRET, "GET", "/t", b"", NOW);
    assert_eq!(
        v.check("GET", "/t", &alone, b"", NOW),
        Ok(Principal::Key { id: "ops".into() })
    );
    // A good token does not excuse a bad signature.
    assert_eq!(
        v.check(
            "GET",
            "/",
            &both(TOKEN, b"wrong secret, 16+ bytes", "/"),
            b"",
            NOW
        ),
        Err(AuthError::SignatureMismatch)
    );
    let ok = both(TOKEN, SECRET, "/");
    assert_eq!(
        v.check("GET", "/", &ok, b"", NOW),
        Ok(Principal::TokenAndKey {
            index: 1,
            id: "ops".into()
        })
    );
    // Its signature is now used: the valid token does not make a replay acceptable.
    assert_eq!(v.check("GET", "/", &ok, b"", NOW), Err(AuthError::Replay));
}

#[test]
fn zero_window_accepts_only_the_current_second() {
    let mut creds = Credentials::new();
    creds.add_key("ops", SECRET).unwrap();
    let v = Verifier::new(creds, Duration::from_millis(900));
    assert_eq!(v.replay_window(), Duration::ZERO);
    let h = signed("ops", SECRET, "GET", "/", b"", NOW);
    assert!(v.check("GET", "/", &h, b"", NOW).is_ok());
    let h = signed("ops", SECRET, "GET", "/", b"", NOW - 1);
    assert!(matches!(
        v.check("GET", "/", &h, b"", NOW),
        Err(AuthError::ClockSkew { window: 0, .. })
    ));
}

#[test]
fn empty_credentials_refuse_everything() {
    let v = Verifier::new(Credentials::new(), DEFAULT_REPLAY_WINDOW);
    assert_eq!(
        v.check("GET", "/", &bearer(TOKEN), b"", NOW),
        Err(AuthError::UnknownToken)
    );
    let h = signed("ops", SECRET, "GET", "/", b"", NOW);
    assert_eq!(
        v.check("GET", "/", &h, b"", NOW),
        Err(AuthError::UnknownKeyId("ops".into()))
    );
}
