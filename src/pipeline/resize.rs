//! Crop and resize with fast_image_resize (SIMD convolution, Lanczos3), one reusable `Resizer`
//! per worker thread.

use std::cell::RefCell;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{PixelType, ResizeOptions, Resizer};

use super::RenderError;
use super::bitmap::{Bitmap, Layout};
use super::plan::CropBox;

thread_local! {
    static RESIZER: RefCell<Resizer> = RefCell::new(Resizer::new());
}

/// Cuts `crop` out of `src` and resamples it to `width` x `height`. Alpha is premultiplied while
/// resampling (no dark fringes); CMYK is four plain channels.
pub fn resize(src: Bitmap, crop: CropBox, width: u32, height: u32) -> Result<Bitmap, RenderError> {
    if crop == CropBox::full(src.width, src.height) && (width, height) == (src.width, src.height) {
        return Ok(src);
    }
    let pixel_type = match src.layout {
        Layout::Gray => PixelType::U8,
        Layout::Rgb => PixelType::U8x3,
        Layout::Rgba | Layout::Cmyk => PixelType::U8x4,
    };
    // Scaling a crop box onto a smaller decode can overshoot the edge by a rounding error.
    let left = crop.left.clamp(0.0, f64::from(src.width));
    let top = crop.top.clamp(0.0, f64::from(src.height));
    let crop = CropBox {
        left,
        top,
        width: crop.width.min(f64::from(src.width) - left),
        height: crop.height.min(f64::from(src.height) - top),
    };
    let internal = |e: &dyn std::fmt::Display| RenderError::Internal(format!("resize: {e}"));
    let src_view = ImageRef::new(src.width, src.height, &src.data, pixel_type).map_err(|e| internal(&e))?;
    let mut dst = Image::new(width, height, pixel_type);
    let options =
        ResizeOptions::new().crop(crop.left, crop.top, crop.width, crop.height).use_alpha(src.layout == Layout::Rgba);
    RESIZER.with(|r| r.borrow_mut().resize(&src_view, &mut dst, &options)).map_err(|e| internal(&e))?;
    Ok(Bitmap::new(src.layout, width, height, dst.into_vec()))
}
