//! HTTP digest authentication for SIP (RFC 3261 §22, RFC 7616, RFC 8760), both sides.
//!
//! **Why in-house.** rsip's generator prints `nc` in decimal and wraps it at 256, computes
//! `-sess` like the plain algorithms, and quotes `qop` (design note §1). Digest is about a
//! hundred lines on `md-5` and `sha2`; owning them is cheaper than working around those.
//!
//! **Client.** [`Challenge::parse`] reads a `WWW-Authenticate`/`Proxy-Authenticate` value;
//! [`ClientAuth::authorize`] answers it, counting `nc` per nonce in hexadecimal, with a
//! caller-supplied client nonce (the core takes randomness as input, like time).
//!
//! **Server.** [`Verifier`] issues stateless nonces (issue time and a SHA-256 MAC over it with
//! a secret) and checks `Authorization` values against a password; an expired nonce is
//! reported as stale so the client retries without asking its user (RFC 7616 §3.3 `stale`).

use md5::{Digest as _, Md5};
use sha2::Sha256;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (the default when a challenge names none).
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256 (RFC 8760).
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }

    /// The name as written in headers.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    fn hash(self, data: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex(&Sha256::digest(data.as_bytes())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Reads `Digest a="b", c=d` into lower-case names and unquoted values.
fn auth_params(v: &str) -> Option<Vec<(String, String)>> {
    let v = v.trim();
    let scheme_end = v.find(char::is_whitespace)?;
    if !v[..scheme_end].eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = v[scheme_end..].trim_start();
    while !rest.is_empty() {
        let eq = rest.find('=')?;
        let name = rest[..eq].trim().to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let mut s = String::new();
            let mut end = None;
            let mut chars = r.char_indices();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, e)) = chars.next() {
                            s.push(e);
                        }
                    }
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => s.push(c),
                }
            }
            value = s;
            rest = &r[end? + 1..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        out.push((name, value));
        rest = rest.trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Some(out)
}

/// A server's challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The realm.
    pub realm: String,
    /// The nonce.
    pub nonce: String,
    /// The opaque value, echoed back.
    pub opaque: Option<String>,
    /// The algorithm.
    pub algorithm: Algorithm,
    /// Whether the server offers `qop=auth` (we never use `auth-int`).
    pub qop_auth: bool,
    /// The previous credentials were good but the nonce expired.
    pub stale: bool,
}

impl Challenge {
    /// Reads a `WWW-Authenticate` or `Proxy-Authenticate` value; `None` when it is not a
    /// digest challenge we can answer (an unknown algorithm, or `auth-int` only).
    pub fn parse(v: &str) -> Option<Challenge> {
        let params = auth_params(v)?;
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(a)?,
            None => Algorithm::Md5,
        };
        let qop = get("qop");
        let qop_auth =
            qop.is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")));
        if qop.is_some() && !qop_auth {
            return None;
        }
        Some(Challenge {
            realm: get("realm")?.to_string(),
            nonce: get("nonce")?.to_string(),
            opaque: get("opaque").map(str::to_string),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }
}

/// A client's credentials and its nonce counts.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    username: String,
    password: String,
    /// The nonce last answered and how often.
    nc: Option<(String, u32)>,
}

impl ClientAuth {
    /// Credentials for one trunk.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        ClientAuth {
            username: username.into(),
            password: password.into(),
            nc: None,
        }
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The `Authorization`/`Proxy-Authorization` value answering `challenge` for a request
    /// `method` to `uri`. `cnonce` is the caller's random client nonce.
    pub fn authorize(
        &mut self,
        challenge: &Challenge,
        method: &str,
        uri: &str,
        cnonce: &str,
    ) -> String {
        let nc = match &mut self.nc {
            Some((n, count)) if *n == challenge.nonce => {
                *count = count.wrapping_add(1);
                *count
            }
            _ => {
                self.nc = Some((challenge.nonce.clone(), 1));
                1
            }
        };
        let alg = challenge.algorithm;
        let response = response(
            alg,
            &self.username,
            &challenge.realm,
            &self.password,
            &challenge.nonce,
            method,
            uri,
            challenge.qop_auth.then_some((nc, cnonce)),
        );
        let mut v = format!(
            "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{}\", algorithm={}",
            quote(&self.username),
            quote(&challenge.realm),
            quote(&challenge.nonce),
            quote(uri),
            response,
            alg.name()
        );
        if challenge.qop_auth || alg.sess() {
            v.push_str(&format!(", cnonce=\"{}\"", quote(cnonce)));
        }
        if challenge.qop_auth {
            v.push_str(&format!(", qop=auth, nc={nc:08x}"));
        }
        if let Some(o) = &challenge.opaque {
            v.push_str(&format!(", opaque=\"{}\"", quote(o)));
        }
        v
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[allow(clippy::too_many_arguments)]
fn response(
    alg: Algorithm,
    user: &str,
    realm: &str,
    password: &str,
    nonce: &str,
    method: &str,
    uri: &str,
    qop: Option<(u32, &str)>,
) -> String {
    let mut ha1 = alg.hash(&format!("{user}:{realm}:{password}"));
    if alg.sess() {
        let cnonce = qop.map_or("", |(_, c)| c);
        ha1 = alg.hash(&format!("{ha1}:{nonce}:{cnonce}"));
    }
    let ha2 = alg.hash(&format!("{method}:{uri}"));
    match qop {
        Some((nc, cnonce)) => alg.hash(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}")),
        None => alg.hash(&format!("{ha1}:{nonce}:{ha2}")),
    }
}

/// Why a request's credentials were not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials, or not digest: challenge.
    Missing,
    /// The credentials don't parse or name another realm.
    Malformed,
    /// Unknown user.
    UnknownUser(String),
    /// The nonce is not one of ours.
    BadNonce,
    /// The nonce was ours but has expired: challenge with `stale=true`.
    Stale,
    /// Wrong password (or a tampered request line).
    WrongResponse(String),
}

/// Checks digest credentials on requests Tipring receives.
#[derive(Debug, Clone)]
pub struct Verifier {
    realm: String,
    secret: [u8; 32],
    /// How long a nonce stays fresh, in milliseconds.
    nonce_ttl_ms: u64,
    algorithm: Algorithm,
}

impl Verifier {
    /// A verifier for `realm` whose nonces are signed with `secret` and stay fresh for
    /// `nonce_ttl_ms`.
    pub fn new(
        realm: impl Into<String>,
        secret: [u8; 32],
        nonce_ttl_ms: u64,
        algorithm: Algorithm,
    ) -> Self {
        Verifier {
            realm: realm.into(),
            secret,
            nonce_ttl_ms,
            algorithm,
        }
    }

    fn mac(&self, issued: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(issued.to_be_bytes());
        h.update(self.realm.as_bytes());
        hex(&h.finalize()[..16])
    }

    /// A `WWW-Authenticate`/`Proxy-Authenticate` value issued at `now` (ms).
    pub fn challenge(&self, now: u64, stale: bool) -> String {
        let nonce = format!("{now:x}.{}", self.mac(now));
        format!(
            "Digest realm=\"{}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{}",
            quote(&self.realm),
            self.algorithm.name(),
            if stale { ", stale=true" } else { "" }
        )
    }

    /// Checks an `Authorization` value on a `method` request at `now`; `password` looks a
    /// user up. Returns the authenticated user name.
    ///
    /// # Errors
    /// Why the credentials fail; every case is answered with a new challenge.
    pub fn verify(
        &self,
        authorization: Option<&str>,
        method: &str,
        now: u64,
        password: impl Fn(&str) -> Option<String>,
    ) -> Result<String, AuthFailure> {
        let v = authorization.ok_or(AuthFailure::Missing)?;
        let params = auth_params(v).ok_or(AuthFailure::Missing)?;
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let (Some(user), Some(realm), Some(nonce), Some(uri), Some(resp)) = (
            get("username"),
            get("realm"),
            get("nonce"),
            get("uri"),
            get("response"),
        ) else {
            return Err(AuthFailure::Malformed);
        };
        if realm != self.realm {
            return Err(AuthFailure::Malformed);
        }
        let alg = match get("algorithm") {
            Some(a) => Algorithm::parse(a).ok_or(AuthFailure::Malformed)?,
            None => Algorithm::Md5,
        };
        let (issued, mac) = nonce.split_once('.').ok_or(AuthFailure::BadNonce)?;
        let issued = u64::from_str_radix(issued, 16).map_err(|_| AuthFailure::BadNonce)?;
        if mac != self.mac(issued) || issued > now {
            return Err(AuthFailure::BadNonce);
        }
        let pw = password(user).ok_or_else(|| AuthFailure::UnknownUser(user.to_string()))?;
        let qop = match get("qop") {
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let nc = get("nc")
                    .and_then(|n| u32::from_str_radix(n, 16).ok())
                    .ok_or(AuthFailure::Malformed)?;
                Some((nc, get("cnonce").ok_or(AuthFailure::Malformed)?))
            }
            Some(_) => return Err(AuthFailure::Malformed),
            None => None,
        };
        let expect = response(alg, user, realm, &pw, nonce, method, uri, qop);
        if !expect.eq_ignore_ascii_case(resp) {
            return Err(AuthFailure::WrongResponse(user.to_string()));
        }
        if now - issued > self.nonce_ttl_ms {
            return Err(AuthFailure::Stale);
        }
        Ok(user.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2617 §3.5's example, which RFC 7616 §3.9.1 repeats for MD5 (HTTP, but the
    /// computation is the same).
    #[test]
    fn rfc2617_example_response() {
        let r = response(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            "GET",
            "/dir/index.html",
            Some((1, "0a4f113b")),
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    /// RFC 7616 §3.9.1, SHA-256.
    #[test]
    fn rfc7616_sha256_example() {
        let r = response(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
            "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            "GET",
            "/dir/index.html",
            Some((1, "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ")),
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn nonce_count_is_hex_and_per_nonce() {
        let ch = Challenge::parse(
            "Digest realm=\"pbx\", nonce=\"n1\", qop=\"auth,auth-int\", opaque=\"o\", algorithm=MD5",
        )
        .unwrap();
        assert!(ch.qop_auth);
        let mut c = ClientAuth::new("100", "secret");
        let mut last = String::new();
        for _ in 0..10 {
            last = c.authorize(&ch, "INVITE", "sip:1@pbx", "cn");
        }
        assert!(last.contains("nc=0000000a"), "{last}");
        assert!(last.contains("qop=auth,") && !last.contains("qop=\"auth\""));
        assert!(last.contains("opaque=\"o\""));
        let ch2 = Challenge {
            nonce: "n2".into(),
            ..ch
        };
        assert!(
            c.authorize(&ch2, "INVITE", "sip:1@pbx", "cn")
                .contains("nc=00000001")
        );
    }

    #[test]
    fn server_round_trip_stale_and_wrong() {
        let v = Verifier::new("tipring", [7; 32], 30_000, Algorithm::Sha256);
        let ch = Challenge::parse(&v.challenge(1_000, false)).unwrap();
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        let mut c = ClientAuth::new("alice", "pw");
        let a = c.authorize(&ch, "INVITE", "sip:1@tipring", "xyz");
        let pw = |u: &str| (u == "alice").then(|| "pw".to_string());
        assert_eq!(v.verify(Some(&a), "INVITE", 2_000, pw), Ok("alice".into()));
        // Another method: the response no longer matches.
        assert!(matches!(
            v.verify(Some(&a), "BYE", 2_000, pw),
            Err(AuthFailure::WrongResponse(_))
        ));
        assert_eq!(
            v.verify(Some(&a), "INVITE", 40_000, pw),
            Err(AuthFailure::Stale)
        );
        let mut bad = ClientAuth::new("alice", "nope");
        let a = bad.authorize(&ch, "INVITE", "sip:1@tipring", "xyz");
        assert!(matches!(
            v.verify(Some(&a), "INVITE", 2_000, pw),
            Err(AuthFailure::WrongResponse(_))
        ));
        let forged = a.replace(&ch.nonce, "1.00");
        assert_eq!(
            v.verify(Some(&forged), "INVITE", 2_000, pw),
            Err(AuthFailure::BadNonce)
        );
        assert_eq!(
            v.verify(None, "INVITE", 2_000, pw),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            v.verify(Some("Digest junk"), "INVITE", 2_000, pw),
            Err(AuthFailure::Missing)
        );
    }
}
