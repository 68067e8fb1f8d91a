//! Working copies: made once at upload, upright and sRGB; variants rendered from them have the
//! sizes and (within a tolerance) the pixels of variants rendered from the original.

use image::ImageFormat;

use crate::support::images::{decode, metadata_blocks, ssim};
use crate::support::{Server, corpus};

#[test]
fn large_originals_get_an_upright_working_copy() {
    let server = Server::start();
    let path = server.upload("p", corpus::read("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg"));
    let working = std::fs::read(server.data_dir().join(&path[1..]).join("working")).unwrap();
    let img = decode(&working, ImageFormat::Jpeg);
    assert_eq!((img.width(), img.height()), (1536, 2048), "upright, long side 2048");
    assert_eq!(metadata_blocks(&working), Vec::<String>::new());

    let thumbnail_tier = std::fs::read(server.data_dir().join(&path[1..]).join("working-small")).unwrap();
    assert_eq!(decode(&thumbnail_tier, ImageFormat::Jpeg).height(), 1024);

    let medium = server.upload("p", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    let dir = server.data_dir().join(&medium[1..]);
    assert!(!dir.join("working").exists(), "a 1920 px JPEG needs no 2048 px copy");
    let img = decode(&std::fs::read(dir.join("working-small")).unwrap(), ImageFormat::Jpeg);
    assert_eq!((img.width(), img.height()), (1024, 683));

    let small = server.upload("p", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    assert_eq!(
        crate::support::server::files_under(&server.data_dir().join(&small[1..])),
        vec!["info.json", "original"]
    );

    let alpha = server.upload("p", corpus::read("png/rgba_bug_2048x1536.png"));
    let working = std::fs::read(server.data_dir().join(&alpha[1..]).join("working")).unwrap();
    let img = decode(&working, ImageFormat::Png).to_rgba8();
    assert_eq!(img.dimensions(), (2048, 1536));
    assert_eq!(img.get_pixel(0, 0)[3], 0, "transparency kept in the working copy");
}

#[test]
fn variants_from_the_working_copy_match_variants_from_the_original() {
    let fast = Server::start();
    let slow = Server::options().arg("--working-copy-max-side 0").start();
    for file in [
        "jpeg/photo_20.4mp_bird_baseline.jpg",
        "jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg",
        "png/large_rgb_3840x2160_cascade.png",
        "webp/lossy_large_4096x4096_wood.webp",
    ] {
        let (fp, sp) = (fast.upload("p", corpus::read(file)), slow.upload("p", corpus::read(file)));
        assert!(!slow.data_dir().join(&sp[1..]).join("working").exists(), "working copies are off");
        assert!(fast.data_dir().join(&fp[1..]).join("working").exists(), "{file}");
        assert!(fast.data_dir().join(&fp[1..]).join("working-small").exists(), "{file}");
        // From the small tier, the large tier, and the original.
        for variant in ["w200.png", "x300.png", "250x100.png", "w700.png", "h1000.png"] {
            let a = decode(&fast.get(&format!("{fp}/{variant}")).body, ImageFormat::Png).to_rgb8();
            let b = decode(&slow.get(&format!("{sp}/{variant}")).body, ImageFormat::Png).to_rgb8();
            assert_eq!(a.dimensions(), b.dimensions(), "{file} {variant}");
            let s = ssim(&a, &b);
            assert!(s > 0.995, "{file} {variant}: SSIM {s:.4} between the working-copy and original renders");
        }
    }
}

#[test]
fn full_and_large_variants_come_from_the_original() {
    let server = Server::start();
    let file = "png/photo_rgb_exif_icc_drop.png";
    let path = server.upload("p", corpus::read(file));
    assert!(server.data_dir().join(&path[1..]).join("working").exists(), "a 2.7 MP PNG gets a JPEG working copy");
    let original = image::load_from_memory(&corpus::read(file)).unwrap().to_rgb8();
    let full = decode(&server.get(&format!("{path}/full.png")).body, ImageFormat::Png).to_rgb8();
    assert_eq!(full, original, "full.png of a PNG is the original's pixels, not the JPEG working copy's");
}

/// A working copy is decoded whole once and kept, so the image's next variants skip the decode;
/// what is rendered from a kept decode is the same bytes as from a fresh one (every node renders
/// a variant alike, whichever sizes it rendered before). Opaque and transparent copies both.
#[test]
fn renders_from_a_kept_decode_are_the_bytes_of_a_fresh_one() {
    let (fresh, warmed) = (Server::start(), Server::start());
    for file in ["jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg", "png/rgba_bug_2048x1536.png"] {
        let bytes = corpus::read(file);
        let (a, b) = (fresh.upload("p", bytes.clone()), warmed.upload("p", bytes));
        // The other server decodes (and keeps) the copies first for other sizes.
        for variant in ["w300.png", "x120.jpg", "w500.webp"] {
            assert_eq!(warmed.get(&format!("{b}/{variant}")).status, 200);
        }
        for variant in ["w320.png", "x100.jpg", "400x100.webp", "h250.png"] {
            let (one, other) = (fresh.get(&format!("{a}/{variant}")), warmed.get(&format!("{b}/{variant}")));
            assert_eq!((one.status, other.status), (200, 200), "{file} {variant}");
            assert!(one.body == other.body, "{file} {variant}: a kept decode rendered other bytes");
        }
    }
}
