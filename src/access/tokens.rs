//! Upload tokens (DESIGN.md §9): when any are configured for a namespace (its own, or the
//! global ones), uploads and deletes need `Authorization: Bearer TOKEN`. Tokens are compared by
//! their SHA-256 digests in constant time, so neither their bytes nor their lengths leak.

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
}
