//! The main port: routing, uploads, variant and info answers, errors and the request log.

mod error;
mod headers;
mod render;
mod router;
pub mod server;
mod upload;

use std::time::Instant;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

pub use error::ApiError;

use crate::service::{ImageService, Served};
use router::Route;

/// The response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// The full error chain of a failed request, carried to the request log in the response's
/// extensions (building the response itself has no side effects).
#[derive(Clone, Debug)]
struct LoggedError(String);

/// Answers one request and writes its log line.
pub async fn handle(service: &ImageService, req: Request<Incoming>) -> HttpResponse {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let response = match dispatch(service, req).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    };
    log_request(&method, &path, &response, started);
    response
}

async fn dispatch(service: &ImageService, req: Request<Incoming>) -> Result<HttpResponse, ApiError> {
    let head = req.method() == Method::HEAD;
    match router::route(req.method(), req.uri().path())? {
        Route::Upload(ns) => upload::upload(service, &ns, req).await,
        Route::Info(ns, hash) => render::info(service, &ns, &hash, req.headers(), head).await,
        Route::Variant(ns, hash, variant) => render::variant(service, &ns, &hash, &variant, req.headers(), head).await,
    }
}

fn log_request(method: &Method, path: &str, response: &HttpResponse, started: Instant) {
    let status = response.status().as_u16();
    let bytes = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let cache = response.extensions().get::<Served>().map_or("-", |s| s.as_str());
    let ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    match response.extensions().get::<LoggedError>() {
        Some(LoggedError(error)) if status >= 500 => {
            tracing::error!(%method, path, status, bytes, ms, cache, error = %error, "request")
        }
        Some(LoggedError(error)) => {
            tracing::info!(%method, path, status, bytes, ms, cache, error = %error, "request")
        }
        None => tracing::info!(%method, path, status, bytes, ms, cache, "request"),
    }
}
