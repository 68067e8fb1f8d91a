//! Working copies: smaller, upright, sRGB copies of an original made once at upload, so that the
//! variants that fit inside one are rendered from it instead of from the original.
//!
//! There are two tiers: one at most `max_side` pixels on the long side (serving variants up to
//! about half of that), and one at half that size (serving thumbnails). Decoding a 1024 px copy
//! costs a fraction of decoding a 2-15 MP original, whose entropy decoding alone, even scaled in
//! the DCT domain, is most of a thumbnail's cost.

use super::bitmap::{Bitmap, Layout};
use super::plan::{self, CropBox, Placement};
use super::{Limits, RenderError, codec, render_bitmap, resize};
use crate::model::{Geometry, ImageFormat};

/// An encoded working copy.
#[derive(Debug)]
pub struct WorkingCopy {
    /// The encoded copy: a baseline JPEG, or a PNG where the original has transparency.
    pub bytes: Vec<u8>,
    /// Its width.
    pub width: u32,
    /// Its height.
    pub height: u32,
}

/// JPEG quality of working copies: high enough that variants rendered from them (always with at
/// least 2x oversampling) match variants rendered from the original within SSIM 0.995.
pub const WORKING_COPY_QUALITY: u8 = 92;

/// The smallest tier worth having: below it, originals are cheap to decode anyway.
const SMALLEST_TIER: u32 = 256;

/// The working copies an original of this upright size and format gets, by tier: tier 0 at
/// `max_side` if the original is larger, or is over 1 MP in a format whose decoder cannot scale;
/// tier 1 at `max_side / 2` if the original is larger than that. `max_side` 0 turns them off.
pub fn working_copy_sizes(width: u32, height: u32, format: ImageFormat, max_side: u32) -> [Option<(u32, u32)>; 2] {
    let long = width.max(height);
    let slow_decoder = super::decodes_slowly(format, u64::from(width) * u64::from(height));
    let fit = |side: u32| {
        let p = plan::plan(width, height, fit_geometry(width, height, side));
        (p.width, p.height)
    };
    let small = max_side / 2;
    [
        (max_side > 0 && (long > max_side || slow_decoder)).then(|| fit(max_side)),
        (small >= SMALLEST_TIER && long > small).then(|| fit(small)),
    ]
}

/// Whether a variant can be rendered from a working copy of `working` size made of an original
/// of `original` size: the copy must hold at least twice the output's resolution over the
/// variant's crop. `full` always comes from the original.
pub fn working_copy_suffices(original: (u32, u32), working: (u32, u32), geometry: Geometry) -> bool {
    if geometry == Geometry::Full {
        return false;
    }
    let plan = plan::plan(original.0, original.1, geometry);
    let needed = f64::max(f64::from(plan.width) / plan.crop.width, f64::from(plan.height) / plan.crop.height);
    let available = f64::from(working.0) / f64::from(original.0);
    2.0 * needed <= available + 1e-9
}

/// What an upload makes of its original once: its working copies and its placeholder.
#[derive(Debug)]
pub struct UploadCopies {
    /// The working copies, with their tier numbers.
    pub copies: Vec<(usize, WorkingCopy)>,
    /// The ThumbHash of the upright image (at most 100 px a side, as ThumbHash wants).
    pub thumbhash: Vec<u8>,
}

/// Largest side of the image a ThumbHash is made from.
const THUMBHASH_SIDE: u32 = 100;

/// Makes the working copies of an original at the tiers' `sizes` (as [`working_copy_sizes`]
/// gives them), with their tier numbers, and its ThumbHash: one decode of the original, each
/// smaller image resized from the one before (the ThumbHash from the smallest copy, or from a
/// decode at its own size when there is none). Decoding the whole original also validates it.
pub fn make_working_copies(
    bytes: &[u8],
    sizes: [Option<(u32, u32)>; 2],
    limits: &Limits,
) -> Result<UploadCopies, RenderError> {
    let mut copies = Vec::new();
    let mut bitmap: Option<Bitmap> = None;
    for (tier, size) in sizes.into_iter().enumerate() {
        let Some((w, h)) = size else { continue };
        let next = match bitmap.take() {
            None => render_bitmap(bytes, Geometry::Rect { width: w, height: h }, None, Placement::Centre, limits)?,
            Some(larger) => {
                let (lw, lh) = (larger.width, larger.height);
                resize::resize(larger, CropBox::full(lw, lh), w, h)?
            }
        };
        copies.push((tier, encode_copy(&next)?));
        bitmap = Some(next);
    }
    let small = match bitmap {
        Some(smallest) => {
            let (w, h) = (smallest.width, smallest.height);
            let fit = plan::plan(w, h, fit_geometry(w, h, THUMBHASH_SIDE));
            resize::resize(smallest, CropBox::full(w, h), fit.width, fit.height)?
        }
        None => {
            let header = codec::read_header(bytes, limits)?;
            let (w, h) = header.orientation.upright_size(header.width, header.height);
            render_bitmap(bytes, fit_geometry(w, h, THUMBHASH_SIDE), None, Placement::Centre, limits)?
        }
    };
    let rgba = small.into_rgba();
    let thumbhash = thumbhash::rgba_to_thumb_hash(rgba.width as usize, rgba.height as usize, &rgba.data);
    Ok(UploadCopies { copies, thumbhash })
}

/// The geometry that fits an image of `width` x `height` into `side` on its long side.
pub(super) fn fit_geometry(width: u32, height: u32, side: u32) -> Geometry {
    if width >= height { Geometry::Width(side) } else { Geometry::Height(side) }
}

fn encode_copy(bitmap: &Bitmap) -> Result<WorkingCopy, RenderError> {
    let bytes = match bitmap.layout {
        Layout::Rgba => codec::encode(bitmap, ImageFormat::Png, 100, codec::Effort::Fast)?,
        _ => codec::working_copy_jpeg(bitmap, WORKING_COPY_QUALITY)?,
    };
    Ok(WorkingCopy { bytes, width: bitmap.width, height: bitmap.height })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_by_size_and_format() {
        use ImageFormat::*;
        assert_eq!(working_copy_sizes(5120, 2880, Jpeg, 2048), [Some((2048, 1152)), Some((1024, 576))]);
        assert_eq!(working_copy_sizes(1920, 1200, Jpeg, 2048), [None, Some((1024, 640))]);
        assert_eq!(working_copy_sizes(3024, 4032, Jpeg, 2048), [Some((1536, 2048)), Some((768, 1024))]);
        assert_eq!(working_copy_sizes(2000, 1333, Png, 2048), [Some((2000, 1333)), Some((1024, 682))]);
        assert_eq!(working_copy_sizes(1000, 1000, Png, 2048), [None, None]);
        assert_eq!(working_copy_sizes(800, 600, Jpeg, 2048), [None, None]);
        assert_eq!(working_copy_sizes(5120, 2880, Jpeg, 0), [None, None]);
        assert_eq!(working_copy_sizes(5120, 2880, Jpeg, 400), [Some((400, 225)), None]);
    }

    #[test]
    fn a_copy_suffices_with_twice_the_resolution() {
        let (orig, small) = ((1920, 1200), (1024, 640));
        assert!(working_copy_suffices(orig, small, Geometry::Width(400)));
        assert!(working_copy_suffices(orig, small, Geometry::Width(512)));
        assert!(!working_copy_suffices(orig, small, Geometry::Width(513)));
        assert!(working_copy_suffices(orig, small, Geometry::Square(320)));
        assert!(!working_copy_suffices(orig, small, Geometry::Square(321)));
        assert!(!working_copy_suffices(orig, small, Geometry::Full));
    }
}
