//! WebP through libwebp: header and metadata chunks, scaled decoding of still images, lossy
//! encoding; animations (decoded frame by frame, and written) in [`animation`].

mod animation;

use std::borrow::Cow;

use libwebp_sys as webp;

use super::{AnimationEncoder, Codec, Decoded, Effort, Header};
use crate::model::ImageFormat;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;
use crate::pipeline::{Limits, RenderError};

pub(super) fn corrupt(reason: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt("WebP", reason)
}

pub(super) fn features(bytes: &[u8]) -> Result<webp::WebPBitstreamFeatures, RenderError> {
    // SAFETY: a zeroed features struct is valid; libwebp reads only `bytes`.
    let mut f: webp::WebPBitstreamFeatures = unsafe { std::mem::zeroed() };
    let status = unsafe { webp::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut f) };
    if status != webp::VP8StatusCode::VP8_STATUS_OK {
        return Err(corrupt(format_args!("unreadable header ({status:?})")));
    }
    Ok(f)
}

/// WebP's row of the codec table.
pub(super) struct Webp;

impl Codec for Webp {
    fn format(&self) -> ImageFormat {
        ImageFormat::Webp
    }

    fn signature(&self) -> &'static [u8] {
        b"RIFF\0\0\0\0WEBP"
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP"
    }

    fn read_header(&self, bytes: &[u8], _: &Limits) -> Result<Header, RenderError> {
        read_header(bytes)
    }

    fn animation(&self, bytes: &[u8], _: &Header) -> Result<(u32, u32), RenderError> {
        animation::animation(bytes)
    }

    fn decode(&self, bytes: &[u8], header: &Header, min_scale: f64, _: &Limits) -> Result<Decoded, RenderError> {
        decode(bytes, header, min_scale)
    }

    /// A lossless file: libwebp's ARGB copy of the whole image (4), which it decodes before it
    /// scales, and our RGBA bitmap (4). Lossy files hold less.
    fn decode_bytes_per_pixel(&self) -> u64 {
        8
    }

    /// Measured: our RGB bitmap (3) while libwebp converts it into its YUV planes (1.5), 4.5 in
    /// all; with alpha, our RGBA bitmap (4) and the planes (2.5), then its lossless alpha coder's
    /// ARGB copy of the alpha, hash chain and backward references: 15.8.
    fn encode_bytes_per_pixel(&self, _pixels: u64, alpha: bool) -> u64 {
        if alpha { 17 } else { 5 }
    }

    fn for_each_frame(
        &self,
        bytes: &[u8],
        header: &Header,
        max_frames: u32,
        frame: &mut super::FrameSink<'_>,
    ) -> Result<(), RenderError> {
        animation::for_each_frame(bytes, header, max_frames, frame)
    }

    /// libwebp at its default method 4 on the request path; method 6 (5 with alpha) for
    /// outputs rendered ahead of requests.
    fn encode(&self, bitmap: Cow<'_, Bitmap>, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
        let method = match effort {
            Effort::Fast => FAST_WEBP_METHOD,
            Effort::Small => small_webp_method(&bitmap),
        };
        webp(bitmap, quality, method).map_err(|reason| RenderError::Encode { format: "webp", reason })
    }

    fn animation_encoder(
        &self,
        width: u32,
        height: u32,
        quality: u8,
        plays: u32,
    ) -> Result<Box<dyn AnimationEncoder>, RenderError> {
        Ok(Box::new(animation::WebpAnimation::new(width, height, quality, plays)?))
    }
}

fn read_header(bytes: &[u8]) -> Result<Header, RenderError> {
    let f = features(bytes)?;
    let orientation = chunk(bytes, b"EXIF").map_or(Orientation::UPRIGHT, super::exif::orientation);
    Ok(Header {
        format: ImageFormat::Webp,
        width: u32::try_from(f.width).map_err(corrupt)?,
        height: u32::try_from(f.height).map_err(corrupt)?,
        orientation,
    })
}

fn decode(bytes: &[u8], header: &Header, min_scale: f64) -> Result<Decoded, RenderError> {
    let f = features(bytes)?;
    let icc = chunk(bytes, b"ICCP").filter(|icc| icc.len() <= super::MAX_ICC_BYTES).map(<[u8]>::to_vec);
    let bitmap = if f.has_animation != 0 {
        animation::first_frame(bytes, header)?
    } else {
        still(bytes, header, f.has_alpha != 0, min_scale)?
    };
    Ok(Decoded { bitmap, icc, cmyk_inverted: false })
}

/// Decodes a still image into memory we own, scaled down by libwebp when `min_scale` < 1.
pub(super) fn still(bytes: &[u8], header: &Header, alpha: bool, min_scale: f64) -> Result<Bitmap, RenderError> {
    let (layout, mode) = if alpha {
        (Layout::Rgba, webp::WEBP_CSP_MODE::MODE_RGBA)
    } else {
        (Layout::Rgb, webp::WEBP_CSP_MODE::MODE_RGB)
    };
    let (mut width, mut height) = (header.width, header.height);
    let mut config = webp::WebPDecoderConfig::new().map_err(|()| corrupt("libwebp version mismatch"))?;
    if min_scale < 1.0 {
        let side = |n: u32| ((f64::from(n) * min_scale).ceil() as u32).clamp(1, n);
        (width, height) = (side(width), side(height));
        config.options.use_scaling = 1;
        config.options.scaled_width = width as i32;
        config.options.scaled_height = height as i32;
    }
    let stride = width as usize * layout.channels();
    let mut data: Vec<u8> = Vec::new();
    data.try_reserve_exact(stride * height as usize).map_err(|_| corrupt("out of memory"))?;
    data.resize(stride * height as usize, 0);
    decode_into(bytes, config, mode, &mut data, stride)?;
    Ok(Bitmap::new(layout, width, height, data))
}

/// Decodes into `out`, rows `stride` bytes apart (a region of a larger canvas, say), in `mode`
/// at the size `config` says.
pub(super) fn decode_into(
    bytes: &[u8],
    mut config: webp::WebPDecoderConfig,
    mode: webp::WEBP_CSP_MODE,
    out: &mut [u8],
    stride: usize,
) -> Result<(), RenderError> {
    config.output.colorspace = mode;
    config.output.is_external_memory = 1;
    config.output.u.RGBA = webp::WebPRGBABuffer { rgba: out.as_mut_ptr(), stride: stride as i32, size: out.len() };
    // SAFETY: the output buffer points at `out`, which outlives the call; libwebp checks that
    // `size` holds the rows at `stride`; with external memory it allocates nothing we must free.
    let status = unsafe { webp::WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    if status != webp::VP8StatusCode::VP8_STATUS_OK {
        let why = match status {
            webp::VP8StatusCode::VP8_STATUS_NOT_ENOUGH_DATA => {
                "the file ends before the image data does (truncated)".to_owned()
            }
            other => format!("bad image data ({other:?})"),
        };
        return Err(corrupt(why));
    }
    Ok(())
}

/// libwebp's default method (0 fastest .. 6 smallest).
const FAST_WEBP_METHOD: i32 = 4;

/// Method 6, but 5 for images with alpha: at 6 libwebp also runs its lossless "cruncher" over
/// the alpha plane, measured at 40-70x the time of method 4 for about 1 % of the bytes
/// (`benches/quality/effort.py`).
fn small_webp_method(bitmap: &Bitmap) -> i32 {
    if bitmap.layout == Layout::Rgba { 5 } else { 6 }
}

/// Encodes through libwebp's YUV picture: the pixels are converted into it first (gray straight
/// into its luma plane), and an owned `bitmap` is dropped before libwebp encodes.
fn webp(bitmap: Cow<'_, Bitmap>, quality: u8, method: i32) -> Result<Vec<u8>, String> {
    let mut config = webp::WebPConfig::new_with_preset(webp::WebPPreset::WEBP_PRESET_DEFAULT, f32::from(quality))
        .map_err(|()| "libwebp version mismatch".to_owned())?;
    config.method = method;
    let stride = bitmap.width as i32 * bitmap.layout.channels() as i32;
    // SAFETY: the picture is initialised by libwebp and imports the pixel buffer (height rows of
    // `stride` bytes) into its own memory; the writer collects the output, which is copied out;
    // both are freed on every path.
    unsafe {
        let mut picture = webp::WebPPicture::new().map_err(|()| "libwebp version mismatch".to_owned())?;
        picture.use_argb = 0;
        picture.width = bitmap.width as i32;
        picture.height = bitmap.height as i32;
        let imported = match bitmap.layout {
            Layout::Rgba => webp::WebPPictureImportRGBA(&mut picture, bitmap.data.as_ptr(), stride) != 0,
            Layout::Rgb => webp::WebPPictureImportRGB(&mut picture, bitmap.data.as_ptr(), stride) != 0,
            Layout::Gray => import_gray(&mut picture, &bitmap),
            Layout::Cmyk => false,
        };
        drop(bitmap);
        let mut writer: webp::WebPMemoryWriter = std::mem::zeroed();
        webp::WebPMemoryWriterInit(&mut writer);
        picture.writer = Some(webp::WebPMemoryWrite);
        picture.custom_ptr = (&raw mut writer).cast();
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

/// Gray pixels into the YUV 4:2:0 planes of `picture`, as `WebPPictureImportRGB` would convert
/// the same gray expanded to RGB (libwebp's limited-range BT.601: luma from its fixed-point
/// weights, chroma 128), without that RGB copy.
///
/// # Safety
/// `picture` is initialised, with the bitmap's width and height.
unsafe fn import_gray(picture: &mut webp::WebPPicture, gray: &Bitmap) -> bool {
    picture.colorspace = webp::WebPEncCSP::WEBP_YUV420;
    // SAFETY: the caller's picture; WebPPictureAlloc sizes its planes for its width and height.
    if unsafe { webp::WebPPictureAlloc(picture) } == 0 {
        return false;
    }
    let (width, height) = (gray.width as usize, gray.height as usize);
    // SAFETY: after WebPPictureAlloc, `y` holds height rows of y_stride bytes (at least width),
    // `u` and `v` (height + 1) / 2 rows of uv_stride bytes.
    unsafe {
        for (row, line) in gray.data.chunks_exact(width).enumerate() {
            let y = std::slice::from_raw_parts_mut(picture.y.add(row * picture.y_stride as usize), width);
            for (out, &v) in y.iter_mut().zip(line) {
                *out = gray_luma(v);
            }
        }
        let chroma = picture.uv_stride as usize * height.div_ceil(2);
        std::ptr::write_bytes(picture.u, 128, chroma);
        std::ptr::write_bytes(picture.v, 128, chroma);
    }
    true
}

/// libwebp's `VP8RGBToY(v, v, v, YUV_HALF)`: limited-range luma of the gray `v`.
fn gray_luma(v: u8) -> u8 {
    ((u32::from(v) * (16839 + 33059 + 6420) + (1 << 15) + (16 << 16)) >> 16) as u8
}

/// The payload of the first RIFF chunk with this FourCC (the extended format's metadata chunks).
fn chunk<'a>(bytes: &'a [u8], fourcc: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = bytes.get(at + 8..at + 8 + size)?;
        if id == fourcc {
            return Some(body);
        }
        at += 8 + size + (size & 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gray_encodes_as_its_rgb_expansion_does() {
        let (w, h) = (67, 45);
        let gray = Bitmap::new(Layout::Gray, w, h, (0..w * h).map(|i| (i * 7 % 256) as u8).collect());
        let rgb = gray.clone().into_rgb();
        for method in [FAST_WEBP_METHOD, 6] {
            let direct = webp(Cow::Borrowed(&gray), 80, method).unwrap();
            assert_eq!(direct, webp(Cow::Owned(rgb.clone()), 80, method).unwrap(), "method {method}");
        }
    }
}
