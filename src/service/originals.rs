//! Taking in an original, for uploads and origin pulls alike: its md5 and header on the CPU
//! pool, the namespace's moderation hook (`moderation`), then a full decode, its working copies
//! and its placeholder, stored original first, working copies next, info.json last, so that an
//! info.json in storage always has the rest beside it.

use base64::Engine;
use bytes::Bytes;

use super::moderation::Moderator;
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::access::rate::units_of;
use crate::model::{ImageHash, ImageId, Namespace, ObjectKey};
use crate::pipeline::{self, ImageFacts, Limits, RenderError};
use crate::pool::{Class, Cost, CpuPool};

/// What validating and storing originals needs.
#[derive(Clone, Debug)]
pub(super) struct Originals {
    stores: Stores,
    pool: CpuPool,
    limits: Limits,
    /// Long side of the largest working copy (0: none).
    working_copy_max_side: u32,
    moderator: Moderator,
}

impl Originals {
    pub(super) fn new(stores: Stores, moderator: Moderator, working_copy_max_side: u32) -> Originals {
        let (pool, limits) = (moderator.pool.clone(), moderator.limits);
        Originals { stores, pool, limits, working_copy_max_side, moderator }
    }

    /// The units of work storing an original of these facts costs: decoding it whole (and each
    /// frame of an animation) and encoding its working copies.
    pub(super) fn store_units(&self, facts: &ImageFacts) -> u32 {
        let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        let copies = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, self.working_copy_max_side);
        let encoded: u64 = copies.into_iter().flatten().map(pixels).sum();
        units_of(pixels((facts.width, facts.height)) * u64::from(facts.frames.max(1)) + encoded)
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

    /// Shows an original to its namespace's moderation hook, validates it (a full decode), makes
    /// its working copies and stores it, as `class` on the pool; answers its info. Nothing is
    /// written of an original the hook refuses.
    pub(super) async fn store(
        &self,
        ns: &Namespace,
        id: &ImageId,
        hash: &ImageHash,
        bytes: Bytes,
        facts: ImageFacts,
        class: Class,
    ) -> Result<ImageInfo, ServiceError> {
        self.moderator.check(ns, hash, &bytes, &facts, class).await?;
        let limits = self.limits;
        let max_side = self.working_copy_max_side;
        let original = bytes.clone();
        let cost = Cost { pixels: u64::from(facts.width) * u64::from(facts.height), slow: false };
        let made = self
            .pool
            .run(class, cost, move || {
                let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, max_side);
                pipeline::make_working_copies(&original, sizes, &limits)
            })
            .await??;
        let info = ImageInfo {
            thumbhash: Some(base64::engine::general_purpose::STANDARD.encode(&made.thumbhash)),
            ..ImageInfo::of_facts(hash, &facts)
        };
        let originals = &self.stores.originals;
        originals.put(&ObjectKey::original(ns, id), bytes).await?;
        for (tier, copy) in made.copies {
            originals.put(&ObjectKey::working(ns, id, tier), Bytes::from(copy.bytes)).await?;
        }
        originals.put(&ObjectKey::info(ns, id), info.to_json()).await?;
        Ok(info)
    }
}
