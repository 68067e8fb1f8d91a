//! One storage conformance suite, run against `memory://`, `file://`, and `s3://`, `gs://` and
//! `az://` on real servers of those APIs (moto, fake-gcs-server, Azurite): upload, idempotent
//! re-upload, info, render and write-back, a restart, missing objects, a backend that is down,
//! and no partial objects after failures.

use std::path::Path;
use std::time::{Duration, Instant};

use image::ImageFormat;

use crate::support::azure as azure_server;
use crate::support::gcs as gcs_server;
use crate::support::s3 as s3_server;
use crate::support::server::{ServerOptions, files_under, image_path};
use crate::support::{Server, corpus};

/// Where a test's server keeps its objects, and how the test looks inside.
enum Backend {
    Memory,
    File,
    S3(String),
    Gcs(String),
    Azure(String),
}

impl Backend {
    fn memory() -> Backend {
        Backend::Memory
    }

    fn file() -> Backend {
        Backend::File
    }

    fn s3() -> Backend {
        Backend::S3(s3_server::prefix())
    }

    fn gcs() -> Backend {
        Backend::Gcs(gcs_server::prefix())
    }

    fn azure() -> Backend {
        Backend::Azure(azure_server::prefix())
    }

    /// A server on this backend, its working directory `dir`. The memory cache is off, so every
    /// lookup goes to storage.
    fn server(&self, dir: &Path) -> ServerOptions {
        let opts = Server::options().in_dir(dir).arg("--memory-cache-bytes 0");
        match self {
            Backend::Memory => opts.arg("--storage memory://"),
            Backend::File => opts.arg("--storage file://./data"),
            Backend::S3(prefix) => s3_server::storage(opts, prefix),
            Backend::Gcs(prefix) => gcs_server::storage(opts, prefix),
            Backend::Azure(prefix) => azure_server::storage(opts, prefix),
        }
    }

    /// Every object key, or `None` where the objects cannot be seen from outside (memory).
    fn keys(&self, dir: &Path) -> Option<Vec<String>> {
        match self {
            Backend::Memory => None,
            // Files with '#' are object_store's staging files, not objects.
            Backend::File => Some(files_under(&dir.join("data")).into_iter().filter(|f| !f.contains('#')).collect()),
            Backend::S3(prefix) => Some(s3_server::keys(prefix)),
            Backend::Gcs(prefix) => Some(gcs_server::keys(prefix)),
            Backend::Azure(prefix) => Some(azure_server::keys(prefix)),
        }
    }

    /// Replaces an object behind the server's back (not possible for memory).
    fn overwrite(&self, dir: &Path, key: &str, bytes: &[u8]) {
        match self {
            Backend::Memory => unreachable!("memory objects cannot be reached from outside"),
            Backend::File => std::fs::write(dir.join("data").join(key), bytes).unwrap(),
            Backend::S3(prefix) => s3_server::put(prefix, key, bytes),
            Backend::Gcs(prefix) => gcs_server::put(prefix, key, bytes),
            Backend::Azure(prefix) => azure_server::put(prefix, key, bytes),
        }
    }

    fn read(&self, dir: &Path, key: &str) -> Option<Vec<u8>> {
        match self {
            Backend::Memory => None,
            Backend::File => std::fs::read(dir.join("data").join(key)).ok(),
            Backend::S3(prefix) => s3_server::get(prefix, key),
            Backend::Gcs(prefix) => gcs_server::get(prefix, key),
            Backend::Azure(prefix) => azure_server::get(prefix, key),
        }
    }
}

fn leaves(keys: &[String]) -> Vec<String> {
    let mut leaves: Vec<String> = keys.iter().map(|k| k.rsplit('/').next().unwrap().to_owned()).collect();
    leaves.sort();
    leaves
}

fn upload_reupload_info_render_and_write_back(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = b.server(dir.path()).start();
    let bytes = corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg");
    let first = server.post("/p", bytes.clone());
    assert_eq!(first.status, 201);
    let path = image_path("p", first.json()["hash"].as_str().unwrap());
    if let Some(keys) = b.keys(dir.path()) {
        assert_eq!(leaves(&keys), vec!["info.json", "original"]);
        assert_eq!(b.read(dir.path(), &keys[1]).unwrap(), bytes, "the original is stored as uploaded");
    }
    let again = server.post("/p", bytes);
    assert_eq!((again.status, again.json()), (200, first.json()));
    assert_eq!(server.status()["uploads"], 1);

    assert_eq!(server.get(&format!("{path}/info.json")).json(), first.json());
    let variant = server.get(&format!("{path}/x64.webp"));
    assert_eq!(variant.status, 200);
    if let Some(keys) = b.keys(dir.path()) {
        let key = keys.iter().find(|k| k.ends_with("/x64.webp")).expect("the variant is written back");
        assert_eq!(b.read(dir.path(), key).unwrap(), variant.body);
    }
    // With the memory cache off, the second answer proves the write-back on every backend.
    assert_eq!(server.get(&format!("{path}/x64.webp")).body, variant.body);
    let status = server.status();
    assert_eq!((status["renders"].as_u64(), status["cache"]["storage_hits"].as_u64()), (Some(1), Some(2)));
}

fn a_restart_reads_what_was_stored(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let first = b.server(dir.path()).start();
    let path = first.upload("p", corpus::read("png/palette_photo_290x442.png"));
    let before = first.get(&format!("{path}/x50.png")).body;
    assert!(first.terminate().success());
    let second = b.server(dir.path()).start();
    assert_eq!(second.get(&format!("{path}/x50.png")).body, before);
    assert_eq!(second.get(&format!("{path}/info.json")).status, 200);
    assert_eq!(second.status()["renders"], 0);
}

fn missing_objects_are_404(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = b.server(dir.path()).start();
    let unknown = image_path("p", "6e0072682e66287b662827da75b244a3");
    for leaf in ["x10.jpg", "info.json"] {
        let r = server.get(&format!("{unknown}/{leaf}"));
        assert_eq!(r.status, 404, "{leaf}: {:?}", server.logs());
        assert_eq!(r.error(), "image not found");
    }
}

fn a_backend_that_is_down_is_503(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = match &b {
        Backend::Memory => unreachable!("nothing can take memory away from under the process"),
        // The storage directory is replaced by a file once the server runs.
        Backend::File => {
            let server = b.server(dir.path()).start();
            std::fs::remove_dir_all(dir.path().join("data")).unwrap();
            std::fs::write(dir.path().join("data"), b"not a directory").unwrap();
            server
        }
        // The same bucket through an endpoint where nothing listens.
        Backend::S3(prefix) => s3_server::unreachable_storage(Server::options().in_dir(dir.path()), prefix).start(),
        Backend::Gcs(prefix) => gcs_server::unreachable_storage(Server::options().in_dir(dir.path()), prefix).start(),
        Backend::Azure(prefix) => {
            azure_server::unreachable_storage(Server::options().in_dir(dir.path()), prefix).start()
        }
    };
    for reply in [
        server.get(&format!("{}/x10.jpg", image_path("p", "6e0072682e66287b662827da75b244a3"))),
        server.post("/p", corpus::read("jpeg/ijg_testorig.jpg")),
    ] {
        assert_eq!(reply.status, 503, "{}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.error(), "storage is unavailable; retry shortly");
        assert!(reply.header("retry-after").is_some());
    }
}

/// A 20000x100 PNG: small to upload and decode, too wide for WebP (16383 at most).
fn too_wide_for_webp() -> Vec<u8> {
    let img = image::RgbImage::from_fn(20_000, 100, |x, y| image::Rgb([(x % 256) as u8, (y * 2) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn a_size_the_format_cannot_hold_is_406_and_stores_nothing(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = b.server(dir.path()).start();
    let path = server.upload("p", too_wide_for_webp());
    let before = b.keys(dir.path());
    let refused = server.get(&format!("{path}/full.webp"));
    assert_eq!(refused.status, 406, "{}", String::from_utf8_lossy(&refused.body));
    assert!(refused.error().contains("16383"), "{}", refused.error());
    // Memory cannot be looked into from outside; there the figures below are the whole check.
    if let Some(before) = before {
        assert_eq!(b.keys(dir.path()).unwrap(), before, "no object for the refused render");
    }
    assert_eq!(server.status()["render_failures"], 0, "refused before rendering");
    assert_eq!(server.get(&format!("{path}/w500.jpg")).status, 200, "the server renders on");
}

fn a_failed_render_stores_nothing(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = b.server(dir.path()).start();
    let bytes = corpus::read("jpeg/ijg_testorig.jpg");
    let path = server.upload("p", bytes.clone());
    // The original, damaged in storage after it was checked and stored.
    let original = b.keys(dir.path()).unwrap().into_iter().find(|k| k.ends_with("/original")).unwrap();
    b.overwrite(dir.path(), &original, &bytes[..bytes.len() / 2]);
    let before = b.keys(dir.path()).unwrap();
    let failed = server.get(&format!("{path}/x10.jpg"));
    assert_eq!(failed.status, 422, "{}", String::from_utf8_lossy(&failed.body));
    assert_eq!(b.keys(dir.path()).unwrap(), before, "no object for the failed render");
    assert_eq!(server.status()["render_failures"], 1);
    assert_eq!(server.get(&format!("{path}/info.json")).status, 200, "the server serves on");
}

fn a_killed_process_leaves_only_whole_objects(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    // Short leases: the killed node's leases on its renders go stale soon after.
    let server = b.server(dir.path()).arg("--workers 2 --lease-secs 3").start();
    let path = server.upload("p", corpus::read("png/large_rgb_3840x2160_cascade.png"));
    // Large renders and their writes in flight; SIGKILL once the first has been written.
    let renders: Vec<_> = ["full.png", "full-q100.webp", "full-q99.jpg", "full-q98.jpg", "3000x2000.png"]
        .into_iter()
        .map(|v| {
            let url = server.url(&format!("{path}/{v}"));
            std::thread::spawn(move || crate::support::server::client().get(url).send().map(|r| r.status()))
        })
        .collect();
    let is_variant =
        |k: &String| !["original", "info.json", "working", "working-small", ".lease"].iter().any(|l| k.ends_with(l));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !b.keys(dir.path()).unwrap().iter().any(is_variant) {
        assert!(Instant::now() < deadline, "no render was stored");
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = std::process::Command::new("kill").arg("-KILL").arg(server.pid().to_string()).status();
    for r in renders {
        let _ = r.join();
    }
    let keys = b.keys(dir.path()).unwrap();
    for key in keys.iter().filter(|k| is_variant(k)) {
        let bytes = b.read(dir.path(), key).unwrap();
        let format = image::guess_format(&bytes).unwrap_or_else(|_| panic!("{key} is not an image"));
        image::load_from_memory_with_format(&bytes, format).unwrap_or_else(|e| panic!("{key} is cut short: {e}"));
    }
    // A restart serves what is there and renders the rest (taking over the stale leases).
    let again = b.server(dir.path()).arg("--lease-secs 3").start();
    assert_eq!(again.get(&format!("{path}/3000x2000.png")).status, 200);
}

fn two_nodes_render_a_new_variant_once(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (one, two) = (b.server(dir.path()).start(), b.server(dir.path()).start());
    let path = one.upload("p", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    let barrier = std::sync::Barrier::new(20);
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let asks: Vec<_> = (0..20)
            .map(|i| {
                let (node, barrier, path) = (if i % 2 == 0 { &one } else { &two }, &barrier, &path);
                s.spawn(move || {
                    barrier.wait();
                    let r = node.get(&format!("{path}/w500.webp"));
                    assert_eq!(r.status, 200);
                    r.body
                })
            })
            .collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    assert!(bodies.iter().all(|body| *body == bodies[0]));
    let renders = one.status()["renders"].as_u64().unwrap() + two.status()["renders"].as_u64().unwrap();
    assert_eq!(renders, 1, "the variant's lease (a conditional create) lets one node render it");
}

/// The suite's tests for one backend: `memory` has no restart to survive, no process to kill
/// mid-write, no way to go down and no objects to damage from outside, so it runs the other three.
macro_rules! conformance {
    ($backend:ident: $($test:ident),*) => {
        mod $backend {
            use super::*;
            $(#[test] fn $test() { super::$test(Backend::$backend()) })*
        }
    };
}

conformance!(memory: upload_reupload_info_render_and_write_back, missing_objects_are_404,
    a_size_the_format_cannot_hold_is_406_and_stores_nothing);
conformance!(file: upload_reupload_info_render_and_write_back, a_restart_reads_what_was_stored, missing_objects_are_404,
    a_backend_that_is_down_is_503, a_size_the_format_cannot_hold_is_406_and_stores_nothing,
    a_failed_render_stores_nothing, a_killed_process_leaves_only_whole_objects, two_nodes_render_a_new_variant_once);
conformance!(s3: upload_reupload_info_render_and_write_back, a_restart_reads_what_was_stored, missing_objects_are_404,
    a_backend_that_is_down_is_503, a_size_the_format_cannot_hold_is_406_and_stores_nothing,
    a_failed_render_stores_nothing, a_killed_process_leaves_only_whole_objects, two_nodes_render_a_new_variant_once);
conformance!(gcs: upload_reupload_info_render_and_write_back, a_restart_reads_what_was_stored, missing_objects_are_404,
    a_backend_that_is_down_is_503, a_size_the_format_cannot_hold_is_406_and_stores_nothing,
    a_failed_render_stores_nothing, a_killed_process_leaves_only_whole_objects, two_nodes_render_a_new_variant_once);
conformance!(azure: upload_reupload_info_render_and_write_back, a_restart_reads_what_was_stored, missing_objects_are_404,
    a_backend_that_is_down_is_503, a_size_the_format_cannot_hold_is_406_and_stores_nothing,
    a_failed_render_stores_nothing, a_killed_process_leaves_only_whole_objects, two_nodes_render_a_new_variant_once);
