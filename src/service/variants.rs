//! Variant lookups: memory, then storage, then rendered on the pool and written back; renders
//! for `regenerate`; and the listing of a namespace's images.

use bytes::Bytes;

use super::render_lease::Leased;
use super::{Answer, ImageService, ServiceError};
use crate::access::Payer;
use crate::cache::CachedObject;
use crate::model::{ImageFormat, ImageId, Namespace, ObjectKey, Served, Variant};
use crate::pipeline::{self, Effort, RenderSpec};
use crate::store::StoreError;

/// What a render reads.
struct Source {
    bytes: Bytes,
    /// The original's upright size, which the geometry is planned on.
    original_size: (u32, u32),
    kind: SourceKind,
    /// Pixels of the source (its canvas, for an animation), for the decode budget.
    pixels: u64,
}

/// Why a variant is looked up: what its render costs and how it is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A request is waiting: fast encoders, counted in `image_request`, counted for popular sizes.
    Request,
    /// Ahead of requests (an upload's outputs, a job, `regenerate`): small encoders, counted.
    Ahead,
    /// A popular size in the background: small encoders, not counted in `image_request`.
    Background,
}

impl Purpose {
    fn effort(self) -> Effort {
        match self {
            Purpose::Request => Effort::Fast,
            Purpose::Ahead | Purpose::Background => Effort::Small,
        }
    }
}

/// What kind of source it is.
#[derive(Clone, Copy)]
enum SourceKind {
    /// The original, for a still variant.
    Original,
    /// A working copy of the original.
    WorkingCopy,
    /// An animated original, for an animated variant.
    Animation,
}

impl ImageService {
    /// The encoded variant, from memory, storage, or rendered now and stored. In an origin-pull
    /// namespace a missing original is fetched first (from `source_override` where allowed). A
    /// render, and only a render, is charged to `payer`.
    pub async fn variant(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        source_override: Option<&str>,
        payer: &Payer,
    ) -> Result<Answer, ServiceError> {
        let answer = self.lookup(ns, id, variant, source_override, payer, Purpose::Request).await?;
        // Counted once answered: names that are refused, or of images that are not there, are not.
        self.popular.count(ns, variant);
        if answer.served == Served::Rendered {
            self.popular.rendered(ns, id);
        }
        Ok(answer)
    }

    /// A variant rendered ahead of its requests (an upload's outputs, a job's, a background
    /// render): stored unless it is already, with the small encoders, charged to the server.
    pub(super) async fn output(&self, ns: &Namespace, id: &ImageId, variant: &Variant) -> Result<Answer, ServiceError> {
        self.lookup(ns, id, variant, None, &Payer::Server, Purpose::Ahead).await
    }

    /// A popular size rendered in the background, not counted in `image_request`.
    pub(super) async fn background(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
    ) -> Result<Answer, ServiceError> {
        self.lookup(ns, id, variant, None, &Payer::Server, Purpose::Background).await
    }

    /// Memory, then storage, then a render, stored; concurrent lookups of one variant join one
    /// load on this node, and, through the variant's lease, one render across nodes.
    async fn lookup(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        source_override: Option<&str>,
        payer: &Payer,
        purpose: Purpose,
    ) -> Result<Answer, ServiceError> {
        self.check_variant(ns, variant)?;
        let key = ObjectKey::variant(ns, id, variant);
        let load = async {
            if let Some(bytes) = self.variants.get_opt(&key).await? {
                return Ok(CachedObject::new(bytes, Served::Storage));
            }
            payer.charge()?;
            let lease = match self.render_lease(&key).await? {
                Leased::Render(lease) => lease,
                Leased::Stored(bytes) => return Ok(CachedObject::new(bytes, Served::Storage)),
            };
            let render = self.render(ns, id, variant, source_override, purpose);
            let rendered = match &lease {
                Some(lease) => lease.renewing(render).await,
                None => render.await,
            };
            if let Ok(bytes) = &rendered
                && let Err(e) = self.store_variant(ns, id, &key, bytes.clone()).await
            {
                // The image is still good to answer; the next miss renders it again.
                tracing::warn!(key = %key, error = %e, "could not store a rendered variant");
            }
            // Before the answer, so that storage then holds exactly the objects it will keep.
            if let Some(lease) = lease {
                lease.release().await;
            }
            Ok::<_, ServiceError>(CachedObject::new(rendered?, Served::Rendered))
        };
        let (obj, loaded_here) = self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())?;
        Ok(Answer::of(obj, loaded_here, variant.ext.format().mime()))
    }

    /// Renders `variant` with the small encoders and stores it, whether or not a copy exists
    /// (for `regenerate`).
    pub async fn rerender(&self, ns: &Namespace, id: &ImageId, variant: &Variant) -> Result<(), ServiceError> {
        self.check_variant(ns, variant)?;
        let key = ObjectKey::variant(ns, id, variant);
        let bytes = self.render(ns, id, variant, None, Purpose::Ahead).await?;
        self.store_variant(ns, id, &key, bytes.clone()).await?;
        self.cache.insert(key, CachedObject::new(bytes, Served::Rendered)).await;
        Ok(())
    }

    /// Writes a rendered variant of image `id` and drops the image's listing, which no longer
    /// names every stored variant.
    async fn store_variant(
        &self,
        ns: &Namespace,
        id: &ImageId,
        key: &ObjectKey,
        bytes: Bytes,
    ) -> Result<(), StoreError> {
        self.variants.put(key, bytes).await?;
        self.listings.invalidate(&ObjectKey::image_prefix(ns, id)).await;
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

    /// Renders `variant` on the CPU pool, from the working copy where it suffices, and records
    /// the render.
    async fn render(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        source_override: Option<&str>,
        purpose: Purpose,
    ) -> Result<Bytes, ServiceError> {
        let format = variant.ext.format();
        let default_quality = self.config.render.default_quality.for_format(format);
        let spec = RenderSpec {
            geometry: variant.geometry,
            format,
            quality: variant.quality.or(default_quality).unwrap_or(100),
            effort: purpose.effort(),
            placement: pipeline::Placement::Centre,
        };
        let limits = self.limits;
        let source = self.render_source(ns, id, variant, source_override).await?;
        // Waits here, not on the pool's queue, while the AVIF lane is full.
        let _lane = match format {
            ImageFormat::Avif => Some(self.avif_lane.acquire().await.expect("the lane is never closed")),
            _ => None,
        };
        let rendered = self
            .pool
            .run(source.pixels, move || {
                let started = std::time::Instant::now();
                let rendered = match source.kind {
                    SourceKind::WorkingCopy => {
                        pipeline::render_from_working_copy(&source.bytes, source.original_size, &spec, &limits)
                    }
                    SourceKind::Original => pipeline::render(&source.bytes, &spec, &limits),
                    SourceKind::Animation => pipeline::render_animation(&source.bytes, &spec, &limits),
                };
                rendered.map(|r| (Bytes::from(r.bytes), started.elapsed()))
            })
            .await?;
        let done = rendered.as_ref().ok().map(|(_, took)| (format, *took));
        if purpose == Purpose::Background {
            self.metrics.background_render_done(done.is_some());
        } else {
            self.metrics.render_done(done);
        }
        Ok(rendered?.0)
    }

    /// What to render `variant` from: an animated original whole, for an animated variant; else
    /// the working copy when one is due and holds enough resolution, else the original. A variant
    /// its format cannot hold is refused here, before any source is read.
    async fn render_source(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        source_override: Option<&str>,
    ) -> Result<Source, ServiceError> {
        let info = self.image_info(ns, id, source_override).await?;
        let original_size = (info.width, info.height);
        // Refused before any source is read: a size the output format cannot hold.
        let (format, planned) = (variant.ext.format(), pipeline::plan::plan(info.width, info.height, variant.geometry));
        let max = format.max_side();
        if planned.width > max || planned.height > max {
            let (width, height) = (planned.width, planned.height);
            return Err(ServiceError::FormatCannotHold { format: format.label(), width, height, max });
        }
        let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        let frames = info.frames.unwrap_or(1);
        let kind = if matches!(format, ImageFormat::Gif | ImageFormat::Webp)
            && pipeline::keeps_animation(frames, info.width, info.height, &self.limits)
        {
            SourceKind::Animation
        } else {
            let max_side = self.config.render.working_copy_max_side;
            let sizes = ImageFormat::from_mime(&info.content_type)
                .map(|format| pipeline::working_copy_sizes(info.width, info.height, format, max_side))
                .unwrap_or([None, None]);
            // The smallest copy that holds enough resolution; a missing one (uploaded before
            // working copies, or with another working_copy_max_side) passes to the next larger.
            for (tier, size) in sizes.into_iter().enumerate().rev() {
                let Some(size) = size else { continue };
                if !pipeline::working_copy_suffices(original_size, size, variant.geometry) {
                    continue;
                }
                match self.source(ObjectKey::working(ns, id, tier)).await {
                    Ok(bytes) => {
                        return Ok(Source {
                            bytes,
                            original_size,
                            kind: SourceKind::WorkingCopy,
                            pixels: pixels(size),
                        });
                    }
                    Err(StoreError::NotFound) => {}
                    Err(e @ StoreError::Backend(_)) => return Err(e.into()),
                }
            }
            SourceKind::Original
        };
        let original = self.source(ObjectKey::original(ns, id)).await.map_err(|e| match e {
            // info.json is written last, so its original is there unless something removed it.
            StoreError::NotFound => ServiceError::ImageNotFound,
            backend @ StoreError::Backend(_) => ServiceError::Store(backend),
        })?;
        Ok(Source { bytes: original, original_size, kind, pixels: pixels(original_size) })
    }

    /// An original or working copy, through the source cache.
    async fn source(&self, key: ObjectKey) -> Result<Bytes, StoreError> {
        let load = self.originals.get(&key);
        let (bytes, _) = self.sources.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())?;
        Ok(bytes)
    }
}
