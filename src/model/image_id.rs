//! `ImageId`: what names an original inside a namespace: the md5 of uploaded bytes, or, in an
//! origin-pull namespace, the path of the original on its origin.

use std::fmt;
use std::str::FromStr;

use super::{ImageHash, ObjectKey};

/// The path an origin-pull namespace fetches an original from (the `{path}` of its template):
/// 1 to 16 segments of `[A-Za-z0-9._~-]`, none of them `.` or `..`, at most 512 bytes.
///
/// An origin path is also where its image's objects are stored (`{ns}/{path}/original`...), so it
/// may not reach into another image's keys: no segment after the first may be named like an
/// object under an image (see [`ObjectKey::could_be_leaf`]: `original`, `info.json`, a variant
/// name...), and it may not start with a partitioned hash, the keys of an uploaded image.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct OriginPath(String);

/// A string that is not a usable origin path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OriginPathError {
    /// Outside the grammar (404 in a URL).
    #[error("not an origin path: 1 to 16 segments of A-Z a-z 0-9 . _ ~ -, without . or .. segments")]
    Malformed,
    /// A segment after the first named like an object stored under an image (400 in a URL).
    #[error(
        "origin path segment '{0}' is refused: after the first, no segment may be named like an object stored \
         under an image (original, info.json, working, working-small, a variant name, a name starting with a dot \
         or holding .lease)"
    )]
    ReservedSegment(String),
    /// Starts with a partitioned hash, followed by more (400 in a URL).
    #[error("origin path is refused: it may not start with a partitioned hash (the keys of an uploaded image)")]
    UnderAHash,
}

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
        let segments: Vec<&str> = s.split('/').collect();
        if s.len() > 512 || !(1..=16).contains(&segments.len()) || !segments.iter().all(|seg| segment_ok(seg)) {
            return Err(OriginPathError::Malformed);
        }
        if let Some(reserved) = segments.iter().skip(1).find(|seg| ObjectKey::could_be_leaf(seg)) {
            return Err(OriginPathError::ReservedSegment((*reserved).to_owned()));
        }
        if let [a, b, c, d, _, ..] = segments.as_slice()
            && ImageHash::from_partitions([a, b, c, d]).is_ok()
        {
            return Err(OriginPathError::UnderAHash);
        }
        Ok(OriginPath(s.to_owned()))
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
            assert_eq!(bad.parse::<OriginPath>(), Err(OriginPathError::Malformed), "{bad}");
        }
    }

    #[test]
    fn origin_paths_cannot_reach_into_another_images_keys() {
        for (path, segment) in [
            ("victim/info.json", "info.json"),
            ("victim/original", "original"),
            ("victim/working-small/x", "working-small"),
            ("victim/w100.jpg", "w100.jpg"),
            ("victim/x200-q0.jpg", "x200-q0.jpg"),
            ("victim/info.json.lease", "info.json.lease"),
            ("victim/original.lease.1700000000000/x", "original.lease.1700000000000"),
            ("victim/.deleted", ".deleted"),
        ] {
            assert_eq!(path.parse::<OriginPath>(), Err(OriginPathError::ReservedSegment(segment.to_owned())), "{path}");
        }
        let under_hash = "6e0/072/682/e66287b662827da75b244a3/x";
        assert_eq!(under_hash.parse::<OriginPath>(), Err(OriginPathError::UnderAHash));
        // A reserved name as the first segment reaches into nothing: nothing is stored at `{ns}/{name}`.
        for ok in ["original/1.jpg", "info.json", "w100.jpg/a", "6e0/072/682"] {
            assert!(ok.parse::<OriginPath>().is_ok(), "{ok}");
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
