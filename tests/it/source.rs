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
