//! JPEG through libjpeg-turbo (as built into mozjpeg-sys), driven directly: header, EXIF/ICC/
//! Adobe markers, decoding scaled in the DCT domain, and a progress monitor that bounds the work
//! of a decode (scans read, time spent).
//!
//! libjpeg reports fatal errors by unwinding out of its error handler; every call into it runs
//! inside `catch_unwind`, and the decompressor is destroyed on every path. A truncated file is
//! only a warning to libjpeg (it pads the image with gray); here it is fatal, so a cut-off upload
//! is refused instead of stored. A progressive file with more scans than allowed, or a decode
//! running past its deadline, is abandoned from the progress monitor the same way.

use std::any::Any;
use std::borrow::Cow;
use std::mem;
use std::os::raw::{c_int, c_uint, c_ulong};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::time::{Duration, Instant};

use mozjpeg_sys as ffi;
use mozjpeg_sys::{J_COLOR_SPACE, jpeg_common_struct, jpeg_decompress_struct, jpeg_error_mgr, jpeg_progress_mgr};

mod encode;

pub(crate) use encode::working_copy_jpeg;
use encode::{JpegSettings, PROGRESSIVE_FROM_PIXELS, STREAMED_FROM_PIXELS, jpeg};

use super::{Codec, Decoded, Effort, Header};
use crate::model::ImageFormat;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;
use crate::pipeline::{Limits, RenderError};

/// What a JPEG decode may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JpegBounds {
    /// Scans a progressive file may have (`max_jpeg_scans`).
    pub max_scans: u32,
    /// Time a decode may take (`decode_timeout_secs`).
    pub deadline: Duration,
}

/// Why libjpeg was stopped: the payload our handlers unwind with.
enum Stop {
    /// libjpeg's own error, or a truncated file.
    Corrupt(String),
    /// More scans than allowed.
    TooManyScans(u32),
    /// Past the deadline.
    Timeout(Duration),
}

const APP1: c_int = 0xE1;
const APP2: c_int = 0xE2;
const APP14: c_int = 0xEE;

/// The progress monitor's state: libjpeg's struct first, so that the pointer it hands back is
/// ours.
#[repr(C)]
struct Watch {
    mgr: jpeg_progress_mgr,
    bounds: JpegBounds,
    started: Instant,
}

/// A decompressor over `bytes`, destroyed when dropped.
struct Decompressor<'a> {
    cinfo: Box<jpeg_decompress_struct>,
    _err: Box<jpeg_error_mgr>,
    _watch: Box<Watch>,
    _bytes: &'a [u8],
}

impl Drop for Decompressor<'_> {
    fn drop(&mut self) {
        // SAFETY: cinfo was created by jpeg_create_decompress and is destroyed once, here.
        unsafe { ffi::jpeg_destroy_decompress(&mut self.cinfo) };
    }
}

impl<'a> Decompressor<'a> {
    /// Creates the decompressor, keeps the markers orientation and colour need, and reads the
    /// header. Must run inside [`guarded`].
    fn open(bytes: &'a [u8], bounds: JpegBounds) -> Self {
        // SAFETY: the structs are zeroed, then filled in by libjpeg (jpeg_std_error,
        // jpeg_create_decompress) before use; they are boxed, so the pointers libjpeg keeps to
        // them stay valid for the decompressor's life; `bytes` outlives it.
        unsafe {
            let mut err: Box<jpeg_error_mgr> = Box::new(mem::zeroed());
            ffi::jpeg_std_error(&mut err);
            err.error_exit = Some(error_exit);
            err.emit_message = Some(emit_message);
            let mut watch = Box::new(Watch { mgr: mem::zeroed(), bounds, started: Instant::now() });
            watch.mgr.progress_monitor = Some(progress_monitor);
            let mut cinfo: Box<jpeg_decompress_struct> = Box::new(mem::zeroed());
            cinfo.common.err = &mut *err;
            let mut d = Decompressor { cinfo, _err: err, _watch: watch, _bytes: bytes };
            ffi::jpeg_create_decompress(&mut *d.cinfo);
            d.cinfo.common.progress = &mut d._watch.mgr;
            ffi::jpeg_mem_src(&mut d.cinfo, bytes.as_ptr(), bytes.len() as c_ulong);
            for marker in [APP1, APP2, APP14] {
                ffi::jpeg_save_markers(&mut d.cinfo, marker, 0xFFFF);
            }
            ffi::jpeg_read_header(&mut d.cinfo, 1);
            d
        }
    }

    /// The saved markers of one kind, in file order.
    fn markers(&self, code: c_int) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut at = self.cinfo.marker_list;
        // SAFETY: libjpeg keeps the list, and the data each node points at, until the
        // decompressor is destroyed, which `&self` prevents.
        unsafe {
            while let Some(marker) = at.as_ref() {
                if c_int::from(marker.marker) == code && !marker.data.is_null() {
                    out.push(std::slice::from_raw_parts(marker.data, marker.data_length as usize));
                }
                at = marker.next;
            }
        }
        out
    }

    fn orientation(&self) -> Orientation {
        self.markers(APP1)
            .into_iter()
            .find(|data| data.starts_with(b"Exif\0\0"))
            .map_or(Orientation::UPRIGHT, super::exif::orientation)
    }

    /// The ICC profile, reassembled from its APP2 chunks in sequence order.
    fn icc_profile(&self) -> Option<Vec<u8>> {
        let mut chunks: Vec<(u8, &[u8])> = self
            .markers(APP2)
            .into_iter()
            .filter(|data| data.len() > 14 && data.starts_with(b"ICC_PROFILE\0"))
            .map(|data| (data[12], &data[14..]))
            .collect();
        if chunks.is_empty() {
            return None;
        }
        chunks.sort_by_key(|&(seq, _)| seq);
        Some(chunks.into_iter().flat_map(|(_, data)| data.iter().copied()).collect())
    }
}

/// JPEG's row of the codec table.
pub(super) struct Jpeg;

impl Codec for Jpeg {
    fn format(&self) -> ImageFormat {
        ImageFormat::Jpeg
    }

    fn signature(&self) -> &'static [u8] {
        &[0xFF, 0xD8, 0xFF]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(&[0xFF, 0xD8, 0xFF])
    }

    fn read_header(&self, bytes: &[u8], limits: &Limits) -> Result<Header, RenderError> {
        read_header(bytes, limits.jpeg)
    }

    fn decode(&self, bytes: &[u8], _: &Header, min_scale: f64, limits: &Limits) -> Result<Decoded, RenderError> {
        decode(bytes, min_scale, limits.jpeg)
    }

    /// Our RGB or CMYK bitmap (3-4), and for a progressive file libjpeg's whole-image
    /// coefficients, 2 bytes a sample: 3 a pixel at 4:2:0 (a progressive 4:4:4 file holds 9 in
    /// all, more than charged).
    fn decode_bytes_per_pixel(&self) -> u64 {
        6
    }

    /// Measured: our bitmap (3; RGBA is flattened in place, and its slack handed back) and, up to
    /// [`STREAMED_FROM_PIXELS`], mozjpeg's two whole-image coefficient buffers (quantised and
    /// not), which optimised Huffman tables and progressive scans need: 2 bytes a sample each,
    /// 6 a pixel at 4:2:0 (9.1 in all). Larger outputs are streamed: the bitmap and the file.
    fn encode_bytes_per_pixel(&self, pixels: u64, alpha: bool) -> u64 {
        match (pixels > STREAMED_FROM_PIXELS, alpha) {
            (false, false) => 10,
            (false, true) => 11,
            (true, false) => 4,
            (true, true) => 5,
        }
    }

    /// [`Effort::Fast`]: libjpeg-turbo's encoder (not mozjpeg's trellis) with optimised Huffman
    /// tables and, from 50 kilopixels, the standard progressive script (2-3 % fewer bytes at
    /// equal SSIM for about 1 ms at 400 px). [`Effort::Small`]: mozjpeg's own defaults (trellis
    /// quantisation, optimised progressive scans). Either way, above [`STREAMED_FROM_PIXELS`]:
    /// baseline with the standard Huffman tables, which needs no whole-image buffer.
    fn encode(&self, bitmap: Cow<'_, Bitmap>, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
        let pixels = u64::from(bitmap.width) * u64::from(bitmap.height);
        let settings = match effort {
            _ if pixels > STREAMED_FROM_PIXELS => JpegSettings::Streamed,
            Effort::Fast => JpegSettings::Fast { progressive: pixels >= PROGRESSIVE_FROM_PIXELS },
            Effort::Small => JpegSettings::Small,
        };
        jpeg(&bitmap, quality, settings).map_err(|reason| RenderError::Encode { format: "jpg", reason })
    }
}

fn read_header(bytes: &[u8], bounds: JpegBounds) -> Result<Header, RenderError> {
    guarded(|| {
        let d = Decompressor::open(bytes, bounds);
        Ok(Header {
            format: ImageFormat::Jpeg,
            width: d.cinfo.image_width,
            height: d.cinfo.image_height,
            orientation: d.orientation(),
        })
    })
}

/// Decodes at the smallest scale n/8 (n in 1..=8) that is at least `min_scale`.
fn decode(bytes: &[u8], min_scale: f64, bounds: JpegBounds) -> Result<Decoded, RenderError> {
    guarded(|| {
        let mut d = Decompressor::open(bytes, bounds);
        let icc = d.icc_profile();
        let adobe = d.markers(APP14).iter().any(|data| data.starts_with(b"Adobe"));
        let (layout, out_space) = match d.cinfo.jpeg_color_space {
            J_COLOR_SPACE::JCS_GRAYSCALE => (Layout::Gray, J_COLOR_SPACE::JCS_GRAYSCALE),
            J_COLOR_SPACE::JCS_CMYK | J_COLOR_SPACE::JCS_YCCK => (Layout::Cmyk, J_COLOR_SPACE::JCS_CMYK),
            _ => (Layout::Rgb, J_COLOR_SPACE::JCS_RGB),
        };
        d.cinfo.out_color_space = out_space;
        d.cinfo.scale_num = c_uint::from(scale_numerator(min_scale));
        d.cinfo.scale_denom = 8;
        // SAFETY: the header has been read; these calls run in libjpeg's documented order, and
        // each row pointer handed to jpeg_read_scanlines points at `row_bytes` bytes of `data`.
        unsafe {
            ffi::jpeg_start_decompress(&mut d.cinfo);
            let (width, height) = (d.cinfo.output_width, d.cinfo.output_height);
            let channels = usize::try_from(d.cinfo.output_components).unwrap_or(0);
            if channels != layout.channels() {
                return Err(RenderError::corrupt("JPEG", format!("{channels} output channels")));
            }
            let row_bytes = width as usize * channels;
            let mut data = vec![0u8; row_bytes * height as usize];
            while d.cinfo.output_scanline < height {
                let row = d.cinfo.output_scanline as usize;
                let mut rows = [data[row * row_bytes..].as_mut_ptr()];
                if ffi::jpeg_read_scanlines(&mut d.cinfo, rows.as_mut_ptr(), 1) == 0 {
                    return Err(RenderError::corrupt("JPEG", "the image data ends early"));
                }
            }
            ffi::jpeg_finish_decompress(&mut d.cinfo);
            Ok(Decoded { bitmap: Bitmap::new(layout, width, height, data), icc, cmyk_inverted: adobe })
        }
    })
}

/// Smallest n in 1..=8 with n/8 >= `min_scale`.
fn scale_numerator(min_scale: f64) -> u8 {
    (1..=8u8).find(|&n| f64::from(n) / 8.0 >= min_scale).unwrap_or(8)
}

/// Runs `f`, turning libjpeg's unwinding stops into errors.
fn guarded<T>(f: impl FnOnce() -> Result<T, RenderError>) -> Result<T, RenderError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(stopped(payload)))
}

fn stopped(payload: Box<dyn Any + Send>) -> RenderError {
    match payload.downcast::<Stop>() {
        Ok(stop) => match *stop {
            Stop::Corrupt(reason) => RenderError::corrupt("JPEG", reason),
            Stop::TooManyScans(max) => RenderError::TooManyScans { max },
            Stop::Timeout(deadline) => RenderError::DecodeTimeout { secs: deadline.as_secs() },
        },
        Err(other) => {
            let text = other
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| other.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "the decoder failed".to_owned());
            RenderError::corrupt("JPEG", text)
        }
    }
}

extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    let msg = format_message(cinfo);
    resume_unwind(Box::new(Stop::Corrupt(msg)));
}

/// Warnings are common in camera files and ignored, but for the end of the data arriving before
/// the end of the image (truncated), which is fatal here.
extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    // SAFETY: libjpeg calls this with `err` pointing at the live error manager.
    let code = unsafe { (*cinfo.err).msg_code };
    if level < 0 && code == ffi::JWRN_JPEG_EOF as c_int {
        resume_unwind(Box::new(Stop::Corrupt("the file ends before the image data does (truncated)".to_owned())));
    }
}

/// Called by libjpeg between rows and scans: stops a decode past its scan count or deadline.
extern "C-unwind" fn progress_monitor(cinfo: &mut jpeg_common_struct) {
    // SAFETY: `progress` points at the `mgr` field at the start of a live, repr(C) `Watch`, and
    // this monitor is only installed on decompressors, so `cinfo` is a jpeg_decompress_struct.
    let (watch, scans) = unsafe {
        let watch = &*(cinfo.progress as *const Watch);
        let decompress = &*(cinfo as *const jpeg_common_struct as *const jpeg_decompress_struct);
        (watch, u32::try_from(decompress.input_scan_number).unwrap_or(0))
    };
    if scans > watch.bounds.max_scans {
        resume_unwind(Box::new(Stop::TooManyScans(watch.bounds.max_scans)));
    }
    if watch.started.elapsed() > watch.bounds.deadline {
        resume_unwind(Box::new(Stop::Timeout(watch.bounds.deadline)));
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
