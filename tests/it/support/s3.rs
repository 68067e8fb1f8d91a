//! A real S3-compatible server for the tests: the one at `TEST_S3_ENDPOINT` if set,
//! or else moto's server (`pip install 'moto[server]'`) started here on a free loopback port and
//! stopped with the test process. Every test works under a prefix of its own in one bucket.

use std::process::Command;
use std::sync::OnceLock;

use crate::support::emulator;
use crate::support::server::ServerOptions;

pub const BUCKET: &str = "image-server-test";

/// The server's endpoint, started (and the bucket made) on first use.
pub fn endpoint() -> &'static str {
    static ENDPOINT: OnceLock<String> = OnceLock::new();
    ENDPOINT.get_or_init(|| {
        let endpoint = std::env::var("TEST_S3_ENDPOINT").unwrap_or_else(|_| start_moto());
        let client = crate::support::server::client();
        // Idempotent: an existing bucket is fine.
        let r = client.put(format!("{endpoint}/{BUCKET}")).send().expect("the S3 test server answers");
        assert!(r.status().is_success() || r.status().as_u16() == 409, "create bucket: {}", r.status());
        endpoint
    })
}

fn start_moto() -> String {
    let port = emulator::free_port();
    let mut cmd = Command::new("moto_server");
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
    emulator::start(
        cmd,
        port,
        "moto_server, the S3 server of the tests",
        "run scripts/test, which installs it (pip install 'moto[server]')",
    );
    format!("http://127.0.0.1:{port}")
}

/// A fresh prefix in the test bucket.
pub fn prefix() -> String {
    emulator::prefix()
}

/// `opts` on `s3://BUCKET/{prefix}` of the test S3 server.
pub fn storage(opts: ServerOptions, prefix: &str) -> ServerOptions {
    through(opts.arg(&format!("--storage s3://{BUCKET}/{prefix}")), endpoint())
}

/// `opts` on `s3://BUCKET/{prefix}` through an endpoint where nothing listens: a backend that is down.
pub fn unreachable_storage(opts: ServerOptions, prefix: &str) -> ServerOptions {
    through(opts.arg(&format!("--storage s3://{BUCKET}/{prefix}")), "http://127.0.0.1:9")
}

/// The AWS variables that point a server at `endpoint` with the test credentials.
fn through(opts: ServerOptions, endpoint: &str) -> ServerOptions {
    opts.env("AWS_ENDPOINT", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
}

/// The test bucket through object_store, signed with the test credentials (moto refuses
/// anonymous reads of private objects).
fn bucket() -> object_store::aws::AmazonS3 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint())
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_region("us-east-1")
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
