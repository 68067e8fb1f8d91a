//! `ImageId`: what names an original inside a namespace: the md5 of uploaded bytes, or, in an
//! origin-pull namespace, the path of the original on its origin.

use std::fmt;
use std::str::FromStr;

use super::ImageHash;

/// The path an origin-pull namespace fetches an original from (the `{path}` of its template):
/// 1 to 16 segments of `[A-Za-z0-9._~-]`, none of them `.` or `..`, at most 512 bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OriginPath(String);

/// A string that is not a usable origin path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an origin path: 1 to 16 segments of A-Z a-z 0-9 . _ ~ -, without . or .. segments")]
pub struct OriginPathError;

impl OriginPath {
    /// The path as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OriginPath {
    type Err = OriginPathError;

    fn from_str(s: &str) -> Result<Self, OriginPathError> {
        let segment_ok = |seg: &str| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
        };
        let segments = s.split('/').count();
        if s.len() <= 512 && (1..=16).contains(&segments) && s.split('/').all(segment_ok) {
            Ok(OriginPath(s.to_owned()))
        } else {
            Err(OriginPathError)
        }
    }
}

/// An original's identity within its namespace.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum ImageId {
    /// Uploaded: the md5 of its bytes.
    Hash(ImageHash),
    /// Pulled from an origin on first use: its path there.
    Path(OriginPath),
}

impl ImageId {
    /// Reads the id back from its form in URLs and keys (`6e0/072/682/e66...` or a path).
    pub fn parse(s: &str) -> Option<ImageId> {
        let parts: Vec<&str> = s.split('/').collect();
        if let [a, b, c, d] = parts.as_slice()
            && let Ok(hash) = ImageHash::from_partitions([a, b, c, d])
        {
            return Some(ImageId::Hash(hash));
        }
        s.parse().ok().map(ImageId::Path)
    }
}

impl From<ImageHash> for ImageId {
    fn from(hash: ImageHash) -> Self {
        ImageId::Hash(hash)
    }
}

impl fmt::Display for ImageId {
    /// The form used in URLs and storage keys: the partitioned hash, or the path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageId::Hash(h) => h.write_partitioned(f),
            ImageId::Path(p) => f.write_str(&p.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_paths() {
        for ok in ["avatar/3589782", "a", "user/avatar/3589782.jpg", "a-b_c~d.e/f"] {
            assert!(ok.parse::<OriginPath>().is_ok(), "{ok}");
        }
        let too_deep = vec!["a"; 17].join("/");
        for bad in ["", "/a", "a/", "a//b", "a/../b", ".", "a/./b", "a b", "a%2f", "ü", &too_deep] {
            assert!(bad.parse::<OriginPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_round_trip_through_their_display_form() {
        let hash: ImageHash = "6e0072682e66287b662827da75b244a3".parse().unwrap();
        for id in [ImageId::Hash(hash), ImageId::Path("user/avatar/3589782".parse().unwrap())] {
            assert_eq!(ImageId::parse(&id.to_string()), Some(id));
        }
    }
}
