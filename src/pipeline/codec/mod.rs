//! The codec table: one module per format saying how to sniff it, read its header without
//! decoding (size, orientation, frames), decode it (scaled where the codec can), and encode it.
//! What a format *is* (MIME type, alpha, slow to decode, read and written by this build) is its
//! row in `model::format`; how it is read and written is its row in [`CODECS`] here.
//!
//! The format comes from the first bytes, never from a name or a Content-Type. Every decoder
//! reads the header first, so [`read_header`] can refuse a bomb before any pixel memory exists.
//! Adding a format is its module plus a row in each of those two tables; nothing else names it.

mod avif;
mod exif;
mod ffi;
mod gif;
mod heif;
mod jpeg;
mod jxl;
mod png;
mod tiff;
mod webp;

use std::borrow::Cow;

pub(crate) use avif::versions as avif_versions;
pub use exif::orientation as exif_orientation;
pub use jpeg::JpegBounds;
pub(crate) use jpeg::working_copy_jpeg;

/// ICC profiles above this size are ignored (and never inflated whole).
pub(crate) const MAX_ICC_BYTES: usize = 4 << 20;

use super::bitmap::{Bitmap, Layout};
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
    /// EXIF orientation (upright for formats whose reader turns the pixels itself).
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

/// How hard an encoder works for its bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Effort {
    /// The request path: a miss is answered while the client waits.
    #[default]
    Fast,
    /// Outputs rendered once ahead of their requests: slower encoders, fewer bytes at the same
    /// quality setting.
    Small,
}

/// Receives one composed frame (RGBA on the canvas) and how long it shows, in milliseconds. The
/// sink may take the buffer's bytes (and must give them back, as many) and premultiply them:
/// the next frame is drawn on them, and a GIF canvas's pixels are opaque or zero.
pub(crate) type FrameSink<'a> = dyn FnMut(&mut Vec<u8>, u32) -> Result<(), RenderError> + 'a;

/// An animation being written, frame by frame (RGBA frames of the animation's size).
pub(crate) trait AnimationEncoder {
    /// Adds a frame that shows for `duration_ms`.
    fn add(&mut self, frame: Bitmap, duration_ms: u32) -> Result<(), RenderError>;
    /// The encoded animation.
    fn finish(self: Box<Self>) -> Result<Vec<u8>, RenderError>;
}

/// How one format is read and written. Only formats this build reads ([`ImageFormat::is_read`])
/// are asked to read; only written ones to write.
pub(crate) trait Codec: Sync {
    /// The format of this row.
    fn format(&self) -> ImageFormat;

    /// Whether `bytes` start like this format.
    fn sniff(&self, bytes: &[u8]) -> bool;

    /// A start that sniffs as this format (the fuzzers put it before bytes that lack one).
    fn signature(&self) -> &'static [u8];

    /// Size and orientation, from the header alone.
    fn read_header(&self, bytes: &[u8], limits: &Limits) -> Result<Header, RenderError>;

    /// Frames (as rendered: formats whose animations give their first frame say 1) and how many
    /// times they play (0: forever), without decoding pixels.
    fn animation(&self, _bytes: &[u8], _header: &Header) -> Result<(u32, u32), RenderError> {
        Ok((1, 0))
    }

    /// Bytes its decoder holds at its peak per pixel of a full-size decode, our bitmap included
    /// (what `pipeline::memory` charges the decode budget).
    fn decode_bytes_per_pixel(&self) -> u64;

    /// Bytes its encoder holds at its peak per pixel of an output of `pixels`, with or without
    /// alpha, our bitmap included; formats the server does not write say 0. Measured on a
    /// 48.8 MP photograph (docs/security.md, "Memory"): flat images hold less, and noise more in the
    /// encoders whose buffers grow with their output (AVIF, WebP, PNG).
    fn encode_bytes_per_pixel(&self, _pixels: u64, _alpha: bool) -> u64 {
        0
    }

    /// The (first) image at no less than `min_scale` of its stored size.
    fn decode(&self, bytes: &[u8], header: &Header, min_scale: f64, limits: &Limits) -> Result<Decoded, RenderError>;

    /// Calls `frame` with each frame composed on its canvas (RGBA, the header's size), at most
    /// `max_frames`; only for formats whose [`Codec::animation`] counts frames.
    fn for_each_frame(
        &self,
        _bytes: &[u8],
        _header: &Header,
        _max_frames: u32,
        _frame: &mut FrameSink<'_>,
    ) -> Result<(), RenderError> {
        Err(RenderError::Internal(format!("{} has no frames", self.format().label())))
    }

    /// Encodes Gray, Rgb or Rgba pixels at `quality` (1..=100, lossy formats only). An encoder
    /// that first copies the pixels into its own form (YUV planes) drops an owned `bitmap` right
    /// after, so that its own buffers do not stand on top of ours while it works.
    fn encode(&self, _bitmap: Cow<'_, Bitmap>, _quality: u8, _effort: Effort) -> Result<Vec<u8>, RenderError> {
        Err(RenderError::Internal(format!("the server does not write {}", self.format().label())))
    }

    /// An encoder of animations of `width` x `height` that play `plays` times (0: forever),
    /// for formats that [`ImageFormat::animates`].
    fn animation_encoder(
        &self,
        _width: u32,
        _height: u32,
        _quality: u8,
        _plays: u32,
    ) -> Result<Box<dyn AnimationEncoder>, RenderError> {
        Err(RenderError::Internal(format!("{} cannot hold an animation", self.format().label())))
    }
}

/// The table: one row per format.
static CODECS: [&dyn Codec; 8] =
    [&jpeg::Jpeg, &png::Png, &gif::Gif, &webp::Webp, &avif::Avif, &heif::Heic, &jxl::Jxl, &tiff::Tiff];

/// The row of `format`.
pub(crate) fn codec(format: ImageFormat) -> &'static dyn Codec {
    *CODECS.iter().find(|c| c.format() == format).expect("every format has a row in CODECS")
}

/// Identifies the format from the first bytes.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, RenderError> {
    if let Some(codec) = CODECS.iter().find(|c| c.sniff(bytes)) {
        return Ok(codec.format());
    }
    if bytes.starts_with(b"BM") && bytes.len() > 14 {
        return Err(RenderError::Unsupported("BMP"));
    }
    Err(RenderError::NotAnImage)
}

/// A start of file that sniffs as `format`.
pub fn signature(format: ImageFormat) -> &'static [u8] {
    codec(format).signature()
}

/// Sniffs and reads the header; refuses formats this build does not read and images above
/// `max_source_pixels`.
pub fn read_header(bytes: &[u8], limits: &Limits) -> Result<Header, RenderError> {
    let format = sniff(bytes)?;
    if !format.is_read() {
        return Err(RenderError::Unsupported(format.unread_reason()));
    }
    let header = codec(format).read_header(bytes, limits)?;
    if header.width == 0 || header.height == 0 {
        return Err(RenderError::corrupt(format.label(), "the header declares an empty image"));
    }
    check_pixels(header.width, header.height, limits)?;
    check_decode(format, header.width, header.height, limits)?;
    Ok(header)
}

/// Bytes decoding `pixels` of `format` holds at its peak, our bitmap included.
pub fn decode_bytes(format: ImageFormat, pixels: u64) -> u64 {
    pixels.saturating_mul(codec(format).decode_bytes_per_pixel())
}

/// Bytes encoding `pixels` as `format` holds at its peak, our bitmap included.
pub fn encode_bytes(format: ImageFormat, pixels: u64, alpha: bool) -> u64 {
    pixels.saturating_mul(codec(format).encode_bytes_per_pixel(pixels, alpha))
}

/// Refuses an original whose decode would hold more than the whole decode budget, from its
/// header, before anything is allocated.
fn check_decode(format: ImageFormat, width: u32, height: u32, limits: &Limits) -> Result<(), RenderError> {
    let bytes = decode_bytes(format, u64::from(width) * u64::from(height));
    if bytes > limits.budget_bytes() {
        return Err(RenderError::OverBudget {
            what: format!("decoding a {width}x{height} {}", format.label()),
            mib: bytes >> 20,
            budget_mib: limits.budget_bytes() >> 20,
        });
    }
    Ok(())
}

/// Refuses a declared `width` x `height` above `max_source_pixels`: every decoder calls this
/// on what its header says before it allocates.
pub(crate) fn check_pixels(width: u32, height: u32, limits: &Limits) -> Result<(), RenderError> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_source_pixels {
        return Err(RenderError::TooManyPixels { width, height, pixels, max: limits.max_source_pixels });
    }
    Ok(())
}

/// An animation's frame count and how many times it plays (0: forever); 1 frame for still
/// images and for formats whose animations give their first frame. Reads the container or the
/// frames' headers, never their pixels.
pub(crate) fn animation(bytes: &[u8], header: &Header) -> Result<(u32, u32), RenderError> {
    codec(header.format).animation(bytes, header)
}

/// Calls `frame` with each frame of an animation, composed on its canvas (RGBA, the header's
/// size), and how long it shows, in milliseconds; at most `max_frames`.
pub(crate) fn for_each_frame(
    bytes: &[u8],
    header: &Header,
    max_frames: u32,
    frame: &mut FrameSink<'_>,
) -> Result<(), RenderError> {
    codec(header.format).for_each_frame(bytes, header, max_frames, frame)
}

/// Decodes the whole image at no less than `min_scale` of its stored size (formats that can
/// decode scaled pick the cheapest scale at or above it; others decode at full size). Fully
/// opaque alpha is dropped.
pub fn decode(bytes: &[u8], header: &Header, min_scale: f64, limits: &Limits) -> Result<Decoded, RenderError> {
    let decoded = codec(header.format).decode(bytes, header, min_scale, limits)?;
    Ok(Decoded { bitmap: decoded.bitmap.without_opaque_alpha(), ..decoded })
}

/// Encodes `bitmap` (Gray, Rgb or Rgba) as `format` at `quality` (1..=100, lossy formats only).
/// Nothing but pixels goes out: no EXIF, ICC, XMP or comments.
pub fn encode(bitmap: &Bitmap, format: ImageFormat, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
    codec(format).encode(Cow::Borrowed(bitmap), quality, effort)
}

/// [`encode`] of a bitmap nobody needs afterwards: encoders that copy the pixels into their own
/// form free ours before they work on it.
pub(crate) fn encode_owned(
    bitmap: Bitmap,
    format: ImageFormat,
    quality: u8,
    effort: Effort,
) -> Result<Vec<u8>, RenderError> {
    codec(format).encode(Cow::Owned(bitmap), quality, effort)
}

/// An animation encoder for `format`.
pub(crate) fn animation_encoder(
    format: ImageFormat,
    width: u32,
    height: u32,
    quality: u8,
    plays: u32,
) -> Result<Box<dyn AnimationEncoder>, RenderError> {
    codec(format).animation_encoder(width, height, quality, plays)
}

/// Gray expanded to RGB for encoders that only take colour (an owned bitmap in place of its
/// gray); other layouts as they are.
pub(crate) fn in_colour(bitmap: Cow<'_, Bitmap>) -> Cow<'_, Bitmap> {
    match bitmap {
        Cow::Borrowed(b) if b.layout == Layout::Gray => Cow::Owned(b.clone().into_rgb()),
        Cow::Owned(b) if b.layout == Layout::Gray => Cow::Owned(b.into_rgb()),
        other => other,
    }
}

/// A zeroed buffer of `len` bytes, or a corrupt-image error when memory cannot be had.
pub(crate) fn pixel_buffer(format: &'static str, len: usize) -> Result<Vec<u8>, RenderError> {
    pixel_buffer_with_room(format, len, len)
}

/// [`pixel_buffer`] with room for `room` bytes, for pixels that will grow in place
/// ([`gray_alpha_to_rgba`]). The zeros come from the allocator's zeroed memory, so a large
/// buffer's pages are made as the decoder writes them, not all before it starts: a decoder that
/// hands back its own copy as it fills ours (`heif_shim.c`) never holds both whole.
pub(crate) fn pixel_buffer_with_room(format: &'static str, len: usize, room: usize) -> Result<Vec<u8>, RenderError> {
    let capacity = room.max(len);
    if capacity == 0 {
        return Ok(Vec::new());
    }
    let layout =
        std::alloc::Layout::array::<u8>(capacity).map_err(|_| RenderError::corrupt(format, "out of memory"))?;
    // SAFETY: the layout is not empty.
    let data = unsafe { std::alloc::alloc_zeroed(layout) };
    if data.is_null() {
        return Err(RenderError::corrupt(format, "out of memory"));
    }
    // SAFETY: `data` was allocated by the global allocator for `capacity` bytes (the layout of a
    // Vec<u8> of that capacity), all of them zeroed, so the first `len` are initialised.
    Ok(unsafe { Vec::from_raw_parts(data, len, capacity) })
}

/// Gray and alpha samples (2 a pixel) made RGBA in their own buffer, from the last pixel back,
/// so that no second copy of the image is held (given the room, as [`pixel_buffer_with_room`]
/// leaves it).
pub(crate) fn gray_alpha_to_rgba(mut data: Vec<u8>) -> Vec<u8> {
    let pixels = data.len() / 2;
    data.resize(pixels * 4, 0);
    for i in (0..pixels).rev() {
        let (g, a) = (data[i * 2], data[i * 2 + 1]);
        data[i * 4..i * 4 + 4].copy_from_slice(&[g, g, g, a]);
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_and_alpha_grow_into_rgba_in_place() {
        let mut data = pixel_buffer_with_room("test", 4, 8).unwrap();
        data.copy_from_slice(&[1, 2, 3, 4]);
        let before = data.as_ptr();
        let rgba = gray_alpha_to_rgba(data);
        assert_eq!((rgba.as_ptr(), rgba.as_slice()), (before, &[1, 1, 1, 2, 3, 3, 3, 4][..]));
    }

    #[test]
    fn every_format_has_one_row() {
        for format in ImageFormat::ALL {
            assert_eq!(CODECS.iter().filter(|c| c.format() == format).count(), 1, "{format:?}");
        }
    }

    #[test]
    fn signatures_sniff_as_their_format() {
        for format in ImageFormat::ALL {
            assert_eq!(sniff(&[signature(format), &[0; 16]].concat()), Ok(format), "{format:?}");
        }
    }

    #[test]
    fn sniffs_by_signature() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Ok(ImageFormat::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Ok(ImageFormat::Png));
        assert_eq!(sniff(b"GIF89a..."), Ok(ImageFormat::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Ok(ImageFormat::Webp));
        assert_eq!(sniff(b"\0\0\0\x1cftypavif\0\0\0\0mif1miaf"), Ok(ImageFormat::Avif));
        assert_eq!(sniff(b"\0\0\0\x1cftypavis\0\0\0\0avifmsf1"), Ok(ImageFormat::Avif));
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), Ok(ImageFormat::Heic));
        assert_eq!(sniff(b"\0\0\0\x18ftypmif1\0\0\0\0mif1heic"), Ok(ImageFormat::Heic));
        assert_eq!(sniff(b"\0\0\0\x18ftypmif1\0\0\0\0mif1avif"), Ok(ImageFormat::Avif));
        assert_eq!(sniff(b"\xFF\x0A\xFA\x7F"), Ok(ImageFormat::Jxl));
        assert_eq!(sniff(b"\0\0\0\x0cJXL \r\n\x87\n"), Ok(ImageFormat::Jxl));
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Ok(ImageFormat::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Ok(ImageFormat::Tiff));
        assert_eq!(sniff(b"BM\0\0\0\0\0\0\0\0\0\0\0\0\0"), Err(RenderError::Unsupported("BMP")));
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\0\0isommp41"), Err(RenderError::NotAnImage));
        assert_eq!(sniff(b""), Err(RenderError::NotAnImage));
        assert_eq!(sniff(b"hello, world"), Err(RenderError::NotAnImage));
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), Err(RenderError::NotAnImage));
    }
}
