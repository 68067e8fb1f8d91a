//! `RenderError`: why an original could not be rendered, sorted by whose fault it is.

/// A pipeline failure. Everything but `Encode` and `Internal` is the uploader's fault (4xx).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The bytes do not start like any image format.
    #[error("not an image: the data does not start with the signature of any image format")]
    NotAnImage,
    /// A recognised image format that this server does not read.
    #[error("unsupported image format: {0} is not read (send JPEG, PNG, GIF, WebP, HEIC, AVIF, JPEG XL or TIFF)")]
    Unsupported(&'static str),
    /// The header declares more pixels than `max_source_pixels`.
    #[error("image too large: {width}x{height} is {pixels} pixels, more than the {max} allowed")]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// width x height.
        pixels: u64,
        /// The configured limit.
        max: u64,
    },
    /// Decoding the original would hold more memory than the whole decode budget.
    #[error(
        "image too large to decode: {what} takes about {mib} MiB, more than the {budget_mib} MiB decode_budget_pixels allows"
    )]
    OverBudget {
        /// What would hold it ("decoding a 7071x7071 JPEG XL").
        what: String,
        /// Its memory, in MiB.
        mib: u64,
        /// The decode budget, in MiB.
        budget_mib: u64,
    },
    /// The image is damaged: truncated, bad header, bad compressed data.
    #[error("corrupt {format} image: {reason}")]
    Corrupt {
        /// The sniffed format.
        format: &'static str,
        /// What the decoder said.
        reason: String,
    },
    /// A progressive JPEG with more scans than `max_jpeg_scans` (each costs a pass over the image).
    #[error("too many scans: the JPEG has more than the {max} progressive scans allowed")]
    TooManyScans {
        /// The configured limit.
        max: u32,
    },
    /// A decode still running after `decode_timeout_secs`.
    #[error("the image takes too long to decode: abandoned after {secs} s")]
    DecodeTimeout {
        /// The configured limit.
        secs: u64,
    },
    /// The encoder failed (our fault).
    #[error("could not encode the {format} output: {reason}")]
    Encode {
        /// The output format.
        format: &'static str,
        /// What the encoder said.
        reason: String,
    },
    /// A bug: a step panicked or broke an invariant.
    #[error("internal error while rendering: {0}")]
    Internal(String),
}

impl RenderError {
    pub(crate) fn corrupt(format: &'static str, reason: impl std::fmt::Display) -> Self {
        RenderError::Corrupt { format, reason: reason.to_string() }
    }
}
