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
    assert_eq!(status["cache"]["storage_hits"], 2);
}
