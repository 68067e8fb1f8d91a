//! One render per variant across nodes (DESIGN.md §12): a node that misses a variant takes the
//! variant's lease in storage (the originals' storage, private where the variants' may be a
//! public bucket); a node that finds a live lease waits for the variant to appear (up to the
//! lease's expiry, which its holder pushes on while it renders) instead of rendering; a stale
//! lease is taken over. Storage without conditional create, or `render_leases` off, renders
//! without one.
//!
//! A lease whose variant is stored is left to expire rather than removed (and removed once it
//! has): a node that looked in storage just before the variant was stored finds the lease taken
//! and waits for the variant instead of rendering it again. So a fresh lease means nobody stored
//! the variant since the look, and a request claims it while it looks (`renders.rs`), at the
//! cost of no round trip. Only a lease taken over from a stale holder, or claimed long after the
//! look (work that waited for a worker first), needs a second look before its render.

use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ServiceError;
use crate::model::ObjectKey;
use crate::pool::Slot;
use crate::store::lease::{self, Lease};
use crate::store::{Store, StoreError};

/// The first wait between looks at storage for a variant another node renders; each following
/// one doubles, up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(500);

/// A lease this node holds on a render (or `None` where no lease is needed). Left to expire once
/// its variant is stored ([`HeldLease::stored`]); removed at once when it is dropped otherwise.
#[derive(Debug)]
pub(super) struct HeldLease(Option<Lease>);

impl HeldLease {
    /// The variant is stored: the lease is left to expire.
    pub(super) fn stored(mut self) {
        if let Some(lease) = self.0.take() {
            lease.expire();
        }
    }

    /// Runs `work` while keeping the lease renewed.
    pub(super) async fn renewing<F: Future>(&self, work: F) -> F::Output {
        match &self.0 {
            Some(lease) => lease.renewing(work).await,
            None => work.await,
        }
    }

    /// The render failed: the lease is removed now, before the failure is answered, so that
    /// storage holds what it held before.
    pub(super) async fn failed(mut self) {
        if let Some(lease) = self.0.take() {
            lease.release().await;
        }
    }

    /// Whether the lease was taken over from a stale holder, which may have stored the variant.
    fn took_over(&self) -> bool {
        self.0.as_ref().is_some_and(Lease::took_over)
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if let Some(lease) = self.0.take() {
            tokio::spawn(lease.release());
        }
    }
}

/// One attempt at a variant's lease.
#[derive(Debug)]
pub(super) enum Claimed {
    /// This node may render.
    Held(HeldLease),
    /// Another node holds a live lease, stale in `expires_in`.
    Taken {
        /// Time until the other node's lease is stale.
        expires_in: Duration,
    },
}

/// A claim made beside another look: answered, or still out.
pub(super) enum Claim {
    /// Answered.
    Settled(Result<Claimed, StoreError>),
    /// Still out.
    Out(ClaimOut),
}

/// A claim still out: it owns what it needs, so that it can be finished on its own.
pub(super) type ClaimOut = Pin<Box<dyn Future<Output = Result<Claimed, StoreError>> + Send>>;

/// What to do about a miss, once the claim is settled.
pub(super) enum Leased {
    /// Render it under this lease.
    Render(HeldLease),
    /// Another node rendered and stored it while this one waited.
    Stored(Bytes),
}

/// Render leases, as configured.
#[derive(Clone, Debug)]
pub(super) struct RenderLeases {
    /// Where leases are kept.
    originals: Store,
    /// Where the variants appear.
    variants: Store,
    ttl: Duration,
    enabled: bool,
}

impl RenderLeases {
    pub(super) fn new(originals: Store, variants: Store, ttl: Duration, enabled: bool) -> RenderLeases {
        RenderLeases { originals, variants, ttl, enabled }
    }

    /// One attempt at the lease on the variant at `key`, owning what it needs.
    pub(super) fn claim(&self, key: ObjectKey) -> ClaimOut {
        let leases = self.clone();
        Box::pin(async move { leases.try_claim(&key).await })
    }

    /// Gives up a claim that is not needed (its variant was found): a lease it took is removed,
    /// once the claim has answered.
    pub(super) fn abandon(claim: Claim) {
        match claim {
            Claim::Settled(claimed) => drop(claimed),
            Claim::Out(out) => {
                tokio::spawn(async move {
                    drop(out.await);
                });
            }
        }
    }

    /// One attempt at the lease on the variant at `key`.
    pub(super) async fn try_claim(&self, key: &ObjectKey) -> Result<Claimed, StoreError> {
        if !self.enabled {
            return Ok(Claimed::Held(HeldLease(None)));
        }
        Ok(match lease::claim(&self.originals, ObjectKey::lease_of(key), self.ttl).await? {
            lease::Claim::Held(lease) => Claimed::Held(HeldLease(Some(lease))),
            lease::Claim::Taken { expires_in } => Claimed::Taken { expires_in },
        })
    }

    /// Settles a claim: the lease, or the variant once another node holding the lease has stored
    /// it. A worker held for the render (`slot`) is given back before waiting on another node.
    pub(super) async fn settle(
        &self,
        key: &ObjectKey,
        mut claimed: Claimed,
        slot: &mut Option<Slot>,
    ) -> Result<Leased, ServiceError> {
        loop {
            let expires_in = match claimed {
                Claimed::Held(lease) => return Ok(Leased::Render(lease)),
                Claimed::Taken { expires_in } => expires_in,
            };
            drop(slot.take());
            let deadline = Instant::now() + expires_in;
            let mut poll = FIRST_POLL;
            loop {
                // At once first: the lease may be one left to expire, its variant stored.
                if let Some(bytes) = self.variants.get_opt(key).await? {
                    return Ok(Leased::Stored(bytes));
                }
                let now = Instant::now();
                if now >= deadline {
                    break; // stale, or renewed: the next claim tells
                }
                tokio::time::sleep(poll.min(deadline - now)).await;
                poll = (poll * 2).min(MAX_POLL);
            }
            claimed = self.try_claim(key).await?;
        }
    }

    /// The second look before a render, where one is due (see the module's docs): the variant,
    /// if it was stored since the first. `claimed_late`: the lease was claimed long after the
    /// first look.
    pub(super) async fn stored_meanwhile(
        &self,
        lease: &HeldLease,
        key: &ObjectKey,
        claimed_late: bool,
    ) -> Result<Option<Bytes>, StoreError> {
        let due = lease.0.is_some() && (lease.took_over() || claimed_late);
        if due { self.variants.get_opt(key).await } else { Ok(None) }
    }
}
