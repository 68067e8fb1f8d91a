//! Taking in an original, for uploads and origin pulls alike: its md5 and header on the CPU
//! pool, the namespace's moderation hook (`moderation`), then a full decode, its working copies,
//! its placeholder and its focus (found in the smallest working copy, unless the uploader set
//! it), stored original first, working copies next, info.json last, so that an info.json in
//! storage always has the rest beside it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;

use super::moderation::Moderator;
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::access::rate::units_of;
use crate::metrics::Metrics;
use crate::model::{ImageHash, ImageId, Namespace, ObjectKey};
use crate::pipeline::focus::ANALYSIS_SIDE;
use crate::pipeline::{self, FocusInfo, FocusPoint, ImageFacts, Limits, RenderError};
use crate::pool::{Cost, CpuPool, Whose};

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
    moderator: Moderator,
}

impl Originals {
    pub(super) fn new(stores: Stores, moderator: Moderator, working_copy_max_side: u32) -> Originals {
        let (pool, limits, metrics) = (moderator.pool.clone(), moderator.limits, Arc::clone(&moderator.metrics));
        Originals { stores, pool, metrics, limits, working_copy_max_side, moderator }
    }

    /// The units of work storing an original of these facts costs: decoding it whole (and each
    /// frame of an animation), encoding its working copies, and finding its focus (counted as
    /// the analysed copy's pixels, whether or not the uploader set the focus).
    pub(super) fn store_units(&self, facts: &ImageFacts) -> u32 {
        let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        let copies = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, self.working_copy_max_side);
        let encoded: u64 = copies.into_iter().flatten().map(pixels).sum();
        let analysed = pixels((ANALYSIS_SIDE, ANALYSIS_SIDE));
        units_of(pixels((facts.width, facts.height)) * u64::from(facts.frames.max(1)) + encoded + analysed)
    }

    /// The md5 of `bytes` and what their header says, on the CPU pool as `whose`.
    pub(super) async fn hash_and_probe(
        &self,
        bytes: Bytes,
        whose: Whose,
    ) -> Result<(ImageHash, Result<ImageFacts, RenderError>), ServiceError> {
        let limits = self.limits;
        Ok(self.pool.run(whose, Cost::LIGHT, move || (ImageHash::of(&bytes), pipeline::probe(&bytes, &limits))).await?)
    }

    /// Shows an original to its namespace's moderation hook, validates it (a full decode), makes
    /// its working copies, finds its focus where `focus` (the uploader's) is `None`, and stores
    /// it, all as `whose` on the pool; answers its info. Nothing is written of an original the
    /// hook refuses.
    pub(super) async fn store(
        &self,
        ns: &Namespace,
        id: &ImageId,
        probed: Probed,
        focus: Option<FocusPoint>,
        whose: Whose,
    ) -> Result<ImageInfo, ServiceError> {
        let Probed { hash, bytes, facts } = probed;
        let hash = &hash;
        self.moderator.check(ns, hash, &bytes, &facts, whose).await?;
        let limits = self.limits;
        let max_side = self.working_copy_max_side;
        let original = bytes.clone();
        let cost =
            Cost { pixels: pipeline::memory::decode_charge(facts.format, facts.width, facts.height), slow: false };
        let (made, detected) = self
            .pool
            .run(whose, cost, move || {
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
            thumbhash: Some(base64::engine::general_purpose::STANDARD.encode(&made.thumbhash)),
            ..ImageInfo::of_facts(hash, &facts)
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
