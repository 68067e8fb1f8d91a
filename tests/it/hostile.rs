//! Hostile input, one kind a test: the whole corpus, truncated copies, empty and text bodies, and
//! images that declare 50000x50000 pixels. Each is answered (an image, or a 4xx saying what is
//! wrong), the server keeps serving, failed uploads store nothing, no request panics, and each
//! test's server stays under 512 MB of peak memory.

use image::ImageFormat;

use crate::support::bombs::png_declaring;
use crate::support::images::decode;
use crate::support::server::files_under;
use crate::support::{Reply, Server, corpus};

/// A real JPEG with its frame header patched to `w` x `h`.
fn jpeg_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut bytes = corpus::read("jpeg/ijg_testorig.jpg");
    let sof = bytes.windows(2).position(|m| m == [0xFF, 0xC0]).expect("baseline SOF0");
    bytes[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
    bytes[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
    bytes
}

/// A real GIF with its logical screen patched to `w` x `h`.
fn gif_declaring(w: u16, h: u16) -> Vec<u8> {
    let mut bytes = corpus::read("gif/static_hopper_128.gif");
    bytes[6..8].copy_from_slice(&w.to_le_bytes());
    bytes[8..10].copy_from_slice(&h.to_le_bytes());
    bytes
}

/// A real extended-format WebP with its canvas patched to `w` x `h`.
fn webp_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut bytes = corpus::read("webp/lossy_alpha_dice_200x150.webp");
    let vp8x = bytes.windows(4).position(|c| c == b"VP8X").expect("extended WebP");
    bytes[vp8x + 12..vp8x + 15].copy_from_slice(&(w - 1).to_le_bytes()[..3]);
    bytes[vp8x + 15..vp8x + 18].copy_from_slice(&(h - 1).to_le_bytes()[..3]);
    bytes
}

fn refused_and_nothing_stored(server: &Server, what: &str, body: Vec<u8>) -> Reply {
    let before = files_under(&server.data_dir());
    let reply = server.post("/p", body);
    assert!(
        (400..500).contains(&reply.status),
        "{what}: expected a 4xx, got {} {}",
        reply.status,
        String::from_utf8_lossy(&reply.body)
    );
    assert!(!reply.error().is_empty(), "{what}: the error says nothing");
    assert_eq!(files_under(&server.data_dir()), before, "{what}: a refused upload left objects behind");
    assert_eq!(server.health(), 200, "{what}: the server stopped serving");
    reply
}

/// What every hostile test ends with: no request panicked, and the peak memory of the whole test
/// stayed under 512 MB.
fn survived(server: &Server, what: &str) {
    let peak_mib = server.peak_rss_kib() / 1024;
    eprintln!("peak RSS over {what}: {peak_mib} MiB");
    assert!(peak_mib < 512, "{what}: peak RSS {peak_mib} MiB");
    assert!(server.logs().iter().all(|l| !l.contains("panicked")), "{what}: a request panicked");
    assert_eq!(server.health(), 200, "{what}: the server stopped serving");
}

#[test]
fn every_corpus_file_renders_or_is_refused_with_a_4xx() {
    let server = Server::start();
    let mut rendered = 0;
    for entry in corpus::manifest() {
        let bytes = corpus::read(&entry.file);
        let bad = entry.file.starts_with("malformed/") || entry.file.starts_with("pngsuite/x");
        if bad {
            let reply = refused_and_nothing_stored(&server, &entry.file, bytes);
            assert!([415, 422].contains(&reply.status), "{}: {}", entry.file, reply.status);
            continue;
        }
        let reply = server.post("/p", bytes);
        assert!(
            reply.status == 201 || reply.status == 200,
            "{}: {} {}",
            entry.file,
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        let info = reply.json();
        let hash = info["hash"].as_str().unwrap();
        let path = crate::support::server::image_path("p", hash);
        // Every output format: x100 in JPEG, w50 in the others (AVIF read by avifdec).
        let outputs = [
            ("x100.jpg", ImageFormat::Jpeg),
            ("w50.png", ImageFormat::Png),
            ("w50.webp", ImageFormat::WebP),
            ("w50.gif", ImageFormat::Gif),
            ("w50.avif", ImageFormat::Avif),
        ];
        for (variant, format) in outputs {
            let r = server.get(&format!("{path}/{variant}"));
            assert_eq!(r.status, 200, "{} {variant}: {}", entry.file, String::from_utf8_lossy(&r.body));
            let img = decode(&r.body, format);
            if variant == "x100.jpg" {
                assert_eq!((img.width(), img.height()), (100, 100), "{}", entry.file);
            } else {
                assert_eq!(img.width(), 50.min(info["width"].as_u64().unwrap() as u32), "{} {variant}", entry.file);
            }
        }
        if let (Some(w), Some(h)) = (entry.width, entry.height) {
            let (iw, ih) = (info["width"].as_u64().unwrap() as u32, info["height"].as_u64().unwrap() as u32);
            assert!((iw, ih) == (w, h) || (iw, ih) == (h, w), "{}: info says {iw}x{ih}, manifest {w}x{h}", entry.file);
        }
        rendered += 1;
    }
    assert!(rendered >= 100, "only {rendered} corpus files rendered");
    survived(&server, "the corpus");
}

#[test]
fn truncated_copies_are_refused_and_store_nothing() {
    let server = Server::start();
    for file in [
        "jpeg/photo_2.5mp_storm_baseline_exif.jpg",
        "jpeg/photo_1.9mp_flower_progressive.jpg",
        "png/photo_rgb_exif_icc_drop.png",
        "pngsuite/basi6a16.png",
        "gif/static_photo_crash_test_800x533.gif",
        "webp/lossy_photo_coast_800x534.webp",
        "webp/lossless_multicolor_300.webp",
    ] {
        let bytes = corpus::read(file);
        for cut in [20, bytes.len() / 4, bytes.len() / 2, bytes.len() * 3 / 4, bytes.len() * 19 / 20] {
            refused_and_nothing_stored(&server, &format!("{file} cut at {cut}"), bytes[..cut].to_vec());
        }
    }
    survived(&server, "truncated copies");
}

#[test]
fn empty_and_text_bodies_are_refused() {
    let server = Server::start();
    assert_eq!(refused_and_nothing_stored(&server, "zero bytes", Vec::new()).status, 400);
    let text = b"GIF89a is how this text starts, but it is not a picture".to_vec();
    assert_eq!(refused_and_nothing_stored(&server, "text", text).status, 422);
    assert_eq!(refused_and_nothing_stored(&server, "plain text", b"hello".to_vec()).status, 415);
    survived(&server, "empty and text bodies");
}

#[test]
fn images_declaring_huge_sizes_are_422_before_any_decode() {
    let server = Server::start();
    for (what, body) in [
        ("PNG 50000x50000", png_declaring(50_000, 50_000)),
        ("PNG 4294967295x1", png_declaring(u32::MAX >> 1, 1)),
        ("JPEG 50000x50000", jpeg_declaring(50_000, 50_000)),
        ("GIF 50000x50000", gif_declaring(50_000, 50_000)),
        ("WebP 50000x50000", webp_declaring(50_000, 50_000)),
    ] {
        let reply = refused_and_nothing_stored(&server, what, body);
        assert_eq!(reply.status, 422, "{what}");
    }
    survived(&server, "bombs");
}
