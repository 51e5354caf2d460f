//! Checking an HTTP digest (RFC 2617 / RFC 7616 MD5) `Authorization` or
//! `Proxy-Authorization` value against a password.
//!
//! SIPp 3.6.1's `verifyauth` reads only the `Authorization` header, so a scenario that
//! challenges with 407 logs the `Proxy-Authorization` value and the test checks it here.

use crate::error::{Error, Result};
use md5::{Digest as _, Md5};

/// The parameters of a `Digest` credentials value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestCredentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri` (the digest-uri).
    pub uri: String,
    /// `response`, 32 hex digits for MD5.
    pub response: String,
    /// `algorithm` (absent means MD5).
    pub algorithm: Option<String>,
    /// `qop` (`auth`), absent for RFC 2069 style.
    pub qop: Option<String>,
    /// `nc`, 8 hex digits (with `qop`).
    pub nc: Option<String>,
    /// `cnonce` (with `qop`).
    pub cnonce: Option<String>,
}

impl DigestCredentials {
    /// Parses `Digest username="…", realm="…", …` (with or without the header name).
    ///
    /// # Errors
    /// [`Error::Malformed`] when the scheme is not Digest, a parameter is malformed, or
    /// username, realm, nonce, uri or response is missing.
    pub fn parse(value: &str) -> Result<Self> {
        let bad = |why: String| Error::malformed("digest credentials", why);
        let v = value.trim();
        let v = v
            .split_once(':')
            .filter(|(name, _)| name.trim().ends_with("Authorization"))
            .map_or(v, |(_, rest)| rest.trim());
        let rest = v
            .strip_prefix("Digest")
            .or_else(|| v.strip_prefix("digest"))
            .ok_or_else(|| bad(format!("{value:?} is not a Digest value")))?;
        let mut c = DigestCredentials::default();
        let mut s = rest.trim_start();
        while !s.is_empty() {
            let (name, after) = s
                .split_once('=')
                .ok_or_else(|| bad(format!("parameter without '=' at {s:?}")))?;
            let name = name.trim().to_ascii_lowercase();
            let after = after.trim_start();
            let (val, next) = if let Some(q) = after.strip_prefix('"') {
                let end = q
                    .find('"')
                    .ok_or_else(|| bad(format!("unterminated quote in {name}")))?;
                (q[..end].to_string(), &q[end + 1..])
            } else {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim().to_string(), &after[end..])
            };
            match name.as_str() {
                "username" => c.username = val,
                "realm" => c.realm = val,
                "nonce" => c.nonce = val,
                "uri" => c.uri = val,
                "response" => c.response = val.to_ascii_lowercase(),
                "algorithm" => c.algorithm = Some(val),
                "qop" => c.qop = Some(val),
                "nc" => c.nc = Some(val),
                "cnonce" => c.cnonce = Some(val),
                _ => {}
            }
            s = next.trim_start().trim_start_matches(',').trim_start();
        }
        for (field, v) in [
            ("username", &c.username),
            ("realm", &c.realm),
            ("nonce", &c.nonce),
            ("uri", &c.uri),
            ("response", &c.response),
        ] {
            if v.is_empty() {
                return Err(bad(format!("no {field} in {value:?}")));
            }
        }
        Ok(c)
    }

    /// The response a client knowing `password` computes for `method`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an algorithm other than MD5 or a qop other than `auth`, or
    /// `qop` without `nc` and `cnonce`.
    pub fn expected_response(&self, method: &str, password: &str) -> Result<String> {
        if let Some(a) = &self.algorithm
            && !a.eq_ignore_ascii_case("MD5")
        {
            return Err(Error::invalid(
                "digest algorithm",
                format!("{a} (only MD5 is checked here)"),
            ));
        }
        let ha1 = md5_hex(&format!("{}:{}:{password}", self.username, self.realm));
        let ha2 = md5_hex(&format!("{method}:{}", self.uri));
        match &self.qop {
            None => Ok(md5_hex(&format!("{ha1}:{}:{ha2}", self.nonce))),
            Some(q) if q.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (&self.nc, &self.cnonce) else {
                    return Err(Error::invalid(
                        "digest credentials",
                        "qop without nc/cnonce",
                    ));
                };
                Ok(md5_hex(&format!(
                    "{ha1}:{}:{nc}:{cnonce}:{q}:{ha2}",
                    self.nonce
                )))
            }
            Some(q) => Err(Error::invalid(
                "digest qop",
                format!("{q} (only auth is checked here)"),
            )),
        }
    }
}

/// True when the credentials in `value` were computed with `password` for `method`.
///
/// # Errors
/// As [`DigestCredentials::parse`] and [`DigestCredentials::expected_response`].
pub fn verify(value: &str, method: &str, password: &str) -> Result<bool> {
    let c = DigestCredentials::parse(value)?;
    Ok(c.expected_response(method, password)? == c.response)
}

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5 (an HTTP example; the algorithm is the same).
        let v = r#"Digest username="Mufasa", realm="testrealm@host.com",
            nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth,
            nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1",
            opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        assert!(verify(v, "GET", "Circle Of Life").unwrap());
        assert!(!verify(v, "GET", "circle of life").unwrap());
        assert!(!verify(v, "POST", "Circle Of Life").unwrap());
    }

    #[test]
    fn sipp_generated_header() {
        // Logged by uas_invite_auth_401.xml for alice / s3cret.
        let v = r#"Authorization: Digest username="alice",realm="tipring.test",cnonce="6b8b4567",nc=00000001,qop=auth,uri="sip:127.0.0.1:5990",nonce="22175a1b47c1e",response="42dc5d6d9cb5eafc0586d1cbada9aec8",algorithm=MD5"#;
        assert!(verify(v, "INVITE", "s3cret").unwrap());
        assert!(!verify(v, "INVITE", "bad").unwrap());
    }

    #[test]
    fn malformed_values_are_errors() {
        assert!(verify("Basic abc", "INVITE", "x").is_err());
        assert!(verify("Digest username=\"a", "INVITE", "x").is_err());
        assert!(verify("Digest username=\"a\", realm=\"r\"", "INVITE", "x").is_err());
        let sha =
            r#"Digest username="a",realm="r",nonce="n",uri="u",response="00",algorithm=SHA-256"#;
        assert!(verify(sha, "INVITE", "x").is_err());
        let no_nc = r#"Digest username="a",realm="r",nonce="n",uri="u",response="00",qop=auth"#;
        assert!(verify(no_nc, "INVITE", "x").is_err());
    }
}
