//! Colour: ICC-tagged and CMYK pixels to sRGB (littleCMS), HEIF/AVIF nclx colour made into the
//! ICC profile it stands for, and alpha flattened onto white.

use lcms2::{
    CIExyY, CIExyYTRIPLE, ColorSpaceSignature, InfoType, Intent, Locale, PixelFormat, Profile, ToneCurve, Transform,
};

use super::bitmap::{Bitmap, Layout};

/// Converts to sRGB using the embedded profile. Profiles that are sRGB already are skipped;
/// a profile that cannot be read or does not match the pixels is ignored (the pixels are then
/// taken as sRGB), as browsers do. CMYK always comes out as RGB.
pub fn to_srgb(bitmap: Bitmap, icc: Option<&[u8]>, cmyk_inverted: bool) -> Bitmap {
    let profile = icc.and_then(|data| Profile::new_icc(data).ok());
    let profile = profile.filter(|p| bitmap.layout == Layout::Cmyk || !is_srgb(p));
    match (bitmap.layout, profile) {
        (Layout::Cmyk, profile) => cmyk_to_rgb(bitmap, profile.as_ref(), cmyk_inverted),
        (_, None) => bitmap,
        (layout, Some(profile)) => match (layout, profile.color_space()) {
            (Layout::Rgb, ColorSpaceSignature::RgbData) => transform_rgb(bitmap, &profile, PixelFormat::RGB_8),
            (Layout::Rgba, ColorSpaceSignature::RgbData) => transform_rgb(bitmap, &profile, PixelFormat::RGBA_8),
            (Layout::Gray, ColorSpaceSignature::GrayData) => gray_to_rgb(bitmap, &profile),
            _ => bitmap,
        },
    }
}

fn is_srgb(profile: &Profile) -> bool {
    profile.info(InfoType::Description, Locale::none()).is_some_and(|d| d.to_ascii_lowercase().contains("srgb"))
}

fn transform_rgb(mut bitmap: Bitmap, profile: &Profile, format: PixelFormat) -> Bitmap {
    // In place: with RGBA_8 on both sides littleCMS leaves the alpha bytes as they are.
    if let Ok(t) = Transform::<u8, u8>::new(profile, format, &Profile::new_srgb(), format, Intent::Perceptual) {
        t.transform_in_place(&mut bitmap.data);
    }
    bitmap
}

fn gray_to_rgb(bitmap: Bitmap, profile: &Profile) -> Bitmap {
    let Ok(t) = Transform::<u8, u8>::new(
        profile,
        PixelFormat::GRAY_8,
        &Profile::new_srgb(),
        PixelFormat::RGB_8,
        Intent::Perceptual,
    ) else {
        return bitmap;
    };
    let mut rgb = vec![0u8; bitmap.data.len() * 3];
    t.transform_pixels(&bitmap.data, &mut rgb);
    Bitmap::new(Layout::Rgb, bitmap.width, bitmap.height, rgb)
}

/// Pixels converted a chunk at a time through buffers of this many.
const CHUNK_PIXELS: usize = 4096;

/// CMYK to RGB in the bitmap's own buffer: each chunk of pixels is read before its RGB is
/// written, behind it, so a full-size output never holds a second copy of the image.
fn cmyk_to_rgb(mut bitmap: Bitmap, profile: Option<&Profile>, inverted: bool) -> Bitmap {
    let in_format = if inverted { PixelFormat::CMYK_8_REV } else { PixelFormat::CMYK_8 };
    let transform = profile.filter(|p| p.color_space() == ColorSpaceSignature::CmykData).and_then(|p| {
        Transform::<u8, u8>::new(p, in_format, &Profile::new_srgb(), PixelFormat::RGB_8, Intent::Perceptual).ok()
    });
    let pixels = bitmap.data.len() / 4;
    let (mut cmyk, mut rgb) = ([0u8; CHUNK_PIXELS * 4], [0u8; CHUNK_PIXELS * 3]);
    for start in (0..pixels).step_by(CHUNK_PIXELS) {
        let n = CHUNK_PIXELS.min(pixels - start);
        cmyk[..n * 4].copy_from_slice(&bitmap.data[start * 4..(start + n) * 4]);
        match &transform {
            Some(t) => t.transform_pixels(&cmyk[..n * 4], &mut rgb[..n * 3]),
            None => {
                // No usable profile: the naive conversion, which is what browsers do too.
                for (px, out) in cmyk[..n * 4].chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
                    let ink = |v: u8| {
                        if inverted { 255 - u32::from(v) } else { u32::from(v) }
                    };
                    let k = 255 - ink(px[3]);
                    for c in 0..3 {
                        out[c] = ((255 - ink(px[c])) * k / 255) as u8;
                    }
                }
            }
        }
        bitmap.data[start * 3..(start + n) * 3].copy_from_slice(&rgb[..n * 3]);
    }
    bitmap.data.truncate(pixels * 3);
    Bitmap::new(Layout::Rgb, bitmap.width, bitmap.height, bitmap.data)
}

/// The ICC profile of nclx colour (ITU-T H.273 colour primaries and transfer characteristics),
/// for the colour step to convert as it converts an embedded profile; `None` when it is sRGB's
/// (or unknown, taken as sRGB as browsers do).
pub(crate) fn nclx_profile(primaries: i32, transfer: i32) -> Option<Vec<u8>> {
    let xy = |x: f64, y: f64| CIExyY { x, y, Y: 1.0 };
    let d65 = xy(0.3127, 0.3290);
    let (white, [r, g, b]) = match primaries {
        9 => (d65, [(0.708, 0.292), (0.170, 0.797), (0.131, 0.046)]), // BT.2020
        11 => (xy(0.314, 0.351), [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]), // DCI-P3
        12 => (d65, [(0.680, 0.320), (0.265, 0.690), (0.150, 0.060)]), // Display P3
        _ => return None,
    };
    // Parametric curve type 4: Y = (aX + b)^g above d, cX below.
    let params: &[f64] = match transfer {
        1 | 6 | 14 | 15 => &[1.0 / 0.45, 1.0 / 1.099, 0.099 / 1.099, 1.0 / 4.5, 0.081], // BT.709
        8 => &[1.0, 1.0, 0.0, 1.0, 0.0],                                                // linear
        _ => &[2.4, 1.0 / 1.055, 0.055 / 1.055, 1.0 / 12.92, 0.04045],                  // sRGB
    };
    let curve = ToneCurve::new_parametric(4, params).ok()?;
    let triple = CIExyYTRIPLE { Red: xy(r.0, r.1), Green: xy(g.0, g.1), Blue: xy(b.0, b.1) };
    Profile::new_rgb(&white, &triple, &[&curve, &curve, &curve]).ok()?.icc().ok()
}

/// Composes RGBA onto a white background, in the bitmap's own buffer (each pixel is read before
/// its RGB is written, behind it), whose last quarter is then handed back (in place for a large
/// buffer); other layouts pass through.
pub(crate) fn flatten_onto_white(mut bitmap: Bitmap) -> Bitmap {
    if bitmap.layout != Layout::Rgba {
        return bitmap;
    }
    let pixels = bitmap.data.len() / 4;
    for i in 0..pixels {
        let [r, g, b, a]: [u8; 4] = bitmap.data[i * 4..i * 4 + 4].try_into().expect("four bytes");
        let a = u32::from(a);
        let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
        bitmap.data[i * 3..i * 3 + 3].copy_from_slice(&[over(r), over(g), over(b)]);
    }
    bitmap.data.truncate(pixels * 3);
    bitmap.data.shrink_to_fit();
    Bitmap::new(Layout::Rgb, bitmap.width, bitmap.height, bitmap.data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattening_composes_onto_white() {
        let rgba = Bitmap::new(Layout::Rgba, 3, 1, vec![0, 0, 0, 0, 0, 0, 0, 255, 255, 0, 0, 128]);
        let rgb = flatten_onto_white(rgba);
        assert_eq!(rgb.data, vec![255, 255, 255, 0, 0, 0, 255, 127, 127]);
    }

    #[test]
    fn naive_cmyk_without_a_profile() {
        // Inverted (Adobe) storage: 255 means no ink.
        let cmyk = Bitmap::new(Layout::Cmyk, 2, 1, vec![255, 255, 255, 255, 0, 255, 255, 255]);
        assert_eq!(to_srgb(cmyk, None, true).data, vec![255, 255, 255, 0, 255, 255]);
    }
}
