//! Deletes (DESIGN.md §11): every object of an image (original, info, working copies, variants,
//! leases, jobs) removed from storage and from this node's memory.

use super::{ImageService, ServiceError};
use crate::model::{ImageId, Namespace, ObjectKey};

impl ImageService {
    /// Removes the image: info.json first, so that from then on no node serves, renders or
    /// resumes anything of it, then everything else under its prefix, in both stores. False when
    /// there was nothing to remove.
    pub async fn delete(&self, ns: &Namespace, id: &ImageId) -> Result<bool, ServiceError> {
        let info = ObjectKey::info(ns, id);
        let had_info = self.originals.exists(&info).await?;
        self.originals.delete(&info).await?;
        self.cache.invalidate(&info).await;
        let prefix = ObjectKey::image_prefix(ns, id);
        let mut removed = had_info;
        for store in self.stores() {
            let keys = store.list(&prefix).await?;
            removed |= !keys.is_empty();
            store.delete_listed(&keys).await?;
        }
        let jobs = self.originals.list(&ObjectKey::image_jobs_prefix(ns, id)).await?;
        self.originals.delete_listed(&jobs).await?;
        self.cache.invalidate_prefix(&prefix);
        self.sources.invalidate_prefix(&prefix);
        self.listings.invalidate(&prefix).await;
        if removed {
            self.metrics.deleted();
        }
        Ok(removed)
    }
}
