//! Variant lookups: memory, then storage, then planned once ([`RenderPlan`]), rendered on the
//! CPU pool under the variant's lease and stored before the answer. Concurrent lookups of one
//! variant join one load on this node, and, through the lease, one render across nodes.

use std::sync::Arc;

use bytes::Bytes;

use super::answer::Answer;
use super::images::Images;
use super::leases::{Leased, RenderLeases};
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

impl Renders {
    /// The encoded variant, from memory, storage, or rendered now and stored. A render, and only
    /// a render, is charged to the payer.
    pub(super) async fn answer(&self, mut lookup: Lookup<'_>) -> Result<Answer, ServiceError> {
        let slot = lookup.slot.take();
        let key = ObjectKey::variant(lookup.ns, lookup.id, &lookup.variant);
        let mime = lookup.variant.ext.format().mime();
        let load = async {
            if let Some(bytes) = self.stores.variants.get_opt(&key).await? {
                return Ok(CachedObject::new(bytes, Served::Storage));
            }
            lookup.payer.charge()?;
            let plan = self.plan(&lookup, lookup.purpose.effort()).await?;
            let bytes = self.render_miss(&plan, lookup.purpose, slot).await?;
            Ok::<_, ServiceError>(CachedObject::new(bytes, Served::Rendered))
        };
        let (obj, loaded_here) = self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())?;
        Ok(Answer::of(obj, loaded_here, mime))
    }

    /// The plan of a lookup's render.
    pub(super) async fn plan(&self, lookup: &Lookup<'_>, effort: Effort) -> Result<RenderPlan, ServiceError> {
        let info = match &lookup.info {
            Some(info) => Arc::clone(info),
            None => self.images.info(lookup.ns, lookup.id, lookup.source_override).await?.0,
        };
        RenderPlan::new(lookup.ns, lookup.id, lookup.variant, info, effort, &self.render, &self.limits)
    }

    /// Renders a miss under its lease and stores it; the variant another node stored instead,
    /// where one did.
    async fn render_miss(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        slot: Option<Slot>,
    ) -> Result<Bytes, ServiceError> {
        let mut slot = match slot {
            Some(slot) => Some(slot),
            None if purpose.admitted_before_lease() => Some(self.pool.admit(purpose.class(), plan.max_cost()).await?),
            None => None,
        };
        let lease = match self.leases.claim(&plan.key, &mut slot).await? {
            Leased::Render(lease) => lease,
            Leased::Stored(bytes) => return Ok(bytes),
        };
        let render = self.render(plan, purpose, slot);
        let meanwhile = self.leases.stored_meanwhile(&lease, &plan.key);
        let (rendered, meanwhile) = match &lease {
            Some(lease) => lease.renewing(async { tokio::join!(render, meanwhile) }).await,
            None => tokio::join!(render, meanwhile),
        };
        let outcome = match (meanwhile, rendered) {
            // Stored by the lease's previous holder: that is the variant, this render is dropped.
            (Ok(Some(stored)), _) => Ok(stored),
            (_, Ok(bytes)) => {
                if let Err(e) = self.stores.put_variant(&plan.ns, &plan.id, &plan.key, bytes.clone()).await {
                    // The image is still good to answer; the next miss renders it again.
                    tracing::warn!(key = %plan.key, error = %e, "could not store a rendered variant");
                }
                Ok(bytes)
            }
            (_, Err(e)) => Err(e),
        };
        RenderLeases::release(lease);
        outcome
    }

    /// Renders `variant` with the small encoders and stores it, whether or not a copy exists
    /// (for `regenerate`).
    pub(super) async fn rerender(&self, ns: &Namespace, id: &ImageId, variant: Variant) -> Result<(), ServiceError> {
        let lookup = Lookup {
            ns,
            id,
            variant,
            source_override: None,
            info: None,
            purpose: Purpose::Job,
            payer: &Payer::Server,
            slot: None,
        };
        let plan = self.plan(&lookup, Effort::Small).await?;
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
            match self.sources.get_or_load(choice.key.clone(), load).await.map_err(|e| (*e).clone()) {
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
