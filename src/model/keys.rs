//! The only place object-store keys are spelled (DESIGN.md §3).

use std::fmt;

use super::{ImageHash, Namespace, Variant};

/// A key in the object store, relative to the store's root or prefix.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// `{ns}/{partitioned-hash}/original`: the bytes as uploaded.
    pub fn original(ns: &Namespace, hash: &ImageHash) -> Self {
        Self::under(ns, hash, "original")
    }

    /// `{ns}/{partitioned-hash}/info.json`: the image's facts.
    pub fn info(ns: &Namespace, hash: &ImageHash) -> Self {
        Self::under(ns, hash, "info.json")
    }

    /// `{ns}/{partitioned-hash}/working` (tier 0) and `.../working-small` (tier 1): the working
    /// copies made once at upload, largest first.
    pub fn working(ns: &Namespace, hash: &ImageHash, tier: usize) -> Self {
        Self::under(ns, hash, if tier == 0 { "working" } else { "working-small" })
    }

    /// `{ns}/{partitioned-hash}/{variant}`: a rendered variant, named as in its URL.
    pub fn variant(ns: &Namespace, hash: &ImageHash, variant: &Variant) -> Self {
        Self::under(ns, hash, &variant.to_string())
    }

    /// `{ns}/`: the prefix under which every object of a namespace lives.
    pub fn namespace_prefix(ns: &Namespace) -> Self {
        Self(format!("{ns}/"))
    }

    fn under(ns: &Namespace, hash: &ImageHash, leaf: &str) -> Self {
        Self(format!("{ns}/{}/{leaf}", hash.partitioned()))
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_design_section_3() {
        let ns: Namespace = "p".parse().unwrap();
        let h: ImageHash = "6e0072682e66287b662827da75b244a3".parse().unwrap();
        let v: Variant = "x200-q30.jpg".parse().unwrap();
        assert_eq!(ObjectKey::original(&ns, &h).as_str(), "p/6e0/072/682/e66287b662827da75b244a3/original");
        assert_eq!(ObjectKey::info(&ns, &h).as_str(), "p/6e0/072/682/e66287b662827da75b244a3/info.json");
        assert_eq!(ObjectKey::variant(&ns, &h, &v).as_str(), "p/6e0/072/682/e66287b662827da75b244a3/x200-q30.jpg");
    }
}
