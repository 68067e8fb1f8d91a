//! `ImageFormat`: the image formats the server reads or writes, with their one MIME table.

/// An image format: what an original is sniffed as, or what a variant is encoded as.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ImageFormat {
    /// JPEG (no alpha: flattened onto white when written).
    Jpeg,
    /// PNG.
    Png,
    /// WebP (lossy when written, with alpha where the source has it).
    Webp,
    /// GIF.
    Gif,
    /// AVIF (written only: originals in AVIF are not read).
    Avif,
}

impl ImageFormat {
    /// Every format, in the order metrics and `/status` list them.
    pub const ALL: [ImageFormat; 5] =
        [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp, ImageFormat::Gif, ImageFormat::Avif];

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Avif => "image/avif",
        }
    }

    /// The format of a MIME type given by [`ImageFormat::mime`].
    pub fn from_mime(mime: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.mime() == mime)
    }

    /// The short name used in metrics and config (`jpg`, `png`, `webp`, `gif`, `avif`).
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpg",
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Gif => "gif",
            ImageFormat::Avif => "avif",
        }
    }

    /// The name people write (`JPEG`, `PNG`, `WebP`, `GIF`), for messages.
    pub fn label(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Png => "PNG",
            ImageFormat::Webp => "WebP",
            ImageFormat::Gif => "GIF",
            ImageFormat::Avif => "AVIF",
        }
    }

    /// The largest width or height the format can hold (for AVIF, what the server writes:
    /// libavif's decoders refuse more than 16384 x 16384 pixels by default).
    pub fn max_side(self) -> u32 {
        match self {
            ImageFormat::Jpeg | ImageFormat::Gif => 65_535,
            ImageFormat::Webp => 16_383,
            ImageFormat::Avif => 16_384,
            ImageFormat::Png => (1 << 31) - 1,
        }
    }

    /// Whether this build writes the format: AVIF needs libavif's development files at build
    /// time (build.rs sets `cfg(avif)` when it finds them).
    pub fn is_written(self) -> bool {
        self != ImageFormat::Avif || cfg!(avif)
    }

    /// Whether the format can carry an alpha channel.
    pub fn has_alpha(self) -> bool {
        match self {
            ImageFormat::Jpeg => false,
            ImageFormat::Png | ImageFormat::Webp | ImageFormat::Gif | ImageFormat::Avif => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_round_trip() {
        for format in ImageFormat::ALL {
            assert_eq!(ImageFormat::from_mime(format.mime()), Some(format));
        }
        assert_eq!(ImageFormat::from_mime("image/heic"), None);
    }
}
