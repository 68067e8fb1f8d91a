//! Connections and memory are bounded (DESIGN.md §9): a client that sends half a request is
//! closed after the header timeout while others are served; a slow body is cut off; past
//! max_connections new connections wait; past the upload buffer uploads are 503 and memory
//! stays put. Outcomes are asserted, never times.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{Server, corpus};

fn connect(server: &Server) -> TcpStream {
    TcpStream::connect(server.base.trim_start_matches("http://")).unwrap()
}

/// Whether the server closed `stream` (a read returns end of file or an error) within `patience`.
fn closed_within(stream: &mut TcpStream, patience: Duration) -> bool {
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn half_sent_requests_are_closed_after_the_header_timeout_while_others_are_served() {
    let server = Server::options().arg("--header-read-timeout-secs 2").start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    let mut slow: Vec<TcpStream> = (0..50).map(|_| connect(&server)).collect();
    for stream in &mut slow {
        stream.write_all(b"GET /p/").unwrap();
    }
    let mut silent = connect(&server); // connects and sends nothing at all
    // Meanwhile a well-behaved client is served, again and again.
    for w in 10..20 {
        assert_eq!(server.get(&format!("{path}/w{w}.jpg")).status, 200);
    }
    for stream in slow.iter_mut().chain(std::iter::once(&mut silent)) {
        assert!(closed_within(stream, Duration::from_secs(30)), "a half-sent request was kept open");
    }
    // A keep-alive connection that has been answered may wait for its next request longer.
    let mut kept = connect(&server);
    kept.write_all(format!("GET {path}/w10.jpg HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let mut head = [0u8; 12];
    kept.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    assert_eq!(server.health(), 200);
}

#[test]
fn a_body_that_does_not_arrive_in_time_is_408() {
    let server = Server::options().arg("--body-read-timeout-secs 1").start();
    let mut stream = connect(&server);
    stream.write_all(b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial body").unwrap();
    let mut answer = String::new();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive"), "{answer}");
    assert!(crate::support::server::files_under(&server.data_dir()).is_empty());
}

#[test]
fn past_max_connections_new_connections_wait() {
    let server = Server::options().arg("--max-connections 2 --header-read-timeout-secs 60").start();
    let mut holders: Vec<TcpStream> = (0..2).map(|_| connect(&server)).collect();
    for h in &mut holders {
        h.write_all(b"GET /p/").unwrap();
    }
    // The kernel takes the third connection, but the server does not serve it yet.
    let waiting = std::thread::spawn({
        let base = server.base.clone();
        move || {
            let started = Instant::now();
            let reply = crate::support::server::client().get(format!("{base}/")).send().unwrap();
            (reply.status().as_u16(), started.elapsed())
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(!waiting.is_finished(), "a third connection was served past max_connections 2");
    drop(holders.pop());
    let (status, _) = waiting.join().unwrap();
    assert_eq!(status, 404, "served once a slot was free");
}

#[test]
fn past_the_upload_buffer_uploads_are_503_and_memory_stays_put() {
    let limit = 32u64 << 20;
    let server = Server::options().arg(&format!("--upload-buffer-bytes {limit}")).start();
    let before = server.rss_kib();
    // 60 uploads of 20 MB at once, each a valid image followed by padding (still within
    // max_upload_bytes): without the buffer they would hold 1.2 GB.
    let mut body = corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg");
    body.resize(20 << 20, 0);
    let body = std::sync::Arc::new(body);
    let uploads: Vec<_> = (0..60)
        .map(|_| {
            let (url, body) = (server.url("/p"), std::sync::Arc::clone(&body));
            std::thread::spawn(move || {
                let reply = crate::support::server::client().post(url).body(body.to_vec()).send().unwrap();
                (reply.status().as_u16(), reply.headers().get("retry-after").is_some())
            })
        })
        .collect();
    let outcomes: Vec<(u16, bool)> = uploads.into_iter().map(|t| t.join().unwrap()).collect();
    let refused = outcomes.iter().filter(|(s, _)| *s == 503).count();
    assert!(refused > 0, "every upload was buffered: {outcomes:?}");
    assert!(outcomes.iter().all(|(s, retry)| matches!(s, 200 | 201) || (*s == 503 && *retry)), "{outcomes:?}");
    let rise_mib = (server.peak_rss_kib() - before) / 1024;
    eprintln!("60 uploads of 20 MB with a 32 MiB buffer: {refused} refused, peak RSS +{rise_mib} MiB");
    assert!(rise_mib < 32 + 128, "peak memory rose by {rise_mib} MiB with a 32 MiB upload buffer");
    // A lone upload is taken again.
    assert!(matches!(server.post("/p", corpus::read("gif/static_hopper_128.gif")).status, 201));
}
