//! Taking in an original, for uploads and origin pulls alike: its md5 and header on the CPU
//! pool, then a full decode, its working copies, its placeholder and its focus (found in the
//! smallest working copy, unless the uploader set it), stored original first, working copies
//! next, info.json last, so that an info.json in storage always has the rest beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;

use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::metrics::Metrics;
use crate::model::{ImageHash, ImageId, Namespace, ObjectKey};
use crate::pipeline::{self, FocusInfo, FocusPoint, ImageFacts, Limits, RenderError};
use crate::pool::{Class, Cost, CpuPool};

/// An original whose header was read: its bytes, their md5 and what the header says.
#[derive(Debug)]
pub(super) struct Probed {
    pub(super) hash: ImageHash,
    pub(super) bytes: Bytes,
    pub(super) facts: ImageFacts,
}

/// What validating and storing originals needs.
#[derive(Clone, Debug)]
pub(super) struct Originals {
    stores: Stores,
    pool: CpuPool,
    metrics: Arc<Metrics>,
    limits: Limits,
    /// Long side of the largest working copy (0: none).
    working_copy_max_side: u32,
}

impl Originals {
    pub(super) fn new(
        stores: Stores,
        pool: CpuPool,
        metrics: Arc<Metrics>,
        limits: Limits,
        working_copy_max_side: u32,
    ) -> Originals {
        Originals { stores, pool, metrics, limits, working_copy_max_side }
    }

    /// The md5 of `bytes` and what their header says, on the CPU pool as `class`.
    pub(super) async fn hash_and_probe(
        &self,
        bytes: Bytes,
        class: Class,
    ) -> Result<(ImageHash, Result<ImageFacts, RenderError>), ServiceError> {
        let limits = self.limits;
        Ok(self.pool.run(class, Cost::LIGHT, move || (ImageHash::of(&bytes), pipeline::probe(&bytes, &limits))).await?)
    }

    /// Validates an original (a full decode), makes its working copies, finds its focus where
    /// `focus` (the uploader's) is `None`, and stores it, all as `class` on the pool; answers its
    /// info.
    pub(super) async fn store(
        &self,
        ns: &Namespace,
        id: &ImageId,
        probed: Probed,
        focus: Option<FocusPoint>,
        class: Class,
    ) -> Result<ImageInfo, ServiceError> {
        let Probed { hash, bytes, facts } = probed;
        let hash = &hash;
        let limits = self.limits;
        let max_side = self.working_copy_max_side;
        let original = bytes.clone();
        let cost = Cost { pixels: u64::from(facts.width) * u64::from(facts.height), slow: false };
        let (made, detected) = self
            .pool
            .run(class, cost, move || {
                let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, max_side);
                let made = pipeline::make_working_copies(&original, sizes, &limits)?;
                let detected = focus.is_none().then(|| {
                    let started = Instant::now();
                    let found = pipeline::focus::detect_at_upload(&original, &made, &limits);
                    (found, started.elapsed())
                });
                Ok::<_, RenderError>((made, detected))
            })
            .await??;
        let subject = match (focus, detected) {
            (Some(point), _) => Some(FocusInfo::at(point)),
            (None, Some(detected)) => self.detected(ns, hash, detected),
            (None, None) => None,
        };
        let mut info = ImageInfo {
            hash: hash.to_string(),
            width: facts.width,
            height: facts.height,
            content_type: facts.format.mime().to_owned(),
            frames: (facts.frames > 1).then_some(facts.frames),
            thumbhash: Some(base64::engine::general_purpose::STANDARD.encode(&made.thumbhash)),
            focus: None,
            faces: None,
            variants: None,
            pending: None,
            urls: None,
        };
        info.set_subject(subject);
        let originals = &self.stores.originals;
        originals.put(&ObjectKey::original(ns, id), bytes).await?;
        for (tier, copy) in made.copies {
            originals.put(&ObjectKey::working(ns, id, tier), Bytes::from(copy.bytes)).await?;
        }
        originals.put(&ObjectKey::info(ns, id), info.to_json()).await?;
        Ok(info)
    }

    /// A detection's outcome, counted; a failed one leaves the original without a focus (its
    /// crops are centred), which does not stop the upload: the original itself decoded.
    fn detected(
        &self,
        ns: &Namespace,
        hash: &ImageHash,
        (found, took): (Result<FocusInfo, RenderError>, Duration),
    ) -> Option<FocusInfo> {
        match found {
            Ok(subject) => {
                self.metrics.focus_detected(subject.faces.len(), took);
                Some(subject)
            }
            Err(e) => {
                tracing::warn!(namespace = %ns, hash = %hash, error = %e, "no focus found: its crops are centred");
                None
            }
        }
    }
}
