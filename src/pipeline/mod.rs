//! The render pipeline: original bytes in, encoded variant out. Pure and synchronous.
//!
//! No tokio, HTTP, storage or clock here, so the server, the CLI batch commands, tests and benches
//! share it. The steps read top to bottom in [`render`]: read the header (and refuse bombs before
//! allocating) -> plan the geometry on the upright image -> decode, scaled in the DCT domain where
//! the format allows -> crop and resize -> convert to sRGB -> apply EXIF orientation -> flatten
//! alpha where the output has none -> encode without metadata.
//!
//! Orientation is applied after the resize, on the small image: the plan is made in upright
//! coordinates and mapped back onto the stored pixels, so the decoder and resizer never touch a
//! rotated copy of the full-size image.
//!
//! A cover crop's box is centred, or placed around the original's subject
//! ([`RenderSpec::placement`]): [`focus`] finds that subject once per original (faces, else a
//! saliency centre), and the plan places the box from what was stored, in upright fractions, so
//! working copies, orientations and animation frames are all cut alike.

mod animation;
mod bitmap;
pub(crate) mod codec;
mod color;
mod decoded;
mod error;
pub mod focus;
pub mod memory;
mod orient;
pub mod plan;
mod resize;
mod sheet;
mod working;

pub use animation::{keeps_animation, render_animation};
pub use bitmap::{Bitmap, Layout};
pub(crate) use codec::avif_versions;
pub use codec::{Effort, Header, JpegBounds};
pub use decoded::{DecodedSource, decode_whole, prepare_decoded};
pub use error::RenderError;
pub use focus::{FocusInfo, FocusPoint};
pub use orient::Orientation;
pub use plan::Placement;
pub use sheet::{FRAMES_PER_SHEET, SHEET_SIDE, moderation_sheets};
pub use working::{
    UploadCopies, WORKING_COPY_QUALITY, WorkingCopy, make_working_copies, working_copy_sizes, working_copy_suffices,
};

use crate::model::{Geometry, ImageFormat};
use plan::CropBox;

/// What decoding one original may cost: checked on the header before any pixel memory is
/// allocated, and while decoding.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest width x height an original may declare.
    pub max_source_pixels: u64,
    /// The scans and the time a JPEG decode may take.
    pub jpeg: JpegBounds,
    /// Frames an animated variant may have (longer animations give their first frame).
    pub max_animation_frames: u32,
    /// What all work at once may hold, in pixels of 4 bytes (`decode_budget_pixels`): no single
    /// decode or render may hold more ([`memory`]).
    pub decode_budget_pixels: u64,
}

/// Bytes of memory one pixel of `decode_budget_pixels` stands for: four channels of 8 bits.
pub const BUDGET_BYTES_PER_PIXEL: u64 = 4;

impl Limits {
    /// Bytes the whole decode budget stands for.
    pub fn budget_bytes(&self) -> u64 {
        self.decode_budget_pixels.saturating_mul(BUDGET_BYTES_PER_PIXEL)
    }

    /// How long one decode may take (`decode_timeout_secs`), whatever the format.
    pub fn deadline(&self) -> std::time::Duration {
        self.jpeg.deadline
    }
}

/// Pixels past which decoding with a decoder that cannot scale costs several times a JPEG's
/// scaled decode: such originals get a working copy, and a render that decodes one anyway
/// (`full`) is slow work.
const SLOW_DECODE_PIXELS: u64 = 1_000_000;

/// Whether decoding `pixels` of `format` is slow (see [`SLOW_DECODE_PIXELS`]).
pub fn decodes_slowly(format: ImageFormat, pixels: u64) -> bool {
    format.slow_to_decode() && pixels > SLOW_DECODE_PIXELS
}

/// What to render: the variant with its quality resolved, and where its crop goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RenderSpec {
    /// Output size.
    pub geometry: Geometry,
    /// Output format.
    pub format: ImageFormat,
    /// Encoder quality 1..=100 (ignored by PNG and GIF).
    pub quality: u8,
    /// How hard the encoder works for its bytes.
    pub effort: Effort,
    /// Where a cover crop's box goes: `Placement::Centre` (today's crops, byte for byte), or
    /// around the original's stored focus ([`FocusInfo::placement`]). Other geometries ignore it.
    pub placement: Placement,
}

/// An encoded variant.
#[derive(Debug)]
pub struct Rendered {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// The facts of an original that info.json reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageFacts {
    /// Sniffed format.
    pub format: ImageFormat,
    /// Width after EXIF orientation.
    pub width: u32,
    /// Height after EXIF orientation.
    pub height: u32,
    /// Frames: 1 for a still image.
    pub frames: u32,
}

/// Reads the header (and an animation's frame headers): format, upright size, frames. Refuses
/// non-images and bombs.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<ImageFacts, RenderError> {
    let header = codec::read_header(bytes, limits)?;
    let (frames, _) = codec::animation(bytes, &header)?;
    Ok(ImageFacts { frames, ..header.facts() })
}

/// Probes and then decodes the whole image at the smallest scale the decoder offers, so that a
/// corrupt or truncated file is refused at upload rather than on its first render.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<ImageFacts, RenderError> {
    let header = codec::read_header(bytes, limits)?;
    codec::decode(bytes, &header, 0.0, limits)?;
    let (frames, _) = codec::animation(bytes, &header)?;
    Ok(ImageFacts { frames, ..header.facts() })
}

/// Renders one variant of an original.
pub fn render(bytes: &[u8], spec: &RenderSpec, limits: &Limits) -> Result<Rendered, RenderError> {
    let bitmap = render_bitmap(bytes, spec.geometry, None, spec.placement, limits)?;
    finish(bitmap, spec)
}

/// Renders one variant from a working copy of an original that is `original_size` (upright):
/// the geometry (and the crop's placement) is planned on the original's size, so the output has
/// exactly the size and the framing a render from the original would have.
pub fn render_from_working_copy(
    bytes: &[u8],
    original_size: (u32, u32),
    spec: &RenderSpec,
    limits: &Limits,
) -> Result<Rendered, RenderError> {
    let bitmap = render_bitmap(bytes, spec.geometry, Some(original_size), spec.placement, limits)?;
    finish(bitmap, spec)
}

/// The first half of a still render: decode, crop, resize, colour and orientation, up to the
/// encoder (for a caller with other work to wait for before it encodes). `original_size` is the
/// original's upright size when `bytes` is a working copy.
pub fn prepare(
    bytes: &[u8],
    original_size: Option<(u32, u32)>,
    spec: &RenderSpec,
    limits: &Limits,
) -> Result<Bitmap, RenderError> {
    render_bitmap(bytes, spec.geometry, original_size, spec.placement, limits)
}

/// The second half of a still render: what [`prepare`] gave, encoded.
pub fn encode_prepared(bitmap: Bitmap, spec: &RenderSpec) -> Result<Rendered, RenderError> {
    finish(bitmap, spec)
}

/// Flattens alpha where the format has none and encodes.
fn finish(bitmap: Bitmap, spec: &RenderSpec) -> Result<Rendered, RenderError> {
    let output = if spec.format.has_alpha() { bitmap } else { color::flatten_onto_white(bitmap) };
    let (width, height) = (output.width, output.height);
    let mut bytes = codec::encode_owned(output, spec.format, spec.quality, spec.effort)?;
    // Caches weigh answers by length; a Vec with slack would hold more memory than it says.
    bytes.shrink_to_fit();
    Ok(Rendered { bytes, width, height })
}

/// Decode, crop, resize, convert to sRGB and turn upright: the pixels of a variant, before the
/// encoder. `logical_size` is the upright size to plan on when `bytes` is a working copy; the crop
/// is placed in fractions of the upright image, so a working copy frames it as the original does.
fn render_bitmap(
    bytes: &[u8],
    geometry: Geometry,
    logical_size: Option<(u32, u32)>,
    placement: Placement,
    limits: &Limits,
) -> Result<Bitmap, RenderError> {
    let header = codec::read_header(bytes, limits)?;
    let framing = Framing::new(&header, geometry, logical_size, placement);
    // A working copy is decoded whole, kept or not, so that a render is the same bytes whether
    // its decode was kept ([`decoded`]); an original at no less than twice the output's
    // resolution, the rest left to the resizer.
    let whole = logical_size.is_some() && decoded::decodes_whole(&header);
    let min_scale = if whole { 1.0 } else { 2.0 * framing.scale() };
    let decoded = codec::decode(bytes, &header, min_scale, limits)?;
    let crop = framing.crop_on(decoded.bitmap.width, decoded.bitmap.height);
    let resized = resize::resize(decoded.bitmap, crop, framing.width, framing.height)?;
    Ok(framing.finish(resized, decoded.icc.as_deref(), decoded.cmyk_inverted))
}

/// Where a variant's pixels come from in a source and what size they go to: the plan, made on
/// the upright image, mapped onto the stored pixels.
struct Framing {
    orientation: Orientation,
    /// The crop box, in the source's stored pixels at its full size.
    crop: CropBox,
    stored_width: u32,
    stored_height: u32,
    /// The resized size, stored orientation.
    width: u32,
    height: u32,
}

impl Framing {
    fn new(header: &Header, geometry: Geometry, logical_size: Option<(u32, u32)>, placement: Placement) -> Framing {
        let orientation = header.orientation;
        let (upright_w, upright_h) = orientation.upright_size(header.width, header.height);
        let (plan_w, plan_h) = logical_size.unwrap_or((upright_w, upright_h));
        let plan = plan::plan_with(plan_w, plan_h, geometry, placement);
        let crop = plan.crop.scaled(f64::from(upright_w) / f64::from(plan_w), f64::from(upright_h) / f64::from(plan_h));
        let crop = orientation.crop_to_stored(crop, header.width, header.height);
        let (width, height) = orientation.stored_size(plan.width, plan.height);
        Framing { orientation, crop, stored_width: header.width, stored_height: header.height, width, height }
    }

    /// Output pixels per source pixel over the crop.
    fn scale(&self) -> f64 {
        f64::max(f64::from(self.width) / self.crop.width, f64::from(self.height) / self.crop.height)
    }

    /// The crop box on a decode of `width` x `height` (a scaled decode is smaller than stored).
    fn crop_on(&self, width: u32, height: u32) -> CropBox {
        self.crop
            .scaled(f64::from(width) / f64::from(self.stored_width), f64::from(height) / f64::from(self.stored_height))
    }

    /// The resized pixels in sRGB, upright.
    fn finish(&self, resized: Bitmap, icc: Option<&[u8]>, cmyk_inverted: bool) -> Bitmap {
        self.orientation.apply(color::to_srgb(resized, icc, cmyk_inverted))
    }
}

/// The pipeline's steps one by one, for the benches to time separately and the fuzz targets to
/// reach.
pub mod stages {
    pub use super::codec::{Decoded, decode, encode, exif_orientation, read_header, signature, sniff};
    pub use super::color::to_srgb;
    pub use super::plan::{CropBox, plan_with};
    pub use super::resize::resize;
}
