//! `GET`/`HEAD` of variants and info.json: immutable answers with validators, their bodies
//! counted in the response buffer until written (503 when it is full).

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{ACCEPT, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};

use super::{ApiError, App, HttpResponse, headers};
use crate::access::Payer;
use crate::buffer::{ResponseBuffer, ResponsesFull};
use crate::model::{ImageFormat, ImageId, Namespace, Served, Variant};
use crate::service::{Answer, Lifetime, VariantAnswer, VariantRequest};

/// Info answers that list stored variants change as variants are rendered.
const SHORT_LIVED: &str = "public, max-age=60";

/// `?source=URL`: in an origin-pull namespace that allows it, where to fetch a missing original.
fn source_override(req: &Request<Incoming>) -> Option<String> {
    let query = req.uri().query()?;
    url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "source").map(|(_, v)| v.into_owned())
}

pub(crate) async fn variant(
    app: &App,
    ns: &Namespace,
    id: &ImageId,
    variant: &Variant,
    req: &Request<Incoming>,
    head: bool,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    room_for_answers(&app.responses, payer)?;
    let source = source_override(req);
    // Accept is read only where it matters.
    let accepted = if app.settings.of(ns).negotiates() { accepted_formats(req.headers()) } else { Vec::new() };
    let request = VariantRequest { ns, id, variant, accepted: &accepted, source_override: source.as_deref(), payer };
    let VariantAnswer { answer, varies_by_accept } = app.service.variant(request).await;
    let mut response = match answer {
        Ok(answer) => respond(answer, req.headers(), head, &app.responses, payer)?,
        Err(e) => ApiError::from(e).into_response(),
    };
    if varies_by_accept {
        response.extensions_mut().insert(super::VariesByAccept);
    }
    Ok(response)
}

/// The image formats `Accept` names by their own type with a non-zero q; wildcards prove
/// nothing about a format, so `*/*` and `image/*` name none.
fn accepted_formats(headers: &HeaderMap) -> Vec<ImageFormat> {
    let ranges = headers.get_all(ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(','));
    ranges
        .filter_map(|range| {
            let mut parts = range.split(';');
            let mime = parts.next()?.trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                k.trim().eq_ignore_ascii_case("q") && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            });
            if refused { None } else { ImageFormat::from_mime(&mime) }
        })
        .collect()
}

pub(crate) async fn info(
    app: &App,
    ns: &Namespace,
    id: &ImageId,
    req: &Request<Incoming>,
    head: bool,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    room_for_answers(&app.responses, payer)?;
    let source = source_override(req);
    let answer = app.service.info(ns, id, source.as_deref()).await?;
    respond(answer, req.headers(), head, &app.responses, payer)
}

/// Refuses a request before anything is looked up when the response buffer, or the client's
/// share of it, is full.
fn room_for_answers(responses: &ResponseBuffer, payer: &Payer) -> Result<(), ResponsesFull> {
    responses.is_full(payer.client())
}

/// 200 with the bytes (none for HEAD, with the full Content-Length), or 304 on a matching
/// `If-None-Match`; a large answer found already charged to the payer (429 past its rate); the
/// bytes held in `responses` (and the client's share) until written, or 503
/// past it. Built header by header from values made once: this is every hit's path.
fn respond(
    answer: Answer,
    request: &HeaderMap,
    head: bool,
    responses: &ResponseBuffer,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    let not_modified = headers::not_modified(request, &answer.etag);
    let length = answer.bytes.len();
    let sent = !head && !not_modified;
    // A render was charged for already; a large answer found already is charged for its bytes.
    if sent && answer.served != Served::Rendered {
        payer.charge_answer(length as u64)?;
    }
    let body = if sent { responses.hold(answer.bytes, payer.client())? } else { Bytes::new() };
    let mut response = headers::direct(body);
    if not_modified {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response.headers_mut().remove(CONTENT_LENGTH);
    } else {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
        if head {
            response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(length));
        }
    }
    headers::immutable(response.headers_mut(), &answer.etag);
    if answer.lifetime == Lifetime::ShortLived {
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static(SHORT_LIVED));
    }
    response.extensions_mut().insert(answer.served);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(value: &str) -> Vec<ImageFormat> {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, value.parse().unwrap());
        accepted_formats(&h)
    }

    #[test]
    fn accept_names_formats_only_by_their_own_type() {
        // Chromium's <img> Accept.
        let chromium = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        assert_eq!(accepted(chromium), [ImageFormat::Avif, ImageFormat::Webp]);
        assert_eq!(accepted("image/webp"), [ImageFormat::Webp]);
        assert_eq!(accepted("*/*"), []);
        assert_eq!(accepted("image/*"), []);
        assert_eq!(accepted("IMAGE/AVIF ; q=0.9, image/webp;q=0"), [ImageFormat::Avif]);
        assert_eq!(accepted("image/jpeg"), [ImageFormat::Jpeg]);
    }
}
