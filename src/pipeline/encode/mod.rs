//! Encoders per output format. Nothing but pixels goes out: no EXIF, ICC, XMP or comments.
//!
//! [`Effort::Fast`], on the request path: libjpeg-turbo's encoder (not mozjpeg's trellis) with
//! optimised Huffman tables and, from 50 kilopixels, the standard progressive script (2-3 % fewer
//! bytes at equal SSIM for about 1 ms at 400 px), libwebp at its default method 4, PNG with fast
//! deflate, AVIF with aom at speed 6 (avif.rs).
//!
//! [`Effort::Small`], for outputs rendered once ahead of requests (at upload, by `regenerate`, in
//! the background; DESIGN.md §11): mozjpeg's own defaults (trellis quantisation, optimised
//! progressive scans), libwebp method 6 (5 with alpha), PNG through oxipng, AVIF at aom speed 4. README's table
//! ("Optimised outputs") gives what each saves at equal SSIM and what it costs.

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

/// Encodes `bitmap` (Gray, Rgb or Rgba) as `format` at `quality` (1..=100, lossy formats only).
pub fn encode(bitmap: &Bitmap, format: ImageFormat, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
    let fail = |reason: String| RenderError::Encode { format: format.name(), reason };
    match (format, effort) {
        (ImageFormat::Jpeg, Effort::Fast) => {
            let progressive = u64::from(bitmap.width) * u64::from(bitmap.height) >= PROGRESSIVE_FROM_PIXELS;
            jpeg(bitmap, quality, JpegSettings::Fast { progressive }).map_err(fail)
        }
        (ImageFormat::Jpeg, Effort::Small) => jpeg(bitmap, quality, JpegSettings::Small).map_err(fail),
        (ImageFormat::Webp, Effort::Fast) => webp(bitmap, quality, FAST_WEBP_METHOD).map_err(fail),
        (ImageFormat::Webp, Effort::Small) => webp(bitmap, quality, small_webp_method(bitmap)).map_err(fail),
        (ImageFormat::Png, Effort::Fast) => png(bitmap).map_err(fail),
        (ImageFormat::Png, Effort::Small) => png(bitmap).and_then(|png| optimise_png(&png)).map_err(fail),
        (ImageFormat::Gif, _) => gif(bitmap).map_err(fail),
        (ImageFormat::Avif, effort) => avif::encode(bitmap, quality, effort),
    }
}

/// libwebp's default method (0 fastest .. 6 smallest).
const FAST_WEBP_METHOD: i32 = 4;

/// Method 6, but 5 for images with alpha: at 6 libwebp also runs its lossless "cruncher" over
/// the alpha plane, measured at 40-70x the time of method 4 for about 1 % of the bytes
/// (`benches/quality/effort.py`).
fn small_webp_method(bitmap: &Bitmap) -> i32 {
    if bitmap.layout == Layout::Rgba { 5 } else { 6 }
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

/// Encodes a working copy: a baseline JPEG, because a progressive one is several times slower to
/// decode (libjpeg keeps the whole coefficient buffer, even when decoding scaled), and working
/// copies are decoded on every miss.
pub(crate) fn working_copy_jpeg(bitmap: &Bitmap, quality: u8) -> Result<Vec<u8>, RenderError> {
    jpeg(bitmap, quality, JpegSettings::Fast { progressive: false })
        .map_err(|reason| RenderError::Encode { format: "jpg", reason })
}

/// Which of libjpeg's encoders writes a JPEG.
#[derive(Clone, Copy)]
enum JpegSettings {
    /// libjpeg-turbo's, with optimised Huffman tables, progressive where asked.
    Fast { progressive: bool },
    /// mozjpeg's defaults (trellis quantisation, a progressive script searched for the fewest
    /// bytes) over the same quantisation tables as `Fast`.
    Small,
}

/// Below this size the progressive script's extra scan headers outweigh what it saves.
const PROGRESSIVE_FROM_PIXELS: u64 = 50_000;

fn jpeg(bitmap: &Bitmap, quality: u8, settings: JpegSettings) -> Result<Vec<u8>, String> {
    let color_space = match bitmap.layout {
        Layout::Gray => mozjpeg::ColorSpace::JCS_GRAYSCALE,
        Layout::Rgb => mozjpeg::ColorSpace::JCS_RGB,
        other => return Err(format!("cannot write {other:?} pixels as JPEG")),
    };
    let run = AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(color_space);
        if let JpegSettings::Fast { progressive } = settings {
            c.set_fastest_defaults();
            if progressive {
                c.set_progressive_mode();
            }
        }
        c.set_size(bitmap.width as usize, bitmap.height as usize);
        match settings {
            JpegSettings::Fast { .. } => c.set_quality(f32::from(quality)),
            // libjpeg's standard tables, scaled as `set_quality` scales them: mozjpeg's own
            // tables would make the same -q another quality (measured: q80 on them matches the
            // SSIM of q85 on these).
            JpegSettings::Small => {
                let q = f32::from(quality);
                c.set_luma_qtable(&mozjpeg::qtable::AnnexK_Luma.scaled(q, q));
                c.set_chroma_qtable(&mozjpeg::qtable::AnnexK_Chroma.scaled(q, q));
            }
        }
        c.set_optimize_coding(true);
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

fn webp(bitmap: &Bitmap, quality: u8, method: i32) -> Result<Vec<u8>, String> {
    use libwebp_sys as webp;
    let bitmap = in_colour(bitmap);
    let stride = bitmap.width as i32 * bitmap.layout.channels() as i32;
    let mut config = webp::WebPConfig::new_with_preset(webp::WebPPreset::WEBP_PRESET_DEFAULT, f32::from(quality))
        .map_err(|()| "libwebp version mismatch".to_owned())?;
    config.method = method;
    // SAFETY: the picture is initialised by libwebp and imports the pixel buffer (height rows of
    // `stride` bytes) into its own memory; the writer collects the output, which is copied out;
    // both are freed on every path.
    unsafe {
        let mut picture = webp::WebPPicture::new().map_err(|()| "libwebp version mismatch".to_owned())?;
        picture.use_argb = 0;
        picture.width = bitmap.width as i32;
        picture.height = bitmap.height as i32;
        let mut writer: webp::WebPMemoryWriter = std::mem::zeroed();
        webp::WebPMemoryWriterInit(&mut writer);
        picture.writer = Some(webp::WebPMemoryWrite);
        picture.custom_ptr = (&raw mut writer).cast();
        let imported = match bitmap.layout {
            Layout::Rgba => webp::WebPPictureImportRGBA(&mut picture, bitmap.data.as_ptr(), stride),
            _ => webp::WebPPictureImportRGB(&mut picture, bitmap.data.as_ptr(), stride),
        } != 0;
        let encoded = imported && webp::WebPEncode(&config, &mut picture) != 0;
        let error = picture.error_code;
        webp::WebPPictureFree(&mut picture);
        let bytes = encoded.then(|| std::slice::from_raw_parts(writer.mem, writer.size).to_vec());
        webp::WebPMemoryWriterClear(&mut writer);
        bytes.ok_or_else(|| {
            format!("libwebp could not encode the image ({error:?}; larger than 16383 pixels on a side?)")
        })
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
