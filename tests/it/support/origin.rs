//! A small HTTP/1.1 origin on loopback for `?source=` tests: serves corpus files, chosen status
//! codes, redirects, slow and endless answers, and counts the requests it gets and keeps their
//! targets as sent.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Origin {
    pub base: String,
    pub hits: Arc<AtomicUsize>,
    targets: Arc<Mutex<Vec<String>>>,
}

impl Origin {
    /// Routes: `/corpus/{file}`, `/status/{code}`, `/redirect/{n}/{file}` (n hops, then the file),
    /// `/redirect-to/{url}` (a 302 to any URL), `/slow` (answers after 60 s), `/endless` (streams
    /// forever without a length).
    pub fn start() -> Origin {
        Origin::start_on("127.0.0.1")
    }

    /// The same routes on another local address.
    pub fn start_on(ip: &str) -> Origin {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let targets = Arc::new(Mutex::new(Vec::new()));
        let (counter, seen) = (Arc::clone(&hits), Arc::clone(&targets));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (counter, seen) = (Arc::clone(&counter), Arc::clone(&seen));
                std::thread::spawn(move || serve(stream, &counter, &seen));
            }
        });
        Origin { base, hits, targets }
    }

    /// The request targets (path and query) received so far, byte for byte as sent.
    pub fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(mut stream: TcpStream, hits: &AtomicUsize, targets: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    targets.lock().unwrap().push(path.clone());
    hits.fetch_add(1, Ordering::SeqCst);
    let respond = |stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]| {
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n", body.len());
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(body);
    };
    if let Some(file) = path.strip_prefix("/corpus/") {
        match std::fs::read(super::corpus::dir().join(file)) {
            Ok(bytes) => respond(&mut stream, "200 OK", "Content-Type: application/octet-stream\r\n", &bytes),
            Err(_) => respond(&mut stream, "404 Not Found", "", b"no such file"),
        }
    } else if let Some(code) = path.strip_prefix("/status/") {
        respond(&mut stream, &format!("{code} Status"), "", b"status");
    } else if let Some(rest) = path.strip_prefix("/redirect/") {
        let (n, file) = rest.split_once('/').unwrap();
        let n: u32 = n.parse().unwrap();
        let next = if n <= 1 { format!("/corpus/{file}") } else { format!("/redirect/{}/{file}", n - 1) };
        respond(&mut stream, "302 Found", &format!("Location: {next}\r\n"), b"");
    } else if let Some(url) = path.strip_prefix("/redirect-to/") {
        respond(&mut stream, "302 Found", &format!("Location: {url}\r\n"), b"");
    } else if path == "/slow" {
        std::thread::sleep(Duration::from_secs(60));
        respond(&mut stream, "200 OK", "", b"late");
    } else if path == "/endless" {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![0u8; 64 * 1024];
        while stream.write_all(&chunk).is_ok() {}
    } else {
        respond(&mut stream, "404 Not Found", "", b"unknown route");
    }
}
