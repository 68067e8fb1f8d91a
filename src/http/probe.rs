//! `GET`/`HEAD /status_check`: wanelo's health probe on the main port (DESIGN.md §16), for load
//! balancers set up for wanelo. `{"message":"OK"}` while the server serves; once it drains, 503
//! and `{"message":"Shutting down"}` (wanelo answered 501), as the status port's `/health` does.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use super::server::Draining;
use super::{HttpResponse, headers};

const OK: &str = r#"{"message":"OK"}"#;
const SHUTTING_DOWN: &str = r#"{"message":"Shutting down"}"#;

/// Put in a probe's extensions: an answer cheaper than its log line, logged only with `log_hits`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe;

/// The answer to `/status_check` (headers only for `HEAD`).
pub(crate) fn status_check(draining: &Draining, head: bool) -> HttpResponse {
    let (status, body) =
        if draining.is_draining() { (StatusCode::SERVICE_UNAVAILABLE, SHUTTING_DOWN) } else { (StatusCode::OK, OK) };
    let builder = Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .header(CACHE_CONTROL, "no-store")
        .extension(Probe);
    let sent = if head { Bytes::new() } else { Bytes::from_static(body.as_bytes()) };
    let mut response = headers::finish(builder, Full::new(sent));
    if head {
        response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn read(response: HttpResponse) -> (u16, Option<String>, String) {
        let status = response.status().as_u16();
        let length = response.headers().get(CONTENT_LENGTH).map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, length, String::from_utf8(body.to_vec()).unwrap())
    }

    /// wanelo's server/status_handler.go `ServeHTTP`: "OK" while serving, "Shutting down" once a
    /// shutdown signal came (there 501; here 503, as `/health` answers).
    #[tokio::test]
    async fn ok_while_serving_and_not_once_draining() {
        let draining = Draining::default();
        assert_eq!(read(status_check(&draining, false)).await, (200, Some("16".into()), OK.into()));
        assert_eq!(read(status_check(&draining, true)).await, (200, Some("16".into()), String::new()));
        draining.begin();
        assert_eq!(read(status_check(&draining, false)).await, (503, Some("27".into()), SHUTTING_DOWN.into()));
        assert_eq!(read(status_check(&draining, true)).await.0, 503);
    }
}
