//! PNG through the `png` crate (the first frame of an APNG): every colour type and bit depth to
//! 8-bit Gray, Rgb or Rgba. Text chunks are never inflated, and the ICC profile is inflated here,
//! by a reader that stops at [`MAX_ICC_BYTES`], instead of whole by the decoder. Written with
//! fast deflate on the request path, and through oxipng for outputs rendered ahead of requests.

use std::borrow::Cow;
use std::io::Cursor;

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use png::{ColorType, DecodeOptions, Decoder, Transformations};

use super::{Codec, Decoded, Effort, Header, MAX_ICC_BYTES};
use crate::model::ImageFormat;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;
use crate::pipeline::{Limits, RenderError};

fn corrupt(e: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt("PNG", e)
}

/// A decoder that skips the chunks it would otherwise inflate whole (iCCP, zTXt, iTXt), and
/// whose own buffers stay within 64 MiB beside the image.
fn decoder(bytes: &[u8]) -> Decoder<Cursor<&[u8]>> {
    let mut options = DecodeOptions::default();
    options.set_ignore_iccp_chunk(true);
    options.set_ignore_text_chunk(true);
    let mut decoder = Decoder::new_with_options(Cursor::new(bytes), options);
    decoder.set_limits(png::Limits { bytes: 64 << 20 });
    decoder
}

/// PNG's row of the codec table.
pub(super) struct Png;

impl Codec for Png {
    fn format(&self) -> ImageFormat {
        ImageFormat::Png
    }

    fn signature(&self) -> &'static [u8] {
        b"\x89PNG\r\n\x1a\n"
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(b"\x89PNG\r\n\x1a\n")
    }

    fn read_header(&self, bytes: &[u8], _: &Limits) -> Result<Header, RenderError> {
        read_header(bytes)
    }

    fn decode(&self, bytes: &[u8], _: &Header, _: f64, _: &Limits) -> Result<Decoded, RenderError> {
        decode(bytes)
    }

    /// Our RGBA bitmap (gray and alpha expanded in place).
    fn decode_bytes_per_pixel(&self) -> u64 {
        4
    }

    /// Measured (6.7 RGB, 8.3 with alpha): our bitmap (3 or 4) and the PNG as it grows, up to
    /// the pixels' size when they do not compress.
    fn encode_bytes_per_pixel(&self, _pixels: u64, alpha: bool) -> u64 {
        if alpha { 9 } else { 8 }
    }

    fn encode(&self, bitmap: Cow<'_, Bitmap>, _: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
        let png = match effort {
            Effort::Fast => png(&bitmap),
            Effort::Small => png(&bitmap).and_then(|png| {
                drop(bitmap);
                optimise_png(&png)
            }),
        };
        png.map_err(|reason| RenderError::Encode { format: "png", reason })
    }
}

fn read_header(bytes: &[u8]) -> Result<Header, RenderError> {
    let reader = decoder(bytes).read_info().map_err(corrupt)?;
    let info = reader.info();
    let orientation = info.exif_metadata.as_deref().map_or(Orientation::UPRIGHT, super::exif::orientation);
    Ok(Header { format: ImageFormat::Png, width: info.width, height: info.height, orientation })
}

fn decode(bytes: &[u8]) -> Result<Decoded, RenderError> {
    let mut decoder = decoder(bytes);
    // Palettes and tRNS become RGB(A), low bit depths 8 bits, 16 bits 8.
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(corrupt)?;
    let size = reader.output_buffer_size().ok_or_else(|| corrupt("the image is too large to hold"))?;
    // Gray and alpha grow into RGBA where they are decoded.
    let room = if reader.output_color_type().0 == ColorType::GrayscaleAlpha { size.saturating_mul(2) } else { size };
    let mut data = super::pixel_buffer_with_room("PNG", size, room)?;
    let frame = reader.next_frame(&mut data).map_err(corrupt)?;
    data.truncate(frame.buffer_size());
    let (width, height) = (frame.width, frame.height);
    let bitmap = match frame.color_type {
        ColorType::Grayscale => Bitmap::new(Layout::Gray, width, height, data),
        ColorType::Rgb => Bitmap::new(Layout::Rgb, width, height, data),
        ColorType::Rgba => Bitmap::new(Layout::Rgba, width, height, data),
        ColorType::GrayscaleAlpha => Bitmap::new(Layout::Rgba, width, height, super::gray_alpha_to_rgba(data)),
        ColorType::Indexed => return Err(corrupt("a palette left after expansion")),
    };
    Ok(Decoded { bitmap, icc: icc_profile(bytes), cmyk_inverted: false })
}

/// The oxipng pass of [`Effort::Small`] PNGs: its preset 2 (libdeflate at its strongest level,
/// four filter strategies), single-threaded on the render worker that called it, never longer
/// than `OXIPNG_TIMEOUT`: past it, oxipng keeps the best result found so far.
fn optimise_png(png: &[u8]) -> Result<Vec<u8>, String> {
    let mut options = oxipng::Options::from_preset(2);
    options.timeout = Some(OXIPNG_TIMEOUT);
    options.strip = oxipng::StripChunks::All;
    oxipng::optimize_from_memory(png, &options).map_err(|e| e.to_string())
}

/// How long one PNG may be optimised.
const OXIPNG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) fn color_type(layout: Layout) -> ExtendedColorType {
    match layout {
        Layout::Gray => ExtendedColorType::L8,
        Layout::Rgb => ExtendedColorType::Rgb8,
        Layout::Rgba | Layout::Cmyk => ExtendedColorType::Rgba8,
    }
}

fn png(bitmap: &Bitmap) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(&bitmap.data, bitmap.width, bitmap.height, color_type(bitmap.layout))
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// The inflated iCCP profile, if there is one of at most [`MAX_ICC_BYTES`]; a larger or broken
/// one is ignored (the pixels are then taken as sRGB), without ever holding more than the cap.
fn icc_profile(bytes: &[u8]) -> Option<Vec<u8>> {
    let data = chunks(bytes).find(|(kind, _)| *kind == b"iCCP")?.1;
    let name_end = data.iter().take(80).position(|&b| b == 0)?;
    let (&method, zlib) = data.get(name_end + 1..)?.split_first()?;
    if method != 0 {
        return None;
    }
    fdeflate::decompress_to_vec_bounded(zlib, MAX_ICC_BYTES).ok()
}

/// The chunks of a PNG before its first IDAT, as (type, data); CRCs are the decoder's business.
fn chunks(bytes: &[u8]) -> impl Iterator<Item = (&[u8; 4], &[u8])> {
    let mut at = 8;
    std::iter::from_fn(move || {
        let len = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind: &[u8; 4] = bytes.get(at + 4..at + 8)?.try_into().ok()?;
        if kind == b"IDAT" {
            return None;
        }
        let data = bytes.get(at + 8..at + 8 + len)?;
        at += 12 + len;
        Some((kind, data))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG with the given chunks between IHDR (1x1 gray) and IDAT.
    fn png_with(extra: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut chunk = |kind: &[u8; 4], data: &[u8]| {
            out.extend((data.len() as u32).to_be_bytes());
            out.extend(kind);
            out.extend(data);
            out.extend([0; 4]);
        };
        chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
        for (kind, data) in extra {
            chunk(kind, data);
        }
        chunk(b"IDAT", &[]);
        out
    }

    fn iccp(profile: &[u8]) -> Vec<u8> {
        let mut data = b"icc\0\0".to_vec();
        data.extend(fdeflate::compress_to_vec(profile));
        data
    }

    #[test]
    fn profiles_are_inflated_up_to_the_cap() {
        let small = vec![7u8; 1000];
        assert_eq!(icc_profile(&png_with(&[(b"iCCP", iccp(&small))])), Some(small));
        let huge = vec![0u8; MAX_ICC_BYTES + 1];
        assert_eq!(icc_profile(&png_with(&[(b"iCCP", iccp(&huge))])), None);
        assert_eq!(icc_profile(&png_with(&[(b"tEXt", b"a\0b".to_vec())])), None);
        assert_eq!(icc_profile(b"\x89PNG\r\n\x1a\n\0\0"), None);
    }
}
