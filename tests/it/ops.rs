//! Operations: statsd counters on a real UDP socket, /status and /metrics figures that move,
//! request logs.

use crate::support::origin::Origin;
use crate::support::prometheus::Scrape;
use crate::support::statsd::StatsdSink;
use crate::support::{Server, corpus};

const UNKNOWN: &str = "/p/6e0/072/682/e66287b662827da75b244a3";

#[test]
fn statsd_receives_the_documented_counters() {
    let sink = StatsdSink::start();
    let origin = Origin::start();
    let server = Server::options().arg(&format!("--statsd {} --source-allow-private", sink.addr)).start();
    let path = server.upload("p", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));

    for variant in ["x50.jpg", "x51.jpeg", "x50.png", "x50.webp", "x50.gif"] {
        assert_eq!(server.get(&format!("{path}/{variant}")).status, 200);
    }
    assert_eq!(server.get(&format!("{path}/x50.jpg")).status, 200, "a memory hit renders nothing");
    assert_eq!(sink.wait_for("image_server.image_request:1|c", 5), 5);
    assert_eq!(sink.wait_for("image_server.image_request.jpg:1|c", 2), 2, ".jpeg URLs count as jpg");
    for format in ["png", "webp", "gif"] {
        assert_eq!(sink.wait_for(&format!("image_server.image_request.{format}:1|c"), 1), 1);
    }

    // A variant of an image that is not stored: the request fails and the original is missing.
    assert_eq!(server.get(&format!("{UNKNOWN}/x50.jpg")).status, 404);
    // A variant that cannot be served at all (bad quality) fails without a missing original.
    assert_eq!(server.get(&format!("{path}/x50-q0.jpg")).status, 400);
    assert_eq!(sink.wait_for("image_server.image_request_fail:1|c", 2), 2);

    // A source download, and a source that answers an error.
    let url = origin.url("/corpus/jpeg/ijg_testorig.jpg");
    assert_eq!(server.post(&format!("/p?source={url}"), Vec::new()).status, 201);
    assert_eq!(sink.wait_for("image_server.original_downloaded:1|c", 1), 1);
    assert_eq!(server.post(&format!("/p?source={}", origin.url("/status/404")), Vec::new()).status, 502);
    assert_eq!(sink.wait_for("image_server.original_unavailable:1|c", 2), 2, "the unknown hash and the 404 source");

    // The extras, next to them, with timers in milliseconds.
    let lines = sink.lines();
    for prefix in ["image_server.render_time:", "image_server.request_time:", "image_server.download_time:"] {
        assert!(lines.iter().any(|l| l.starts_with(prefix) && l.ends_with("|ms")), "no {prefix} timer in {lines:?}");
    }
    for counter in ["cache_miss", "cache_hit.memory", "upload"] {
        assert!(sink.count(&format!("image_server.{counter}:1|c")) >= 1, "no {counter} in {lines:?}");
    }
    assert_eq!(sink.count("image_server.image_request:1|c"), 5, "no more renders than those five");
}

#[test]
fn statsd_prefix_is_configurable() {
    let sink = StatsdSink::start();
    let server = Server::options().arg(&format!("--statsd {} --statsd-prefix shop.images", sink.addr)).start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(server.get(&format!("{path}/x10.jpg")).status, 200);
    assert_eq!(sink.wait_for("shop.images.image_request.jpg:1|c", 1), 1);
}

#[test]
fn a_dead_or_unknown_statsd_does_not_touch_requests() {
    // A closed port on loopback (the kernel answers with ICMP refusals), and a name that does
    // not resolve (statsd is then left out, with a warning).
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    for target in [closed.as_str(), "statsd.invalid:8125"] {
        let server = Server::options().arg(&format!("--statsd {target}")).start();
        let path = server.upload("p", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
        for w in 10..60 {
            assert_eq!(server.get(&format!("{path}/w{w}.jpg")).status, 200, "{target}");
        }
        assert_eq!(server.status()["renders"], 50);
    }
}

#[test]
fn status_and_metrics_move_with_requests() {
    let server = Server::start();
    let before = Scrape::parse(&String::from_utf8(server.status_get("/metrics").body).unwrap());
    assert_eq!(before.types["image_server_request_duration_seconds"], "histogram");
    assert_eq!(before.types["image_server_renders_total"], "counter");
    assert_eq!(before.get("image_server_renders_total{format=\"jpg\"}"), 0.0);

    let path = server.upload("p", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    for variant in ["x20.jpg", "x21.jpg", "x20.webp", "x20.jpg"] {
        assert_eq!(server.get(&format!("{path}/{variant}")).status, 200);
    }
    assert_eq!(server.get(&format!("{UNKNOWN}/x20.jpg")).status, 404);

    let reply = server.status_get("/metrics");
    assert_eq!(reply.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let after = Scrape::parse(&String::from_utf8(reply.body).unwrap());
    assert_eq!(after.get("image_server_renders_total{format=\"jpg\"}"), 2.0);
    assert_eq!(after.get("image_server_renders_total{format=\"webp\"}"), 1.0);
    assert_eq!(after.get("image_server_requests_total{class=\"2xx\"}"), 5.0, "an upload and four variants");
    assert_eq!(after.get("image_server_requests_total{class=\"4xx\"}"), 1.0);
    assert_eq!(after.get("image_server_image_requests_failed_total"), 1.0);
    assert_eq!(after.get("image_server_originals_unavailable_total"), 1.0);
    assert_eq!(after.get("image_server_uploads_total"), 1.0);
    assert_eq!(after.get("image_server_cache_lookups_total{outcome=\"memory_hit\"}"), 1.0);
    assert_eq!(after.get("image_server_request_duration_seconds_count"), 6.0);
    assert_eq!(after.get("image_server_request_duration_seconds_bucket{le=\"+Inf\"}"), 6.0);
    assert_eq!(after.get("image_server_render_duration_seconds_count"), 3.0);
    assert!(after.get("image_server_render_duration_seconds_sum") > 0.0);
    assert!(after.get("image_server_cache_entries") >= 3.0);
    // Buckets are cumulative: counts never fall as the bound rises.
    let mut buckets: Vec<(f64, f64)> = after
        .samples
        .iter()
        .filter_map(|(k, v)| {
            let le = k.strip_prefix("image_server_request_duration_seconds_bucket{le=\"")?.strip_suffix("\"}")?;
            Some((if le == "+Inf" { f64::INFINITY } else { le.parse().expect("a numeric bound") }, *v))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(buckets.len() > 2, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "not cumulative: {buckets:?}");

    let status = server.status();
    assert_eq!(status["renders"], 3);
    assert_eq!(status["renders_by_format"]["jpg"], 2);
    assert_eq!(status["requests"]["2xx"], 5);
    assert_eq!(status["uploads"], 1);
    assert_eq!(status["cache"]["memory_hits"], 1);
    assert_eq!(status["renders_in_progress"], 0);
    assert!(status["version"].is_string() && status["uptime_seconds"].is_u64());
}

#[test]
fn one_log_line_a_request_in_json_when_asked() {
    let server = Server::options().arg("--log-format json --log-hits").start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(server.get(&format!("{path}/x30.jpg")).status, 200);
    assert_eq!(server.get(&format!("{path}/x30.jpg")).status, 200);
    assert_eq!(server.get(&format!("{UNKNOWN}/x30.jpg")).status, 404);
    // The server logs before it answers; the thread reading its stderr may still be behind.
    let request_lines = || -> Vec<serde_json::Value> {
        server
            .logs()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|j| j["message"] == "request")
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while request_lines().len() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let requests = request_lines();
    assert_eq!(requests.len(), 4, "{requests:?}");
    let get = |i: usize, k: &str| requests[i][k].clone();
    assert_eq!((get(1, "method"), get(1, "status"), get(1, "cache")), ("GET".into(), 200.into(), "rendered".into()));
    assert_eq!(get(2, "cache"), "memory");
    assert!(get(1, "bytes").as_u64().unwrap() > 0 && get(1, "ms").is_number());
    assert_eq!(get(1, "path"), format!("{path}/x30.jpg"));
    assert_eq!(get(3, "status"), 404);
    assert!(get(3, "error").as_str().unwrap().contains("image not found"));
}

#[test]
fn hits_are_logged_only_when_asked() {
    let server = Server::options().arg("--log-format json").start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    for _ in 0..3 {
        assert_eq!(server.get(&format!("{path}/x31.jpg")).status, 200);
    }
    assert_eq!(server.get(&format!("{UNKNOWN}/x31.jpg")).status, 404);
    let logged = || -> Vec<serde_json::Value> {
        let lines = server.logs();
        let lines = lines.iter().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        lines.filter(|j| j["message"] == "request").collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while logged().len() < 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The upload, the render and the failure; not the two hits from memory.
    let cache: Vec<serde_json::Value> = logged().iter().map(|j| j["cache"].clone()).collect();
    assert_eq!(cache, ["-", "rendered", "-"], "{:?}", logged());
}

#[test]
fn the_health_command_exits_0_while_serving_and_1_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start();
    let status_port = server.status_base.rsplit(':').next().unwrap().to_owned();
    let health =
        || crate::support::server::cli_in(dir.path()).args(["health", "--status-port", &status_port]).output().unwrap();
    let up = health();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    assert!(server.terminate().success());
    let down = health();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"), "{}", String::from_utf8_lossy(&down.stderr));
}
