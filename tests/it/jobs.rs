//! Upload-time work through the real server (DESIGN.md §11): `?wait=false` answers 202 before
//! its outputs exist, a job in storage renders them, a real HTTP receiver on loopback gets one
//! signed `image.ready` (retried while it fails, never holding up an upload's answer), and a
//! node killed with -9 between the 202 and the renders is followed, after a restart, by the same
//! notification and every output stored.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::support::receiver::{Received, Receiver};
use crate::support::server::{ServerOptions, files_under};
use crate::support::statsd::StatsdSink;
use crate::support::{Server, corpus};

const SECRET: &str = "s3cret-notify-key";
const PHOTO: &str = "jpeg/photo_2.5mp_storm_baseline_exif.jpg";

fn hmac_hex(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// A server whose namespace `p` notifies `receiver`, with short leases.
fn notifying(receiver: &Receiver) -> ServerOptions {
    let namespaces = serde_json::json!({ "p": { "notify_url": receiver.url, "notify_secret": SECRET } });
    Server::options().arg("--lease-secs 2").arg("--namespaces").raw(&namespaces.to_string())
}

/// The signature header checks out against the body.
fn assert_signed(n: &Received) {
    let expected = format!("sha256={}", hmac_hex(&n.body));
    assert_eq!(n.header("x-image-server-signature"), Some(expected.as_str()), "signature");
    assert_eq!(n.header("content-type"), Some("application/json"));
}

/// The job objects in a `file://` store (not object_store's `name#N` staging files, which a
/// node killed mid-write leaves and which are never objects).
fn leftover_jobs(data: &std::path::Path) -> Vec<String> {
    files_under(data).into_iter().filter(|f| f.starts_with(".jobs/") && !f.contains('#')).collect()
}

#[test]
fn an_async_upload_answers_202_then_one_signed_notification_lists_every_stored_output() {
    let receiver = Receiver::start(|_, _| (200, String::new()));
    let statsd = StatsdSink::start();
    let server = notifying(&receiver).arg(&format!("--statsd {}", statsd.addr)).start();
    let outputs = ["w1600.avif", "w800.webp", "x300.png", "w400.jpg"];
    let reply = server.post(&format!("/p?wait=false&outputs={}", outputs.join(",")), corpus::read(PHOTO));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    let answer = reply.json();
    let hash = answer["hash"].as_str().unwrap().to_owned();
    assert_eq!((answer["width"].as_u64(), answer["height"].as_u64()), (Some(1920), Some(1280)));
    let pending: Vec<&str> = answer["pending"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(pending, outputs, "every output is pending at the answer");
    // The AVIF output takes seconds at upload effort: the answer came before it existed.
    let prefix = crate::support::server::image_path("p", &hash);
    let avif = server.data_dir().join(format!("{}/w1600.avif", &prefix[1..]));
    assert!(!avif.exists(), "the answer waited for the outputs");

    let notifications = receiver.wait_for(1, Duration::from_secs(300));
    let n = &notifications[0];
    assert_signed(n);
    let event = n.json();
    assert_eq!(event["event"], "image.ready");
    assert_eq!((event["namespace"].as_str(), event["hash"].as_str()), (Some("p"), Some(hash.as_str())));
    let mut expected: Vec<&str> = outputs.to_vec();
    expected.sort();
    let listed: Vec<&str> = event["variants"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(listed, outputs, "the notification lists the outputs");
    let info_variants: Vec<&str> =
        event["info"]["variants"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(info_variants, expected);
    assert_eq!(event["info"]["hash"], hash.as_str());

    // Every output is stored: answered from storage, nothing rendered again.
    let renders = server.status()["renders"].as_u64().unwrap();
    assert_eq!(renders, 4);
    for name in outputs {
        let r = server.get(&format!("{prefix}/{name}"));
        assert_eq!(r.status, 200, "{name}");
    }
    let info = server.get(&format!("{prefix}/info.json")).json();
    assert_eq!(info["variants"], serde_json::json!(expected));
    assert_eq!(server.status()["renders"].as_u64().unwrap(), renders);

    // The job is gone once done; one notification only.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.received().len(), 1);
    assert_eq!(leftover_jobs(&server.data_dir()), Vec::<String>::new());
    let status = server.status();
    assert_eq!(status["jobs"]["done"]["ready"], 1);
    assert_eq!(status["jobs"]["pending"], 0);
    assert_eq!(status["notifications"]["sent"], 1);
    assert_eq!(statsd.wait_for("image_server.notification.sent:1|c", 1), 1);
    assert_eq!(statsd.wait_for("image_server.job_done.ready:1|c", 1), 1);
}

#[test]
fn a_failing_receiver_gets_the_same_notification_again_with_backoff() {
    // 500 twice, then taken.
    let receiver = Receiver::start(|_, n| if n < 2 { (500, "down".to_owned()) } else { (200, String::new()) });
    let server = notifying(&receiver).start();
    let reply = server.post("/p?outputs=w200.jpg", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    assert_eq!(reply.status, 201);
    let got = receiver.wait_for(3, Duration::from_secs(60));
    assert!(got.iter().all(|n| n.body == got[0].body), "every attempt carries the same body");
    got.iter().for_each(assert_signed);
    assert_eq!(got[0].json()["variants"], serde_json::json!(["w200.jpg"]));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.received().len(), 3, "no attempt after one was taken");
    let status = server.status();
    assert_eq!(status["notifications"]["retried"], 2);
    assert_eq!(status["notifications"]["sent"], 1);
    assert_eq!(status["notifications"]["failed"], 0);
}

#[test]
fn a_receiver_that_hangs_does_not_hold_up_the_upload_answer() {
    // The receiver holds its first request until the test lets it go.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let held = Arc::new(AtomicBool::new(false));
    let (g, h) = (Arc::clone(&gate), Arc::clone(&held));
    let receiver = Receiver::start(move |_, _| {
        h.store(true, Ordering::SeqCst);
        let mut open = g.0.lock().unwrap();
        while !*open {
            open = g.1.wait(open).unwrap();
        }
        (200, String::new())
    });
    let server = notifying(&receiver).arg("--hook-timeout-secs 300").start();
    let first = server.post("/p?outputs=w100.jpg", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(first.status, 201);
    receiver.wait_for(1, Duration::from_secs(60));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !held.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < deadline, "the hook holds the first notification");
        std::thread::sleep(Duration::from_millis(5));
    }
    // While the hook holds the first notification, more uploads are answered.
    for file in ["jpeg/photo_0.24mp_owl_baseline.jpg", "png/palette_photo_290x442.png"] {
        let r = server.post("/p?outputs=w100.webp", corpus::read(file));
        assert_eq!(r.status, 201, "{file}");
    }
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    let got = receiver.wait_for(3, Duration::from_secs(60));
    assert_eq!(got.len(), 3);
}

#[test]
fn a_node_killed_between_the_202_and_the_renders_resumes_the_job_after_a_restart() {
    let receiver = Receiver::start(|_, _| (200, String::new()));
    let dir = tempfile::tempdir().unwrap();
    // One worker: the outputs render one after the other, so the kill comes before the last.
    let first = notifying(&receiver).in_dir(dir.path()).arg("--workers 1").start();
    let outputs = ["w1800.avif", "w1200.avif", "w1000.avif", "w300.jpg"];
    let reply = first.post(&format!("/p?wait=false&outputs={}", outputs.join(",")), corpus::read(PHOTO));
    assert_eq!(reply.status, 202);
    let hash = reply.json()["hash"].as_str().unwrap().to_owned();
    let prefix = crate::support::server::image_path("p", &hash)[1..].to_owned();
    drop(first); // SIGKILL
    let data = dir.path().join("data");
    let stored_at_kill: Vec<&str> = outputs.iter().copied().filter(|o| data.join(&prefix).join(o).exists()).collect();
    assert!(stored_at_kill.len() < outputs.len(), "the kill came after every render: {stored_at_kill:?}");
    assert_eq!(leftover_jobs(&data).iter().filter(|f| f.ends_with(".json")).count(), 1, "the job is in storage");
    assert!(receiver.received().is_empty());

    // The restarted node waits out the dead node's lease, then does the job.
    let second = notifying(&receiver).in_dir(dir.path()).start();
    let got = receiver.wait_for(1, Duration::from_secs(300));
    let event = got[0].json();
    assert_signed(&got[0]);
    assert_eq!(event["event"], "image.ready");
    assert_eq!(event["variants"], serde_json::json!(outputs));
    for o in outputs {
        assert!(data.join(&prefix).join(o).exists(), "{o} stored");
        assert_eq!(second.get(&format!("/{prefix}/{o}")).status, 200, "{o}");
    }
    let renders = second.status()["renders"].as_u64().unwrap() as usize;
    assert_eq!(renders, outputs.len() - stored_at_kill.len(), "only the outputs missing at the kill are rendered");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(receiver.received().len(), 1, "one notification");
    assert_eq!(leftover_jobs(&data), Vec::<String>::new());
}

#[test]
fn an_async_upload_without_a_hook_still_renders_its_outputs() {
    let server = Server::options().start();
    let reply = server.post("/p?wait=false&outputs=w120.webp,x60.png", corpus::read("gif/static_hopper_128.gif"));
    assert_eq!(reply.status, 202);
    let info_path =
        format!("{}/info.json", crate::support::server::image_path("p", reply.json()["hash"].as_str().unwrap()));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let info = server.get(&info_path).json();
        if info["variants"] == serde_json::json!(["w120.webp", "x60.png"]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "outputs not stored: {info}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.post("/p?wait=maybe", corpus::read("gif/static_hopper_128.gif")).status, 400);
}

#[test]
fn notify_url_without_notify_secret_stops_start_up() {
    // Issue 18, finding 13: such a namespace sent unsigned notifications without a word.
    let dir = tempfile::tempdir().unwrap();
    let namespaces = r#"{"p": {"notify_url": "http://127.0.0.1:9/hook"}}"#;
    let mut child = crate::support::server::cli_in(dir.path())
        .args(["serve", "--port", "0", "--status-port", "0", "--namespaces", namespaces])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > until {
            child.kill().unwrap();
            panic!("the server started with notify_url and no notify_secret");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "a configuration error: {stderr}");
    assert!(stderr.contains("notify_url is set without notify_secret") && stderr.contains("'p'"), "{stderr}");
}
