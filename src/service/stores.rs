//! The two stores the service writes (originals with their info, working copies, leases and
//! jobs; variants, which may be a public bucket), and the listing of an image's stored variants,
//! read at most once a second and dropped when this node stores a variant of the image.
//!
//! A rendered variant is written only while its image stands as the render found it (DESIGN.md
//! §15): info.json is read right before the write, and once more after it, in the background;
//! a variant written while a delete (or a change of the image) went through is removed again.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::ImageInfo;
use crate::cache::Presence;
use crate::config::StorageConfig;
use crate::model::{ImageId, Namespace, ObjectKey, Variant};
use crate::store::{Store, StoreError};

/// Staging files older than this are a killed writer's: no whole-object write takes minutes.
const STAGING_FILE_AGE: Duration = Duration::from_secs(600);

/// How long a listing of an image's variants answers info lookups.
const LISTING_LIFETIME: Duration = Duration::from_secs(1);

/// Images whose listing is kept.
const LISTINGS_KEPT: u64 = 10_000;

/// What storage holds of an image, against what a node knew of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Standing {
    /// Its info.json as known.
    Same,
    /// Another info.json: the image was changed, or deleted and uploaded again.
    Changed,
    /// No info.json: deleted.
    Gone,
}

/// The originals' store and the variants' store (the same one unless configured apart).
#[derive(Clone, Debug)]
pub(super) struct Stores {
    /// Originals, info, working copies, leases, jobs: never public.
    pub(super) originals: Store,
    /// Rendered variants.
    pub(super) variants: Store,
    listings: moka::future::Cache<ObjectKey, Arc<Vec<String>>>,
    /// The public base URL of the variants' store, if it has one.
    remote_base_url: Option<String>,
}

impl Stores {
    /// Opens the stores `config` names.
    pub(super) fn open(config: &StorageConfig) -> Result<Stores, String> {
        let variants = Store::open(&config.storage)?;
        let originals = match &config.originals_storage {
            Some(url) if url != &config.storage => Store::open(url)?,
            _ => variants.clone(),
        };
        let listings =
            moka::future::Cache::builder().max_capacity(LISTINGS_KEPT).time_to_live(LISTING_LIFETIME).build();
        let remote_base_url = config.remote_base_url.as_ref().map(|base| base.trim_end_matches('/').to_owned());
        Ok(Stores { originals, variants, listings, remote_base_url })
    }

    /// Each distinct store once: originals, and variants where they are kept apart.
    pub(super) fn each(&self) -> Vec<&Store> {
        if self.variants.url() == self.originals.url() {
            vec![&self.originals]
        } else {
            vec![&self.originals, &self.variants]
        }
    }

    /// How image `id` stands against `presence`, by one read of its info.json.
    pub(super) async fn standing(
        &self,
        ns: &Namespace,
        id: &ImageId,
        presence: &Presence,
    ) -> Result<Standing, StoreError> {
        Ok(match self.originals.get_opt(&ObjectKey::info(ns, id)).await? {
            Some(json) if presence.matches(&json) => Standing::Same,
            Some(_) => Standing::Changed,
            None => Standing::Gone,
        })
    }

    /// Writes a rendered variant of image `id`, made from the image as `presence` knew it, and
    /// drops the image's listing, which no longer names every stored variant. Nothing is written
    /// when the image changed or went meanwhile (answered, and `presence` expired); a delete
    /// that goes through during the write is caught by a look after it, which removes the
    /// variant again.
    pub(super) async fn put_variant(
        &self,
        ns: &Namespace,
        id: &ImageId,
        key: &ObjectKey,
        bytes: Bytes,
        presence: &Arc<Presence>,
    ) -> Result<Standing, StoreError> {
        let standing = self.standing(ns, id, presence).await?;
        if standing != Standing::Same {
            presence.expire();
            return Ok(standing);
        }
        self.variants.put(key, bytes).await?;
        self.forget_listing(ns, id).await;
        let (stores, ns, id, key, presence) = (self.clone(), ns.clone(), id.clone(), key.clone(), Arc::clone(presence));
        tokio::spawn(async move { stores.recheck(&ns, &id, &key, &presence).await });
        Ok(Standing::Same)
    }

    /// The look after a variant's write: the variant is removed if its image changed or went
    /// while it was written, or if that cannot be told (a variant is rendered again at will; a
    /// taken-down image is not put back).
    async fn recheck(&self, ns: &Namespace, id: &ImageId, key: &ObjectKey, presence: &Presence) {
        match self.standing(ns, id, presence).await {
            Ok(Standing::Same) => return,
            Ok(_) => {}
            Err(e) => tracing::warn!(%key, error = %e, "cannot tell whether a variant's image is still there"),
        }
        presence.expire();
        match self.variants.delete(key).await {
            Ok(()) => tracing::info!(%key, "removed a variant stored while its image was deleted or changed"),
            Err(e) => {
                tracing::warn!(%key, error = %e, "cannot remove a variant stored while its image was deleted or changed")
            }
        }
        self.forget_listing(ns, id).await;
    }

    /// Drops the listing of an image's variants.
    pub(super) async fn forget_listing(&self, ns: &Namespace, id: &ImageId) {
        self.listings.invalidate(&ObjectKey::image_prefix(ns, id)).await;
    }

    /// The names of the variants stored for an image, sorted: one listing, shared by the
    /// lookups of the next second.
    pub(super) async fn stored_variants(&self, ns: &Namespace, id: &ImageId) -> Result<Arc<Vec<String>>, StoreError> {
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
        self.listings.try_get_with(prefix.clone(), list).await.map_err(|e| (*e).clone())
    }

    /// The public URL of an object of the variants' store, with `remote_base_url`.
    pub(super) fn remote_url(&self, key: &ObjectKey) -> Option<String> {
        self.remote_base_url.as_ref().map(|base| format!("{base}/{key}"))
    }

    /// `info` with the names of the variants stored for the image and, with `remote_base_url`,
    /// their public URLs.
    pub(super) async fn with_listing(
        &self,
        ns: &Namespace,
        id: &ImageId,
        info: &ImageInfo,
    ) -> Result<ImageInfo, StoreError> {
        let names = self.stored_variants(ns, id).await?;
        let mut info = info.clone();
        if let Some(base) = &self.remote_base_url {
            let prefix = ObjectKey::image_prefix(ns, id);
            info.urls = Some(names.iter().map(|name| (name.clone(), format!("{base}/{prefix}{name}"))).collect());
        }
        info.variants = Some(names.to_vec());
        Ok(info)
    }

    /// Every image stored in a namespace: those whose info.json (written last) is in storage.
    pub(super) async fn list_images(&self, ns: &Namespace) -> Result<Vec<ImageId>, StoreError> {
        let prefix = ObjectKey::namespace_prefix(ns);
        let mut ids: Vec<ImageId> = self
            .originals
            .list(&prefix)
            .await?
            .iter()
            .filter_map(|key| key.strip_prefix(prefix.as_str())?.strip_suffix("/info.json"))
            .filter_map(ImageId::parse)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Removes the staging files killed writers left in `file://` stores (see
    /// [`Store::remove_stale_temporaries`]); blocking, for start-up. Answers how many.
    pub(super) fn remove_stale_temporaries(&self) -> usize {
        self.each().iter().map(|store| store.remove_stale_temporaries(STAGING_FILE_AGE)).sum()
    }
}
