//! `RenderPlan`: everything a miss decides before any pixel is touched, computed once: the
//! variant (after negotiation), its storage key, the output size, the encoder settings, the
//! sources it may be rendered from (smallest sufficient working copy first, the original last),
//! where a cover crop's box goes (the namespace's `crop`) and what its render costs the pool.

use std::sync::Arc;

use super::images::Known;
use super::{ImageInfo, ServiceError};
use crate::access::rate::units_of;
use crate::cache::Presence;
use crate::config::{Crop, RenderConfig};
use crate::model::{ImageFormat, ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::{self, Effort, Limits, Placement, RenderSpec, memory};
use crate::pool::Cost;

/// What kind of source a render reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SourceKind {
    /// The original, for a still variant.
    Original,
    /// A working copy of the original.
    WorkingCopy,
    /// An animated original, for an animated variant.
    Animation,
}

/// One source a render may read, if it is stored.
#[derive(Clone, Debug)]
pub(super) struct SourceChoice {
    /// Where it is.
    pub(super) key: ObjectKey,
    /// What it is.
    pub(super) kind: SourceKind,
    /// Its pixels (a canvas's, for an animation), for the decode budget.
    pub(super) pixels: u64,
}

/// A miss, planned.
#[derive(Clone, Debug)]
pub(super) struct RenderPlan {
    /// The image's namespace.
    pub(super) ns: Namespace,
    /// The image.
    pub(super) id: ImageId,
    /// Where it is stored.
    pub(super) key: ObjectKey,
    /// The original's facts.
    pub(super) info: Arc<ImageInfo>,
    /// The image as the plan found it: its variant is stored only while it stands so.
    pub(super) presence: Arc<Presence>,
    /// What the pipeline renders.
    pub(super) spec: RenderSpec,
    /// The sources to try, in order; the original is last and always there.
    pub(super) sources: Vec<SourceChoice>,
    /// The output's pixels, for what its encoder holds.
    output_pixels: u64,
}

impl RenderPlan {
    /// Plans `variant` of the image `image` describes. A size the output format cannot hold, or
    /// whose encoder would hold more than the whole decode budget, is refused here, before any
    /// source is read.
    pub(super) fn new(
        ns: &Namespace,
        id: &ImageId,
        variant: Variant,
        image: &Known,
        effort: Effort,
        render: &RenderConfig,
        limits: &Limits,
    ) -> Result<RenderPlan, ServiceError> {
        let info = Arc::clone(&image.info);
        let format = variant.ext.format();
        let planned = pipeline::plan::plan(info.width, info.height, variant.geometry);
        let max = format.max_side();
        if planned.width > max || planned.height > max {
            let (width, height) = (planned.width, planned.height);
            return Err(ServiceError::FormatCannotHold { format: format.label(), width, height, max });
        }
        let output_pixels = u64::from(planned.width) * u64::from(planned.height);
        let alpha = memory::may_have_alpha(ImageFormat::from_mime(&info.content_type));
        if !memory::encode_fits(format, planned.width, planned.height, alpha, limits) {
            return Err(ServiceError::EncodeOverBudget {
                format: format.label(),
                width: planned.width,
                height: planned.height,
                mib: memory::encode_bytes(format, output_pixels, alpha) >> 20,
                budget_mib: limits.budget_bytes() >> 20,
            });
        }
        let spec = RenderSpec {
            geometry: variant.geometry,
            format,
            quality: variant.quality.or(render.default_quality.for_format(format)).unwrap_or(100),
            effort,
            placement: Placement::Centre,
        };
        let original_size = (info.width, info.height);
        let pixels = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
        let original = ObjectKey::original(ns, id);
        let frames = info.frames.unwrap_or(1);
        let sources = if format.animates() && pipeline::keeps_animation(frames, info.width, info.height, limits) {
            vec![SourceChoice { key: original, kind: SourceKind::Animation, pixels: pixels(original_size) }]
        } else {
            let sizes = ImageFormat::from_mime(&info.content_type)
                .map(|format| {
                    pipeline::working_copy_sizes(info.width, info.height, format, render.working_copy_max_side)
                })
                .unwrap_or([None, None]);
            // The smallest copy that holds enough resolution first; a missing one (uploaded
            // before working copies, or with another working_copy_max_side) passes to the next.
            let mut sources: Vec<SourceChoice> = sizes
                .into_iter()
                .enumerate()
                .rev()
                .filter_map(|(tier, size)| {
                    let size = size?;
                    pipeline::working_copy_suffices(original_size, size, variant.geometry).then(|| SourceChoice {
                        key: ObjectKey::working(ns, id, tier),
                        kind: SourceKind::WorkingCopy,
                        pixels: pixels(size),
                    })
                })
                .collect();
            sources.push(SourceChoice { key: original, kind: SourceKind::Original, pixels: pixels(original_size) });
            sources
        };
        let key = ObjectKey::variant(ns, id, &variant);
        let presence = Arc::clone(&image.presence);
        Ok(RenderPlan { ns: ns.clone(), id: id.clone(), key, info, presence, spec, sources, output_pixels })
    }

    /// The plan with its cover crop placed as the namespace's `crop` says: centred, or around the
    /// focus and faces stored with the original (centred where it has none). A pure function of
    /// the stored info, so that every node cuts the same box; a render placed by a focus changed
    /// meanwhile is not stored, as the info.json it was planned on is no longer there.
    pub(super) fn placed(self, crop: Crop) -> RenderPlan {
        if crop == Crop::Centre || !self.spec.geometry.is_cover_crop() {
            return self;
        }
        let placement = self.info.subject().map_or(Placement::Centre, |subject| subject.placement());
        RenderPlan { spec: RenderSpec { placement, ..self.spec }, ..self }
    }

    /// What rendering from `source` costs the pool: the memory it holds at its peak
    /// (`pipeline::memory`), and slow work when its encoder is, or when it decodes a large
    /// original that cannot be decoded scaled.
    pub(super) fn cost(&self, source: &SourceChoice) -> Cost {
        let original = ImageFormat::from_mime(&self.info.content_type);
        let decodes_slowly = source.kind != SourceKind::WorkingCopy
            && original.is_some_and(|format| pipeline::decodes_slowly(format, source.pixels));
        // Working copies are JPEG (PNG where there is alpha, which holds less to decode).
        let from = match source.kind {
            SourceKind::WorkingCopy => ImageFormat::Jpeg,
            SourceKind::Original | SourceKind::Animation => original.unwrap_or(ImageFormat::Jpeg),
        };
        let alpha = memory::may_have_alpha(original);
        let bytes = memory::render_bytes(from, source.pixels, self.spec.format, self.output_pixels, alpha);
        Cost { pixels: memory::budget_pixels(bytes), slow: self.spec.format.slow_to_encode() || decodes_slowly }
    }

    /// The most this render may cost, whichever source it reads: what work admitted before its
    /// source is read holds.
    pub(super) fn max_cost(&self) -> Cost {
        self.sources.iter().map(|s| self.cost(s)).fold(Cost::LIGHT, Cost::max)
    }

    /// The units of work its render is charged: the pixels its first source decodes (each
    /// frame of an animation's) and its output encodes, a slow encoder's four times over.
    pub(super) fn work_units(&self) -> u32 {
        let source = &self.sources[0];
        let frames = if source.kind == SourceKind::Animation { u64::from(self.info.frames.unwrap_or(1)) } else { 1 };
        let weight = if self.spec.format.slow_to_encode() { 4 } else { 1 };
        let encoded = self.output_pixels * weight;
        units_of((source.pixels + encoded) * frames)
    }

    /// The original's upright size, which the geometry is planned on.
    pub(super) fn original_size(&self) -> (u32, u32) {
        (self.info.width, self.info.height)
    }
}
