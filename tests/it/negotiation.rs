//! Format negotiation (DESIGN.md §10): a `.jpg`/`.png` variant of a namespace with
//! `negotiate_formats` is answered in the first of them that `Accept` names, stored under that
//! name, with `Vary: Accept`; checked over HTTP, behind a real nginx `proxy_cache`, and in
//! headless Chromium.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::ImageFormat;

use crate::support::images::decode;
use crate::support::server::files_under;
use crate::support::{Server, corpus, tools};

const NEGOTIATING: &str = r#"{"n":{"negotiate_formats":["avif","webp"]}}"#;
/// What Chromium sends for <img>.
const BROWSER_ACCEPT: &str = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";

fn server() -> Server {
    Server::options().arg("--namespaces").raw(NEGOTIATING).start()
}

#[test]
fn accept_picks_avif_then_webp_then_the_asked_format_and_the_resolved_name_is_stored() {
    let server = server();
    let path = server.upload("n", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    for (accept, mime, format) in [
        (BROWSER_ACCEPT, "image/avif", ImageFormat::Avif),
        ("image/webp,image/*;q=0.8", "image/webp", ImageFormat::WebP),
        ("image/avif;q=0,image/webp", "image/webp", ImageFormat::WebP),
        ("image/jpeg", "image/jpeg", ImageFormat::Jpeg),
        ("*/*", "image/jpeg", ImageFormat::Jpeg),
    ] {
        let reply = server.get_with(&format!("{path}/x200.jpg"), "accept", accept);
        assert_eq!(reply.status, 200, "{accept}");
        assert_eq!(reply.header("content-type"), Some(mime), "Accept: {accept}");
        assert_eq!(reply.header("vary"), Some("accept"), "Accept: {accept}");
        let img = decode(&reply.body, format);
        assert_eq!((img.width(), img.height()), (200, 200), "{accept}");
    }
    // No Accept at all is the asked format too.
    let plain = server.get(&format!("{path}/x200.jpg"));
    assert_eq!((plain.header("content-type"), plain.header("vary")), (Some("image/jpeg"), Some("accept")));

    // Stored under the resolved names; a negotiated answer is the object of that name.
    let stored: Vec<String> = files_under(&server.data_dir())
        .iter()
        .filter_map(|p| Some(p.rsplit('/').next()?.to_owned()))
        .filter(|n| n.starts_with("x200"))
        .collect();
    for name in ["x200.avif", "x200.webp", "x200.jpg"] {
        assert!(stored.iter().any(|s| s == name), "{name} not stored: {stored:?}");
    }
    let direct = server.get(&format!("{path}/x200.avif"));
    let negotiated = server.get_with(&format!("{path}/x200.jpg"), "accept", BROWSER_ACCEPT);
    assert_eq!(direct.body, negotiated.body);
    assert_eq!(direct.header("etag"), negotiated.header("etag"));

    // info.json never varies; errors of the namespace do.
    assert_eq!(server.get_with(&format!("{path}/info.json"), "accept", BROWSER_ACCEPT).header("vary"), None);
    let missing = server.get_with("/n/000/000/000/00000000000000000000000/x200.jpg", "accept", BROWSER_ACCEPT);
    assert_eq!((missing.status, missing.header("vary")), (404, Some("accept")));
    // .webp and .gif ask for their format whatever Accept says.
    let webp = server.get_with(&format!("{path}/x200.webp"), "accept", BROWSER_ACCEPT);
    assert_eq!(webp.header("content-type"), Some("image/webp"));

    // A namespace without negotiate_formats never varies.
    let plain_path = server.upload("p", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    let reply = server.get_with(&format!("{plain_path}/x200.jpg"), "accept", BROWSER_ACCEPT);
    assert_eq!((reply.header("content-type"), reply.header("vary")), (Some("image/jpeg"), None));
}

#[test]
fn transparency_survives_negotiation_and_sizes_a_format_cannot_hold_fall_through() {
    let server = server();
    let path = server.upload("n", corpus::read("png/rgba_bug_2048x1536.png"));
    for (accept, format) in [(BROWSER_ACCEPT, ImageFormat::Avif), ("image/webp", ImageFormat::WebP)] {
        let reply = server.get_with(&format!("{path}/w200.png"), "accept", accept);
        let img = decode(&reply.body, format).to_rgba8();
        // The top-left corner of this image is fully transparent.
        assert!(img.get_pixel(0, 0)[3] <= 2, "{format:?} lost transparency: {:?}", img.get_pixel(0, 0));
    }

    // 17000 px wide: more than AVIF (16384) and WebP (16383) hold, so full.jpg stays JPEG.
    let wide = image::RgbImage::from_fn(17_000, 8, |x, _| image::Rgb([(x % 256) as u8, 90, 160]));
    let mut png = Vec::new();
    wide.write_to(&mut std::io::Cursor::new(&mut png), ImageFormat::Png).unwrap();
    let wide_path = server.upload("n", png);
    let reply = server.get_with(&format!("{wide_path}/full.jpg"), "accept", BROWSER_ACCEPT);
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("image/jpeg")));
    // ...while a size they hold is negotiated.
    let reply = server.get_with(&format!("{wide_path}/w4000.jpg"), "accept", BROWSER_ACCEPT);
    assert_eq!((reply.status, reply.header("content-type")), (200, Some("image/avif")));
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Debian's nginx as a caching reverse proxy (`proxy_cache`, which keys stored answers by their
/// `Vary` headers) in front of `upstream`.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstream: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let port = free_port();
        let conf = format!(
            "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log warn;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  proxy_cache_path {d}/cache keys_zone=images:1m;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass {upstream};
      proxy_cache images;
      proxy_cache_valid 200 10m;
      add_header X-Cache $upstream_cache_status always;
    }}
  }}
}}
"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let nginx = if Path::new("/usr/sbin/nginx").exists() { "/usr/sbin/nginx" } else { "nginx" };
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("nginx: {e}: run scripts/test, which installs it"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {:?}",
                std::fs::read_to_string(dir.path().join("error.log"))
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, port, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nginx_proxy_cache_serves_each_client_its_own_format() {
    let server = server();
    let path = server.upload("n", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    let nginx = Nginx::start(&server.base);
    let client = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    let fetch = |accept: &str| {
        let r = client
            .get(format!("http://127.0.0.1:{}{path}/w300.jpg", nginx.port))
            .header("accept", accept)
            .send()
            .unwrap();
        let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
        let (ct, cache) = (header("content-type"), header("x-cache"));
        (r.status().as_u16(), ct, cache, r.bytes().unwrap().to_vec())
    };
    let clients = [(BROWSER_ACCEPT, "image/avif"), ("image/webp,*/*", "image/webp"), ("image/jpeg", "image/jpeg")];
    // Requests that reached the server, as its status port counts them (each is counted before
    // it is answered).
    let asked = || server.status()["requests_total"].as_u64().unwrap();
    let before = asked();
    let mut first = Vec::new();
    for (accept, mime) in clients {
        let (status, ct, cache, body) = fetch(accept);
        assert_eq!((status, ct.as_deref()), (200, Some(mime)), "first fetch, Accept: {accept}");
        assert_eq!(cache.as_deref(), Some("MISS"), "Accept: {accept}");
        first.push(body);
    }
    let asked_before = asked();
    assert_eq!(asked_before - before, 3, "three fetches reached the server");
    // Again, in another order: each from nginx's cache, each in its client's format.
    for (i, (accept, mime)) in clients.iter().enumerate().rev() {
        let (status, ct, cache, body) = fetch(accept);
        assert_eq!((status, ct.as_deref()), (200, Some(*mime)), "second fetch, Accept: {accept}");
        assert_eq!(cache.as_deref(), Some("HIT"), "Accept: {accept}");
        assert_eq!(body, first[i], "Accept: {accept}");
    }
    assert_eq!(asked(), asked_before, "the hits never reached the server");
}

#[test]
fn chromium_loads_avif_for_img_tags_and_the_same_url_is_jpeg_for_image_jpeg() {
    let server = server();
    let photo = server.upload("n", corpus::read("jpeg/photo_1.9mp_flower_progressive.jpg"));
    let alpha = server.upload("n", corpus::read("png/rgba_dice_transparent.png"));
    let urls = [server.url(&format!("{photo}/w320.jpg")), server.url(&format!("{alpha}/w160.png"))];
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let tags: String = urls.iter().map(|u| format!("<img src=\"{u}\">")).collect();
    std::fs::write(&page, format!("<!doctype html><body style=\"background:#c0f\">{tags}</body>")).unwrap();
    let shot = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("negotiation-chromium.png");
    let out = tools::node("img-formats.js", &[&format!("file://{}", page.display()), shot.to_str().unwrap()])
        .output()
        .expect("node: run scripts/test, which installs it");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for url in &urls {
        let fetched = seen["fetched"].as_array().unwrap().iter().find(|f| f["url"] == url.as_str());
        let fetched = fetched.unwrap_or_else(|| panic!("Chromium did not fetch {url}: {seen}"));
        assert_eq!(fetched["status"], 200, "{seen}");
        assert_eq!(fetched["contentType"], "image/avif", "Chromium got another format for {url}: {seen}");
        assert_eq!(fetched["vary"], "accept", "{seen}");
        assert!(fetched["accept"].as_str().unwrap().contains("image/avif"), "{seen}");
    }
    // Every <img> decoded, at its variant's size.
    let sizes: Vec<(u64, u64)> = seen["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["width"].as_u64().unwrap(), i["height"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes[0].0, 320, "{seen}");
    assert_eq!(sizes[1].0, 160, "{seen}");
    assert!(sizes.iter().all(|&(_, h)| h > 0), "{seen}");
    eprintln!("Chromium screenshot: {}", shot.display());

    // The same URL, asked for as JPEG, is a JPEG.
    let reply = server.get_with(&format!("{photo}/w320.jpg"), "accept", "image/jpeg");
    assert_eq!(reply.header("content-type"), Some("image/jpeg"));
    decode(&reply.body, ImageFormat::Jpeg);
}
