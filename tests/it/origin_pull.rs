//! Origin-pull namespaces: `/{ns}/{path}/{variant}` fetches the original from the namespace's
//! template on the first miss, once, and never again.

use std::sync::{Arc, Barrier};

use image::ImageFormat;

use crate::support::Server;
use crate::support::images::decode;
use crate::support::origin::Origin;
use crate::support::server::{ServerOptions, files_under};

const FILE: &str = "jpeg/photo_0.24mp_owl_baseline.jpg";

fn namespaces(origin: &Origin) -> String {
    serde_json::json!({
        "user": { "source_url": origin.url("/corpus/{path}") },
        "errors": { "source_url": origin.url("/status/{path}") },
        "open": { "source_url": origin.url("/corpus/{path}"), "allow_source_override": true },
    })
    .to_string()
}

fn server(origin: &Origin) -> ServerOptions {
    Server::options().arg("--source-allow-private --namespaces").raw(&namespaces(origin))
}

#[test]
fn the_first_miss_fetches_and_stores_later_ones_never_fetch() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&origin).in_dir(dir.path()).start();
    let first = server.get(&format!("/user/{FILE}/w100.jpg"));
    assert_eq!(first.status, 200, "{}", String::from_utf8_lossy(&first.body));
    assert_eq!(decode(&first.body, ImageFormat::Jpeg).width(), 100);
    assert_eq!(origin.hits(), 1);
    let stored = files_under(&dir.path().join("data"));
    for leaf in ["original", "info.json", "w100.jpg"] {
        assert!(stored.contains(&format!("user/{FILE}/{leaf}")), "{leaf} not in {stored:?}");
    }
    let info = server.get(&format!("/user/{FILE}/info.json")).json();
    assert_eq!((info["width"].as_u64(), info["content_type"].as_str()), (Some(600), Some("image/jpeg")));
    assert_eq!(server.get(&format!("/user/{FILE}/x64.webp")).status, 200);
    assert_eq!(origin.hits(), 1, "the second variant reads the stored original");
    assert_eq!(server.status()["originals_downloaded"], 1);

    assert!(server.terminate().success());
    let restarted = crate::support::server::ServerOptions::default()
        .in_dir(dir.path())
        .arg("--source-allow-private --namespaces")
        .raw(&namespaces(&origin))
        .start();
    assert_eq!(restarted.get(&format!("/user/{FILE}/h80.png")).status, 200);
    assert_eq!(origin.hits(), 1, "nor after a restart");
}

#[test]
fn concurrent_first_requests_fetch_once() {
    let origin = Origin::start();
    let server = Arc::new(server(&origin).start());
    let barrier = Arc::new(Barrier::new(12));
    let threads: Vec<_> = (0..12)
        .map(|i| {
            let (server, barrier) = (Arc::clone(&server), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                server.get(&format!("/user/jpeg/ijg_testorig.jpg/w{}.jpg", 20 + i)).status
            })
        })
        .collect();
    assert!(threads.into_iter().all(|t| t.join().unwrap() == 200));
    assert_eq!(origin.hits(), 1, "twelve first requests, one fetch");
    assert_eq!(server.status()["renders"], 12);
}

#[test]
fn origin_errors_are_404_and_502() {
    let origin = Origin::start();
    let server = server(&origin).start();
    let missing = server.get("/user/no/such/image.jpg/w100.jpg");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.error(), "image not found at its origin");
    assert_eq!(server.get("/errors/500/w100.jpg").status, 502);
    assert_eq!(server.get("/errors/503/info.json").status, 502);
    assert_eq!(server.status()["originals_unavailable"], 3);
    // Paths outside the origin-path grammar never reach the origin.
    let hits = origin.hits();
    assert_eq!(server.raw_get_status("/user/a/../b/w100.jpg"), 404);
    assert_eq!(server.raw_get_status("/user/a/%2e%2e/b/w100.jpg"), 404);
    assert_eq!(origin.hits(), hits);
    // A namespace without a template has only hash paths.
    assert_eq!(server.get(&format!("/p/{FILE}/w100.jpg")).status, 404);
}

#[test]
fn source_overrides_only_where_the_namespace_allows() {
    let origin = Origin::start();
    let server = server(&origin).start();
    let elsewhere = origin.url(&format!("/corpus/{FILE}"));
    let allowed = server.get(&format!("/open/anything/you/like/x40.jpg?source={elsewhere}"));
    assert_eq!(allowed.status, 200, "{}", String::from_utf8_lossy(&allowed.body));
    let refused = server.get(&format!("/user/anything/x40.jpg?source={elsewhere}"));
    assert_eq!(refused.status, 400);
    assert!(refused.error().contains("does not allow"));
}

#[test]
fn origin_pulls_go_through_the_address_policy() {
    // Without source_allow_private, a template pointing at loopback is refused like ?source= is.
    let origin = Origin::start();
    let server = Server::options().arg("--namespaces").raw(&namespaces(&origin)).start();
    let r = server.get(&format!("/user/{FILE}/w100.jpg"));
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.error().contains("refused"));
    assert_eq!(origin.hits(), 0);
}

#[test]
fn origin_paths_cannot_reach_into_another_images_keys() {
    // Issue 18, finding 10: `/open/{victim}/info.json/w100.jpg?source=...` stored an original at
    // `open/{victim}/info.json/original`, so that `open/{victim}/info.json` could never be written
    // again and every variant of the victim was a 503.
    let origin = Origin::start();
    let server = server(&origin).start();
    let victim = "jpeg/ijg_testorig.jpg";
    let elsewhere = origin.url(&format!("/corpus/{FILE}"));
    let attacks = ["info.json/w100.jpg", "original/w100.jpg", "w100.jpg/x40.jpg", "info.json.lease/x40.jpg"];
    let replies: Vec<_> =
        attacks.iter().map(|attack| server.get(&format!("/open/{victim}/{attack}?source={elsewhere}"))).collect();
    let reply = server.get(&format!("/open/{victim}/w100.jpg"));
    assert_eq!(reply.status, 200, "the victim: {}", String::from_utf8_lossy(&reply.body));
    assert_eq!(server.get(&format!("/open/{victim}/info.json")).status, 200);
    for (attack, reply) in attacks.iter().zip(&replies) {
        assert_eq!(reply.status, 400, "{attack}: {}", String::from_utf8_lossy(&reply.body));
        assert!(reply.error().contains("named like an object stored under an image"), "{}", reply.error());
    }
    let hits = origin.hits();
    let under_a_hash = server.get(&format!("/open/6e0/072/682/e66287b662827da75b244a3/x/w100.jpg?source={elsewhere}"));
    assert_eq!(under_a_hash.status, 400);
    assert_eq!(origin.hits(), hits, "nothing was fetched for a refused path");
}
