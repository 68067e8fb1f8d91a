//! One render per variant across nodes (DESIGN.md §12): after a miss in storage, a node takes
//! the variant's lease in storage (the originals' storage, private where the variants' may be a
//! public bucket); a node that finds a live lease waits for the variant to appear (up to the
//! lease's expiry, which its holder pushes on while it renders) instead of rendering; a stale
//! lease is taken over. Storage without conditional create, or `render_leases` off, renders
//! without one.
//!
//! What a lease adds to a miss is kept off its path where it can be: the look in storage after
//! the lease is taken (for a variant another node stored and released since the first look)
//! runs beside the render, and the lease is removed after the answer.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::ServiceError;
use crate::model::ObjectKey;
use crate::pool::Slot;
use crate::store::lease::{self, Claim, Lease};
use crate::store::{Store, StoreError};

/// What to do about a miss.
pub(super) enum Leased {
    /// Render it (under this lease, or without one).
    Render(Option<Lease>),
    /// Another node rendered and stored it while this one waited.
    Stored(Bytes),
}

/// The first wait between looks at storage for a variant another node renders; each following
/// one doubles, up to [`MAX_POLL`].
const FIRST_POLL: Duration = Duration::from_millis(20);
const MAX_POLL: Duration = Duration::from_millis(500);

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

    /// After a miss in storage: the lease on the variant at `key`, or the variant, once another
    /// node holding the lease has stored it. A worker held for the render (`slot`) is given back
    /// before waiting on another node.
    pub(super) async fn claim(&self, key: &ObjectKey, slot: &mut Option<Slot>) -> Result<Leased, ServiceError> {
        if !self.enabled {
            return Ok(Leased::Render(None));
        }
        let lease_key = ObjectKey::lease_of(key);
        loop {
            let expires_in = match lease::claim(&self.originals, lease_key.clone(), self.ttl).await? {
                Claim::Held(lease) => return Ok(Leased::Render(Some(lease))),
                Claim::Taken { expires_in } => expires_in,
            };
            drop(slot.take());
            let deadline = Instant::now() + expires_in;
            let mut poll = FIRST_POLL;
            loop {
                let now = Instant::now();
                if now >= deadline {
                    break; // stale, or renewed: the claim above tells
                }
                tokio::time::sleep(poll.min(deadline - now)).await;
                if let Some(bytes) = self.variants.get_opt(key).await? {
                    return Ok(Leased::Stored(bytes));
                }
                poll = (poll * 2).min(MAX_POLL);
            }
        }
    }

    /// Under a fresh lease: the variant, if a node that held the lease before stored it after
    /// this node's first look (it stores before it releases, so it is there now).
    pub(super) async fn stored_meanwhile(
        &self,
        lease: &Option<Lease>,
        key: &ObjectKey,
    ) -> Result<Option<Bytes>, StoreError> {
        match lease {
            Some(lease) if lease.written() => self.variants.get_opt(key).await,
            _ => Ok(None),
        }
    }

    /// Removes a lease once its variant is stored (or its render failed), after the answer.
    pub(super) fn release(lease: Option<Lease>) {
        if let Some(lease) = lease {
            tokio::spawn(lease.release());
        }
    }
}
