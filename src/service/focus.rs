//! A focus set by hand (DESIGN.md §14): `PUT /{ns}/{hash}/focus`, and `POST /{ns}?focus=` of an
//! image stored already. The new focus goes into info.json, then the image's stored cover crops
//! (`x{S}`, `{W}x{H}`) are removed from storage and from this node's memory, as a delete removes
//! variants, so that the next request renders them around the new focus; `w`/`h`/`full` variants
//! stay. A render placed by the old focus that stores its crop after the removal takes it back
//! itself (`Renders`, which checks the focus once it has stored).

use std::sync::Arc;

use super::images::Images;
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::cache::ObjectCache;
use crate::model::{ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::{FocusInfo, FocusPoint};
use crate::store::StoreError;

/// What setting a focus needs.
#[derive(Debug)]
pub(super) struct Refocus {
    pub(super) stores: Stores,
    pub(super) images: Arc<Images>,
    /// Encoded answers.
    pub(super) cache: ObjectCache,
}

impl Refocus {
    /// Stores `point` as the focus of a stored image (its faces dropped: the uploader's point is
    /// what crops centre on) and removes its cover crops; answers its info with the variants left.
    pub(super) async fn set(&self, ns: &Namespace, id: &ImageId, point: FocusPoint) -> Result<ImageInfo, ServiceError> {
        let key = ObjectKey::info(ns, id);
        let stored = self.stores.originals.get_opt(&key).await?.ok_or(ServiceError::ImageNotFound)?;
        let mut info = ImageInfo::from_stored(&stored, id)?;
        info.set_subject(Some(FocusInfo::at(point)));
        self.stores.originals.put(&key, info.to_json()).await?;
        self.images.remember(ns, id, info.clone()).await;
        let removed = self.remove_cover_crops(ns, id).await?;
        tracing::info!(namespace = %ns, id = %id, focus = %point, removed, "focus set");
        Ok(self.stores.with_listing(ns, id, &info).await?)
    }

    /// Removes the cover crops of an image from storage and this node's memory; answers how many
    /// were stored.
    pub(super) async fn remove_cover_crops(&self, ns: &Namespace, id: &ImageId) -> Result<usize, StoreError> {
        let prefix = ObjectKey::image_prefix(ns, id);
        let crops: Vec<String> = self
            .stores
            .variants
            .list(&prefix)
            .await?
            .into_iter()
            .filter(|key| key.strip_prefix(prefix.as_str()).is_some_and(is_cover_crop))
            .collect();
        // Storage first: a lookup of this node in between could read a crop back into memory.
        self.stores.variants.delete_listed(&crops).await?;
        self.cache.invalidate_under(&prefix, is_cover_crop);
        self.stores.forget_listing(ns, id).await;
        Ok(crops.len())
    }
}

/// Whether an object's name under its image's prefix is a cover crop's.
fn is_cover_crop(name: &str) -> bool {
    name.parse::<Variant>().is_ok_and(|v| v.geometry.is_cover_crop())
}

#[cfg(test)]
mod tests {
    use super::is_cover_crop;

    #[test]
    fn cover_crops_are_the_x_and_wxh_variants() {
        for name in ["x200.jpg", "600x200.webp", "x48-q30.avif", "200x600.png"] {
            assert!(is_cover_crop(name), "{name}");
        }
        for name in ["w200.jpg", "h90.png", "full.jpg", "info.json", "original", "x200.jpg.lease", "working-small"] {
            assert!(!is_cover_crop(name), "{name}");
        }
    }
}
