//! Response headers shared by every answer: caching of content-addressed objects, validators,
//! Content-Length and nosniff.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, ETAG, HeaderMap, IF_NONE_MATCH};
use hyper::http::response::Builder;

use super::HttpResponse;

/// Hash URLs never change what they name.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Adds the headers every answer carries and the body (with its Content-Length).
pub(crate) fn finish(builder: Builder, body: Full<Bytes>) -> HttpResponse {
    use hyper::body::Body;
    let len = body.size_hint().exact().unwrap_or(0);
    builder
        .header("x-content-type-options", "nosniff")
        .header(CONTENT_LENGTH, len)
        .body(body)
        .expect("static headers are valid")
}

/// Headers of an immutable object answer (200 or 304).
pub(crate) fn immutable(builder: Builder, etag: &str) -> Builder {
    builder.header(CACHE_CONTROL, IMMUTABLE).header(ETAG, etag)
}

/// Whether `If-None-Match` names `etag` (or `*`); weak comparison, as RFC 9110 asks for it.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
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
        assert!(!not_modified(&h, "\"abc\""));
        h.insert(IF_NONE_MATCH, "\"x\", W/\"abc\"".parse().unwrap());
        assert!(not_modified(&h, "\"abc\""));
        h.insert(IF_NONE_MATCH, "*".parse().unwrap());
        assert!(not_modified(&h, "\"abc\""));
        h.insert(IF_NONE_MATCH, "\"abcd\"".parse().unwrap());
        assert!(!not_modified(&h, "\"abc\""));
    }
}
