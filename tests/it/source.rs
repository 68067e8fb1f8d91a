//! `?source=URL` uploads: fetched through the SSRF-safe client, with its limits and errors.

use crate::support::origin::Origin;
use crate::support::{Server, corpus};

const FILE: &str = "jpeg/photo_0.24mp_owl_baseline.jpg";

fn allowed() -> Server {
    Server::options().arg("--source-allow-private").start()
}

#[test]
fn a_source_url_is_fetched_and_stored_like_an_upload() {
    let origin = Origin::start();
    let server = allowed();
    let url = origin.url(&format!("/corpus/{FILE}"));
    let reply = server.post(&format!("/p?source={url}&outputs=x50.jpg"), Vec::new());
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    let direct = server.post("/p", corpus::read(FILE));
    assert_eq!(direct.status, 200, "the same bytes, stored already");
    assert_eq!(direct.json()["hash"], reply.json()["hash"]);
    assert_eq!(server.status()["originals_downloaded"], 1);
    // Up to three redirects are followed.
    let redirected = server.post(&format!("/p?source={}", origin.url(&format!("/redirect/3/{FILE}"))), Vec::new());
    assert_eq!(redirected.status, 200);
}

#[test]
fn source_failures_are_400_502_or_413() {
    let origin = Origin::start();
    let server = allowed();
    let post = |source: &str| server.post(&format!("/p?source={}", url_escape(source)), Vec::new());
    let cases = [
        (origin.url("/status/404"), 502, "404"),
        (origin.url("/status/500"), 502, "500"),
        (origin.url(&format!("/redirect/5/{FILE}")), 502, "redirect"),
        ("http://127.0.0.1:9/x.jpg".to_owned(), 502, "unreachable"),
        ("ftp://example.com/x.jpg".to_owned(), 400, "http"),
        ("file:///etc/passwd".to_owned(), 400, "http"),
        ("not a url".to_owned(), 400, "invalid"),
        (origin.url("/corpus/MANIFEST.tsv"), 415, "not an image"),
    ];
    for (source, status, needle) in cases {
        let reply = post(&source);
        assert_eq!(reply.status, status, "{source}: {}", String::from_utf8_lossy(&reply.body));
        assert!(reply.error().to_lowercase().contains(needle), "{source}: {}", reply.error());
    }
    let both = server.post(&format!("/p?source={}", origin.url(&format!("/corpus/{FILE}"))), b"body".to_vec());
    assert_eq!(both.status, 400);
    assert!(crate::support::server::files_under(&server.data_dir()).is_empty());
}

#[test]
fn private_addresses_are_refused_by_default() {
    let origin = Origin::start();
    let server = Server::start();
    let port = origin.base.rsplit(':').next().unwrap().to_owned();
    for host in ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "169.254.169.254"] {
        let reply = server.post(&format!("/p?source=http://{host}:{port}/corpus/{FILE}"), Vec::new());
        assert_eq!(reply.status, 400, "{host}: {}", String::from_utf8_lossy(&reply.body));
        assert!(reply.error().contains("refused"), "{host}: {}", reply.error());
    }
    assert_eq!(origin.hits(), 0, "nothing reached the private origin");
}

#[test]
fn refusals_and_502s_name_the_rule_and_leave_the_details_to_the_log() {
    // Issue 18, finding 12: a refused ?source= said which address a name resolves to (an oracle
    // into the internal DNS), and 502s carried whole error chains.
    let origin = Origin::start();
    let port = origin.base.rsplit(':').next().unwrap().to_owned();
    let server = Server::start();
    let refused = server.post(&format!("/p?source=http://localhost:{port}/corpus/{FILE}"), Vec::new());
    assert_eq!(refused.status, 400);
    let error = refused.error();
    assert!(error.contains("refused") && error.contains("private"), "{error}");
    assert!(!error.contains("127.0.0.1") && !error.contains("::1") && !error.contains("resolves"), "{error}");
    assert!(server.logs().iter().any(|l| l.contains("localhost resolves to")), "the log has the address");

    // An origin the operator keeps at an internal address, down.
    let namespaces = r#"{"o": {"source_url": "http://127.0.0.1:9/images/{path}"}}"#;
    let server = Server::options().arg("--source-allow-private --namespaces").raw(namespaces).start();
    let down = server.get("/o/a/w100.jpg");
    assert_eq!(down.status, 502);
    let error = down.error();
    assert!(error.contains("unreachable"), "{error}");
    assert!(!error.contains("127.0.0.1") && !error.contains("/images/") && !error.contains("os error"), "{error}");
    assert!(server.logs().iter().any(|l| l.contains("127.0.0.1:9/images/a")), "the log has the chain");
}

#[test]
fn oversized_and_slow_sources_are_cut_off() {
    let origin = Origin::start();
    let server =
        Server::options().arg("--source-allow-private --max-upload-bytes 10000 --source-timeout-secs 2").start();
    let big = server.post(&format!("/p?source={}", origin.url(&format!("/corpus/{FILE}"))), Vec::new());
    assert_eq!(big.status, 413, "{}", String::from_utf8_lossy(&big.body));
    let endless = server.post(&format!("/p?source={}", origin.url("/endless")), Vec::new());
    assert_eq!(endless.status, 413);
    let slow = server.post(&format!("/p?source={}", origin.url("/slow")), Vec::new());
    assert_eq!(slow.status, 502);
    assert!(slow.error().contains("timed out"), "{}", slow.error());
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `f` on a thread of its own in a network namespace of its own (needs root, as CI
/// has), whose loopback also answers at 203.0.114.7: an address the policy takes as public.
/// The server, the origins and the client all run in it.
fn in_a_network_of_its_own(f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        // SAFETY: unshare affects only this thread, which owns nothing shared yet.
        let unshared = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(unshared, 0, "a network namespace needs root (CAP_SYS_ADMIN): run scripts/test as root");
        for args in [&["link", "set", "lo", "up"][..], &["addr", "add", "203.0.114.7/32", "dev", "lo"]] {
            let status = std::process::Command::new("ip").args(args).status().expect("ip, from Debian's iproute2");
            assert!(status.success(), "ip {args:?}");
        }
        f();
    })
    .join()
    .unwrap();
}

#[test]
fn redirects_and_names_that_lead_to_private_addresses_are_refused() {
    in_a_network_of_its_own(|| {
        let public = Origin::start_on("203.0.114.7");
        let private = Origin::start();
        let server = Server::start(); // private addresses refused, as by default
        let direct = server.post(&format!("/p?source={}", public.url(&format!("/corpus/{FILE}"))), Vec::new());
        assert_eq!(direct.status, 201, "a public source: {}", String::from_utf8_lossy(&direct.body));
        let port = private.base.rsplit(':').next().unwrap();
        for target in [private.url(&format!("/corpus/{FILE}")), format!("http://localhost:{port}/corpus/{FILE}")] {
            let hop = public.url(&format!("/redirect-to/{target}"));
            let reply = server.post(&format!("/p?source={}", url_escape(&hop)), Vec::new());
            assert_eq!(reply.status, 400, "{target}: {}", String::from_utf8_lossy(&reply.body));
            assert!(reply.error().contains("refused"), "{target}: {}", reply.error());
        }
        assert_eq!(private.hits(), 0, "no redirect reached the private origin");
        assert_eq!(public.hits(), 3);
    });
}
