//! `ImageService`: uploads and variant lookups, independent of HTTP.
//!
//! A variant is looked up in memory, then in storage, then rendered on the CPU pool and written
//! back to storage before it is answered; concurrent requests for one variant join one lookup.
//! Uploads are validated (header, pixel limit, a full decode) before anything is stored.

mod error;
mod ingest;
mod pull;
mod variants;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

pub use crate::metrics::Served;
pub use error::ServiceError;
pub use ingest::Ingested;

use crate::cache::ObjectCache;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::model::{ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::Limits;
use crate::pool::CpuPool;
use crate::source::{FetchSettings, Fetcher};
use crate::store::Store;

/// The facts of a stored original, as info.json and the upload answer give them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// md5 of the original's bytes.
    pub hash: String,
    /// Upright width.
    pub width: u32,
    /// Upright height.
    pub height: u32,
    /// MIME type of the original.
    pub content_type: String,
    /// With `remote_base_url`: the public URL of each stored variant, by name. Never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<BTreeMap<String, String>>,
}

impl ImageInfo {
    /// Reads the stored info.json of image `id`.
    fn from_stored(json: &[u8], id: &ImageId) -> Result<ImageInfo, ServiceError> {
        serde_json::from_slice(json)
            .map_err(|e| ServiceError::Internal(format!("stored info.json of {id} is not valid: {e}")))
    }
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
}

impl ImageService {
    /// Opens the stores and starts the render pool as `config` says.
    pub fn new(config: Arc<Config>) -> Result<ImageService, String> {
        let variants = Store::open(&config.storage)?;
        let originals = match &config.originals_storage {
            Some(url) if url != &config.storage => Store::open(url)?,
            _ => variants.clone(),
        };
        let fetcher = Fetcher::new(FetchSettings {
            max_bytes: config.max_upload_bytes,
            allow_private: config.source_allow_private,
            timeout: config.source_timeout,
            max_redirects: config.source_max_redirects,
        })?;
        // A quarter of the memory budget holds sources, the rest encoded answers.
        let source_bytes = config.memory_cache_bytes / 4;
        Ok(ImageService {
            cache: ObjectCache::new(config.memory_cache_bytes - source_bytes),
            sources: ObjectCache::new(source_bytes),
            pool: CpuPool::new(config.workers, config.queue_size, config.decode_budget_pixels),
            limits: Limits { max_source_pixels: config.max_source_pixels },
            metrics: Arc::new(metrics(&config)),
            variants,
            originals,
            fetcher,
            config,
        })
    }

    /// The configuration the service runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters, histograms and statsd.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The render pool (for queue figures).
    pub fn pool(&self) -> &CpuPool {
        &self.pool
    }

    /// The memory cache (for its figures).
    pub fn cache(&self) -> &ObjectCache {
        &self.cache
    }

    /// Refuses variants this namespace does not allow: extensions outside the whitelist (400)
    /// and sizes above the maximums (406).
    pub fn check_variant(&self, ns: &Namespace, variant: &Variant) -> Result<(), ServiceError> {
        let limits = self.config.namespace(ns).map(|n| &n.limits);
        let whitelist =
            limits.and_then(|l| l.whitelisted_extensions.as_ref()).unwrap_or(&self.config.whitelisted_extensions);
        if !whitelist.contains(&variant.ext) {
            return Err(ServiceError::ExtensionNotAllowed(variant.ext));
        }
        if limits.and_then(|l| l.allowed_variants.as_ref()).is_some_and(|allowed| !allowed.contains(variant)) {
            return Err(ServiceError::VariantNotAllowed(*variant));
        }
        let max_w = limits.and_then(|l| l.maximum_width).unwrap_or(self.config.maximum_width);
        let max_h = limits.and_then(|l| l.maximum_height).unwrap_or(self.config.maximum_height);
        let (w, h) = variant.geometry.requested_size();
        if w.is_some_and(|w| w > max_w) || h.is_some_and(|h| h > max_h) {
            return Err(ServiceError::SizeNotAcceptable { max_width: max_w, max_height: max_h });
        }
        Ok(())
    }
}

impl ImageService {
    /// Whether `ns` pulls its originals from an origin.
    pub fn is_origin_pull(&self, ns: &Namespace) -> bool {
        self.config.namespace(ns).is_some_and(|c| c.source_url.is_some())
    }

    /// With `remote_base_url`, adds the public URL of each variant stored for the image (one
    /// listing of its prefix in the variant storage); without, the info as it is.
    pub(crate) async fn with_public_urls(
        &self,
        ns: &Namespace,
        id: &ImageId,
        mut info: ImageInfo,
    ) -> Result<ImageInfo, ServiceError> {
        let Some(base) = &self.config.remote_base_url else { return Ok(info) };
        let prefix = ObjectKey::image_prefix(ns, id);
        let mut urls = BTreeMap::new();
        for key in self.variants.list(&prefix).await? {
            let Some(name) = key.strip_prefix(prefix.as_str()) else { continue };
            if !name.contains('/') && !ObjectKey::NON_VARIANT_LEAVES.contains(&name) {
                urls.insert(name.to_owned(), format!("{base}/{key}"));
            }
        }
        info.urls = Some(urls);
        Ok(info)
    }
}

/// Metrics as configured; a statsd address that cannot be used is reported and left out, since
/// metrics must never stop the service.
fn metrics(config: &Config) -> Metrics {
    let Some(addr) = &config.statsd else { return Metrics::new() };
    Metrics::with_statsd(addr, &config.statsd_prefix).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "statsd disabled");
        Metrics::new()
    })
}
