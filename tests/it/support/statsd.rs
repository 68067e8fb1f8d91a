//! A statsd sink for tests: a real UDP socket on loopback that collects the lines it receives.

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct StatsdSink {
    pub addr: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl StatsdSink {
    pub fn start() -> StatsdSink {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap().to_string();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            while let Ok(n) = socket.recv(&mut buf) {
                let packet = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().extend(packet.lines().map(str::to_owned));
            }
        });
        StatsdSink { addr, lines }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// How many times exactly `line` arrived.
    pub fn count(&self, line: &str) -> usize {
        self.lines().iter().filter(|l| *l == line).count()
    }

    /// Waits (up to 10 s) until `line` has arrived `n` times; returns how many arrived.
    pub fn wait_for(&self, line: &str, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(line) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.count(line)
    }
}
