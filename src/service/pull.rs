//! Origin-pull namespaces: on the first miss of `/{ns}/{path}/...`, the original is fetched from
//! the namespace's `source_url` template (or an allowed `?source=` override), validated and stored
//! under that path like an upload, working copies included. Concurrent first requests join one
//! pull (it runs inside the info lookup, which the memory cache coalesces); later requests find it
//! in storage and never fetch again.

use super::{ImageInfo, ImageService, ServiceError};
use crate::model::{ImageId, Namespace, OriginPath};
use crate::source::FetchError;

impl ImageService {
    /// Fetches and stores the original at `path` of an origin-pull namespace.
    pub(super) async fn pull(
        &self,
        ns: &Namespace,
        path: &OriginPath,
        source_override: Option<&str>,
    ) -> Result<ImageInfo, ServiceError> {
        let ns_config = self.config.namespace(ns);
        let template = ns_config.and_then(|c| c.source_url.as_deref()).ok_or(ServiceError::ImageNotFound)?;
        let url = match source_override {
            Some(url) if ns_config.is_some_and(|c| c.allow_source_override) => url.to_owned(),
            Some(_) => return Err(ServiceError::SourceOverrideNotAllowed),
            None => template.replace("{path}", path.as_str()),
        };
        let held = self.download(&url).await.map_err(|e| match e {
            FetchError::Upstream(404 | 410) => ServiceError::OriginNotFound,
            other => ServiceError::Fetch(other),
        })?;
        let (hash, probed) = self.hash_and_probe(held.bytes.clone()).await?;
        self.store_original(ns, &ImageId::Path(path.clone()), &hash, held.bytes.clone(), probed?).await
    }
}
