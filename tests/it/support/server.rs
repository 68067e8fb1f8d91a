//! The real `image-server` binary on 127.0.0.1 port 0, in a temporary working directory with
//! `file://` storage inside it, talked to over HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The binary as a command-line tool in `dir`, with nothing of the test process's environment
/// but `PATH`: an `IMG_*` variable of the caller would otherwise become configuration.
pub fn cli_in(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-server"));
    cmd.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// An HTTP answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `error` message of a JSON error answer.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_else(|| panic!("no error field: {:?}", self.json())).to_owned()
    }
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub base: String,
    pub status_base: String,
    work_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    logs: Arc<Mutex<Vec<String>>>,
    client: Client,
}

/// How to start a server.
#[derive(Default, Clone)]
pub struct ServerOptions {
    pub args: Vec<String>,
    /// Arguments before the subcommand (wanelo's command lines give flags there).
    pub leading: Vec<String>,
    /// The subcommand: `serve` unless given (`server`, wanelo's name).
    pub subcommand: Option<String>,
    pub env: Vec<(String, String)>,
    /// Working directory to reuse (for restarts); a new temporary one otherwise.
    pub work_dir: Option<PathBuf>,
}

impl ServerOptions {
    pub fn arg(mut self, a: &str) -> Self {
        self.args.extend(a.split_whitespace().map(str::to_owned));
        self
    }

    /// Arguments before the subcommand, split on whitespace.
    pub fn before(mut self, a: &str) -> Self {
        self.leading.extend(a.split_whitespace().map(str::to_owned));
        self
    }

    /// Another name for `serve`.
    pub fn subcommand(mut self, name: &str) -> Self {
        self.subcommand = Some(name.to_owned());
        self
    }

    /// One argument, as is (no splitting on whitespace).
    pub fn raw(mut self, a: &str) -> Self {
        self.args.push(a.to_owned());
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn in_dir(mut self, dir: &Path) -> Self {
        self.work_dir = Some(dir.to_owned());
        self
    }

    pub fn start(self) -> Server {
        Server::start_with(self)
    }
}

pub fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().timeout(Duration::from_secs(120)).no_proxy().build().unwrap()
}

impl Server {
    /// A server on defaults, with storage in a fresh temporary directory.
    pub fn start() -> Server {
        ServerOptions::default().start()
    }

    pub fn options() -> ServerOptions {
        ServerOptions::default()
    }

    fn start_with(opts: ServerOptions) -> Server {
        let (tmp, work_dir) = match opts.work_dir {
            Some(dir) => (None, dir),
            None => {
                let tmp = tempfile::tempdir().unwrap();
                let dir = tmp.path().to_owned();
                (Some(tmp), dir)
            }
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_image-server"));
        cmd.current_dir(&work_dir)
            .args(&opts.leading)
            .arg(opts.subcommand.as_deref().unwrap_or("serve"))
            .args(if opts.args.iter().any(|a| a == "--port") { &[][..] } else { &["--port", "0"][..] })
            .args(if opts.args.iter().any(|a| a == "--status-port") { &[][..] } else { &["--status-port", "0"][..] })
            .args(&opts.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(opts.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start image-server");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                let mut tx = Some(tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("image-server listening")
                        && let Some(tx) = tx.take()
                    {
                        let _ = tx.send(line.clone());
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let line = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("server did not start: {:?}", logs.lock().unwrap());
            }
        };
        let json: Option<serde_json::Value> = serde_json::from_str(&line).ok();
        let field = |name: &str| -> String {
            if let Some(v) = json.as_ref().and_then(|j| j[name].as_str()) {
                return v.to_owned();
            }
            let start =
                line.find(&format!(" {name}=")).unwrap_or_else(|| panic!("no {name} in {line}")) + name.len() + 2;
            line[start..].split_whitespace().next().unwrap().to_owned()
        };
        Server {
            base: format!("http://{}", field("addr")),
            status_base: format!("http://{}", field("status_addr")),
            child,
            work_dir,
            _tmp: tmp,
            logs,
            client: client(),
        }
    }

    /// The `file://` storage directory of the default configuration.
    pub fn data_dir(&self) -> PathBuf {
        self.work_dir.join("data")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn read(resp: reqwest::blocking::Response) -> Reply {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().map(|b| b.to_vec()).unwrap_or_default();
        Reply { status, headers, body }
    }

    pub fn get(&self, path: &str) -> Reply {
        Self::read(self.client.get(self.url(path)).send().unwrap_or_else(|e| panic!("GET {path}: {e}")))
    }

    pub fn get_with(&self, path: &str, header: &str, value: &str) -> Reply {
        Self::read(self.client.get(self.url(path)).header(header, value).send().unwrap())
    }

    pub fn head(&self, path: &str) -> Reply {
        Self::read(self.client.head(self.url(path)).send().unwrap())
    }

    pub fn request(&self, method: &str, path: &str) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        Self::read(self.client.request(method, self.url(path)).send().unwrap())
    }

    /// `POST {path}` with a raw body.
    pub fn post(&self, path: &str, body: Vec<u8>) -> Reply {
        Self::read(self.client.post(self.url(path)).body(body).send().unwrap_or_else(|e| panic!("POST {path}: {e}")))
    }

    /// `POST {path}` with a raw body and `Authorization: Bearer {token}`.
    pub fn post_with_token(&self, path: &str, token: &str, body: Vec<u8>) -> Reply {
        let req = self.client.post(self.url(path)).header("authorization", format!("Bearer {token}")).body(body);
        Self::read(req.send().unwrap())
    }

    pub fn post_typed(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        Self::read(self.client.post(self.url(path)).header("content-type", content_type).body(body).send().unwrap())
    }

    /// Uploads and returns the partitioned-hash path prefix `/{ns}/{a}/{b}/{c}/{d}`.
    pub fn upload(&self, ns: &str, bytes: Vec<u8>) -> String {
        let reply = self.post(&format!("/{ns}"), bytes);
        assert!(
            reply.status == 201 || reply.status == 200,
            "upload: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        let hash = reply.json()["hash"].as_str().unwrap().to_owned();
        image_path(ns, &hash)
    }

    /// Uploads with `Authorization: Bearer {token}` and returns the path prefix, as [`Server::upload`].
    pub fn upload_with_token(&self, ns: &str, token: &str, bytes: Vec<u8>) -> String {
        let reply = self.post_with_token(&format!("/{ns}"), token, bytes);
        assert!(reply.status == 201 || reply.status == 200, "upload: {} {}", reply.status, reply.error());
        image_path(ns, reply.json()["hash"].as_str().unwrap())
    }

    pub fn status(&self) -> Value {
        let r = self.client.get(format!("{}/status", self.status_base)).send().unwrap();
        serde_json::from_slice(&r.bytes().unwrap()).unwrap()
    }

    /// GET of a path sent byte for byte (HTTP clients normalise `..` away), returning the status.
    pub fn raw_get_status(&self, path: &str) -> u16 {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.base.trim_start_matches("http://")).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }

    /// GET on the status port.
    pub fn status_get(&self, path: &str) -> Reply {
        Self::read(self.client.get(format!("{}{path}", self.status_base)).send().unwrap())
    }

    pub fn health(&self) -> u16 {
        match self.client.get(format!("{}/health", self.status_base)).send() {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Peak resident memory of the process so far (since the last reset), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.proc_status_kib("VmHWM:")
    }

    /// Resident memory of the process now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.proc_status_kib("VmRSS:")
    }

    /// Sets the peak resident memory back to what is resident now (Linux's clear_refs).
    pub fn reset_peak_rss(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").unwrap();
    }

    fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid()))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "server did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `/{ns}/6e0/072/682/e66...` for a hash.
pub fn image_path(ns: &str, hash: &str) -> String {
    format!("/{ns}/{}/{}/{}/{}", &hash[0..3], &hash[3..6], &hash[6..9], &hash[9..])
}

/// Every file under a directory, as paths relative to it, sorted; render leases left out: they
/// come and go on their own (one is removed `lease_secs` after its variant is stored), so a
/// before-and-after comparison would see an earlier render's lease go.
pub fn files_under(dir: &Path) -> Vec<String> {
    all_files_under(dir).into_iter().filter(|f| !f.contains(".lease")).collect()
}

/// Every file under a directory, leases included, as paths relative to it, sorted.
pub fn all_files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
