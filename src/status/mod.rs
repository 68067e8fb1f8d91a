//! The status port: `/health` and `/status` (JSON figures) for operators, on its own listener.

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

use crate::service::ImageService;
use crate::stats::Stats;

/// What the status port reports on.
#[derive(Debug)]
pub struct StatusState {
    /// The service whose figures are shown.
    pub service: Arc<ImageService>,
    /// When the process started.
    pub started: Instant,
    /// Set once shutdown begins: `/health` then answers 503.
    pub shutting_down: AtomicBool,
}

/// Serves the status port until the task is dropped.
pub async fn run(listener: TcpListener, state: Arc<StatusState>) {
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        let handler = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(answer(&state, &req)) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), handler).into_owned();
        tokio::spawn(conn);
    }
}

fn answer(state: &StatusState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/health" if state.shutting_down.load(Ordering::Acquire) => {
            (StatusCode::SERVICE_UNAVAILABLE, "text/plain", "shutting down\n".to_owned())
        }
        "/health" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/status" => (StatusCode::OK, "application/json", status_json(state).to_string()),
        _ => (StatusCode::NOT_FOUND, "application/json", r#"{"error":"not found: use /health or /status"}"#.to_owned()),
    };
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("static headers are valid")
}

fn status_json(state: &StatusState) -> serde_json::Value {
    let s = state.service.stats();
    let pool = state.service.pool();
    let cache = state.service.cache();
    serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "renders": Stats::read(&s.renders),
        "render_failures": Stats::read(&s.render_failures),
        "renders_in_progress": pool.running(),
        "render_queue_depth": pool.queued(),
        "render_workers": pool.workers(),
        "uploads": Stats::read(&s.uploads),
        "duplicate_uploads": Stats::read(&s.duplicate_uploads),
        "originals_downloaded": Stats::read(&s.originals_downloaded),
        "source_downloads_in_progress": Stats::read(&s.downloads_in_progress),
        "cache": {
            "entries": cache.entries(),
            "bytes": cache.bytes(),
            "memory_hits": Stats::read(&s.memory_hits),
            "memory_misses": Stats::read(&s.memory_misses),
            "storage_hits": Stats::read(&s.storage_hits),
        },
    })
}
