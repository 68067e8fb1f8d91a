//! JPEG XL output through the system libjxl: a C shim (jxl_shim.c) compiled by build.rs against
//! the installed header when pkg-config finds libjxl (`cfg(jxl)`); without it `.jxl` is not
//! offered (`ImageFormat::is_written`).

use std::borrow::Cow;

use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::codec::Effort;

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

/// Encodes RGB, RGBA or gray pixels (sRGB) as a JPEG XL codestream. libjxl takes its own copy
/// of the pixels first, and an owned `bitmap` is dropped before it encodes.
pub(super) fn encode(bitmap: Cow<'_, Bitmap>, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
    if bitmap.layout == Layout::Cmyk {
        return Err(RenderError::Encode { format: "jxl", reason: format!("cannot write {:?} pixels", bitmap.layout) });
    }
    let effort = match effort {
        Effort::Fast => FAST_EFFORT,
        Effort::Small => SMALL_EFFORT,
    };
    imp::encode(bitmap, distance(quality), effort).map_err(|reason| match reason {
        None => RenderError::Internal("this build has no libjxl (apt-get install libjxl-dev, then rebuild)".into()),
        Some(reason) => RenderError::Encode { format: "jxl", reason },
    })
}

#[cfg(jxl)]
mod imp {
    use std::borrow::Cow;
    use std::ffi::{c_char, c_void};

    use crate::pipeline::codec::ffi::{ShimText, pixel_bytes};

    use crate::pipeline::bitmap::Bitmap;

    unsafe extern "C" {
        fn image_server_jxl_start(
            pixels: *const u8,
            width: u32,
            height: u32,
            channels: u32,
            distance: f32,
            effort: i32,
            error: *mut c_char,
            error_len: usize,
        ) -> *mut c_void;
        fn image_server_jxl_finish(
            enc: *mut c_void,
            size_hint: usize,
            out: *mut *mut u8,
            out_len: *mut usize,
            error: *mut c_char,
            error_len: usize,
        ) -> i32;
        fn image_server_jxl_abandon(enc: *mut c_void);
        fn image_server_jxl_free(data: *mut u8);
    }

    /// An encoder holding its frame (`image_server_jxl_start`), destroyed if never finished.
    struct Started(*mut c_void);

    impl Drop for Started {
        fn drop(&mut self) {
            if !self.0.is_null() {
                // SAFETY: made by image_server_jxl_start and not handed to finish.
                unsafe { image_server_jxl_abandon(self.0) }
            }
        }
    }

    pub(super) fn encode(bitmap: Cow<'_, Bitmap>, distance: f32, effort: i32) -> Result<Vec<u8>, Option<String>> {
        let expected = pixel_bytes(&bitmap).map_err(Some)?;
        let channels = bitmap.layout.channels() as u32;
        let mut out: *mut u8 = std::ptr::null_mut();
        let mut len = 0usize;
        let mut error = ShimText::new();
        // SAFETY: the shim reads `expected` bytes of pixels into the encoder's own frame and
        // writes at most error.len() bytes of message.
        let mut started = Started(unsafe {
            image_server_jxl_start(
                bitmap.data.as_ptr(),
                bitmap.width,
                bitmap.height,
                channels,
                distance,
                effort,
                error.as_mut_ptr(),
                error.len(),
            )
        });
        if started.0.is_null() {
            return Err(Some(error.text()));
        }
        drop(bitmap);
        let enc = std::mem::replace(&mut started.0, std::ptr::null_mut());
        // SAFETY: `enc` is finished (and destroyed) once; on success the shim hands out a buffer
        // of `len` bytes that is copied, then released once with image_server_jxl_free.
        unsafe {
            let status = image_server_jxl_finish(enc, expected, &mut out, &mut len, error.as_mut_ptr(), error.len());
            if status != 0 || out.is_null() {
                return Err(Some(error.text()));
            }
            let bytes = std::slice::from_raw_parts(out, len).to_vec();
            image_server_jxl_free(out);
            Ok(bytes)
        }
    }
}

#[cfg(not(jxl))]
mod imp {
    use std::borrow::Cow;

    use crate::pipeline::bitmap::Bitmap;

    pub(super) fn encode(_: Cow<'_, Bitmap>, _: f32, _: i32) -> Result<Vec<u8>, Option<String>> {
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
            let bytes = encode(Cow::Borrowed(&bitmap), 75, Effort::Fast).unwrap();
            assert_eq!(&bytes[..2], [0xFF, 0x0A], "{:?}", bitmap.layout);
        }
    }
}
