//! Image facts: each stored info.json read and parsed once into memory, and, in origin-pull
//! namespaces, the original fetched from its origin on the first lookup (concurrent first
//! lookups join one pull), validated and stored like an upload. Also the downloads of source
//! URLs, which uploads share.

use std::sync::Arc;

use super::originals::{Originals, Probed};
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::buffer::Held;
use crate::cache::{ObjectCache, Weighed};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::model::{ImageId, Namespace, ObjectKey, OriginPath, Served};
use crate::pool::Class;
use crate::source::{FetchError, Fetcher};
use crate::store::StoreError;

impl Weighed for Arc<ImageInfo> {
    fn weight(&self) -> usize {
        // The fixed fields, and the placeholder, which is most of an info's bytes.
        128 + self.content_type.len() + self.thumbhash.as_ref().map_or(0, String::len)
    }
}

/// Info lookups and pulls.
#[derive(Debug)]
pub(super) struct Images {
    stores: Stores,
    originals: Originals,
    fetcher: Fetcher,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    infos: ObjectCache<Arc<ImageInfo>>,
}

impl Images {
    pub(super) fn new(
        stores: Stores,
        originals: Originals,
        fetcher: Fetcher,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
        memory_bytes: u64,
    ) -> Images {
        Images { stores, originals, fetcher, settings, metrics, infos: ObjectCache::new(memory_bytes) }
    }

    /// The facts of a stored original, and where they came from; in an origin-pull namespace,
    /// pulled from the origin (or `source_override` where allowed) if not stored yet.
    pub(super) async fn info(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<(Arc<ImageInfo>, Served), ServiceError> {
        let key = ObjectKey::info(ns, id);
        // Boxed, and made only on a miss (a pull is a large future).
        let load = || {
            Box::pin(async {
                match (self.stores.originals.get(&key).await, id) {
                    (Ok(bytes), _) => Ok((Arc::new(ImageInfo::from_stored(&bytes, id)?), Served::Storage)),
                    (Err(StoreError::NotFound), ImageId::Path(path)) if self.settings.of(ns).origin.is_some() => {
                        Ok((Arc::new(self.pull(ns, path, source_override).await?), Served::Rendered))
                    }
                    (Err(StoreError::NotFound), _) => Err(ServiceError::ImageNotFound),
                    (Err(e @ StoreError::Backend(_)), _) => Err(ServiceError::Store(e)),
                }
            })
        };
        let mut served = Served::Memory;
        let (info, _) = self
            .infos
            .get_or_load(key.clone(), || async {
                let (info, from) = load().await?;
                served = from;
                Ok::<_, ServiceError>(info)
            })
            .await
            .map_err(|e| (*e).clone())?;
        Ok((info, served))
    }

    /// The info.json in storage now, past the memory (`None` when the image is not stored).
    pub(super) async fn stored(&self, ns: &Namespace, id: &ImageId) -> Result<Option<ImageInfo>, ServiceError> {
        match self.stores.originals.get_opt(&ObjectKey::info(ns, id)).await? {
            Some(bytes) => Ok(Some(ImageInfo::from_stored(&bytes, id)?)),
            None => Ok(None),
        }
    }

    /// The facts of an image if they are in memory: known to exist, without a look in storage.
    pub(super) async fn in_memory(&self, ns: &Namespace, id: &ImageId) -> Option<Arc<ImageInfo>> {
        self.infos.get(&ObjectKey::info(ns, id)).await
    }

    /// Keeps the info of an original just stored, so that its first lookups need no read.
    pub(super) async fn remember(&self, ns: &Namespace, id: &ImageId, info: ImageInfo) {
        self.infos.insert(ObjectKey::info(ns, id), Arc::new(info)).await;
    }

    /// Forgets the info of an image (deleted).
    pub(super) async fn forget(&self, ns: &Namespace, id: &ImageId) {
        self.infos.invalidate(&ObjectKey::info(ns, id)).await;
    }

    /// Fetches and stores the original at `path` of an origin-pull namespace.
    async fn pull(
        &self,
        ns: &Namespace,
        path: &OriginPath,
        source_override: Option<&str>,
    ) -> Result<ImageInfo, ServiceError> {
        let origin = self.settings.of(ns).origin.as_ref().ok_or(ServiceError::ImageNotFound)?;
        let url = match source_override {
            Some(url) if origin.allow_source_override => url.to_owned(),
            Some(_) => return Err(ServiceError::SourceOverrideNotAllowed),
            None => origin.template.replace("{path}", path.as_str()),
        };
        let held = self.download(&url).await.map_err(|e| match e {
            FetchError::Upstream(404 | 410) => ServiceError::OriginNotFound,
            other => ServiceError::Fetch(other),
        })?;
        let (hash, probed) = self.originals.hash_and_probe(held.bytes.clone(), Class::Request).await?;
        let id = ImageId::Path(path.clone());
        let probed = Probed { hash, bytes: held.bytes.clone(), facts: probed? };
        self.originals.store(ns, &id, probed, None, Class::Request).await
    }

    /// Downloads a source URL through the SSRF-safe fetcher, with its metrics; the bytes count
    /// against the upload buffer while held.
    pub(super) async fn download(&self, url: &str) -> Result<Held, FetchError> {
        let download = self.metrics.download_started();
        let fetched = self.fetcher.fetch(url).await;
        if fetched.is_ok() {
            download.downloaded();
        }
        fetched
    }
}
