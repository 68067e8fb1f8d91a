//! The status port: `/` (a page of the figures), `/health`, `/status` (JSON), `/metrics`
//! (Prometheus text) and, with `--profile`, `/debug/pprof/*`. On its own listener, loopback by
//! default.

mod profile;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

pub use profile::activate_heap_profiling;

use crate::http::server::{ConnectionLimits, Draining};
use crate::metrics::Gauges;
use crate::service::Parts;

/// What the status port reports on: the handles the wiring shares with the service.
#[derive(Debug)]
pub struct StatusState {
    parts: Parts,
    started: Instant,
    /// Set once shutdown begins: `/health` then answers 503.
    draining: Draining,
    profile: bool,
}

impl StatusState {
    /// State for a server that has just started, which reports the shutdown `draining` is told of.
    pub fn new(parts: Parts, profile: bool, draining: Draining) -> StatusState {
        StatusState { parts, started: Instant::now(), draining, profile }
    }

    /// Hands the figures other components own to the metrics, then the metrics are current.
    async fn observe(&self) {
        let Parts { metrics, pool, cache, buffer, responses, .. } = &self.parts;
        cache.settle().await;
        metrics.observe(Gauges {
            renders_in_progress: pool.running(),
            renders_lower_priority: pool.running_lower(),
            render_queue_depth: pool.queued(),
            render_workers: pool.workers(),
            cache_entries: cache.entries(),
            cache_bytes: cache.bytes(),
            upload_buffer_bytes: buffer.held(),
            response_buffer_bytes: responses.held(),
            uptime_seconds: self.started.elapsed().as_secs(),
        });
    }

    fn status_json(&self) -> serde_json::Value {
        let mut status = self.parts.metrics.status_json();
        status.insert("shutting_down".to_owned(), self.draining.is_draining().into());
        status.insert("popular".to_owned(), self.parts.popular.status());
        serde_json::Value::Object(status)
    }
}

/// Serves the status port within `limits` until the task is dropped.
pub async fn run(listener: TcpListener, state: Arc<StatusState>, limits: ConnectionLimits) {
    let handler = move |req: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { answer(&state, &req).await }
    };
    crate::http::server::run(listener, handler, limits, std::future::pending(), std::time::Duration::ZERO, 0).await;
}

/// The page ops look at: `/status`, refreshed every second, as figures (no external assets).
const PAGE: &str = include_str!("page.html");

type Answer = (StatusCode, &'static str, Bytes);

fn text(status: StatusCode, body: impl Into<String>) -> Answer {
    (status, "text/plain; charset=utf-8", Bytes::from(body.into()))
}

async fn answer(state: &StatusState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if matches!(req.uri().path(), "/status" | "/metrics") {
        state.observe().await;
    }
    let (status, content_type, body) = match req.uri().path() {
        "/" => (StatusCode::OK, "text/html; charset=utf-8", Bytes::from_static(PAGE.as_bytes())),
        "/health" if state.draining.is_draining() => {
            text(StatusCode::SERVICE_UNAVAILABLE, format!("shutting down pid={}\n", std::process::id()))
        }
        "/health" => text(StatusCode::OK, format!("ok pid={}\n", std::process::id())),
        "/status" => (StatusCode::OK, "application/json", Bytes::from(state.status_json().to_string())),
        "/metrics" => {
            (StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", Bytes::from(state.parts.metrics.prometheus()))
        }
        path if path.starts_with("/debug/pprof/") && state.profile => profile::answer(path, req.uri().query()).await,
        path if path.starts_with("/debug/pprof/") => {
            text(StatusCode::NOT_FOUND, "profiling is off: start the server with --profile\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found: use /, /health, /status or /metrics\n"),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .expect("static headers are valid")
}
