//! The CPU side of a render: its source, read through the source cache, and its work on the
//! pool, in one piece or in two halves (decode up to the encoder, then encode), so that a miss
//! whose lease claim is still out can decode meanwhile and encode only once the lease is its own.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ServiceError;
use super::plan::{RenderPlan, SourceChoice, SourceKind};
use crate::cache::{DecodedSources, ObjectCache};
use crate::metrics::Metrics;
use crate::pipeline::{self, Bitmap, Effort, Limits};
use crate::pool::{Class, CpuPool, Slot, Whose};
use crate::store::{Store, StoreError};

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
    pub(super) fn effort(self) -> Effort {
        match self {
            Purpose::Request => Effort::Fast,
            Purpose::Upload | Purpose::Job | Purpose::Background => Effort::Small,
        }
    }

    pub(super) fn class(self) -> Class {
        match self {
            Purpose::Request => Class::Request,
            Purpose::Upload => Class::Upload,
            Purpose::Job => Class::Job,
            Purpose::Background => Class::Background,
        }
    }

    /// The server's own work waits for a worker before it takes a lease, so that no request on
    /// another node waits on a lease whose holder waits in line here.
    pub(super) fn admitted_before_lease(self) -> bool {
        matches!(self, Purpose::Job | Purpose::Background)
    }
}

/// A still render's first half, done: its pixels, the worker it ran on, and the time it took.
pub(super) struct Prepared {
    slot: Slot,
    bitmap: Bitmap,
    took: Duration,
}

/// What rendering on the pool needs.
#[derive(Debug)]
pub(super) struct Rendering {
    /// Where sources are read.
    pub(super) originals: Store,
    /// Originals and working copies recently rendered from, so that a burst of misses on one
    /// image reads it from storage once.
    pub(super) sources: ObjectCache<Bytes>,
    /// Working copies decoded whole, so that the next variant of the image skips the decode.
    pub(super) decoded: DecodedSources,
    pub(super) pool: CpuPool,
    pub(super) metrics: Arc<Metrics>,
    pub(super) limits: Limits,
}

impl Rendering {
    /// Renders a plan on the pool (in `slot` where one is held, else once admitted and charged
    /// to `payer`'s worker time), from the first of its sources that is stored, and records the
    /// render.
    pub(super) async fn render(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        payer: Option<IpAddr>,
        slot: Option<Slot>,
    ) -> Result<Bytes, ServiceError> {
        if plan.sources[0].kind != SourceKind::Animation {
            let prepared = self.prepare(plan, purpose, payer, slot).await?;
            return self.finish(plan, purpose, prepared).await;
        }
        let (choice, bytes) = self.source(plan).await?;
        let mut slot = self.slot(plan, purpose, payer, &choice, slot).await?;
        let (spec, limits) = (plan.spec, self.limits);
        let rendered = slot
            .run(move || {
                let started = Instant::now();
                pipeline::render_animation(&bytes, &spec, &limits).map(|r| (r.bytes, started.elapsed()))
            })
            .await?;
        self.record(plan, purpose, rendered.as_ref().ok().map(|(_, took)| *took));
        Ok(Bytes::from(rendered?.0))
    }

    /// A still render's first half, on the pool (charged to `payer` as [`Rendering::render`]).
    pub(super) async fn prepare(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        payer: Option<IpAddr>,
        slot: Option<Slot>,
    ) -> Result<Prepared, ServiceError> {
        let (choice, bytes) = self.source(plan).await?;
        let mut slot = self.slot(plan, purpose, payer, &choice, slot).await?;
        let (spec, limits) = (plan.spec, self.limits);
        let original_size = (choice.kind == SourceKind::WorkingCopy).then(|| plan.original_size());
        let (decoded, key) = (self.decoded.clone(), choice.key);
        let prepared = slot
            .run(move || {
                let started = Instant::now();
                let bitmap = match (original_size.is_some(), decoded.get(&key)) {
                    (false, _) => pipeline::prepare(&bytes, original_size, &spec, &limits),
                    (true, Some(source)) => pipeline::prepare_decoded(&source, original_size, &spec),
                    (true, None) => match pipeline::decode_whole(&bytes, &limits) {
                        Ok(Some(source)) => {
                            let source = Arc::new(source);
                            decoded.insert(key, Arc::clone(&source));
                            pipeline::prepare_decoded(&source, original_size, &spec)
                        }
                        Ok(None) => pipeline::prepare(&bytes, original_size, &spec, &limits),
                        Err(e) => Err(e),
                    },
                };
                bitmap.map(|bitmap| (bitmap, started.elapsed()))
            })
            .await?;
        match prepared {
            Ok((bitmap, took)) => Ok(Prepared { slot, bitmap, took }),
            Err(e) => {
                self.record(plan, purpose, None);
                Err(e.into())
            }
        }
    }

    /// A still render's second half, on the worker its first half ran on.
    pub(super) async fn finish(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        prepared: Prepared,
    ) -> Result<Bytes, ServiceError> {
        let Prepared { mut slot, bitmap, took } = prepared;
        let spec = plan.spec;
        let encoded = slot
            .run(move || {
                let started = Instant::now();
                pipeline::encode_prepared(bitmap, &spec).map(|r| (r.bytes, started.elapsed()))
            })
            .await?;
        self.record(plan, purpose, encoded.as_ref().ok().map(|(_, encoding)| took + *encoding));
        Ok(Bytes::from(encoded?.0))
    }

    /// The worker a render runs on: the one held for it, or one admitted now.
    async fn slot(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        payer: Option<IpAddr>,
        choice: &SourceChoice,
        slot: Option<Slot>,
    ) -> Result<Slot, ServiceError> {
        match slot {
            Some(slot) => Ok(slot),
            None => Ok(self.pool.admit(Whose { class: purpose.class(), payer }, plan.cost(choice)).await?),
        }
    }

    /// A render done in `took`, or failed (`None`).
    fn record(&self, plan: &RenderPlan, purpose: Purpose, took: Option<Duration>) {
        if purpose == Purpose::Background {
            self.metrics.background_render_done(took.is_some());
        } else {
            self.metrics.render_done(took.map(|took| (plan.spec.format, took)));
        }
    }

    /// The first of a plan's sources that is stored, through the source cache.
    async fn source(&self, plan: &RenderPlan) -> Result<(SourceChoice, Bytes), ServiceError> {
        for choice in &plan.sources {
            let load = || self.originals.get(&choice.key);
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
