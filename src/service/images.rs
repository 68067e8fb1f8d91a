//! Image facts: each stored info.json read and parsed once into memory, and, in origin-pull
//! namespaces, the original fetched from its origin on the first lookup (concurrent first
//! lookups join one pull), validated and stored like an upload. Also the downloads of source
//! URLs, which uploads share.
//!
//! An image known in memory is confirmed in storage again once its last confirmation is
//! `delete_visibility_secs` old (DESIGN.md §15): one read of its info.json. One gone or changed
//! (deleted, or its info.json rewritten on another node) is forgotten here, with everything
//! cached of it, and looked up afresh. A node that rewrites an info.json itself (a new focus)
//! calls [`Images::forget`] and then [`Images::remember`]; the others see the change within the
//! window, and a render planned on the old info.json stores nothing (`stores::Standing`).

use std::sync::Arc;

use bytes::Bytes;

use super::originals::{Originals, Probed};
use super::stores::{Standing, Stores};
use super::{ImageInfo, ServiceError};
use crate::buffer::Held;
use crate::cache::{ObjectCache, Presence, Weighed};
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::model::{ImageId, Namespace, ObjectKey, OriginPath, Served};
use crate::pool::Class;
use crate::source::{FetchError, Fetcher};
use crate::store::StoreError;

/// An image known in memory: its facts, and when they were last confirmed in storage.
#[derive(Clone, Debug)]
pub(super) struct Known {
    /// The facts, as info.json gives them.
    pub(super) info: Arc<ImageInfo>,
    /// Shared with every answer cached of the image.
    pub(super) presence: Arc<Presence>,
}

impl Known {
    /// Facts not stored (yet), for planning what rendering from them would cost.
    pub(super) fn unstored(info: Arc<ImageInfo>) -> Known {
        Known { info, presence: Presence::new(b"") }
    }

    /// Facts read from, or written as, `json`, confirmed now.
    fn new(info: ImageInfo, json: &[u8]) -> Known {
        Known { info: Arc::new(info), presence: Presence::new(json) }
    }
}

impl Weighed for Known {
    fn weight(&self) -> usize {
        // The fixed fields, and the placeholder, which is most of an info's bytes.
        160 + self.info.content_type.len() + self.info.thumbhash.as_ref().map_or(0, String::len)
    }
}

/// Info lookups and pulls.
#[derive(Debug)]
pub(super) struct Images {
    stores: Stores,
    originals: Originals,
    fetcher: Fetcher,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    infos: ObjectCache<Known>,
    /// Everything else cached of images, forgotten with them: encoded answers, and sources.
    answers: ObjectCache,
    sources: ObjectCache<Bytes>,
    /// `delete_visibility_secs`, in milliseconds.
    window_ms: u64,
}

/// The memory an image lookup keeps: its facts (`infos_bytes` of them), and the other caches
/// that hold things of images, forgotten with them.
pub(super) struct Memory {
    pub(super) infos_bytes: u64,
    pub(super) answers: ObjectCache,
    pub(super) sources: ObjectCache<Bytes>,
    /// How long a confirmation in storage lasts.
    pub(super) window: std::time::Duration,
}

impl Images {
    pub(super) fn new(
        stores: Stores,
        originals: Originals,
        fetcher: Fetcher,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
        memory: Memory,
    ) -> Images {
        let window_ms = u64::try_from(memory.window.as_millis()).unwrap_or(u64::MAX);
        Images {
            stores,
            originals,
            fetcher,
            settings,
            metrics,
            infos: ObjectCache::new(memory.infos_bytes),
            answers: memory.answers,
            sources: memory.sources,
            window_ms,
        }
    }

    /// How long a confirmation in storage lasts, in milliseconds (for [`Presence::due`]).
    pub(super) fn window_ms(&self) -> u64 {
        self.window_ms
    }

    /// The facts of a stored original, and where they came from; in an origin-pull namespace,
    /// pulled from the origin (or `source_override` where allowed) if not stored yet. Facts in
    /// memory are confirmed in storage first where that is due.
    pub(super) async fn info(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<(Known, Served), ServiceError> {
        let (known, served) = self.info_once(ns, id, source_override).await?;
        if served != Served::Memory || !known.presence.due(self.window_ms) {
            return Ok((known, served));
        }
        if Box::pin(self.confirm(ns, id, &known.presence)).await {
            return Ok((known, served));
        }
        // Gone or changed, and forgotten: looked up afresh.
        self.info_once(ns, id, source_override).await
    }

    async fn info_once(
        &self,
        ns: &Namespace,
        id: &ImageId,
        source_override: Option<&str>,
    ) -> Result<(Known, Served), ServiceError> {
        let key = ObjectKey::info(ns, id);
        // Boxed, and made only on a miss (a pull is a large future).
        let load = || {
            Box::pin(async {
                match (self.stores.originals.get(&key).await, id) {
                    (Ok(bytes), _) => Ok((Known::new(ImageInfo::from_stored(&bytes, id)?, &bytes), Served::Storage)),
                    (Err(StoreError::NotFound), ImageId::Path(path)) if self.settings.of(ns).origin.is_some() => {
                        let info = self.pull(ns, path, source_override).await?;
                        let json = info.to_json();
                        Ok((Known::new(info, &json), Served::Rendered))
                    }
                    (Err(StoreError::NotFound), _) => Err(ServiceError::ImageNotFound),
                    (Err(e @ StoreError::Backend(_)), _) => Err(ServiceError::Store(e)),
                }
            })
        };
        let mut served = Served::Memory;
        let (known, _) = self
            .infos
            .get_or_load(key.clone(), || async {
                let (known, from) = load().await?;
                served = from;
                Ok::<_, ServiceError>(known)
            })
            .await
            .map_err(|e| (*e).clone())?;
        Ok((known, served))
    }

    /// The facts of an image if they are in memory (confirmed in storage first where that is
    /// due): known to exist, without a look in storage otherwise.
    pub(super) async fn in_memory(&self, ns: &Namespace, id: &ImageId) -> Option<Known> {
        let known = self.infos.get(&ObjectKey::info(ns, id)).await?;
        if !known.presence.due(self.window_ms) || Box::pin(self.confirm(ns, id, &known.presence)).await {
            return Some(known);
        }
        None
    }

    /// Keeps the info of an original just stored, so that its first lookups need no read.
    pub(super) async fn remember(&self, ns: &Namespace, id: &ImageId, info: ImageInfo) {
        let json = info.to_json();
        self.infos.insert(ObjectKey::info(ns, id), Known::new(info, &json)).await;
    }

    /// Confirms in storage that image `id` is as `presence` knew it: true when it is (or when
    /// storage cannot tell: what memory holds is served meanwhile, and asked about again after
    /// the window); false when it is gone or changed, and then forgotten on this node.
    pub(super) async fn confirm(&self, ns: &Namespace, id: &ImageId, presence: &Presence) -> bool {
        let standing = self.stores.standing(ns, id, presence).await;
        self.metrics.reconfirmed(matches!(standing, Ok(Standing::Same) | Err(_)));
        match standing {
            Ok(Standing::Same) => {
                presence.confirmed();
                true
            }
            Ok(Standing::Changed | Standing::Gone) => {
                presence.expire();
                self.forget(ns, id).await;
                false
            }
            Err(e) => {
                tracing::warn!(namespace = %ns, image = %id, error = %e, "cannot confirm an image in storage; serving it from memory");
                presence.confirmed();
                true
            }
        }
    }

    /// Forgets everything of an image on this node (deleted or changed): its facts, its cached
    /// answers and sources, and its listing.
    pub(super) async fn forget(&self, ns: &Namespace, id: &ImageId) {
        self.infos.invalidate(&ObjectKey::info(ns, id)).await;
        let prefix = ObjectKey::image_prefix(ns, id);
        self.answers.invalidate_prefix(&prefix);
        self.sources.invalidate_prefix(&prefix);
        self.stores.forget_listing(ns, id).await;
    }

    /// Fetches and stores the original at `path` of an origin-pull namespace.
    async fn pull(
        &self,
        ns: &Namespace,
        path: &OriginPath,
        source_override: Option<&str>,
    ) -> Result<ImageInfo, ServiceError> {
        let origin = self.settings.of(ns).origin.as_ref().ok_or(ServiceError::ImageNotFound)?;
        let url = match source_override {
            Some(url) if origin.allow_source_override => url.to_owned(),
            Some(_) => return Err(ServiceError::SourceOverrideNotAllowed),
            None => origin.template.replace("{path}", path.as_str()),
        };
        let held = self.download(&url).await.map_err(|e| match e {
            FetchError::Upstream(404 | 410) => ServiceError::OriginNotFound,
            other => ServiceError::Fetch(other),
        })?;
        let (hash, probed) = self.originals.hash_and_probe(held.bytes.clone(), Class::Request.into()).await?;
        let id = ImageId::Path(path.clone());
        let probed = Probed { hash, bytes: held.bytes.clone(), facts: probed? };
        self.originals.store(ns, &id, probed, None, Class::Request.into()).await
    }

    /// Downloads a source URL through the SSRF-safe fetcher, with its metrics; the bytes count
    /// against the upload buffer while held.
    pub(super) async fn download(&self, url: &str) -> Result<Held, FetchError> {
        let download = self.metrics.download_started();
        let fetched = self.fetcher.fetch(url).await;
        if fetched.is_ok() {
            download.downloaded();
        }
        fetched
    }
}
