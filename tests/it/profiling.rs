//! Profiling: with --profile, CPU and heap profiles that `go tool pprof` reads, naming our
//! functions, taken from a server under load; a flame graph; off by default.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use crate::support::{Server, corpus};

/// `go tool pprof -top` on a saved profile. Both profiles carry their function names, so pprof
/// is told not to symbolize again (it would run addr2line over the whole debug binary: minutes).
fn pprof_top(profile: &[u8], name: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, profile).unwrap();
    let out = Command::new("go")
        .args(["tool", "pprof", "-symbolize=none", "-top", "-nodecount=500"])
        .arg(&file)
        .env("HOME", dir.path())
        .output()
        .expect("`go` (Debian's golang-go): run scripts/test, which installs it");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "go tool pprof failed: {text}");
    text
}

#[test]
fn go_tool_pprof_reads_cpu_and_heap_profiles_naming_our_functions() {
    let server = Arc::new(Server::options().arg("--profile").start());
    let path = server.upload("p", corpus::read("jpeg/photo_4.1mp_autumn_progressive.jpg"));
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU32::new(100));
    let load: Vec<_> = (0..2)
        .map(|_| {
            let (server, stop, next, path) = (Arc::clone(&server), Arc::clone(&stop), Arc::clone(&next), path.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let w = next.fetch_add(1, Ordering::Relaxed);
                    assert_eq!(server.get(&format!("{path}/w{w}.jpg")).status, 200);
                }
            })
        })
        .collect();

    let cpu = server.status_get("/debug/pprof/profile?seconds=3");
    assert_eq!(cpu.status, 200, "{}", String::from_utf8_lossy(&cpu.body));
    let top = pprof_top(&cpu.body, "cpu.pb");
    assert!(top.contains("image_server::"), "no function of ours in the CPU profile:\n{top}");

    // The heap profile's frames carry bare function names: look for ones only we have, such as
    // the renders whose answers the memory cache holds.
    let heap = server.status_get("/debug/pprof/heap");
    assert_eq!(heap.status, 200, "{}", String::from_utf8_lossy(&heap.body));
    let top = pprof_top(&heap.body, "heap.pb.gz");
    let ours = ["render_from_working_copy", "render_bitmap", "make_working_copies", "get_or_load"];
    assert!(ours.iter().any(|f| top.contains(f)), "no function of ours in the heap profile:\n{top}");

    let svg = server.status_get("/debug/pprof/flamegraph?seconds=1");
    assert_eq!(svg.status, 200);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert!(String::from_utf8_lossy(&svg.body).contains("<svg"));
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().unwrap();
    }
}

#[test]
fn profiling_endpoints_are_off_by_default() {
    let server = Server::start();
    for path in ["/debug/pprof/profile?seconds=1", "/debug/pprof/heap"] {
        assert_eq!(server.status_get(path).status, 404, "{path}");
    }
}
