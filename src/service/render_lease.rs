//! One render per variant across nodes (DESIGN.md §12): before rendering a miss, a node takes
//! the variant's lease in storage (the originals' storage, private where the variants' may be a
//! public bucket); a node that finds a live lease waits for the variant to appear
//! (up to the lease's expiry, which its holder pushes on while it renders) instead of rendering;
//! a stale lease is taken over. Storage without conditional create, or `render_leases` off,
//! renders without one.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{ImageService, ServiceError};
use crate::model::ObjectKey;
use crate::store::lease::{self, Claim, Lease};

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

impl ImageService {
    /// The lease on the variant at `key`, or the variant, once another node holding the lease
    /// has stored it.
    pub(super) async fn render_lease(&self, key: &ObjectKey) -> Result<Leased, ServiceError> {
        if !self.config.background.render_leases {
            return Ok(Leased::Render(None));
        }
        let lease_key = ObjectKey::lease_of(key);
        loop {
            let expires_in =
                match lease::claim(&self.originals, lease_key.clone(), self.config.background.lease_secs).await? {
                    Claim::Held(lease) => {
                        // A node that rendered the variant stores it before it removes its lease: if
                        // that lease was removed since this node missed in storage, the variant is
                        // there now.
                        return match self.variants.get_opt(key).await {
                            Ok(Some(bytes)) => {
                                lease.release().await;
                                Ok(Leased::Stored(bytes))
                            }
                            Ok(None) => Ok(Leased::Render(Some(lease))),
                            Err(e) => {
                                lease.release().await;
                                Err(e.into())
                            }
                        };
                    }
                    Claim::Taken { expires_in } => expires_in,
                };
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
}
