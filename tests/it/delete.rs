//! `DELETE /{ns}/{partitioned-hash}` through the real server (DESIGN.md §11, §15): after it no
//! object of the image is left in storage, every URL of it is 404 on this node at once (its
//! memory cache was warm), the same bytes can be uploaded again, a render that finishes after it
//! stores nothing, and the namespace's purge hook hears of it. Variants of images that are not
//! stored lease and write nothing. A delete always takes a token, unless `allow_open_delete`, and
//! is rate-limited as uploads are.

use crate::support::receiver::Receiver;
use crate::support::server::{files_under, image_path};
use crate::support::{Server, corpus, s3};

#[test]
fn a_delete_removes_every_object_and_the_image_can_come_back() {
    let server = Server::options().arg("--upload-tokens tok").start();
    let bytes = corpus::read("jpeg/photo_1.9mp_flower_progressive.jpg");
    let reply = server.post_with_token("/p?outputs=w300.webp", "tok", bytes.clone());
    assert_eq!(reply.status, 201);
    let path = crate::support::server::image_path("p", reply.json()["hash"].as_str().unwrap());
    let variants = ["w300.webp", "x120.jpg", "w200.avif", "x50.png"];
    for v in variants {
        assert_eq!(server.get(&format!("{path}/{v}")).status, 200, "{v}");
    }
    assert_eq!(server.get(&format!("{path}/info.json")).status, 200);
    let before = files_under(&server.data_dir());
    assert!(before.len() >= 6, "{before:?}");

    assert_eq!(server.request("DELETE", &path).status, 401, "a delete takes the upload token");
    let delete = |token: &str| {
        let client = crate::support::server::client();
        client.delete(server.url(&path)).bearer_auth(token).send().unwrap().status().as_u16()
    };
    assert_eq!(delete("wrong"), 401);
    assert_eq!(delete("tok"), 204);
    assert_eq!(files_under(&server.data_dir()), Vec::<String>::new(), "no object of the image is left");
    for v in variants.iter().chain(&["info.json"]) {
        assert_eq!(server.get(&format!("{path}/{v}")).status, 404, "{v} after the delete");
    }
    assert_eq!(delete("tok"), 404, "nothing left to delete");
    assert_eq!(server.status()["deletes"], 1);

    let again = server.post_with_token("/p", "tok", bytes);
    assert_eq!(again.status, 201, "the same bytes are a new upload");
    assert_eq!(server.get(&format!("{path}/x120.jpg")).status, 200);
}

#[test]
fn a_delete_needs_a_token_even_where_uploads_do_not_and_is_rate_limited() {
    // Issue 18, finding 13: with signing_keys and no upload_tokens, anyone could delete.
    let key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let server = Server::options().arg(&format!("--signing-keys {key}")).start();
    let path = server.upload("p", corpus::read("gif/static_hopper_128.gif"));
    let refused = server.request("DELETE", &path);
    assert_eq!(refused.status, 403, "{}", String::from_utf8_lossy(&refused.body));
    assert!(refused.error().contains("allow_open_delete"), "{}", refused.error());
    assert!(refused.header("www-authenticate").is_none(), "no token can open it");
    assert!(files_under(&server.data_dir()).iter().any(|f| f.ends_with("/original")), "nothing was deleted");

    // Opened on purpose, deletes are charged as uploads are.
    let open = Server::options().arg("--allow-open-delete --rate-limit-per-minute 2").start();
    let path = open.upload("p", corpus::read("gif/static_hopper_128.gif"));
    assert_eq!(open.request("DELETE", &path).status, 204);
    let limited = open.request("DELETE", &path);
    assert_eq!(limited.status, 429, "{}", String::from_utf8_lossy(&limited.body));
    assert!(limited.header("retry-after").is_some());
}

/// `DELETE` with the upload token, answering the status.
fn delete(server: &Server, path: &str) -> u16 {
    let client = crate::support::server::client();
    client.delete(server.url(path)).bearer_auth("tok").send().unwrap().status().as_u16()
}

/// An image that is not stored, and variants asked of it.
const ABSENT: &str = "0123456789abcdef0123456789abcdef";
const ASKED: [&str; 5] = ["w100.jpg", "x50.webp", "full.png", "200x100.avif", "h80.gif"];

/// A stale lease, as a node that died mid-render leaves it: a node that claimed this variant's
/// lease would take it over (writing a marker and a fresh lease) and then remove both.
const STALE_LEASE: &[u8] = br#"{"expires_unix_ms":1,"holder":"a node that died"}"#;

/// Finding 7: a variant of an image that is not stored is 404 before anything is leased or
/// written: no directory is made on `file://`, and a stale lease lying there is left untouched.
#[test]
fn variants_of_an_absent_image_lease_and_write_nothing_on_a_directory() {
    let server = Server::start();
    let lease = format!("{}/w100.jpg.lease", &image_path("p", ABSENT)[1..]);
    let planted = server.data_dir().join(&lease);
    std::fs::create_dir_all(planted.parent().unwrap()).unwrap();
    std::fs::write(&planted, STALE_LEASE).unwrap();
    for ns in ["p", "q"] {
        for v in ASKED {
            let r = server.get(&format!("{}/{v}", image_path(ns, ABSENT)));
            assert_eq!(r.status, 404, "{ns} {v}: {}", String::from_utf8_lossy(&r.body));
        }
    }
    assert_eq!(crate::support::server::all_files_under(&server.data_dir()), vec![lease]);
    assert_eq!(std::fs::read(&planted).unwrap(), STALE_LEASE, "the stale lease is untouched");
    assert!(!server.data_dir().join("q").exists(), "no directory is made for an image that is not there");
}

/// Finding 7 on S3: no object is put (nor put and removed) for a variant of an absent image.
#[test]
fn variants_of_an_absent_image_lease_and_write_nothing_on_a_bucket() {
    let prefix = s3::prefix();
    let server = s3::storage(Server::options(), &prefix).start();
    let lease = format!("{}/w100.jpg.lease", &image_path("p", ABSENT)[1..]);
    s3::put(&prefix, &lease, STALE_LEASE);
    for v in ASKED {
        assert_eq!(server.get(&format!("{}/{v}", image_path("p", ABSENT))).status, 404, "{v}");
    }
    assert_eq!(s3::keys(&prefix), vec![lease.clone()]);
    assert_eq!(s3::get(&prefix, &lease).as_deref(), Some(STALE_LEASE), "the stale lease is untouched");
}

/// Finding 8: a render that finishes after the image was deleted stores nothing. Node A knows
/// the image (its facts and its source in memory, which it would keep for an hour); node B
/// deletes it; A's render of a new variant then finds the image gone before it writes, and
/// answers 404.
#[test]
fn a_render_finishing_after_a_delete_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = || {
        let storage = format!("--storage file://{}", dir.path().display());
        Server::options().arg(&storage).arg("--upload-tokens tok --delete-visibility-secs 3600").start()
    };
    let (a, b) = (node(), node());
    let path = b.upload_with_token("p", "tok", corpus::read("jpeg/photo_1.9mp_flower_progressive.jpg"));
    // A reads the image's facts and the source of w100 renders into memory.
    assert_eq!(a.get(&format!("{path}/w100.jpg")).status, 200);
    assert_eq!(delete(&b, &path), 204);
    let late = a.get(&format!("{path}/w100.webp"));
    assert_eq!(late.status, 404, "a render of a deleted image is not answered");
    assert_eq!(files_under(dir.path()), Vec::<String>::new(), "nor stored");
    assert_eq!(a.get(&format!("{path}/w100.jpg")).status, 404, "and A forgot the image");
}

/// Finding 8 on one node: a DELETE while a slow render of the image is under way (a 12 MP
/// photo as a full-size AVIF takes seconds) leaves nothing in storage, and the render is 404.
#[test]
fn a_delete_during_a_render_leaves_nothing() {
    let server = Server::options().arg("--upload-tokens tok").start();
    let path = server.upload_with_token("p", "tok", corpus::read("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg"));
    let variant = "full-q90.avif";
    let lease = server.data_dir().join(format!("{}/{variant}.lease", &path[1..]));
    let render = std::thread::spawn({
        let url = server.url(&format!("{path}/{variant}"));
        move || crate::support::server::client().get(url).send().unwrap().status().as_u16()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !lease.exists() {
        assert!(std::time::Instant::now() < deadline, "the render took no lease");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(delete(&server, &path), 204);
    assert_eq!(render.join().unwrap(), 404, "the render finished after the delete: not answered");
    assert_eq!(files_under(&server.data_dir()), Vec::<String>::new(), "nothing of the image is left");
}

/// The namespace's purge hook gets the deleted image's URLs, signed like notifications.
#[test]
fn a_delete_calls_the_purge_hook_with_the_images_urls_signed() {
    let hook = Receiver::start(|_, _| (200, "{}".to_owned()));
    let namespaces = serde_json::json!({
        "p": { "purge_url": hook.url, "purge_secret": "purge-secret", "negotiate_formats": ["webp"] }
    });
    let server = Server::options()
        .arg("--upload-tokens tok --remote-base-url https://bucket.example.com/v --namespaces")
        .raw(&namespaces.to_string())
        .start();
    let path = server.upload_with_token("p", "tok", corpus::read("jpeg/photo_1.9mp_flower_progressive.jpg"));
    assert_eq!(server.get(&format!("{path}/x50.png")).status, 200);
    assert_eq!(server.get_with(&format!("{path}/w100.jpg"), "accept", "image/webp").status, 200);
    assert_eq!(delete(&server, &path), 204);

    let call = hook.wait_for(1, std::time::Duration::from_secs(30)).remove(0);
    let expected = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"purge-secret").unwrap();
        mac.update(&call.body);
        let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256={hex}")
    };
    assert_eq!(call.header("x-image-server-signature"), Some(expected.as_str()));
    let body = call.json();
    assert_eq!((body["event"].as_str(), body["namespace"].as_str()), (Some("image.deleted"), Some("p")));
    assert_eq!(body["image"].as_str(), Some(&path["/p/".len()..]));
    let paths: Vec<&str> = body["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    let at = |name: &str| format!("{path}/{name}");
    // The .jpg URL was answered as WebP: both names go.
    for name in ["info.json", "x50.png", "w100.webp", "w100.jpg"] {
        assert!(paths.contains(&at(name).as_str()), "{name} not in {paths:?}");
    }
    let remote: Vec<&str> = body["remote_urls"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    assert!(remote.contains(&format!("https://bucket.example.com/v{}", at("x50.png")).as_str()), "{remote:?}");
    // Counted once the hook's answer is read, which is after the hook recorded the call.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while server.status()["purges"]["sent"] != 1 {
        assert!(std::time::Instant::now() < deadline, "the purge is not counted as sent");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
