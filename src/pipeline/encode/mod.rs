//! Encoders per output format. Nothing but pixels goes out: no EXIF, ICC, XMP or comments.
//!
//! On the request path the encoders run at their fast settings: libjpeg-turbo's encoder (not
//! mozjpeg's trellis, which costs 14x the time and, measured by SSIM, saves nothing) with
//! optimised Huffman tables and, from 50 kilopixels, the standard progressive script (2-3 % fewer
//! bytes at equal SSIM for about 1 ms at 400 px), libwebp at its default method, PNG with fast
//! deflate, AVIF with aom at speed 6 (avif.rs).

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};

use image::codecs::gif::GifEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

mod avif;

pub(crate) use avif::versions as avif_versions;

use super::RenderError;
use super::bitmap::{Bitmap, Layout};
use crate::model::ImageFormat;

/// Encodes `bitmap` (Gray, Rgb or Rgba) as `format` at `quality` (1..=100, lossy formats only).
pub fn encode(bitmap: &Bitmap, format: ImageFormat, quality: u8) -> Result<Vec<u8>, RenderError> {
    let fail = |reason: String| RenderError::Encode { format: format.name(), reason };
    match format {
        ImageFormat::Jpeg => {
            let progressive = u64::from(bitmap.width) * u64::from(bitmap.height) >= PROGRESSIVE_FROM_PIXELS;
            jpeg(bitmap, quality, progressive).map_err(fail)
        }
        ImageFormat::Webp => webp(bitmap, quality).map_err(fail),
        ImageFormat::Png => png(bitmap).map_err(fail),
        ImageFormat::Gif => gif(bitmap).map_err(fail),
        ImageFormat::Avif => avif::encode(bitmap, quality),
    }
}

/// Encodes a working copy: a baseline JPEG, because a progressive one is several times slower to
/// decode (libjpeg keeps the whole coefficient buffer, even when decoding scaled), and working
/// copies are decoded on every miss.
pub(crate) fn working_copy_jpeg(bitmap: &Bitmap, quality: u8) -> Result<Vec<u8>, RenderError> {
    jpeg(bitmap, quality, false).map_err(|reason| RenderError::Encode { format: "jpg", reason })
}

/// Below this size the progressive script's extra scan headers outweigh what it saves.
const PROGRESSIVE_FROM_PIXELS: u64 = 50_000;

fn jpeg(bitmap: &Bitmap, quality: u8, progressive: bool) -> Result<Vec<u8>, String> {
    let color_space = match bitmap.layout {
        Layout::Gray => mozjpeg::ColorSpace::JCS_GRAYSCALE,
        Layout::Rgb => mozjpeg::ColorSpace::JCS_RGB,
        other => return Err(format!("cannot write {other:?} pixels as JPEG")),
    };
    let run = AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(color_space);
        c.set_fastest_defaults();
        c.set_size(bitmap.width as usize, bitmap.height as usize);
        c.set_quality(f32::from(quality));
        c.set_optimize_coding(true);
        if progressive {
            c.set_progressive_mode();
        }
        let mut started = c.start_compress(Vec::with_capacity(bitmap.data.len() / 8))?;
        started.write_scanlines(&bitmap.data)?;
        started.finish()
    });
    match catch_unwind(run) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("libjpeg failed".to_owned()),
    }
}

/// Gray expanded to RGB for encoders that only take colour; other layouts borrowed as they are.
fn in_colour(bitmap: &Bitmap) -> Cow<'_, Bitmap> {
    if bitmap.layout == Layout::Gray { Cow::Owned(bitmap.clone().into_rgb()) } else { Cow::Borrowed(bitmap) }
}

fn webp(bitmap: &Bitmap, quality: u8) -> Result<Vec<u8>, String> {
    let bitmap = in_colour(bitmap);
    let stride = bitmap.width as i32 * bitmap.layout.channels() as i32;
    let mut out: *mut u8 = std::ptr::null_mut();
    // SAFETY: the pixel buffer holds height rows of `stride` bytes; libwebp allocates `out`,
    // which is copied and then released with WebPFree.
    unsafe {
        let encode = match bitmap.layout {
            Layout::Rgba => libwebp_sys::WebPEncodeRGBA,
            _ => libwebp_sys::WebPEncodeRGB,
        };
        let size = encode(
            bitmap.data.as_ptr(),
            bitmap.width as i32,
            bitmap.height as i32,
            stride,
            f32::from(quality),
            &mut out,
        );
        if size == 0 || out.is_null() {
            return Err("libwebp could not encode the image (larger than 16383 pixels on a side?)".to_owned());
        }
        let bytes = std::slice::from_raw_parts(out, size).to_vec();
        libwebp_sys::WebPFree(out.cast());
        Ok(bytes)
    }
}

fn color_type(layout: Layout) -> ExtendedColorType {
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

fn gif(bitmap: &Bitmap) -> Result<Vec<u8>, String> {
    let bitmap = in_colour(bitmap);
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
        encoder
            .encode(&bitmap.data, bitmap.width, bitmap.height, color_type(bitmap.layout))
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}
