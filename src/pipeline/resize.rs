//! Crop and resize with fast_image_resize (SIMD convolution, Lanczos3), one reusable `Resizer`
//! per worker thread.

use std::cell::RefCell;

use fast_image_resize::images::{CroppedImageMut, Image, ImageRef};
use fast_image_resize::{MulDiv, PixelType, ResizeOptions, Resizer};

use super::RenderError;
use super::bitmap::{Bitmap, Layout};
use super::plan::CropBox;

/// The most the resizer's intermediate image of one band may hold.
const BAND_BYTES: usize = 4 << 20;

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// Cuts `crop` out of `src` and resamples it to `width` x `height`. Alpha is premultiplied while
/// resampling (no dark fringes), in place in `src`: the resizer would otherwise premultiply a
/// copy of the whole source into a buffer it keeps, one source's size more for every worker.
/// CMYK is four plain channels.
pub fn resize(mut src: Bitmap, crop: CropBox, width: u32, height: u32) -> Result<Bitmap, RenderError> {
    if crop == CropBox::full(src.width, src.height) && (width, height) == (src.width, src.height) {
        return Ok(src);
    }
    resize_in_bands(&mut src, crop, width, height, BAND_BYTES)
}

/// [`resize`] from a source that stays the caller's: an animation's canvas, which the next
/// frame is drawn on. Its alpha is left premultiplied, which a canvas of only opaque and fully
/// transparent (zero) pixels does not notice.
pub(super) fn resize_from(src: &mut Bitmap, crop: CropBox, width: u32, height: u32) -> Result<Bitmap, RenderError> {
    if crop == CropBox::full(src.width, src.height) && (width, height) == (src.width, src.height) {
        return Ok(src.clone());
    }
    resize_in_bands(src, crop, width, height, BAND_BYTES)
}

/// [`resize`] from a source shared with other renders (a decode kept in memory): read, never
/// written. One with alpha is premultiplied in a copy of its own.
pub(super) fn resize_shared(src: &Bitmap, crop: CropBox, width: u32, height: u32) -> Result<Bitmap, RenderError> {
    if crop == CropBox::full(src.width, src.height) && (width, height) == (src.width, src.height) {
        return Ok(src.clone());
    }
    if src.layout == Layout::Rgba {
        return resize_in_bands(&mut src.clone(), crop, width, height, BAND_BYTES);
    }
    resample(src, crop, width, height, BAND_BYTES)
}

fn pixel_type(layout: Layout) -> PixelType {
    match layout {
        Layout::Gray => PixelType::U8,
        Layout::Rgb => PixelType::U8x3,
        Layout::Rgba | Layout::Cmyk => PixelType::U8x4,
    }
}

fn internal(e: &dyn std::fmt::Display) -> RenderError {
    RenderError::Internal(format!("resize: {e}"))
}

fn resize_in_bands(
    src: &mut Bitmap,
    crop: CropBox,
    width: u32,
    height: u32,
    band_bytes: usize,
) -> Result<Bitmap, RenderError> {
    let alpha = src.layout == Layout::Rgba;
    let mul_div = MulDiv::default();
    if alpha {
        let mut view = Image::from_slice_u8(src.width, src.height, &mut src.data, pixel_type(src.layout))
            .map_err(|e| internal(&e))?;
        mul_div.multiply_alpha_inplace(&mut view).map_err(|e| internal(&e))?;
    }
    let mut resized = resample(src, crop, width, height, band_bytes)?;
    if alpha {
        let mut view = Image::from_slice_u8(width, height, &mut resized.data, pixel_type(resized.layout))
            .map_err(|e| internal(&e))?;
        mul_div.divide_alpha_inplace(&mut view).map_err(|e| internal(&e))?;
    }
    Ok(resized)
}

/// The resampling itself: `src` as it is (premultiplied already where it has alpha).
fn resample(src: &Bitmap, crop: CropBox, width: u32, height: u32, band_bytes: usize) -> Result<Bitmap, RenderError> {
    let pixel_type = pixel_type(src.layout);
    // Scaling a crop box onto a smaller decode can overshoot the edge by a rounding error.
    let left = crop.left.clamp(0.0, f64::from(src.width));
    let top = crop.top.clamp(0.0, f64::from(src.height));
    let crop = CropBox {
        left,
        top,
        width: crop.width.min(f64::from(src.width) - left),
        height: crop.height.min(f64::from(src.height) - top),
    };
    let src_view = ImageRef::new(src.width, src.height, &src.data, pixel_type).map_err(|e| internal(&e))?;
    let mut dst = Image::new(width, height, pixel_type);
    // In bands of output rows, each from its own part of the crop box: the resizer's
    // intermediate image (the source rows a band needs, resampled to the output width) stays
    // under `band_bytes`, however tall the source. Kernels reach across band edges into the
    // whole source, so the bands join without seams.
    let scale_y = crop.height / f64::from(height);
    let row_bytes = f64::from(width) * src.layout.channels() as f64 * scale_y.max(1.0);
    let band_rows = ((band_bytes as f64 / row_bytes) as u32).clamp(1, height);
    RESIZER.with(|r| {
        let mut resizer = r.borrow_mut();
        for top in (0..height).step_by(band_rows as usize) {
            let rows = band_rows.min(height - top);
            let band_top = crop.top + f64::from(top) * scale_y;
            // The last band's bottom can overshoot the source by a rounding error.
            let band_crop = (band_top, (f64::from(rows) * scale_y).min(f64::from(src.height) - band_top));
            let options = ResizeOptions::new().crop(crop.left, band_crop.0, crop.width, band_crop.1).use_alpha(false);
            let mut band = CroppedImageMut::new(&mut dst, 0, top, width, rows).map_err(|e| internal(&e))?;
            resizer.resize(&src_view, &mut band, &options).map_err(|e| internal(&e))?;
        }
        Ok::<_, RenderError>(())
    })?;
    Ok(Bitmap::new(src.layout, width, height, dst.into_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_join_without_seams() {
        let (w, h) = (300, 500);
        let data = (0..w * h)
            .flat_map(|i| [(i % 251) as u8, (i / w % 256) as u8, ((i * 7) % 256) as u8, (i % 200 + 55) as u8]);
        let src = Bitmap::new(Layout::Rgba, w, h, data.collect());
        let crop = CropBox { left: 10.5, top: 20.25, width: 250.0, height: 470.5 };
        let whole = resize_in_bands(&mut src.clone(), crop, 120, 170, usize::MAX).unwrap();
        let banded = resize_in_bands(&mut src.clone(), crop, 120, 170, 1000).unwrap();
        let worst = whole.data.iter().zip(&banded.data).map(|(a, b)| a.abs_diff(*b)).max().unwrap();
        assert!(worst <= 1, "bands differ by up to {worst}");
    }
}
