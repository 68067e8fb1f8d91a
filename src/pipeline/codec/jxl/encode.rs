//! JPEG XL output through the system libjxl: a C shim (jxl_shim.c) compiled by build.rs against
//! the installed header when pkg-config finds libjxl (`cfg(jxl)`); without it `.jxl` is not
//! offered (`ImageFormat::is_written`).

use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::codec::{Effort, in_colour};

/// libjxl's effort on the request path (1 fastest .. 9; 7 is cjxl's default), and for outputs
/// rendered once ahead of requests. Chosen by benches/quality/formats.py (results/).
const FAST_EFFORT: i32 = 4;
const SMALL_EFFORT: i32 = 7;

/// cjxl's quality scale (`-q`) as a butteraugli distance: 100 is lossless, 90 is distance 1
/// (visually lossless), 30 is 6.4.
pub(super) fn distance(quality: u8) -> f32 {
    let q = f32::from(quality.clamp(1, 100));
    if q >= 100.0 {
        0.0
    } else if q >= 30.0 {
        0.1 + (100.0 - q) * 0.09
    } else {
        6.4 + 2.5f32.powf((30.0 - q) / 5.0) / 6.25
    }
}

/// Encodes RGB, RGBA or gray pixels (sRGB) as a JPEG XL codestream.
pub(super) fn encode(bitmap: &Bitmap, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
    let bitmap = in_colour(bitmap);
    if !matches!(bitmap.layout, Layout::Rgb | Layout::Rgba) {
        return Err(RenderError::Encode { format: "jxl", reason: format!("cannot write {:?} pixels", bitmap.layout) });
    }
    let effort = match effort {
        Effort::Fast => FAST_EFFORT,
        Effort::Small => SMALL_EFFORT,
    };
    imp::encode(&bitmap, distance(quality), effort).map_err(|reason| match reason {
        None => RenderError::Internal("this build has no libjxl (apt-get install libjxl-dev, then rebuild)".into()),
        Some(reason) => RenderError::Encode { format: "jxl", reason },
    })
}

#[cfg(jxl)]
mod imp {
    use std::ffi::{CStr, c_char};

    use crate::pipeline::bitmap::Bitmap;

    unsafe extern "C" {
        fn image_server_jxl_encode(
            pixels: *const u8,
            width: u32,
            height: u32,
            channels: u32,
            distance: f32,
            effort: i32,
            out: *mut *mut u8,
            out_len: *mut usize,
            error: *mut c_char,
            error_len: usize,
        ) -> i32;
        fn image_server_jxl_free(data: *mut u8);
    }

    pub(super) fn encode(bitmap: &Bitmap, distance: f32, effort: i32) -> Result<Vec<u8>, Option<String>> {
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
        // once with image_server_jxl_free.
        unsafe {
            let status = image_server_jxl_encode(
                bitmap.data.as_ptr(),
                bitmap.width,
                bitmap.height,
                channels,
                distance,
                effort,
                &mut out,
                &mut len,
                error.as_mut_ptr(),
                error.len(),
            );
            if status != 0 || out.is_null() {
                return Err(Some(CStr::from_ptr(error.as_ptr()).to_string_lossy().into_owned()));
            }
            let bytes = std::slice::from_raw_parts(out, len).to_vec();
            image_server_jxl_free(out);
            Ok(bytes)
        }
    }
}

#[cfg(not(jxl))]
mod imp {
    use crate::pipeline::bitmap::Bitmap;

    pub(super) fn encode(_: &Bitmap, _: f32, _: i32) -> Result<Vec<u8>, Option<String>> {
        Err(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(jxl))]
    #[test]
    fn this_build_writes_jpeg_xl() {
        panic!("built without libjxl: apt-get install libjxl-dev (scripts/test does), then rebuild");
    }

    #[test]
    fn quality_scale_is_cjxls() {
        assert_eq!(distance(100), 0.0);
        assert!((distance(90) - 1.0).abs() < 1e-6);
        assert!((distance(30) - 6.4).abs() < 1e-5);
        assert!(distance(1) > distance(29));
    }

    #[cfg(jxl)]
    #[test]
    fn encodes_rgb_rgba_and_gray() {
        let (w, h) = (67, 45);
        let rgb = Bitmap::new(Layout::Rgb, w, h, (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect());
        let rgba = Bitmap::new(Layout::Rgba, w, h, (0..w * h * 4).map(|i| (i % 199) as u8).collect());
        let gray = Bitmap::new(Layout::Gray, w, h, (0..w * h).map(|i| (i % 256) as u8).collect());
        for bitmap in [rgb, rgba, gray] {
            let bytes = encode(&bitmap, 75, Effort::Fast).unwrap();
            assert_eq!(&bytes[..2], [0xFF, 0x0A], "{:?}", bitmap.layout);
        }
    }
}
