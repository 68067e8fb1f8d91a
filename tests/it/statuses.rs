//! Every row of the status-code table of DESIGN.md §2, and the headers every answer carries.

use std::time::Duration;

use crate::support::server::image_path;
use crate::support::{Server, corpus};

const UNKNOWN: &str = "/p/6e0/072/682/e66287b662827da75b244a3";

fn assert_json_error(reply: &crate::support::Reply, status: u16, needle: &str) {
    assert_eq!(reply.status, status, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("cache-control"), Some("no-store"), "a CDN must not keep an error");
    assert!(reply.header("content-length").is_some());
    let error = reply.error();
    assert!(error.to_lowercase().contains(&needle.to_lowercase()), "'{error}' should mention '{needle}'");
}

#[test]
fn paths_outside_the_grammar_are_404() {
    let server = Server::start();
    for path in [
        "/",
        "/favicon.ico",
        "/p/x",
        "/P/6e0/072/682/e66287b662827da75b244a3/x200.jpg",
        "/p/6e0/072/682/e66287b662827da75b244a3/x200",
        "/p/6e0/072/682/e66287b662827da75b244a3/x0200.jpg",
        "/p/6e0/072/682/e66287b662827da75b244a/x200.jpg",
        "/p/6e0/072/682/e66287b662827da75b244a3/x200.jpg/extra",
    ] {
        assert_json_error(&server.get(path), 404, "not found");
    }
    // HTTP clients resolve dot segments before sending; these go out byte for byte.
    for path in ["/p/../etc/passwd", "/p/6e0/072/682/e66287b662827da75b244a3/../../../../../etc/passwd", "/p/%2e%2e/x"]
    {
        assert_eq!(server.raw_get_status(path), 404, "{path}");
    }
    assert_eq!(server.health(), 200);
}

#[test]
fn unknown_hashes_are_404() {
    let server = Server::start();
    assert_json_error(&server.get(&format!("{UNKNOWN}/x200.jpg")), 404, "image not found");
    assert_json_error(&server.get(&format!("{UNKNOWN}/info.json")), 404, "image not found");
    assert_eq!(server.head(&format!("{UNKNOWN}/x200.jpg")).status, 404);
}

#[test]
fn bad_values_are_400() {
    let server = Server::options().arg("--whitelisted-extensions jpg,webp").start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_json_error(&server.get(&format!("{path}/x200-q0.jpg")), 400, "quality 0");
    assert_json_error(&server.get(&format!("{path}/x200-q101.jpg")), 400, "quality 101");
    assert_json_error(&server.get(&format!("{path}/x200.bmp")), 400, "extension");
    assert_json_error(&server.get(&format!("{path}/x200.png")), 400, "not allowed");
    assert_json_error(&server.get(&format!("{path}/w0.jpg")), 400, "0");
    assert_json_error(&server.post("/p?outputs=x1.tiff", corpus::read("jpeg/ijg_testorig.jpg")), 400, "outputs");
    assert_json_error(&server.post("/p", Vec::new()), 400, "empty");
    assert_json_error(
        &server.post_typed("/p", "application/json", b"{\"data\":{\"image\":\"%%%\"}}".to_vec()),
        400,
        "base64",
    );
    assert_json_error(&server.post_typed("/p", "application/json", b"[1,2]".to_vec()), 400, "json");
    assert_eq!(server.get(&format!("{path}/x200.webp")).status, 200);
}

#[test]
fn sizes_above_the_maximum_are_406() {
    let server = Server::options().arg("--maximum-width 500 --maximum-height 300").start();
    let path = server.upload("p", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    for v in ["w501.jpg", "h301.jpg", "x301.jpg", "501x10.jpg", "10x301.jpg"] {
        assert_json_error(&server.get(&format!("{path}/{v}")), 406, "too large");
    }
    for v in ["w500.jpg", "h300.jpg", "x300.jpg", "500x300.jpg", "full.jpg"] {
        assert_eq!(server.get(&format!("{path}/{v}")).status, 200, "{v}");
    }
    let defaults = Server::start();
    let path = defaults.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_json_error(&defaults.get(&format!("{path}/w4097.jpg")), 406, "4096");
    assert_json_error(&defaults.get(&format!("{path}/w99999999999999999999.jpg")), 406, "too large");
}

#[test]
fn uploads_above_the_limit_are_413() {
    let server = Server::options().arg("--max-upload-bytes 20000").start();
    let big = corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"); // 20996 bytes
    assert_json_error(&server.post("/p", big.clone()), 413, "20000");
    // Without a Content-Length (chunked), the limit holds while streaming.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(big));
    let reply = crate::support::server::client().post(server.url("/p")).body(body).send().unwrap();
    assert_eq!(reply.status(), 413);
    assert_eq!(server.post("/p", corpus::read("jpeg/ijg_testorig.jpg")).status, 201);
}

#[test]
fn non_images_and_unsupported_formats_are_415() {
    let server = Server::start();
    assert_json_error(&server.post("/p", b"hello, this is text".to_vec()), 415, "not an image");
    assert_json_error(&server.post("/p", b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec()), 415, "not an image");
    // A BMP header: a known image format the server does not read.
    let bmp =
        [&b"BM"[..], &[0x46, 0, 0, 0, 0, 0, 0, 0, 0x36, 0, 0, 0, 0x28, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0][..]].concat();
    assert_json_error(&server.post("/p", bmp), 415, "BMP");
}

#[test]
fn corrupt_images_and_bombs_are_422() {
    let server = Server::start();
    assert_json_error(
        &server.post("/p", corpus::read("malformed/truncated_10000_bytes_of_2725x2225.jpg")),
        422,
        "truncated",
    );
    assert_json_error(&server.post("/p", corpus::read("pngsuite/xc9n2c08.png")), 422, "corrupt");
    assert_json_error(&server.post("/p", crate::support::bombs::png_declaring(50_000, 50_000)), 422, "too large");
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let server = Server::options().arg("--allow-open-delete").start();
    let r = server.request("DELETE", &format!("{UNKNOWN}/x200.jpg"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = server.get("/p");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // The image's own path takes only DELETE.
    let r = server.get(UNKNOWN);
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("DELETE"));
    assert_json_error(&server.request("DELETE", UNKNOWN), 404, "image not found");
}

#[test]
fn a_full_render_queue_is_503_with_retry_after() {
    let server = Server::options().arg("--workers 1 --queue-size 0").start();
    let path = server.upload("p", corpus::read("jpeg/photo_20.4mp_bird_baseline.jpg"));
    let slow = {
        let url = server.url(&format!("{path}/full-q100.png"));
        std::thread::spawn(move || {
            let reply = crate::support::server::client().get(url).send().unwrap();
            (reply.status().as_u16(), reply.bytes().unwrap().len())
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.status()["renders_in_progress"] != 1 {
        assert!(std::time::Instant::now() < deadline, "the slow render never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let busy = server.get(&format!("{path}/x100.jpg"));
    assert_json_error(&busy, 503, "busy");
    assert_eq!(busy.header("retry-after"), Some("1"));
    let (status, len) = slow.join().unwrap();
    assert_eq!(status, 200);
    assert!(len > 16 << 20, "the slow answer ({len} bytes) is more than one client's share of the response buffer");
    // The client may have its answer a moment before the worker's slot is given back, and the
    // server drops the answer's bytes (more than this client's share of the response buffer) a
    // moment after their last one is written: ask again once the status port shows both free.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = server.status();
        if status["renders_in_progress"] == 0
            && status["render_queue_depth"] == 0
            && status["buffers"]["response_bytes"] == 0
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the worker or the response buffer was never free again");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(server.get(&format!("{path}/x100.jpg")).status, 200, "served again once the worker is free");
}

#[test]
fn an_unreachable_storage_backend_is_503_with_retry_after() {
    let server = crate::support::s3::unreachable_storage(Server::options(), "prefix").start();
    let reply = server.get(&format!("{}/x200.jpg", image_path("p", "6e0072682e66287b662827da75b244a3")));
    assert_json_error(&reply, 503, "storage is unavailable");
    assert_eq!(reply.header("retry-after"), Some("5"));
    assert!(!reply.error().contains("127.0.0.1"), "no backend details in the public message");
    assert_json_error(&server.post("/p", corpus::read("jpeg/ijg_testorig.jpg")), 503, "storage");
}
