//! `ServiceError`: every way a service call fails, wrapping the adapters' own errors.

use crate::access::RateLimited;
use crate::config::VariantRefused;
use crate::hooks::ModerationError;
use crate::pipeline::RenderError;
use crate::pool::PoolError;
use crate::source::FetchError;
use crate::store::StoreError;

/// Why an upload or lookup failed. The HTTP edge maps each variant to a status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// No original stored under that hash in that namespace.
    #[error("image not found")]
    ImageNotFound,
    /// An upload with no bytes.
    #[error(
        "empty upload: send the image bytes as the body, a ?source=URL, or JSON {{\"data\":{{\"image\":\"<base64>\"}}}}"
    )]
    EmptyUpload,
    /// The namespace does not serve this variant.
    #[error(transparent)]
    Refused(#[from] VariantRefused),
    /// An origin-pull namespace whose origin does not have the original.
    #[error("image not found at its origin")]
    OriginNotFound,
    /// `?source=` on a namespace that does not allow replacing its origin.
    #[error("this namespace does not allow ?source= to replace its origin")]
    SourceOverrideNotAllowed,
    /// The variant would be larger than its format can hold.
    #[error("{format} cannot hold an image of {width}x{height}: at most {max} pixels a side")]
    FormatCannotHold {
        /// The output format.
        format: &'static str,
        /// The variant's width.
        width: u32,
        /// The variant's height.
        height: u32,
        /// The format's largest side.
        max: u32,
    },
    /// Encoding the variant in its format would hold more memory than the whole decode budget.
    #[error(
        "a {width}x{height} {format} takes about {mib} MiB to encode, more than the {budget_mib} MiB \
         decode_budget_pixels allows: ask for a smaller size or another format"
    )]
    EncodeOverBudget {
        /// The output format.
        format: &'static str,
        /// The variant's width.
        width: u32,
        /// The variant's height.
        height: u32,
        /// What its encoder would hold, in MiB.
        mib: u64,
        /// The decode budget, in MiB.
        budget_mib: u64,
    },
    /// The original could not be read or rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The source URL could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client has started too many renders lately.
    #[error(transparent)]
    RateLimited(#[from] RateLimited),
    /// The moderation hook rejected the upload, for this reason.
    #[error("rejected by moderation: {0}")]
    Rejected(String),
    /// The moderation hook gave no verdict, and the namespace does not store uploads without one.
    #[error(transparent)]
    ModerationUnavailable(#[from] ModerationError),
    /// Every render worker is busy and the queue is full.
    #[error("server busy: every render worker is busy and the queue is full; retry shortly")]
    Overloaded,
    /// A bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<PoolError> for ServiceError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Overloaded => ServiceError::Overloaded,
            PoolError::Panicked(msg) => ServiceError::Internal(format!("render panicked: {msg}")),
        }
    }
}

impl ServiceError {
    /// Whether the same call may succeed if tried again shortly (a background job waits and
    /// retries these rather than reporting the output failed).
    pub fn is_transient(&self) -> bool {
        match self {
            ServiceError::Overloaded | ServiceError::Store(StoreError::Backend(_)) => true,
            ServiceError::ImageNotFound
            | ServiceError::EmptyUpload
            | ServiceError::Refused(_)
            | ServiceError::OriginNotFound
            | ServiceError::SourceOverrideNotAllowed
            | ServiceError::FormatCannotHold { .. }
            | ServiceError::EncodeOverBudget { .. }
            | ServiceError::Render(_)
            | ServiceError::Fetch(_)
            | ServiceError::Store(StoreError::NotFound)
            | ServiceError::RateLimited(_)
            | ServiceError::Rejected(_)
            | ServiceError::ModerationUnavailable(_)
            | ServiceError::Internal(_) => false,
        }
    }
}
