//! HEIC originals through the system libheif: a C shim compiled by
//! build.rs against the installed header (`cfg(heif)`), so this side passes plain values.
//!
//! The primary image only (depth maps, gain maps and thumbnails are never decoded), grids
//! assembled by libheif, `irot`/`imir` applied by libheif (so the header says upright and EXIF
//! orientation is ignored: never turned twice), 10/12-bit reduced to 8, straight alpha, the ICC
//! profile handed to the colour step, or a profile made from the nclx primaries (Display P3).
//!
//! Bounds: the declared size against `max_source_pixels` (the caller), then, before libheif
//! decodes anything, the file's grid tiles ([`MAX_TILES`]), every image item's declared size
//! and every grid's canvas (`boxes.rs`), the picture every HEVC parameter set declares, in the
//! `hvcC` or in the item's data (`hevc.rs`: within `max_source_pixels`, and within its item's
//! `ispe` but for the coding block rounding), no overlays, and libheif's own side limit.
//! libheif 1.15 cannot cancel a decode: the deadline is checked when it returns, and the bounds
//! above are what keep one decode short.
//!
//! Memory: libheif decodes into its own planes (planar RGB at 8 or 16 bits: a grid is
//! assembled that way), and our bitmap is allocated only once it returns and filled from them
//! (`heif_shim.c`), never through libheif's interleaved copy; what libheif holds is charged to
//! the decode budget with the rest (`decode_bytes_per_pixel`).

mod boxes;
mod hevc;

use super::{Codec, Decoded, Header};
use crate::model::ImageFormat;
use crate::pipeline::{Limits, RenderError};

/// Grid tiles (and overlay layers) a file may reference: a 48 MP phone photo has 192 tiles of
/// 512 x 512; each tile costs a decoder set-up however small it is.
pub(super) const MAX_TILES: u64 = 1024;

/// HEIC's row of the codec table.
pub(super) struct Heic;

impl Codec for Heic {
    fn format(&self) -> ImageFormat {
        ImageFormat::Heic
    }

    fn signature(&self) -> &'static [u8] {
        b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        boxes::brand(bytes) == Some(ImageFormat::Heic)
    }

    fn read_header(&self, bytes: &[u8], limits: &Limits) -> Result<Header, RenderError> {
        read_header(bytes, ImageFormat::Heic, limits)
    }

    fn decode(&self, bytes: &[u8], header: &Header, _: f64, limits: &Limits) -> Result<Decoded, RenderError> {
        decode(bytes, header, limits)
    }

    /// libheif's planes of the whole image, RGB 4:4:4 at 8 bits (3, alpha 1) while our RGB(A)
    /// bitmap is filled from them (4); its decode before that holds its planes twice over when
    /// it turns the image (6). A file of more than 8 bits holds 2 bytes a sample in libheif's
    /// planes (10 in all, more than charged).
    fn decode_bytes_per_pixel(&self) -> u64 {
        8
    }
}

/// The AVIF brands or HEIF brands of an `ftyp` box (HEIC and AVIF are both HEIF files).
pub(super) fn brand(bytes: &[u8]) -> Option<ImageFormat> {
    boxes::brand(bytes)
}

/// libheif's version and decoders, or why there is none.
pub(crate) fn versions() -> String {
    imp::versions()
}

fn corrupt(format: ImageFormat, reason: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt(format.label(), reason)
}

/// The side libheif is told to refuse above (it checks sides, not areas): no side of an image
/// within `max_source_pixels` is longer, nor, here, than 32768 (phone panoramas are about 16000).
fn max_side(limits: &Limits) -> i32 {
    i32::try_from(limits.max_source_pixels.min(MAX_SIDE)).unwrap_or(i32::MAX)
}

/// The longest side of a HEIC the server reads.
const MAX_SIDE: u64 = 32_768;

/// Refuses what the file would make libheif multiply, then reads the primary image's header.
fn read_header(bytes: &[u8], format: ImageFormat, limits: &Limits) -> Result<Header, RenderError> {
    check_work(bytes, format, limits)?;
    let info = imp::info(bytes, max_side(limits)).map_err(|e| corrupt(format, e))?;
    Ok(Header { format, width: info.width, height: info.height, orientation: super::Orientation::UPRIGHT })
}

/// Refuses a HEIF file (HEIC or AVIF) that references more than [`MAX_TILES`] tiles, or whose
/// images (tiles, thumbnails, auxiliary images) declare more than `max_source_pixels`.
pub(super) fn check_work(bytes: &[u8], format: ImageFormat, limits: &Limits) -> Result<(), RenderError> {
    let work = boxes::work(bytes);
    if work.overlays > 0 {
        // Found by fuzz/regressions/upload_heif: libheif 1.15 allocates an overlay's canvas as
        // its payload declares it (gigabytes), whatever the item's ispe says.
        return Err(RenderError::Unsupported("HEIF overlay images (iovl)"));
    }
    if work.tiles > MAX_TILES {
        return Err(corrupt(format, format_args!("{} grid tiles, more than the {MAX_TILES} allowed", work.tiles)));
    }
    if let Some((width, height)) = work.coded {
        // libde265 allocates the picture the stream declares, whatever the item says.
        super::check_pixels(width, height, limits)?;
    }
    if let Some(((w, h), (item_w, item_h))) = work.coded_beyond_item {
        return Err(corrupt(
            format,
            format_args!("an HEVC stream declares {w}x{h} pixels for an image of {item_w}x{item_h}"),
        ));
    }
    if work.largest_item_pixels > limits.max_source_pixels {
        let side = (work.largest_item_pixels as f64).sqrt() as u32;
        return Err(RenderError::TooManyPixels {
            width: side,
            height: side,
            pixels: work.largest_item_pixels,
            max: limits.max_source_pixels,
        });
    }
    Ok(())
}

/// Decodes the primary image (already sized by [`read_header`]).
fn decode(bytes: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, RenderError> {
    let started = std::time::Instant::now();
    let (bitmap, icc) = imp::decode(bytes, header, limits).map_err(|e| corrupt(header.format, e))?;
    if started.elapsed() > limits.deadline() {
        return Err(RenderError::DecodeTimeout { secs: limits.deadline().as_secs() });
    }
    Ok(Decoded { bitmap, icc, cmyk_inverted: false })
}

#[cfg(heif)]
mod imp {
    use std::ffi::{c_char, c_void};

    use crate::pipeline::codec::ffi::ShimText;

    use super::max_side;
    use crate::pipeline::bitmap::{Bitmap, Layout};
    use crate::pipeline::codec::{Header, MAX_ICC_BYTES, pixel_buffer};
    use crate::pipeline::{Limits, color};

    /// `struct image_server_heif_info` of heif_shim.c.
    #[repr(C)]
    #[derive(Default)]
    pub(super) struct Info {
        pub(super) width: u32,
        pub(super) height: u32,
        alpha: i32,
        luma_bits: i32,
        icc_len: u64,
        has_nclx: i32,
        primaries: i32,
        transfer: i32,
    }

    unsafe extern "C" {
        fn image_server_heif_info(
            data: *const u8,
            len: usize,
            max_side: i32,
            info: *mut Info,
            error: *mut c_char,
            error_len: usize,
        ) -> i32;
        fn image_server_heif_decode(
            data: *const u8,
            len: usize,
            max_side: i32,
            icc: *mut u8,
            icc_cap: usize,
            error: *mut c_char,
            error_len: usize,
        ) -> *mut c_void;
        fn image_server_heif_copy(
            decoded: *const c_void,
            out: *mut u8,
            stride: usize,
            width: u32,
            height: u32,
            channels: u32,
            error: *mut c_char,
            error_len: usize,
        ) -> i32;
        fn image_server_heif_release(decoded: *mut c_void);
        fn image_server_heif_versions(buffer: *mut c_char, len: usize);
    }

    pub(super) fn info(bytes: &[u8], max_side: i32) -> Result<Info, String> {
        let mut info = Info::default();
        let mut error = ShimText::new();
        // SAFETY: the shim reads `bytes`, fills `info` (laid out as its struct) and writes at
        // most error.len() bytes of NUL-terminated message.
        let status = unsafe {
            image_server_heif_info(bytes.as_ptr(), bytes.len(), max_side, &mut info, error.as_mut_ptr(), error.len())
        };
        if status != 0 {
            return Err(error.text());
        }
        Ok(info)
    }

    /// libheif's decoded primary image (`image_server_heif_decode`), released when dropped.
    struct Decoded(*mut c_void);

    impl Drop for Decoded {
        fn drop(&mut self) {
            // SAFETY: made by image_server_heif_decode, released once, here.
            unsafe { image_server_heif_release(self.0) }
        }
    }

    /// Decodes with libheif into its own planes first, then allocates our bitmap and converts
    /// them into it: our buffer does not exist yet while libheif decodes (and turns) the image.
    pub(super) fn decode(bytes: &[u8], header: &Header, limits: &Limits) -> Result<(Bitmap, Option<Vec<u8>>), String> {
        let info = info(bytes, max_side(limits))?;
        if (info.width, info.height) != (header.width, header.height) {
            return Err("the file changed between header and decode".to_owned());
        }
        let layout = if info.alpha != 0 { Layout::Rgba } else { Layout::Rgb };
        let icc_len = usize::try_from(info.icc_len).unwrap_or(usize::MAX);
        let mut icc = if icc_len > 0 && icc_len <= MAX_ICC_BYTES { vec![0u8; icc_len] } else { Vec::new() };
        let mut error = ShimText::new();
        // SAFETY: `icc` holds icc.len() bytes; the shim writes no more than those and a
        // NUL-terminated message of at most error.len().
        let decoded = Decoded(unsafe {
            image_server_heif_decode(
                bytes.as_ptr(),
                bytes.len(),
                max_side(limits),
                icc.as_mut_ptr(),
                icc.len(),
                error.as_mut_ptr(),
                error.len(),
            )
        });
        if decoded.0.is_null() {
            return Err(error.text());
        }
        let stride = info.width as usize * layout.channels();
        let mut data = pixel_buffer("HEIF", stride * info.height as usize).map_err(|e| e.to_string())?;
        // SAFETY: `decoded` is live; `data` holds height rows of `stride` bytes, which the shim
        // writes within, and a NUL-terminated message of at most error.len().
        let status = unsafe {
            image_server_heif_copy(
                decoded.0,
                data.as_mut_ptr(),
                stride,
                info.width,
                info.height,
                layout.channels() as u32,
                error.as_mut_ptr(),
                error.len(),
            )
        };
        drop(decoded);
        if status != 0 {
            return Err(error.text());
        }
        let icc = if !icc.is_empty() && icc.iter().any(|&b| b != 0) {
            Some(icc)
        } else if info.has_nclx != 0 {
            color::nclx_profile(info.primaries, info.transfer)
        } else {
            None
        };
        let _ = info.luma_bits;
        Ok((Bitmap::new(layout, info.width, info.height, data), icc))
    }

    pub(super) fn versions() -> String {
        let mut buffer = ShimText::new();
        // SAFETY: the shim writes a NUL-terminated string of at most buffer.len() bytes.
        unsafe { image_server_heif_versions(buffer.as_mut_ptr(), buffer.len()) };
        buffer.text()
    }
}

/// Without libheif nothing here is called: `ImageFormat::is_read` says no first.
#[cfg(not(heif))]
mod imp {
    use crate::pipeline::Limits;
    use crate::pipeline::bitmap::Bitmap;
    use crate::pipeline::codec::Header;

    pub(super) struct Info {
        pub(super) width: u32,
        pub(super) height: u32,
    }

    const NONE: &str = "this build has no libheif (apt-get install libheif-dev, then rebuild)";

    pub(super) fn info(_: &[u8], _: i32) -> Result<Info, String> {
        Err(NONE.to_owned())
    }

    pub(super) fn decode(_: &[u8], _: &Header, _: &Limits) -> Result<(Bitmap, Option<Vec<u8>>), String> {
        Err(NONE.to_owned())
    }

    pub(super) fn versions() -> String {
        format!("none: {NONE}")
    }
}

#[cfg(test)]
mod tests {
    #[cfg(not(heif))]
    #[test]
    fn this_build_reads_heic() {
        panic!("built without libheif: apt-get install libheif-dev (scripts/test does), then rebuild");
    }

    #[cfg(heif)]
    #[test]
    fn libheif_decodes_hevc() {
        assert!(super::versions().contains("hevc: yes"), "{}", super::versions());
    }
}
