//! JPEG through libjpeg-turbo (as built into mozjpeg-sys): header, EXIF/ICC/Adobe markers, and
//! decoding scaled in the DCT domain.
//!
//! libjpeg reports fatal errors by unwinding out of its error handler; every call into it runs
//! inside `catch_unwind`. A truncated file is only a warning to libjpeg (it pads the image with
//! gray); here it is fatal, so a cut-off upload is refused instead of stored.

use std::any::Any;
use std::mem;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use mozjpeg::{ColorSpace, Decompress, Marker};
use mozjpeg_sys::{jpeg_common_struct, jpeg_error_mgr};

use super::{Decoded, Header};
use crate::model::ImageFormat;
use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;

const MARKERS: &[Marker] = &[Marker::APP(1), Marker::APP(2), Marker::APP(14)];

/// The message an unwinding libjpeg error carries.
struct JpegFailure(String);

pub(super) fn read_header(bytes: &[u8]) -> Result<Header, RenderError> {
    guarded(|| {
        let d = Decompress::with_err(error_manager()).with_markers(MARKERS).from_mem(bytes).map_err(corrupt)?;
        let (width, height) = d.size();
        let orientation = d
            .markers()
            .find(|m| m.marker == Marker::APP(1) && m.data.starts_with(b"Exif\0\0"))
            .map_or(Orientation::UPRIGHT, |m| super::exif::orientation(m.data));
        Ok(Header {
            format: ImageFormat::Jpeg,
            width: u32::try_from(width).unwrap_or(u32::MAX),
            height: u32::try_from(height).unwrap_or(u32::MAX),
            orientation,
        })
    })
}

/// Decodes at the smallest scale n/8 (n in 1..=8) that is at least `min_scale`.
pub(super) fn decode(bytes: &[u8], min_scale: f64) -> Result<Decoded, RenderError> {
    guarded(|| {
        let mut d = Decompress::with_err(error_manager()).with_markers(MARKERS).from_mem(bytes).map_err(corrupt)?;
        let icc = icc_profile(&d);
        let adobe = d.markers().any(|m| m.marker == Marker::APP(14) && m.data.starts_with(b"Adobe"));
        d.scale(scale_numerator(min_scale));
        let (layout, started) = match d.color_space() {
            ColorSpace::JCS_GRAYSCALE => (Layout::Gray, d.grayscale()),
            ColorSpace::JCS_CMYK | ColorSpace::JCS_YCCK => (Layout::Cmyk, d.to_colorspace(ColorSpace::JCS_CMYK)),
            _ => (Layout::Rgb, d.rgb()),
        };
        let mut started = started.map_err(corrupt)?;
        let (width, height) = (started.width() as u32, started.height() as u32);
        let data = started.read_scanlines::<u8>().map_err(corrupt)?;
        started.finish().map_err(corrupt)?;
        if data.len() != width as usize * height as usize * layout.channels() {
            return Err(RenderError::corrupt("JPEG", "the image data ends early"));
        }
        Ok(Decoded { bitmap: Bitmap::new(layout, width, height, data), icc, cmyk_inverted: adobe })
    })
}

/// Smallest n in 1..=8 with n/8 >= `min_scale`.
fn scale_numerator(min_scale: f64) -> u8 {
    (1..=8u8).find(|&n| f64::from(n) / 8.0 >= min_scale).unwrap_or(8)
}

/// The ICC profile, reassembled from its APP2 chunks in sequence order.
fn icc_profile<R>(d: &Decompress<R>) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = d
        .markers()
        .filter(|m| m.marker == Marker::APP(2) && m.data.len() > 14 && m.data.starts_with(b"ICC_PROFILE\0"))
        .map(|m| (m.data[12], &m.data[14..]))
        .collect();
    if chunks.is_empty() {
        return None;
    }
    chunks.sort_by_key(|&(seq, _)| seq);
    Some(chunks.into_iter().flat_map(|(_, data)| data.iter().copied()).collect())
}

fn corrupt(e: std::io::Error) -> RenderError {
    RenderError::corrupt("JPEG", e)
}

/// Runs `f`, turning libjpeg's unwinding errors into `RenderError::Corrupt`.
fn guarded<T>(f: impl FnOnce() -> Result<T, RenderError>) -> Result<T, RenderError> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|payload| Err(RenderError::corrupt("JPEG", failure_message(payload))))
}

fn failure_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(JpegFailure(msg)) = payload.downcast_ref::<JpegFailure>() {
        return msg.clone();
    }
    if let Some(msg) = payload.downcast_ref::<String>() {
        return msg.trim_start_matches("libjpeg fatal error: ").to_owned();
    }
    payload.downcast_ref::<&str>().map_or_else(|| "the decoder failed".to_owned(), |s| (*s).to_owned())
}

/// libjpeg's standard error manager with our handlers: fatal errors and premature end of data
/// unwind out of libjpeg; other warnings (common in camera files) are ignored.
fn error_manager() -> jpeg_error_mgr {
    // SAFETY: jpeg_std_error fills in every field of a zeroed jpeg_error_mgr.
    let mut err: jpeg_error_mgr = unsafe { mem::zeroed() };
    unsafe { mozjpeg_sys::jpeg_std_error(&mut err) };
    err.error_exit = Some(error_exit);
    err.emit_message = Some(emit_message);
    err
}

extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    let msg = format_message(cinfo);
    resume_unwind(Box::new(JpegFailure(msg)));
}

extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    // SAFETY: libjpeg calls this with `err` pointing at the live error manager.
    let code = unsafe { (*cinfo.err).msg_code };
    if level < 0 && code == mozjpeg_sys::JWRN_JPEG_EOF as c_int {
        resume_unwind(Box::new(JpegFailure("the file ends before the image data does (truncated)".to_owned())));
    }
}

fn format_message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: as above; format_message writes at most JMSG_LENGTH_MAX (200) bytes.
    unsafe {
        let err = &*cinfo.err;
        let Some(fmt) = err.format_message else {
            return format!("libjpeg error {}", err.msg_code);
        };
        let mut buffer = [0u8; 200];
        let fmt: unsafe extern "C-unwind" fn(&mut jpeg_common_struct, *mut u8) = mem::transmute(fmt);
        fmt(cinfo, buffer.as_mut_ptr());
        let end = buffer.iter().position(|&c| c == 0).unwrap_or(buffer.len());
        String::from_utf8_lossy(&buffer[..end]).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_smallest_sufficient_scale() {
        assert_eq!(scale_numerator(0.0), 1);
        assert_eq!(scale_numerator(0.125), 1);
        assert_eq!(scale_numerator(0.126), 2);
        assert_eq!(scale_numerator(0.5), 4);
        assert_eq!(scale_numerator(0.9), 8);
        assert_eq!(scale_numerator(3.0), 8);
    }
}
