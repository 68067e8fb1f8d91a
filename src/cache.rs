//! The in-memory caches, bounded by bytes: encoded answers (variants and info JSON, with their
//! ETags), the sources renders read (originals and working copies), and those sources decoded.
//!
//! Concurrent lookups of one key join a single load: the first caller's loader runs (storage,
//! then render), the others wait for its result. Nothing here counts lookups: the caller is told
//! whether its own loader ran, and answers in its own words.
//!
//! What is cached of an image carries its [`Presence`]: when the image was last confirmed in
//! storage, shared by everything cached of it, so that a hit asks one clock and one atomic
//! whether it is due for another look (DESIGN.md §15, `delete_visibility_secs`).

use std::future::Future;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use moka::future::Cache;

use crate::model::{ObjectKey, Served};
use crate::pipeline::DecodedSource;

/// An encoded object with its strong validator, and where its loader found it.
#[derive(Clone, Debug)]
pub struct CachedObject {
    /// The bytes served.
    pub bytes: Bytes,
    /// Strong ETag (quoted), derived from the bytes.
    pub etag: Bytes,
    /// Where the load that put it here found it (storage, or rendered).
    pub loaded_from: Served,
    /// The presence of the image it was made from, where it was made from one.
    pub presence: Option<Arc<Presence>>,
}

impl CachedObject {
    /// Wraps bytes loaded from `loaded_from`, computing the ETag from their md5.
    pub fn new(bytes: Bytes, loaded_from: Served) -> Self {
        let etag = Bytes::from(format!("\"{}\"", crate::model::ImageHash::of(&bytes)));
        CachedObject { bytes, etag, loaded_from, presence: None }
    }

    /// The same object, made from the image whose presence this is.
    pub fn of_image(self, presence: Arc<Presence>) -> Self {
        CachedObject { presence: Some(presence), ..self }
    }
}

/// Milliseconds on a monotonic clock whose zero lies further back than any window: an expired
/// [`Presence`] (confirmed at 0) is due whatever the window.
fn clock_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    const FAR_BACK_MS: u64 = 1 << 40;
    let elapsed = ORIGIN.get_or_init(Instant::now).elapsed().as_millis();
    FAR_BACK_MS + u64::try_from(elapsed).unwrap_or(u64::MAX >> 1)
}

/// When an image known in memory was last confirmed in storage, and what its info.json held
/// then. One per image, shared by its facts and every answer cached of it: one confirmation
/// serves them all, and an info.json that changed (deleted, re-focused) is told from the one
/// the node knew.
#[derive(Debug)]
pub struct Presence {
    /// A hash of the info.json bytes confirmed.
    tag: u64,
    /// [`clock_ms`] at the last confirmation; 0 when expired.
    confirmed_ms: AtomicU64,
}

impl Presence {
    /// An image whose info.json is `info_json`, confirmed now.
    pub fn new(info_json: &[u8]) -> Arc<Presence> {
        Arc::new(Presence { tag: Self::tag_of(info_json), confirmed_ms: AtomicU64::new(clock_ms()) })
    }

    fn tag_of(info_json: &[u8]) -> u64 {
        BuildHasherDefault::<DefaultHasher>::default().hash_one(info_json)
    }

    /// Whether the last confirmation is at least `window_ms` old (or was expired): the hit path's
    /// one question.
    #[inline]
    pub fn due(&self, window_ms: u64) -> bool {
        clock_ms().saturating_sub(self.confirmed_ms.load(Ordering::Relaxed)) >= window_ms
    }

    /// Whether `info_json` is what the image held when it became known.
    pub fn matches(&self, info_json: &[u8]) -> bool {
        Self::tag_of(info_json) == self.tag
    }

    /// Storage holds the image as it was known: good for another window.
    pub fn confirmed(&self) {
        self.confirmed_ms.store(clock_ms(), Ordering::Relaxed);
    }

    /// The image may have changed or gone: the next use looks in storage first.
    pub fn expire(&self) {
        self.confirmed_ms.store(0, Ordering::Relaxed);
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
        let prefix = prefix.as_str().to_owned();
        if let Err(e) = self.inner.invalidate_entries_if(move |key, _| key.as_str().starts_with(&prefix)) {
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

/// Sources decoded whole ([`crate::pipeline::decode_whole`]) by object key, bounded by the bytes
/// of their pixels: read and filled by renders on the pool's workers, so without async.
#[derive(Clone)]
pub struct DecodedSources {
    inner: moka::sync::Cache<ObjectKey, Arc<DecodedSource>>,
}

impl std::fmt::Debug for DecodedSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedSources").field("entries", &self.inner.entry_count()).finish()
    }
}

impl DecodedSources {
    /// A cache holding at most `max_bytes` of pixels; 0 keeps none.
    pub fn new(max_bytes: u64) -> Self {
        let inner = moka::sync::Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &ObjectKey, value: &Arc<DecodedSource>| u32::try_from(value.weight()).unwrap_or(u32::MAX))
            .build();
        DecodedSources { inner }
    }

    /// The decode of `key`, if kept.
    pub fn get(&self, key: &ObjectKey) -> Option<Arc<DecodedSource>> {
        self.inner.get(key)
    }

    /// Keeps a decode of `key`.
    pub fn insert(&self, key: ObjectKey, decoded: Arc<DecodedSource>) {
        self.inner.insert(key, decoded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_is_due_after_its_window_or_once_expired() {
        let presence = Presence::new(b"{\"hash\":\"a\"}");
        assert!(!presence.due(60_000), "confirmed when made");
        assert!(presence.due(0), "a window of 0 confirms every use");
        presence.expire();
        assert!(presence.due(60_000) && presence.due(u64::from(u32::MAX)), "expired, whatever the window");
        presence.confirmed();
        assert!(!presence.due(60_000));
        assert!(presence.matches(b"{\"hash\":\"a\"}") && !presence.matches(b"{\"hash\":\"b\"}"));
    }
}
