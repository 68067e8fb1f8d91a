//! Namespace presets and the two-store layout: variants a namespace allows, public variants
//! beside private originals, and the public URLs of stored variants.

use crate::support::server::{files_under, image_path};
use crate::support::{Server, corpus};

#[test]
fn a_namespace_serves_only_its_allowed_variants_and_sizes() {
    let presets = r#"{"avatars":{"allowed_variants":["x48.webp","x96.webp"],"outputs":["x48.webp"]},"thumbs":{"maximum_width":200,"maximum_height":200,"whitelisted_extensions":["jpg"]}}"#;
    let server = Server::options().arg("--namespaces").raw(presets).start();
    let avatar = server.upload("avatars", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(server.get(&format!("{avatar}/x48.webp")).status, 200);
    assert_eq!(server.get(&format!("{avatar}/x96.webp")).status, 200);
    let other = server.get(&format!("{avatar}/x97.webp"));
    assert_eq!(other.status, 400);
    assert!(other.error().contains("not allowed"));
    assert_eq!(server.post("/avatars?outputs=x100.png", corpus::read("gif/static_hopper_128.gif")).status, 400);

    let thumb = server.upload("thumbs", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(server.get(&format!("{thumb}/w200.jpg")).status, 200);
    assert_eq!(server.get(&format!("{thumb}/w201.jpg")).status, 406);
    assert_eq!(server.get(&format!("{thumb}/w100.webp")).status, 400);
    // Other namespaces keep the global limits.
    let open = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(server.get(&format!("{open}/w1000.webp")).status, 200);
}

#[test]
fn originals_stay_in_their_own_store() {
    let server = Server::options().arg("--storage file://./public --originals-storage file://./private").start();
    for file in ["jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg", "png/rgba_dice_transparent.png"] {
        let reply = server.post("/p?outputs=x100.jpg,w50.webp", corpus::read(file));
        assert_eq!(reply.status, 201);
        let path = crate::support::server::image_path("p", reply.json()["hash"].as_str().unwrap());
        assert_eq!(server.get(&format!("{path}/h64.png")).status, 200);
        assert_eq!(server.get(&format!("{path}/info.json")).status, 200);
    }
    let public = files_under(&server.data_dir().with_file_name("public"));
    let private = files_under(&server.data_dir().with_file_name("private"));
    assert_eq!(public.len(), 6, "three variants of two images: {public:?}");
    for key in &public {
        let leaf = key.rsplit('/').next().unwrap();
        assert!(["x100.jpg", "w50.webp", "h64.png"].contains(&leaf), "{key} in the public store");
    }
    // Leases of stored variants are left to expire in the private store (see service/leases.rs).
    assert!(
        private
            .iter()
            .all(|k| ["original", "info.json", "working", "working-small", ".lease"].iter().any(|l| k.ends_with(l))),
        "{private:?}"
    );
    assert_eq!(private.iter().filter(|k| k.ends_with("/original")).count(), 2);
}

#[test]
fn info_lists_public_urls_of_stored_variants() {
    let server = Server::options().arg("--remote-base-url https://cdn.example.com/images/").start();
    let reply = server.post("/p?outputs=x30.jpg", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(reply.status, 201);
    let hash = reply.json()["hash"].as_str().unwrap().to_owned();
    let path = image_path("p", &hash);
    let base = format!("https://cdn.example.com/images{path}");
    assert_eq!(reply.json()["urls"], serde_json::json!({ "x30.jpg": format!("{base}/x30.jpg") }));

    assert_eq!(server.get(&format!("{path}/w20.webp")).status, 200);
    let info = server.get(&format!("{path}/info.json"));
    assert_eq!(
        info.json()["urls"],
        serde_json::json!({ "x30.jpg": format!("{base}/x30.jpg"), "w20.webp": format!("{base}/w20.webp") })
    );
    assert_eq!(info.header("cache-control"), Some("public, max-age=60"), "the list changes as variants are made");
    // The stored info.json stays the four facts.
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(server.data_dir().join(&path[1..]).join("info.json")).unwrap()).unwrap();
    assert!(stored.get("urls").is_none());
}
