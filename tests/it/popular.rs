//! Popular sizes through the real server (DESIGN.md §12): after a namespace has seen some sizes
//! asked for, a new image's miss leads to those sizes stored in the background, without counting
//! in `image_request`, and never ahead of a request.

use std::time::{Duration, Instant};

use crate::support::{Server, corpus};

fn popular_server(workers: usize) -> Server {
    let namespaces = serde_json::json!({ "pop": { "prerender_popular": 2 } });
    Server::options().arg(&format!("--workers {workers} --namespaces")).raw(&namespaces.to_string()).start()
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
    let a = server.upload("pop", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    for (variant, times) in [("w100.jpg", 3), ("x50.webp", 2), ("h80.png", 1)] {
        for _ in 0..times {
            assert_eq!(server.get(&format!("{a}/{variant}")).status, 200);
        }
    }
    let status = server.status();
    assert_eq!(
        status["popular"]["pop"],
        serde_json::json!([{ "variant": "w100.jpg", "count": 3 }, { "variant": "x50.webp", "count": 2 }])
    );
    assert_eq!(status["renders"], 3);

    let b = server.upload("pop", corpus::read("png/palette_photo_290x442.png"));
    assert_eq!(server.get(&format!("{b}/w300.jpg")).status, 200);
    let dir = server.data_dir().join(&b[1..]);
    wait_until("the popular sizes of the new image are stored", || {
        dir.join("w100.jpg").exists() && dir.join("x50.webp").exists()
    });
    wait_until("counted", || server.status()["background_renders"] == 2);
    let status = server.status();
    assert_eq!(status["renders"], 4, "background renders do not count in image_request");
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
    let photo = corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg");
    let a = server.upload("pop", photo);
    for variant in ["w1800.avif", "w1700.avif"] {
        for _ in 0..2 {
            assert_eq!(server.get(&format!("{a}/{variant}")).status, 200);
        }
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
