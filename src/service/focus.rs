//! A focus set by hand (DESIGN.md §14): `PUT /{ns}/{hash}/focus`, and `POST /{ns}?focus=` of an
//! image stored already. The new focus goes into info.json, then the image's stored cover crops
//! (`x{S}`, `{W}x{H}`) are removed from storage, as a delete removes variants, and the
//! namespace's purge hook hears of them; `w`/`h`/`full` variants stay.
//!
//! Rewriting info.json is what every node sees (DESIGN.md §15): this node forgets what it held
//! of the image at once; the others confirm the image in storage within
//! `delete_visibility_secs`, find its info.json changed and forget theirs; a render in flight
//! anywhere, planned on the old info.json, stores nothing (or is removed after its write).

use std::sync::Arc;

use super::deletes::Deletes;
use super::images::Images;
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::model::{ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::{FocusInfo, FocusPoint};
use crate::store::StoreError;

/// What setting a focus needs.
#[derive(Debug)]
pub(super) struct Refocus {
    pub(super) stores: Stores,
    pub(super) images: Arc<Images>,
    /// The purge hook's caller.
    pub(super) deletes: Arc<Deletes>,
}

impl Refocus {
    /// Stores `point` as the focus of a stored image (its faces dropped: the uploader's point is
    /// what crops centre on) and removes its cover crops; answers its info with the variants left.
    pub(super) async fn set(&self, ns: &Namespace, id: &ImageId, point: FocusPoint) -> Result<ImageInfo, ServiceError> {
        let key = ObjectKey::info(ns, id);
        let stored = self.stores.originals.get_opt(&key).await?.ok_or(ServiceError::ImageNotFound)?;
        let mut info = ImageInfo::from_stored(&stored, id)?;
        info.set_subject(Some(FocusInfo::at(point)));
        // info.json first: from then on no render planned on the old focus is stored.
        self.stores.originals.put(&key, info.to_json()).await?;
        self.images.forget(ns, id).await;
        self.images.remember(ns, id, info.clone()).await;
        let removed = self.remove_cover_crops(ns, id).await?;
        // Again: what a lookup in flight read back into memory meanwhile.
        self.images.forget(ns, id).await;
        self.images.remember(ns, id, info.clone()).await;
        tracing::info!(namespace = %ns, image = %id, focus = %point, removed = removed.len(), "focus set");
        if !removed.is_empty() {
            self.deletes.purge(ns, id, "image.focus_changed", &removed);
        }
        Ok(self.stores.with_listing(ns, id, &info).await?)
    }

    /// Removes the cover crops of an image from storage; answers those that were stored.
    async fn remove_cover_crops(&self, ns: &Namespace, id: &ImageId) -> Result<Vec<Variant>, StoreError> {
        let prefix = ObjectKey::image_prefix(ns, id);
        let mut keys = Vec::new();
        let mut crops = Vec::new();
        for key in self.stores.variants.list(&prefix).await? {
            if let Some(crop) = key.strip_prefix(prefix.as_str()).and_then(cover_crop) {
                crops.push(crop);
                keys.push(key);
            }
        }
        self.stores.variants.delete_listed(&keys).await?;
        self.stores.forget_listing(ns, id).await;
        Ok(crops)
    }
}

/// The cover crop an object's name under its image's prefix names, if it names one.
fn cover_crop(name: &str) -> Option<Variant> {
    name.parse::<Variant>().ok().filter(|v| v.geometry.is_cover_crop())
}

#[cfg(test)]
mod tests {
    use super::cover_crop;

    #[test]
    fn cover_crops_are_the_x_and_wxh_variants() {
        for name in ["x200.jpg", "600x200.webp", "x48-q30.avif", "200x600.png"] {
            assert!(cover_crop(name).is_some(), "{name}");
        }
        for name in ["w200.jpg", "h90.png", "full.jpg", "info.json", "original", "x200.jpg.lease", "working-small"] {
            assert!(cover_crop(name).is_none(), "{name}");
        }
    }
}
