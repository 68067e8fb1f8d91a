//! `GET`/`HEAD` of variants and info.json: immutable answers with validators.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use hyper::{Request, Response, StatusCode};

use super::{ApiError, HttpResponse, headers};
use crate::access::Payer;
use crate::model::{ImageId, Namespace, Variant};
use crate::service::{Answer, ImageService, Lifetime};

/// Info answers that list stored variants change as variants are rendered.
const SHORT_LIVED: &str = "public, max-age=60";

/// `?source=URL`: in an origin-pull namespace that allows it, where to fetch a missing original.
fn source_override(req: &Request<Incoming>) -> Option<String> {
    let query = req.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "source").map(|(_, v)| v.into_owned())
}

pub(crate) async fn variant(
    service: &ImageService,
    ns: &Namespace,
    id: &ImageId,
    variant: &Variant,
    req: &Request<Incoming>,
    head: bool,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    let source = source_override(req);
    let answer = service.variant(ns, id, variant, source.as_deref(), payer).await?;
    Ok(respond(answer, req.headers(), head))
}

pub(crate) async fn info(
    service: &ImageService,
    ns: &Namespace,
    id: &ImageId,
    req: &Request<Incoming>,
    head: bool,
) -> Result<HttpResponse, ApiError> {
    let source = source_override(req);
    let answer = service.info(ns, id, source.as_deref()).await?;
    Ok(respond(answer, req.headers(), head))
}

/// 200 with the bytes (none for HEAD, with the full Content-Length), or 304 on a matching
/// `If-None-Match`.
fn respond(answer: Answer, request: &HeaderMap, head: bool) -> HttpResponse {
    let mut response = if headers::not_modified(request, &answer.etag) {
        let builder = headers::immutable(Response::builder().status(StatusCode::NOT_MODIFIED), &answer.etag);
        let mut r = headers::finish(builder, Full::new(Bytes::new()));
        r.headers_mut().remove(CONTENT_LENGTH);
        r
    } else {
        let builder = headers::immutable(Response::builder().header(CONTENT_TYPE, answer.content_type), &answer.etag);
        if head {
            let mut r = headers::finish(builder, Full::new(Bytes::new()));
            r.headers_mut().insert(CONTENT_LENGTH, answer.bytes.len().into());
            r
        } else {
            headers::finish(builder, Full::new(answer.bytes))
        }
    };
    match answer.lifetime {
        Lifetime::Immutable => {}
        Lifetime::ShortLived => {
            response.headers_mut().insert(CACHE_CONTROL, SHORT_LIVED.parse().expect("a valid header"));
        }
    }
    response.extensions_mut().insert(answer.served);
    response
}
