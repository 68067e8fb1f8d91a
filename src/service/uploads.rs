//! Uploads: validate, moderate and store the original with its working copies, focus and info
//! (`originals`), then render the asked outputs (and the namespace's own) with the small
//! encoders, before the answer or in a job after it. The outputs of an image stored already
//! (wanelo's `process`) take the same path, without the bytes.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::try_join_all;

use super::focus::Refocus;
use super::images::{Images, Known};
use super::jobs::Jobs;
use super::originals::{Originals, Probed};
use super::rendering::Purpose;
use super::renders::{Lookup, Renders};
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::access::Payer;
use crate::config::Settings;
use crate::metrics::Metrics;
use crate::model::{ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::{FocusInfo, FocusPoint};
use crate::pool::{Class, Whose};

/// The result of an upload.
#[derive(Clone, Debug)]
pub struct Ingested {
    /// The stored image's facts, with the variants stored so far (and, for an upload that did
    /// not wait, those still pending).
    pub info: ImageInfo,
    /// False when the same bytes were stored already (nothing was written).
    pub created: bool,
}

/// When an upload's outputs are rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outputs {
    /// Before the upload is answered.
    BeforeAnswer,
    /// After: a job in storage, answered 202 (`?wait=false`).
    InBackground,
}

/// What taking uploads needs.
#[derive(Debug)]
pub(super) struct Uploads {
    pub(super) settings: Arc<Settings>,
    pub(super) stores: Stores,
    pub(super) originals: Originals,
    pub(super) images: Arc<Images>,
    pub(super) renders: Arc<Renders>,
    pub(super) jobs: Arc<Jobs>,
    pub(super) refocus: Arc<Refocus>,
    pub(super) metrics: Arc<Metrics>,
}

impl Uploads {
    /// Stores `bytes` as an original of `ns` (unless stored already) and renders `outputs` plus
    /// the namespace's own outputs, before the answer or in a job. Nothing is written unless
    /// the image decodes, every output is allowed and the namespace's moderation hook allows it.
    /// With a `notify_url`, a job delivers the notification once the outputs are stored. A
    /// `focus` given is stored instead of one detected; for bytes stored already, it replaces the
    /// stored focus where it differs (as `PUT .../focus` does).
    pub(super) async fn ingest(
        &self,
        ns: &Namespace,
        bytes: Bytes,
        outputs: &[Variant],
        when: Outputs,
        payer: &Payer,
        focus: Option<FocusPoint>,
    ) -> Result<Ingested, ServiceError> {
        if bytes.is_empty() {
            return Err(ServiceError::EmptyUpload);
        }
        let all_outputs = self.all_outputs(ns, outputs, payer)?;

        let whose = Whose { class: Class::Upload, payer: payer.client() };
        let (hash, probed) = self.originals.hash_and_probe(bytes.clone(), whose).await?;
        let id = ImageId::Hash(hash);
        let stored = self.stores.originals.get_opt(&ObjectKey::info(ns, &id)).await?;
        // Charged, from its header, before anything is decoded or stored: storing the original
        // (unless stored already) and every output (rendered before the answer, or in the job
        // it queues), less the unit its request paid on arrival.
        let (info, facts) = match &stored {
            Some(stored) => (Arc::new(ImageInfo::from_stored(stored, &id)?), None),
            None => {
                let facts = probed?;
                (Arc::new(ImageInfo::of_facts(&hash, &facts)), Some(facts))
            }
        };
        let stores = facts.as_ref().map_or(0, |facts| self.originals.store_units(facts));
        let renders = self.output_units(ns, &id, &Known::unstored(Arc::clone(&info)), &all_outputs);
        charge(payer, stores.saturating_add(renders))?;
        let (info, created) = match facts {
            None => {
                let info = match focus {
                    Some(point) if info.subject() != Some(FocusInfo::at(point)) => {
                        self.refocus.set(ns, &id, point).await?
                    }
                    _ => Arc::unwrap_or_clone(info),
                };
                self.metrics.upload_done(false);
                (info, false)
            }
            Some(facts) => {
                let probed = Probed { hash, bytes, facts };
                let info = self.originals.store(ns, &id, probed, focus, whose).await?;
                self.images.remember(ns, &id, info.clone()).await;
                self.metrics.upload_done(true);
                (info, true)
            }
        };
        self.outputs(ns, &id, &info, &all_outputs, when).await.map(|info| Ingested { info, created })
    }

    /// `POST /{ns}/{hash}/process` (wanelo's), and `process` given a stored hash: the outputs of
    /// an upload of the image stored already, asked, charged, rendered and answered as that
    /// upload's would be, without its bytes. [`ServiceError::ImageNotFound`] when it is absent.
    pub(super) async fn process(
        &self,
        ns: &Namespace,
        id: &ImageId,
        outputs: &[Variant],
        when: Outputs,
        payer: &Payer,
    ) -> Result<Ingested, ServiceError> {
        let all_outputs = self.all_outputs(ns, outputs, payer)?;
        let (image, _) = self.images.info(ns, id, None).await?;
        charge(payer, self.output_units(ns, id, &image, &all_outputs))?;
        let info = self.outputs(ns, id, &image.info, &all_outputs, when).await?;
        Ok(Ingested { info, created: false })
    }

    /// The outputs an upload asking for `outputs` renders: those and the namespace's own, each
    /// allowed there; a client may ask for at most `max_outputs_per_upload` (the server's own
    /// work, `process` and `regenerate` from the command line, is not limited by it).
    fn all_outputs(&self, ns: &Namespace, outputs: &[Variant], payer: &Payer) -> Result<Vec<Variant>, ServiceError> {
        let settings = self.settings.of(ns);
        if payer.client().is_some() {
            settings.check_output_count(outputs.len())?;
        }
        Ok(settings.outputs_with(outputs)?)
    }

    /// The units of work rendering `outputs` of `image` is charged, whether or not some are
    /// stored already.
    fn output_units(&self, ns: &Namespace, id: &ImageId, image: &Known, outputs: &[Variant]) -> u32 {
        outputs.iter().map(|v| self.renders.work_units(ns, id, *v, image, Purpose::Upload)).fold(0, u32::saturating_add)
    }

    /// Renders an upload's `outputs` of the stored image, those stored already found rather than
    /// rendered, before the answer or in a job; answers its info with the variants stored (and,
    /// in a job, those pending). The upload's client paid for them already.
    async fn outputs(
        &self,
        ns: &Namespace,
        id: &ImageId,
        info: &ImageInfo,
        outputs: &[Variant],
        when: Outputs,
    ) -> Result<ImageInfo, ServiceError> {
        let notifies = self.settings.of(ns).notify.is_some();
        match when {
            Outputs::BeforeAnswer => {
                try_join_all(outputs.iter().map(|v| {
                    self.renders.answer(Lookup {
                        ns,
                        id,
                        variant: *v,
                        source_override: None,
                        info: None,
                        purpose: Purpose::Upload,
                        payer: &Payer::Server,
                        slot: None,
                    })
                }))
                .await?;
                if notifies {
                    self.jobs.add(ns, id, outputs).await?;
                }
                Ok(self.stores.with_listing(ns, id, info).await?)
            }
            Outputs::InBackground => {
                if notifies || !outputs.is_empty() {
                    self.jobs.add(ns, id, outputs).await?;
                }
                let mut info = self.stores.with_listing(ns, id, info).await?;
                let stored = info.variants.as_deref().unwrap_or_default();
                let pending = outputs.iter().map(Variant::to_string).filter(|v| !stored.contains(v)).collect();
                info.pending = Some(pending);
                Ok(info)
            }
        }
    }

    /// Downloads `url` and ingests it.
    pub(super) async fn ingest_source(
        &self,
        ns: &Namespace,
        url: &str,
        outputs: &[Variant],
        when: Outputs,
        payer: &Payer,
        focus: Option<FocusPoint>,
    ) -> Result<Ingested, ServiceError> {
        let held = self.images.download(url).await?;
        self.ingest(ns, held.bytes.clone(), outputs, when, payer, focus).await
    }
}

/// Charges an upload's work, less the unit its request paid on arrival.
fn charge(payer: &Payer, units: u32) -> Result<(), ServiceError> {
    match units.saturating_sub(1) {
        0 => Ok(()),
        units => Ok(payer.charge(units)?),
    }
}
