//! Uploads: validate, store the original and its info, then render the asked outputs.

use bytes::Bytes;
use futures_util::future::try_join_all;

use super::{ImageInfo, ImageService, ServiceError};
use crate::cache::CachedObject;
use crate::model::{ImageHash, Namespace, ObjectKey, Variant};
use crate::pipeline;

/// The result of an upload.
#[derive(Clone, Debug)]
pub struct Ingested {
    /// The stored image's facts.
    pub info: ImageInfo,
    /// False when the same bytes were stored already (nothing was written).
    pub created: bool,
}

impl ImageService {
    /// Stores `bytes` as an original of `ns` (unless stored already) and renders `outputs` plus
    /// the namespace's own outputs. Nothing is written unless the image decodes and every output
    /// is allowed.
    pub async fn ingest(&self, ns: &Namespace, bytes: Bytes, outputs: &[Variant]) -> Result<Ingested, ServiceError> {
        if bytes.is_empty() {
            return Err(ServiceError::EmptyUpload);
        }
        let mut all_outputs: Vec<Variant> = outputs.to_vec();
        if let Some(ns_config) = self.config.namespace(ns) {
            all_outputs.extend(ns_config.outputs.iter().filter(|v| !outputs.contains(v)));
        }
        for variant in &all_outputs {
            self.check_variant(ns, variant)?;
        }

        let (hashed, limits) = (bytes.clone(), self.limits);
        let (hash, probed) =
            self.pool.run(0, move || (ImageHash::of(&hashed), pipeline::probe(&hashed, &limits))).await?;
        let info_key = ObjectKey::info(ns, &hash);
        let (info, created) = match self.originals.get_opt(&info_key).await? {
            Some(stored) => {
                self.metrics.uploaded(false);
                let info = serde_json::from_slice(&stored)
                    .map_err(|e| ServiceError::Internal(format!("stored {info_key} is not valid: {e}")))?;
                (info, false)
            }
            None => (self.store_new(ns, &hash, bytes, probed?).await?, true),
        };
        try_join_all(all_outputs.iter().map(|v| self.variant(ns, &hash, v))).await?;
        Ok(Ingested { info, created })
    }

    /// Downloads `url` and ingests it.
    pub async fn ingest_source(
        &self,
        ns: &Namespace,
        url: &str,
        outputs: &[Variant],
    ) -> Result<Ingested, ServiceError> {
        let downloads = &self.metrics.downloads_in_progress;
        downloads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = std::time::Instant::now();
        let fetched = self.fetcher.fetch(url).await;
        downloads.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = fetched?;
        self.metrics.original_downloaded(started.elapsed());
        self.ingest(ns, bytes, outputs).await
    }

    async fn store_new(
        &self,
        ns: &Namespace,
        hash: &ImageHash,
        bytes: Bytes,
        facts: pipeline::ImageFacts,
    ) -> Result<ImageInfo, ServiceError> {
        let limits = self.limits;
        let max_side = self.config.working_copy_max_side;
        let original = bytes.clone();
        // One job validates the image (a full decode) and, where they are due, makes the working
        // copies from that decode.
        let (facts, working) = self
            .pool
            .run(u64::from(facts.width) * u64::from(facts.height), move || {
                let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, max_side);
                if sizes == [None, None] {
                    pipeline::inspect(&original, &limits).map(|facts| (facts, Vec::new()))
                } else {
                    pipeline::make_working_copies(&original, sizes, &limits).map(|copies| (facts, copies))
                }
            })
            .await??;
        let info = ImageInfo {
            hash: hash.to_string(),
            width: facts.width,
            height: facts.height,
            content_type: facts.format.mime().to_owned(),
        };
        let info_json = Bytes::from(serde_json::to_vec(&info).expect("info serialises"));
        // Info last: an info.json in storage always has its original (and working copies) beside it.
        self.originals.put(&ObjectKey::original(ns, hash), bytes).await?;
        for (tier, copy) in working {
            self.originals.put(&ObjectKey::working(ns, hash, tier), Bytes::from(copy.bytes)).await?;
        }
        self.originals.put(&ObjectKey::info(ns, hash), info_json.clone()).await?;
        self.cache.insert(ObjectKey::info(ns, hash), CachedObject::new(info_json)).await;
        self.metrics.uploaded(true);
        Ok(info)
    }
}
