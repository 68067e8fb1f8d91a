//! The memory bound of DESIGN.md §9 for inputs whose pixels cost far more than their bytes. A
//! decode or a render is charged to `decode_budget_pixels` what the codec table says its decoder
//! and encoder hold (docs/security.md, "Memory"), and one that would hold more than the whole budget is
//! refused before anything is allocated; what runs holds no more than it was charged, and the
//! common cases no more than 4 bytes a pixel of their canvas plus 64 MB. JSON uploads hold no
//! more than `upload_buffer_bytes`, however many arrive at once.

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use image_server::model::ImageFormat;
use image_server::pipeline::memory;

use crate::support::bombs::{jpeg_restart_every_block, webp_lossless_flat};
use crate::support::server::image_path;
use crate::support::{Reply, Server, corpus};

const MIB: u64 = 1 << 20;

/// Waits until jemalloc has handed back what earlier work freed (2 s dirty, then 2 s muzzy).
fn settle() {
    std::thread::sleep(Duration::from_secs(5));
}

/// How far the peak resident memory rose over what was resident before `work`, in MiB.
fn rise<T>(server: &Server, work: impl FnOnce() -> T) -> (T, u64) {
    settle();
    server.reset_peak_rss();
    let before = server.rss_kib();
    let out = work();
    (out, server.peak_rss_kib().saturating_sub(before) / 1024)
}

/// DESIGN.md §9's bound for a canvas of `pixels`: 4 bytes a pixel and 64 MB, in MiB.
fn canvas_bound_mib(pixels: u64) -> u64 {
    4 * pixels / MIB + 64
}

/// What the codec table charges a full-size render of `pixels` from `from` to `to`, in MiB.
fn charged_mib(from: ImageFormat, to: ImageFormat, pixels: u64) -> u64 {
    memory::render_bytes(from, pixels, to, pixels, memory::may_have_alpha(Some(from))) / MIB
}

fn uploaded(server: &Server, ns: &str, bytes: Vec<u8>) -> String {
    let reply = server.post(&format!("/{ns}"), bytes);
    assert!(reply.status == 201 || reply.status == 200, "{}", String::from_utf8_lossy(&reply.body));
    image_path(ns, reply.json()["hash"].as_str().unwrap())
}

#[test]
fn a_tiny_lossless_webp_asked_as_full_avif_is_refused_before_its_encoder_runs() {
    let webp = webp_lossless_flat(7071, 7071, [200, 100, 50, 128]);
    assert!(webp.len() < 64, "{} bytes", webp.len());
    let pixels = 7071 * 7071;
    let (from, avif, jpeg) = (ImageFormat::Webp, ImageFormat::Avif, ImageFormat::Jpeg);
    let server = Server::options().arg("--namespaces").raw(r#"{"n":{"negotiate_formats":["avif","webp"]}}"#).start();
    let path = uploaded(&server, "p", webp.clone());

    // AVIF's encoder would hold more than the 381 MiB budget: refused from the plan, before the
    // original is even decoded.
    let charged = charged_mib(from, avif, pixels);
    assert!(charged > 381, "AVIF is charged {charged} MiB");
    let (reply, rose) = rise(&server, || server.get(&format!("{path}/full.avif")));
    assert_eq!(reply.status, 406, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.error().contains("decode_budget_pixels"), "{}", reply.error());
    eprintln!("full.avif of a 7071x7071 lossless WebP, refused: peak rose {rose} MiB");
    assert!(rose <= 64, "full.avif: refused, yet the peak rose {rose} MiB");

    // A browser asking full.jpg of a negotiating namespace gets the first format whose encoder
    // fits the budget: not AVIF or WebP, but the JPEG it asked for, streamed, holding no more
    // than decoding the WebP does.
    let negotiated = uploaded(&server, "n", webp.clone());
    let accept = "image/avif,image/webp,image/*,*/*;q=0.8";
    let (reply, rose) = rise(&server, || server.get_with(&format!("{negotiated}/full.jpg"), "accept", accept));
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("image/jpeg")));
    let charged = charged_mib(from, jpeg, pixels);
    eprintln!("full.jpg of a 7071x7071 lossless WebP: peak rose {rose} MiB, charged {charged} MiB");
    assert!(rose <= charged + 64, "full.jpg: peak rose {rose} MiB, charged {charged} MiB");
    let reply = server.get_with(&format!("{negotiated}/w2000.jpg"), "accept", accept);
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("image/avif")));

    // With room in the budget it renders, holding no more than it was charged: the larger of
    // decoding the WebP and encoding the AVIF.
    let roomy = Server::options().arg("--decode-budget-pixels 250000000").start();
    let path = uploaded(&roomy, "p", webp);
    let (reply, rose) = rise(&roomy, || roomy.get(&format!("{path}/full.avif")));
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let charged = charged_mib(from, avif, pixels);
    eprintln!("full.avif of a 7071x7071 lossless WebP: peak rose {rose} MiB, charged {charged} MiB");
    assert!(rose <= charged + 64, "full.avif: peak rose {rose} MiB, charged {charged} MiB");
}

#[test]
fn a_jpeg_with_a_restart_marker_after_every_block_asked_as_full_webp_stays_within_the_bound() {
    let server = Server::start();
    for (components, what) in [(1, "gray"), (3, "YCbCr")] {
        let jpeg = jpeg_restart_every_block(7000, 7000, components);
        let path = uploaded(&server, "p", jpeg);
        let (reply, rose) = rise(&server, || server.get(&format!("{path}/full.webp")));
        assert_eq!(reply.status, 200, "{what}: {}", String::from_utf8_lossy(&reply.body));
        let webp = image::load_from_memory_with_format(&reply.body, image::ImageFormat::WebP).unwrap();
        assert_eq!((webp.width(), webp.height()), (7000, 7000), "{what}");
        eprintln!("full.webp of a 7000x7000 {what} JPEG: peak rose {rose} MiB");
        let bound = canvas_bound_mib(7000 * 7000);
        assert!(rose <= bound, "{what}: full.webp peak rose {rose} MiB, the bound is {bound} MiB");
    }
}

/// A real JPEG made `len` bytes long by comment segments, which no decoder keeps.
fn jpeg_padded_to(len: usize) -> Vec<u8> {
    let jpeg = corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg");
    let mut out = jpeg[..2].to_vec();
    let mut n = 0u32;
    while out.len() + jpeg.len() + 65_537 < len {
        out.extend([0xFF, 0xFE, 0xFF, 0xFF]);
        out.extend((0..65_533).map(|i| (i as u32 ^ n).to_le_bytes()[0] | 1));
        n += 1;
    }
    out.extend(&jpeg[2..]);
    out
}

#[test]
fn concurrent_json_uploads_hold_no_more_than_the_upload_buffer() {
    let buffer = 64 * MIB;
    let server = Server::options().arg(&format!("--upload-buffer-bytes {buffer} --max-upload-bytes {buffer}")).start();
    // Two JSON bodies of 31 MB (base64 of 23 MB, in lines with escaped line ends, as a data URL):
    // together within the buffer, and each decoded in its own body's place.
    let images = [jpeg_padded_to(23_000_000), jpeg_padded_to(23_100_000)];
    let bodies: Vec<Vec<u8>> = images
        .iter()
        .map(|image| {
            let base64 = base64::engine::general_purpose::STANDARD.encode(image);
            let lines: Vec<&str> = base64.as_bytes().chunks(76).map(|l| std::str::from_utf8(l).unwrap()).collect();
            format!(r#"{{"data":{{"image":"data:image/jpeg;base64,{}"}}}}"#, lines.join("\\n")).into_bytes()
        })
        .collect();
    assert!(bodies.iter().map(|b| b.len() as u64).sum::<u64>() < buffer);
    let (replies, rose): (Vec<Reply>, u64) = rise(&server, || {
        std::thread::scope(|s| {
            let posts: Vec<_> = bodies
                .iter()
                .map(|body| s.spawn(|| server.post_typed("/p", "application/json", body.clone())))
                .collect();
            posts.into_iter().map(|p| p.join().unwrap()).collect()
        })
    });
    let bound = buffer / MIB + 64;
    eprintln!("two concurrent 31 MB JSON uploads: peak rose {rose} MiB, the bound is {bound} MiB");
    for (reply, image) in replies.iter().zip(&images) {
        assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
        // The same image as its bytes sent raw.
        let raw = server.post("/p", image.clone());
        assert_eq!((raw.status, raw.json()["hash"].clone()), (200, reply.json()["hash"].clone()));
    }
    assert!(rose <= bound, "peak rose {rose} MiB, the upload buffer is {} MiB", buffer / MIB);
}

#[test]
fn a_48_megapixel_heic_decodes_within_the_bound() {
    // The corpus HEIC's 512x512 HEVC tiles, each used four times over: a 16x12 grid shown at
    // 8064x6048, the size of a 48 MP phone photo.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.heic");
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools");
    let run = Command::new("python3")
        .arg(tools.join("heic_grid.py"))
        .arg(corpus::dir().join("avif_heic/heic_example1_4032x3024.heic"))
        .arg(&big)
        .args(["16", "12", "8064", "6048"])
        .output()
        .unwrap();
    assert!(run.status.success(), "heic_grid.py: {}", String::from_utf8_lossy(&run.stderr));
    let server = Server::start();
    let (reply, rose) = rise(&server, || server.post("/p", std::fs::read(&big).unwrap()));
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!((reply.json()["width"].as_u64(), reply.json()["height"].as_u64()), (Some(8064), Some(6048)));
    let bound = canvas_bound_mib(8064 * 6048);
    eprintln!("upload of an 8064x6048 HEIC: peak rose {rose} MiB, the bound is {bound} MiB");
    assert!(rose <= bound, "peak rose {rose} MiB, the bound is {bound} MiB");
    let path = image_path("p", reply.json()["hash"].as_str().unwrap());
    let (reply, rose) = rise(&server, || server.get(&format!("{path}/full.jpg")));
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let charged = charged_mib(ImageFormat::Heic, ImageFormat::Jpeg, 8064 * 6048);
    eprintln!("full.jpg of it: peak rose {rose} MiB, charged {charged} MiB, the bound is {bound} MiB");
    assert!(
        rose <= charged.min(bound),
        "full.jpg: peak rose {rose} MiB, charged {charged} MiB, the bound is {bound} MiB"
    );
}
