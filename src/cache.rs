//! The in-memory caches, bounded by bytes: encoded answers (variants and info JSON, with their
//! ETags) and the sources renders read (originals and working copies, bytes only).
//!
//! Concurrent lookups of one key join a single load: the first caller's loader runs (storage,
//! then render), the others wait for its result. Nothing here counts lookups: the caller is told
//! whether its own loader ran, and answers in its own words.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use moka::future::Cache;

use crate::model::{ObjectKey, Served};

/// An encoded object with its strong validator, and where its loader found it.
#[derive(Clone, Debug)]
pub struct CachedObject {
    /// The bytes served.
    pub bytes: Bytes,
    /// Strong ETag (quoted), derived from the bytes.
    pub etag: Bytes,
    /// Where the load that put it here found it (storage, or rendered).
    pub loaded_from: Served,
}

impl CachedObject {
    /// Wraps bytes loaded from `loaded_from`, computing the ETag from their md5.
    pub fn new(bytes: Bytes, loaded_from: Served) -> Self {
        let etag = Bytes::from(format!("\"{}\"", crate::model::ImageHash::of(&bytes)));
        CachedObject { bytes, etag, loaded_from }
    }
}

/// What a cache holds: a value that knows how many bytes it keeps alive.
pub trait Weighed: Clone + Send + Sync + 'static {
    /// Bytes held.
    fn weight(&self) -> usize;
}

impl Weighed for CachedObject {
    fn weight(&self) -> usize {
        self.bytes.len()
    }
}

/// Sources are read by renders only, so they go without an ETag (no md5 of a whole original).
impl Weighed for Bytes {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// A byte-bounded cache of `V` by object key.
#[derive(Clone)]
pub struct ObjectCache<V: Weighed = CachedObject> {
    inner: Cache<ObjectKey, V>,
}

impl<V: Weighed> std::fmt::Debug for ObjectCache<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectCache").field("entries", &self.inner.entry_count()).finish()
    }
}

impl<V: Weighed> ObjectCache<V> {
    /// A cache holding at most `max_bytes` of objects.
    pub fn new(max_bytes: u64) -> Self {
        let inner = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &ObjectKey, value: &V| {
                u32::try_from(value.weight() + key.as_str().len() + 64).unwrap_or(u32::MAX)
            })
            .support_invalidation_closures()
            .build();
        ObjectCache { inner }
    }

    /// The cached object, or the result of the future `load` makes (run once however many
    /// callers wait), and whether this call's own loader ran. A hit makes no loader: a miss's
    /// future may be large, and a hit should not build it.
    pub async fn get_or_load<E, F>(&self, key: ObjectKey, load: impl FnOnce() -> F) -> Result<(V, bool), Arc<E>>
    where
        F: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.inner.get(&key).await {
            return Ok((hit, false));
        }
        // Boxed: moka's entry future is large, and a hit's future should not hold it.
        Box::pin(async {
            let entry = self.inner.entry(key).or_try_insert_with(load()).await?;
            let loaded_here = entry.is_fresh();
            Ok((entry.into_value(), loaded_here))
        })
        .await
    }

    /// The cached object, if there is one.
    pub async fn get(&self, key: &ObjectKey) -> Option<V> {
        self.inner.get(key).await
    }

    /// Puts an object in the cache.
    pub async fn insert(&self, key: ObjectKey, obj: V) {
        self.inner.insert(key, obj).await;
    }

    /// Drops one object.
    pub async fn invalidate(&self, key: &ObjectKey) {
        self.inner.invalidate(key).await;
    }

    /// Drops every object under `prefix`: no lookup finds one from now on.
    pub fn invalidate_prefix(&self, prefix: &ObjectKey) {
        self.invalidate_under(prefix, |_| true);
    }

    /// Drops the objects under `prefix` whose name after it satisfies `which`.
    pub fn invalidate_under(&self, prefix: &ObjectKey, which: impl Fn(&str) -> bool + Send + Sync + 'static) {
        let prefix = prefix.as_str().to_owned();
        let matches = move |key: &ObjectKey, _: &V| key.as_str().strip_prefix(prefix.as_str()).is_some_and(&which);
        if let Err(e) = self.inner.invalidate_entries_if(matches) {
            tracing::error!(error = %e, "cannot drop cached objects");
        }
    }

    /// Finishes the cache's pending bookkeeping, so that the figures below are current.
    pub async fn settle(&self) {
        self.inner.run_pending_tasks().await;
    }

    /// Entries held.
    pub fn entries(&self) -> u64 {
        self.inner.entry_count()
    }

    /// Bytes held (by the weigher's count).
    pub fn bytes(&self) -> u64 {
        self.inner.weighted_size()
    }
}
