//! Sniffing, header reading and decoding of originals, per format.
//!
//! The format comes from the first bytes, never from a name or a Content-Type. Every decoder
//! reads the header first, so [`read_header`] can refuse a bomb before any pixel memory exists.

mod exif;
mod gif;
mod jpeg;
mod png;
mod webp;

pub use exif::orientation as exif_orientation;
pub use jpeg::JpegBounds;

/// ICC profiles above this size are ignored (and never inflated whole).
pub(crate) const MAX_ICC_BYTES: usize = 4 << 20;

use super::bitmap::Bitmap;
use super::orient::Orientation;
use super::{ImageFacts, Limits, RenderError};
use crate::model::ImageFormat;

/// What the header of an original says, before any pixel is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Sniffed format.
    pub format: ImageFormat,
    /// Stored width (before orientation).
    pub width: u32,
    /// Stored height (before orientation).
    pub height: u32,
    /// EXIF orientation.
    pub orientation: Orientation,
}

impl Header {
    pub(crate) fn facts(&self) -> ImageFacts {
        let (width, height) = self.orientation.upright_size(self.width, self.height);
        ImageFacts { format: self.format, width, height, frames: 1 }
    }
}

/// Decoded pixels with what the colour step needs to know about them.
pub struct Decoded {
    /// The pixels, in stored orientation.
    pub bitmap: Bitmap,
    /// The embedded ICC profile.
    pub icc: Option<Vec<u8>>,
    /// Adobe CMYK JPEGs store inverted ink values.
    pub cmyk_inverted: bool,
}

/// Identifies the format from the first bytes.
pub(crate) fn sniff(bytes: &[u8]) -> Result<ImageFormat, RenderError> {
    let starts = |sig: &[u8]| bytes.starts_with(sig);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        return Ok(ImageFormat::Jpeg);
    }
    if starts(b"\x89PNG\r\n\x1a\n") {
        return Ok(ImageFormat::Png);
    }
    if starts(b"GIF87a") || starts(b"GIF89a") {
        return Ok(ImageFormat::Gif);
    }
    if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        return Ok(ImageFormat::Webp);
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if brand == b"avif" || brand == b"avis" {
            return Err(RenderError::Unsupported("AVIF"));
        }
        if [&b"heic"[..], b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"].contains(&brand) {
            return Err(RenderError::Unsupported("HEIF/HEIC"));
        }
    }
    if starts(b"II*\0") || starts(b"MM\0*") {
        return Err(RenderError::Unsupported("TIFF"));
    }
    if starts(b"BM") && bytes.len() > 14 {
        return Err(RenderError::Unsupported("BMP"));
    }
    if starts(&[0xFF, 0x0A]) || starts(b"\0\0\0\x0cJXL ") {
        return Err(RenderError::Unsupported("JPEG XL"));
    }
    Err(RenderError::NotAnImage)
}

/// Sniffs and reads the header; refuses images above `max_source_pixels`.
pub fn read_header(bytes: &[u8], limits: &Limits) -> Result<Header, RenderError> {
    let format = sniff(bytes)?;
    let header = match format {
        ImageFormat::Jpeg => jpeg::read_header(bytes, limits.jpeg)?,
        ImageFormat::Png => png::read_header(bytes)?,
        ImageFormat::Gif => gif::read_header(bytes)?,
        ImageFormat::Webp => webp::read_header(bytes)?,
        // sniff() names AVIF originals unsupported; the arm is here for the written-only format.
        ImageFormat::Avif => return Err(RenderError::Unsupported("AVIF")),
    };
    if header.width == 0 || header.height == 0 {
        return Err(RenderError::corrupt(format.label(), "the header declares an empty image"));
    }
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels > limits.max_source_pixels {
        return Err(RenderError::TooManyPixels {
            width: header.width,
            height: header.height,
            pixels,
            max: limits.max_source_pixels,
        });
    }
    Ok(header)
}

/// An animation's frame count and how many times it plays (0: forever); 1 frame for still images. Reads the
/// container or the frames' headers, never their pixels.
pub(crate) fn animation(bytes: &[u8], header: &Header) -> Result<(u32, u32), RenderError> {
    match header.format {
        ImageFormat::Gif => gif::animation(bytes),
        ImageFormat::Webp => webp::animation(bytes),
        ImageFormat::Jpeg | ImageFormat::Png => Ok((1, 0)),
        ImageFormat::Avif => Err(RenderError::Unsupported("AVIF")),
    }
}

/// Receives one composed frame (RGBA on the canvas) and how long it shows, in milliseconds. The
/// sink may take the buffer's bytes (and must give them back, as many) and premultiply them:
/// the next frame is drawn on them, and a GIF canvas's pixels are opaque or zero.
pub(crate) type FrameSink<'a> = dyn FnMut(&mut Vec<u8>, u32) -> Result<(), RenderError> + 'a;

/// Calls `frame` with each frame of a GIF or WebP animation, composed on its canvas (RGBA, the
/// header's size), and how long it shows, in milliseconds; at most `max_frames`.
pub(crate) fn for_each_frame(
    bytes: &[u8],
    header: &Header,
    max_frames: u32,
    frame: &mut FrameSink<'_>,
) -> Result<(), RenderError> {
    match header.format {
        ImageFormat::Gif => gif::for_each_frame(bytes, header, max_frames, frame),
        ImageFormat::Webp => webp::for_each_frame(bytes, header, max_frames, frame),
        ImageFormat::Jpeg | ImageFormat::Png => {
            Err(RenderError::Internal(format!("{} has no frames", header.format.label())))
        }
        ImageFormat::Avif => Err(RenderError::Unsupported("AVIF")),
    }
}

/// Decodes the whole image at no less than `min_scale` of its stored size (formats that can
/// decode scaled pick the cheapest scale at or above it; others decode at full size). Fully
/// opaque alpha is dropped.
pub fn decode(bytes: &[u8], header: &Header, min_scale: f64, limits: &Limits) -> Result<Decoded, RenderError> {
    let decoded = match header.format {
        ImageFormat::Jpeg => jpeg::decode(bytes, min_scale, limits.jpeg)?,
        ImageFormat::Png => png::decode(bytes)?,
        ImageFormat::Gif => gif::decode(bytes, header)?,
        ImageFormat::Webp => webp::decode(bytes, header, min_scale)?,
        ImageFormat::Avif => return Err(RenderError::Unsupported("AVIF")),
    };
    Ok(Decoded { bitmap: decoded.bitmap.without_opaque_alpha(), ..decoded })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_signature() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Ok(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Ok(ImageFormat::Png));
        assert_eq!(sniff(b"GIF89a..."), Ok(ImageFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(ImageFormat::Webp));
        assert_eq!(sniff(b"\0\0\0\x1cftypavif"), Err(RenderError::Unsupported("AVIF")));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic"), Err(RenderError::Unsupported("HEIF/HEIC")));
        assert_eq!(sniff(b""), Err(RenderError::NotAnImage));
        assert_eq!(sniff(b"hello, world"), Err(RenderError::NotAnImage));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), Err(RenderError::NotAnImage));
    }
}
