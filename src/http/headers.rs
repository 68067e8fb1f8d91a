//! Response headers shared by every answer: caching of content-addressed objects, validators,
//! Content-Length and nosniff.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, ETAG, HeaderMap, HeaderName, HeaderValue, IF_NONE_MATCH};
use hyper::http::response::Builder;

use super::HttpResponse;

/// Hash URLs never change what they name.
pub(crate) const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");

const NOSNIFF: (HeaderName, HeaderValue) =
    (HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff"));

/// Adds the headers every answer carries and the body (with its Content-Length).
pub(crate) fn finish(builder: Builder, body: Full<Bytes>) -> HttpResponse {
    let response = builder.body(body).expect("static headers are valid");
    with_length(response)
}

/// A response with the headers every answer carries, built directly: the answers of hits.
pub(crate) fn direct(body: Bytes) -> HttpResponse {
    with_length(HttpResponse::new(Full::new(body)))
}

fn with_length(mut response: HttpResponse) -> HttpResponse {
    use hyper::body::Body;
    let len = response.body().size_hint().exact().unwrap_or(0);
    let headers = response.headers_mut();
    headers.insert(NOSNIFF.0, NOSNIFF.1);
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    response
}

/// Headers of an immutable object answer (200 or 304): its validator, and caching for ever.
pub(crate) fn immutable(headers: &mut HeaderMap, etag: &Bytes) {
    headers.insert(CACHE_CONTROL, IMMUTABLE);
    match HeaderValue::from_maybe_shared(etag.clone()) {
        Ok(value) => {
            headers.insert(ETAG, value);
        }
        Err(e) => tracing::error!(error = %e, "an ETag that is not a header value"),
    }
}

/// Whether `If-None-Match` names `etag` (or `*`); weak comparison, as RFC 9110 asks for it.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &[u8]) -> bool {
    if !headers.contains_key(IF_NONE_MATCH) {
        return false;
    }
    let Ok(etag) = std::str::from_utf8(etag) else { return false };
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || bare(tag) == bare(etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, b"\"abc\""));
        h.insert(IF_NONE_MATCH, "\"x\", W/\"abc\"".parse().unwrap());
        assert!(not_modified(&h, b"\"abc\""));
        h.insert(IF_NONE_MATCH, "*".parse().unwrap());
        assert!(not_modified(&h, b"\"abc\""));
        h.insert(IF_NONE_MATCH, "\"abcd\"".parse().unwrap());
        assert!(!not_modified(&h, b"\"abc\""));
    }
}
