//! Connections and memory are bounded (DESIGN.md §9, §15): a client that sends half a request is
//! closed after the header timeout while others are served; a slow body is cut off; past
//! max_connections new connections wait; past the upload buffer uploads are 503 and memory
//! stays put; idle HTTP/2 connections close; clients that read nothing are dropped and their
//! answers' bytes counted in the response buffer meanwhile; one client holds at most
//! max_connections_per_client. Outcomes are asserted, never times.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
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

/// A connection from `local` (any 127.x.y.z: each is another client to the server), with a
/// receive buffer of `recv_buffer` bytes if given.
fn connect_from(server: &Server, local: &str, recv_buffer: Option<u32>) -> TcpStream {
    let addr: SocketAddr = server.base.trim_start_matches("http://").parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
    runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
        let stream = socket.connect(addr).await.unwrap().into_std().unwrap();
        stream.set_nonblocking(false).unwrap();
        stream
    })
}

/// Everything the server sends on `stream` until it closes it, or `None` if it is still open
/// after `patience`.
fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(patience)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64 << 10];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return None;
            }
            Err(_) => return Some(got),
        }
    }
}

/// One HTTP/2 frame.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![len[1], len[2], len[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// An HTTP/2 connection without TLS (prior knowledge, as `curl --http2-prior-knowledge`) that
/// asks for `path` once and reads the answer to its end; then it sends nothing more.
fn h2c_after_one_request(server: &Server, path: &str) -> TcpStream {
    let mut stream = connect(server);
    // HPACK: :method GET and :scheme http from the static table; :path and :authority as
    // literals without indexing, their names from the static table (4 and 1).
    let mut headers = vec![0x82, 0x86, 0x04, u8::try_from(path.len()).unwrap()];
    headers.extend_from_slice(path.as_bytes());
    headers.extend_from_slice(&[0x01, 0x01, b'x']);
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(h2_frame(0x4, 0, 0, &[])); // SETTINGS
    hello.extend(h2_frame(0x1, 0x5, 1, &headers)); // HEADERS, END_STREAM | END_HEADERS
    stream.write_all(&hello).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    loop {
        let mut head = [0u8; 9];
        stream.read_exact(&mut head).expect("an HTTP/2 answer");
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags, id) = (head[3], head[4], u32::from_be_bytes([head[5], head[6], head[7], head[8]]));
        let mut payload = vec![0u8; len];
        stream.read_exact(&mut payload).unwrap();
        match kind {
            0x4 if flags & 0x1 == 0 => stream.write_all(&h2_frame(0x4, 0x1, 0, &[])).unwrap(), // SETTINGS ack
            0x7 => panic!("GOAWAY before the answer"),
            0x0 | 0x1 if id == 1 && flags & 0x1 != 0 => return stream, // the answer's END_STREAM
            _ => {}
        }
    }
}

#[test]
fn idle_http2_connections_are_closed_and_do_not_fill_max_connections() {
    // Issue 18, finding 1: h2c connections that asked once and then sent nothing stayed open for
    // good, so 40 of them filled --max-connections 40 and every new client waited.
    let server = Server::options().arg("--max-connections 40 --idle-timeout-secs 2").start();
    let mut idle: Vec<TcpStream> = (0..40).map(|_| h2c_after_one_request(&server, "/")).collect();
    let reply = crate::support::server::client().get(server.url("/")).timeout(Duration::from_secs(90)).send();
    assert_eq!(reply.expect("a new client is served").status().as_u16(), 404);
    for stream in &mut idle {
        assert!(closed_within(stream, Duration::from_secs(60)), "an idle HTTP/2 connection was kept open");
    }
}

/// The big answer slow readers ask for: a PNG well above what the kernel buffers of both ends of
/// a loopback connection hold (4 MiB on the server's side at most, 4 KiB on the reader's).
fn big_png(server: &Server) -> (String, usize) {
    let path = server.upload("p", corpus::read("jpeg/photo_20.4mp_bird_baseline.jpg"));
    let big = format!("{path}/w4096.png");
    let whole = server.get(&big);
    assert_eq!(whole.status, 200);
    assert!(whole.body.len() > 12 << 20, "{} bytes", whole.body.len());
    (big, whole.body.len())
}

/// A client that asks for `path`, reads the status line of the answer, and then nothing more.
fn ask_and_stop_reading(server: &Server, path: &str) -> TcpStream {
    let mut stream = connect_from(server, "127.0.0.1", Some(4096));
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    let mut status = [0u8; 12];
    stream.read_exact(&mut status).unwrap();
    assert_eq!(&status, b"HTTP/1.1 200");
    stream
}

/// Whether the server has closed its end of `client`'s connection (its socket is no longer
/// established, though bytes it sent may still wait in the kernel), as /proc/net/tcp shows it.
fn server_closed(server: &Server, client: &TcpStream) -> bool {
    let hex = |addr: SocketAddr| match addr {
        SocketAddr::V4(v4) => format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port()),
        SocketAddr::V6(_) => unreachable!("the tests listen on IPv4"),
    };
    let server_end = hex(server.base.trim_start_matches("http://").parse().unwrap());
    let client_end = hex(client.local_addr().unwrap());
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let row = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 3 && f[1] == server_end && f[2] == client_end);
    row.is_none_or(|f| f[3] != "01")
}

/// Waits (at most `patience`) until the server has closed every one of `clients`.
fn until_server_closed(server: &Server, clients: &[TcpStream], patience: Duration) -> bool {
    let until = Instant::now() + patience;
    while Instant::now() < until {
        if clients.iter().all(|c| server_closed(server, c)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn clients_that_read_nothing_are_dropped_after_the_write_timeout() {
    // Issue 18, finding 2: sockets that asked for a big PNG and never read kept its bytes for as
    // long as they stayed.
    let server = Server::options().arg("--write-timeout-secs 2").start();
    let (big, length) = big_png(&server);
    let mut readers: Vec<TcpStream> = (0..10).map(|_| ask_and_stop_reading(&server, &big)).collect();
    assert!(until_server_closed(&server, &readers, Duration::from_secs(90)), "a reader that reads nothing is kept");
    for reader in &mut readers {
        // What the kernels still held comes through, then the end: never the whole answer.
        let got = read_until_closed(reader, Duration::from_secs(30)).expect("closed");
        assert!(got.len() < length, "the whole answer was written to a client that read nothing");
    }
    assert_eq!(server.get(&big).status, 200);
}

#[test]
fn past_the_response_buffer_answers_are_503_until_slow_readers_are_dropped() {
    let server = Server::options().arg("--write-timeout-secs 5 --response-buffer-bytes 64MiB").start();
    let (big, length) = big_png(&server);
    let fit = (64 << 20) / length;
    let readers: Vec<TcpStream> = (0..fit).map(|_| ask_and_stop_reading(&server, &big)).collect();
    // The buffer holds the answers the readers do not read: a further answer does not fit.
    let refused = server.get(&big);
    assert_eq!(refused.status, 503, "the answers of {fit} readers did not fill the response buffer");
    assert!(refused.error().contains("answer bytes"), "{}", refused.error());
    assert_eq!(refused.header("retry-after"), Some("2"));
    // Once the write timeout has dropped them, their bytes are given back.
    assert!(until_server_closed(&server, &readers, Duration::from_secs(90)));
    let until = Instant::now() + Duration::from_secs(30);
    while server.get(&big).status != 200 {
        assert!(Instant::now() < until, "the response buffer was not given back");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(readers);
}

#[test]
fn one_client_holds_at_most_max_connections_per_client() {
    let server = Server::options()
        .arg("--max-connections-per-client 3 --header-read-timeout-secs 120 --trusted-proxies 127.0.0.3/32")
        .start();
    let mut held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = connect_from(&server, "127.0.0.2", None);
            s.write_all(b"GET /p/").unwrap();
            s
        })
        .collect();
    let ask = |local: &str| {
        let mut s = connect_from(&server, local, None);
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        read_until_closed(&mut s, Duration::from_secs(60)).expect("an answer or a close")
    };
    // A fourth connection of that client is closed unanswered; other clients are served.
    let fourth = ask("127.0.0.2");
    assert!(fourth.is_empty(), "a fourth connection of one client was served: {}", String::from_utf8_lossy(&fourth));
    assert!(ask("127.0.0.4").starts_with(b"HTTP/1.1 404"));
    assert_eq!(server.get("/").status, 404);
    // A trusted proxy carries many clients: it is not capped.
    let proxy: Vec<TcpStream> = (0..6).map(|_| connect_from(&server, "127.0.0.3", None)).collect();
    assert!(ask("127.0.0.3").starts_with(b"HTTP/1.1 404"));
    // Once one of its connections has closed, the client may open another.
    drop(held.pop());
    let until = Instant::now() + Duration::from_secs(30);
    while !ask("127.0.0.2").starts_with(b"HTTP/1.1 404") {
        assert!(Instant::now() < until, "the closed connection's place was not given back");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(proxy);
}
