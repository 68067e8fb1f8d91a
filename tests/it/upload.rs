//! Uploads: raw, JSON base64, re-upload idempotence, `?outputs=`, info.json.

use base64::Engine;

use crate::support::corpus;
use crate::support::server::{Server, files_under};

const DOG: &str = "jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg";

#[test]
fn raw_upload_answers_info_and_stores_the_original_untouched() {
    let server = Server::start();
    let bytes = corpus::read(DOG);
    let reply = server.post("/p", bytes.clone());
    assert_eq!(reply.status, 201);
    let info = reply.json();
    assert_eq!(info["hash"], "f64c942ebf4ffcdbf7cdd578cd3a7e47");
    // EXIF orientation 6: the upright size is portrait.
    assert_eq!((info["width"].as_u64(), info["height"].as_u64()), (Some(3024), Some(4032)));
    assert_eq!(info["content_type"], "image/jpeg");

    let dir = server.data_dir().join("p/f64/c94/2eb/f4ffcdbf7cdd578cd3a7e47");
    assert_eq!(std::fs::read(dir.join("original")).unwrap(), bytes);
    let stored_info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("info.json")).unwrap()).unwrap();
    // The answer adds what is listed when answering: the variants stored so far.
    let mut answered = info.clone();
    assert_eq!(answered.as_object_mut().unwrap().remove("variants"), Some(serde_json::json!([])));
    assert_eq!(stored_info, answered);

    let got = server.get("/p/f64/c94/2eb/f4ffcdbf7cdd578cd3a7e47/info.json");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/json"));
    assert_eq!(got.json(), info);
}

#[test]
fn re_uploading_the_same_bytes_changes_nothing() {
    let server = Server::start();
    let bytes = corpus::read("png/rgba_dice_transparent.png");
    let first = server.post("/p", bytes.clone());
    assert_eq!(first.status, 201);
    let snapshot = |s: &Server| {
        files_under(&s.data_dir())
            .into_iter()
            .map(|f| {
                let meta = std::fs::metadata(s.data_dir().join(&f)).unwrap();
                (f, meta.len(), meta.modified().unwrap())
            })
            .collect::<Vec<_>>()
    };
    let before = snapshot(&server);
    let second = server.post("/p", bytes);
    assert_eq!(second.status, 200);
    assert_eq!(second.json(), first.json());
    assert_eq!(snapshot(&server), before);
}

#[test]
fn json_base64_upload_is_the_same_image_as_raw() {
    let server = Server::start();
    let bytes = corpus::read("webp/lossy_photo_coast_800x534.webp");
    let body = serde_json::json!({ "data": { "image": base64::engine::general_purpose::STANDARD.encode(&bytes) } });
    let reply = server.post_typed("/p", "application/json", body.to_string().into_bytes());
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.json()["content_type"], "image/webp");
    assert_eq!((reply.json()["width"].as_u64(), reply.json()["height"].as_u64()), (Some(800), Some(534)));
    let raw = server.post("/p", bytes);
    assert_eq!(raw.status, 200, "the raw bytes are the same image, stored already");
    assert_eq!(raw.json()["hash"], reply.json()["hash"]);
}

#[test]
fn outputs_are_rendered_and_stored_before_the_answer() {
    let server = Server::start();
    let reply = server.post("/p?outputs=x300.jpg,x300.webp", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    assert_eq!(reply.status, 201);
    let hash = reply.json()["hash"].as_str().unwrap().to_owned();
    let files = files_under(&server.data_dir());
    for leaf in ["original", "info.json", "x300.jpg", "x300.webp"] {
        assert!(files.iter().any(|f| f.ends_with(&format!("{}/{leaf}", &hash[9..]))), "{leaf} not in {files:?}");
    }
    assert_eq!(server.status()["renders"], 2);
}

#[test]
fn bad_outputs_refuse_the_upload_and_store_nothing() {
    let server = Server::start();
    for outputs in ["x300.bmp", "x300.jpg,nonsense", "x5000.jpg", "x300-q0.jpg"] {
        let reply = server.post(&format!("/p?outputs={outputs}"), corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
        assert!(reply.status == 400 || reply.status == 406, "{outputs}: {}", reply.status);
        assert!(!reply.error().is_empty());
    }
    assert_eq!(files_under(&server.data_dir()), Vec::<String>::new());
}

#[test]
fn namespaces_keep_their_images_apart() {
    let server = Server::start();
    let path = server.upload("avatars", corpus::read("gif/static_hopper_128.gif"));
    assert_eq!(server.get(&format!("{path}/x64.png")).status, 200);
    let other = path.replacen("/avatars/", "/products/", 1);
    assert_eq!(server.get(&format!("{other}/x64.png")).status, 404);
    assert_eq!(server.get(&format!("{other}/info.json")).status, 404);
}

#[test]
fn namespace_outputs_from_config_are_rendered_at_upload() {
    let server = Server::options().arg("--namespaces").raw(r#"{"avatars":{"outputs":["x48.png","x96.webp"]}}"#).start();
    let path = server.upload("avatars", corpus::read("jpeg/ijg_testorig.jpg"));
    let hash_dir = server.data_dir().join(&path[1..]);
    assert!(hash_dir.join("x48.png").exists() && hash_dir.join("x96.webp").exists());
    server.upload("products", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg"));
    assert_eq!(server.status()["renders"], 2, "products has no preset outputs");
}
