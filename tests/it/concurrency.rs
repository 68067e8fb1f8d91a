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
