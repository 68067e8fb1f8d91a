//! Deletes (DESIGN.md §11, §15): every object of an image (original, info, working copies,
//! variants, leases, jobs) removed from storage and from this node's memory; the other nodes
//! see it within `delete_visibility_secs`, and the namespace's purge hook is called with the
//! image's URLs so that a CDN drops them too.

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;

use super::ServiceError;
use super::images::Images;
use super::stores::Stores;
use crate::config::{NamespaceSettings, Settings};
use crate::hooks::Hooks;
use crate::metrics::Metrics;
use crate::model::{Extension, ImageId, Namespace, ObjectKey, Variant};

/// What removing images needs.
#[derive(Debug)]
pub(super) struct Deletes {
    pub(super) stores: Stores,
    pub(super) images: Arc<Images>,
    pub(super) settings: Arc<Settings>,
    pub(super) hooks: Hooks,
    pub(super) metrics: Arc<Metrics>,
}

/// The purge hook's body.
#[derive(Serialize)]
struct Purged<'a> {
    event: &'static str,
    namespace: &'a str,
    /// The image's id as its URLs spell it (the partitioned hash).
    image: String,
    /// Every URL path of the image this server may have answered: its info.json, each stored
    /// variant, and the `.jpg`/`.png` names negotiation answered with a stored variant.
    paths: Vec<String>,
    /// With `remote_base_url`: the public URL of each stored variant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    remote_urls: Vec<String>,
}

impl Deletes {
    /// Removes the image: info.json first, so that from then on no node serves, renders or
    /// resumes anything of it (a render in flight stores nothing), then everything else under
    /// its prefix, in both stores. False when there was nothing to remove.
    pub(super) async fn delete(&self, ns: &Namespace, id: &ImageId) -> Result<bool, ServiceError> {
        let originals = &self.stores.originals;
        let info = ObjectKey::info(ns, id);
        let had_info = originals.exists(&info).await?;
        originals.delete(&info).await?;
        self.images.forget(ns, id).await;
        let prefix = ObjectKey::image_prefix(ns, id);
        let mut removed = had_info;
        let mut variants = Vec::new();
        for store in self.stores.each() {
            let keys = store.list(&prefix).await?;
            removed |= !keys.is_empty();
            let names = keys.iter().filter_map(|key| key.strip_prefix(prefix.as_str()));
            variants.extend(names.filter_map(|name| name.parse::<Variant>().ok()));
            store.delete_listed(&keys).await?;
        }
        let jobs = originals.list(&ObjectKey::image_jobs_prefix(ns, id)).await?;
        originals.delete_listed(&jobs).await?;
        // Again: what a lookup in flight loaded meanwhile.
        self.images.forget(ns, id).await;
        if removed {
            self.metrics.deleted();
            self.purge(ns, id, "image.deleted", &variants);
        }
        Ok(removed)
    }

    /// Calls the namespace's purge hook, if it has one, with the image's info.json URL and
    /// those of `variants` (`event`: `image.deleted`, or `image.focus_changed` for the cover
    /// crops a new focus removed): in the background, retried like a notification.
    pub(super) fn purge(&self, ns: &Namespace, id: &ImageId, event: &'static str, variants: &[Variant]) {
        let settings = self.settings.of(ns);
        let Some(purge) = settings.purge.clone() else { return };
        let mut names: Vec<String> = std::iter::once("info.json".to_owned())
            .chain(variants.iter().flat_map(|v| answered_as(settings, v)).map(|v| v.to_string()))
            .collect();
        names.sort();
        names.dedup();
        let prefix = ObjectKey::image_prefix(ns, id);
        let remote_urls =
            variants.iter().filter_map(|v| self.stores.remote_url(&ObjectKey::variant(ns, id, v))).collect();
        let body = Purged {
            event,
            namespace: ns.as_str(),
            image: id.to_string(),
            paths: names.iter().map(|name| format!("/{prefix}{name}")).collect(),
            remote_urls,
        };
        let body = Bytes::from(serde_json::to_vec(&body).expect("a purge serialises"));
        let (hooks, metrics) = (self.hooks.clone(), Arc::clone(&self.metrics));
        tokio::spawn(async move {
            hooks.notify(&purge.url, Some(&purge.secret), body, |d| metrics.purge(d)).await;
        });
    }
}

/// The variant names whose requests `stored` answered: its own, and in a negotiating
/// namespace, the `.jpg`, `.jpeg` and `.png` names answered in its format.
fn answered_as(settings: &NamespaceSettings, stored: &Variant) -> Vec<Variant> {
    let mut names = vec![*stored];
    if settings.negotiate_formats.contains(&stored.ext) {
        let asked = [Extension::Jpg, Extension::Jpeg, Extension::Png];
        names.extend(asked.into_iter().map(|ext| Variant { ext, ..*stored }));
    }
    names
}
