//! Image facts: the stored info.json through the memory cache (pulled from an origin where that
//! is due), and the info answer, with the names of the variants stored so far (and their public
//! URLs where configured).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{Answer, ImageService, Lifetime, ServiceError};
use crate::cache::CachedObject;
use crate::model::{ImageId, Namespace, ObjectKey, Served, Variant};
use crate::store::StoreError;

const JSON: &str = "application/json";

/// The facts of a stored original, as info.json and the upload answer give them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// md5 of the original's bytes.
    pub hash: String,
    /// Upright width.
    pub width: u32,
    /// Upright height.
    pub height: u32,
    /// MIME type of the original.
    pub content_type: String,
    /// Frames of an animated original (absent for still images).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
    /// ThumbHash of the upright image, standard base64: a placeholder a page can paint at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbhash: Option<String>,
    /// The variants stored so far, by name (DESIGN.md §11). Never stored: listed when answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variants: Option<Vec<String>>,
    /// In the answer to an upload with `?wait=false`: the outputs still to be rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<String>>,
    /// With `remote_base_url`: the public URL of each stored variant, by name. Never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<BTreeMap<String, String>>,
}

impl ImageInfo {
    /// Reads the stored info.json of image `id`.
    pub(super) fn from_stored(json: &[u8], id: &ImageId) -> Result<ImageInfo, ServiceError> {
        serde_json::from_slice(json)
            .map_err(|e| ServiceError::Internal(format!("stored info.json of {id} is not valid: {e}")))
    }

    /// The JSON bytes stored and answered.
    pub(super) fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("info serialises"))
    }
}

impl ImageService {
    /// The parsed info of a stored original; in an origin-pull namespace, pulled from the origin
    /// if it is not stored yet.
    pub async fn image_info(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<ImageInfo, ServiceError> {
        let (obj, _) = self.info_object(ns, id, source_override).await?;
        ImageInfo::from_stored(&obj.bytes, id)
    }

    /// The info JSON answered for an image, with the variants stored so far: short-lived, since
    /// that list grows.
    pub async fn info(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<Answer, ServiceError> {
        let (obj, loaded_here) = self.info_object(ns, id, source_override).await?;
        let info = self.with_listing(ns, id, ImageInfo::from_stored(&obj.bytes, id)?).await?;
        let listed = CachedObject::new(info.to_json(), obj.loaded_from);
        Ok(Answer { lifetime: Lifetime::ShortLived, ..Answer::of(listed, loaded_here, JSON) })
    }

    /// The stored info.json through the memory cache; pulls the original first where that is due.
    async fn info_object(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<(CachedObject, bool), ServiceError> {
        let key = ObjectKey::info(ns, id);
        let load = async {
            match (self.originals.get(&key).await, id) {
                (Ok(bytes), _) => Ok(CachedObject::new(bytes, Served::Storage)),
                (Err(StoreError::NotFound), ImageId::Path(path)) if self.is_origin_pull(ns) => {
                    let info = self.pull(ns, path, source_override).await?;
                    Ok(CachedObject::new(info.to_json(), Served::Rendered))
                }
                (Err(StoreError::NotFound), _) => Err(ServiceError::ImageNotFound),
                (Err(e @ StoreError::Backend(_)), _) => Err(ServiceError::Store(e)),
            }
        };
        self.cache.get_or_load(key.clone(), load).await.map_err(|e| (*e).clone())
    }

    /// Adds the names of the variants stored for the image and, with `remote_base_url`, their
    /// public URLs: one listing of the image's prefix in the variant storage, shared by the
    /// lookups of the next second (and dropped when this node stores a variant of it).
    pub(super) async fn with_listing(
        &self,
        ns: &Namespace,
        id: &ImageId,
        mut info: ImageInfo,
    ) -> Result<ImageInfo, ServiceError> {
        let names = self.stored_variants(ns, id).await?;
        if let Some(base) = &self.config.storage.remote_base_url {
            let base = base.trim_end_matches('/');
            let prefix = ObjectKey::image_prefix(ns, id);
            info.urls = Some(names.iter().map(|name| (name.clone(), format!("{base}/{prefix}{name}"))).collect());
        }
        info.variants = Some(names.to_vec());
        Ok(info)
    }

    /// The names of the variants stored for an image, sorted.
    pub(super) async fn stored_variants(&self, ns: &Namespace, id: &ImageId) -> Result<Arc<Vec<String>>, ServiceError> {
        let prefix = ObjectKey::image_prefix(ns, id);
        let list = async {
            let mut names: Vec<String> = self
                .variants
                .list(&prefix)
                .await?
                .iter()
                .filter_map(|key| key.strip_prefix(prefix.as_str()))
                .filter(|name| name.parse::<Variant>().is_ok())
                .map(str::to_owned)
                .collect();
            names.sort();
            Ok::<_, StoreError>(Arc::new(names))
        };
        Ok(self.listings.try_get_with(prefix.clone(), list).await.map_err(|e| (*e).clone())?)
    }
}
