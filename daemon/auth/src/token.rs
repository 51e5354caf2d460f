//! Bearer tokens: how they are made, and how they are stored (hashed).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::hex;

/// The prefix of every stored token hash: the hash function's name.
pub(crate) const HASH_PREFIX: &str = "sha256:";

/// Hashes a bearer token for storage in the configuration: `"sha256:"` followed by the
/// lowercase hex of SHA-256 of the token's UTF-8 bytes.
///
/// Any string can be hashed; the daemon only ever stores and compares the hash, so a leaked
/// configuration file does not give away the token. Tokens should still be long and random:
/// make them with [`new_token`].
///
/// ```
/// assert_eq!(
///     tipring_auth::hash_token("abc"),
///     "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
#[must_use]
pub fn hash_token(token: &str) -> String {
    format!(
        "{HASH_PREFIX}{}",
        hex::encode(&Sha256::digest(token.as_bytes()))
    )
}

/// Makes a new random bearer token: 32 bytes from the operating system's random number
/// generator, as 64 lowercase hex digits. Give the token to the client and store
/// [`hash_token`] of it in the daemon's configuration.
///
/// # Errors
///
/// The operating system's random number generator failed (on Linux: `getrandom(2)` is not
/// available and `/dev/urandom` cannot be read).
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(std::io::Error::from)?;
    Ok(hex::encode(&bytes))
}

/// A token hash as stored: the 32 bytes of SHA-256.
#[derive(Clone, Copy)]
pub(crate) struct TokenHash([u8; 32]);

/// Why a stored token hash could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HashFormat {
    /// It does not start with `sha256:`.
    NoPrefix,
    /// The part after the prefix is not 64 hex digits.
    NotHex,
}

impl TokenHash {
    /// Parses `sha256:` followed by 64 hex digits (either case).
    pub(crate) fn parse(text: &str) -> Result<Self, HashFormat> {
        let digits = text.strip_prefix(HASH_PREFIX).ok_or(HashFormat::NoPrefix)?;
        hex::decode::<32>(digits)
            .map(Self)
            .ok_or(HashFormat::NotHex)
    }

    /// The hash of a presented token.
    pub(crate) fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Compares two hashes in constant time.
    pub(crate) fn matches(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_prefixed_lowercase_sha256() {
        // FIPS 180-2 appendix B.1 ("abc") and the empty string.
        assert_eq!(
            hash_token("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_token(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn parsed_hash_matches_its_token_only() {
        let stored = TokenHash::parse(&hash_token("correct horse battery staple")).unwrap();
        assert!(stored.matches(&TokenHash::of("correct horse battery staple")));
        assert!(!stored.matches(&TokenHash::of("correct horse battery stapl")));
        assert!(!stored.matches(&TokenHash::of("")));
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let upper = hash_token("t")
            .to_uppercase()
            .replacen("SHA256:", "sha256:", 1);
        let stored = TokenHash::parse(&upper).unwrap();
        assert!(stored.matches(&TokenHash::of("t")));
    }

    #[test]
    fn malformed_hashes_are_refused() {
        assert_eq!(
            TokenHash::parse("secret-token").err(),
            Some(HashFormat::NoPrefix)
        );
        assert_eq!(
            TokenHash::parse("sha1:abcd").err(),
            Some(HashFormat::NoPrefix)
        );
        assert_eq!(
            TokenHash::parse("sha256:abcd").err(),
            Some(HashFormat::NotHex)
        );
        let h = hash_token("t");
        assert_eq!(
            TokenHash::parse(&h[..h.len() - 1]).err(),
            Some(HashFormat::NotHex)
        );
        assert_eq!(
            TokenHash::parse(&format!("{h}0")).err(),
            Some(HashFormat::NotHex)
        );
    }

    #[test]
    fn new_tokens_are_64_hex_digits_and_differ() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
