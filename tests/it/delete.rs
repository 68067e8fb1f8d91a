//! `DELETE /{ns}/{partitioned-hash}` through the real server (DESIGN.md §11): after it no object
//! of the image is left in storage, every URL of it is 404 on this node at once (its memory cache
//! was warm), and the same bytes can be uploaded again.

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
