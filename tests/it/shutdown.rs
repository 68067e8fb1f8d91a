//! Graceful shutdown and zero-downtime restarts: SIGTERM lets requests in flight finish and exits
//! 0; a second process on the same port (SO_REUSEPORT) takes over without a failed request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Server, corpus};

#[test]
fn sigterm_during_a_slow_render_still_answers_and_exits_0() {
    let server = Server::start();
    let path = server.upload("p", corpus::read("jpeg/photo_20.4mp_bird_baseline.jpg"));
    let slow = {
        let url = server.url(&format!("{path}/full-q100.png"));
        std::thread::spawn(move || {
            let r = crate::support::server::client().get(url).send().unwrap();
            (r.status().as_u16(), r.bytes().unwrap().len())
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.status()["renders_in_progress"] != 1 {
        assert!(Instant::now() < deadline, "the slow render never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = server.pid();
    let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
    // While it drains, health says so.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.health() != 503 {
        assert!(Instant::now() < deadline, "/health never reported the shutdown");
        std::thread::sleep(Duration::from_millis(5));
    }
    let (status, bytes) = slow.join().unwrap();
    assert_eq!(status, 200);
    assert!(bytes > 1_000_000, "the whole 20 MP PNG arrived ({bytes} bytes)");
    let exit = server.terminate();
    assert!(exit.success(), "exit status {exit:?}");
}

/// A port nobody listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn a_second_process_on_the_port_takes_over_without_a_failed_request() {
    // With this (Linux 5.14+) a closing listener hands its not-yet-accepted connections to the
    // other listener of the port instead of resetting them; docs/operations.md recommends it. Best effort:
    // the test does not depend on it.
    let _ = std::fs::write("/proc/sys/net/ipv4/tcp_migrate_req", "1");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let old = Server::options().in_dir(dir.path()).arg(&format!("--port {port}")).start();
    let path = old.upload("p", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    let new = Server::options().in_dir(dir.path()).arg(&format!("--port {port}")).start();

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = format!("{}{path}/x40.jpg", old.base);
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, ok, failed, url) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&failed), url.clone());
            std::thread::spawn(move || {
                let client = crate::support::server::client();
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).send().and_then(|r| Ok((r.status(), r.bytes()?))) {
                        Ok((status, _)) if status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        Ok((status, _)) => panic!("answered {status}"),
                        Err(e) => {
                            eprintln!("request failed: {e}");
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    // Until the load has run a while before the switch, and again after it.
    let answered_at_least = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while ok.load(Ordering::Relaxed) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    answered_at_least(20);
    let before = ok.load(Ordering::Relaxed);
    assert!(old.terminate().success(), "the old process exits 0");
    answered_at_least(before + 20);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let (answered, lost) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(before > 0 && answered > before, "the load ran before and after the switch ({before}, {answered})");
    assert_eq!(lost, 0, "{lost} of {} requests failed during the restart", answered + lost);
    assert!(new.status()["requests"]["2xx"].as_u64().unwrap() > 0, "the new process served");
}

#[test]
fn sockets_inherited_from_systemd_are_served() {
    // systemd's own socket activator binds both ports, passes them as fds 3 and 4 with
    // LISTEN_FDS/LISTEN_PID, and starts the server on the first connection. The --port and
    // --status-port given are ignored in favour of the inherited sockets.
    let dir = tempfile::tempdir().unwrap();
    let (port, status_port) = (free_port(), free_port());
    let mut activator = std::process::Command::new("systemd-socket-activate")
        .current_dir(dir.path())
        .args(["-l", &format!("127.0.0.1:{port}"), "-l", &format!("127.0.0.1:{status_port}"), "-E", "RUST_LOG=info"])
        .arg(env!("CARGO_BIN_EXE_image-server"))
        .args(["serve", "--port", "1", "--status-port", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd): run scripts/test, which installs it");
    let client = crate::support::server::client();
    let deadline = Instant::now() + Duration::from_secs(10);
    let upload = loop {
        match client.post(format!("http://127.0.0.1:{port}/p")).body(corpus::read("jpeg/ijg_testorig.jpg")).send() {
            Ok(r) => break r,
            Err(e) => {
                assert!(Instant::now() < deadline, "the activator never listened: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    assert_eq!(upload.status(), 201);
    let health = client.get(format!("http://127.0.0.1:{status_port}/health")).send().unwrap();
    assert_eq!(health.status(), 200, "the status port is the second inherited socket");
    let _ = std::process::Command::new("kill").arg("-TERM").arg(activator.id().to_string()).status();
    assert!(activator.wait().unwrap().success(), "the server (exec'd in the activator's place) exits 0");
}
