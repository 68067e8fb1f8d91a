//! PNG and GIF through the image-rs decoders (first frame of APNG and animated GIF).

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::png::PngDecoder;
use image::{DynamicImage, ImageDecoder, ImageError};

use super::{Decoded, Header};
use crate::model::ImageFormat;
use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;

pub(super) fn read_header(bytes: &[u8], format: ImageFormat) -> Result<Header, RenderError> {
    let fail = |e: ImageError| RenderError::corrupt(format.label(), e);
    let (width, height, orientation) = match format {
        ImageFormat::Png => {
            let mut d = PngDecoder::new(Cursor::new(bytes)).map_err(fail)?;
            let orientation =
                d.exif_metadata().ok().flatten().map_or(Orientation::UPRIGHT, |e| super::exif::orientation(&e));
            let (w, h) = d.dimensions();
            (w, h, orientation)
        }
        _ => {
            let d = GifDecoder::new(Cursor::new(bytes)).map_err(fail)?;
            let (w, h) = d.dimensions();
            (w, h, Orientation::UPRIGHT)
        }
    };
    Ok(Header { format, width, height, orientation })
}

pub(super) fn decode(bytes: &[u8], header: &Header) -> Result<Decoded, RenderError> {
    let name = header.format.label();
    let fail = |e: ImageError| RenderError::corrupt(name, e);
    // Room for the output at 16 bits per channel plus the decoder's own buffers.
    let pixels = u64::from(header.width) * u64::from(header.height);
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(pixels * 8 * 2 + (64 << 20));
    let (image, icc) = match header.format {
        ImageFormat::Png => {
            let mut d = PngDecoder::new(Cursor::new(bytes)).map_err(fail)?;
            d.set_limits(limits).map_err(fail)?;
            let icc = d.icc_profile().ok().flatten();
            (DynamicImage::from_decoder(d).map_err(fail)?, icc)
        }
        _ => {
            let mut d = GifDecoder::new(Cursor::new(bytes)).map_err(fail)?;
            d.set_limits(limits).map_err(fail)?;
            (DynamicImage::from_decoder(d).map_err(fail)?, None)
        }
    };
    Ok(Decoded { bitmap: from_dynamic(image), icc, cmyk_inverted: false })
}

/// Converts any decoded colour type to the pipeline's 8-bit layouts.
pub(super) fn from_dynamic(image: DynamicImage) -> Bitmap {
    let (w, h) = (image.width(), image.height());
    let color = image.color();
    if color.has_alpha() {
        Bitmap::new(Layout::Rgba, w, h, image.into_rgba8().into_raw())
    } else if color.has_color() {
        Bitmap::new(Layout::Rgb, w, h, image.into_rgb8().into_raw())
    } else {
        Bitmap::new(Layout::Gray, w, h, image.into_luma8().into_raw())
    }
}
