//! `DELETE /{ns}/{partitioned-hash}` through the real server (DESIGN.md §11): after it no object
//! of the image is left in storage, every URL of it is 404 on this node at once (its memory cache
//! was warm), and the same bytes can be uploaded again. A delete always takes a token, unless
//! `allow_open_delete`, and is rate-limited as uploads are.

use crate::support::server::files_under;
use crate::support::{Server, corpus};

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
