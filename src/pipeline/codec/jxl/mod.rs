//! JPEG XL: originals read by jxl-oxide (pure Rust, MIT/Apache; VarDCT, modular and
//! JPEG-recompressed files, alpha, the orientation the file declares, the first frame of an
//! animation), output through libjxl (`encode.rs`).
//!
//! jxl-oxide turns the image upright itself, so the header says upright. Bounds: the declared
//! size against `max_source_pixels` before anything is allocated (the caller), jxl-oxide's
//! allocation tracker (its f32 planes: at most [`BYTES_PER_PIXEL`] per declared pixel), at most
//! [`MAX_FRAMES`] frames in the file, no thread pool of its own, and the deadline checked once
//! the frame is rendered (jxl-oxide cannot be stopped midway).

mod encode;

use std::borrow::Cow;
use std::time::Instant;

use jxl_oxide::{AllocTracker, JxlImage, JxlThreadPool, PixelFormat};

use super::{Codec, Decoded, Effort, Header};
use crate::model::ImageFormat;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;
use crate::pipeline::{Limits, RenderError};

/// Frames (layers and animation frames) a file may hold: each is parsed even when only the
/// first is rendered.
const MAX_FRAMES: usize = 1024;

/// What jxl-oxide may allocate per declared pixel: four f32 planes and their working copies.
const BYTES_PER_PIXEL: u64 = 48;

/// JPEG XL's row of the codec table.
pub(super) struct Jxl;

fn corrupt(reason: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt("JPEG XL", reason)
}

impl Codec for Jxl {
    fn format(&self) -> ImageFormat {
        ImageFormat::Jxl
    }

    fn signature(&self) -> &'static [u8] {
        &[0xFF, 0x0A]
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n")
    }

    fn read_header(&self, bytes: &[u8], limits: &Limits) -> Result<Header, RenderError> {
        let image = open(bytes, limits, false)?;
        Ok(Header {
            format: ImageFormat::Jxl,
            width: image.width(),
            height: image.height(),
            orientation: Orientation::UPRIGHT,
        })
    }

    fn decode(&self, bytes: &[u8], header: &Header, _: f64, limits: &Limits) -> Result<Decoded, RenderError> {
        let started = Instant::now();
        let image = open(bytes, limits, true)?;
        if (image.width(), image.height()) != (header.width, header.height) {
            return Err(corrupt("the file changed between header and decode"));
        }
        if image.num_loaded_frames() > MAX_FRAMES {
            return Err(corrupt(format_args!("more than {MAX_FRAMES} frames")));
        }
        let format = image.pixel_format();
        let (layout, samples) = match format {
            PixelFormat::Gray => (Layout::Gray, 1),
            PixelFormat::Graya => (Layout::Rgba, 2),
            PixelFormat::Rgb => (Layout::Rgb, 3),
            PixelFormat::Rgba => (Layout::Rgba, 4),
            PixelFormat::Cmyk | PixelFormat::Cmyka => return Err(RenderError::Unsupported("CMYK JPEG XL")),
        };
        let render = image.render_frame(0).map_err(corrupt)?;
        let mut stream = render.stream();
        let (width, height) = (stream.width(), stream.height());
        if (width, height) != (header.width, header.height) || stream.channels() as usize != samples {
            return Err(corrupt("the frame is not the image's size"));
        }
        let len = width as usize * height as usize * samples;
        let mut data = super::pixel_buffer_with_room("JPEG XL", len, if samples == 2 { len * 2 } else { len })?;
        stream.write_to_buffer::<u8>(&mut data);
        drop(render);
        if started.elapsed() > limits.deadline() {
            return Err(RenderError::DecodeTimeout { secs: limits.deadline().as_secs() });
        }
        if samples == 2 {
            data = super::gray_alpha_to_rgba(data);
        }
        // Pixels in sRGB need no profile; any other encoding is described by one.
        let srgb = image.rendered_cicp().is_some_and(|[primaries, transfer, ..]| primaries == 1 && transfer == 13);
        let icc = (!srgb).then(|| image.rendered_icc()).filter(|icc| !icc.is_empty());
        Ok(Decoded { bitmap: Bitmap::new(layout, width, height, data), icc, cmyk_inverted: false })
    }

    /// Measured: jxl-oxide's f32 planes and their working copies, 27 bytes a pixel for RGB, and
    /// our bitmap.
    fn decode_bytes_per_pixel(&self) -> u64 {
        28
    }

    /// Measured: libjxl 0.7 holds its own f32 copy of the frame and its working images, 39.7
    /// bytes a pixel for RGB and 57.5 with alpha.
    fn encode_bytes_per_pixel(&self, _pixels: u64, alpha: bool) -> u64 {
        if alpha { 58 } else { 41 }
    }

    fn encode(&self, bitmap: Cow<'_, Bitmap>, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
        encode::encode(bitmap, quality, effort)
    }
}

/// Reads the image header and, with `frames`, every frame's header and data (not rendered).
/// The size is checked against `max_source_pixels` here, before jxl-oxide allocates any plane.
fn open(bytes: &[u8], limits: &Limits, frames: bool) -> Result<JxlImage, RenderError> {
    let tracker = AllocTracker::with_limit(
        usize::try_from(limits.max_source_pixels.saturating_mul(BYTES_PER_PIXEL)).unwrap_or(usize::MAX),
    );
    let mut uninit = JxlImage::builder().pool(JxlThreadPool::none()).alloc_tracker(tracker).build_uninit();
    let consumed = uninit.feed_bytes(bytes).map_err(corrupt)?;
    let mut image = match uninit.try_init().map_err(corrupt)? {
        jxl_oxide::InitializeResult::Initialized(image) => image,
        jxl_oxide::InitializeResult::NeedMoreData(_) => return Err(corrupt("the file ends inside its header")),
    };
    let header = &image.image_header().size;
    super::check_pixels(header.width, header.height, limits)?;
    if frames {
        let rest = bytes.get(consumed..).unwrap_or(&[]);
        image.feed_bytes(rest).map_err(corrupt)?;
        image.finalize().map_err(corrupt)?;
        if image.num_loaded_keyframes() == 0 {
            return Err(corrupt("the file ends before its first frame (truncated)"));
        }
    }
    Ok(image)
}
