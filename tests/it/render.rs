//! Variants: every geometry on portrait, landscape, tiny and huge originals (exact sizes), every
//! output format (decodes, no metadata), crops placed like an independent reference, headers.

use image::imageops::FilterType;
use image::{ImageDecoder, ImageFormat};

use crate::support::images::{decode, format_of_ext, mean_abs_diff, metadata_blocks};
use crate::support::{Server, corpus};

/// (corpus file, upright width, upright height)
const PORTRAIT: (&str, u32, u32) = ("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg", 3024, 4032);
const LANDSCAPE: (&str, u32, u32) = ("jpeg/photo_2.5mp_storm_baseline_exif.jpg", 1920, 1280);
const TINY: (&str, u32, u32) = ("pngsuite/s01n3p01.png", 1, 1);
const HUGE: (&str, u32, u32) = ("jpeg/photo_20.4mp_bird_baseline.jpg", 6028, 3391);

#[test]
fn every_geometry_gives_the_exact_size() {
    let server = Server::start();
    // Expected sizes worked out by hand from DESIGN.md §2 (round to nearest, never enlarge for
    // w/h, exact for squares and rectangles).
    type Original = (&'static str, u32, u32);
    type Sizes = &'static [(&'static str, (u32, u32))];
    let table: &[(Original, Sizes)] = &[
        (
            PORTRAIT,
            &[
                ("w200", (200, 267)),
                ("h200", (150, 200)),
                ("x200", (200, 200)),
                ("300x200", (300, 200)),
                ("200x300", (200, 300)),
                ("w4096", (3024, 4032)),
                ("h4096", (3024, 4032)),
                ("full", (3024, 4032)),
            ],
        ),
        (
            LANDSCAPE,
            &[
                ("w200", (200, 133)),
                ("h200", (300, 200)),
                ("x200", (200, 200)),
                ("300x200", (300, 200)),
                ("10x1000", (10, 1000)),
                ("w4096", (1920, 1280)),
                ("x4096", (4096, 4096)),
                ("full", (1920, 1280)),
            ],
        ),
        (TINY, &[("w200", (1, 1)), ("h200", (1, 1)), ("x200", (200, 200)), ("300x200", (300, 200)), ("full", (1, 1))]),
        (
            HUGE,
            &[
                ("w200", (200, 113)),
                ("h200", (356, 200)),
                ("x1", (1, 1)),
                ("w1", (1, 1)),
                ("h1", (2, 1)),
                ("300x200", (300, 200)),
                ("w4096", (4096, 2304)),
                ("full", (6028, 3391)),
            ],
        ),
    ];
    for ((file, w, h), cases) in table {
        let path = server.upload("p", corpus::read(file));
        let info = server.get(&format!("{path}/info.json")).json();
        assert_eq!(
            (info["width"].as_u64().unwrap() as u32, info["height"].as_u64().unwrap() as u32),
            (*w, *h),
            "{file}"
        );
        for (geometry, want) in *cases {
            let reply = server.get(&format!("{path}/{geometry}.jpg"));
            assert_eq!(reply.status, 200, "{file} {geometry}: {}", String::from_utf8_lossy(&reply.body));
            let img = decode(&reply.body, ImageFormat::Jpeg);
            assert_eq!((img.width(), img.height()), *want, "{file} {geometry}");
        }
    }
}

#[test]
fn every_format_decodes_without_metadata() {
    let server = Server::start();
    // A photo full of EXIF, ICC and XMP, and an image with alpha.
    for file in [
        PORTRAIT.0,
        "png/rgba_dice_transparent.png",
        "webp/lossy_alpha_dice_200x150.webp",
        "jpeg/gray_concert_gray_icc.jpg",
    ] {
        let path = server.upload("p", corpus::read(file));
        for ext in ["jpg", "jpeg", "png", "webp", "gif", "avif"] {
            for variant in [format!("300x200.{ext}"), format!("w120-q50.{ext}")] {
                let reply = server.get(&format!("{path}/{variant}"));
                assert_eq!(reply.status, 200, "{file} {variant}");
                let mime = match ext {
                    "jpg" | "jpeg" => "image/jpeg",
                    other => &format!("image/{other}"),
                };
                assert_eq!(reply.header("content-type"), Some(mime));
                let img = decode(&reply.body, format_of_ext(ext));
                if variant.starts_with("300x200") {
                    assert_eq!((img.width(), img.height()), (300, 200), "{file} {variant}");
                } else {
                    assert_eq!(img.width(), 120, "{file} {variant}");
                }
                assert_eq!(metadata_blocks(&reply.body), Vec::<String>::new(), "{file} {variant} carries metadata");
            }
        }
    }
}

#[test]
fn alpha_is_kept_where_the_format_has_it_and_flattened_onto_white_in_jpeg() {
    let server = Server::start();
    let path = server.upload("p", corpus::read("png/rgba_bug_2048x1536.png"));
    // The top-left corner of this image is fully transparent.
    let png = decode(&server.get(&format!("{path}/w200.png")).body, ImageFormat::Png).to_rgba8();
    assert_eq!(png.get_pixel(0, 0)[3], 0, "PNG keeps transparency");
    let webp = decode(&server.get(&format!("{path}/w200.webp")).body, ImageFormat::WebP).to_rgba8();
    assert_eq!(webp.get_pixel(0, 0)[3], 0, "WebP keeps transparency");
    let avif = decode(&server.get(&format!("{path}/w200.avif")).body, ImageFormat::Avif).to_rgba8();
    assert!(avif.get_pixel(0, 0)[3] <= 2, "AVIF keeps transparency: {:?}", avif.get_pixel(0, 0));
    assert!(avif.pixels().any(|p| p[3] == 255), "and opacity");
    let jpg = decode(&server.get(&format!("{path}/w200.jpg")).body, ImageFormat::Jpeg).to_rgb8();
    let p = jpg.get_pixel(0, 0);
    assert!(p.0.iter().all(|&c| c >= 250), "JPEG corner should be white, is {p:?}");
}

/// The cover crop of DESIGN.md done by image-rs: the centred box with the output's aspect, an
/// area-averaging reduction to twice the size, then Lanczos3. (image-rs's one-step Lanczos3 over
/// a 15x reduction is 6 levels away from Pillow's and libvips' on fur; two steps agree with both.)
fn centre_crop_reference(original: &image::DynamicImage, w: u32, h: u32) -> image::RgbImage {
    let (ow, oh) = (f64::from(original.width()), f64::from(original.height()));
    let scale = f64::max(f64::from(w) / ow, f64::from(h) / oh);
    let (cw, ch) = ((f64::from(w) / scale).round() as u32, (f64::from(h) / scale).round() as u32);
    let (left, top) = ((original.width() - cw) / 2, (original.height() - ch) / 2);
    box_reference(original, (left, top, cw, ch), w, h)
}

fn box_reference(
    original: &image::DynamicImage,
    (left, top, cw, ch): (u32, u32, u32, u32),
    w: u32,
    h: u32,
) -> image::RgbImage {
    original
        .crop_imm(left, top, cw, ch)
        .thumbnail_exact((2 * w).min(cw), (2 * h).min(ch))
        .resize_exact(w, h, FilterType::Lanczos3)
        .to_rgb8()
}

/// The original decoded and turned upright by image-rs alone, for independent references.
fn reference_original(file: &str) -> image::DynamicImage {
    let bytes = corpus::read(file);
    let mut decoder =
        image::ImageReader::new(std::io::Cursor::new(&bytes)).with_guessed_format().unwrap().into_decoder().unwrap();
    let orientation = decoder.orientation().unwrap();
    let mut img = image::DynamicImage::from_decoder(decoder).unwrap();
    img.apply_orientation(orientation);
    img
}

#[test]
fn crops_match_an_independent_centre_crop() {
    let server = Server::start();
    for (file, _, _) in [LANDSCAPE, PORTRAIT] {
        let path = server.upload("p", corpus::read(file));
        let original = reference_original(file);
        for (w, h) in [(200u32, 200u32), (300, 120), (90, 300)] {
            let ours = decode(&server.get(&format!("{path}/{w}x{h}.png")).body, ImageFormat::Png).to_rgb8();
            let reference = centre_crop_reference(&original, w, h);
            let diff = mean_abs_diff(&ours, &reference);
            // Same crop, other resampler: ~1-3 levels. A crop off by a few pixels is 8+ here.
            assert!(diff < 4.0, "{file} {w}x{h}: mean difference {diff:.2} from the reference crop");
        }
    }
    // The tolerance is tight enough to see a crop 2 output pixels off centre (30 source pixels).
    let path = server.upload("p", corpus::read(PORTRAIT.0));
    let ours = decode(&server.get(&format!("{path}/200x200.png")).body, ImageFormat::Png).to_rgb8();
    let shifted = box_reference(&reference_original(PORTRAIT.0), (0, 504 + 30, 3024, 3024), 200, 200);
    let diff = mean_abs_diff(&ours, &shifted);
    assert!(diff > 8.0, "a shifted crop differs by only {diff:.2}");
}

#[test]
fn head_has_the_headers_of_get_without_the_body() {
    let server = Server::start();
    let path = server.upload("p", corpus::read(LANDSCAPE.0));
    let get = server.get(&format!("{path}/x100.webp"));
    let head = server.head(&format!("{path}/x100.webp"));
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in ["content-type", "content-length", "etag", "cache-control", "x-content-type-options"] {
        assert_eq!(head.header(name), get.header(name), "{name}");
    }
    assert_eq!(get.header("content-length").unwrap().parse::<usize>().unwrap(), get.body.len());
    assert_eq!(get.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert_eq!(get.header("x-content-type-options"), Some("nosniff"));
}

#[test]
fn if_none_match_gives_304() {
    let server = Server::start();
    let path = server.upload("p", corpus::read(LANDSCAPE.0));
    for leaf in ["x100.jpg", "info.json"] {
        let first = server.get(&format!("{path}/{leaf}"));
        let etag = first.header("etag").unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"'), "strong ETag: {etag}");
        let md5 = image_server::model::ImageHash::of(&first.body);
        assert_eq!(etag, format!("\"{md5}\""), "{leaf}: the ETag is the md5 of the bytes");
        let again = server.get_with(&format!("{path}/{leaf}"), "if-none-match", &etag);
        assert_eq!(again.status, 304, "{leaf}");
        assert!(again.body.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        assert_eq!(server.get_with(&format!("{path}/{leaf}"), "if-none-match", "\"other\"").status, 200);
    }
}

#[test]
fn quality_changes_the_bytes_and_png_ignores_it() {
    let server = Server::start();
    let path = server.upload("p", corpus::read(LANDSCAPE.0));
    let low = server.get(&format!("{path}/w400-q20.jpg")).body.len();
    let high = server.get(&format!("{path}/w400-q95.jpg")).body.len();
    assert!(low * 2 < high, "q20 {low} bytes vs q95 {high} bytes");
    let default = server.get(&format!("{path}/w400.webp")).body;
    let q80 = server.get(&format!("{path}/w400-q80.webp")).body;
    assert_eq!(default, q80, "the default WebP quality is 80");
}

#[test]
fn the_metadata_check_finds_what_it_looks_for() {
    // The hopper GIF carries a comment block; a render of it must not.
    let gif = corpus::read("gif/static_hopper_128.gif");
    assert_eq!(metadata_blocks(&gif), vec!["GIF comment".to_owned()]);
    let server = Server::start();
    let path = server.upload("p", gif);
    assert_eq!(metadata_blocks(&server.get(&format!("{path}/x64.gif")).body), Vec::<String>::new());
    assert!(!metadata_blocks(&corpus::read(PORTRAIT.0)).is_empty(), "EXIF, ICC and XMP of the phone photo");
    assert!(!metadata_blocks(&corpus::read("png/photo_rgb_exif_icc_drop.png")).is_empty());
}
