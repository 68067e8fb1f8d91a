//! The status port: `/health`, `/status` (JSON), `/metrics` (Prometheus text) and, with
//! `--profile`, `/debug/pprof/*`. On its own listener, loopback by default.

mod profile;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

pub use profile::activate_heap_profiling;

use crate::metrics::Gauges;
use crate::service::ImageService;

/// What the status port reports on.
#[derive(Debug)]
pub struct StatusState {
    /// The service whose figures are shown.
    pub service: Arc<ImageService>,
    /// When the process started.
    pub started: Instant,
    /// Set once shutdown begins: `/health` then answers 503.
    pub shutting_down: AtomicBool,
    /// Whether the profiling endpoints are served.
    pub profile: bool,
}

impl StatusState {
    /// State for a service that has just started.
    pub fn new(service: Arc<ImageService>, profile: bool) -> StatusState {
        StatusState { service, started: Instant::now(), shutting_down: AtomicBool::new(false), profile }
    }

    fn gauges(&self) -> Gauges {
        let pool = self.service.pool();
        let cache = self.service.cache();
        Gauges {
            renders_in_progress: pool.running(),
            render_queue_depth: pool.queued(),
            render_workers: pool.workers(),
            cache_entries: cache.entries(),
            cache_bytes: cache.bytes(),
            uptime_seconds: self.started.elapsed().as_secs(),
            shutting_down: self.shutting_down.load(Ordering::Acquire),
        }
    }
}

/// Serves the status port until the task is dropped.
pub async fn run(listener: TcpListener, state: Arc<StatusState>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let state = Arc::clone(&state);
        let handler = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(answer(&state, &req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), handler).into_owned();
        tokio::spawn(conn);
    }
}

type Answer = (StatusCode, &'static str, Bytes);

fn text(status: StatusCode, body: impl Into<String>) -> Answer {
    (status, "text/plain; charset=utf-8", Bytes::from(body.into()))
}

async fn answer(state: &StatusState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if matches!(req.uri().path(), "/status" | "/metrics") {
        state.service.cache().settle().await;
    }
    let (status, content_type, body) = match req.uri().path() {
        "/health" if state.shutting_down.load(Ordering::Acquire) => {
            text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
        }
        "/health" => text(StatusCode::OK, "ok\n"),
        "/status" => (
            StatusCode::OK,
            "application/json",
            Bytes::from(state.service.metrics().status_json(state.gauges()).to_string()),
        ),
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            Bytes::from(state.service.metrics().prometheus(state.gauges())),
        ),
        path if path.starts_with("/debug/pprof/") && state.profile => profile::answer(path, req.uri().query()).await,
        path if path.starts_with("/debug/pprof/") => {
            text(StatusCode::NOT_FOUND, "profiling is off: start the server with --profile\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found: use /health, /status or /metrics\n"),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(body))
        .expect("static headers are valid")
}
