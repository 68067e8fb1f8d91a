//! Taking in an original, for uploads and origin pulls alike: its md5 and header on the CPU
//! pool, then a full decode, its working copies and its placeholder, stored original first,
//! working copies next, info.json last, so that an info.json in storage always has the rest
//! beside it.

use base64::Engine;
use bytes::Bytes;

use super::stores::Stores;
use super::{ImageInfo, ServiceError};
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
}

impl Originals {
    pub(super) fn new(stores: Stores, pool: CpuPool, limits: Limits, working_copy_max_side: u32) -> Originals {
        Originals { stores, pool, limits, working_copy_max_side }
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

    /// Validates an original (a full decode), makes its working copies and stores it, as `class`
    /// on the pool; answers its info.
    pub(super) async fn store(
        &self,
        ns: &Namespace,
        id: &ImageId,
        hash: &ImageHash,
        bytes: Bytes,
        facts: ImageFacts,
        class: Class,
    ) -> Result<ImageInfo, ServiceError> {
        let limits = self.limits;
        let max_side = self.working_copy_max_side;
        let original = bytes.clone();
        let decode = pipeline::memory::decode_bytes(facts.format, u64::from(facts.width) * u64::from(facts.height));
        let cost = Cost { pixels: pipeline::memory::budget_pixels(decode), slow: false };
        let made = self
            .pool
            .run(class, cost, move || {
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
        let originals = &self.stores.originals;
        originals.put(&ObjectKey::original(ns, id), bytes).await?;
        for (tier, copy) in made.copies {
            originals.put(&ObjectKey::working(ns, id, tier), Bytes::from(copy.bytes)).await?;
        }
        originals.put(&ObjectKey::info(ns, id), info.to_json()).await?;
        Ok(info)
    }
}
