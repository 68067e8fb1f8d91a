//! Upload jobs (DESIGN.md §11): an upload's outputs still to render and its notification still
//! to deliver. A job is written to storage before the upload is answered; the node that took the
//! upload works it at once, and every node looks for jobs at start-up and every `lease_secs`, so
//! that a job whose node died is resumed by whichever node comes first. A node works a job only
//! under its lease, so each job is done once, and takes that lease only once the CPU pool has a
//! worker for the job's first output: a backlog of jobs waits holding no lease, so that other
//! nodes may take them meanwhile.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::images::Images;
use super::plan::RenderPlan;
use super::rendering::Purpose;
use super::renders::{Lookup, Renders};
use super::stores::Stores;
use super::{ImageInfo, ServiceError};
use crate::access::Payer;
use crate::config::Settings;
use crate::hooks::Hooks;
use crate::metrics::{JobEnd, Metrics};
use crate::model::{ImageHash, ImageId, Namespace, ObjectKey, Variant};
use crate::pipeline::Effort;
use crate::pool::{Class, Slot};
use crate::store::lease::{self, Claim, now_ms};

/// A job as stored, at `ObjectKey::job`.
#[derive(Serialize, Deserialize)]
struct Job {
    namespace: String,
    hash: String,
    /// The outputs to render, by name.
    outputs: Vec<String>,
    /// When the upload was answered, in milliseconds since the Unix epoch.
    created_unix_ms: u64,
}

/// The jobs this node knows of (the queue of new ones and those it is working), and what
/// working them needs.
#[derive(Debug)]
pub(super) struct Jobs {
    queue: mpsc::UnboundedSender<ObjectKey>,
    queued: Mutex<Option<mpsc::UnboundedReceiver<ObjectKey>>>,
    /// Jobs this node holds or has queued, so that a listing does not start one twice.
    held: Mutex<HashSet<ObjectKey>>,
    stores: Stores,
    images: Arc<Images>,
    renders: Arc<Renders>,
    hooks: Hooks,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    /// How long a job's lease lasts unless renewed, and how often storage is scanned for jobs.
    lease: Duration,
}

impl Jobs {
    pub(super) fn new(
        stores: Stores,
        images: Arc<Images>,
        renders: Arc<Renders>,
        hooks: Hooks,
        settings: Arc<Settings>,
        metrics: Arc<Metrics>,
        lease: Duration,
    ) -> Jobs {
        let (queue, queued) = mpsc::unbounded_channel();
        Jobs {
            queue,
            queued: Mutex::new(Some(queued)),
            held: Mutex::new(HashSet::new()),
            stores,
            images,
            renders,
            hooks,
            settings,
            metrics,
            lease,
        }
    }
}

/// The notification's body (DESIGN.md §11).
#[derive(Serialize)]
struct Event<'a> {
    event: &'static str,
    namespace: &'a str,
    hash: &'a str,
    /// The job's outputs that are stored.
    variants: &'a [String],
    /// The outputs that could not be rendered, with why (only in `image.failed`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    failed: Vec<Failed>,
    info: &'a ImageInfo,
}

#[derive(Serialize)]
struct Failed {
    variant: String,
    error: String,
}

/// Tries of an output whose render failed for a passing reason (a full queue, storage down),
/// one second apart and doubling, before the job is left for a later scan.
const TRANSIENT_TRIES: u32 = 3;

impl Jobs {
    /// Writes a job for `outputs` of an image and queues it here; answers once it is stored.
    pub(super) async fn add(&self, ns: &Namespace, id: &ImageId, outputs: &[Variant]) -> Result<(), ServiceError> {
        let ImageId::Hash(hash) = id else {
            return Err(ServiceError::Internal("jobs are for uploaded images".to_owned()));
        };
        let created_unix_ms = now_ms();
        let name = format!("{created_unix_ms:x}-{:016x}", RandomState::new().hash_one(created_unix_ms));
        let key = ObjectKey::job(ns, id, &name);
        let job = Job {
            namespace: ns.to_string(),
            hash: hash.to_string(),
            outputs: outputs.iter().map(Variant::to_string).collect(),
            created_unix_ms,
        };
        self.stores.originals.put(&key, Bytes::from(serde_json::to_vec(&job).expect("a job serialises"))).await?;
        // A closed queue means no runner: the job waits in storage for a server to find it.
        let _ = self.queue.send(key);
        Ok(())
    }

    /// Works the jobs queued here and those found in storage, until the process ends.
    pub(super) async fn run(self: Arc<Self>) {
        let Some(mut queued) = self.queued.lock().expect("not poisoned").take() else { return };
        let mut scan = tokio::time::interval(self.lease);
        scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let keys = tokio::select! {
                Some(key) = queued.recv() => vec![key],
                _ = scan.tick() => match self.stores.originals.list(&ObjectKey::jobs_prefix()).await {
                    Ok(keys) => keys.iter().filter_map(|k| ObjectKey::listed_job(k)).collect(),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot list the jobs in storage");
                        Vec::new()
                    }
                },
            };
            for key in keys {
                if !self.held.lock().expect("not poisoned").insert(key.clone()) {
                    continue;
                }
                self.metrics.job_taken();
                let jobs = Arc::clone(&self);
                tokio::spawn(async move {
                    let end = jobs.work(&key).await;
                    jobs.held.lock().expect("not poisoned").remove(&key);
                    jobs.metrics.job_left(end);
                });
            }
        }
    }

    /// Works one job under its lease; `None` when it was not finished here (another node holds
    /// it, it is gone, or a passing failure leaves it for a later scan).
    async fn work(&self, key: &ObjectKey) -> Option<JobEnd> {
        let job = match self.stores.originals.get_opt(key).await {
            Ok(Some(bytes)) => serde_json::from_slice::<Job>(&bytes).ok(),
            Ok(None) => return None, // finished by another node
            Err(e) => {
                tracing::warn!(job = %key, error = %e, "cannot read a job");
                return None;
            }
        };
        let image = job.as_ref().and_then(|job| {
            let ns: Namespace = job.namespace.parse().ok()?;
            let hash: ImageHash = job.hash.parse().ok()?;
            Some((ns, ImageId::Hash(hash)))
        });
        let (Some(job), Some((ns, id))) = (job, image) else {
            tracing::warn!(job = %key, "removing a job that cannot be read");
            self.drop_job(key).await;
            return None;
        };
        let first = match self.first_slot(&ns, &id, &job).await {
            Ok(slot) => slot,
            Err(ServiceError::ImageNotFound) => {
                // Deleted since: nothing to render, nobody to tell.
                self.drop_job(key).await;
                return None;
            }
            Err(e) => {
                tracing::warn!(job = %key, error = %e, "job left for a later attempt");
                return None;
            }
        };
        let lease = match lease::claim(&self.stores.originals, ObjectKey::lease_of(key), self.lease).await {
            Ok(Claim::Held(lease)) => lease,
            Ok(Claim::Taken { .. }) => return None,
            Err(e) => {
                tracing::warn!(job = %key, error = %e, "cannot take a job's lease");
                return None;
            }
        };
        let end = lease.renewing(self.complete(key, &ns, &id, &job, first)).await;
        lease.release().await;
        end
    }

    /// A worker for the job's first output, admitted at what its render may cost; none for a job
    /// with nothing to render first.
    async fn first_slot(&self, ns: &Namespace, id: &ImageId, job: &Job) -> Result<Option<Slot>, ServiceError> {
        let Some(first) = job.outputs.iter().find_map(|name| name.parse::<Variant>().ok()) else { return Ok(None) };
        let (image, _) = self.images.info(ns, id, None).await?;
        let renders = &self.renders;
        let limits = &renders.rendering.limits;
        let Ok(plan) = RenderPlan::new(ns, id, first, &image, Effort::Small, &renders.render, limits) else {
            return Ok(None);
        };
        Ok(Some(renders.rendering.pool.admit(Class::Job, plan.max_cost()).await?))
    }

    /// Renders a job's outputs (the first in `first`), then delivers its notification.
    async fn complete(
        &self,
        key: &ObjectKey,
        ns: &Namespace,
        id: &ImageId,
        job: &Job,
        first: Option<Slot>,
    ) -> Option<JobEnd> {
        let (stored, failed) = match self.render_outputs(ns, id, job, first).await {
            Ok(done) => done,
            Err(ServiceError::ImageNotFound) => {
                self.drop_job(key).await;
                return None;
            }
            Err(e) => {
                tracing::warn!(job = %key, error = %e, "job left for a later attempt");
                return None;
            }
        };
        let end = if failed.is_empty() { JobEnd::Ready } else { JobEnd::Failed };
        if let Some(notify) = &self.settings.of(ns).notify {
            let info = match self.images.info(ns, id, None).await {
                Ok((image, _)) => self.stores.with_listing(ns, id, &image.info).await.map_err(ServiceError::from),
                Err(e) => Err(e),
            };
            let info = match info {
                Ok(info) => info,
                Err(e) => {
                    tracing::warn!(job = %key, error = %e, "job left for a later attempt");
                    return None;
                }
            };
            let event = Event {
                event: if failed.is_empty() { "image.ready" } else { "image.failed" },
                namespace: ns.as_str(),
                hash: &job.hash,
                variants: &stored,
                failed,
                info: &info,
            };
            let body = Bytes::from(serde_json::to_vec(&event).expect("an event serialises"));
            self.hooks.notify(&notify.url, Some(&notify.secret), body, |d| self.metrics.notification(d)).await;
        }
        self.drop_job(key).await;
        Some(end)
    }

    /// Renders (or finds stored) each output of `job`: the names stored and those that failed.
    /// A passing failure, or the image gone, is the error.
    async fn render_outputs(
        &self,
        ns: &Namespace,
        id: &ImageId,
        job: &Job,
        mut first: Option<Slot>,
    ) -> Result<(Vec<String>, Vec<Failed>), ServiceError> {
        let (mut stored, mut failed) = (Vec::new(), Vec::new());
        for name in &job.outputs {
            let variant = match name.parse::<Variant>() {
                Ok(variant) => variant,
                Err(e) => {
                    failed.push(Failed { variant: name.clone(), error: e.to_string() });
                    continue;
                }
            };
            if let Err(e) = self.settings.of(ns).check(&variant) {
                failed.push(Failed { variant: name.clone(), error: e.to_string() });
                continue;
            }
            let mut delay = Duration::from_secs(1);
            let mut tries = 0;
            let outcome = loop {
                tries += 1;
                let lookup = Lookup {
                    ns,
                    id,
                    variant,
                    source_override: None,
                    info: None,
                    purpose: Purpose::Job,
                    payer: &Payer::Server,
                    slot: first.take(),
                };
                match self.renders.answer(lookup).await {
                    Err(e) if e.is_transient() && tries < TRANSIENT_TRIES => {
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    outcome => break outcome,
                }
            };
            match outcome {
                Ok(_) => stored.push(name.clone()),
                Err(e @ ServiceError::ImageNotFound) => return Err(e),
                Err(e) if e.is_transient() => return Err(e),
                Err(e) => failed.push(Failed { variant: name.clone(), error: e.to_string() }),
            }
        }
        Ok((stored, failed))
    }

    async fn drop_job(&self, key: &ObjectKey) {
        if let Err(e) = self.stores.originals.delete(key).await {
            tracing::warn!(job = %key, error = %e, "cannot remove a finished job; it will be done again");
        }
    }
}
