//! What the daemon accepts: token hashes and HMAC signing keys.

use std::collections::BTreeMap;
use std::fmt;

use hmac::Hmac;
use sha2::Sha256;

use crate::signing::keyed;
use crate::token::{HashFormat, TokenHash};

/// The shortest HMAC secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 16;
/// The longest key id accepted, in characters.
pub const MAX_KEY_ID_LEN: usize = 64;

/// The credentials a [`Verifier`](crate::Verifier) accepts: bearer token hashes (see
/// [`hash_token`](crate::hash_token)) and HMAC-SHA256 signing keys by key id.
///
/// Tokens are numbered from 0 in the order they are added; that number is what
/// [`Principal::Token`](crate::Principal::Token) reports. Secrets are kept only as keyed HMAC
/// state and never shown by `Debug`.
#[derive(Clone, Default)]
pub struct Credentials {
    pub(crate) tokens: Vec<TokenHash>,
    pub(crate) keys: BTreeMap<String, Hmac<Sha256>>,
}

/// A credential the configuration gives that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// A token hash does not start with `sha256:`. The text is not repeated: it may be a
    /// plain token pasted where its hash belongs.
    #[error(
        "token hash {index} does not start with \"sha256:\"; store hash_token(TOKEN), \
         never the token itself"
    )]
    TokenHashPrefix {
        /// The hash's position among the token hashes given, from 0.
        index: usize,
    },
    /// A token hash has the prefix but not 64 hex digits after it.
    #[error("token hash {index} is malformed: expected \"sha256:\" followed by 64 hex digits")]
    TokenHashDigits {
        /// The hash's position among the token hashes given, from 0.
        index: usize,
    },
    /// A key id is empty, too long, or has characters other than `A-Z a-z 0-9 . _ ~ -`.
    #[error(
        "key id {id:?} is not usable: use 1 to {MAX_KEY_ID_LEN} characters from \
         A-Z a-z 0-9 . _ ~ -"
    )]
    KeyId {
        /// The key id as given.
        id: String,
    },
    /// The same key id is given twice.
    #[error("key id {id:?} is given twice")]
    DuplicateKeyId {
        /// The key id.
        id: String,
    },
    /// A secret is shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("the secret of key {id:?} is {len} bytes; at least {MIN_SECRET_LEN} are needed")]
    ShortSecret {
        /// The key id.
        id: String,
        /// The secret's length in bytes.
        len: usize,
    },
}

impl Credentials {
    /// No credentials: a verifier built from these refuses every request.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds credentials from token hashes and `(key id, secret)` pairs.
    ///
    /// # Errors
    ///
    /// The first unusable entry, as [`add_token_hash`](Self::add_token_hash) and
    /// [`add_key`](Self::add_key) describe.
    pub fn from_config<'a, S: AsRef<[u8]>>(
        token_hashes: impl IntoIterator<Item = &'a str>,
        keys: impl IntoIterator<Item = (&'a str, S)>,
    ) -> Result<Self, CredentialsError> {
        let mut creds = Self::new();
        for hash in token_hashes {
            creds.add_token_hash(hash)?;
        }
        for (id, secret) in keys {
            creds.add_key(id, secret.as_ref())?;
        }
        Ok(creds)
    }

    /// Accepts bearer tokens whose [`hash_token`](crate::hash_token) is `hash` (`sha256:` and
    /// 64 hex digits, either case). Returns the token's number.
    ///
    /// # Errors
    ///
    /// [`CredentialsError::TokenHashPrefix`] or [`CredentialsError::TokenHashDigits`], naming
    /// the hash by its number.
    pub fn add_token_hash(&mut self, hash: &str) -> Result<usize, CredentialsError> {
        let index = self.tokens.len();
        let parsed = TokenHash::parse(hash.trim()).map_err(|e| match e {
            HashFormat::NoPrefix => CredentialsError::TokenHashPrefix { index },
            HashFormat::NotHex => CredentialsError::TokenHashDigits { index },
        })?;
        self.tokens.push(parsed);
        Ok(index)
    }

    /// Accepts requests signed with `secret` under the key id `id`.
    ///
    /// # Errors
    ///
    /// [`CredentialsError::KeyId`] if the id is empty, longer than [`MAX_KEY_ID_LEN`] or has
    /// other characters than `A-Z a-z 0-9 . _ ~ -`; [`CredentialsError::DuplicateKeyId`];
    /// [`CredentialsError::ShortSecret`] if the secret has fewer than [`MIN_SECRET_LEN`] bytes.
    pub fn add_key(&mut self, id: &str, secret: &[u8]) -> Result<(), CredentialsError> {
        let id_ok = !id.is_empty()
            && id.len() <= MAX_KEY_ID_LEN
            && id
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'~' | b'-'));
        if !id_ok {
            return Err(CredentialsError::KeyId { id: id.to_owned() });
        }
        if secret.len() < MIN_SECRET_LEN {
            return Err(CredentialsError::ShortSecret {
                id: id.to_owned(),
                len: secret.len(),
            });
        }
        if self.keys.contains_key(id) {
            return Err(CredentialsError::DuplicateKeyId { id: id.to_owned() });
        }
        self.keys.insert(id.to_owned(), keyed(secret));
        Ok(())
    }

    /// Whether nothing is accepted (no token hash and no key).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty() && self.keys.is_empty()
    }

    /// How many token hashes are accepted.
    #[must_use]
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// The accepted key ids, in order.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("tokens", &self.tokens.len())
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash_token;

    #[test]
    fn malformed_hash_is_named_by_number_without_echoing_it() {
        let mut c = Credentials::new();
        assert_eq!(c.add_token_hash(&hash_token("a")), Ok(0));
        let e = c.add_token_hash("plain-secret-token").unwrap_err();
        assert_eq!(e, CredentialsError::TokenHashPrefix { index: 1 });
        assert!(!e.to_string().contains("plain-secret-token"));
        assert!(
            e.to_string()
                .starts_with("token hash 1 does not start with \"sha256:\"")
        );
        let e = c.add_token_hash("sha256:1234").unwrap_err();
        assert_eq!(e, CredentialsError::TokenHashDigits { index: 1 });
        assert_eq!(c.token_count(), 1);
    }

    #[test]
    fn from_config_reports_the_first_bad_entry() {
        let h = hash_token("t");
        let ok = Credentials::from_config([h.as_str()], [("ops", b"0123456789abcdef")]).unwrap();
        assert_eq!(ok.token_count(), 1);
        assert_eq!(ok.key_ids().collect::<Vec<_>>(), ["ops"]);
        let e = Credentials::from_config([h.as_str(), "nope"], [("ops", b"short")]).unwrap_err();
        assert_eq!(e, CredentialsError::TokenHashPrefix { index: 1 });
    }

    #[test]
    fn key_ids_and_secrets_are_checked() {
        let mut c = Credentials::new();
        let secret = b"0123456789abcdef";
        for bad in ["", "has space", "quo\"te", "new\nline", &"k".repeat(65)] {
            assert_eq!(
                c.add_key(bad, secret),
                Err(CredentialsError::KeyId { id: bad.to_owned() })
            );
        }
        assert_eq!(
            c.add_key("ops", b"0123456789abcde"),
            Err(CredentialsError::ShortSecret {
                id: "ops".into(),
                len: 15
            })
        );
        assert_eq!(c.add_key("ops-1.a_b~", secret), Ok(()));
        assert_eq!(
            c.add_key("ops-1.a_b~", secret),
            Err(CredentialsError::DuplicateKeyId {
                id: "ops-1.a_b~".into()
            })
        );
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut c = Credentials::new();
        c.add_token_hash(&hash_token("t")).unwrap();
        c.add_key("ops", b"super-secret-value").unwrap();
        let shown = format!("{c:?}");
        assert_eq!(shown, "Credentials { tokens: 1, key_ids: [\"ops\"] }");
    }
}
