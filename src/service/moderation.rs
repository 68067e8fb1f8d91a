//! Moderation of new uploads (DESIGN.md §11): a JPEG of at most 1024 px a side goes to the
//! namespace's `moderation_url` before anything of the upload is stored.

use bytes::Bytes;

use super::{ImageService, ServiceError};
use crate::hooks::Verdict;
use crate::metrics::Moderated;
use crate::model::{Geometry, ImageFormat, ImageHash, Namespace};
use crate::pipeline::{self, Effort, ImageFacts, RenderSpec};

/// The longest side of the picture the moderation hook sees.
const MODERATION_SIDE: u32 = 1024;

/// The quality of that picture: enough for a classifier, a fraction of the original's bytes.
const MODERATION_QUALITY: u8 = 85;

impl ImageService {
    /// Asks the namespace's moderation hook, if it has one, about an upload not stored yet: a
    /// reject is [`ServiceError::Rejected`]; no verdict is [`ServiceError::ModerationUnavailable`]
    /// unless the namespace fails open.
    pub(super) async fn moderate(
        &self,
        ns: &Namespace,
        hash: &ImageHash,
        bytes: &Bytes,
        facts: &ImageFacts,
    ) -> Result<(), ServiceError> {
        let Some(own) = self.config.namespace(ns) else { return Ok(()) };
        let Some(url) = &own.moderation_url else { return Ok(()) };
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
            placement: pipeline::Placement::Centre,
        };
        let (original, limits) = (bytes.clone(), self.limits);
        let pixels = u64::from(facts.width) * u64::from(facts.height);
        let shown = self.pool.run(pixels, move || pipeline::render(&original, &spec, &limits)).await??;
        match self.hooks.moderate(url, ns, &hash.to_string(), shown.bytes).await {
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
                if own.moderation_fail_open {
                    tracing::warn!(namespace = %ns, error = %e, "storing an upload without a verdict (moderation_fail_open)");
                    Ok(())
                } else {
                    Err(e.into())
                }
            }
        }
    }
}
