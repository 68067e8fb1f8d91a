//! Metrics: what the server did, recorded where each outcome is known (the completion of a
//! request, a render, an upload, a download), read by the status port as `/status` JSON and
//! `/metrics` in Prometheus text, and sent to statsd under the names of DESIGN.md §6.
//!
//! Every metric is declared once, in `table.rs`; nothing outside this module touches a counter.

mod kinds;
mod statsd;
mod table;

use std::time::Duration;

use prometheus::{IntGauge, Opts, Registry};
use serde_json::{Map, Value};

use crate::config::MetricsConfig;
use crate::model::{ImageFormat, Served};
use statsd::Statsd;
use table::{StatusClass, Table};

/// What one finished request tells the metrics.
#[derive(Clone, Copy, Debug)]
pub struct RequestOutcome {
    /// HTTP status answered.
    pub status: u16,
    /// Whether the request asked for a variant (an image).
    pub variant: bool,
    /// Where the answer came from, when it was an object.
    pub served: Option<Served>,
    /// What the error of a failed request counts as.
    pub counts: ErrorCounts,
    /// Time from request to answer.
    pub took: Duration,
}

/// What a failure counts as, beyond its status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// An original was missing, or its source failed.
    pub original_unavailable: bool,
    /// The render queue was full.
    pub overloaded: bool,
}

/// How an upload job ended: every output stored, or some failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEnd {
    /// `image.ready`.
    Ready,
    /// `image.failed`.
    Failed,
}

/// What the moderation hook said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moderated {
    /// Store it.
    Allow,
    /// Refuse it.
    Reject,
    /// No verdict came (unreachable, slow, malformed).
    Unavailable,
}

/// What a look in storage found of an image known in memory (`delete_visibility_secs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconfirmed {
    /// As known (or storage could not tell): served on.
    Still,
    /// Deleted, or its info.json rewritten elsewhere: forgotten here.
    Changed,
}

/// Point-in-time figures owned by other components, read when the status port is asked.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    /// Renders running.
    pub renders_in_progress: usize,
    /// Of those, in the pool's lower lane.
    pub renders_lower_priority: usize,
    /// Renders waiting for a worker.
    pub render_queue_depth: usize,
    /// Render threads.
    pub render_workers: usize,
    /// Memory cache entries.
    pub cache_entries: u64,
    /// Memory cache bytes.
    pub cache_bytes: u64,
    /// Upload and download bytes held.
    pub upload_buffer_bytes: u64,
    /// Answer bytes not yet written.
    pub response_buffer_bytes: u64,
    /// Seconds since start.
    pub uptime_seconds: u64,
}

/// The metrics of one server process.
pub struct Metrics {
    registry: Registry,
    statsd: Statsd,
    table: Table,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").field("statsd", &self.statsd).finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics as configured; a statsd address that cannot be used is reported and left out,
    /// since metrics must never stop the service.
    pub fn new(config: &MetricsConfig) -> Metrics {
        let statsd = match &config.statsd {
            None => Statsd::off(),
            Some(addr) => Statsd::to(addr, &config.statsd_prefix).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "statsd disabled");
                Statsd::off()
            }),
        };
        Self::with_statsd(statsd)
    }

    /// Metrics without statsd (for tests and batch commands).
    pub fn without_statsd() -> Metrics {
        Self::with_statsd(Statsd::off())
    }

    fn with_statsd(statsd: Statsd) -> Metrics {
        let registry = Registry::new_custom(Some("image_server".to_owned()), None).expect("a valid prefix");
        let info = IntGauge::with_opts(
            Opts::new("info", "Build information.").const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("a valid metric");
        info.set(1);
        registry.register(Box::new(info)).expect("metric names are unique");
        let table = Table::new(&registry);
        Metrics { registry, statsd, table }
    }

    /// The completion of one request: called once, from the request's completion hook.
    pub fn request_done(&self, o: &RequestOutcome) {
        let t = &self.table;
        t.requests.inc(StatusClass::of(o.status), &self.statsd);
        t.request_duration.observe(o.took, &self.statsd);
        if let Some(served) = o.served {
            t.lookups.inc(served, &self.statsd);
        }
        if o.variant && o.status >= 400 {
            t.image_requests_failed.inc(&self.statsd);
        }
        if o.counts.original_unavailable {
            t.originals_unavailable.inc(&self.statsd);
        }
        if o.counts.overloaded {
            t.overloaded.inc(&self.statsd);
        }
    }

    /// A variant was rendered (and is being stored) in `took` on its worker; `None` for a
    /// render that failed.
    pub fn render_done(&self, rendered: Option<(ImageFormat, Duration)>) {
        match rendered {
            Some((format, took)) => {
                self.table.renders.inc(format, &self.statsd);
                self.table.render_duration.observe(took, &self.statsd);
            }
            None => self.table.render_failures.inc(&self.statsd),
        }
    }

    /// A popular size was rendered in the background (`true`), or failed to.
    pub fn background_render_done(&self, rendered: bool) {
        if rendered {
            self.table.background_renders.inc(&self.statsd);
        } else {
            self.table.render_failures.inc(&self.statsd);
        }
    }

    /// An upload was stored (`new`), or was of bytes stored already.
    pub fn upload_done(&self, new: bool) {
        if new { self.table.uploads.inc(&self.statsd) } else { self.table.duplicate_uploads.inc(&self.statsd) }
    }

    /// This node took on an upload job (queued, or resumed from storage).
    pub fn job_taken(&self) {
        self.table.jobs_pending.add(1);
    }

    /// A job this node took on is off its hands: `Some` when it ended, `None` when it was left to
    /// another node or a later attempt.
    pub fn job_left(&self, end: Option<JobEnd>) {
        self.table.jobs_pending.add(-1);
        if let Some(end) = end {
            self.table.jobs_done.inc(end, &self.statsd);
        }
    }

    /// A notification attempt came to `delivery`.
    pub fn notification(&self, delivery: crate::hooks::Delivery) {
        self.table.notifications.inc(delivery, &self.statsd);
    }

    /// The moderation hook was asked.
    pub fn moderated(&self, verdict: Moderated) {
        self.table.moderation.inc(verdict, &self.statsd);
    }

    /// An image known in memory was looked up in storage again: still there as known (`true`),
    /// or gone or changed.
    pub fn reconfirmed(&self, still: bool) {
        let outcome = if still { Reconfirmed::Still } else { Reconfirmed::Changed };
        self.table.reconfirms.inc(outcome, &self.statsd);
    }

    /// A purge hook call came to `delivery`.
    pub fn purge(&self, delivery: crate::hooks::Delivery) {
        self.table.purges.inc(delivery, &self.statsd);
    }

    /// The focus of an original was detected (`pipeline::focus::detect`): `faces` found, in
    /// `took` on its worker. A focus set by the uploader is no detection and is not counted.
    pub fn focus_detected(&self, faces: usize, took: Duration) {
        let t = &self.table;
        t.focus_detections.inc(&self.statsd);
        t.faces_found.add(faces as u64, &self.statsd);
        t.focus_duration.observe(took, &self.statsd);
    }

    /// An image was deleted.
    pub fn deleted(&self) {
        self.table.deletes.inc(&self.statsd);
    }

    /// A source download begins; it counts as in progress until the guard is dropped, and as
    /// downloaded when the guard is told so.
    pub fn download_started(&self) -> DownloadGuard<'_> {
        self.table.downloads_in_progress.add(1);
        DownloadGuard { metrics: self, started: std::time::Instant::now() }
    }

    /// Takes in the figures other components own, before they are read.
    pub fn observe(&self, g: Gauges) {
        let t = &self.table;
        t.renders_in_progress.set(g.renders_in_progress as u64);
        t.renders_lower_priority.set(g.renders_lower_priority as u64);
        t.render_queue_depth.set(g.render_queue_depth as u64);
        t.render_workers.set(g.render_workers as u64);
        t.cache_entries.set(g.cache_entries);
        t.cache_bytes.set(g.cache_bytes);
        t.upload_buffer_held.set(g.upload_buffer_bytes);
        t.response_buffer_held.set(g.response_buffer_bytes);
        t.uptime.set(g.uptime_seconds);
    }

    /// The `/status` JSON: every metric at its path, with the version.
    pub fn status_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("version".to_owned(), env!("CARGO_PKG_VERSION").into());
        self.table.write_status(&mut out);
        out
    }

    /// `/metrics` in the Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        prometheus::TextEncoder::new().encode_to_string(&self.registry.gather()).expect("metrics encode as text")
    }
}

/// A source download in progress (see [`Metrics::download_started`]).
pub struct DownloadGuard<'a> {
    metrics: &'a Metrics,
    started: std::time::Instant,
}

impl DownloadGuard<'_> {
    /// The download succeeded: an original was fetched.
    pub fn downloaded(self) {
        let t = &self.metrics.table;
        t.originals_downloaded.inc(&self.metrics.statsd);
        t.download_duration.observe(self.started.elapsed(), &self.metrics.statsd);
    }
}

impl Drop for DownloadGuard<'_> {
    fn drop(&mut self) {
        self.metrics.table.downloads_in_progress.add(-1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn focus_detections_count_runs_faces_and_time() {
        let metrics = Metrics::without_statsd();
        metrics.focus_detected(2, Duration::from_millis(30));
        metrics.focus_detected(0, Duration::from_millis(20));
        let status = Value::Object(metrics.status_json());
        assert_eq!(status["focus"]["detections"], 2);
        assert_eq!(status["focus"]["faces"], 2);
        assert_eq!(status["focus"]["detection_time_ms"]["count"], 2);
        let text = metrics.prometheus();
        assert!(text.contains("image_server_focus_detections_total 2"), "{text}");
        assert!(text.contains("image_server_faces_found_total 2"), "{text}");
        assert!(text.contains("image_server_focus_detection_duration_seconds_count 2"), "{text}");
    }
}
