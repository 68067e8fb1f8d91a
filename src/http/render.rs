//! `GET`/`HEAD` of variants and info.json: immutable answers with validators.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use hyper::{Response, StatusCode};

use super::{ApiError, HttpResponse, headers};
use crate::cache::CachedObject;
use crate::model::{ImageHash, Namespace, Variant};
use crate::service::{ImageService, Served};

pub(crate) async fn variant(
    service: &ImageService,
    ns: &Namespace,
    hash: &ImageHash,
    variant: &Variant,
    request: &HeaderMap,
    head: bool,
) -> Result<HttpResponse, ApiError> {
    let (obj, served) = service.variant(ns, hash, variant).await?;
    Ok(answer(&obj, variant.ext.format().mime(), served, request, head))
}

pub(crate) async fn info(
    service: &ImageService,
    ns: &Namespace,
    hash: &ImageHash,
    request: &HeaderMap,
    head: bool,
) -> Result<HttpResponse, ApiError> {
    let (obj, served) = service.info(ns, hash).await?;
    Ok(answer(&obj, "application/json", served, request, head))
}

/// 200 with the bytes (none for HEAD, with the full Content-Length), or 304 on a matching
/// `If-None-Match`.
fn answer(obj: &CachedObject, content_type: &str, served: Served, request: &HeaderMap, head: bool) -> HttpResponse {
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
    response.extensions_mut().insert(served);
    response
}
