//! Moderation through the real server (DESIGN.md §11): a real hook on loopback sees a JPEG of at
//! most 1024 px of each new upload before anything is stored; its rejects are 422 with its
//! reason and store nothing; a hook that cannot be reached is 503, or allowed with
//! `moderation_fail_open`.

use std::collections::HashSet;

use crate::support::receiver::Receiver;
use crate::support::server::files_under;
use crate::support::{Server, corpus};

/// Uploads the hook rejects: the CMYK and the gray photo, by what the hook sees (their md5).
const REJECTED: [&str; 2] = ["jpeg/cmyk_adobe_swop_icc.jpg", "jpeg/gray_4.1mp_architecture.jpg"];
const ALLOWED: [&str; 3] =
    ["jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg", "png/palette_photo_290x442.png", "gif/anim_chi_31f.gif"];

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn moderated_server(url: &str, fail_open: bool) -> Server {
    let namespaces = serde_json::json!({ "m": { "moderation_url": url, "moderation_fail_open": fail_open } });
    Server::options().arg("--namespaces").raw(&namespaces.to_string()).start()
}

#[test]
fn the_hook_sees_a_small_jpeg_and_its_rejects_store_nothing() {
    let rejected: HashSet<String> = REJECTED.iter().map(|f| md5_hex(&corpus::read(f))).collect();
    let hook = Receiver::start(move |req, _| {
        let hash = req.header("x-image-server-hash").unwrap_or_default();
        if rejected.contains(hash) {
            (200, r#"{"verdict":"reject","reason":"not on this site"}"#.to_owned())
        } else {
            (200, r#"{"verdict":"allow"}"#.to_owned())
        }
    });
    let server = moderated_server(&hook.url, false);
    for file in REJECTED {
        let r = server.post("/m?outputs=w100.jpg", corpus::read(file));
        assert_eq!(r.status, 422, "{file}");
        assert_eq!(r.error(), "rejected by moderation: not on this site");
    }
    assert_eq!(files_under(&server.data_dir()), Vec::<String>::new(), "a rejected upload stores nothing");
    for file in ALLOWED {
        let r = server.post("/m?outputs=w100.jpg", corpus::read(file));
        assert_eq!(r.status, 201, "{file}: {}", String::from_utf8_lossy(&r.body));
    }
    let seen = hook.received();
    assert_eq!(seen.len(), REJECTED.len() + ALLOWED.len());
    for req in &seen {
        assert_eq!(req.header("content-type"), Some("image/jpeg"));
        assert_eq!(req.header("x-image-server-namespace"), Some("m"));
        let shown = image::load_from_memory_with_format(&req.body, image::ImageFormat::Jpeg).unwrap();
        let (w, h) = (shown.width(), shown.height());
        assert!(w.max(h) <= 1024 && w.min(h) >= 1, "{w}x{h}");
    }
    // The 12 MP photo is shown upright at 1024 on its long side.
    let dog = md5_hex(&corpus::read(ALLOWED[0]));
    let req = seen.iter().find(|r| r.header("x-image-server-hash") == Some(dog.as_str())).unwrap();
    let shown = image::load_from_memory(&req.body).unwrap();
    assert_eq!((shown.width(), shown.height()), (768, 1024));
    // A re-upload of stored bytes is not asked about again.
    assert_eq!(server.post("/m", corpus::read(ALLOWED[1])).status, 200);
    assert_eq!(hook.received().len(), seen.len());
    let status = server.status();
    assert_eq!(status["moderation"]["reject"], 2);
    assert_eq!(status["moderation"]["allow"], 3);
}

#[test]
fn a_hook_that_cannot_answer_is_503_unless_the_namespace_fails_open() {
    let unreachable = "http://127.0.0.1:9/hook";
    let closed = moderated_server(unreachable, false);
    let r = closed.post("/m", corpus::read(ALLOWED[1]));
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert_eq!(files_under(&closed.data_dir()), Vec::<String>::new());
    assert_eq!(closed.status()["moderation"]["unavailable"], 1);
    // Other namespaces are not moderated.
    assert_eq!(closed.post("/other", corpus::read(ALLOWED[1])).status, 201);

    // A hook that answers nonsense gives no verdict either.
    let confused = Receiver::start(|_, _| (200, r#"{"verdict":"maybe"}"#.to_owned()));
    assert_eq!(moderated_server(&confused.url, false).post("/m", corpus::read(ALLOWED[1])).status, 503);

    let open = moderated_server(unreachable, true);
    assert_eq!(open.post("/m", corpus::read(ALLOWED[1])).status, 201);
}
