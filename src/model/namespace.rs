//! `Namespace`: a group of images with its own settings, `[a-z0-9_-]{1,64}`.

use std::fmt;
use std::str::FromStr;

/// A validated namespace name.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Namespace(String);

/// A string outside `[a-z0-9_-]{1,64}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a namespace: expected 1 to 64 characters of a-z, 0-9, '_' and '-'")]
pub struct NamespaceError;

impl Namespace {
    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Namespace {
    type Err = NamespaceError;

    fn from_str(s: &str) -> Result<Self, NamespaceError> {
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        if ok { Ok(Self(s.to_owned())) } else { Err(NamespaceError) }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        assert!("p".parse::<Namespace>().is_ok());
        assert!("user_avatars-2".parse::<Namespace>().is_ok());
        assert!("a".repeat(64).parse::<Namespace>().is_ok());
        for bad in ["", "P", "a/b", "a.b", "ü", &"a".repeat(65)] {
            assert!(bad.parse::<Namespace>().is_err(), "{bad}");
        }
    }
}
