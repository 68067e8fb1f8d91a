//! Concurrent requests for one new variant join one render.

use std::sync::{Arc, Barrier};

use crate::support::server::files_under;
use crate::support::{Server, corpus};

#[test]
fn twenty_concurrent_requests_render_once() {
    let server = Server::start();
    let path = server.upload("p", corpus::read("jpeg/photo_4.1mp_autumn_progressive.jpg"));
    let url = server.url(&format!("{path}/333x222-q77.webp"));
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let (url, barrier) = (url.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let client = crate::support::server::client();
                barrier.wait();
                let r = client.get(url).send().unwrap();
                (r.status().as_u16(), r.bytes().unwrap().to_vec())
            })
        })
        .collect();
    let answers: Vec<(u16, Vec<u8>)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(answers.iter().all(|(s, _)| *s == 200));
    assert!(answers.iter().all(|(_, b)| *b == answers[0].1), "every answer has the same bytes");
    assert_eq!(server.status()["renders"], 1, "one render for twenty requests");
    let stored: Vec<_> =
        files_under(&server.data_dir()).into_iter().filter(|f| f.ends_with("/333x222-q77.webp")).collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(std::fs::read(server.data_dir().join(&stored[0])).unwrap(), answers[0].1);
}

/// AVIF renders hold at most half the workers: with both workers asked for slow AVIF misses, a
/// JPEG miss asked after them is answered before any of them.
#[test]
fn avif_misses_leave_a_worker_for_jpeg_misses() {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    let server = Server::options().arg("--workers").arg("2").start();
    let path = server.upload("p", corpus::read("jpeg/photo_4.1mp_autumn_progressive.jpg"));
    let finished = Arc::new(Mutex::new(Vec::<String>::new()));
    let fetch = |variant: String| {
        let (url, finished) = (server.url(&format!("{path}/{variant}")), Arc::clone(&finished));
        std::thread::spawn(move || {
            let r = crate::support::server::client().get(url).send().unwrap();
            let status = r.status().as_u16();
            finished.lock().unwrap().push(variant.clone());
            (variant, status)
        })
    };
    let avifs: Vec<_> = ["w2048.avif", "w2047.avif", "w2046.avif"].map(|v| fetch(v.to_owned())).into_iter().collect();
    // Wait until an AVIF render runs, then give the others time to queue behind it.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.status()["renders_in_progress"].as_u64() != Some(1) {
        assert!(Instant::now() < deadline, "no AVIF render started");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.status()["renders_in_progress"], 1, "a second AVIF render took the other worker");
    let jpeg = fetch("w300.jpg".to_owned()).join().unwrap();
    assert_eq!(jpeg.1, 200);
    let order = finished.lock().unwrap().clone();
    assert_eq!(order.first().map(String::as_str), Some("w300.jpg"), "the JPEG waited for an AVIF: {order:?}");
    for avif in avifs {
        assert_eq!(avif.join().unwrap().1, 200);
    }
}
