//! `POST /{ns}`: raw bytes, `?source=URL`, or JSON with base64; `?outputs=` rendered before the
//! answer (201 for a new image, 200 when the bytes were stored already), or with `?wait=false`
//! after it (202, the outputs `"pending"`); `?focus=X,Y` stored instead of a detected focus.
//! Also `DELETE /{ns}/{partitioned-hash}`, `PUT /{ns}/{partitioned-hash}/focus` and wanelo's
//! `POST /{ns}/{partitioned-hash}/process?outputs=` (an upload's outputs, of a stored image), which
//! take the same token (always one for a delete, unless `allow_open_delete`) and are rate-limited
//! as uploads are.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use super::{ApiError, App, HttpResponse, headers};
use crate::access::Payer;
use crate::buffer::{CollectError, Held};
use crate::model::{ImageId, Namespace, Variant};
use crate::pipeline::FocusPoint;
use crate::service::{Ingested, Outputs};

/// An upload's query: `?source=`, `?outputs=`, `?wait=` and `?focus=` (others are ignored).
struct UploadQuery {
    source: Option<String>,
    outputs: Vec<Variant>,
    when: Outputs,
    focus: Option<FocusPoint>,
}

impl UploadQuery {
    fn parse(query: Option<&str>) -> Result<UploadQuery, ApiError> {
        let mut parsed = UploadQuery { source: None, outputs: Vec::new(), when: Outputs::BeforeAnswer, focus: None };
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match name.as_ref() {
                "source" => parsed.source = Some(value.into_owned()),
                "outputs" => {
                    parsed.outputs = Variant::parse_list(&value)
                        .map_err(|(name, e)| ApiError::BadRequest(format!("bad outputs entry '{name}': {e}")))?;
                }
                "wait" => {
                    parsed.when = match value.as_ref() {
                        "true" | "1" => Outputs::BeforeAnswer,
                        "false" | "0" => Outputs::InBackground,
                        other => {
                            return Err(ApiError::BadRequest(format!("wait must be true or false, not '{other}'")));
                        }
                    }
                }
                "focus" => parsed.focus = Some(value.parse::<FocusPoint>().map_err(ApiError::BadRequest)?),
                _ => {}
            }
        }
        Ok(parsed)
    }
}

pub(crate) async fn upload(
    app: &App,
    ns: &Namespace,
    req: Request<Incoming>,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    let service = &app.service;
    let is_json = req.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        ct.split(';').next().is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
    });
    // A bad query is refused as a bad token is: after the body is drained, so that the client
    // reads its 400 rather than a reset.
    let query = UploadQuery::parse(req.uri().query())
        .and_then(|query| admitted(app, ns, &req, query.outputs.len(), payer).map(|()| query));
    let UploadQuery { source, outputs, when, focus } = match query {
        Ok(query) => query,
        Err(refused) => {
            discard_body(app, req).await;
            return Err(refused);
        }
    };
    let body = read_body(app, req).await?;

    let ingested = match source {
        Some(url) if body.bytes.is_empty() => service.ingest_source(ns, &url, &outputs, when, payer, focus).await?,
        Some(_) => {
            return Err(ApiError::BadRequest("send either a body or ?source=URL, not both".to_owned()));
        }
        None if is_json => {
            let image = body.rewrite(super::json_body::decode_in_place).map_err(ApiError::BadRequest)?;
            service.ingest(ns, image.bytes.clone(), &outputs, when, payer, focus).await?
        }
        None => service.ingest(ns, body.bytes.clone(), &outputs, when, payer, focus).await?,
    };
    Ok(answered(&ingested, when))
}

/// What an upload (or `process`) passes before its body is read: its token, its count of outputs,
/// and one unit of work (the rest of what it costs is charged once its header is known).
fn admitted(app: &App, ns: &Namespace, req: &Request<Incoming>, outputs: usize, payer: &Payer) -> Result<(), ApiError> {
    app.gate.token(ns, req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))?;
    app.service.check_output_count(ns, outputs)?;
    payer.charge(1)?;
    Ok(())
}

/// An upload's answer: 201 for a new image, 200 for one stored already, 202 when its outputs
/// render after the answer; the image's info.
fn answered(ingested: &Ingested, when: Outputs) -> HttpResponse {
    let status = match (when, ingested.created) {
        (Outputs::InBackground, _) => StatusCode::ACCEPTED,
        (Outputs::BeforeAnswer, true) => StatusCode::CREATED,
        (Outputs::BeforeAnswer, false) => StatusCode::OK,
    };
    let json = serde_json::to_vec(&ingested.info).expect("info serialises");
    let builder = Response::builder().status(status).header(CONTENT_TYPE, "application/json");
    headers::finish(builder, Full::new(Bytes::from(json)))
}

/// `POST /{ns}/{partitioned-hash}/process?outputs=...` (wanelo's): what an upload of the stored
/// image with that query would render, behind the same token, output limit and charges, answered
/// as that upload (200, or 202 with `?wait=false`); 404 when the image is not stored. A body, if
/// any, is read and dropped.
pub(crate) async fn process(
    app: &App,
    ns: &Namespace,
    id: &ImageId,
    req: Request<Incoming>,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    let query = UploadQuery::parse(req.uri().query()).and_then(|query| {
        if query.source.is_some() || query.focus.is_some() {
            return Err(ApiError::BadRequest(
                "process renders outputs of a stored image: it takes ?outputs= and ?wait=, not ?source= or ?focus="
                    .to_owned(),
            ));
        }
        admitted(app, ns, &req, query.outputs.len(), payer).map(|()| query)
    });
    // Whatever was sent is read and dropped, so that the client reads the answer, not a reset.
    discard_body(app, req).await;
    let UploadQuery { outputs, when, .. } = query?;
    let ingested = app.service.process(ns, id, &outputs, when, payer).await?;
    Ok(answered(&ingested, when))
}

/// `DELETE /{ns}/{id}`: 204, or 404 when nothing of the image is stored.
pub(crate) async fn delete(
    app: &App,
    ns: &Namespace,
    id: &ImageId,
    req: Request<Incoming>,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    app.gate.delete_token(ns, req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))?;
    payer.charge(1)?;
    drop(req);
    if !app.service.delete(ns, id).await? {
        return Err(ApiError::Service(crate::service::ServiceError::ImageNotFound));
    }
    Ok(headers::finish(Response::builder().status(StatusCode::NO_CONTENT), Full::new(Bytes::new())))
}

/// The body of `PUT .../focus`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FocusBody {
    x: f64,
    y: f64,
}

/// The most of a `PUT .../focus` body read: `{"x": 0.4213, "y": 0.1799}` is 28 bytes.
const FOCUS_BODY_BYTES: usize = 1024;

/// `PUT /{ns}/{partitioned-hash}/focus` with `{"x": X, "y": Y}` (fractions of the upright image):
/// the focus stored, the image's cover crops removed; 200 with its info, 404 when absent.
pub(crate) async fn focus(
    app: &App,
    ns: &Namespace,
    id: &ImageId,
    req: Request<Incoming>,
    payer: &Payer,
) -> Result<HttpResponse, ApiError> {
    app.gate.token(ns, req.headers().get(AUTHORIZATION).map(|v| v.as_bytes()))?;
    payer.charge(1)?;
    let timeout = app.config.server.body_read_timeout_secs;
    let read = Limited::new(req.into_body(), FOCUS_BODY_BYTES).collect();
    let body = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout(timeout.as_secs()))?
        .map_err(|e| match e.downcast_ref::<http_body_util::LengthLimitError>() {
            Some(_) => ApiError::PayloadTooLarge(FOCUS_BODY_BYTES as u64),
            None => ApiError::BadRequest(format!("could not read the request body: {e}")),
        })?
        .to_bytes();
    let bad = |why: String| {
        ApiError::BadRequest(format!(
            "focus must be JSON {{\"x\": X, \"y\": Y}}, X and Y fractions between 0 and 1: {why}"
        ))
    };
    let FocusBody { x, y } = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    let point = FocusPoint::new(x, y).ok_or_else(|| bad(format!("{x}, {y} is outside the image")))?;
    let info = app.service.set_focus(ns, id, point).await?;
    let json = serde_json::to_vec(&info).expect("info serialises");
    let builder = Response::builder().status(StatusCode::OK).header(CONTENT_TYPE, "application/json");
    Ok(headers::finish(builder, Full::new(Bytes::from(json))))
}

/// Reads the body into the upload buffer within `body_read_timeout_secs`, refusing it as soon as
/// it passes `max_upload_bytes` (or says it will). Past the buffer the rest of the body is read
/// and dropped before the 503, so that the client, still sending, reads the answer rather than
/// a reset connection.
async fn read_body(app: &App, req: Request<Incoming>) -> Result<Held, ApiError> {
    let max = app.config.limits.max_upload_bytes.0;
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(ApiError::PayloadTooLarge(max));
    }
    let expected = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut collector = match app.buffer.collector(expected, max) {
        Ok(collector) => collector,
        Err(full) => {
            discard_body(app, req).await;
            return Err(full.into());
        }
    };
    let mut body = req.into_body();
    let timeout = app.config.server.body_read_timeout_secs;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
            if let Some(chunk) = frame.data_ref() {
                match collector.push(chunk) {
                    Ok(()) => {}
                    Err(CollectError::TooLarge(max)) => return Err(ApiError::PayloadTooLarge(max)),
                    Err(CollectError::Full(full)) => {
                        drop(collector);
                        drain(&mut body, max).await;
                        return Err(full.into());
                    }
                }
            }
        }
        Ok::<_, ApiError>(collector.finish())
    };
    tokio::time::timeout(timeout, read).await.map_err(|_| ApiError::BodyTimeout(timeout.as_secs()))?
}

/// Reads and drops the body of a refused upload (at most `max_upload_bytes`, within the body
/// timeout), holding none of it.
async fn discard_body(app: &App, req: Request<Incoming>) {
    let mut body = req.into_body();
    let timeout = app.config.server.body_read_timeout_secs;
    let _ = tokio::time::timeout(timeout, drain(&mut body, app.config.limits.max_upload_bytes.0)).await;
}

async fn drain(body: &mut Incoming, max: u64) {
    let mut seen = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        seen += frame.data_ref().map_or(0, |d| d.len() as u64);
        if seen > max {
            return;
        }
    }
}
