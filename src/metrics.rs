//! Metrics: counters and duration histograms of what the server does, read by the status port
//! (`/status` JSON and `/metrics` in Prometheus text), and the statsd counters of DESIGN.md §6.
//!
//! statsd packets leave through a bounded queue drained by cadence's own thread onto a
//! non-blocking UDP socket, so a slow, dead or unreachable statsd never delays or fails a request;
//! when the queue is full, metrics are dropped, not requests.

use std::fmt::Write as _;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use cadence::prelude::*;
use cadence::{QueuingMetricSink, StatsdClient, UdpMetricSink};

use crate::model::OutputFormat;

/// statsd names of DESIGN.md §6; they must not change.
pub mod names {
    /// A variant was rendered (and stored) because no copy existed; `.{format}` by output format.
    pub const IMAGE_REQUEST: &str = "image_request";
    /// A request failed to return an image.
    pub const IMAGE_REQUEST_FAIL: &str = "image_request_fail";
    /// An original was fetched from a source URL.
    pub const ORIGINAL_DOWNLOADED: &str = "original_downloaded";
    /// An original was missing, or its source answered an error.
    pub const ORIGINAL_UNAVAILABLE: &str = "original_unavailable";
    /// Milliseconds a render took (timer).
    pub const RENDER_TIME: &str = "render_time";
    /// Milliseconds a source download took (timer).
    pub const DOWNLOAD_TIME: &str = "download_time";
    /// Milliseconds a request took, start to answer (timer).
    pub const REQUEST_TIME: &str = "request_time";
    /// Answers from the memory cache.
    pub const CACHE_HIT_MEMORY: &str = "cache_hit.memory";
    /// Answers read from storage after missing the memory cache.
    pub const CACHE_HIT_STORAGE: &str = "cache_hit.storage";
    /// Answers that had to be rendered.
    pub const CACHE_MISS: &str = "cache_miss";
    /// New originals stored.
    pub const UPLOAD: &str = "upload";
    /// Uploads of bytes that were stored already.
    pub const UPLOAD_DUPLICATE: &str = "upload_duplicate";
    /// 503s because the render queue was full.
    pub const OVERLOADED: &str = "overloaded";
}

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// The memory cache (or a load another request was running).
    Memory,
    /// Storage.
    Storage,
    /// Rendered by this request.
    Rendered,
}

impl Served {
    /// Short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Memory => "memory",
            Served::Storage => "storage",
            Served::Rendered => "rendered",
        }
    }
}

/// A duration histogram with fixed buckets, in seconds (Prometheus' cumulative form on output).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

/// Bucket bounds, seconds: from a memory hit to a slow render of a large original.
const DURATION_BOUNDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

impl Histogram {
    fn new() -> Self {
        Histogram {
            bounds: DURATION_BOUNDS,
            buckets: DURATION_BOUNDS.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|&b| secs <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    fn write_prometheus(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, bucket) in self.bounds.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// What one finished request tells the metrics.
#[derive(Clone, Copy, Debug)]
pub struct RequestOutcome {
    /// HTTP status answered.
    pub status: u16,
    /// Whether the request asked for a variant (an image).
    pub variant: bool,
    /// Where the answer came from, when it was an object.
    pub served: Option<Served>,
    /// Whether it failed because an original was missing or its source failed.
    pub original_unavailable: bool,
    /// Whether it was refused because the render queue was full.
    pub overloaded: bool,
    /// Time from request to answer.
    pub took: Duration,
}

/// Counters, histograms and the statsd client.
#[derive(Debug)]
pub struct Metrics {
    statsd: Option<StatsdClient>,
    /// Variants rendered and stored.
    pub renders: AtomicU64,
    renders_by_format: [AtomicU64; 4],
    /// Renders that failed.
    pub render_failures: AtomicU64,
    /// Answers from the memory cache.
    pub memory_hits: AtomicU64,
    /// Lookups that missed the memory cache.
    pub memory_misses: AtomicU64,
    /// Memory misses found in storage.
    pub storage_hits: AtomicU64,
    /// New originals stored.
    pub uploads: AtomicU64,
    /// Uploads of bytes stored already.
    pub duplicate_uploads: AtomicU64,
    /// Originals fetched from source URLs.
    pub originals_downloaded: AtomicU64,
    /// Originals missing, or whose source answered an error.
    pub originals_unavailable: AtomicU64,
    /// Source downloads in progress.
    pub downloads_in_progress: AtomicU64,
    /// Requests for images that failed.
    pub image_requests_failed: AtomicU64,
    /// 503s for a full render queue.
    pub overloaded: AtomicU64,
    requests_by_class: [AtomicU64; 5],
    /// Request durations.
    pub request_duration: Histogram,
    /// Render durations.
    pub render_duration: Histogram,
}

fn inc(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn read(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Point-in-time figures owned by other components, for the status port.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    /// Renders running.
    pub renders_in_progress: usize,
    /// Renders waiting for a worker.
    pub render_queue_depth: usize,
    /// Render threads.
    pub render_workers: usize,
    /// Memory cache entries.
    pub cache_entries: u64,
    /// Memory cache bytes.
    pub cache_bytes: u64,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Whether shutdown has begun.
    pub shutting_down: bool,
}

impl Metrics {
    /// Metrics without statsd.
    pub fn new() -> Metrics {
        Metrics {
            statsd: None,
            renders: AtomicU64::new(0),
            renders_by_format: Default::default(),
            render_failures: AtomicU64::new(0),
            memory_hits: AtomicU64::new(0),
            memory_misses: AtomicU64::new(0),
            storage_hits: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
            duplicate_uploads: AtomicU64::new(0),
            originals_downloaded: AtomicU64::new(0),
            originals_unavailable: AtomicU64::new(0),
            downloads_in_progress: AtomicU64::new(0),
            image_requests_failed: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            requests_by_class: Default::default(),
            request_duration: Histogram::new(),
            render_duration: Histogram::new(),
        }
    }

    /// Metrics that also go to statsd at `addr` (`host:port`) under `prefix`. The address is
    /// resolved once, now; failing that is an error for the caller to report.
    pub fn with_statsd(addr: &str, prefix: &str) -> Result<Metrics, String> {
        let socket = UdpSocket::bind("0.0.0.0:0").map_err(|e| format!("statsd socket: {e}"))?;
        socket.set_nonblocking(true).map_err(|e| format!("statsd socket: {e}"))?;
        let udp = UdpMetricSink::from(addr, socket).map_err(|e| format!("statsd address {addr}: {e}"))?;
        let sink = QueuingMetricSink::with_capacity(udp, 64 * 1024);
        let client = StatsdClient::builder(prefix, sink)
            .with_error_handler(|e| tracing::debug!(error = %e, "statsd send failed"))
            .build();
        Ok(Metrics { statsd: Some(client), ..Metrics::new() })
    }

    fn count(&self, name: &str) {
        if let Some(c) = &self.statsd {
            let _ = c.incr(name);
        }
    }

    fn time(&self, name: &str, d: Duration) {
        if let Some(c) = &self.statsd {
            let _ = c.time(name, d.as_millis() as u64);
        }
    }

    /// A variant was rendered and stored.
    pub fn rendered(&self, format: OutputFormat, took: Duration) {
        inc(&self.renders);
        inc(&self.renders_by_format[format_index(format)]);
        self.render_duration.observe(took);
        self.count(names::IMAGE_REQUEST);
        if let Some(c) = &self.statsd {
            let _ = c.incr(&format!("{}.{}", names::IMAGE_REQUEST, format.name()));
        }
        self.time(names::RENDER_TIME, took);
    }

    /// A render failed.
    pub fn render_failed(&self) {
        inc(&self.render_failures);
    }

    /// An original was fetched from a source URL.
    pub fn original_downloaded(&self, took: Duration) {
        inc(&self.originals_downloaded);
        self.count(names::ORIGINAL_DOWNLOADED);
        self.time(names::DOWNLOAD_TIME, took);
    }

    /// An upload was stored (`new`) or was a duplicate.
    pub fn uploaded(&self, new: bool) {
        if new {
            inc(&self.uploads);
            self.count(names::UPLOAD);
        } else {
            inc(&self.duplicate_uploads);
            self.count(names::UPLOAD_DUPLICATE);
        }
    }

    /// A lookup missed the memory cache; `from_storage` if storage had it.
    pub fn memory_miss(&self, from_storage: bool) {
        inc(&self.memory_misses);
        if from_storage {
            inc(&self.storage_hits);
        }
    }

    /// A lookup was answered from memory.
    pub fn memory_hit(&self) {
        inc(&self.memory_hits);
    }

    /// The completion of one request: called once, from the request log.
    pub fn request_done(&self, o: RequestOutcome) {
        let class = usize::from(o.status / 100).clamp(1, 5) - 1;
        inc(&self.requests_by_class[class]);
        self.request_duration.observe(o.took);
        self.time(names::REQUEST_TIME, o.took);
        match o.served {
            Some(Served::Memory) => self.count(names::CACHE_HIT_MEMORY),
            Some(Served::Storage) => self.count(names::CACHE_HIT_STORAGE),
            Some(Served::Rendered) => self.count(names::CACHE_MISS),
            None => {}
        }
        if o.variant && o.status >= 400 {
            inc(&self.image_requests_failed);
            self.count(names::IMAGE_REQUEST_FAIL);
        }
        if o.original_unavailable {
            inc(&self.originals_unavailable);
            self.count(names::ORIGINAL_UNAVAILABLE);
        }
        if o.overloaded {
            inc(&self.overloaded);
            self.count(names::OVERLOADED);
        }
    }

    /// Requests answered with each status class, `1xx` to `5xx`.
    pub fn requests_by_class(&self) -> [(&'static str, u64); 5] {
        let c = &self.requests_by_class;
        [("1xx", read(&c[0])), ("2xx", read(&c[1])), ("3xx", read(&c[2])), ("4xx", read(&c[3])), ("5xx", read(&c[4]))]
    }

    /// The `/status` JSON.
    pub fn status_json(&self, g: Gauges) -> serde_json::Value {
        let classes: serde_json::Map<String, serde_json::Value> =
            self.requests_by_class().iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
        let by_format: serde_json::Map<String, serde_json::Value> = OutputFormat::ALL
            .iter()
            .map(|f| (f.name().to_owned(), read(&self.renders_by_format[format_index(*f)]).into()))
            .collect();
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_seconds": g.uptime_seconds,
            "shutting_down": g.shutting_down,
            "requests": classes,
            "requests_total": self.request_duration.count(),
            "renders": read(&self.renders),
            "renders_by_format": by_format,
            "render_failures": read(&self.render_failures),
            "renders_in_progress": g.renders_in_progress,
            "render_queue_depth": g.render_queue_depth,
            "render_workers": g.render_workers,
            "uploads": read(&self.uploads),
            "duplicate_uploads": read(&self.duplicate_uploads),
            "originals_downloaded": read(&self.originals_downloaded),
            "originals_unavailable": read(&self.originals_unavailable),
            "source_downloads_in_progress": read(&self.downloads_in_progress),
            "image_requests_failed": read(&self.image_requests_failed),
            "overloaded": read(&self.overloaded),
            "cache": {
                "entries": g.cache_entries,
                "bytes": g.cache_bytes,
                "memory_hits": read(&self.memory_hits),
                "memory_misses": read(&self.memory_misses),
                "storage_hits": read(&self.storage_hits),
            },
        })
    }

    /// `/metrics` in the Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self, g: Gauges) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
            let _ = writeln!(out, "# HELP image_server_{name} {help}\n# TYPE image_server_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "image_server_{name}{labels} {value}");
            }
        };
        let one = |v: u64| [(String::new(), v as f64)];
        let info = [(format!("{{version=\"{}\"}}", env!("CARGO_PKG_VERSION")), 1.0)];
        metric("info", "gauge", "Build information.", &info);
        metric("uptime_seconds", "gauge", "Seconds since the process started.", &one(g.uptime_seconds));
        let classes: Vec<(String, f64)> =
            self.requests_by_class().iter().map(|(c, v)| (format!("{{class=\"{c}\"}}"), *v as f64)).collect();
        metric("requests_total", "counter", "Requests answered, by status class.", &classes);
        let formats: Vec<(String, f64)> = OutputFormat::ALL
            .iter()
            .map(|f| (format!("{{format=\"{}\"}}", f.name()), read(&self.renders_by_format[format_index(*f)]) as f64))
            .collect();
        metric("renders_total", "counter", "Variants rendered and stored, by output format.", &formats);
        let single: [(&str, &str, &str, u64); 13] = [
            ("render_failures_total", "counter", "Renders that failed.", read(&self.render_failures)),
            ("renders_in_progress", "gauge", "Renders running now.", g.renders_in_progress as u64),
            ("render_queue_depth", "gauge", "Renders waiting for a worker.", g.render_queue_depth as u64),
            ("render_workers", "gauge", "Render threads.", g.render_workers as u64),
            ("uploads_total", "counter", "New originals stored.", read(&self.uploads)),
            ("duplicate_uploads_total", "counter", "Uploads of bytes stored already.", read(&self.duplicate_uploads)),
            (
                "originals_downloaded_total",
                "counter",
                "Originals fetched from source URLs.",
                read(&self.originals_downloaded),
            ),
            (
                "originals_unavailable_total",
                "counter",
                "Originals missing, or whose source answered an error.",
                read(&self.originals_unavailable),
            ),
            (
                "source_downloads_in_progress",
                "gauge",
                "Source downloads running now.",
                read(&self.downloads_in_progress),
            ),
            (
                "image_requests_failed_total",
                "counter",
                "Requests for images that failed.",
                read(&self.image_requests_failed),
            ),
            (
                "overloaded_total",
                "counter",
                "Requests refused because the render queue was full.",
                read(&self.overloaded),
            ),
            ("cache_entries", "gauge", "Objects in the memory cache.", g.cache_entries),
            ("cache_bytes", "gauge", "Bytes in the memory cache.", g.cache_bytes),
        ];
        for (name, kind, help, value) in single {
            metric(name, kind, help, &one(value));
        }
        let (memory_hits, storage_hits, memory_misses) =
            (read(&self.memory_hits), read(&self.storage_hits), read(&self.memory_misses));
        let lookups = [
            ("{outcome=\"memory_hit\"}".to_owned(), memory_hits as f64),
            ("{outcome=\"storage_hit\"}".to_owned(), storage_hits as f64),
            ("{outcome=\"miss\"}".to_owned(), memory_misses.saturating_sub(storage_hits) as f64),
        ];
        metric("cache_lookups_total", "counter", "Cache lookups by outcome.", &lookups);
        self.request_duration.write_prometheus(
            &mut out,
            "image_server_request_duration_seconds",
            "Time from request to answer.",
        );
        self.render_duration.write_prometheus(
            &mut out,
            "image_server_render_duration_seconds",
            "Time a render took on its worker.",
        );
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn format_index(format: OutputFormat) -> usize {
    OutputFormat::ALL.iter().position(|f| *f == format).expect("every format is in ALL")
}
