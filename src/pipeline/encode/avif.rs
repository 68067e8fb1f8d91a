//! AVIF output through the system libavif with aom (see README, "AVIF"): a C shim compiled by
//! build.rs against the installed header, so this side only passes plain values. A build without
//! libavif's development files (`cfg(avif)` unset) does not offer `.avif` (see
//! `ImageFormat::is_written`).

use super::{Effort, in_colour};
use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};

/// The 1..=100 quality scale of libavif 1.x and `avifenc -q`, as aom's quantizer (0 best ..
/// 63 worst): 60 is 25, 80 is 13, 100 is lossless.
pub(crate) fn quantizer(quality: u8) -> i32 {
    let quality = i32::from(quality.clamp(1, 100));
    ((100 - quality) * 63 + 50) / 100
}

/// libavif's version and codecs, or why there is none.
pub(crate) fn versions() -> String {
    imp::versions()
}

/// Encodes an RGB, RGBA or gray bitmap as a still AVIF at `quality` (4:2:0, full range sRGB,
/// alpha at the colour's quantizer).
pub(super) fn encode(bitmap: &Bitmap, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
    let bitmap = in_colour(bitmap);
    if !matches!(bitmap.layout, Layout::Rgb | Layout::Rgba) {
        return Err(RenderError::Encode { format: "avif", reason: format!("cannot write {:?} pixels", bitmap.layout) });
    }
    let q = quantizer(quality);
    imp::encode(&bitmap, q, q, effort).map_err(|reason| match reason {
        None => RenderError::Internal("this build has no libavif (apt-get install libavif-dev, then rebuild)".into()),
        Some(reason) => RenderError::Encode { format: "avif", reason },
    })
}

#[cfg(avif)]
mod imp {
    use std::ffi::{CStr, c_char};

    use super::Effort;
    use crate::pipeline::bitmap::Bitmap;

    /// aom's speed (0 slowest .. 10 fastest; libavif's default), chosen by
    /// `benches/quality/avif_encoders.py` (README, "Delivery to browsers"): at equal SSIM 10-45 %
    /// fewer bytes than speed 8 for about 1.5x its time.
    const SPEED: i32 = 6;

    /// aom's speed for [`Effort::Small`] outputs, rendered once ahead of requests.
    const SMALL_SPEED: i32 = 4;

    unsafe extern "C" {
        fn image_server_avif_encode(
            pixels: *const u8,
            width: u32,
            height: u32,
            channels: u32,
            quantizer: i32,
            alpha_quantizer: i32,
            speed: i32,
            out: *mut *mut u8,
            out_len: *mut usize,
            error: *mut c_char,
            error_len: usize,
        ) -> i32;
        fn image_server_avif_free(data: *mut u8, len: usize);
        fn image_server_avif_versions(buffer: *mut c_char, len: usize);
    }

    pub(super) fn encode(
        bitmap: &Bitmap,
        quantizer: i32,
        alpha_quantizer: i32,
        effort: Effort,
    ) -> Result<Vec<u8>, Option<String>> {
        let channels = bitmap.layout.channels() as u32;
        let expected = bitmap.width as usize * bitmap.height as usize * channels as usize;
        if bitmap.data.len() != expected {
            return Err(Some(format!("{} bytes for {}x{}x{channels}", bitmap.data.len(), bitmap.width, bitmap.height)));
        }
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut len = 0usize;
        let mut error = [0 as c_char; 512];
        // SAFETY: the shim reads `expected` bytes of pixels, writes at most error.len() bytes of
        // message, and on success hands out a buffer of `len` bytes that is copied, then released
        // once with image_server_avif_free.
        unsafe {
            let status = image_server_avif_encode(
                bitmap.data.as_ptr(),
                bitmap.width,
                bitmap.height,
                channels,
                quantizer,
                alpha_quantizer,
                match effort {
                    Effort::Fast => SPEED,
                    Effort::Small => SMALL_SPEED,
                },
                &mut out,
                &mut len,
                error.as_mut_ptr(),
                error.len(),
            );
            if status != 0 || out.is_null() {
                return Err(Some(CStr::from_ptr(error.as_ptr()).to_string_lossy().into_owned()));
            }
            let bytes = std::slice::from_raw_parts(out, len).to_vec();
            image_server_avif_free(out, len);
            Ok(bytes)
        }
    }

    pub(super) fn versions() -> String {
        let mut buffer = [0 as c_char; 512];
        // SAFETY: the shim writes a NUL-terminated string of at most buffer.len() bytes.
        unsafe {
            image_server_avif_versions(buffer.as_mut_ptr(), buffer.len());
            CStr::from_ptr(buffer.as_ptr()).to_string_lossy().into_owned()
        }
    }
}

#[cfg(not(avif))]
mod imp {
    use super::Effort;
    use crate::pipeline::bitmap::Bitmap;

    pub(super) fn encode(_: &Bitmap, _: i32, _: i32, _: Effort) -> Result<Vec<u8>, Option<String>> {
        Err(None)
    }

    pub(super) fn versions() -> String {
        "none: built without libavif (apt-get install libavif-dev, then rebuild)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(avif))]
    #[test]
    fn this_build_writes_avif() {
        panic!("built without libavif: apt-get install libavif-dev (scripts/test does), then rebuild");
    }

    #[test]
    fn quality_scale_is_libavifs() {
        assert_eq!(quantizer(100), 0);
        assert_eq!(quantizer(60), 25);
        assert_eq!(quantizer(80), 13);
        assert_eq!(quantizer(1), 62);
    }

    #[cfg(avif)]
    #[test]
    fn encodes_rgb_rgba_and_gray() {
        let (w, h) = (67, 45);
        let rgb = Bitmap::new(Layout::Rgb, w, h, (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect());
        let rgba = Bitmap::new(Layout::Rgba, w, h, (0..w * h * 4).map(|i| (i % 199) as u8).collect());
        let gray = Bitmap::new(Layout::Gray, w, h, (0..w * h).map(|i| (i % 256) as u8).collect());
        let alpha_urn: &[u8] = b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha";
        for (bitmap, alpha) in [(rgb, false), (rgba, true), (gray, false)] {
            let bytes = encode(&bitmap, 60, Effort::Fast).unwrap();
            assert_eq!(&bytes[4..12], b"ftypavif");
            assert_eq!(bytes.windows(alpha_urn.len()).any(|x| x == alpha_urn), alpha, "{:?}", bitmap.layout);
        }
        assert!(versions().contains("aom"), "{}", versions());
    }
}
