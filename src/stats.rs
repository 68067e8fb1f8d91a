//! In-process counters of what the service did, read by the status port.

use std::sync::atomic::{AtomicU64, Ordering};

/// Monotonic event counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Variants rendered (and stored) because no copy existed.
    pub renders: AtomicU64,
    /// Renders that failed.
    pub render_failures: AtomicU64,
    /// Variant or info answers served from the memory cache.
    pub memory_hits: AtomicU64,
    /// Lookups that missed the memory cache.
    pub memory_misses: AtomicU64,
    /// Memory misses found in storage.
    pub storage_hits: AtomicU64,
    /// New originals stored.
    pub uploads: AtomicU64,
    /// Uploads of bytes that were stored already.
    pub duplicate_uploads: AtomicU64,
    /// Originals fetched from source URLs.
    pub originals_downloaded: AtomicU64,
    /// Source downloads in progress.
    pub downloads_in_progress: AtomicU64,
}

impl Stats {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn read(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}
