//! Uploads: validate, store the original, its working copies and its info, then render the asked
//! outputs. Also the downloads of source URLs, shared with origin pulls.

use base64::Engine;
use bytes::Bytes;
use futures_util::future::try_join_all;

use super::{ImageInfo, ImageService, ServiceError};
use crate::buffer::Held;
use crate::cache::CachedObject;
use crate::model::{ImageHash, ImageId, Namespace, ObjectKey, Served, Variant};
use crate::pipeline::{self, ImageFacts, RenderError};
use crate::source::FetchError;

/// The result of an upload.
#[derive(Clone, Debug)]
pub struct Ingested {
    /// The stored image's facts, with the variants stored so far (and, for an upload that did
    /// not wait, those still pending).
    pub info: ImageInfo,
    /// False when the same bytes were stored already (nothing was written).
    pub created: bool,
}

/// When an upload's outputs are rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outputs {
    /// Before the upload is answered.
    BeforeAnswer,
    /// After: a job in storage, answered 202 (`?wait=false`).
    InBackground,
}

impl ImageService {
    /// Stores `bytes` as an original of `ns` (unless stored already) and renders `outputs` plus
    /// the namespace's own outputs with the small encoders, before the answer or in a job.
    /// Nothing is written unless the image decodes, every output is allowed and the namespace's
    /// moderation hook allows it. With a `notify_url`, a job delivers the notification once the
    /// outputs are stored.
    pub async fn ingest(
        &self,
        ns: &Namespace,
        bytes: Bytes,
        outputs: &[Variant],
        when: Outputs,
    ) -> Result<Ingested, ServiceError> {
        if bytes.is_empty() {
            return Err(ServiceError::EmptyUpload);
        }
        let mut all_outputs: Vec<Variant> = outputs.to_vec();
        if let Some(ns_config) = self.config.namespace(ns) {
            all_outputs.extend(ns_config.outputs.iter().filter(|v| !outputs.contains(v)));
        }
        self.check_variants(ns, &all_outputs).map_err(|(_, e)| e)?;

        let (hash, probed) = self.hash_and_probe(bytes.clone()).await?;
        let id = ImageId::Hash(hash);
        let info_key = ObjectKey::info(ns, &id);
        let (info, created) = match self.originals.get_opt(&info_key).await? {
            Some(stored) => {
                self.metrics.upload_done(false);
                (ImageInfo::from_stored(&stored, &id)?, false)
            }
            None => {
                let facts = probed?;
                self.moderate(ns, &hash, &bytes, &facts).await?;
                let info = self.store_original(ns, &id, &hash, bytes, facts).await?;
                self.metrics.upload_done(true);
                (info, true)
            }
        };
        let notifies = self.config.namespace(ns).is_some_and(|own| own.notify_url.is_some());
        match when {
            Outputs::BeforeAnswer => {
                // The upload was charged to its client; its outputs are the server's work.
                try_join_all(all_outputs.iter().map(|v| self.output(ns, &id, v))).await?;
                if notifies {
                    self.add_job(ns, &id, &all_outputs).await?;
                }
                let info = self.with_listing(ns, &id, info).await?;
                Ok(Ingested { info, created })
            }
            Outputs::InBackground => {
                if notifies || !all_outputs.is_empty() {
                    self.add_job(ns, &id, &all_outputs).await?;
                }
                let mut info = self.with_listing(ns, &id, info).await?;
                let stored = info.variants.as_deref().unwrap_or_default();
                let pending = all_outputs.iter().map(Variant::to_string).filter(|v| !stored.contains(v)).collect();
                info.pending = Some(pending);
                Ok(Ingested { info, created })
            }
        }
    }

    /// Downloads `url` and ingests it.
    pub async fn ingest_source(
        &self,
        ns: &Namespace,
        url: &str,
        outputs: &[Variant],
        when: Outputs,
    ) -> Result<Ingested, ServiceError> {
        let held = self.download(url).await?;
        self.ingest(ns, held.bytes.clone(), outputs, when).await
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

    /// The md5 of `bytes` and what their header says, on the CPU pool.
    pub(super) async fn hash_and_probe(
        &self,
        bytes: Bytes,
    ) -> Result<(ImageHash, Result<ImageFacts, RenderError>), ServiceError> {
        let limits = self.limits;
        Ok(self.pool.run(0, move || (ImageHash::of(&bytes), pipeline::probe(&bytes, &limits))).await?)
    }

    /// Validates an original (a full decode), makes its working copies, and stores it: original
    /// first, working copies next, info last, so that an info.json in storage always has the rest
    /// beside it.
    pub(super) async fn store_original(
        &self,
        ns: &Namespace,
        id: &ImageId,
        hash: &ImageHash,
        bytes: Bytes,
        facts: ImageFacts,
    ) -> Result<ImageInfo, ServiceError> {
        let limits = self.limits;
        let max_side = self.config.render.working_copy_max_side;
        let original = bytes.clone();
        let made = self
            .pool
            .run(u64::from(facts.width) * u64::from(facts.height), move || {
                let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, max_side);
                pipeline::make_working_copies(&original, sizes, &limits)
            })
            .await??;
        let info = ImageInfo {
            hash: hash.to_string(),
            width: facts.width,
            height: facts.height,
            content_type: facts.format.mime().to_owned(),
            frames: (facts.frames > 1).then_some(facts.frames),
            thumbhash: Some(base64::engine::general_purpose::STANDARD.encode(&made.thumbhash)),
            variants: None,
            pending: None,
            urls: None,
        };
        let info_json = info.to_json();
        self.originals.put(&ObjectKey::original(ns, id), bytes).await?;
        for (tier, copy) in made.copies {
            self.originals.put(&ObjectKey::working(ns, id, tier), Bytes::from(copy.bytes)).await?;
        }
        self.originals.put(&ObjectKey::info(ns, id), info_json.clone()).await?;
        self.cache.insert(ObjectKey::info(ns, id), CachedObject::new(info_json, Served::Storage)).await;
        Ok(info)
    }
}
