//! `ImageFormat`: the image formats the server reads or writes, and what each one is (its row of
//! [`Facts`]): MIME type, names, what it can hold, whether this build reads and writes it.
//!
//! Callers ask these questions instead of naming formats; the pipeline's codec table
//! (`pipeline::codec`) holds how each is sniffed, read and written.

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
    /// AVIF (read and written through libavif).
    Avif,
    /// HEIC: HEIF with HEVC-coded images, as phones write them (read only, through libheif).
    Heic,
    /// JPEG XL (read by jxl-oxide, written through libjxl).
    Jxl,
    /// TIFF (read only).
    Tiff,
}

/// Whether this build has a format's reader or writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Support {
    /// Always built in.
    Built,
    /// Built when the build found `library` (`built` is its `cfg`).
    With { library: &'static str, package: &'static str, built: bool },
    /// The server has none.
    None,
}

impl Support {
    fn available(self) -> bool {
        match self {
            Support::Built => true,
            Support::With { built, .. } => built,
            Support::None => false,
        }
    }
}

/// What a format is: one row per format in [`ImageFormat::facts`].
struct Facts {
    mime: &'static str,
    name: &'static str,
    label: &'static str,
    /// Largest width or height the server writes in it.
    max_side: u32,
    alpha: bool,
    /// Animated originals give animated variants in it.
    animates: bool,
    /// May be listed in `negotiate_formats`.
    negotiable: bool,
    /// Its decoder cannot decode scaled cheaply: large originals get working copies, and a render
    /// that decodes one is slow work in the CPU pool's admission.
    slow_to_decode: bool,
    /// Its encoder takes several times a JPEG's time at the same size: slow work in the CPU
    /// pool's admission.
    slow_to_encode: bool,
    /// `default_quality` of a lossy output format; `None` for lossless ones and for input-only ones.
    default_quality: Option<u8>,
    read: Support,
    write: Support,
    /// What a 415 says when this build cannot read it.
    unread: &'static str,
}

const LIBAVIF: Support = Support::With { library: "libavif", package: "libavif-dev", built: cfg!(avif) };
const LIBHEIF: Support = Support::With { library: "libheif", package: "libheif-dev", built: cfg!(heif) };

impl ImageFormat {
    /// Every format, in the order metrics and `/status` list them.
    pub const ALL: [ImageFormat; 8] = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::Webp,
        ImageFormat::Gif,
        ImageFormat::Avif,
        ImageFormat::Heic,
        ImageFormat::Jxl,
        ImageFormat::Tiff,
    ];

    /// The formats the server writes (in some build), for per-output-format metrics.
    pub const OUTPUTS: [ImageFormat; 6] =
        [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp, ImageFormat::Gif, ImageFormat::Avif, ImageFormat::Jxl];

    /// The one table of what each format is.
    fn facts(self) -> &'static Facts {
        match self {
            ImageFormat::Jpeg => &Facts {
                mime: "image/jpeg",
                name: "jpg",
                label: "JPEG",
                max_side: 65_535,
                alpha: false,
                animates: false,
                negotiable: false,
                slow_to_decode: false,
                slow_to_encode: false,
                default_quality: Some(80),
                read: Support::Built,
                write: Support::Built,
                unread: "JPEG",
            },
            ImageFormat::Png => &Facts {
                mime: "image/png",
                name: "png",
                label: "PNG",
                max_side: (1 << 31) - 1,
                alpha: true,
                animates: false,
                negotiable: false,
                slow_to_decode: true,
                slow_to_encode: false,
                default_quality: None,
                read: Support::Built,
                write: Support::Built,
                unread: "PNG",
            },
            ImageFormat::Webp => &Facts {
                mime: "image/webp",
                name: "webp",
                label: "WebP",
                max_side: 16_383,
                alpha: true,
                animates: true,
                negotiable: true,
                slow_to_decode: true,
                slow_to_encode: false,
                default_quality: Some(80),
                read: Support::Built,
                write: Support::Built,
                unread: "WebP",
            },
            ImageFormat::Gif => &Facts {
                mime: "image/gif",
                name: "gif",
                label: "GIF",
                max_side: 65_535,
                alpha: true,
                animates: true,
                negotiable: false,
                slow_to_decode: true,
                slow_to_encode: false,
                default_quality: None,
                read: Support::Built,
                write: Support::Built,
                unread: "GIF",
            },
            // libavif's decoders refuse more than 16384 x 16384 pixels by default.
            ImageFormat::Avif => &Facts {
                mime: "image/avif",
                name: "avif",
                label: "AVIF",
                max_side: 16_384,
                alpha: true,
                animates: false,
                negotiable: true,
                slow_to_decode: true,
                slow_to_encode: true,
                default_quality: Some(60),
                read: LIBAVIF,
                write: LIBAVIF,
                unread: "AVIF (this build has no libavif)",
            },
            ImageFormat::Heic => &Facts {
                mime: "image/heic",
                name: "heic",
                label: "HEIC",
                max_side: 0,
                alpha: true,
                animates: false,
                negotiable: false,
                slow_to_decode: true,
                slow_to_encode: false,
                default_quality: None,
                read: LIBHEIF,
                write: Support::None,
                unread: "HEIC (this build has no libheif)",
            },
            // JPEG XL holds 2^30 a side; libjxl's encoder is given no more than this.
            ImageFormat::Jxl => &Facts {
                mime: "image/jxl",
                name: "jxl",
                label: "JPEG XL",
                max_side: 65_535,
                alpha: true,
                animates: false,
                negotiable: true,
                slow_to_decode: true,
                slow_to_encode: true,
                default_quality: Some(75),
                read: Support::Built,
                write: Support::With { library: "libjxl", package: "libjxl-dev", built: cfg!(jxl) },
                unread: "JPEG XL",
            },
            ImageFormat::Tiff => &Facts {
                mime: "image/tiff",
                name: "tiff",
                label: "TIFF",
                max_side: 0,
                alpha: true,
                animates: false,
                negotiable: false,
                slow_to_decode: true,
                slow_to_encode: false,
                default_quality: None,
                read: Support::Built,
                write: Support::None,
                unread: "TIFF",
            },
        }
    }

    /// The MIME type.
    pub fn mime(self) -> &'static str {
        self.facts().mime
    }

    /// The format of a MIME type given by [`ImageFormat::mime`] (and `image/heif` for HEIC).
    pub fn from_mime(mime: &str) -> Option<Self> {
        if mime == "image/heif" {
            return Some(ImageFormat::Heic);
        }
        Self::ALL.into_iter().find(|f| f.mime() == mime)
    }

    /// The short name used in metrics and config (`jpg`, `png`, `webp`, `gif`, `avif`, `jxl`, ...).
    pub fn name(self) -> &'static str {
        self.facts().name
    }

    /// The name people write (`JPEG`, `PNG`, `WebP`, `GIF`, `JPEG XL`), for messages.
    pub fn label(self) -> &'static str {
        self.facts().label
    }

    /// The largest width or height the server writes in this format (0 for formats it does not write).
    pub fn max_side(self) -> u32 {
        self.facts().max_side
    }

    /// Whether this build reads originals in this format (HEIC needs libheif, AVIF libavif).
    pub fn is_read(self) -> bool {
        self.facts().read.available()
    }

    /// Why this build does not read the format, for a 415 (`HEIC (this build has no libheif)`).
    pub fn unread_reason(self) -> &'static str {
        self.facts().unread
    }

    /// Whether the server writes this format at all, in some build.
    pub fn is_output(self) -> bool {
        self.facts().write != Support::None
    }

    /// Whether this build writes the format: AVIF needs libavif's and JPEG XL libjxl's
    /// development files at build time (build.rs sets `cfg(avif)`, `cfg(jxl)` when it finds them).
    pub fn is_written(self) -> bool {
        self.facts().write.available()
    }

    /// Why this build does not write the format, for configuration errors.
    pub fn unwritten_reason(self) -> String {
        match self.facts().write {
            Support::With { library, package, .. } => {
                format!("this build has no {library} (apt-get install {package}, then rebuild)")
            }
            Support::Built | Support::None => format!("the server does not write {}", self.label()),
        }
    }

    /// Whether the format can carry an alpha channel.
    pub fn has_alpha(self) -> bool {
        self.facts().alpha
    }

    /// Whether animated originals give animated variants in this format (GIF and WebP).
    pub fn animates(self) -> bool {
        self.facts().animates
    }

    /// Whether a namespace may list the format in `negotiate_formats` (AVIF, WebP, JPEG XL).
    pub fn negotiable(self) -> bool {
        self.facts().negotiable
    }

    /// Whether its encoder takes several times a JPEG's time at the same size.
    pub fn slow_to_encode(self) -> bool {
        self.facts().slow_to_encode
    }

    /// Whether decoding it cannot be done scaled, so decoding a large original costs its whole
    /// size (see [`crate::pipeline::decodes_slowly`]).
    pub fn slow_to_decode(self) -> bool {
        self.facts().slow_to_decode
    }

    /// The built-in `default_quality` of a lossy output format; `None` for the others.
    pub fn default_quality(self) -> Option<u8> {
        self.facts().default_quality
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
        assert_eq!(ImageFormat::from_mime("image/heif"), Some(ImageFormat::Heic));
        assert_eq!(ImageFormat::from_mime("image/bmp"), None);
    }

    #[test]
    fn written_formats_have_a_size_and_read_only_ones_none() {
        for format in ImageFormat::ALL {
            assert_eq!(format.is_output(), format.max_side() > 0, "{format:?}");
            assert!(!format.negotiable() || format.is_output(), "{format:?}");
            assert!(format.default_quality().is_none() || format.is_output(), "{format:?}");
            assert_eq!(ImageFormat::OUTPUTS.contains(&format), format.is_output(), "{format:?}");
        }
    }
}
