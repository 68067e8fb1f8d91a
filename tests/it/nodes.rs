//! Several nodes on one bucket: what one node stored, the other serves without rendering again.

use crate::support::{Server, corpus, s3};

fn node(prefix: &str) -> Server {
    s3::storage(Server::options(), prefix).start()
}

#[test]
fn two_nodes_on_one_bucket_render_each_variant_once() {
    let prefix = s3::prefix();
    let (a, b) = (node(&prefix), node(&prefix));
    let path = a.upload("p", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    assert_eq!(b.get(&format!("{path}/info.json")).status, 200, "an upload on A is known to B");

    let variants = ["x100.jpg", "w300.webp", "250x100.png"];
    let from_a: Vec<Vec<u8>> = variants.iter().map(|v| a.get(&format!("{path}/{v}")).body).collect();
    // B asks a moment after A's answers: the variants are in storage already.
    let from_b: Vec<Vec<u8>> = variants.iter().map(|v| b.get(&format!("{path}/{v}")).body).collect();
    assert_eq!(from_a, from_b);
    assert_eq!(a.status()["renders"], 3);
    assert_eq!(b.status()["renders"], 0, "B rendered nothing");
    assert_eq!(b.status()["cache"]["storage_hits"], 4, "info and three variants, from storage");

    // And the other way round.
    assert_eq!(b.get(&format!("{path}/h64.jpg")).status, 200);
    assert_eq!(a.get(&format!("{path}/h64.jpg")).status, 200);
    assert_eq!((a.status()["renders"].as_u64(), b.status()["renders"].as_u64()), (Some(3), Some(1)));
}
