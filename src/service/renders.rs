//! Variant lookups: memory, then storage, then planned once ([`RenderPlan`]), rendered on the
//! CPU pool under the variant's lease and stored before the answer. Concurrent lookups of one
//! variant join one load on this node, and, through the lease, one render across nodes.
//!
//! A request whose image is known claims the variant's lease while it looks in storage; once the
//! variant is known to be missing it decodes while the claim is still out, and encodes only once
//! the lease is its own (a render that loses the claim has spent a decode, and stores nothing).
//!
//! Nothing is leased, rendered or answered of an image not known to be in storage (DESIGN.md
//! §15): a hit in memory whose image was last confirmed `delete_visibility_secs` ago or more is
//! confirmed first, and a render is stored only while its image stands as the render found it.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;

use super::answer::Answer;
use super::images::{Images, Known};
use futures_util::future::{Either, select};

use super::ServiceError;
use super::leases::{Claim, Claimed, Leased, RenderLeases};
use super::plan::{RenderPlan, SourceKind};
use super::rendering::{Purpose, Rendering};
use super::stores::{Standing, Stores};
use crate::access::Payer;
use crate::cache::{CachedObject, ObjectCache, Presence};
use crate::config::{RenderConfig, Settings};
use crate::model::{ImageId, Namespace, ObjectKey, Served, Variant};
use crate::pool::Slot;

/// One lookup of a variant that its namespace serves.
pub(super) struct Lookup<'a> {
    pub(super) ns: &'a Namespace,
    pub(super) id: &'a ImageId,
    pub(super) variant: Variant,
    /// Where to pull a missing original from instead of the namespace's template.
    pub(super) source_override: Option<&'a str>,
    /// The image's facts, when the caller has them already.
    pub(super) info: Option<Known>,
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
    /// Where each namespace cuts its cover crops.
    pub(super) settings: Arc<Settings>,
}

/// What a look in storage found.
enum Found {
    /// The variant, of the image whose presence this is.
    Stored(Bytes, Arc<Presence>),
    /// Not the variant: the image, and the claim on the variant's lease.
    Missing { image: Known, claim: Pending },
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
    /// a render, is charged to the payer. A hit whose image is due for confirmation is confirmed
    /// in storage first; one gone or changed is looked up afresh.
    pub(super) async fn answer(&self, mut lookup: Lookup<'_>) -> Result<Answer, ServiceError> {
        let key = ObjectKey::variant(lookup.ns, lookup.id, &lookup.variant);
        let mime = lookup.variant.ext.format().mime();
        let (obj, loaded_here) = self.cached_or_loaded(&mut lookup, &key).await?;
        let due = |obj: &CachedObject| obj.presence.as_ref().is_some_and(|p| p.due(self.images.window_ms()));
        if loaded_here || !due(&obj) {
            return Ok(Answer::of(obj, loaded_here, mime));
        }
        let presence = obj.presence.as_ref().expect("due, so present");
        if Box::pin(self.images.confirm(lookup.ns, lookup.id, presence)).await {
            return Ok(Answer::of(obj, loaded_here, mime));
        }
        // Gone or changed, and forgotten here: from storage (or rendered) afresh, if it is there.
        let mut again = Lookup { info: None, slot: None, ..lookup };
        let (obj, loaded_here) = Box::pin(self.cached_or_loaded(&mut again, &key)).await?;
        Ok(Answer::of(obj, loaded_here, mime))
    }

    /// The variant from memory, or loaded (from storage, or rendered), and whether this call's
    /// own loader ran.
    async fn cached_or_loaded(
        &self,
        lookup: &mut Lookup<'_>,
        key: &ObjectKey,
    ) -> Result<(CachedObject, bool), ServiceError> {
        let slot = lookup.slot.take();
        let lookup = &*lookup;
        // Boxed, and made only on a miss: a hit should not build nor carry its size around.
        let load = || {
            Box::pin(async {
                let (image, claim) = match self.find(lookup, key).await? {
                    Found::Stored(bytes, presence) => {
                        return Ok(CachedObject::new(bytes, Served::Storage).of_image(presence));
                    }
                    Found::Missing { image, claim } => (image, claim),
                };
                let (effort, render) = (lookup.purpose.effort(), &self.render);
                let plan = RenderPlan::new(
                    lookup.ns,
                    lookup.id,
                    lookup.variant,
                    &image,
                    effort,
                    render,
                    &self.rendering.limits,
                )?
                .placed(self.settings.of(lookup.ns).crop);
                lookup.payer.charge(plan.work_units())?;
                let bytes = self.render_miss(&plan, lookup.purpose, lookup.payer.client(), slot, claim).await?;
                Ok::<_, ServiceError>(CachedObject::new(bytes, Served::Rendered).of_image(image.presence))
            })
        };
        self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())
    }

    /// The units of work rendering `variant` of `image` is charged (one for
    /// a variant the image cannot be rendered as: it is refused, not rendered).
    pub(super) fn work_units(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: Variant,
        image: &Known,
        purpose: Purpose,
    ) -> u32 {
        RenderPlan::new(ns, id, variant, image, purpose.effort(), &self.render, &self.rendering.limits)
            .map_or(1, |plan| plan.work_units())
    }

    /// Looks for the variant in storage, and for the image's facts: the image is known to exist
    /// before anything of its variant is leased or written. A request whose image is known
    /// already claims the variant's lease with the look, and goes on as soon as the look answers.
    async fn find(&self, lookup: &Lookup<'_>, key: &ObjectKey) -> Result<Found, ServiceError> {
        let variants = &self.stores.variants;
        let known = match &lookup.info {
            Some(image) => Some(image.clone()),
            None => self.images.in_memory(lookup.ns, lookup.id).await,
        };
        if let Some(image) = known.clone().filter(|_| !lookup.purpose.admitted_before_lease()) {
            let look = Box::pin(variants.get_opt(key));
            let (stored, claim) = match select(look, self.leases.claim(key.clone())).await {
                Either::Left((stored, out)) => (stored, Claim::Out(out)),
                Either::Right((claimed, look)) => (look.await, Claim::Settled(claimed)),
            };
            return match stored {
                Ok(Some(bytes)) => {
                    // A lease claimed for a variant that is stored is removed.
                    RenderLeases::abandon(claim);
                    Ok(Found::Stored(bytes, image.presence))
                }
                Ok(None) => Ok(Found::Missing { image, claim: Pending::Made(claim) }),
                Err(e) => {
                    RenderLeases::abandon(claim);
                    Err(e.into())
                }
            };
        }
        let image = async {
            match known {
                Some(image) => Ok(image),
                None => self.images.info(lookup.ns, lookup.id, lookup.source_override).await.map(|(image, _)| image),
            }
        };
        // A variant left in storage of an image that is not there is not served either.
        let (stored, image) = tokio::join!(variants.get_opt(key), image);
        let image = image?;
        match stored? {
            Some(bytes) => Ok(Found::Stored(bytes, image.presence)),
            None => Ok(Found::Missing { image, claim: Pending::Later }),
        }
    }

    /// Renders a miss under its lease and stores it; the variant another node stored instead,
    /// where one did.
    async fn render_miss(
        &self,
        plan: &RenderPlan,
        purpose: Purpose,
        payer: Option<IpAddr>,
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
                let (claimed, prepared) = tokio::join!(out, rendering.prepare(plan, purpose, payer, slot.take()));
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
        let bytes = lease.renewing(rendering.render(plan, purpose, payer, slot)).await;
        self.store(plan, lease, bytes).await
    }

    /// Stores a rendered variant and leaves its lease to expire; a failed render removes its
    /// lease before the failure is answered. A render of an image deleted meanwhile stores
    /// nothing and is not answered; one of an image changed meanwhile is answered, not stored.
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
        match self.stores.put_variant(&plan.ns, &plan.id, &plan.key, bytes.clone(), &plan.presence).await {
            Ok(Standing::Same) => lease.stored(),
            Ok(Standing::Gone) => {
                lease.failed().await;
                self.images.forget(&plan.ns, &plan.id).await;
                return Err(ServiceError::ImageNotFound);
            }
            Ok(Standing::Changed) => lease.failed().await,
            // The image is still good to answer; the lease goes, and the next miss renders it again.
            Err(e) => tracing::warn!(key = %plan.key, error = %e, "could not store a rendered variant"),
        }
        Ok(bytes)
    }

    /// Renders `variant` with the small encoders and stores it, whether or not a copy exists
    /// (for `regenerate`).
    pub(super) async fn rerender(&self, ns: &Namespace, id: &ImageId, variant: Variant) -> Result<(), ServiceError> {
        let (image, _) = self.images.info(ns, id, None).await?;
        let plan =
            RenderPlan::new(ns, id, variant, &image, Purpose::Job.effort(), &self.render, &self.rendering.limits)?
                .placed(self.settings.of(ns).crop);
        let slot = self.rendering.pool.admit(Purpose::Job.class(), plan.max_cost()).await?;
        let bytes = self.rendering.render(&plan, Purpose::Job, None, Some(slot)).await?;
        match self.stores.put_variant(ns, id, &plan.key, bytes.clone(), &plan.presence).await? {
            Standing::Same => {}
            Standing::Gone => return Err(ServiceError::ImageNotFound),
            Standing::Changed => return Ok(()),
        }
        let cached = CachedObject::new(bytes, Served::Rendered).of_image(image.presence);
        self.cache.insert(plan.key, cached).await;
        Ok(())
    }
}
