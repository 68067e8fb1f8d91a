//! Shrink-on-load against the slow path: what the server renders from a JPEG decoded scaled in
//! the DCT domain, or a WebP decoded scaled by libwebp, has the size and (within a tolerance) the
//! pixels of a full decode resized with Lanczos3 by image-rs in the test.

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat, RgbImage, Rgba, RgbaImage};

use crate::support::images::{decode, mean_abs_diff, ssim};
use crate::support::{Server, corpus};

/// Composites onto white, as the server does for outputs without alpha, so that the colour of
/// invisible pixels (which resizers treat differently) does not count.
fn on_white(img: &RgbaImage) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let Rgba([r, g, b, a]) = *img.get_pixel(x, y);
        let over = |c: u8| ((u32::from(c) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// The slow path: the whole image decoded, for a crop variant the centred crop of the output's
/// aspect (rounded to whole pixels), one Lanczos3 resize.
fn reference(original: &DynamicImage, width: u32, height: u32, crop: bool) -> RgbImage {
    if !crop {
        return on_white(&original.resize_exact(width, height, FilterType::Lanczos3).to_rgba8());
    }
    let (sw, sh) = (original.width(), original.height());
    let scale = f64::max(f64::from(width) / f64::from(sw), f64::from(height) / f64::from(sh));
    let (cw, ch) = ((f64::from(width) / scale).round() as u32, (f64::from(height) / scale).round() as u32);
    let (cw, ch) = (cw.min(sw), ch.min(sh));
    let cropped = original.crop_imm((sw - cw) / 2, (sh - ch) / 2, cw, ch);
    on_white(&cropped.resize_exact(width, height, FilterType::Lanczos3).to_rgba8())
}

#[test]
fn scaled_decodes_match_a_full_decode_and_resize() {
    // Working copies off, so every variant is rendered from the original through the scaled decode.
    let server = Server::options().arg("--working-copy-max-side 0").start();
    // (file, minimum SSIM, maximum mean difference in levels). libwebp's scaled decode averages
    // areas before our Lanczos3 pass, which softens fine detail (the foliage of the tree) a little
    // more than DCT scaling does; it shifts no colour.
    let files = [
        ("jpeg/photo_2.5mp_storm_baseline_exif.jpg", 0.99, 1.5), // 4:2:0 baseline, 1/4 for w200
        ("jpeg/photo_1.9mp_flower_progressive.jpg", 0.99, 1.5),  // progressive, odd height
        ("jpeg/photo_4.1mp_autumn_progressive.jpg", 0.99, 1.5),  // 1/8 for x150
        ("jpeg/gray_4.1mp_architecture.jpg", 0.99, 2.0),         // one channel
        ("webp/lossy_photo_tree_1024x772.webp", 0.975, 5.0),     // libwebp scaled decode
        ("webp/lossy_alpha_logo_1000x307.webp", 0.975, 5.0),     // with alpha
    ];
    for (file, min_ssim, max_diff) in files {
        let bytes = corpus::read(file);
        let original = image::load_from_memory(&bytes).unwrap();
        let path = server.upload("p", bytes);
        for (variant, expected) in
            [("w200.png", None), ("x150.png", Some((150, 150))), ("300x100.png", Some((300, 100)))]
        {
            let fast = decode(&server.get(&format!("{path}/{variant}")).body, ImageFormat::Png).to_rgba8();
            if let Some(size) = expected {
                assert_eq!(fast.dimensions(), size, "{file} {variant}");
            } else {
                let height = (f64::from(original.height()) * 200.0 / f64::from(original.width())).round() as u32;
                assert_eq!(fast.dimensions(), (200, height), "{file} {variant}");
            }
            let crop = expected.is_some();
            let (fast, slow) = (on_white(&fast), reference(&original, fast.width(), fast.height(), crop));
            let (s, diff) = (ssim(&fast, &slow), mean_abs_diff(&fast, &slow));
            assert!(s >= min_ssim, "{file} {variant}: SSIM {s:.4} against a full decode and resize");
            assert!(diff <= max_diff, "{file} {variant}: mean difference {diff:.2} against a full decode and resize");
        }
    }
}
