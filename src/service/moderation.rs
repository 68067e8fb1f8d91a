//! Moderation (DESIGN.md §11, §15): every original entering a moderated namespace (uploads,
//! origin pulls, `?source=` overrides) is shown to the namespace's hook before anything of it is
//! stored, as what may be served of it: each frame of an animation that variants keep animated,
//! and transparency over a light and a dark background ([`pipeline::moderation_sheets`]). One
//! call per sheet; the first reject refuses the original.

use std::sync::Arc;

use bytes::Bytes;

use super::ServiceError;
use crate::config::Settings;
use crate::hooks::{Hooks, Verdict};
use crate::metrics::{Metrics, Moderated};
use crate::model::{ImageHash, Namespace};
use crate::pipeline::{self, ImageFacts, Limits};
use crate::pool::{Cost, CpuPool, Whose};

/// The quality of the sheets: enough for a classifier, a fraction of the original's bytes.
const SHEET_QUALITY: u8 = 85;

/// What asking the moderation hooks needs.
#[derive(Clone, Debug)]
pub(super) struct Moderator {
    pub(super) settings: Arc<Settings>,
    pub(super) hooks: Hooks,
    pub(super) metrics: Arc<Metrics>,
    pub(super) pool: CpuPool,
    pub(super) limits: Limits,
}

impl Moderator {
    /// Asks `ns`'s moderation hook, if it has one, about an original not stored yet: a reject is
    /// [`ServiceError::Rejected`]; no verdict is [`ServiceError::ModerationUnavailable`] unless
    /// the namespace fails open. The sheets are made on the pool as `whose`.
    pub(super) async fn check(
        &self,
        ns: &Namespace,
        hash: &ImageHash,
        bytes: &Bytes,
        facts: &ImageFacts,
        whose: Whose,
    ) -> Result<(), ServiceError> {
        let Some(moderation) = &self.settings.of(ns).moderation else { return Ok(()) };
        let (original, limits) = (bytes.clone(), self.limits);
        // One canvas is decoded at a time, however many frames.
        let cost =
            Cost { pixels: pipeline::memory::decode_charge(facts.format, facts.width, facts.height), slow: false };
        let sheets = self
            .pool
            .run(whose, cost, move || pipeline::moderation_sheets(&original, &limits, SHEET_QUALITY))
            .await??;
        let (count, hash) = (sheets.len(), hash.to_string());
        for (i, sheet) in sheets.into_iter().enumerate() {
            match self.hooks.moderate(&moderation.url, ns, &hash, sheet, (i + 1, count)).await {
                Ok(Verdict::Allow) => {}
                Ok(Verdict::Reject(reason)) => {
                    self.metrics.moderated(Moderated::Reject);
                    return Err(ServiceError::Rejected(reason));
                }
                Err(e) => {
                    self.metrics.moderated(Moderated::Unavailable);
                    if !moderation.fail_open {
                        return Err(e.into());
                    }
                    tracing::warn!(namespace = %ns, error = %e, "storing an original without a verdict (moderation_fail_open)");
                    return Ok(());
                }
            }
        }
        self.metrics.moderated(Moderated::Allow);
        Ok(())
    }
}
