//! Uploads: validate, moderate, store the original with its working copies and info, then
//! render the asked outputs (and the namespace's own) with the small encoders, before the answer
//! or in a job after it.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::try_join_all;

use super::images::Images;
use super::jobs::Jobs;
use super::originals::Originals;
use super::renders::{Lookup, Purpose, Renders};
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::access::Payer;
use crate::config::{Moderation, Settings};
use crate::hooks::{Hooks, Verdict};
use crate::metrics::{Metrics, Moderated};
use crate::model::{Geometry, ImageFormat, ImageHash, ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::{self, Effort, ImageFacts, Limits, Placement, RenderSpec};
use crate::pool::{Class, Cost, CpuPool};

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

/// The longest side of the picture the moderation hook sees.
const MODERATION_SIDE: u32 = 1024;

/// The quality of that picture: enough for a classifier, a fraction of the original's bytes.
const MODERATION_QUALITY: u8 = 85;

/// What taking uploads needs.
#[derive(Debug)]
pub(super) struct Uploads {
    pub(super) settings: Arc<Settings>,
    pub(super) stores: Stores,
    pub(super) originals: Originals,
    pub(super) images: Arc<Images>,
    pub(super) renders: Arc<Renders>,
    pub(super) jobs: Arc<Jobs>,
    pub(super) hooks: Hooks,
    pub(super) metrics: Arc<Metrics>,
    pub(super) pool: CpuPool,
    pub(super) limits: Limits,
}

impl Uploads {
    /// Stores `bytes` as an original of `ns` (unless stored already) and renders `outputs` plus
    /// the namespace's own outputs, before the answer or in a job. Nothing is written unless
    /// the image decodes, every output is allowed and the namespace's moderation hook allows it.
    /// With a `notify_url`, a job delivers the notification once the outputs are stored.
    pub(super) async fn ingest(
        &self,
        ns: &Namespace,
        bytes: Bytes,
        outputs: &[Variant],
        when: Outputs,
    ) -> Result<Ingested, ServiceError> {
        if bytes.is_empty() {
            return Err(ServiceError::EmptyUpload);
        }
        let settings = self.settings.of(ns);
        let all_outputs = settings.outputs_with(outputs);
        all_outputs.iter().try_for_each(|v| settings.check(v))?;

        let (hash, probed) = self.originals.hash_and_probe(bytes.clone(), Class::Upload).await?;
        let id = ImageId::Hash(hash);
        let (info, created) = match self.stores.originals.get_opt(&ObjectKey::info(ns, &id)).await? {
            Some(stored) => {
                self.metrics.upload_done(false);
                (ImageInfo::from_stored(&stored, &id)?, false)
            }
            None => {
                let facts = probed?;
                if let Some(moderation) = &settings.moderation {
                    self.moderate(moderation, ns, &hash, &bytes, &facts).await?;
                }
                let info = self.originals.store(ns, &id, &hash, bytes, facts, Class::Upload).await?;
                self.images.remember(ns, &id, info.clone()).await;
                self.metrics.upload_done(true);
                (info, true)
            }
        };
        let notifies = settings.notify.is_some();
        match when {
            Outputs::BeforeAnswer => {
                // The upload was charged to its client; its outputs are the server's work.
                try_join_all(all_outputs.iter().map(|v| {
                    self.renders.answer(Lookup {
                        ns,
                        id: &id,
                        variant: *v,
                        source_override: None,
                        info: None,
                        purpose: Purpose::Upload,
                        payer: &Payer::Server,
                        slot: None,
                    })
                }))
                .await?;
                if notifies {
                    self.jobs.add(ns, &id, &all_outputs).await?;
                }
                let info = self.stores.with_listing(ns, &id, &info).await?;
                Ok(Ingested { info, created })
            }
            Outputs::InBackground => {
                if notifies || !all_outputs.is_empty() {
                    self.jobs.add(ns, &id, &all_outputs).await?;
                }
                let mut info = self.stores.with_listing(ns, &id, &info).await?;
                let stored = info.variants.as_deref().unwrap_or_default();
                let pending = all_outputs.iter().map(Variant::to_string).filter(|v| !stored.contains(v)).collect();
                info.pending = Some(pending);
                Ok(Ingested { info, created })
            }
        }
    }

    /// Downloads `url` and ingests it.
    pub(super) async fn ingest_source(
        &self,
        ns: &Namespace,
        url: &str,
        outputs: &[Variant],
        when: Outputs,
    ) -> Result<Ingested, ServiceError> {
        let held = self.images.download(url).await?;
        self.ingest(ns, held.bytes.clone(), outputs, when).await
    }

    /// Asks the namespace's moderation hook about an upload not stored yet: a reject is
    /// [`ServiceError::Rejected`]; no verdict is [`ServiceError::ModerationUnavailable`] unless
    /// the namespace fails open. The hook sees a JPEG of at most 1024 px a side.
    async fn moderate(
        &self,
        moderation: &Moderation,
        ns: &Namespace,
        hash: &ImageHash,
        bytes: &Bytes,
        facts: &ImageFacts,
    ) -> Result<(), ServiceError> {
        // Width or height, whichever is longer, never enlarged: both sides at most 1024.
        let geometry = if facts.width >= facts.height {
            Geometry::Width(MODERATION_SIDE)
        } else {
            Geometry::Height(MODERATION_SIDE)
        };
        let spec = RenderSpec {
            geometry,
            format: ImageFormat::Jpeg,
            quality: MODERATION_QUALITY,
            effort: Effort::Fast,
            placement: Placement::Centre,
        };
        let (original, limits) = (bytes.clone(), self.limits);
        let decode = pipeline::memory::decode_bytes(facts.format, u64::from(facts.width) * u64::from(facts.height));
        let cost = Cost { pixels: pipeline::memory::budget_pixels(decode), slow: false };
        let shown = self.pool.run(Class::Upload, cost, move || pipeline::render(&original, &spec, &limits)).await??;
        match self.hooks.moderate(&moderation.url, ns, &hash.to_string(), shown.bytes).await {
            Ok(Verdict::Allow) => {
                self.metrics.moderated(Moderated::Allow);
                Ok(())
            }
            Ok(Verdict::Reject(reason)) => {
                self.metrics.moderated(Moderated::Reject);
                Err(ServiceError::Rejected(reason))
            }
            Err(e) => {
                self.metrics.moderated(Moderated::Unavailable);
                if moderation.fail_open {
                    tracing::warn!(namespace = %ns, error = %e, "storing an upload without a verdict (moderation_fail_open)");
                    Ok(())
                } else {
                    Err(e.into())
                }
            }
        }
    }
}
