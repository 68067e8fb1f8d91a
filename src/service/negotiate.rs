//! Format negotiation (DESIGN.md §10): the variant a `.jpg`/`.png` request of a negotiating
//! namespace is answered with, from the formats its `Accept` names. The resolved variant is what
//! is cached, stored and counted.

use crate::config::NamespaceSettings;
use crate::model::{Extension, ImageFormat, Variant};
use crate::pipeline::{self, Limits, memory};

/// One request's negotiation: its namespace's settings, the formats its `Accept` names, and the
/// decode budget a candidate's encoder must fit in.
pub(super) struct Negotiation<'a> {
    settings: &'a NamespaceSettings,
    accepted: &'a [ImageFormat],
    limits: &'a Limits,
}

impl<'a> Negotiation<'a> {
    pub(super) fn new(settings: &'a NamespaceSettings, accepted: &'a [ImageFormat], limits: &'a Limits) -> Self {
        Negotiation { settings, accepted, limits }
    }

    /// Whether `variant` may be answered in another format than its own.
    pub(super) fn applies(&self, variant: &Variant) -> bool {
        self.settings.negotiates() && matches!(variant.ext, Extension::Jpg | Extension::Jpeg | Extension::Png)
    }

    /// Whether [`Negotiation::resolve`] needs the original's size: the URL does not give both
    /// sides of the output, and `Accept` names a candidate.
    pub(super) fn needs_size(&self, variant: &Variant) -> bool {
        let (w, h) = variant.geometry.requested_size();
        (w.is_none() || h.is_none()) && self.candidates(variant).next().is_some()
    }

    /// The first of the namespace's `negotiate_formats` that `Accept` names, the namespace
    /// allows, that can hold the output (planned on the original's upright `size` when the URL
    /// does not give it) and whose encoder fits it in the decode budget (as if it had alpha: the
    /// original's format is not always known here), in place of a `.jpg`/`.png` variant; else
    /// `variant` itself. AVIF and WebP both keep transparency, so a PNG loses none.
    pub(super) fn resolve(&self, variant: &Variant, size: Option<(u32, u32)>) -> Variant {
        let output = match variant.geometry.requested_size() {
            (Some(w), Some(h)) => Some((w, h)),
            _ => size.map(|(w, h)| {
                let plan = pipeline::plan::plan(w, h, variant.geometry);
                (plan.width, plan.height)
            }),
        };
        let Some((w, h)) = output else { return *variant };
        self.candidates(variant)
            .find(|candidate| {
                let format = candidate.ext.format();
                let max = format.max_side();
                w <= max && h <= max && memory::encode_fits(format, w, h, true, self.limits)
            })
            .unwrap_or(*variant)
    }

    /// The variants `variant` may be answered as, in the namespace's order of preference.
    fn candidates(&self, variant: &Variant) -> impl Iterator<Item = Variant> {
        let (settings, accepted, variant) = (self.settings, self.accepted, *variant);
        settings
            .negotiate_formats
            .iter()
            .filter(move |ext| accepted.contains(&ext.format()))
            .map(move |ext| Variant { ext: *ext, ..variant })
            .filter(move |candidate| settings.check(candidate).is_ok())
    }
}
