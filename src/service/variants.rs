//! Variant and info lookups: memory, then storage, then render (variants only).

use std::sync::Mutex;

use bytes::Bytes;

use super::{ImageInfo, ImageService, ServiceError};
use crate::cache::{CachedObject, Lookup};
use crate::metrics::Served;
use crate::model::{ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::{self, RenderSpec, SourceFormat};
use crate::store::StoreError;

impl ImageService {
    /// The encoded variant, from memory, storage, or rendered now and stored. In an origin-pull
    /// namespace a missing original is fetched first (from `source_override` where allowed).
    pub async fn variant(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        source_override: Option<&str>,
    ) -> Result<(CachedObject, Served), ServiceError> {
        self.check_variant(ns, variant)?;
        let key = ObjectKey::variant(ns, id, variant);
        let served = Mutex::new(Served::Memory);
        let load = async {
            if let Some(bytes) = self.variants.get_opt(&key).await? {
                *served.lock().unwrap() = Served::Storage;
                return Ok(CachedObject::new(bytes));
            }
            let obj = self.render(ns, id, variant, source_override).await?;
            if let Err(e) = self.variants.put(&key, obj.bytes.clone()).await {
                // The image is still good to answer; the next miss renders it again.
                tracing::warn!(key = %key, error = %e, "could not store a rendered variant");
            }
            *served.lock().unwrap() = Served::Rendered;
            Ok::<_, ServiceError>(obj)
        };
        let (obj, lookup) = self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())?;
        Ok((obj, self.count(lookup, *served.lock().unwrap())))
    }

    /// Renders `variant` and stores it, whether or not a copy exists (for `regenerate`).
    pub async fn rerender(&self, ns: &Namespace, id: &ImageId, variant: &Variant) -> Result<(), ServiceError> {
        self.check_variant(ns, variant)?;
        let key = ObjectKey::variant(ns, id, variant);
        let obj = self.render(ns, id, variant, None).await?;
        self.variants.put(&key, obj.bytes.clone()).await?;
        self.cache.insert(key, obj).await;
        Ok(())
    }

    /// Whether a variant is in storage.
    pub async fn variant_stored(&self, ns: &Namespace, id: &ImageId, variant: &Variant) -> Result<bool, ServiceError> {
        Ok(self.variants.exists(&ObjectKey::variant(ns, id, variant)).await?)
    }

    /// Every image stored in a namespace: those whose info.json (written last) is in storage.
    pub async fn list_images(&self, ns: &Namespace) -> Result<Vec<ImageId>, ServiceError> {
        let prefix = ObjectKey::namespace_prefix(ns);
        let mut ids: Vec<ImageId> = self
            .originals
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|key| key.strip_prefix(prefix.as_str())?.strip_suffix("/info.json"))
            .filter_map(ImageId::parse)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Renders `variant` on the CPU pool, from the working copy where it suffices.
    async fn render(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        source_override: Option<&str>,
    ) -> Result<CachedObject, ServiceError> {
        let format = variant.ext.format();
        let spec = RenderSpec {
            geometry: variant.geometry,
            format,
            quality: variant.quality.unwrap_or_else(|| self.config.default_quality.for_format(format)),
        };
        let limits = self.limits;
        let (source, original_size, source_pixels) = self.render_source(ns, id, variant, source_override).await?;
        let rendered = self
            .pool
            .run(source_pixels, move || {
                let started = std::time::Instant::now();
                let rendered = match original_size {
                    Some(size) => pipeline::render_from_working_copy(&source, size, &spec, &limits),
                    None => pipeline::render(&source, &spec, &limits),
                };
                rendered.map(|r| (CachedObject::new(Bytes::from(r.bytes)), started.elapsed()))
            })
            .await?;
        match rendered {
            Ok((obj, took)) => {
                self.metrics.rendered(format, took);
                Ok(obj)
            }
            Err(e) => {
                self.metrics.render_failed();
                Err(e.into())
            }
        }
    }

    /// What to render `variant` from: the working copy (with the original's size to plan on) when
    /// one is due and holds enough resolution, else the original; with its pixel count.
    async fn render_source(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        source_override: Option<&str>,
    ) -> Result<(Bytes, Option<(u32, u32)>, u64), ServiceError> {
        let info = self.image_info(ns, id, source_override).await?;
        let original_size = (info.width, info.height);
        let max_side = self.config.working_copy_max_side;
        let sizes = SourceFormat::from_mime(&info.content_type)
            .map(|format| pipeline::working_copy_sizes(info.width, info.height, format, max_side))
            .unwrap_or([None, None]);
        let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        // The smallest copy that holds enough resolution; a missing one (uploaded before working
        // copies, or with another working_copy_max_side) passes to the next larger.
        for (tier, size) in sizes.into_iter().enumerate().rev() {
            let Some(size) = size else { continue };
            if !pipeline::working_copy_suffices(original_size, size, variant.geometry) {
                continue;
            }
            match self.source(ObjectKey::working(ns, id, tier)).await {
                Ok(bytes) => return Ok((bytes, Some(original_size), pixels(size))),
                Err(ServiceError::ImageNotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok((self.source(ObjectKey::original(ns, id)).await?, None, pixels(original_size)))
    }

    /// An original or working copy, through the source cache.
    async fn source(&self, key: ObjectKey) -> Result<Bytes, ServiceError> {
        let load = async { self.originals.get(&key).await.map_err(not_found_is_missing_image) };
        let (obj, _) = self.sources.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())?;
        Ok(obj)
    }

    /// The parsed info of a stored original (not counted as a request's cache lookup); in an
    /// origin-pull namespace, pulled from the origin if it is not stored yet.
    pub async fn image_info(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<ImageInfo, ServiceError> {
        let (obj, _) = self.info_object(ns, id, source_override).await?;
        ImageInfo::from_stored(&obj.bytes, id)
    }

    /// The info JSON answered for an image, and whether it is immutable: it is, unless
    /// `remote_base_url` makes it list the variants stored so far.
    pub async fn info(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<(CachedObject, Served, bool), ServiceError> {
        let (obj, lookup) = self.info_object(ns, id, source_override).await?;
        let served = self.count(lookup, Served::Storage);
        if self.config.remote_base_url.is_none() {
            return Ok((obj, served, true));
        }
        let info = self.with_public_urls(ns, id, ImageInfo::from_stored(&obj.bytes, id)?).await?;
        let json = serde_json::to_vec(&info).expect("info serialises");
        Ok((CachedObject::new(Bytes::from(json)), served, false))
    }

    /// The stored info.json through the memory cache; pulls the original first where that is due.
    async fn info_object(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<(CachedObject, Lookup), ServiceError> {
        let key = ObjectKey::info(ns, id);
        let load = async {
            match (self.originals.get(&key).await, id) {
                (Ok(bytes), _) => Ok(CachedObject::new(bytes)),
                (Err(StoreError::NotFound), ImageId::Path(path)) if self.is_origin_pull(ns) => {
                    let info = self.pull(ns, path, source_override).await?;
                    Ok(CachedObject::new(Bytes::from(serde_json::to_vec(&info).expect("info serialises"))))
                }
                (Err(e), _) => Err(not_found_is_missing_image(e)),
            }
        };
        self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())
    }

    fn count(&self, lookup: Lookup, loaded: Served) -> Served {
        match lookup {
            Lookup::Memory => {
                self.metrics.memory_hit();
                Served::Memory
            }
            Lookup::Loaded => {
                self.metrics.memory_miss(loaded == Served::Storage);
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
