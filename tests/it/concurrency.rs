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

/// A client that has used more than a second of worker time lately has its renders run in the
/// pool's lower lane, beside the lane of other clients' requests: with one worker and no queue,
/// another client's miss is rendered while the heavy client's render runs, not refused with 503.
#[test]
fn a_client_that_used_much_worker_time_leaves_the_workers_to_others() {
    use std::time::{Duration, Instant};

    let server = Server::options().arg("--workers 1 --queue-size 0").start();
    let path = server.upload("p", corpus::read("jpeg/photo_20.4mp_bird_baseline.jpg"));
    let from = |addr: &str| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::blocking::Client::builder()
            .local_address(addr.parse::<std::net::IpAddr>().unwrap())
            .timeout(Duration::from_secs(120))
            .no_proxy()
            .build()
            .unwrap()
    };
    // The heavy client asks for large PNGs one after the other, each one new, until one of its
    // renders runs in the lower lane (about a second of renders in all).
    for width in (3000..3020).rev() {
        let url = server.url(&format!("{path}/w{width}.png"));
        let heavy = std::thread::spawn({
            let client = from("127.0.0.2");
            move || {
                let reply = client.get(url).send().unwrap();
                (reply.status().as_u16(), reply.bytes().unwrap().len())
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let lower = loop {
            let status = server.status();
            if status["renders_in_progress"] == 1 || heavy.is_finished() {
                break status["renders_lower_priority"] == 1;
            }
            assert!(Instant::now() < deadline, "the heavy client's render never started");
            std::thread::sleep(Duration::from_millis(2));
        };
        if lower && !heavy.is_finished() {
            let other = from("127.0.0.3").get(server.url(&format!("{path}/x{}.jpg", width - 2900))).send().unwrap();
            assert_eq!(other.status(), 200, "another client's miss is rendered beside the heavy client's");
            let rendered_beside = !heavy.is_finished();
            assert_eq!(heavy.join().unwrap().0, 200);
            if rendered_beside {
                return;
            }
            // The heavy render ended first: the miss did not need the other lane. Again.
            continue;
        }
        assert_eq!(heavy.join().unwrap().0, 200);
    }
    panic!("none of twenty large renders ran in the lower lane beside another client's miss");
}
