//! `GET`/`HEAD` of variants and info.json: immutable answers with validators.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use hyper::{Request, Response, StatusCode};

use super::{ApiError, HttpResponse, headers};
use crate::cache::CachedObject;
use crate::model::{ImageId, Namespace, Variant};
use crate::service::{ImageService, Served};

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
) -> Result<HttpResponse, ApiError> {
    let source = source_override(req);
    let (obj, served) = service.variant(ns, id, variant, source.as_deref()).await?;
    Ok(answer(&obj, variant.ext.format().mime(), served, req.headers(), head, true))
}

pub(crate) async fn info(
    service: &ImageService,
    ns: &Namespace,
    id: &ImageId,
    req: &Request<Incoming>,
    head: bool,
) -> Result<HttpResponse, ApiError> {
    let source = source_override(req);
    let (obj, served, immutable) = service.info(ns, id, source.as_deref()).await?;
    Ok(answer(&obj, "application/json", served, req.headers(), head, immutable))
}

/// 200 with the bytes (none for HEAD, with the full Content-Length), or 304 on a matching
/// `If-None-Match`.
fn answer(
    obj: &CachedObject,
    content_type: &str,
    served: Served,
    request: &HeaderMap,
    head: bool,
    immutable: bool,
) -> HttpResponse {
    let mut response = if headers::not_modified(request, &obj.etag) {
        let builder = headers::immutable(Response::builder().status(StatusCode::NOT_MODIFIED), &obj.etag);
        let mut r = headers::finish(builder, Full::new(Bytes::new()));
        r.headers_mut().remove(CONTENT_LENGTH);
        r
    } else {
        let builder = headers::immutable(Response::builder().header(CONTENT_TYPE, content_type), &obj.etag);
        if head {
            let mut r = headers::finish(builder, Full::new(Bytes::new()));
            r.headers_mut().insert(CONTENT_LENGTH, obj.bytes.len().into());
            r
        } else {
            headers::finish(builder, Full::new(obj.bytes.clone()))
        }
    };
    if !immutable {
        response.headers_mut().insert(CACHE_CONTROL, SHORT_LIVED.parse().expect("a valid header"));
    }
    response.extensions_mut().insert(served);
    response
}
