//! What operators run beside the server, for real: npm's statsd daemon receiving the seed names
//! of DESIGN.md §6, the status page in headless Chromium with its figures moving under load, and
//! docs/operations.md's restart recipe run as written.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::origin::Origin;
use crate::support::{Server, corpus, tools};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The counters npm's statsd (console backend) flushed so far, summed over flushes.
fn flushed_counters(output: &str) -> std::collections::BTreeMap<String, u64> {
    let mut sums = std::collections::BTreeMap::new();
    for block in output.split("counters: {").skip(1) {
        let body = &block[..block.find('}').unwrap_or(block.len())];
        for entry in body.split(',') {
            let Some((name, value)) = entry.split_once(':') else { continue };
            let name = name.trim().trim_matches('\'').to_owned();
            if let Ok(n) = value.trim().parse::<u64>() {
                *sums.entry(name).or_insert(0) += n;
            }
        }
    }
    sums
}

#[test]
fn the_statsd_daemon_receives_the_seed_names() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = dir.path().join("statsd.js");
    std::fs::write(
        &config,
        format!(
            "{{ port: {port}, address: '127.0.0.1', mgmt_port: {}, flushInterval: 300, \
             backends: ['./backends/console'], console: {{ prettyprint: false }} }}",
            free_port()
        ),
    )
    .unwrap();
    let mut daemon = Command::new("node")
        .arg(tools::path("node_modules/statsd/stats.js"))
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node: run scripts/test, which installs it");
    let output = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (output, stdout) = (Arc::clone(&output), daemon.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                output.lock().unwrap().push_str(&(line + "\n"));
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !output.lock().unwrap().contains("Flushing stats") {
        assert!(Instant::now() < deadline, "statsd did not start: {}", output.lock().unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }

    let origin = Origin::start();
    let server = Server::options().arg(&format!("--statsd 127.0.0.1:{port} --source-allow-private")).start();
    let path = server.upload("p", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    for variant in ["x50.jpg", "x51.jpeg", "x50.png", "x50.webp", "x50.gif"] {
        assert_eq!(server.get(&format!("{path}/{variant}")).status, 200);
    }
    assert_eq!(server.get("/p/6e0/072/682/e66287b662827da75b244a3/x50.jpg").status, 404);
    assert_eq!(
        server.post(&format!("/p?source={}", origin.url("/corpus/jpeg/ijg_testorig.jpg")), Vec::new()).status,
        201
    );

    let want = [
        ("image_server.image_request", 5),
        ("image_server.image_request.jpg", 2),
        ("image_server.image_request.png", 1),
        ("image_server.image_request.webp", 1),
        ("image_server.image_request.gif", 1),
        ("image_server.image_request_fail", 1),
        ("image_server.original_downloaded", 1),
        ("image_server.original_unavailable", 1),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let counters = flushed_counters(&output.lock().unwrap());
        if want.iter().all(|(name, n)| counters.get(*name) == Some(&(*n as u64))) {
            break;
        }
        assert!(Instant::now() < deadline, "statsd flushed {counters:?}, wanted {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = reader.join();
}

#[test]
fn the_status_page_shows_the_figures_moving_under_load() {
    let server = Server::start();
    let path = server.upload("p", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (url, stop) = (server.url(&path), Arc::clone(&stop));
        std::thread::spawn(move || {
            let client = crate::support::server::client();
            let mut w = 100;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = client.get(format!("{url}/w{w}.jpg")).send();
                let _ = client.get(format!("{url}/w100.jpg")).send();
                w += 1;
            }
        })
    };
    let shots = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (before, after) = (shots.join("status-page-before.png"), shots.join("status-page-after.png"));
    let out = tools::node(
        "status-page.js",
        &[&format!("{}/", server.status_base), "3", before.to_str().unwrap(), after.to_str().unwrap()],
    )
    .output()
    .expect("node: run scripts/test, which installs it");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let figure = |when: &str, name: &str| -> f64 {
        let text = seen[when][name].as_str().unwrap_or_else(|| panic!("no {name} on the page: {seen}"));
        text.parse().unwrap_or_else(|_| panic!("{when} {name} is '{text}'"))
    };
    assert!(figure("after", "renders") > figure("before", "renders"), "renders did not move: {seen}");
    assert!(figure("after", "updates") > figure("before", "updates"), "the page did not refresh: {seen}");
    assert!(figure("after", "request_rate") > 0.0, "{seen}");
    assert!(figure("after", "rate_2xx") > 0.0, "{seen}");
    assert!((0.0..=100.0).contains(&figure("after", "hit_ratio")), "{seen}");
    assert!(figure("after", "render_p50_ms") > 0.0, "{seen}");
    assert!(seen["after"]["uptime_seconds"].as_str().unwrap().ends_with('s'), "{seen}");
    assert_eq!(seen["failed"], serde_json::json!([]), "the page asked for something that failed");
    for shot in [&before, &after] {
        assert!(std::fs::metadata(shot).unwrap().len() > 10_000, "{} is empty", shot.display());
    }
    eprintln!("status page screenshots: {} and {}", before.display(), after.display());
}

#[test]
fn the_restart_recipe_hands_over_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let (port, status_port) = (free_port(), free_port());
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/production.json"),
        format!(r#"{{"server_port": {port}, "status_port": {status_port}, "storage": "file://./data"}}"#),
    )
    .unwrap();
    let old = Server::options().in_dir(dir.path()).arg(&format!("--port {port} --status-port {status_port}")).start();
    let path = old.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    // A client asking all the while.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let client = {
        let (url, stop) = (old.url(&format!("{path}/x20.jpg")), Arc::clone(&stop));
        std::thread::spawn(move || {
            let client = crate::support::server::client();
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                answers.push(client.get(&url).send().map(|r| r.status().as_u16()).unwrap_or(0));
            }
            answers
        })
    };
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_image-server")).parent().unwrap().to_owned();
    let recipe = crate::support::docs::block("operations.md", "# restart.sh");
    // The new server inherits the shell's output: a file, not a pipe that would stay open.
    let printed = dir.path().join("recipe.out");
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("set -e\n{recipe}\necho \"new pid $NEW_PID\""))
        .current_dir(dir.path())
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("OLD_PID", old.pid().to_string())
        .stdout(std::fs::File::create(&printed).unwrap())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the recipe failed");
    let printed = std::fs::read_to_string(&printed).unwrap();
    let new_pid: u32 = printed.rsplit("new pid ").next().unwrap().trim().parse().unwrap();
    assert!(old.terminate().success(), "the old process drained and exited 0");
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = client.join().unwrap();
    let _ = Command::new("kill").arg(new_pid.to_string()).status();
    assert!(answers.len() > 10, "{} answers", answers.len());
    assert!(answers.iter().all(|s| *s == 200), "a request failed during the hand-over: {answers:?}");
}
