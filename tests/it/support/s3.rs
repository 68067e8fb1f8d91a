//! A real S3-compatible server for the tests: the one at `TEST_S3_ENDPOINT` if set,
//! or else moto's server (`pip install 'moto[server]'`) started here on a free loopback port and
//! stopped with the test process. Every test works under a prefix of its own in one bucket.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = Command::new("moto_server");
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: prctl in the forked child, before exec: moto dies with the test process.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    // PR_SET_PDEATHSIG fires when the thread that forked exits, and test threads end with their
    // test: fork from a thread that lives as long as the process.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let spawned = cmd.spawn().map(|_| ()).map_err(|e| e.to_string());
        tx.send(spawned).unwrap();
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap().unwrap_or_else(|e| {
        panic!("moto_server, the S3 server of the tests ({e}): run scripts/test, which installs it (pip install 'moto[server]')")
    });
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    endpoint
}

/// A fresh prefix in the test bucket.
pub fn prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("t{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
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
fn bucket() -> (tokio::runtime::Runtime, object_store::aws::AmazonS3) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint())
        .with_allow_http(true)
        .with_bucket_name(BUCKET)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .with_region("us-east-1")
        .build()
        .unwrap();
    (tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(), store)
}

/// Every key under `prefix/`, relative to it, sorted.
pub fn keys(prefix: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    use object_store::ObjectStore;
    let (rt, store) = bucket();
    let under = object_store::path::Path::from(prefix);
    let metas: Vec<object_store::ObjectMeta> = rt.block_on(store.list(Some(&under)).try_collect()).unwrap();
    let mut keys: Vec<String> = metas.iter().map(|m| m.location.as_ref()[prefix.len() + 1..].to_owned()).collect();
    keys.sort();
    keys
}

/// An object's bytes.
pub fn get(prefix: &str, key: &str) -> Option<Vec<u8>> {
    use object_store::ObjectStoreExt;
    let (rt, store) = bucket();
    let path = object_store::path::Path::from(format!("{prefix}/{key}"));
    rt.block_on(async { store.get(&path).await.ok()?.bytes().await.ok() }).map(|b| b.to_vec())
}

/// Replaces an object.
pub fn put(prefix: &str, key: &str, bytes: &[u8]) {
    use object_store::ObjectStoreExt;
    let (rt, store) = bucket();
    let path = object_store::path::Path::from(format!("{prefix}/{key}"));
    rt.block_on(store.put(&path, bytes.to_vec().into())).unwrap();
}
