//! Variant and info lookups: memory, then storage, then render (variants only).

use std::sync::Mutex;

use bytes::Bytes;

use super::{ImageService, ServiceError};
use crate::cache::{CachedObject, Lookup};
use crate::model::{ImageHash, Namespace, ObjectKey, Variant};
use crate::pipeline::{self, RenderSpec};
use crate::stats::Stats;
use crate::store::StoreError;

/// Where an answer came from, for logs and counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// The memory cache (or a load another request was running).
    Memory,
    /// Storage.
    Storage,
    /// Rendered by this request.
    Rendered,
}

impl Served {
    /// Short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Memory => "memory",
            Served::Storage => "storage",
            Served::Rendered => "rendered",
        }
    }
}

impl ImageService {
    /// The encoded variant, from memory, storage, or rendered now and stored.
    pub async fn variant(
        &self,
        ns: &Namespace,
        hash: &ImageHash,
        variant: &Variant,
    ) -> Result<(CachedObject, Served), ServiceError> {
        self.check_variant(ns, variant)?;
        let key = ObjectKey::variant(ns, hash, variant);
        let served = Mutex::new(Served::Memory);
        let load = async {
            if let Some(bytes) = self.variants.get_opt(&key).await? {
                *served.lock().unwrap() = Served::Storage;
                return Ok(CachedObject::new(bytes));
            }
            let original = self
                .originals
                .get(&ObjectKey::original(ns, hash))
                .await
                .map_err(not_found_is_missing_image)?;
            let spec = RenderSpec {
                geometry: variant.geometry,
                format: variant.ext.format(),
                quality: variant.quality.unwrap_or_else(|| {
                    self.config.default_quality.for_format(variant.ext.format())
                }),
            };
            let limits = self.limits;
            let rendered = self
                .pool
                .run(move || {
                    pipeline::render(&original, &spec, &limits)
                        .map(|r| CachedObject::new(Bytes::from(r.bytes)))
                })
                .await?;
            let obj = match rendered {
                Ok(obj) => obj,
                Err(e) => {
                    Stats::bump(&self.stats.render_failures);
                    return Err(e.into());
                }
            };
            if let Err(e) = self.variants.put(&key, obj.bytes.clone()).await {
                // The image is still good to answer; the next miss renders it again.
                tracing::warn!(key = %key, error = %e, "could not store a rendered variant");
            }
            Stats::bump(&self.stats.renders);
            *served.lock().unwrap() = Served::Rendered;
            Ok::<_, ServiceError>(obj)
        };
        let (obj, lookup) = self
            .cache
            .get_or_load(key.clone(), load)
            .await
            .map_err(|e| (*e).clone())?;
        Ok((obj, self.count(lookup, *served.lock().unwrap())))
    }

    /// The info JSON of a stored original.
    pub async fn info(
        &self,
        ns: &Namespace,
        hash: &ImageHash,
    ) -> Result<(CachedObject, Served), ServiceError> {
        let key = ObjectKey::info(ns, hash);
        let load = async {
            let bytes = self
                .originals
                .get(&key)
                .await
                .map_err(not_found_is_missing_image)?;
            Ok::<_, ServiceError>(CachedObject::new(bytes))
        };
        let (obj, lookup) = self
            .cache
            .get_or_load(key.clone(), load)
            .await
            .map_err(|e| (*e).clone())?;
        Ok((obj, self.count(lookup, Served::Storage)))
    }

    fn count(&self, lookup: Lookup, loaded: Served) -> Served {
        match lookup {
            Lookup::Memory => {
                Stats::bump(&self.stats.memory_hits);
                Served::Memory
            }
            Lookup::Loaded => {
                Stats::bump(&self.stats.memory_misses);
                if loaded == Served::Storage {
                    Stats::bump(&self.stats.storage_hits);
                }
                loaded
            }
        }
    }
}

fn not_found_is_missing_image(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => ServiceError::ImageNotFound,
        other => ServiceError::Store(other),
    }
}
