//! Decoder work and memory are bounded (DESIGN.md §9): a JPEG with thousands of scans is
//! refused, a decode past its deadline is abandoned, an ICC profile or text chunk that inflates to
//! 100 MB costs nothing, a huge GIF canvas with tiny frames costs its canvas, and uploading and
//! rendering any corpus file takes at most 4 bytes a pixel of its canvas plus 64 MB above the
//! server as it was before.

use crate::support::bombs::{gif_canvas, jpeg_scan_bomb, png_with_inflating_chunks};
use crate::support::server::image_path;
use crate::support::{Reply, Server, corpus};

/// Uploads `bytes` and renders two variants of it, and says how much the peak resident memory
/// rose over what was resident before, in MiB.
fn memory_of(server: &Server, bytes: Vec<u8>) -> (Reply, u64) {
    server.reset_peak_rss();
    let before = server.rss_kib();
    let reply = server.post("/p", bytes);
    if reply.status == 201 || reply.status == 200 {
        let path = image_path("p", reply.json()["hash"].as_str().unwrap());
        for variant in ["x100.jpg", "w50.png"] {
            let r = server.get(&format!("{path}/{variant}"));
            assert_eq!(r.status, 200, "{variant}: {}", String::from_utf8_lossy(&r.body));
        }
    }
    let rise = server.peak_rss_kib().saturating_sub(before) / 1024;
    (reply, rise)
}

/// The bound of §9 for a canvas of `pixels`, in MiB.
fn bound_mib(pixels: u64) -> u64 {
    (4 * pixels) / (1 << 20) + 64
}

#[test]
fn a_jpeg_with_thousands_of_scans_is_refused() {
    let server = Server::start();
    let reply = server.post("/p", jpeg_scan_bomb(5000));
    assert_eq!(reply.status, 422, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.error().contains("more than the 100 progressive scans"), "{}", reply.error());
    // The same file within the limit is an image like any other.
    let allowed = Server::options().arg("--max-jpeg-scans 10000").start();
    assert_eq!(allowed.post("/p", jpeg_scan_bomb(50)).status, 201);
    assert_eq!(server.health(), 200);
}

#[test]
fn a_decode_past_its_deadline_is_abandoned() {
    // Scans allowed, but not the time 20,000 passes over 248,336 blocks take.
    let server = Server::options().arg("--max-jpeg-scans 100000 --decode-timeout-secs 1").start();
    let reply = server.post("/p", jpeg_scan_bomb(20_000));
    assert_eq!(reply.status, 422, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.error().contains("too long to decode"), "{}", reply.error());
    assert_eq!(server.post("/p", corpus::read("jpeg/ijg_testorig.jpg")).status, 201, "the server works on");
}

#[test]
fn profiles_and_text_that_inflate_to_100_mb_cost_nothing() {
    let server = Server::start();
    let bomb = png_with_inflating_chunks(100 << 20);
    assert!(bomb.len() < 1 << 20, "the bomb is {} bytes", bomb.len());
    let (reply, rise) = memory_of(&server, bomb);
    assert_eq!(reply.status, 201, "a 1x1 PNG: {}", String::from_utf8_lossy(&reply.body));
    assert!(rise <= bound_mib(1), "peak memory rose by {rise} MiB for a 1x1 PNG");
}

#[test]
fn a_huge_gif_canvas_with_tiny_frames_costs_its_canvas() {
    let server = Server::start();
    let (reply, rise) = memory_of(&server, gif_canvas(5000, 5000));
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert!(rise <= bound_mib(25_000_000), "peak memory rose by {rise} MiB for a 5000x5000 canvas");
    // A canvas above max_source_pixels is refused from its header.
    let small = Server::options().arg("--max-source-pixels 1000000").start();
    assert_eq!(small.post("/p", gif_canvas(5000, 5000)).status, 422);
}

#[test]
fn every_corpus_file_stays_within_the_memory_bound() {
    let server = Server::start();
    let mut checked = 0;
    for entry in corpus::manifest() {
        let (Some(w), Some(h)) = (entry.width, entry.height) else { continue };
        let (reply, rise) = memory_of(&server, corpus::read(&entry.file));
        if reply.status >= 400 {
            assert!(reply.status < 500, "{}: {}", entry.file, reply.status);
            continue;
        }
        let bound = bound_mib(u64::from(w) * u64::from(h));
        assert!(rise <= bound, "{} ({w}x{h}): peak memory rose by {rise} MiB, the bound is {bound} MiB", entry.file);
        checked += 1;
    }
    assert!(checked >= 100, "only {checked} corpus files checked");
}
