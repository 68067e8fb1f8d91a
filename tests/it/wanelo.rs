//! Moving over from wanelo/image-server (DESIGN.md §16, issue 21): wanelo's own tests, ported to
//! the real server and binary here, over HTTP (`http`) and on the command line (`cli`). Each test
//! names the wanelo test case it comes from, or, where wanelo had none, the code whose behaviour
//! it holds. The fixture `wanelo/a.jpg` is wanelo's test/images/a.jpg (MIT, © Wanelo, Inc), so
//! the hash and size its tests expect are expected here too.

mod cli;
mod http;

use image_server::model::ImageHash;

/// The md5 wanelo's server/new_image_handler_test.go expects of test/images/a.jpg.
const A_HASH: &str = "31e8b3187a9f63f26d58c88bf09a7bbd";
/// Its size, as that test expects it (`"width": 574`, `"height": 496`).
const A_SIZE: (u64, u64) = (574, 496);

fn a_jpg() -> Vec<u8> {
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/wanelo/a.jpg")).unwrap();
    assert_eq!(ImageHash::of(&bytes).to_string(), A_HASH, "the fixture is wanelo's a.jpg");
    bytes
}

/// `/{ns}/31e/8b3/187/a9f63f26d58c88bf09a7bbd`.
fn a_path(ns: &str) -> String {
    crate::support::server::image_path(ns, A_HASH)
}
