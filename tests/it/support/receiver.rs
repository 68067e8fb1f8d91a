//! A real HTTP/1.1 receiver on loopback for the server's hooks (notifications, moderation): it
//! records every request whole (method, path, headers, body) and answers what the test's
//! function says, one thread per connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    #[allow(dead_code)] // for a test that looks at it when it fails
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// What to answer: status and body.
pub type Answer = (u16, String);

type Respond = dyn Fn(&Received, usize) -> Answer + Send + Sync;

pub struct Receiver {
    pub url: String,
    seen: Arc<(Mutex<Vec<Received>>, Condvar)>,
}

impl Receiver {
    /// A receiver answering with `respond(request, n)`, `n` counting requests from 0.
    pub fn start(respond: impl Fn(&Received, usize) -> Answer + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen: Arc<(Mutex<Vec<Received>>, Condvar)> = Arc::default();
        let respond: Arc<Respond> = Arc::new(respond);
        {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    let (seen, respond) = (Arc::clone(&seen), Arc::clone(&respond));
                    std::thread::spawn(move || serve(stream, &seen, &*respond));
                }
            });
        }
        Receiver { url, seen }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.seen.0.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have come (panics after `within`).
    pub fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        let mut seen = self.seen.0.lock().unwrap();
        while seen.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{} of {n} requests came within {within:?}", seen.len());
            seen = self.seen.1.wait_timeout(seen, left).unwrap().0;
        }
        seen.clone()
    }
}

fn serve(stream: std::net::TcpStream, seen: &(Mutex<Vec<Received>>, Condvar), respond: &Respond) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let received = Received { path, headers, body };
    let n = {
        let mut all = seen.0.lock().unwrap();
        all.push(received.clone());
        seen.1.notify_all();
        all.len() - 1
    };
    let (status, body) = respond(&received, n);
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body.as_bytes());
}
