//! A restarted server on the same storage serves stored variants without rendering them again.

use crate::support::{Server, corpus};

#[test]
fn a_restart_serves_stored_variants_without_rendering() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::options().in_dir(dir.path()).start();
    let path = first.upload("p", corpus::read("jpeg/photo_1.9mp_flower_progressive.jpg"));
    let before = first.get(&format!("{path}/x150.jpg")).body;
    assert_eq!(first.status()["renders"], 1);
    assert!(first.terminate().success());

    let second = Server::options().in_dir(dir.path()).start();
    let after = second.get(&format!("{path}/x150.jpg"));
    assert_eq!(after.status, 200);
    assert_eq!(after.body, before);
    assert_eq!(second.get(&format!("{path}/info.json")).status, 200);
    let status = second.status();
    assert_eq!(status["renders"], 0, "nothing rendered after the restart");
    // The variant from storage; the image's facts were read with it, so info.json from memory.
    assert_eq!((status["cache"]["storage_hits"].as_u64(), status["cache"]["memory_hits"].as_u64()), (Some(1), Some(1)));
}

#[test]
fn staging_files_of_killed_writers_are_removed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let first = Server::options().in_dir(dir.path()).start();
    let path = first.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(first.get(&format!("{path}/x50.jpg")).status, 200);
    drop(first);
    // What a writer killed mid-write leaves: object_store's `name#N` beside the object.
    let image = dir.path().join("data").join(&path[1..]);
    let (stale, fresh) = (image.join("x60.jpg#3"), image.join("x70.jpg#12"));
    std::fs::write(&stale, b"half a JPEG").unwrap();
    std::fs::write(&fresh, b"being written by another node").unwrap();
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options().write(true).open(&stale).unwrap().set_modified(hour_ago).unwrap();

    let second = Server::options().in_dir(dir.path()).start();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while stale.exists() || !second.logs().iter().any(|l| l.contains("removed staging files")) {
        assert!(std::time::Instant::now() < deadline, "the stale staging file is still there: {:?}", second.logs());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(fresh.exists(), "a young staging file may be another node's write in progress");
    // Never listed as objects.
    let info = second.get(&format!("{path}/info.json")).json();
    assert_eq!(info["variants"], serde_json::json!(["x50.jpg"]));
}
