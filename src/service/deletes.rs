//! Deletes (DESIGN.md §11): every object of an image (original, info, working copies, variants,
//! leases, jobs) removed from storage and from this node's memory.

use std::sync::Arc;

use bytes::Bytes;

use super::ServiceError;
use super::images::Images;
use super::stores::Stores;
use crate::cache::ObjectCache;
use crate::metrics::Metrics;
use crate::model::{ImageId, Namespace, ObjectKey};

/// What removing images needs.
#[derive(Debug)]
pub(super) struct Deletes {
    pub(super) stores: Stores,
    pub(super) images: Arc<Images>,
    /// Encoded answers.
    pub(super) cache: ObjectCache,
    /// Sources renders read.
    pub(super) sources: ObjectCache<Bytes>,
    pub(super) metrics: Arc<Metrics>,
}

impl Deletes {
    /// Removes the image: info.json first, so that from then on no node serves, renders or
    /// resumes anything of it, then everything else under its prefix, in both stores. False when
    /// there was nothing to remove.
    pub(super) async fn delete(&self, ns: &Namespace, id: &ImageId) -> Result<bool, ServiceError> {
        let originals = &self.stores.originals;
        let info = ObjectKey::info(ns, id);
        let had_info = originals.exists(&info).await?;
        originals.delete(&info).await?;
        self.images.forget(ns, id).await;
        let prefix = ObjectKey::image_prefix(ns, id);
        let mut removed = had_info;
        for store in self.stores.each() {
            let keys = store.list(&prefix).await?;
            removed |= !keys.is_empty();
            store.delete_listed(&keys).await?;
        }
        let jobs = originals.list(&ObjectKey::image_jobs_prefix(ns, id)).await?;
        originals.delete_listed(&jobs).await?;
        self.cache.invalidate_prefix(&prefix);
        self.sources.invalidate_prefix(&prefix);
        self.stores.forget_listing(ns, id).await;
        if removed {
            self.metrics.deleted();
        }
        Ok(removed)
    }
}
