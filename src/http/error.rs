//! `ApiError`: the single mapping from every failure to an HTTP status and a JSON body.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};

use super::{ErrorFacts, HttpResponse, LoggedError, headers};
use crate::model::VariantError;
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
    /// A malformed upload (query, JSON, base64).
    #[error("{0}")]
    BadRequest(String),
    /// An upload body above `max_upload_bytes`.
    #[error("upload too large: the limit is {0} bytes")]
    PayloadTooLarge(u64),
    /// The service failed.
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl ApiError {
    /// The status code of DESIGN.md §2's table.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadVariant(VariantError::Malformed) => StatusCode::NOT_FOUND,
            ApiError::BadVariant(
                VariantError::QualityOutOfRange(_) | VariantError::ZeroSize | VariantError::UnknownExtension(_),
            ) => StatusCode::BAD_REQUEST,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Service(e) => service_status(e),
        }
    }

    /// Seconds a client should wait before retrying, for 503s.
    fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Service(ServiceError::Overloaded) => Some(1),
            ApiError::Service(ServiceError::Store(StoreError::Backend(_))) => Some(5),
            _ => None,
        }
    }

    /// What the metrics count about this failure.
    fn facts(&self) -> ErrorFacts {
        let ApiError::Service(e) = self else { return ErrorFacts::default() };
        ErrorFacts {
            original_unavailable: matches!(
                e,
                ServiceError::ImageNotFound
                    | ServiceError::OriginNotFound
                    | ServiceError::Fetch(
                        FetchError::Upstream(_) | FetchError::Unreachable(_) | FetchError::Timeout(_)
                    )
            ),
            overloaded: matches!(e, ServiceError::Overloaded),
        }
    }

    /// What the client is told: what went wrong and why, without internals.
    fn public_message(&self) -> String {
        match self {
            ApiError::Service(ServiceError::Store(StoreError::Backend(_))) => {
                "storage is unavailable; retry shortly".to_owned()
            }
            ApiError::Service(ServiceError::Internal(_))
            | ApiError::Service(ServiceError::Render(RenderError::Internal(_) | RenderError::Encode { .. })) => {
                "internal error while rendering this image".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// The JSON error answer (no side effects; the full error rides in the extensions).
    pub fn into_response(self) -> HttpResponse {
        let body = serde_json::json!({ "error": self.public_message() }).to_string();
        let mut builder = Response::builder()
            .status(self.status())
            .header(CONTENT_TYPE, "application/json")
            .header(CACHE_CONTROL, "no-store");
        if let ApiError::MethodNotAllowed(allow) = &self {
            builder = builder.header(ALLOW, *allow);
        }
        if let Some(seconds) = self.retry_after() {
            builder = builder.header(RETRY_AFTER, seconds);
        }
        let mut response = headers::finish(builder, Full::new(Bytes::from(body)));
        response.extensions_mut().insert(LoggedError(error_chain(&self)));
        response.extensions_mut().insert(self.facts());
        response
    }
}

fn service_status(e: &ServiceError) -> StatusCode {
    match e {
        ServiceError::ImageNotFound => StatusCode::NOT_FOUND,
        ServiceError::EmptyUpload
        | ServiceError::ExtensionNotAllowed(_)
        | ServiceError::VariantNotAllowed(_)
        | ServiceError::SourceOverrideNotAllowed => StatusCode::BAD_REQUEST,
        ServiceError::OriginNotFound => StatusCode::NOT_FOUND,
        ServiceError::SizeNotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
        ServiceError::Render(r) => match r {
            RenderError::NotAnImage | RenderError::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RenderError::TooManyPixels { .. } | RenderError::Corrupt { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            RenderError::Encode { .. } | RenderError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
        ServiceError::Fetch(f) => match f {
            FetchError::InvalidUrl(_) | FetchError::Refused(_) => StatusCode::BAD_REQUEST,
            FetchError::Unreachable(_) | FetchError::Upstream(_) | FetchError::Timeout(_) => StatusCode::BAD_GATEWAY,
            FetchError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        },
        ServiceError::Store(s) => match s {
            StoreError::NotFound => StatusCode::NOT_FOUND,
            StoreError::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
        },
        ServiceError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The error and its sources, joined with ": ".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}
