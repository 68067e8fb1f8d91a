//! Popular sizes through the real server (DESIGN.md §12): after a namespace has seen some sizes
//! asked for, a new image's miss leads to those sizes stored in the background, without counting
//! in `image_request`, and never ahead of a request.

use std::time::{Duration, Instant};

use crate::support::{Server, corpus};

fn popular_server(workers: usize) -> Server {
    let namespaces = serde_json::json!({ "pop": { "prerender_popular": 2, "prerender_max_side": 2048 } });
    Server::options()
        .arg(&format!("--workers {workers} --trusted-proxies 127.0.0.1/32 --namespaces"))
        .raw(&namespaces.to_string())
        .start()
}

/// Renders `variant` of each of `images` for a client of its own (popular sizes count renders,
/// once per client).
fn rendered_for_clients(server: &Server, images: &[String], variant: &str) {
    for (i, image) in images.iter().enumerate() {
        let reply = server.get_with(&format!("{image}/{variant}"), "x-forwarded-for", &format!("203.0.113.{i}"));
        assert_eq!(reply.status, 200, "{image}/{variant}: {}", String::from_utf8_lossy(&reply.body));
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_new_images_miss_stores_the_namespaces_popular_sizes_in_the_background() {
    let server = popular_server(2);
    let a: Vec<String> = ["jpeg/photo_0.24mp_owl_baseline.jpg", "jpeg/ijg_testorig.jpg", "gif/static_hopper_128.gif"]
        .iter()
        .map(|f| server.upload("pop", corpus::read(f)))
        .collect();
    for (variant, images) in [("w100.jpg", 3), ("x50.webp", 2), ("h80.png", 1)] {
        rendered_for_clients(&server, &a[..images], variant);
    }
    // Hits count nothing.
    assert_eq!(server.get(&format!("{}/h80.png", a[0])).status, 200);
    let status = server.status();
    assert_eq!(
        status["popular"]["pop"],
        serde_json::json!([{ "variant": "w100.jpg", "count": 3 }, { "variant": "x50.webp", "count": 2 }])
    );
    assert_eq!(status["renders"], 6);

    let b = server.upload("pop", corpus::read("png/palette_photo_290x442.png"));
    assert_eq!(server.get(&format!("{b}/w300.jpg")).status, 200);
    let dir = server.data_dir().join(&b[1..]);
    wait_until("the popular sizes of the new image are stored", || {
        dir.join("w100.jpg").exists() && dir.join("x50.webp").exists()
    });
    wait_until("counted", || server.status()["background_renders"] == 2);
    let status = server.status();
    assert_eq!(status["renders"], 7, "background renders do not count in image_request");
    assert!(!dir.join("h80.png").exists(), "only the top 2");
    // Asked for now, they come from storage.
    let before = server.status()["renders"].clone();
    assert_eq!(server.get(&format!("{b}/x50.webp")).status, 200);
    assert_eq!(server.status()["renders"], before);

    // Namespaces without prerender_popular are not counted.
    let other = server.upload("other", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(server.get(&format!("{other}/w100.jpg")).status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.status()["background_renders"], 2);
    assert!(server.status()["popular"].get("other").is_none());
}

#[test]
fn a_busy_queue_defers_the_popular_sizes() {
    // One worker; the popular sizes are seconds-long AVIF renders.
    let server = popular_server(1);
    // Each rendered for two clients, so that they outcount the sizes asked below (once each).
    let a: Vec<String> = ["jpeg/photo_2.5mp_storm_baseline_exif.jpg", "jpeg/photo_1.9mp_flower_progressive.jpg"]
        .iter()
        .map(|f| server.upload("pop", corpus::read(f)))
        .collect();
    for variant in ["w1800.avif", "w1700.avif"] {
        rendered_for_clients(&server, &a, variant);
    }
    let b = server.upload("pop", corpus::read("jpeg/photo_4.1mp_autumn_progressive.jpg"));
    assert_eq!(server.get(&format!("{b}/w10.jpg")).status, 200);
    // Requests right behind the miss: the second popular size must wait for all of them.
    let answered: Vec<u64> = std::thread::scope(|s| {
        let asks: Vec<_> = (0..4)
            .map(|i| {
                let (server, b) = (&server, &b);
                s.spawn(move || {
                    assert_eq!(server.get(&format!("{b}/x{}.jpg", 20 + i)).status, 200);
                    server.status()["background_renders"].as_u64().unwrap()
                })
            })
            .collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    assert!(answered.iter().all(|&n| n <= 1), "a popular size went ahead of a request: {answered:?}");
    wait_until("both popular sizes rendered once the queue was empty", || server.status()["background_renders"] == 2);
    let dir = server.data_dir().join(&b[1..]);
    assert!(dir.join("w1800.avif").exists() && dir.join("w1700.avif").exists());
}
