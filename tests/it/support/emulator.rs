//! What the storage servers of the tests share (moto for S3, fake-gcs-server for GCS, Azurite for
//! Azure): a child process on a free loopback port that dies with the test process, a fresh
//! prefix for every test, and a look into a bucket through object_store.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use object_store::{ObjectStore, ObjectStoreExt};

/// A loopback port nothing listens on at the moment.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `cmd`, a server of `what` that is to listen on `port`, and waits until it accepts
/// connections. It gets SIGTERM when the test process ends. A `cmd` that cannot run, or ends
/// before it listens, panics with `install`, the way to get it.
pub fn start(mut cmd: Command, port: u16, what: &str, install: &str) {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: prctl in the forked child, before exec: the server dies with the test process.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    // PR_SET_PDEATHSIG fires when the thread that forked exits, and test threads end with their
    // test: fork from a thread that lives as long as the process. It also reaps the server, and
    // says when that ended.
    let (spawned_tx, spawned) = std::sync::mpsc::channel();
    let (ended_tx, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || match cmd.spawn() {
        Ok(mut child) => {
            spawned_tx.send(Ok(())).unwrap();
            let _ = ended_tx.send(child.wait());
        }
        Err(e) => spawned_tx.send(Err(e.to_string())).unwrap(),
    });
    spawned.recv().unwrap().unwrap_or_else(|e| panic!("{what} ({e}): {install}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(status) = ended.try_recv() {
            let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
            panic!("{what}: it ended ({status}) before listening on port {port}; {install}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on port {port} within a minute");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A fresh prefix in a test bucket.
pub fn prefix() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("t{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Every key under `prefix/` in `store`, relative to it, sorted.
pub fn keys(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let under = object_store::path::Path::from(prefix);
    let metas: Vec<object_store::ObjectMeta> = runtime().block_on(store.list(Some(&under)).try_collect()).unwrap();
    let mut keys: Vec<String> = metas.iter().map(|m| m.location.as_ref()[prefix.len() + 1..].to_owned()).collect();
    keys.sort();
    keys
}

/// The bytes of `prefix/key` in `store`.
pub fn get(store: &dyn ObjectStore, prefix: &str, key: &str) -> Option<Vec<u8>> {
    let path = object_store::path::Path::from(format!("{prefix}/{key}"));
    runtime().block_on(async { store.get(&path).await.ok()?.bytes().await.ok() }).map(|b| b.to_vec())
}

/// Replaces `prefix/key` in `store`.
pub fn put(store: &dyn ObjectStore, prefix: &str, key: &str, bytes: &[u8]) {
    let path = object_store::path::Path::from(format!("{prefix}/{key}"));
    runtime().block_on(store.put(&path, bytes.to_vec().into())).unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}
