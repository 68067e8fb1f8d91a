//! `ImageService`: uploads, variant and info lookups and deletes, independent of HTTP, composed
//! of parts that each own one concern and hold only what they use:
//!
//! - `stores`: the originals' and the variants' store, and the listing of an image's variants;
//! - `originals`: validating and storing an original with its working copies (uploads, pulls);
//! - `images`: image facts (info.json parsed once into memory) and origin pulls;
//! - `plan`: a miss planned once ([`plan::RenderPlan`]); `negotiate`: format negotiation;
//! - `renders`: memory, storage, or rendered on the pool under a lease (`leases`) and stored;
//! - `uploads`, `jobs` (work after an upload's answer), `popular` (popular sizes), `deletes`;
//! - `focus`: a focus set by hand, and the cover crops it makes stale removed.
//!
//! The service answers in its own words ([`Answer`], [`ServiceError`]); it records the renders,
//! uploads and downloads it does, and leaves the counting of requests to its caller.

mod answer;
mod deletes;
mod error;
mod focus;
mod images;
mod info;
mod jobs;
mod leases;
mod moderation;
mod negotiate;
mod originals;
mod plan;
mod popular;
mod rendering;
mod renders;
mod stores;
mod uploads;

use std::sync::Arc;

use bytes::Bytes;

pub use answer::{Answer, Lifetime};
pub use error::ServiceError;
pub use info::ImageInfo;
pub use popular::Popular;
pub use uploads::{Ingested, Outputs};

use crate::access::Payer;
use crate::buffer::{ResponseBuffer, UploadBuffer};
use crate::cache::{CachedObject, DecodedSources, ObjectCache};
use crate::config::{Config, Settings};
use crate::hooks::Hooks;
use crate::metrics::Metrics;
use crate::model::{ImageFormat, ImageId, Namespace, ObjectKey, Served, Variant};
use crate::pipeline::{FocusPoint, JpegBounds, Limits};
use crate::pool::CpuPool;
use crate::source::Fetcher;
use deletes::Deletes;
use focus::Refocus;
use images::{Images, Memory};
use jobs::Jobs;
use leases::RenderLeases;
use moderation::Moderator;
use negotiate::Negotiation;
use originals::Originals;
use rendering::Purpose;
use rendering::Rendering;
use renders::{Lookup, Renders};
use stores::Stores;
use uploads::Uploads;

/// The handles made once by the wiring and shared by the service, the main port and the status
/// port.
#[derive(Clone, Debug)]
pub struct Parts {
    /// Counters, histograms and statsd.
    pub metrics: Arc<Metrics>,
    /// The CPU pool: the one admission point of CPU work.
    pub pool: CpuPool,
    /// The memory cache of encoded answers.
    pub cache: ObjectCache,
    /// The bound on upload and download bytes held.
    pub buffer: UploadBuffer,
    /// The bound on answer bytes not yet written.
    pub responses: ResponseBuffer,
    /// The counts of popular sizes.
    pub popular: Arc<Popular>,
}

/// How `memory_cache_bytes` is shared: a quarter for the sources renders read, an eighth for
/// their decoded pixels, a sixty-fourth for parsed image facts, the rest for encoded answers.
struct MemorySplit {
    answers: u64,
    sources: u64,
    decoded: u64,
    infos: u64,
}

impl MemorySplit {
    fn of(memory: u64) -> MemorySplit {
        let (sources, decoded, infos) = (memory / 4, memory / 8, memory / 64);
        MemorySplit { answers: memory - sources - decoded - infos, sources, decoded, infos }
    }
}

impl Parts {
    /// The pool, the answer cache and the upload and response buffers as `config` sizes them, around `metrics`.
    pub fn new(config: &Config, metrics: Metrics) -> Parts {
        let limits = &config.limits;
        Parts {
            metrics: Arc::new(metrics),
            pool: CpuPool::new(config.render.workers, limits.queue_size, limits.decode_budget_pixels),
            cache: ObjectCache::new(MemorySplit::of(config.cache.memory_cache_bytes.0).answers),
            buffer: UploadBuffer::new(limits.upload_buffer_bytes.0),
            responses: ResponseBuffer::new(limits.response_buffer_bytes.0),
            popular: Arc::new(Popular::new(&config.settings)),
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
        decode_budget_pixels: limits.decode_budget_pixels,
    }
}

/// A request for a variant, as the main port parsed it.
#[derive(Clone, Copy, Debug)]
pub struct VariantRequest<'a> {
    /// The namespace.
    pub ns: &'a Namespace,
    /// The image.
    pub id: &'a ImageId,
    /// The variant as its URL names it.
    pub variant: &'a Variant,
    /// The image formats the request's `Accept` names.
    pub accepted: &'a [ImageFormat],
    /// `?source=URL`: where to pull a missing original from, where the namespace allows it.
    pub source_override: Option<&'a str>,
    /// Who a render is charged to.
    pub payer: &'a Payer,
}

/// The answer to a [`VariantRequest`], and whether answers of its namespace depend on `Accept`.
#[derive(Debug)]
pub struct VariantAnswer {
    /// The variant, or why not.
    pub answer: Result<Answer, ServiceError>,
    /// Whether the answer, whatever it is, varies by `Accept`.
    pub varies_by_accept: bool,
}

/// The service: its parts, composed.
#[derive(Debug)]
pub struct ImageService {
    settings: Arc<Settings>,
    stores: Stores,
    images: Arc<Images>,
    renders: Arc<Renders>,
    uploads: Uploads,
    jobs: Arc<Jobs>,
    popular: Arc<Popular>,
    deletes: Arc<Deletes>,
    refocus: Arc<Refocus>,
}

impl ImageService {
    /// Opens the stores and the source client as `config` says, around the shared parts.
    pub fn new(config: &Config, parts: Parts) -> Result<ImageService, String> {
        let settings = Arc::clone(&config.settings);
        let stores = Stores::open(&config.storage)?;
        let limits = render_limits(config);
        let memory = MemorySplit::of(config.cache.memory_cache_bytes.0);
        let metrics = parts.metrics;
        let background = &config.background;
        let hooks = Hooks::new(background)?;
        let moderator = Moderator {
            settings: Arc::clone(&settings),
            hooks: hooks.clone(),
            metrics: Arc::clone(&metrics),
            pool: parts.pool.clone(),
            limits,
        };
        let originals = Originals::new(stores.clone(), moderator, config.render.working_copy_max_side);
        let fetcher = Fetcher::new(&config.sources, config.limits.max_upload_bytes.0, parts.buffer)?;
        let sources = ObjectCache::new(memory.sources);
        let images = Arc::new(Images::new(
            stores.clone(),
            originals.clone(),
            fetcher,
            Arc::clone(&settings),
            Arc::clone(&metrics),
            Memory {
                infos_bytes: memory.infos,
                answers: parts.cache.clone(),
                sources: sources.clone(),
                window: config.cache.delete_visibility_secs,
            },
        ));
        let renders = Arc::new(Renders {
            stores: stores.clone(),
            images: Arc::clone(&images),
            cache: parts.cache.clone(),
            rendering: Rendering {
                originals: stores.originals.clone(),
                sources: sources.clone(),
                decoded: DecodedSources::new(memory.decoded),
                pool: parts.pool.clone(),
                metrics: Arc::clone(&metrics),
                limits,
            },
            leases: RenderLeases::new(
                stores.originals.clone(),
                stores.variants.clone(),
                background.lease_secs,
                background.render_leases,
            ),
            render: config.render.clone(),
            settings: Arc::clone(&settings),
        });
        let jobs = Arc::new(Jobs::new(
            stores.clone(),
            Arc::clone(&images),
            Arc::clone(&renders),
            hooks.clone(),
            Arc::clone(&settings),
            Arc::clone(&metrics),
            background.lease_secs,
        ));
        let deletes = Arc::new(Deletes {
            stores: stores.clone(),
            images: Arc::clone(&images),
            settings: Arc::clone(&settings),
            hooks,
            metrics: Arc::clone(&metrics),
        });
        let refocus =
            Arc::new(Refocus { stores: stores.clone(), images: Arc::clone(&images), deletes: Arc::clone(&deletes) });
        let uploads = Uploads {
            settings: Arc::clone(&settings),
            stores: stores.clone(),
            originals,
            images: Arc::clone(&images),
            renders: Arc::clone(&renders),
            jobs: Arc::clone(&jobs),
            refocus: Arc::clone(&refocus),
            metrics,
        };
        Ok(ImageService { settings, stores, images, renders, uploads, jobs, popular: parts.popular, deletes, refocus })
    }

    /// The variant a request asks for: from memory, storage, or rendered now and stored (in the
    /// format negotiation picks, where its namespace negotiates). A render, and only a render, is
    /// charged to the request's payer.
    pub async fn variant(&self, request: VariantRequest<'_>) -> VariantAnswer {
        let settings = self.settings.of(request.ns);
        let answer = async {
            settings.check(request.variant)?;
            let negotiation = Negotiation::new(settings, request.accepted, &self.renders.rendering.limits);
            let (variant, info) = if !negotiation.applies(request.variant) {
                (*request.variant, None)
            } else if negotiation.needs_size(request.variant) {
                let image = Box::pin(self.images.info(request.ns, request.id, request.source_override));
                let (image, _) = image.await?;
                (negotiation.resolve(request.variant, Some((image.info.width, image.info.height))), Some(image))
            } else {
                (negotiation.resolve(request.variant, None), None)
            };
            let answer = self
                .renders
                .answer(Lookup {
                    ns: request.ns,
                    id: request.id,
                    variant,
                    source_override: request.source_override,
                    info,
                    purpose: Purpose::Request,
                    payer: request.payer,
                    slot: None,
                })
                .await?;
            // Counted once rendered (and so charged): hits, refused names and absent images are not.
            if answer.served == Served::Rendered {
                self.popular.count(request.ns, &variant, request.payer.client());
                self.popular.rendered(request.ns, request.id);
            }
            Ok(answer)
        };
        VariantAnswer { answer: answer.await, varies_by_accept: settings.negotiates() }
    }

    /// The info JSON answered for an image, with the variants stored so far: short-lived, since
    /// that list grows. In an origin-pull namespace, pulls the original first where that is due.
    pub async fn info(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<Answer, ServiceError> {
        let (image, served) = self.images.info(ns, id, source_override).await?;
        let listed = self.stores.with_listing(ns, id, &image.info).await?;
        let answer = Answer::of(CachedObject::new(listed.to_json(), served), true, "application/json");
        Ok(Answer { lifetime: Lifetime::ShortLived, ..answer })
    }

    /// Stores an upload and renders its outputs (see `uploads`); `focus`, where given, is stored
    /// instead of one found in the image.
    pub async fn ingest(
        &self,
        ns: &Namespace,
        bytes: Bytes,
        outputs: &[Variant],
        when: Outputs,
        payer: &Payer,
        focus: Option<FocusPoint>,
    ) -> Result<Ingested, ServiceError> {
        self.uploads.ingest(ns, bytes, outputs, when, payer, focus).await
    }

    /// Downloads `url` and stores it as an upload.
    pub async fn ingest_source(
        &self,
        ns: &Namespace,
        url: &str,
        outputs: &[Variant],
        when: Outputs,
        payer: &Payer,
        focus: Option<FocusPoint>,
    ) -> Result<Ingested, ServiceError> {
        self.uploads.ingest_source(ns, url, outputs, when, payer, focus).await
    }

    /// Renders and stores the outputs an upload of the stored image `id` would (`outputs` and the
    /// namespace's own), with the same checks and charges; answers as that upload would.
    /// [`ServiceError::ImageNotFound`] when the image is not stored.
    pub async fn process(
        &self,
        ns: &Namespace,
        id: &ImageId,
        outputs: &[Variant],
        when: Outputs,
        payer: &Payer,
    ) -> Result<Ingested, ServiceError> {
        self.uploads.process(ns, id, outputs, when, payer).await
    }

    /// Sets the focus of a stored image by hand and removes its cover crops (`x{S}`, `{W}x{H}`)
    /// from storage and memory; answers its info. [`ServiceError::ImageNotFound`] when absent.
    pub async fn set_focus(&self, ns: &Namespace, id: &ImageId, point: FocusPoint) -> Result<ImageInfo, ServiceError> {
        self.refocus.set(ns, id, point).await
    }

    /// Removes an image with everything of it; false when nothing of it was stored.
    pub async fn delete(&self, ns: &Namespace, id: &ImageId) -> Result<bool, ServiceError> {
        self.deletes.delete(ns, id).await
    }

    /// Refuses outputs `ns` does not serve, naming the first.
    pub fn check_outputs(&self, ns: &Namespace, outputs: &[Variant]) -> Result<(), (Variant, ServiceError)> {
        let settings = self.settings.of(ns);
        outputs.iter().try_for_each(|v| settings.check(v).map_err(|e| (*v, e.into())))
    }

    /// Refuses a client's upload that asks for more outputs than `max_outputs_per_upload`.
    pub fn check_output_count(&self, ns: &Namespace, asked: usize) -> Result<(), ServiceError> {
        Ok(self.settings.of(ns).check_output_count(asked)?)
    }

    /// Renders `variant` with the small encoders and stores it, whether or not a copy exists
    /// (for `regenerate`).
    pub async fn rerender(&self, ns: &Namespace, id: &ImageId, variant: &Variant) -> Result<(), ServiceError> {
        self.settings.of(ns).check(variant)?;
        self.renders.rerender(ns, id, *variant).await
    }

    /// Whether a variant is in storage.
    pub async fn variant_stored(&self, ns: &Namespace, id: &ImageId, variant: &Variant) -> Result<bool, ServiceError> {
        Ok(self.stores.variants.exists(&ObjectKey::variant(ns, id, variant)).await?)
    }

    /// Every image stored in a namespace.
    pub async fn list_images(&self, ns: &Namespace) -> Result<Vec<ImageId>, ServiceError> {
        Ok(self.stores.list_images(ns).await?)
    }

    /// Removes the staging files killed writers left in `file://` stores; blocking, for
    /// start-up. Answers how many.
    pub fn remove_stale_temporaries(&self) -> usize {
        self.stores.remove_stale_temporaries()
    }

    /// The work off the request path, until the process ends: upload jobs (queued here and found
    /// in storage) and popular sizes.
    pub async fn run_background(&self) {
        let popular = Arc::clone(&self.popular).run(Arc::clone(&self.renders), Arc::clone(&self.settings));
        tokio::join!(Arc::clone(&self.jobs).run(), popular);
    }
}
