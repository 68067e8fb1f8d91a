//! Every metric, declared once: its doc line is its Prometheus help, and each names its
//! Prometheus name, its statsd name (the seed names of DESIGN.md §6 exactly) and its place in
//! the `/status` JSON. The labels' values come from the enums they count by.

use prometheus::Registry;
use serde_json::{Map, Value};

use super::kinds::{Counter, CounterBy, Desc, Gauge, Label, Timer};
use super::{JobEnd, Moderated, Reconfirmed};
use crate::hooks::Delivery;
use crate::model::{ImageFormat, Served};

/// A label whose Prometheus value, `/status` key and statsd suffix are one word per case.
macro_rules! word_label {
    ($ty:ty, $key:literal, [$($case:path => $word:literal),+ $(,)?]) => {
        impl Label for $ty {
            const KEY: &'static str = $key;
            const ALL: &'static [Self] = &[$($case),+];
            fn value(self) -> &'static str {
                match self { $($case => $word),+ }
            }
            fn status_key(self) -> &'static str {
                self.value()
            }
            fn statsd(self, base: Option<&'static str>) -> Option<String> {
                base.map(|base| format!("{base}.{}", self.value()))
            }
        }
    };
}

word_label!(JobEnd, "event", [JobEnd::Ready => "ready", JobEnd::Failed => "failed"]);
word_label!(Delivery, "outcome", [Delivery::Sent => "sent", Delivery::Retried => "retried", Delivery::Failed => "failed"]);
word_label!(Reconfirmed, "outcome", [Reconfirmed::Still => "still", Reconfirmed::Changed => "changed"]);
word_label!(Moderated, "verdict", [Moderated::Allow => "allow", Moderated::Reject => "reject", Moderated::Unavailable => "unavailable"]);

/// The class of an HTTP status, `1xx` to `5xx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusClass(u8);

impl StatusClass {
    pub(crate) fn of(status: u16) -> Self {
        StatusClass(u8::try_from(status / 100).unwrap_or(5).clamp(1, 5))
    }
}

impl Label for StatusClass {
    const KEY: &'static str = "class";
    const ALL: &'static [Self] = &[StatusClass(1), StatusClass(2), StatusClass(3), StatusClass(4), StatusClass(5)];
    fn value(self) -> &'static str {
        ["1xx", "2xx", "3xx", "4xx", "5xx"][usize::from(self.0 - 1)]
    }
    fn status_key(self) -> &'static str {
        self.value()
    }
    fn statsd(self, _base: Option<&'static str>) -> Option<String> {
        None
    }
}

impl Label for ImageFormat {
    const KEY: &'static str = "format";
    const ALL: &'static [Self] = &ImageFormat::OUTPUTS;
    fn value(self) -> &'static str {
        self.name()
    }
    fn status_key(self) -> &'static str {
        self.name()
    }
    /// `image_request.jpg` and the like.
    fn statsd(self, base: Option<&'static str>) -> Option<String> {
        base.map(|base| format!("{base}.{}", self.name()))
    }
}

impl Label for Served {
    const KEY: &'static str = "outcome";
    const ALL: &'static [Self] = &[Served::Memory, Served::Storage, Served::Rendered];
    fn value(self) -> &'static str {
        match self {
            Served::Memory => "memory_hit",
            Served::Storage => "storage_hit",
            Served::Rendered => "miss",
        }
    }
    fn status_key(self) -> &'static str {
        match self {
            Served::Memory => "memory_hits",
            Served::Storage => "storage_hits",
            Served::Rendered => "misses",
        }
    }
    fn statsd(self, _base: Option<&'static str>) -> Option<String> {
        let name = match self {
            Served::Memory => "cache_hit.memory",
            Served::Storage => "cache_hit.storage",
            Served::Rendered => "cache_miss",
        };
        Some(name.to_owned())
    }
}

/// `Some(x)` for a given optional macro argument, `None` for a missing one.
macro_rules! optional {
    () => {
        None
    };
    ($value:expr) => {
        Some($value)
    };
}

/// Declares the table: a struct with one field per metric, its constructor (registering each),
/// and its `/status` writer.
macro_rules! table {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $kind:ty { prom: $prom:literal $(, statsd: $statsd:literal)?, status: $status:literal $(, total: $total:literal)? }
    )*) => {
        /// Every metric of the server.
        pub(crate) struct Table {
            $( $(#[doc = $doc])+ pub(crate) $name: $kind, )*
        }

        impl Table {
            pub(crate) fn new(registry: &Registry) -> Table {
                Table {
                    $( $name: <$kind>::new(registry, Desc {
                        prom: $prom,
                        help: concat!($($doc),+).trim(),
                        statsd: optional!($($statsd)?),
                        status: $status,
                        status_total: optional!($($total)?),
                    }), )*
                }
            }

            pub(crate) fn write_status(&self, out: &mut Map<String, Value>) {
                $( self.$name.write_status(out); )*
            }
        }
    };
}

table! {
    /// Requests answered, by status class.
    requests: CounterBy<StatusClass> { prom: "requests_total", status: "requests", total: "requests_total" }
    /// Time from request to answer.
    request_duration: Timer { prom: "request_duration_seconds", statsd: "request_time", status: "request_time_ms" }
    /// Variants rendered and stored, by output format (regenerate's included; working copies not).
    renders: CounterBy<ImageFormat> { prom: "renders_total", statsd: "image_request", status: "renders_by_format", total: "renders" }
    /// Popular sizes rendered in the background (not in `renders`), and those that failed.
    background_renders: Counter { prom: "background_renders_total", statsd: "background_render", status: "background_renders" }
    /// Renders that failed.
    render_failures: Counter { prom: "render_failures_total", status: "render_failures" }
    /// Time a render took on its worker.
    render_duration: Timer { prom: "render_duration_seconds", statsd: "render_time", status: "render_time_ms" }
    /// Renders running now.
    renders_in_progress: Gauge { prom: "renders_in_progress", status: "renders_in_progress" }
    /// Of those, renders in the pool's lower lane (jobs, background renders, heavy clients' work).
    renders_lower_priority: Gauge { prom: "renders_lower_priority", status: "renders_lower_priority" }
    /// Renders waiting for a worker.
    render_queue_depth: Gauge { prom: "render_queue_depth", status: "render_queue_depth" }
    /// Render threads.
    render_workers: Gauge { prom: "render_workers", status: "render_workers" }
    /// New originals stored.
    uploads: Counter { prom: "uploads_total", statsd: "upload", status: "uploads" }
    /// Uploads of bytes stored already.
    duplicate_uploads: Counter { prom: "duplicate_uploads_total", statsd: "upload_duplicate", status: "duplicate_uploads" }
    /// Originals fetched from source URLs.
    originals_downloaded: Counter { prom: "originals_downloaded_total", statsd: "original_downloaded", status: "originals_downloaded" }
    /// Time a source download took.
    download_duration: Timer { prom: "download_duration_seconds", statsd: "download_time", status: "download_time_ms" }
    /// Source downloads running now.
    downloads_in_progress: Gauge { prom: "source_downloads_in_progress", status: "source_downloads_in_progress" }
    /// Originals missing, or whose source answered an error.
    originals_unavailable: Counter { prom: "originals_unavailable_total", statsd: "original_unavailable", status: "originals_unavailable" }
    /// Requests for images that failed.
    image_requests_failed: Counter { prom: "image_requests_failed_total", statsd: "image_request_fail", status: "image_requests_failed" }
    /// Requests refused because the render queue was full.
    overloaded: Counter { prom: "overloaded_total", statsd: "overloaded", status: "overloaded" }
    /// Answers by where they came from: memory, storage, or rendered for this request.
    lookups: CounterBy<Served> { prom: "cache_lookups_total", status: "cache" }
    /// Objects in the memory cache.
    cache_entries: Gauge { prom: "cache_entries", status: "cache.entries" }
    /// Bytes in the memory cache.
    cache_bytes: Gauge { prom: "cache_bytes", status: "cache.bytes" }
    /// Upload and source-download bytes held now (bounded by `upload_buffer_bytes`).
    upload_buffer_held: Gauge { prom: "upload_buffer_bytes", status: "buffers.upload_bytes" }
    /// Answer bytes not yet written to their clients (bounded by `response_buffer_bytes`).
    response_buffer_held: Gauge { prom: "response_buffer_bytes", status: "buffers.response_bytes" }
    /// Upload jobs this node holds or has queued: outputs still to render, or a notification to deliver.
    jobs_pending: Gauge { prom: "jobs_pending", status: "jobs.pending" }
    /// Upload jobs finished, by the event they ended in.
    jobs_done: CounterBy<JobEnd> { prom: "jobs_done_total", statsd: "job_done", status: "jobs.done", total: "jobs.done_total" }
    /// Notification attempts, by what became of them.
    notifications: CounterBy<Delivery> { prom: "notifications_total", statsd: "notification", status: "notifications" }
    /// Originals shown to a moderation hook, by verdict (unavailable: no verdict came).
    moderation: CounterBy<Moderated> { prom: "moderation_verdicts_total", statsd: "moderation", status: "moderation" }
    /// Focus detections run on originals (faces, else a saliency centre; DESIGN.md §14).
    focus_detections: Counter { prom: "focus_detections_total", statsd: "focus_detection", status: "focus.detections" }
    /// Faces those detections found.
    faces_found: Counter { prom: "faces_found_total", statsd: "faces_found", status: "focus.faces" }
    /// Time a focus detection took on its worker, decode included.
    focus_duration: Timer { prom: "focus_detection_duration_seconds", statsd: "focus_time", status: "focus.detection_time_ms" }
    /// Images deleted.
    deletes: Counter { prom: "deletes_total", statsd: "delete", status: "deletes" }
    /// Purge hook calls after deletes, by what became of them.
    purges: CounterBy<Delivery> { prom: "purges_total", statsd: "purge", status: "purges" }
    /// Images known in memory looked up in storage again after `delete_visibility_secs`, by
    /// outcome (changed: deleted or rewritten elsewhere, and forgotten here).
    reconfirms: CounterBy<Reconfirmed> { prom: "image_reconfirms_total", statsd: "image_reconfirm", status: "reconfirms" }
    /// Seconds since the process started.
    uptime: Gauge { prom: "uptime_seconds", status: "uptime_seconds" }
}
