//! The main port: routing, uploads, variant and info answers, wanelo's `/status_check`, errors
//! and the request's completion hook (its log line and its metrics).

mod clients;
mod conn;
mod error;
mod headers;
mod json_body;
mod probe;
mod reactors;
mod render;
pub mod router;
pub mod server;
mod upload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

pub use error::ApiError;

use crate::access::{Gate, Payer};
use crate::buffer::{ResponseBuffer, UploadBuffer};
use crate::config::{Config, Settings};
use crate::metrics::{ErrorCounts, Metrics, RequestOutcome};
use crate::model::Served;
use crate::service::ImageService;
use router::Route;

/// The response type of every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// What the main port serves with: the service, the metrics it records requests into, the
/// access checks, the upload buffer bodies are read into and the response buffer answers are
/// written from.
#[derive(Clone, Debug)]
pub struct App {
    /// Uploads and lookups.
    pub service: Arc<ImageService>,
    /// Where each request's outcome is recorded.
    pub metrics: Arc<Metrics>,
    /// The configuration.
    pub config: Arc<Config>,
    /// The settings of each namespace.
    pub settings: Arc<Settings>,
    /// Signatures, tokens, closed namespaces, rate limits.
    pub gate: Gate,
    /// The bound on body bytes held.
    pub buffer: UploadBuffer,
    /// The bound on answer bytes not yet written.
    pub responses: ResponseBuffer,
    /// Whether shutdown has begun (`/status_check` says so).
    pub draining: server::Draining,
}

/// The address a connection came from, put in each request's extensions by the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub std::net::SocketAddr);

/// The full error chain of a failed request, carried to the request log in the response's
/// extensions (building the response itself has no side effects).
#[derive(Clone, Debug)]
struct LoggedError(String);

/// Answers one request, then logs it and records its metrics: the one completion hook.
pub async fn handle(app: &App, req: Request<Incoming>) -> HttpResponse {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let (result, asked) = dispatch(app, req).await;
    let mut response = result.unwrap_or_else(ApiError::into_response);
    if response.extensions().get::<VariesByAccept>().is_some() {
        response.headers_mut().insert(hyper::header::VARY, hyper::header::HeaderValue::from_static("accept"));
    }
    let took = started.elapsed();
    app.metrics.request_done(&RequestOutcome {
        status: response.status().as_u16(),
        variant: asked.variant,
        served: response.extensions().get::<Served>().copied(),
        counts: response.extensions().get::<ErrorCounts>().copied().unwrap_or_default(),
        took,
    });
    if app.config.server.log_hits || !is_hit(&response) {
        log_request(&method, &path, &response, took);
    }
    response
}

/// What kind of request it was, for the completion hook.
#[derive(Clone, Copy, Default)]
struct Asked {
    /// It asked for a variant (counted in `image_request`).
    variant: bool,
}

/// Put in a response's extensions when the service said its answer, whatever its status,
/// depends on `Accept`: the completion hook adds `Vary: Accept`.
#[derive(Clone, Copy, Debug)]
struct VariesByAccept;

/// Routes, checks access and answers; also says what was asked.
async fn dispatch(app: &App, req: Request<Incoming>) -> (Result<HttpResponse, ApiError>, Asked) {
    let head = req.method() == Method::HEAD;
    let route = match router::route(req.method(), req.uri().path(), |ns| app.settings.of(ns).origin.is_some()) {
        Ok(route) => route,
        Err(e) => {
            let variant = matches!(e, ApiError::BadVariant(_));
            return (Err(e), Asked { variant });
        }
    };
    let asked = Asked { variant: matches!(route, Route::Variant(..)) };
    (answer(app, route, req, head).await, asked)
}

async fn answer(app: &App, route: Route, req: Request<Incoming>, head: bool) -> Result<HttpResponse, ApiError> {
    if let Some(ns) = route.namespace() {
        app.gate.namespace(ns).map_err(|_| ApiError::UnknownNamespace(ns.to_string()))?;
    }
    // Uploads check their token themselves, so that a refused body is still read (see upload).
    if let Route::Info(ns, _) | Route::Variant(ns, ..) = &route {
        app.gate.signature(ns, req.uri().path(), req.uri().query())?;
    }
    let payer = payer(app, &req);
    // The other routes' futures are boxed: a request future holds the largest of its arms, and
    // every poll of a variant hit would move that much memory around.
    match route {
        Route::Variant(ns, id, variant) => render::variant(app, &ns, &id, &variant, &req, head, &payer).await,
        Route::Upload(ns) => Box::pin(upload::upload(app, &ns, req, &payer)).await,
        Route::Info(ns, id) => Box::pin(render::info(app, &ns, &id, &req, head, &payer)).await,
        Route::Delete(ns, id) => Box::pin(upload::delete(app, &ns, &id, req, &payer)).await,
        Route::Focus(ns, id) => Box::pin(upload::focus(app, &ns, &id, req, &payer)).await,
        Route::Process(ns, id) => Box::pin(upload::process(app, &ns, &id, req, &payer)).await,
        Route::StatusCheck => Ok(probe::status_check(&app.draining, head)),
    }
}

/// Who a request's renders and uploads are charged to.
fn payer(app: &App, req: &Request<Incoming>) -> Payer {
    let peer = req.extensions().get::<Peer>().map_or([127, 0, 0, 1].into(), |p| p.0.ip());
    let forwarded = req.headers().get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok());
    app.gate.payer(peer, forwarded)
}

/// An answer found in memory or storage (the commonest and cheapest), or a load balancer's
/// probe: those whose log line would cost more than the answer (`log_hits` asks for them).
fn is_hit(response: &HttpResponse) -> bool {
    response.status().as_u16() < 400
        && (matches!(response.extensions().get::<Served>(), Some(Served::Memory | Served::Storage))
            || response.extensions().get::<probe::Probe>().is_some())
}

fn log_request(method: &Method, path: &str, response: &HttpResponse, took: Duration) {
    let status = response.status().as_u16();
    let bytes = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let cache = response.extensions().get::<Served>().map_or("-", |s| s.as_str());
    let ms = (took.as_secs_f64() * 10_000.0).round() / 10.0;
    match response.extensions().get::<LoggedError>() {
        Some(LoggedError(error)) if status >= 500 => {
            tracing::error!(%method, path, status, bytes, ms, cache, error = %error, "request")
        }
        Some(LoggedError(error)) => tracing::info!(%method, path, status, bytes, ms, cache, error = %error, "request"),
        None => tracing::info!(%method, path, status, bytes, ms, cache, "request"),
    }
}
