//! Format negotiation (DESIGN.md §10): the variant a `.jpg`/`.png` request of a negotiating
//! namespace is answered with, from the formats its `Accept` names. The resolved variant is what
//! is cached, stored and counted.

use super::ImageService;
use crate::model::{Extension, ImageFormat, ImageId, Namespace, Variant};
use crate::pipeline;

impl ImageService {
    /// Whether answers of `ns` vary by `Accept` (it has `negotiate_formats`).
    pub fn negotiates(&self, ns: &Namespace) -> bool {
        self.config.namespace(ns).is_some_and(|c| !c.negotiate_formats.is_empty())
    }

    /// The first of the namespace's `negotiate_formats` that `accepted` names, the namespace
    /// allows and that can hold the variant's size, in place of a `.jpg`/`.png` variant; else
    /// `variant` itself. AVIF and WebP both keep transparency, so a PNG loses none.
    pub async fn negotiated(
        &self,
        ns: &Namespace,
        id: &ImageId,
        variant: &Variant,
        accepted: &[ImageFormat],
        source_override: Option<&str>,
    ) -> Variant {
        if !matches!(variant.ext, Extension::Jpg | Extension::Jpeg | Extension::Png) {
            return *variant;
        }
        let Some(config) = self.config.namespace(ns) else { return *variant };
        let mut size = None; // the planned size, read from info.json only when needed
        for ext in &config.negotiate_formats {
            let candidate = Variant { ext: *ext, ..*variant };
            if !accepted.contains(&ext.format()) || self.check_variant(ns, &candidate).is_err() {
                continue;
            }
            let max = ext.format().max_side();
            let fits = match variant.geometry.requested_size() {
                (Some(w), Some(h)) => w <= max && h <= max,
                _ => {
                    if size.is_none() {
                        let Ok(info) = self.image_info(ns, id, source_override).await else { return *variant };
                        let plan = pipeline::plan::plan(info.width, info.height, variant.geometry);
                        size = Some((plan.width, plan.height));
                    }
                    size.is_some_and(|(w, h)| w <= max && h <= max)
                }
            };
            if fits {
                return candidate;
            }
        }
        *variant
    }
}
