//! `ImageService`: uploads and variant lookups, independent of HTTP.
//!
//! A variant is looked up in memory, then in storage, then rendered on the CPU pool and written
//! back to storage before it is answered; concurrent requests for one variant join one lookup.
//! Uploads are validated (header, pixel limit, a full decode) before anything is stored. The
//! service answers in its own words ([`Answer`], [`ServiceError`]); it records the renders,
//! uploads and downloads it does, and leaves the counting of requests to its caller.

mod answer;
mod delete;
mod error;
mod info;
mod ingest;
mod jobs;
mod moderation;
mod negotiate;
mod popular;
mod pull;
mod render_lease;
mod variants;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use answer::{Answer, Lifetime};
pub use error::ServiceError;
pub use info::ImageInfo;
pub use ingest::{Ingested, Outputs};
pub use popular::Popular;

use crate::buffer::UploadBuffer;
use crate::cache::ObjectCache;
use crate::config::Config;
use crate::hooks::Hooks;
use crate::metrics::Metrics;
use crate::model::{Namespace, ObjectKey, Variant};
use crate::pipeline::{JpegBounds, Limits};
use crate::pool::CpuPool;
use crate::source::Fetcher;
use crate::store::Store;

/// The handles made once by the wiring and shared by the service, the main port and the status
/// port.
#[derive(Clone, Debug)]
pub struct Parts {
    /// Counters, histograms and statsd.
    pub metrics: Arc<Metrics>,
    /// The render pool.
    pub pool: CpuPool,
    /// The memory cache of encoded answers.
    pub cache: ObjectCache,
    /// The bound on upload and download bytes held in memory.
    pub buffer: UploadBuffer,
    /// The counts of popular sizes.
    pub popular: Arc<Popular>,
}

impl Parts {
    /// The pool, the answer cache and the upload buffer as `config` sizes them, around `metrics`.
    pub fn new(config: &Config, metrics: Metrics) -> Parts {
        let memory = config.cache.memory_cache_bytes.0;
        Parts {
            metrics: Arc::new(metrics),
            pool: CpuPool::new(config.render.workers, config.limits.queue_size, config.limits.decode_budget_pixels),
            cache: ObjectCache::new(memory - source_cache_bytes(memory)),
            buffer: UploadBuffer::new(config.limits.upload_buffer_bytes.0),
            popular: Arc::new(Popular::new(config)),
        }
    }
}

/// What decoding one original may cost, as `config` says.
pub fn render_limits(config: &Config) -> Limits {
    let limits = &config.limits;
    Limits {
        max_source_pixels: limits.max_source_pixels,
        jpeg: JpegBounds { max_scans: limits.max_jpeg_scans, deadline: limits.decode_timeout_secs },
        max_animation_frames: limits.max_animation_frames,
    }
}

/// A quarter of the memory budget holds sources, the rest encoded answers.
fn source_cache_bytes(memory: u64) -> u64 {
    memory / 4
}

/// Everything a request needs, shared by all requests.
#[derive(Clone, Debug)]
pub struct ImageService {
    config: Arc<Config>,
    variants: Store,
    originals: Store,
    cache: ObjectCache,
    /// Originals and working copies recently rendered from, so a burst of misses on one image
    /// reads it from storage once.
    sources: ObjectCache<Bytes>,
    pool: CpuPool,
    fetcher: Fetcher,
    metrics: Arc<Metrics>,
    limits: Limits,
    /// AVIF renders running or queued on the pool: at most half the workers (at least one), so
    /// that AVIF misses, several times slower than JPEG ones, never hold every worker.
    avif_lane: Arc<tokio::sync::Semaphore>,
    /// The variant names stored per image prefix, listed at most once a second.
    listings: moka::future::Cache<ObjectKey, Arc<Vec<String>>>,
    /// Upload jobs queued and held here.
    jobs: Arc<jobs::Jobs>,
    /// The notification and moderation hooks' client.
    hooks: Hooks,
    /// Popular sizes: their counts and background renders.
    popular: Arc<Popular>,
}

/// Staging files older than this are a killed writer's: no whole-object write takes minutes.
const STAGING_FILE_AGE: Duration = Duration::from_secs(600);

/// How long a listing of an image's variants answers info lookups.
const LISTING_LIFETIME: Duration = Duration::from_secs(1);

/// Images whose listing is kept.
const LISTINGS_KEPT: u64 = 10_000;

/// How many AVIF renders may hold pool workers at once.
fn avif_lane_permits(workers: usize) -> usize {
    (workers / 2).max(1)
}

impl ImageService {
    /// Opens the stores and the source client as `config` says, around the shared parts.
    pub fn new(config: Arc<Config>, parts: Parts) -> Result<ImageService, String> {
        let variants = Store::open(&config.storage.storage)?;
        let originals = match &config.storage.originals_storage {
            Some(url) if url != &config.storage.storage => Store::open(url)?,
            _ => variants.clone(),
        };
        let fetcher = Fetcher::new(&config.sources, config.limits.max_upload_bytes.0, parts.buffer)?;
        Ok(ImageService {
            listings: moka::future::Cache::builder().max_capacity(LISTINGS_KEPT).time_to_live(LISTING_LIFETIME).build(),
            jobs: Arc::new(jobs::Jobs::new(config.render.workers)),
            hooks: Hooks::new(&config.background)?,
            popular: parts.popular,
            sources: ObjectCache::new(source_cache_bytes(config.cache.memory_cache_bytes.0)),
            cache: parts.cache,
            pool: parts.pool,
            limits: render_limits(&config),
            avif_lane: Arc::new(tokio::sync::Semaphore::new(avif_lane_permits(config.render.workers))),
            metrics: parts.metrics,
            variants,
            originals,
            fetcher,
            config,
        })
    }

    /// Refuses variants this namespace does not allow: extensions outside the whitelist (400)
    /// and sizes above the maximums (406).
    pub fn check_variant(&self, ns: &Namespace, variant: &Variant) -> Result<(), ServiceError> {
        let own = self.config.namespace(ns);
        let limits = &self.config.limits;
        let whitelist = own.and_then(|n| n.whitelisted_extensions.as_ref()).unwrap_or(&limits.whitelisted_extensions);
        if !whitelist.contains(&variant.ext) {
            return Err(ServiceError::ExtensionNotAllowed(variant.ext));
        }
        if own.and_then(|n| n.allowed_variants.as_ref()).is_some_and(|allowed| !allowed.contains(variant)) {
            return Err(ServiceError::VariantNotAllowed(*variant));
        }
        let max_w = own.and_then(|n| n.maximum_width).unwrap_or(limits.maximum_width);
        let max_h = own.and_then(|n| n.maximum_height).unwrap_or(limits.maximum_height);
        let (w, h) = variant.geometry.requested_size();
        if w.is_some_and(|w| w > max_w) || h.is_some_and(|h| h > max_h) {
            return Err(ServiceError::SizeNotAcceptable { max_width: max_w, max_height: max_h });
        }
        Ok(())
    }

    /// [`ImageService::check_variant`] for each of a list of outputs.
    pub fn check_variants(&self, ns: &Namespace, variants: &[Variant]) -> Result<(), (Variant, ServiceError)> {
        variants.iter().try_for_each(|v| self.check_variant(ns, v).map_err(|e| (*v, e)))
    }

    /// Removes the staging files killed writers left in `file://` stores (see
    /// [`Store::remove_stale_temporaries`]); blocking, for start-up. Answers how many.
    pub fn remove_stale_temporaries(&self) -> usize {
        self.stores().iter().map(|store| store.remove_stale_temporaries(STAGING_FILE_AGE)).sum()
    }

    /// The stores this service writes to: originals, and variants where they are kept apart.
    fn stores(&self) -> Vec<&Store> {
        if self.variants.url() == self.originals.url() {
            vec![&self.originals]
        } else {
            vec![&self.originals, &self.variants]
        }
    }

    /// Whether `ns` pulls its originals from an origin.
    pub fn is_origin_pull(&self, ns: &Namespace) -> bool {
        self.config.namespace(ns).is_some_and(|c| c.source_url.is_some())
    }
}
