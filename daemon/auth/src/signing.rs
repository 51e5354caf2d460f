//! HMAC-SHA256 request signing: the canonical string, the headers, and [`sign`] for clients.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::hex;

/// The header that names the signing key: `X-Tipring-Key`.
pub const KEY_HEADER: &str = "x-tipring-key";
/// The header that carries the signing time in Unix seconds: `X-Tipring-Timestamp`.
pub const TIMESTAMP_HEADER: &str = "x-tipring-timestamp";
/// The header that carries the lowercase hex HMAC-SHA256: `X-Tipring-Signature`.
pub const SIGNATURE_HEADER: &str = "x-tipring-signature";

/// SHA-256's block size, the size HMAC pads its key to.
const BLOCK: usize = 64;

/// The string a request signature covers:
/// `"{ts}\n{METHOD}\n{path_and_query}\n{hex(sha256(body))}"`.
///
/// `METHOD` is the request method in upper case (`GET`, `POST`); `path_and_query` is the
/// request target exactly as sent on the request line (`/v1/calls?state=up`, with the same
/// percent-encoding); the body hash is the lowercase hex SHA-256 of the body bytes as sent
/// (of no bytes for a request without a body).
///
/// ```
/// let s = tipring_auth::canonical_string(1_700_000_000, "post", "/v1/calls", b"{}");
/// assert_eq!(
///     s,
///     "1700000000\nPOST\n/v1/calls\n\
///      44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
/// );
/// ```
#[must_use]
pub fn canonical_string(ts: u64, method: &str, path_and_query: &str, body: &[u8]) -> String {
    format!(
        "{ts}\n{}\n{path_and_query}\n{}",
        method.to_ascii_uppercase(),
        hex::encode(&Sha256::digest(body))
    )
}

/// Signs a request for the key `key_id` whose secret is `secret`, at Unix time `ts` (seconds;
/// use the current time: the server refuses a timestamp outside its replay window).
///
/// Returns the three headers to add to the request, names in lower case:
/// [`KEY_HEADER`], [`TIMESTAMP_HEADER`] and [`SIGNATURE_HEADER`]. `method`, `path_and_query`
/// and `body` must be exactly what is sent (see [`canonical_string`]). A signature can be
/// used once: sign every request, retries included.
///
/// ```
/// let headers = tipring_auth::sign("ops", b"0123456789abcdef", "GET", "/v1/health", b"", 1_700_000_000);
/// assert_eq!(headers[0], ("x-tipring-key", "ops".to_string()));
/// assert_eq!(headers[1], ("x-tipring-timestamp", "1700000000".to_string()));
/// assert_eq!(headers[2].0, "x-tipring-signature");
/// assert_eq!(headers[2].1.len(), 64);
/// ```
#[must_use]
pub fn sign(
    key_id: &str,
    secret: &[u8],
    method: &str,
    path_and_query: &str,
    body: &[u8],
    ts: u64,
) -> [(&'static str, String); 3] {
    let mut mac = keyed(secret);
    mac.update(canonical_string(ts, method, path_and_query, body).as_bytes());
    let signature = hex::encode(&mac.finalize().into_bytes());
    [
        (KEY_HEADER, key_id.to_owned()),
        (TIMESTAMP_HEADER, ts.to_string()),
        (SIGNATURE_HEADER, signature),
    ]
}

/// An HMAC-SHA256 keyed with `secret`, ready for the message.
///
/// HMAC hashes a key longer than the block and pads a shorter one with zeros (RFC 2104
/// section 2); doing that here hands `hmac` a key of exactly one block, which it takes
/// without a fallible length check.
pub(crate) fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    let mut block = [0u8; BLOCK];
    if secret.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        block[..secret.len()].copy_from_slice(secret);
    }
    <Hmac<Sha256> as KeyInit>::new(&block.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_hex(key: &[u8], data: &[u8]) -> String {
        let mut mac = keyed(key);
        mac.update(data);
        hex::encode(&mac.finalize().into_bytes())
    }

    #[test]
    fn rfc4231_case_2_short_key() {
        assert_eq!(
            hmac_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn rfc4231_case_1_twenty_byte_key() {
        assert_eq!(
            hmac_hex(&[0x0b; 20], b"Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn rfc4231_case_6_key_longer_than_a_block() {
        assert_eq!(
            hmac_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn exactly_one_block_key_is_used_as_is() {
        // A 64-byte key is neither hashed nor padded; it must differ from its hash used as key.
        let key = [0x5a; 64];
        let hashed: [u8; 32] = Sha256::digest(key).into();
        assert_ne!(hmac_hex(&key, b"m"), hmac_hex(&hashed, b"m"));
        let mut reference = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
        reference.update(b"m");
        assert_eq!(
            hmac_hex(&key, b"m"),
            hex::encode(&reference.finalize().into_bytes())
        );
    }

    #[test]
    fn canonical_string_layout() {
        assert_eq!(
            canonical_string(7, "get", "/v1/health?x=1", b""),
            "7\nGET\n/v1/health?x=1\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn signature_covers_every_field() {
        let base = sign("k", b"secret-secret-16", "POST", "/a", b"x", 1)[2]
            .1
            .clone();
        assert_ne!(
            base,
            sign("k", b"secret-secret-17", "POST", "/a", b"x", 1)[2].1
        );
        assert_ne!(
            base,
            sign("k", b"secret-secret-16", "PUT", "/a", b"x", 1)[2].1
        );
        assert_ne!(
            base,
            sign("k", b"secret-secret-16", "POST", "/b", b"x", 1)[2].1
        );
        assert_ne!(
            base,
            sign("k", b"secret-secret-16", "POST", "/a", b"y", 1)[2].1
        );
        assert_ne!(
            base,
            sign("k", b"secret-secret-16", "POST", "/a", b"x", 2)[2].1
        );
        // The method is case-normalised on both sides.
        assert_eq!(
            base,
            sign("k", b"secret-secret-16", "post", "/a", b"x", 1)[2].1
        );
    }
}
