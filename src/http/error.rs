//! `ApiError` and the one classification of every failure the main port answers: its status
//! (DESIGN.md §2), the message the client is told, its `Retry-After`, and what the metrics count
//! it as. One exhaustive match per error type, none with a wildcard arm, so that a new kind of
//! failure does not compile until it has been classified.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};

use super::{HttpResponse, LoggedError, headers};
use crate::access::{RateLimited, SignatureError, TokenError};
use crate::buffer::{BufferFull, ResponsesFull};
use crate::config::VariantRefused;
use crate::metrics::ErrorCounts;
use crate::model::{OriginPathError, VariantError};
use crate::pipeline::RenderError;
use crate::service::ServiceError;
use crate::source::FetchError;
use crate::store::StoreError;

/// A request that cannot be answered with the image or JSON it asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The path is outside the URL grammar.
    #[error("not found: the path is not an upload, info or variant URL")]
    NotFound,
    /// A known path with the wrong method; carries the allowed ones.
    #[error("method not allowed: use {0}")]
    MethodNotAllowed(&'static str),
    /// A variant name inside the grammar with a bad value.
    #[error("{0}")]
    BadVariant(VariantError),
    /// An origin path that would reach into another image's keys.
    #[error("{0}")]
    BadOriginPath(OriginPathError),
    /// A malformed upload (query, JSON, base64).
    #[error("{0}")]
    BadRequest(String),
    /// An upload body above `max_upload_bytes`.
    #[error("upload too large: the limit is {0} bytes")]
    PayloadTooLarge(u64),
    /// A namespace absent from the configuration, with `allow_unknown_namespaces` off.
    #[error("not found: there is no namespace '{0}'")]
    UnknownNamespace(String),
    /// A URL that must be signed, without a valid signature.
    #[error(transparent)]
    Forbidden(#[from] SignatureError),
    /// An upload or delete without a valid token.
    #[error(transparent)]
    Unauthorized(#[from] TokenError),
    /// Too many renders or uploads from this client.
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// The upload buffer is full.
    #[error(transparent)]
    BufferFull(#[from] BufferFull),
    /// The response buffer is full.
    #[error(transparent)]
    ResponsesFull(#[from] ResponsesFull),
    /// The body did not arrive within `body_read_timeout_secs`.
    #[error("the request body did not arrive within {0} s")]
    BodyTimeout(u64),
    /// The service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

/// How a failure is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Class {
    /// The status code.
    pub(crate) status: StatusCode,
    /// A fixed public message instead of the error's own text (which may hold internals).
    pub(crate) fixed_message: Option<&'static str>,
    /// Seconds a client should wait before retrying.
    pub(crate) retry_after: Option<u32>,
    /// What the metrics count it as.
    pub(crate) counts: ErrorCounts,
}

impl Class {
    /// A status whose message is the error's own text, counted as nothing more.
    const fn status(status: StatusCode) -> Class {
        Class {
            status,
            fixed_message: None,
            retry_after: None,
            counts: ErrorCounts { original_unavailable: false, overloaded: false },
        }
    }

    const fn original_unavailable(self) -> Class {
        Class { counts: ErrorCounts { original_unavailable: true, ..self.counts }, ..self }
    }

    const fn internal() -> Class {
        Class {
            fixed_message: Some("internal error while rendering this image"),
            ..Class::status(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

impl ApiError {
    /// The classification of this failure.
    pub(crate) fn class(&self) -> Class {
        match self {
            ApiError::NotFound => Class::status(StatusCode::NOT_FOUND),
            ApiError::MethodNotAllowed(_) => Class::status(StatusCode::METHOD_NOT_ALLOWED),
            ApiError::BadVariant(e) => variant(e),
            ApiError::BadOriginPath(e) => origin_path(e),
            ApiError::BadRequest(_) => Class::status(StatusCode::BAD_REQUEST),
            ApiError::PayloadTooLarge(_) => Class::status(StatusCode::PAYLOAD_TOO_LARGE),
            ApiError::UnknownNamespace(_) => Class::status(StatusCode::NOT_FOUND),
            ApiError::Forbidden(_) => Class::status(StatusCode::FORBIDDEN),
            ApiError::Unauthorized(e) => token(e),
            ApiError::RateLimited(e) => rate_limited(e),
            ApiError::BufferFull(e) => buffer_full(e),
            ApiError::ResponsesFull(_) => {
                Class { retry_after: Some(2), ..Class::status(StatusCode::SERVICE_UNAVAILABLE) }
            }
            ApiError::BodyTimeout(_) => Class::status(StatusCode::REQUEST_TIMEOUT),
            ApiError::Service(e) => service(e),
        }
    }

    /// The JSON error answer. Building it has no side effects: the full error chain and what
    /// the failure counts as ride in the response's extensions, for the completion hook.
    pub fn into_response(self) -> HttpResponse {
        let class = self.class();
        let message = class.fixed_message.map_or_else(|| self.to_string(), str::to_owned);
        let body = serde_json::json!({ "error": message }).to_string();
        let mut builder = Response::builder()
            .status(class.status)
            .header(CONTENT_TYPE, "application/json")
            .header(CACHE_CONTROL, "no-store");
        if let ApiError::MethodNotAllowed(allow) = &self {
            builder = builder.header(ALLOW, *allow);
        }
        if let ApiError::Unauthorized(TokenError::Missing | TokenError::Wrong) = &self {
            builder = builder.header(WWW_AUTHENTICATE, "Bearer realm=\"image-server\"");
        }
        if let Some(seconds) = class.retry_after {
            builder = builder.header(RETRY_AFTER, seconds);
        }
        let mut response = headers::finish(builder, Full::new(Bytes::from(body)));
        response.extensions_mut().insert(LoggedError(crate::report::chain(&self)));
        response.extensions_mut().insert(class.counts);
        response
    }
}

fn variant(e: &VariantError) -> Class {
    match e {
        VariantError::Malformed => Class::status(StatusCode::NOT_FOUND),
        VariantError::QualityOutOfRange(_) | VariantError::ZeroSize | VariantError::UnknownExtension(_) => {
            Class::status(StatusCode::BAD_REQUEST)
        }
    }
}

fn origin_path(e: &OriginPathError) -> Class {
    match e {
        OriginPathError::Malformed => Class::status(StatusCode::NOT_FOUND),
        OriginPathError::ReservedSegment(_) | OriginPathError::UnderAHash => Class::status(StatusCode::BAD_REQUEST),
    }
}

fn service(e: &ServiceError) -> Class {
    match e {
        ServiceError::ImageNotFound | ServiceError::OriginNotFound => {
            Class::status(StatusCode::NOT_FOUND).original_unavailable()
        }
        ServiceError::EmptyUpload | ServiceError::SourceOverrideNotAllowed => Class::status(StatusCode::BAD_REQUEST),
        ServiceError::Refused(
            VariantRefused::Extension(_) | VariantRefused::NotListed(_) | VariantRefused::TooManyOutputs { .. },
        ) => Class::status(StatusCode::BAD_REQUEST),
        ServiceError::Refused(VariantRefused::TooLarge { .. })
        | ServiceError::FormatCannotHold { .. }
        | ServiceError::EncodeOverBudget { .. } => Class::status(StatusCode::NOT_ACCEPTABLE),
        ServiceError::Render(e) => render(e),
        ServiceError::Fetch(e) => fetch(e),
        ServiceError::Store(e) => store(e),
        ServiceError::RateLimited(e) => rate_limited(e),
        ServiceError::Overloaded => Class {
            retry_after: Some(1),
            counts: ErrorCounts { overloaded: true, original_unavailable: false },
            ..Class::status(StatusCode::SERVICE_UNAVAILABLE)
        },
        ServiceError::Rejected(_) => Class::status(StatusCode::UNPROCESSABLE_ENTITY),
        ServiceError::ModerationUnavailable(_) => Class {
            fixed_message: Some("the moderation service is unavailable; retry shortly"),
            retry_after: Some(5),
            ..Class::status(StatusCode::SERVICE_UNAVAILABLE)
        },
        ServiceError::Internal(_) => Class::internal(),
    }
}

fn render(e: &RenderError) -> Class {
    match e {
        RenderError::NotAnImage | RenderError::Unsupported(_) => Class::status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        RenderError::TooManyPixels { .. }
        | RenderError::OverBudget { .. }
        | RenderError::Corrupt { .. }
        | RenderError::TooManyScans { .. }
        | RenderError::DecodeTimeout { .. } => Class::status(StatusCode::UNPROCESSABLE_ENTITY),
        RenderError::Encode { .. } | RenderError::Internal(_) => Class::internal(),
    }
}

/// Sources: the client is told the rule, never where a name resolves to (an oracle into the
/// internal DNS) nor the error chain of a failed connection; those go to the log.
fn fetch(e: &FetchError) -> Class {
    match e {
        FetchError::InvalidUrl(_) => Class::status(StatusCode::BAD_REQUEST),
        FetchError::Refused(_) => Class {
            fixed_message: Some(
                "source refused: it leads to a loopback, private or reserved address, which sources may not reach",
            ),
            ..Class::status(StatusCode::BAD_REQUEST)
        },
        FetchError::Unreachable(_) => Class {
            fixed_message: Some("source unreachable: its name did not resolve, or no connection to it could be made"),
            ..Class::status(StatusCode::BAD_GATEWAY).original_unavailable()
        },
        FetchError::TooManyRedirects(_) | FetchError::Upstream(_) | FetchError::Timeout(_) => {
            Class::status(StatusCode::BAD_GATEWAY).original_unavailable()
        }
        FetchError::TooLarge(_) => Class::status(StatusCode::PAYLOAD_TOO_LARGE),
        FetchError::BufferFull(e) => buffer_full(e),
    }
}

fn token(e: &TokenError) -> Class {
    match e {
        TokenError::Missing | TokenError::Wrong => Class::status(StatusCode::UNAUTHORIZED),
        // No token could open it: only the configuration can.
        TokenError::DeletesClosed => Class::status(StatusCode::FORBIDDEN),
    }
}

fn rate_limited(e: &RateLimited) -> Class {
    Class { retry_after: Some(e.retry_after_secs), ..Class::status(StatusCode::TOO_MANY_REQUESTS) }
}

fn buffer_full(_: &BufferFull) -> Class {
    Class { retry_after: Some(2), ..Class::status(StatusCode::SERVICE_UNAVAILABLE) }
}

fn store(e: &StoreError) -> Class {
    match e {
        StoreError::NotFound => Class::status(StatusCode::NOT_FOUND),
        StoreError::Backend(_) => Class {
            fixed_message: Some("storage is unavailable; retry shortly"),
            retry_after: Some(5),
            ..Class::status(StatusCode::SERVICE_UNAVAILABLE)
        },
    }
}
