//! Variant lookups: memory, then storage, then planned once ([`RenderPlan`]), rendered on the
//! CPU pool under the variant's lease and stored before the answer. Concurrent lookups of one
//! variant join one load on this node, and, through the lease, one render across nodes.
//!
//! A request whose image is known claims the variant's lease while it looks in storage; once the
//! variant is known to be missing it decodes while the claim is still out, and encodes only once
//! the lease is its own (a render that loses the claim has spent a decode, and stores nothing).

use std::sync::Arc;

use bytes::Bytes;

use super::answer::Answer;
use super::images::Images;
use futures_util::future::{Either, select};

use super::leases::{Claim, Claimed, Leased, RenderLeases};
use super::plan::{RenderPlan, SourceKind};
use super::rendering::Rendering;
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::access::Payer;
use crate::cache::{CachedObject, ObjectCache};
use crate::config::{RenderConfig, Settings};
use crate::model::{ImageId, Namespace, ObjectKey, Served, Variant};
use crate::pipeline::Effort;
use crate::pool::{Class, Slot};

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
    pub(super) rendering: Rendering,
    pub(super) leases: RenderLeases,
    pub(super) render: RenderConfig,
    pub(super) settings: Arc<Settings>,
}

/// What a look in storage found.
enum Found {
    /// The variant.
    Stored(Bytes),
    /// Not the variant: the image's facts, and the claim on the variant's lease.
    Missing { info: Arc<ImageInfo>, claim: Pending },
}

/// A miss's claim on its lease: made with the look in storage (and maybe still out), or not yet.
enum Pending {
    /// Made with the look.
    Made(Claim),
    /// To be made when the render is due.
    Later,
}

impl Renders {
    /// The encoded variant, from memory, storage, or rendered now and stored. A render, and only
    /// a render, is charged to the payer.
    pub(super) async fn answer(&self, mut lookup: Lookup<'_>) -> Result<Answer, ServiceError> {
        let slot = lookup.slot.take();
        let key = ObjectKey::variant(lookup.ns, lookup.id, &lookup.variant);
        let mime = lookup.variant.ext.format().mime();
        // Boxed, and made only on a miss: a hit should not build nor carry its size around.
        let mut refocused = false;
        let load = || {
            Box::pin(async {
                let (info, claim) = match self.find(&lookup, &key).await? {
                    Found::Stored(bytes) => return Ok(CachedObject::new(bytes, Served::Storage)),
                    Found::Missing { info, claim } => (info, claim),
                };
                lookup.payer.charge()?;
                let (effort, render) = (lookup.purpose.effort(), &self.render);
                let plan = RenderPlan::new(
                    lookup.ns,
                    lookup.id,
                    lookup.variant,
                    info,
                    effort,
                    render,
                    &self.rendering.limits,
                )?
                .placed(self.settings.of(lookup.ns).crop);
                let bytes = self.render_miss(&plan, lookup.purpose, slot, claim).await?;
                refocused = plan.placed_by_focus && self.take_back_if_refocused(&plan).await;
                Ok::<_, ServiceError>(CachedObject::new(bytes, Served::Rendered))
            })
        };
        let (obj, loaded_here) = self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())?;
        if refocused {
            // Answered (the request came before the new focus was seen), not kept.
            self.cache.invalidate(&key).await;
        }
        Ok(Answer::of(obj, loaded_here, mime))
    }

    /// Looks for the variant in storage, and for the image's facts: the image is known to exist
    /// before anything of its variant is leased or written. A request whose image is known
    /// already claims the variant's lease with the look, and goes on as soon as the look answers.
    async fn find(&self, lookup: &Lookup<'_>, key: &ObjectKey) -> Result<Found, ServiceError> {
        let variants = &self.stores.variants;
        let known = match &lookup.info {
            Some(info) => Some(Arc::clone(info)),
            None => self.images.in_memory(lookup.ns, lookup.id).await,
        };
        if let Some(info) = known.clone().filter(|_| !lookup.purpose.admitted_before_lease()) {
            let look = Box::pin(variants.get_opt(key));
            let (stored, claim) = match select(look, self.leases.claim(key.clone())).await {
                Either::Left((stored, out)) => (stored, Claim::Out(out)),
                Either::Right((claimed, look)) => (look.await, Claim::Settled(claimed)),
            };
            return match stored {
                Ok(Some(bytes)) => {
                    // A lease claimed for a variant that is stored is removed.
                    RenderLeases::abandon(claim);
                    Ok(Found::Stored(bytes))
                }
                Ok(None) => Ok(Found::Missing { info, claim: Pending::Made(claim) }),
                Err(e) => {
                    RenderLeases::abandon(claim);
                    Err(e.into())
                }
            };
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
            None => Ok(Found::Missing { info: info?, claim: Pending::Later }),
        }
    }

    /// Renders a miss under its lease and stores it; the variant another node stored instead,
    /// where one did.
    async fn render_miss(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        slot: Option<Slot>,
        claim: Pending,
    ) -> Result<Bytes, ServiceError> {
        let rendering = &self.rendering;
        let mut slot = match slot {
            Some(slot) => Some(slot),
            None if purpose.admitted_before_lease() => {
                Some(rendering.pool.admit(purpose.class(), plan.max_cost()).await?)
            }
            None => None,
        };
        let claimed = match claim {
            Pending::Made(Claim::Settled(claimed)) => claimed?,
            Pending::Made(Claim::Out(out)) if plan.sources[0].kind != SourceKind::Animation => {
                // Decodes while the claim is out; encodes only under the lease.
                let (claimed, prepared) = tokio::join!(out, rendering.prepare(plan, purpose, slot.take()));
                match claimed? {
                    Claimed::Held(lease) => {
                        let bytes = match prepared {
                            Ok(prepared) => lease.renewing(rendering.finish(plan, purpose, prepared)).await,
                            Err(e) => Err(e),
                        };
                        return self.store(plan, lease, bytes).await;
                    }
                    taken => taken,
                }
            }
            Pending::Made(Claim::Out(out)) => out.await?,
            Pending::Later => self.leases.try_claim(&plan.key).await?,
        };
        let lease = match self.leases.settle(&plan.key, claimed, &mut slot).await? {
            Leased::Render(lease) => lease,
            Leased::Stored(bytes) => return Ok(bytes),
        };
        let claimed_late = purpose.admitted_before_lease();
        if let Some(stored) = self.leases.stored_meanwhile(&lease, &plan.key, claimed_late).await? {
            return Ok(stored);
        }
        let bytes = lease.renewing(rendering.render(plan, purpose, slot)).await;
        self.store(plan, lease, bytes).await
    }

    /// Stores a rendered variant and leaves its lease to expire; a failed render removes its
    /// lease before the failure is answered.
    async fn store(
        &self,
        plan: &RenderPlan,
        lease: super::leases::HeldLease,
        rendered: Result<Bytes, ServiceError>,
    ) -> Result<Bytes, ServiceError> {
        let bytes = match rendered {
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

    /// Whether the image's focus changed while a crop placed by it rendered (`PUT .../focus` or
    /// `POST ?focus=`, on any node): then the crop, stored already, is taken back out of storage
    /// and the new info kept. The check comes after the store, and the focus change writes
    /// info.json before it removes the crops, so that one of the two always removes a stale crop.
    async fn take_back_if_refocused(&self, plan: &RenderPlan) -> bool {
        let stored = match self.images.stored(&plan.ns, &plan.id).await {
            Ok(Some(stored)) if stored.subject() != plan.info.subject() => stored,
            // Unchanged, or deleted meanwhile: the delete removes the crop.
            Ok(_) => return false,
            Err(e) => {
                tracing::warn!(key = %plan.key, error = %e, "could not check the focus of a stored crop");
                return false;
            }
        };
        if let Err(e) = self.stores.variants.delete(&plan.key).await {
            tracing::warn!(key = %plan.key, error = %e, "could not remove a crop placed by an old focus");
        }
        self.stores.forget_listing(&plan.ns, &plan.id).await;
        self.images.remember(&plan.ns, &plan.id, stored).await;
        true
    }

    /// Renders `variant` with the small encoders and stores it, whether or not a copy exists
    /// (for `regenerate`).
    pub(super) async fn rerender(&self, ns: &Namespace, id: &ImageId, variant: Variant) -> Result<(), ServiceError> {
        let (info, _) = self.images.info(ns, id, None).await?;
        let plan = RenderPlan::new(ns, id, variant, info, Effort::Small, &self.render, &self.rendering.limits)?
            .placed(self.settings.of(ns).crop);
        let slot = self.rendering.pool.admit(Class::Job, plan.max_cost()).await?;
        let bytes = self.rendering.render(&plan, Purpose::Job, Some(slot)).await?;
        self.stores.put_variant(ns, id, &plan.key, bytes.clone()).await?;
        self.cache.insert(plan.key, CachedObject::new(bytes, Served::Rendered)).await;
        Ok(())
    }
}
