//! Signed URLs (DESIGN.md §9): `?s=` is the URL-safe base64, without padding, of the first 16
//! bytes of HMAC-SHA256 over the path and, when other query parameters were sent, `?` and those
//! parameters as sent, in their order, joined by `&`. `?e=UNIX_SECONDS` is signed like the rest
//! and bounds the URL's life. The first key signs; every key verifies, so keys rotate.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::SigningKey;

/// Bytes of the HMAC kept in a signature.
const SIGNATURE_BYTES: usize = 16;

/// Why a request's signature was not accepted (403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `s` parameter.
    #[error("this URL must be signed: add ?s=SIGNATURE (see docs/security.md)")]
    Missing,
    /// `s` is not a signature of this URL under any key.
    #[error("the signature does not match this URL")]
    Wrong,
    /// `e` is in the past.
    #[error("the signed URL expired at {0} (unix time)")]
    Expired(u64),
    /// `e` is not a unix time.
    #[error("the expiry ?e= is not a unix time in seconds")]
    BadExpiry,
}

/// Signs and verifies URLs with the configured keys.
#[derive(Clone)]
pub struct Signer {
    keys: Vec<SigningKey>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("keys", &self.keys.len()).finish()
    }
}

impl Signer {
    /// A signer with `keys` (the first signs); `None` when there are none.
    pub fn new(keys: &[SigningKey]) -> Option<Signer> {
        (!keys.is_empty()).then(|| Signer { keys: keys.to_vec() })
    }

    /// `path_and_query` with `e` (when `expires` is given) and `s` appended.
    pub fn sign(&self, path_and_query: &str, expires: Option<u64>) -> String {
        let mut message = path_and_query.to_owned();
        if let Some(at) = expires {
            message.push(if message.contains('?') { '&' } else { '?' });
            message.push_str(&format!("e={at}"));
        }
        let signature = URL_SAFE_NO_PAD.encode(&tag(&self.keys[0], &message)[..SIGNATURE_BYTES]);
        let join = if message.contains('?') { '&' } else { '?' };
        format!("{message}{join}s={signature}")
    }

    /// Checks the signature of a request for `path` with the raw `query` it was sent with, at
    /// unix time `now`. Compares in constant time.
    pub fn verify(&self, path: &str, query: Option<&str>, now: u64) -> Result<(), SignatureError> {
        let mut signature = None;
        let mut rest = Vec::new();
        // Every part as sent, empty ones too: the message is the query as sent, less `s`.
        for part in query.map(|q| q.split('&')).into_iter().flatten() {
            match part.split_once('=').map_or((part, ""), |(k, v)| (k, v)) {
                ("s", value) if signature.is_none() => signature = Some(value),
                ("s", _) => return Err(SignatureError::Wrong),
                _ => rest.push(part),
            }
        }
        let signature = signature.ok_or(SignatureError::Missing)?;
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| SignatureError::Wrong)?;
        if signature.len() != SIGNATURE_BYTES {
            return Err(SignatureError::Wrong);
        }
        let message = if rest.is_empty() { path.to_owned() } else { format!("{path}?{}", rest.join("&")) };
        let matches = self.keys.iter().any(|key| {
            let mut mac = Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
            mac.update(message.as_bytes());
            mac.verify_truncated_left(&signature).is_ok()
        });
        if !matches {
            return Err(SignatureError::Wrong);
        }
        // The expiry is signed with the rest, so it is read only once the signature holds.
        if let Some(expiry) = rest.iter().find_map(|p| p.strip_prefix("e=")) {
            let at: u64 = expiry.parse().map_err(|_| SignatureError::BadExpiry)?;
            if now > at {
                return Err(SignatureError::Expired(at));
            }
        }
        Ok(())
    }
}

fn tag(key: &SigningKey, message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.bytes()).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: char) -> SigningKey {
        byte.to_string().repeat(64).parse().unwrap()
    }

    #[test]
    fn signs_and_verifies_with_rotation_and_expiry() {
        let old = Signer::new(&[key('a')]).unwrap();
        let rotated = Signer::new(&[key('b'), key('a')]).unwrap();
        let path = "/p/6e0/072/682/e66287b662827da75b244a3/x200.jpg";
        let signed = old.sign(path, None);
        let (p, q) = signed.split_once('?').unwrap();
        assert_eq!(rotated.verify(p, Some(q), 0), Ok(()), "an old key still verifies");
        assert_eq!(Signer::new(&[key('b')]).unwrap().verify(p, Some(q), 0), Err(SignatureError::Wrong));

        let expiring = rotated.sign(&format!("{path}?source=https%3A%2F%2Fx.example%2Fa.jpg"), Some(100));
        let (p, q) = expiring.split_once('?').unwrap();
        assert!(q.starts_with("source=") && q.contains("&e=100&s="), "{q}");
        assert_eq!(rotated.verify(p, Some(q), 100), Ok(()));
        assert_eq!(rotated.verify(p, Some(q), 101), Err(SignatureError::Expired(100)));
        let tampered = q.replace("x.example", "y.example");
        assert_eq!(rotated.verify(p, Some(&tampered), 0), Err(SignatureError::Wrong));
        let later = q.replace("e=100", "e=999");
        assert_eq!(rotated.verify(p, Some(&later), 0), Err(SignatureError::Wrong));
        assert_eq!(rotated.verify(p, None, 0), Err(SignatureError::Missing));
        assert_eq!(rotated.verify(p, Some("s=%%%"), 0), Err(SignatureError::Wrong));
    }

    #[test]
    fn the_message_is_the_path_and_the_other_parameters_as_sent() {
        // The recipe of docs/security.md, by hand: HMAC-SHA256, 16 bytes, URL-safe base64.
        let signer = Signer::new(&[key('0')]).unwrap();
        let expected = URL_SAFE_NO_PAD.encode(&tag(&key('0'), "/p/a/x1.jpg?e=5")[..16]);
        assert_eq!(signer.sign("/p/a/x1.jpg", Some(5)), format!("/p/a/x1.jpg?e=5&s={expected}"));
        // `s` may come first; the other parameters keep their order.
        assert_eq!(signer.verify("/p/a/x1.jpg", Some(&format!("s={expected}&e=5")), 0), Ok(()));
    }
}
