//! The only place object-store keys are spelled (DESIGN.md §3).

use std::fmt;

use super::{ImageId, Namespace, Variant};

const JOBS: &str = ".jobs/";

/// The leaf names of an image's own objects (beside its variants, named as variants are).
const LEAVES: [&str; 4] = ["original", "info.json", "working", "working-small"];

/// Suffix of a lease's key, and the start of a takeover marker's suffix (`{key}.lease.{ms}`).
const LEASE: &str = ".lease";

/// A key in the object store, relative to the store's root or prefix.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// `{ns}/{id}/original`: the bytes as uploaded.
    pub fn original(ns: &Namespace, id: &ImageId) -> Self {
        Self::under(ns, id, "original")
    }

    /// `{ns}/{id}/info.json`: the image's facts.
    pub fn info(ns: &Namespace, id: &ImageId) -> Self {
        Self::under(ns, id, "info.json")
    }

    /// `{ns}/{id}/working` (tier 0) and `.../working-small` (tier 1): the working
    /// copies made once at upload, largest first.
    pub fn working(ns: &Namespace, id: &ImageId, tier: usize) -> Self {
        Self::under(ns, id, if tier == 0 { "working" } else { "working-small" })
    }

    /// `{ns}/{id}/{variant}`: a rendered variant, named as in its URL.
    pub fn variant(ns: &Namespace, id: &ImageId, variant: &Variant) -> Self {
        use std::fmt::Write;
        let mut key = String::with_capacity(ns.as_str().len() + 64);
        write!(key, "{ns}/{id}/{variant}").expect("a String takes any text");
        Self(key)
    }

    /// `{ns}/`: the prefix under which every object of a namespace lives.
    pub fn namespace_prefix(ns: &Namespace) -> Self {
        Self(format!("{ns}/"))
    }

    /// Whether a path segment could be the last part of a key under an image: one of its
    /// leaves, anything of the variant grammar, a lease or takeover marker, or a dotted name
    /// (kept for markers). An origin path with such a segment after its first would put its
    /// objects inside another image's keys (`/o/a/info.json/w1.jpg` under `o/a/info.json`).
    pub fn could_be_leaf(segment: &str) -> bool {
        LEAVES.contains(&segment)
            || !matches!(segment.parse::<Variant>(), Err(super::VariantError::Malformed))
            || segment.starts_with('.')
            || segment.ends_with(LEASE)
            || segment.contains(".lease.")
    }

    fn under(ns: &Namespace, id: &ImageId, leaf: &str) -> Self {
        Self(format!("{ns}/{id}/{leaf}"))
    }

    /// `{ns}/{id}/`: the prefix of every object of one image.
    pub fn image_prefix(ns: &Namespace, id: &ImageId) -> Self {
        Self(format!("{ns}/{id}/"))
    }

    /// `{key}.lease`: the lease on the work that makes `key` (store::lease).
    pub fn lease_of(key: &ObjectKey) -> Self {
        Self(format!("{key}{LEASE}"))
    }

    /// `{lease}.{expiry}`: the marker of one node taking over the stale lease that expired at
    /// `expires_unix_ms`; its conditional create lets one node through.
    pub fn takeover_of(lease: &ObjectKey, expires_unix_ms: u64) -> Self {
        Self(format!("{lease}.{expires_unix_ms}"))
    }

    /// `.jobs/{ns}/{id}/{job}.json`: an upload's outputs and notification still to do. Under a
    /// prefix no namespace can have (names cannot start with a dot), so that a node finds every
    /// job with one listing.
    pub fn job(ns: &Namespace, id: &ImageId, job: &str) -> Self {
        Self(format!("{JOBS}{ns}/{id}/{job}.json"))
    }

    /// `.jobs/`: the prefix of every job.
    pub fn jobs_prefix() -> Self {
        Self(JOBS.to_owned())
    }

    /// `.jobs/{ns}/{id}/`: the prefix of an image's jobs.
    pub fn image_jobs_prefix(ns: &Namespace, id: &ImageId) -> Self {
        Self(format!("{JOBS}{ns}/{id}/"))
    }

    /// A key [`Store::list`](crate::store::Store::list) gave under [`ObjectKey::jobs_prefix`],
    /// if it is a job (not its lease).
    pub fn listed_job(key: &str) -> Option<Self> {
        (key.starts_with(JOBS) && key.ends_with(".json")).then(|| Self(key.to_owned()))
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
        let h: ImageId = ImageId::Hash("6e0072682e66287b662827da75b244a3".parse().unwrap());
        let v: Variant = "x200-q30.jpg".parse().unwrap();
        assert_eq!(ObjectKey::original(&ns, &h).as_str(), "p/6e0/072/682/e66287b662827da75b244a3/original");
        assert_eq!(ObjectKey::info(&ns, &h).as_str(), "p/6e0/072/682/e66287b662827da75b244a3/info.json");
        assert_eq!(ObjectKey::variant(&ns, &h, &v).as_str(), "p/6e0/072/682/e66287b662827da75b244a3/x200-q30.jpg");
        let pulled = ImageId::Path("user/avatar/3589782".parse().unwrap());
        assert_eq!(ObjectKey::original(&ns, &pulled).as_str(), "p/user/avatar/3589782/original");
        let job = ObjectKey::job(&ns, &h, "j1");
        assert_eq!(job.as_str(), ".jobs/p/6e0/072/682/e66287b662827da75b244a3/j1.json");
        assert_eq!(ObjectKey::listed_job(job.as_str()), Some(job.clone()));
        assert_eq!(ObjectKey::listed_job(ObjectKey::lease_of(&job).as_str()), None);
    }

    #[test]
    fn every_leaf_name_could_be_a_leaf() {
        let ns: Namespace = "p".parse().unwrap();
        let id = ImageId::Path("a".parse().unwrap());
        let v: Variant = "w100.jpg".parse().unwrap();
        let info = ObjectKey::info(&ns, &id);
        let lease = ObjectKey::lease_of(&info);
        for key in [
            ObjectKey::original(&ns, &id),
            info.clone(),
            ObjectKey::working(&ns, &id, 0),
            ObjectKey::working(&ns, &id, 1),
            ObjectKey::variant(&ns, &id, &v),
            ObjectKey::lease_of(&ObjectKey::variant(&ns, &id, &v)),
            ObjectKey::takeover_of(&lease, 1_700_000_000_000),
            lease,
        ] {
            let leaf = key.as_str().strip_prefix("p/a/").unwrap();
            assert!(ObjectKey::could_be_leaf(leaf), "{leaf}");
        }
        assert!(ObjectKey::could_be_leaf("w100.bmp"), "the grammar, not only what this build writes");
        for name in ["3589782.jpg", "avatar", "photo_0.24mp_owl_baseline.jpg", "leases", "x.leasehold"] {
            assert!(!ObjectKey::could_be_leaf(name), "{name}");
        }
    }
}
