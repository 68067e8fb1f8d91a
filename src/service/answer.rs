//! `Answer`: what the service gives back for a variant or info lookup, in its own words.

use bytes::Bytes;

use crate::cache::CachedObject;
use crate::model::Served;

/// How long an answer may be kept by caches downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Content-addressed: never changes.
    Immutable,
    /// Lists what is stored so far (info with public URLs): changes as variants are rendered.
    ShortLived,
}

/// An encoded object to answer with.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The bytes.
    pub bytes: Bytes,
    /// Their MIME type.
    pub content_type: &'static str,
    /// Strong ETag (quoted): the md5 of the bytes.
    pub etag: Bytes,
    /// Where it came from.
    pub served: Served,
    /// How long it may be kept.
    pub lifetime: Lifetime,
}

impl Answer {
    /// The answer for a cached object; `loaded_here` says whether this lookup's own load ran
    /// (else it came from memory, or joined another request's load).
    pub(super) fn of(obj: CachedObject, loaded_here: bool, content_type: &'static str) -> Answer {
        let served = if loaded_here { obj.loaded_from } else { Served::Memory };
        Answer { bytes: obj.bytes, content_type, etag: obj.etag, served, lifetime: Lifetime::Immutable }
    }
}
