//! Upload tokens (DESIGN.md §9, §15): when any are configured for a namespace (its own, or the
//! global ones), uploads and deletes need `Authorization: Bearer TOKEN`. A delete always needs
//! one: in a namespace without tokens deletes are refused, unless `allow_open_delete` opens them.
//! Tokens are compared by their SHA-256 digests in constant time, so neither their bytes nor
//! their lengths leak.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A request without a token that opens this namespace (401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No `Authorization: Bearer` header.
    #[error("this namespace takes uploads and deletes with a token only: send Authorization: Bearer TOKEN")]
    Missing,
    /// A token that is not one of the namespace's.
    #[error("the upload token is not valid for this namespace")]
    Wrong,
    /// A delete in a namespace without tokens, `allow_open_delete` off (403).
    #[error("deletes need a token, and this namespace has none: configure upload_tokens (or allow_open_delete)")]
    DeletesClosed,
}

/// Whether the `Authorization` header value opens a namespace whose tokens (the global ones and
/// its own) are `tokens`. With no tokens at all, everything is allowed.
pub fn check<'a>(tokens: impl IntoIterator<Item = &'a String>, authorization: Option<&[u8]>) -> Result<(), TokenError> {
    let mut tokens = tokens.into_iter().peekable();
    if tokens.peek().is_none() {
        return Ok(());
    }
    let given = authorization
        .and_then(|v| v.strip_prefix(b"Bearer ").or_else(|| v.strip_prefix(b"bearer ")))
        .map(|t| t.trim_ascii())
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Missing)?;
    let given = Sha256::digest(given);
    // Every token is compared, so the time taken does not say which one matched.
    let matched =
        tokens.fold(subtle::Choice::from(0), |acc, token| acc | Sha256::digest(token.as_bytes()).ct_eq(&given));
    if bool::from(matched) { Ok(()) } else { Err(TokenError::Wrong) }
}

/// Whether the `Authorization` header value opens deletes in a namespace whose tokens are
/// `tokens`: as [`check`], except that no tokens at all opens nothing unless `allow_open`.
pub fn check_delete<'a>(
    tokens: impl IntoIterator<Item = &'a String>,
    allow_open: bool,
    authorization: Option<&[u8]>,
) -> Result<(), TokenError> {
    let mut tokens = tokens.into_iter().peekable();
    if tokens.peek().is_none() && !allow_open {
        return Err(TokenError::DeletesClosed);
    }
    check(tokens, authorization)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_or_refuse() {
        let none: Vec<String> = Vec::new();
        assert_eq!(check(&none, None), Ok(()));
        let tokens = vec!["global-secret".to_owned(), "ns-secret".to_owned()];
        assert_eq!(check(&tokens, None), Err(TokenError::Missing));
        assert_eq!(check(&tokens, Some(b"Basic abc")), Err(TokenError::Missing));
        assert_eq!(check(&tokens, Some(b"Bearer nope")), Err(TokenError::Wrong));
        assert_eq!(check(&tokens, Some(b"Bearer ns-secret")), Ok(()));
        assert_eq!(check(&tokens, Some(b"Bearer global-secret ")), Ok(()));
        assert_eq!(check(&tokens, Some(b"Bearer global-secretX")), Err(TokenError::Wrong));
    }

    #[test]
    fn deletes_always_need_a_token_unless_opened() {
        let none: Vec<String> = Vec::new();
        assert_eq!(check_delete(&none, false, None), Err(TokenError::DeletesClosed));
        assert_eq!(check_delete(&none, false, Some(b"Bearer anything")), Err(TokenError::DeletesClosed));
        assert_eq!(check_delete(&none, true, None), Ok(()));
        let tokens = vec!["secret".to_owned()];
        for open in [false, true] {
            assert_eq!(check_delete(&tokens, open, None), Err(TokenError::Missing), "tokens are asked even if open");
            assert_eq!(check_delete(&tokens, open, Some(b"Bearer secret")), Ok(()));
        }
    }
}
