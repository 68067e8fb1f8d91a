//! Variant lookups: memory, then storage, then planned once ([`RenderPlan`]), rendered on the
//! CPU pool under the variant's lease and stored before the answer. Concurrent lookups of one
//! variant join one load on this node, and, through the lease, one render across nodes.

use std::sync::Arc;

use bytes::Bytes;

use super::answer::Answer;
use super::images::Images;
use super::leases::{Claimed, Leased, RenderLeases};
use super::plan::{RenderPlan, SourceChoice, SourceKind};
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::access::Payer;
use crate::cache::{CachedObject, ObjectCache};
use crate::config::RenderConfig;
use crate::metrics::Metrics;
use crate::model::{ImageId, Namespace, ObjectKey, Served, Variant};
use crate::pipeline::{self, Effort, Limits};
use crate::pool::{Class, CpuPool, Slot};
use crate::store::StoreError;

/// Why a variant is looked up: whose work its render is, how hard its encoder works and how it
/// is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A request is waiting: fast encoders, counted in `image_request`.
    Request,
    /// An upload's outputs, before its answer: small encoders.
    Upload,
    /// A job's outputs, or `regenerate`'s: small encoders.
    Job,
    /// A popular size in the background: small encoders, not counted in `image_request`.
    Background,
}

impl Purpose {
    fn effort(self) -> Effort {
        match self {
            Purpose::Request => Effort::Fast,
            Purpose::Upload | Purpose::Job | Purpose::Background => Effort::Small,
        }
    }

    fn class(self) -> Class {
        match self {
            Purpose::Request => Class::Request,
            Purpose::Upload => Class::Upload,
            Purpose::Job => Class::Job,
            Purpose::Background => Class::Background,
        }
    }

    /// The server's own work waits for a worker before it takes a lease, so that no request on
    /// another node waits on a lease whose holder waits in line here.
    fn admitted_before_lease(self) -> bool {
        matches!(self, Purpose::Job | Purpose::Background)
    }
}

/// One lookup of a variant that its namespace serves.
pub(super) struct Lookup<'a> {
    pub(super) ns: &'a Namespace,
    pub(super) id: &'a ImageId,
    pub(super) variant: Variant,
    /// Where to pull a missing original from instead of the namespace's template.
    pub(super) source_override: Option<&'a str>,
    /// The image's facts, when the caller has them already.
    pub(super) info: Option<Arc<ImageInfo>>,
    pub(super) purpose: Purpose,
    /// Who a render is charged to.
    pub(super) payer: &'a Payer,
    /// A worker admitted already for this lookup's render, if any.
    pub(super) slot: Option<Slot>,
}

/// What finding and rendering variants needs.
#[derive(Debug)]
pub(super) struct Renders {
    pub(super) stores: Stores,
    pub(super) images: Arc<Images>,
    /// Encoded answers.
    pub(super) cache: ObjectCache,
    /// Originals and working copies recently rendered from, so that a burst of misses on one
    /// image reads it from storage once.
    pub(super) sources: ObjectCache<Bytes>,
    pub(super) pool: CpuPool,
    pub(super) leases: RenderLeases,
    pub(super) metrics: Arc<Metrics>,
    pub(super) render: RenderConfig,
    pub(super) limits: Limits,
}

/// What a look in storage found.
enum Found {
    /// The variant.
    Stored(Bytes),
    /// Not the variant; the image's facts, and the claim on the variant's lease where it was
    /// made with the look.
    Missing { info: Arc<ImageInfo>, claimed: Option<Claimed> },
}

impl Renders {
    /// The encoded variant, from memory, storage, or rendered now and stored. A render, and only
    /// a render, is charged to the payer.
    pub(super) async fn answer(&self, mut lookup: Lookup<'_>) -> Result<Answer, ServiceError> {
        let slot = lookup.slot.take();
        let key = ObjectKey::variant(lookup.ns, lookup.id, &lookup.variant);
        let mime = lookup.variant.ext.format().mime();
        // Boxed, and made only on a miss: a hit should not build nor carry its size around.
        let load = || {
            Box::pin(async {
                let (info, claimed) = match self.find(&lookup, &key).await? {
                    Found::Stored(bytes) => return Ok(CachedObject::new(bytes, Served::Storage)),
                    Found::Missing { info, claimed } => (info, claimed),
                };
                lookup.payer.charge()?;
                let plan = RenderPlan::new(
                    lookup.ns,
                    lookup.id,
                    lookup.variant,
                    info,
                    lookup.purpose.effort(),
                    &self.render,
                    &self.limits,
                )?;
                let bytes = self.render_miss(&plan, lookup.purpose, slot, claimed).await?;
                Ok::<_, ServiceError>(CachedObject::new(bytes, Served::Rendered))
            })
        };
        let (obj, loaded_here) = self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())?;
        Ok(Answer::of(obj, loaded_here, mime))
    }

    /// Looks for the variant in storage, and for the image's facts: the image is known to exist
    /// before anything of its variant is leased or written. A request whose image is known
    /// already claims the variant's lease with the look (see `leases.rs`).
    async fn find(&self, lookup: &Lookup<'_>, key: &ObjectKey) -> Result<Found, ServiceError> {
        let variants = &self.stores.variants;
        let known = match &lookup.info {
            Some(info) => Some(Arc::clone(info)),
            None => self.images.in_memory(lookup.ns, lookup.id).await,
        };
        if let Some(info) = known.clone().filter(|_| !lookup.purpose.admitted_before_lease()) {
            let (stored, claimed) = tokio::join!(variants.get_opt(key), self.leases.try_claim(key));
            // A lease claimed for a variant that is stored is dropped, and so removed.
            if let Some(bytes) = stored? {
                return Ok(Found::Stored(bytes));
            }
            return Ok(Found::Missing { info, claimed: Some(claimed?) });
        }
        let info = async {
            match known {
                Some(info) => Ok(info),
                None => self.images.info(lookup.ns, lookup.id, lookup.source_override).await.map(|(info, _)| info),
            }
        };
        let (stored, info) = tokio::join!(variants.get_opt(key), info);
        match stored? {
            Some(bytes) => Ok(Found::Stored(bytes)),
            None => Ok(Found::Missing { info: info?, claimed: None }),
        }
    }

    /// Renders a miss under its lease and stores it; the variant another node stored instead,
    /// where one did.
    async fn render_miss(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        slot: Option<Slot>,
        claimed: Option<Claimed>,
    ) -> Result<Bytes, ServiceError> {
        let mut slot = match slot {
            Some(slot) => Some(slot),
            None if purpose.admitted_before_lease() => Some(self.pool.admit(purpose.class(), plan.max_cost()).await?),
            None => None,
        };
        let claimed = match claimed {
            Some(claimed) => claimed,
            None => self.leases.try_claim(&plan.key).await?,
        };
        let lease = match self.leases.settle(&plan.key, claimed, &mut slot).await? {
            Leased::Render(lease) => lease,
            Leased::Stored(bytes) => return Ok(bytes),
        };
        let claimed_late = purpose.admitted_before_lease();
        if let Some(stored) = self.leases.stored_meanwhile(&lease, &plan.key, claimed_late).await? {
            return Ok(stored);
        }
        let bytes = match lease.renewing(self.render(plan, purpose, slot)).await {
            Ok(bytes) => bytes,
            Err(e) => {
                lease.failed().await;
                return Err(e);
            }
        };
        match self.stores.put_variant(&plan.ns, &plan.id, &plan.key, bytes.clone()).await {
            Ok(()) => lease.stored(),
            // The image is still good to answer; the lease goes, and the next miss renders it again.
            Err(e) => tracing::warn!(key = %plan.key, error = %e, "could not store a rendered variant"),
        }
        Ok(bytes)
    }

    /// Renders `variant` with the small encoders and stores it, whether or not a copy exists
    /// (for `regenerate`).
    pub(super) async fn rerender(&self, ns: &Namespace, id: &ImageId, variant: Variant) -> Result<(), ServiceError> {
        let (info, _) = self.images.info(ns, id, None).await?;
        let plan = RenderPlan::new(ns, id, variant, info, Effort::Small, &self.render, &self.limits)?;
        let slot = self.pool.admit(Class::Job, plan.max_cost()).await?;
        let bytes = self.render(&plan, Purpose::Job, Some(slot)).await?;
        self.stores.put_variant(ns, id, &plan.key, bytes.clone()).await?;
        self.cache.insert(plan.key, CachedObject::new(bytes, Served::Rendered)).await;
        Ok(())
    }

    /// Renders a plan on the pool (in `slot` where one is held, else once admitted), from the
    /// first of its sources that is stored, and records the render.
    async fn render(&self, plan: &RenderPlan, purpose: Purpose, slot: Option<Slot>) -> Result<Bytes, ServiceError> {
        let (choice, bytes) = self.source(plan).await?;
        let mut slot = match slot {
            Some(slot) => slot,
            None => self.pool.admit(purpose.class(), plan.cost(&choice)).await?,
        };
        let (spec, limits, original_size) = (plan.spec, self.limits, plan.original_size());
        let rendered = slot
            .run(move || {
                let started = std::time::Instant::now();
                let rendered = match choice.kind {
                    SourceKind::WorkingCopy => {
                        pipeline::render_from_working_copy(&bytes, original_size, &spec, &limits)
                    }
                    SourceKind::Original => pipeline::render(&bytes, &spec, &limits),
                    SourceKind::Animation => pipeline::render_animation(&bytes, &spec, &limits),
                };
                rendered.map(|r| (Bytes::from(r.bytes), started.elapsed()))
            })
            .await?;
        drop(slot);
        let done = rendered.as_ref().ok().map(|(_, took)| (plan.spec.format, *took));
        if purpose == Purpose::Background {
            self.metrics.background_render_done(done.is_some());
        } else {
            self.metrics.render_done(done);
        }
        Ok(rendered?.0)
    }

    /// The first of a plan's sources that is stored, through the source cache.
    async fn source(&self, plan: &RenderPlan) -> Result<(SourceChoice, Bytes), ServiceError> {
        for choice in &plan.sources {
            let load = self.stores.originals.get(&choice.key);
            match self.sources.get_or_load(choice.key.clone(), || load).await.map_err(|e| (*e).clone()) {
                Ok((bytes, _)) => return Ok((choice.clone(), bytes)),
                // A working copy that is not there passes to the next source.
                Err(StoreError::NotFound) if choice.kind == SourceKind::WorkingCopy => {}
                // info.json is written last, so its original is there unless something removed it.
                Err(StoreError::NotFound) => return Err(ServiceError::ImageNotFound),
                Err(backend @ StoreError::Backend(_)) => return Err(ServiceError::Store(backend)),
            }
        }
        Err(ServiceError::ImageNotFound)
    }
}
