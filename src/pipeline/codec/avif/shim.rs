//! The calls into libavif's shim (`avif_shim.c`, compiled by build.rs): reading a file's facts,
//! decoding its first image into 8-bit pixels, encoding with aom, and the library's versions.

use std::borrow::Cow;
use std::ffi::{c_char, c_void};

use super::{Effort, Info};
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::codec::ffi::{ShimText, pixel_bytes};

/// Frames an AVIF sequence may declare: only the first is decoded, but each is parsed.
const MAX_FRAMES: u32 = 10_000;

/// aom's speed (0 slowest .. 10 fastest; libavif's default), chosen by
/// `benches/quality/avif_encoders.py` (docs/delivery.md): at equal SSIM 10-45 %
/// fewer bytes than speed 8 for about 1.5x its time.
const SPEED: i32 = 6;

/// aom's speed for [`Effort::Small`] outputs, rendered once ahead of requests.
const SMALL_SPEED: i32 = 4;

unsafe extern "C" {
    fn image_server_avif_image(
        pixels: *const u8,
        width: u32,
        height: u32,
        channels: u32,
        error: *mut c_char,
        error_len: usize,
    ) -> *mut c_void;
    fn image_server_avif_image_free(image: *mut c_void);
    fn image_server_avif_write(
        image: *const c_void,
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
    fn image_server_avif_info(
        data: *const u8,
        len: usize,
        size_limit: u32,
        count_limit: u32,
        info: *mut Info,
        error: *mut c_char,
        error_len: usize,
    ) -> i32;
    fn image_server_avif_decode(
        data: *const u8,
        len: usize,
        size_limit: u32,
        count_limit: u32,
        out: *mut u8,
        stride: usize,
        width: u32,
        height: u32,
        channels: u32,
        icc: *mut u8,
        icc_cap: usize,
        error: *mut c_char,
        error_len: usize,
    ) -> i32;
}

pub(super) fn info(bytes: &[u8], size_limit: u32) -> Result<Info, String> {
    let mut info = Info::default();
    let mut error = ShimText::new();
    // SAFETY: the shim reads `bytes`, fills `info` (laid out as its struct) and writes a
    // NUL-terminated message of at most error.len() bytes.
    unsafe {
        let status = image_server_avif_info(
            bytes.as_ptr(),
            bytes.len(),
            size_limit,
            MAX_FRAMES,
            &mut info,
            error.as_mut_ptr(),
            error.len(),
        );
        if status != 0 {
            return Err(error.text());
        }
    }
    Ok(info)
}

/// Decodes into `out` (the header's size in `layout`) and the ICC profile into `icc` when
/// it has the profile's length.
pub(super) fn decode(
    bytes: &[u8],
    size_limit: u32,
    info: &Info,
    layout: Layout,
    out: &mut [u8],
    icc: &mut [u8],
) -> Result<(), String> {
    let channels = layout.channels();
    assert_eq!(out.len(), info.width as usize * info.height as usize * channels);
    let mut error = ShimText::new();
    // SAFETY: `out` holds height rows of width * channels bytes and `icc` icc.len() bytes;
    // the shim writes within them and a NUL-terminated message of at most error.len().
    unsafe {
        let status = image_server_avif_decode(
            bytes.as_ptr(),
            bytes.len(),
            size_limit,
            MAX_FRAMES,
            out.as_mut_ptr(),
            info.width as usize * channels,
            info.width,
            info.height,
            channels as u32,
            icc.as_mut_ptr(),
            icc.len(),
            error.as_mut_ptr(),
            error.len(),
        );
        if status != 0 {
            return Err(error.text());
        }
    }
    Ok(())
}

/// libavif's YUV image of an encode (`image_server_avif_image`), destroyed when dropped.
struct YuvImage(*mut c_void);

impl Drop for YuvImage {
    fn drop(&mut self) {
        // SAFETY: made by image_server_avif_image, destroyed once, here.
        unsafe { image_server_avif_image_free(self.0) }
    }
}

pub(super) fn encode(
    bitmap: Cow<'_, Bitmap>,
    quantizer: i32,
    alpha_quantizer: i32,
    effort: Effort,
) -> Result<Vec<u8>, Option<String>> {
    pixel_bytes(&bitmap).map_err(Some)?;
    let channels = bitmap.layout.channels() as u32;
    let mut out: *mut u8 = std::ptr::null_mut();
    let mut len = 0usize;
    let mut error = ShimText::new();
    // SAFETY: the shim reads the bitmap's pixel bytes and writes at most error.len() bytes
    // of message; the image it returns is its own copy of them.
    let image = unsafe {
        image_server_avif_image(
            bitmap.data.as_ptr(),
            bitmap.width,
            bitmap.height,
            channels,
            error.as_mut_ptr(),
            error.len(),
        )
    };
    if image.is_null() {
        return Err(Some(error.text()));
    }
    let image = YuvImage(image);
    drop(bitmap);
    let speed = match effort {
        Effort::Fast => SPEED,
        Effort::Small => SMALL_SPEED,
    };
    // SAFETY: `image` is live; on success the shim hands out a buffer of `len` bytes that
    // is copied, then released once with image_server_avif_free.
    unsafe {
        let status = image_server_avif_write(
            image.0,
            quantizer,
            alpha_quantizer,
            speed,
            &mut out,
            &mut len,
            error.as_mut_ptr(),
            error.len(),
        );
        if status != 0 || out.is_null() {
            return Err(Some(error.text()));
        }
        let bytes = std::slice::from_raw_parts(out, len).to_vec();
        image_server_avif_free(out, len);
        Ok(bytes)
    }
}

pub(super) fn versions() -> String {
    let mut buffer = ShimText::new();
    // SAFETY: the shim writes a NUL-terminated string of at most buffer.len() bytes.
    unsafe { image_server_avif_versions(buffer.as_mut_ptr(), buffer.len()) };
    buffer.text()
}
