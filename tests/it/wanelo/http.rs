//! wanelo's HTTP API on this server: uploads as its tests made them, `full_size`, `/status_check`,
//! `POST /{ns}/{hash}/process` and a `?source=` path starting with `//`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{A_HASH, A_SIZE, a_jpg, a_path};
use crate::support::images::decode;
use crate::support::origin::Origin;
use crate::support::server::{files_under, image_path};
use crate::support::{Reply, Server};

fn escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn stored(server: &Server, ns: &str) -> Vec<String> {
    let prefix = format!("{}/", &a_path(ns)[1..]);
    files_under(&server.data_dir()).iter().filter_map(|f| f.strip_prefix(&prefix).map(str::to_owned)).collect()
}

fn body(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// wanelo's server/new_image_handler_test.go `TestNewImageHandlerWithData`: `POST
/// /test_namespace?outputs=x300.jpg,x300.webp` with a.jpg answers its hash, height, width and
/// content type, and stores the outputs. There 200; here 201 for a new image (200 when it was
/// stored already).
#[test]
fn an_upload_answers_as_wanelo_s_did() {
    let server = Server::start();
    let reply = server.post("/test_namespace?outputs=x300.jpg,x300.webp", a_jpg());
    assert_eq!(reply.status, 201, "{}", body(&reply));
    let json = reply.json();
    assert_eq!(json["hash"], A_HASH);
    assert_eq!((json["width"].as_u64(), json["height"].as_u64()), (Some(A_SIZE.0), Some(A_SIZE.1)));
    assert_eq!(json["content_type"], "image/jpeg");
    let files = stored(&server, "test_namespace");
    for leaf in ["original", "info.json", "x300.jpg", "x300.webp"] {
        assert!(files.iter().any(|f| f == leaf), "{leaf} not stored: {files:?}");
    }
    assert_eq!(server.post("/test_namespace", a_jpg()).status, 200, "the same bytes, stored already");
}

/// wanelo's parser/name_parser_test.go `TestFullSize` and `TestFullSizeWithQuality`:
/// `full_size.jpg` is the original's size at the default quality, `full_size-q10.jpg` at quality
/// 10. Here they are `full.jpg` and `full-q10.jpg` by another name: one render and one object
/// stored for both spellings, the second asked a hit, in whichever order they come.
#[test]
fn full_size_is_full_stored_and_cached_once() {
    let server = Server::start();
    let path = server.upload("p", a_jpg());
    let figures = || {
        let status = server.status();
        let hits = status["cache"]["memory_hits"].as_u64().unwrap() + status["cache"]["storage_hits"].as_u64().unwrap();
        (status["renders"].as_u64().unwrap(), hits)
    };
    let mut sizes = Vec::new();
    for (first, second) in [("full_size.jpg", "full.jpg"), ("full-q10.jpg", "full_size-q10.jpg")] {
        let (renders, hits) = figures();
        let a = server.get(&format!("{path}/{first}"));
        let b = server.get(&format!("{path}/{second}"));
        assert_eq!((a.status, b.status), (200, 200), "{first}: {}; {second}: {}", body(&a), body(&b));
        assert_eq!(figures(), (renders + 1, hits + 1), "{first} rendered once, {second} a hit");
        assert_eq!(a.body, b.body, "{first} and {second} are one image");
        assert_eq!(a.header("etag"), b.header("etag"));
        let image = decode(&a.body, image::ImageFormat::Jpeg);
        assert_eq!((u64::from(image.width()), u64::from(image.height())), A_SIZE, "{first} is the original's size");
        sizes.push(a.body.len());
    }
    assert!(sizes[1] < sizes[0], "quality 10 is smaller than the default: {sizes:?}");
    let files = stored(&server, "p");
    let full: Vec<&String> = files.iter().filter(|f| f.starts_with("full")).collect();
    assert_eq!(full, ["full-q10.jpg", "full.jpg"], "stored under the canonical names only");

    // In `?outputs=` too (wanelo's deployments pass full_size outputs): stored and listed as full.
    let reply = server.post("/q?outputs=full_size.jpg,full_size-q10.webp", a_jpg());
    assert_eq!(reply.status, 201, "{}", body(&reply));
    assert_eq!(reply.json()["variants"], json!(["full-q10.webp", "full.jpg"]));
}

/// wanelo's server/new_image_handler_test.go `TestNewImageHandlerWithS3` looks for an upload's
/// objects at `{remote_base_path}/test_namespace/6da/b5f/6d8/d4bddc73fdff34d4f0507f7/info.json`
/// (and `x300.jpg`, `x300.webp`), and info/image_details.go `SaveImageDetail` writes info.json as
/// `json.Marshal` makes it: an image wanelo stored so, original, info and a variant, is served here
/// as it is, its variant as stored, its missing outputs made by `process`.
#[test]
fn an_image_stored_by_wanelo_is_served() {
    let server = Server::start();
    let dir = server.data_dir().join(&a_path("test_namespace")[1..]);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("original"), a_jpg()).unwrap();
    let info =
        format!(r#"{{"hash":"{A_HASH}","height":{},"width":{},"content_type":"image/jpeg"}}"#, A_SIZE.1, A_SIZE.0);
    std::fs::write(dir.join("info.json"), info).unwrap();
    // wanelo's x300.jpg: any bytes it stored under that name are what is served.
    let theirs = crate::support::corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg");
    std::fs::write(dir.join("x300.jpg"), &theirs).unwrap();

    let path = a_path("test_namespace");
    let info = server.get(&format!("{path}/info.json"));
    assert_eq!(info.status, 200, "{}", body(&info));
    assert_eq!((info.json()["hash"].as_str(), info.json()["width"].as_u64()), (Some(A_HASH), Some(A_SIZE.0)));
    let x300 = server.get(&format!("{path}/x300.jpg"));
    assert_eq!((x300.status, x300.body == theirs), (200, true), "the stored variant, as stored");
    assert_eq!(server.get(&format!("{path}/full_size.jpg")).status, 200);
    let process = server.post(&format!("{path}/process?outputs=x300.jpg,x300.webp"), Vec::new());
    assert_eq!(process.status, 200, "{}", body(&process));
    assert_eq!(process.json()["variants"], json!(["full.jpg", "x300.jpg", "x300.webp"]));
    assert_eq!(std::fs::read(dir.join("x300.jpg")).unwrap(), theirs, "wanelo's x300.jpg kept");
}

/// wanelo's server/server.go routes `/status_check` on the main port to
/// server/status_handler.go's `ServerStatus` (no wanelo test covers it): `{"message":"OK"}`
/// while the server serves, for the load balancers set up to probe it; outside every namespace,
/// so closed namespaces, tokens and signatures do not touch it.
#[test]
fn status_check_answers_ok_on_the_main_port() {
    let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let server = Server::options()
        .arg(&format!("--signing-keys {key} --upload-tokens t --allow-unknown-namespaces=false"))
        .start();
    let get = server.get("/status_check");
    assert_eq!(get.status, 200, "{}", body(&get));
    assert_eq!(get.header("content-type"), Some("application/json"));
    assert_eq!(get.json(), json!({ "message": "OK" }));
    let head = server.head("/status_check");
    assert_eq!((head.status, head.body.len(), head.header("content-length")), (200, 0, Some("16")));
    assert_eq!(server.request("PUT", "/status_check").status, 405);
}

/// One HTTP/1.1 answer read off a keep-alive connection: status and body.
fn read_answer(conn: &TcpStream) -> (u16, String) {
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let mut length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        if header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// server/status_handler.go: once a shutdown signal came, the status check stops saying OK
/// ("Shutting down"; there 501, here 503 as the status port's `/health` answers), so that a load
/// balancer takes the node out while it drains. Asked on a keep-alive connection opened before
/// the signal: the drain answers each such connection once more before closing it.
#[test]
fn status_check_is_not_ok_while_draining() {
    let server = Server::start();
    let conn = TcpStream::connect(server.base.trim_start_matches("http://")).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let ask = |mut conn: &TcpStream| {
        conn.write_all(b"GET /status_check HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
        read_answer(conn)
    };
    assert_eq!(ask(&conn), (200, r#"{"message":"OK"}"#.to_owned()));
    let _ = std::process::Command::new("kill").arg("-TERM").arg(server.pid().to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.health() != 503 {
        assert!(Instant::now() < deadline, "/health never reported the shutdown");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ask(&conn), (503, r#"{"message":"Shutting down"}"#.to_owned()));
    assert!(server.terminate().success());
}

/// wanelo's server/resize_many_handler.go (`POST /{ns}/{hash}/process?outputs=`) with
/// request/process_multiple_test.go `TestCalculateMissingOutputs`: of the outputs asked, only
/// those not stored are rendered; and `TestCalculateMissingOutputsWhenOutputIsNotPresent`: asking
/// for none renders nothing. The answer is an upload's for an image stored already (wanelo's was
/// an empty 200), `?wait=false` as well.
#[test]
fn process_renders_the_missing_outputs_of_a_stored_image() {
    let server = Server::start();
    assert_eq!(server.post("/p?outputs=x300.jpg", a_jpg()).status, 201);
    let (path, data) = (a_path("p"), server.data_dir());
    let x300 = std::fs::read(data.join(format!("{}/x300.jpg", &path[1..]))).unwrap();
    let renders = || server.status()["renders"].as_u64().unwrap();
    let before = renders();

    let reply = server.post(&format!("{path}/process?outputs=x300.jpg,w200.jpg,full_size.webp"), Vec::new());
    assert_eq!(reply.status, 200, "{}", body(&reply));
    let json = reply.json();
    assert_eq!((json["hash"].as_str(), json["width"].as_u64()), (Some(A_HASH), Some(A_SIZE.0)));
    assert_eq!(json["variants"], json!(["full.webp", "w200.jpg", "x300.jpg"]));
    assert_eq!(renders(), before + 2, "x300.jpg was stored: only w200.jpg and full.webp were rendered");
    assert_eq!(std::fs::read(data.join(format!("{}/x300.jpg", &path[1..]))).unwrap(), x300, "x300.jpg kept");

    let none = server.post(&format!("{path}/process"), Vec::new());
    assert_eq!(none.status, 200, "{}", body(&none));
    assert_eq!(renders(), before + 2, "nothing asked, nothing rendered");
    assert_eq!(server.get(&format!("{path}/w200.jpg")).status, 200);
    assert_eq!(renders(), before + 2, "served as stored");

    let later = server.post(&format!("{path}/process?wait=false&outputs=w100.jpg"), Vec::new());
    assert_eq!(later.status, 202, "{}", body(&later));
    assert_eq!(later.json()["pending"], json!(["w100.jpg"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stored(&server, "p").iter().any(|f| f == "w100.jpg") {
        assert!(Instant::now() < deadline, "the pending output was never stored");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// resize_many_handler.go's route: `POST` of a partitioned hash. An image not stored is 404
/// (wanelo's answered 500 when it could not fetch the original); `?source=` and `?focus=`, which
/// only an upload's bytes can use, are 400.
#[test]
fn process_of_an_absent_image_is_404() {
    let server = Server::start();
    let absent = server.post(&format!("{}/process?outputs=x300.jpg", a_path("p")), Vec::new());
    assert_eq!(absent.status, 404, "{}", body(&absent));
    assert!(files_under(&server.data_dir()).is_empty(), "nothing stored for it");
    let get = server.get(&format!("{}/process", a_path("p")));
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
    let path = server.upload("p", a_jpg());
    for query in ["source=http://example.com/a.jpg", "focus=0.5,0.5"] {
        let refused = server.post(&format!("{path}/process?{query}"), Vec::new());
        assert_eq!(refused.status, 400, "{query}: {}", body(&refused));
    }
    let bad = server.post(&format!("{path}/process?outputs=x300.bmp"), Vec::new());
    assert_eq!(bad.status, 400, "{}", body(&bad));
}

/// Issue 21: `process` is an upload's outputs without its bytes, so it asks for an upload's
/// token and keeps to `max_outputs_per_upload` (DESIGN.md §9, §15; wanelo had neither).
#[test]
fn process_takes_an_upload_s_token_and_output_limit() {
    let server = Server::options().arg("--upload-tokens tok").start();
    let path = server.upload_with_token("p", "tok", a_jpg());
    let url = format!("{path}/process?outputs=w100.jpg");
    let refused = server.post(&url, Vec::new());
    assert_eq!(refused.status, 401, "{}", body(&refused));
    assert!(refused.header("www-authenticate").is_some_and(|v| v.starts_with("Bearer")));
    assert!(!stored(&server, "p").iter().any(|f| f == "w100.jpg"), "refused: nothing rendered");
    assert_eq!(server.post_with_token(&url, "tok", Vec::new()).status, 200);

    let names = |n: usize| (0..n).map(|i| format!("w{}.jpg", 200 + i)).collect::<Vec<_>>().join(",");
    let too_many = server.post_with_token(&format!("{path}/process?outputs={}", names(17)), "tok", Vec::new());
    assert_eq!(too_many.status, 400, "{}", body(&too_many));
    assert!(too_many.error().contains("at most 16"), "{}", too_many.error());
    let taken = server.post_with_token(&format!("{path}/process?outputs={}", names(16)), "tok", Vec::new());
    assert_eq!(taken.status, 200, "{}", body(&taken));
}

/// As charges.rs `an_upload_pays_for_its_outputs_before_its_answer`: `process` pays for its
/// outputs in units of work before it renders them (its own, or the job `?wait=false` queues).
/// 16 renders are over a budget of 10 a minute, whatever the bucket holds; 3 are not.
#[test]
fn process_pays_for_its_outputs_before_its_answer() {
    let server = Server::options().arg("--rate-limit-per-minute 10").start();
    let path = server.upload("p", a_jpg());
    let names = |n: usize| (0..n).map(|i| format!("w{}.jpg", 100 + i)).collect::<Vec<_>>().join(",");
    for wait in ["true", "false"] {
        let refused = server.post(&format!("{path}/process?wait={wait}&outputs={}", names(16)), Vec::new());
        assert_eq!(refused.status, 429, "wait={wait}: {}", body(&refused));
        assert!(refused.header("retry-after").is_some());
    }
    let rendered = || stored(&server, "p").into_iter().filter(|f| f.starts_with('w')).count();
    assert_eq!(rendered(), 0, "nothing rendered, no job queued");
    let taken = server.post(&format!("{path}/process?outputs={}", names(3)), Vec::new());
    assert_eq!(taken.status, 200, "{}", body(&taken));
    assert_eq!(rendered(), 3);
}

/// wanelo's fetcher/http/http_test.go `TestURLEscaping`: a source whose path starts with `//` is
/// asked for with one `/` (`//hell[o]/(x)//two%20words/boo.jpg?something=fo(o)` as
/// `/hell[o]/(x)//two%20words/boo.jpg?something=fo(o)`); and server/new_image_handler_test.go
/// `TestNewImageHandlerWithS3`: a `?source=` upload with `?outputs=x300.jpg,x300.webp` stores
/// info.json and both outputs, each in its format.
#[test]
fn a_source_path_starting_with_two_slashes_is_sent_with_one() {
    let origin = Origin::start();
    let server = Server::options().arg("--source-allow-private").start();
    let file = "jpeg/photo_0.24mp_owl_baseline.jpg";
    let source = origin.url(&format!("//corpus/{file}"));
    let reply =
        server.post(&format!("/test_namespace?outputs=x300.jpg,x300.webp&source={}", escape(&source)), Vec::new());
    assert_eq!(reply.status, 201, "{}", body(&reply));
    assert_eq!(origin.targets(), [format!("/corpus/{file}")]);
    let path = image_path("test_namespace", reply.json()["hash"].as_str().unwrap());
    for (leaf, content_type) in
        [("info.json", "application/json"), ("x300.jpg", "image/jpeg"), ("x300.webp", "image/webp")]
    {
        let got = server.get(&format!("{path}/{leaf}"));
        assert_eq!((got.status, got.header("content-type")), (200, Some(content_type)), "{leaf}");
    }

    // wanelo's own case: the origin has no such file, and sees the path as wanelo sent it.
    let wanelo = origin.url("//hell[o]/(x)//two%20words/boo.jpg?something=fo(o)");
    let reply = server.post(&format!("/p?source={}", escape(&wanelo)), Vec::new());
    assert_eq!(reply.status, 502, "the origin answers 404: {}", body(&reply));
    assert_eq!(origin.targets().last().map(String::as_str), Some("/hell[o]/(x)//two%20words/boo.jpg?something=fo(o)"));
}
