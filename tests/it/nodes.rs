//! Several nodes on one bucket or one directory (DESIGN.md §12): what one node stored, the others
//! serve without rendering again; simultaneous misses over three nodes render once, under the
//! variant's lease; a killed lease holder is taken over. A delete on one node, or an info.json
//! rewritten, is seen by every node within `delete_visibility_secs` (§15).

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

/// Where three nodes keep their objects: one directory, or one prefix of the test bucket.
enum Shared {
    Directory(tempfile::TempDir),
    Bucket(String),
}

impl Shared {
    fn node(&self, extra: &str) -> Server {
        let opts = Server::options().arg(extra);
        match self {
            Shared::Directory(dir) => opts.arg(&format!("--storage file://{}", dir.path().display())).start(),
            Shared::Bucket(prefix) => s3::storage(opts, prefix).start(),
        }
    }

    /// Every object stored, relative to the store.
    fn objects(&self) -> Vec<String> {
        match self {
            Shared::Directory(dir) => crate::support::server::files_under(dir.path()),
            Shared::Bucket(prefix) => s3::keys(prefix),
        }
    }

    /// Replaces the object at `key` (relative to the store).
    fn put(&self, key: &str, bytes: &[u8]) {
        match self {
            Shared::Directory(dir) => std::fs::write(dir.path().join(key), bytes).unwrap(),
            Shared::Bucket(prefix) => s3::put(prefix, key, bytes),
        }
    }

    /// Whether a lease object exists for the variant at `key` (relative to the store).
    fn lease_exists(&self, key: &str) -> bool {
        let lease = format!("{key}.lease");
        match self {
            Shared::Directory(dir) => dir.path().join(&lease).exists(),
            Shared::Bucket(prefix) => s3::get(prefix, &lease).is_some(),
        }
    }
}

/// 30 simultaneous requests for each of several new variants, spread over three nodes: one
/// render per variant over all nodes, the same bytes everywhere.
fn three_nodes_render_each_new_variant_once(shared: Shared) {
    // Short leases, so that the test sees them go.
    let nodes: Vec<Server> = (0..3).map(|_| shared.node("--lease-secs 2")).collect();
    let path = nodes[0].upload("p", corpus::read("jpeg/photo_4.1mp_autumn_progressive.jpg"));
    let variants = ["w640.jpg", "x200.webp", "300x120.png", "w400.avif", "h90.jpg"];
    let barrier = std::sync::Barrier::new(variants.len() * 30);
    let answers: Vec<(usize, Vec<u8>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..variants.len() * 30)
            .map(|i| {
                let (node, variant, barrier, path) = (&nodes[i % 3], variants[i % variants.len()], &barrier, &path);
                s.spawn(move || {
                    barrier.wait();
                    let r = node.get(&format!("{path}/{variant}"));
                    assert_eq!(r.status, 200, "{variant}: {}", String::from_utf8_lossy(&r.body));
                    (i % variants.len(), r.body)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (v, name) in variants.iter().enumerate() {
        let bodies: Vec<&Vec<u8>> = answers.iter().filter(|(i, _)| *i == v).map(|(_, b)| b).collect();
        assert_eq!(bodies.len(), 30);
        assert!(bodies.iter().all(|b| *b == bodies[0]), "{name}: every node answers the same bytes");
    }
    let renders: Vec<u64> = nodes.iter().map(|n| n.status()["renders"].as_u64().unwrap()).collect();
    assert_eq!(
        renders.iter().sum::<u64>(),
        variants.len() as u64,
        "one render per variant over all nodes: {renders:?}"
    );
    // A lease whose variant is stored is left to expire (so that a node that looked in storage
    // just before the write cannot take a fresh lease and render again), and removed then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    for v in variants {
        let key = format!("{}/{v}", &path[1..]);
        while shared.lease_exists(&key) {
            assert!(std::time::Instant::now() < deadline, "{v}: the lease is not removed once it expired");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// A node killed with -9 while it holds a variant's lease: the other nodes wait for the lease to
/// go stale (3 s here), then one of them renders the variant.
fn a_killed_lease_holder_is_taken_over(shared: Shared) {
    let mut nodes: Vec<Server> = (0..3).map(|_| shared.node("--lease-secs 3")).collect();
    let path = nodes[0].upload("p", corpus::read("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg"));
    // A render of seconds: the whole 12 MP image as AVIF.
    let variant = "full-q70.avif";
    let key = format!("{}/{variant}", &path[1..]);
    let holder = nodes.remove(0);
    let url = holder.url(&format!("{path}/{variant}"));
    std::thread::spawn(move || {
        let _ = crate::support::server::client().get(url).send();
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !shared.lease_exists(&key) {
        assert!(std::time::Instant::now() < deadline, "no lease was taken");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(holder); // SIGKILL while it renders under the lease
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let asks: Vec<_> = nodes.iter().map(|n| s.spawn(|| n.get(&format!("{path}/{variant}")))).collect();
        asks.into_iter()
            .map(|a| a.join().unwrap())
            .map(|r| {
                assert_eq!(r.status, 200);
                r.body
            })
            .collect()
    });
    assert_eq!(bodies[0], bodies[1]);
    let renders: u64 = nodes.iter().map(|n| n.status()["renders"].as_u64().unwrap()).sum();
    assert_eq!(renders, 1, "one of the others renders it once the lease is stale");
}

/// What three nodes serve of an image, each asked twice so that the second answers are memory
/// hits: the info and two variants.
const SERVED: [&str; 3] = ["info.json", "w120.jpg", "x60.webp"];

fn warm(nodes: &[Server], path: &str) {
    for node in nodes {
        for _ in 0..2 {
            for leaf in SERVED {
                assert_eq!(node.get(&format!("{path}/{leaf}")).status, 200, "{leaf}");
            }
        }
        assert!(node.status()["cache"]["memory_hits"].as_u64() >= Some(2), "variants served from memory");
    }
}

/// Polls (a minute at most: the window is one second) until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Finding 9: after a DELETE on one node, the other two, which served the image from memory,
/// stop serving it within `delete_visibility_secs` (1 s here).
fn a_delete_is_seen_by_every_node(shared: Shared) {
    let nodes: Vec<Server> = (0..3).map(|_| shared.node("--upload-tokens tok --delete-visibility-secs 1")).collect();
    let path = nodes[0].upload_with_token("p", "tok", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    warm(&nodes, &path);
    let client = crate::support::server::client();
    let deleted = client.delete(nodes[0].url(&path)).bearer_auth("tok").send().unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    for (i, node) in nodes.iter().enumerate() {
        for leaf in SERVED {
            eventually(&format!("node {i} still serves {leaf}"), || node.get(&format!("{path}/{leaf}")).status == 404);
        }
    }
    assert_eq!(shared.objects(), Vec::<String>::new(), "nothing of the image is written back");
}

/// An info.json rewritten in storage (as a change of focus does) is seen by every node within
/// the window: its cached facts and variants are dropped and read afresh.
fn a_changed_info_is_seen_by_every_node(shared: Shared) {
    let nodes: Vec<Server> = (0..3).map(|_| shared.node("--delete-visibility-secs 1")).collect();
    let path = nodes[0].upload("p", corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg"));
    warm(&nodes, &path);
    let key = format!("{}/info.json", &path[1..]);
    let mut info = nodes[0].get(&format!("{path}/info.json")).json();
    info.as_object_mut().unwrap().remove("variants");
    info["thumbhash"] = serde_json::Value::from("changed");
    shared.put(&key, &serde_json::to_vec(&info).unwrap());
    for (i, node) in nodes.iter().enumerate() {
        let storage_hits = node.status()["cache"]["storage_hits"].as_u64().unwrap();
        eventually(&format!("node {i} still answers the old info"), || {
            node.get(&format!("{path}/info.json")).json()["thumbhash"] == "changed"
        });
        assert_eq!(node.get(&format!("{path}/w120.jpg")).status, 200);
        let now = node.status()["cache"]["storage_hits"].as_u64().unwrap();
        assert!(now >= storage_hits + 2, "node {i}: the info and the variant are read from storage again");
    }
}

mod on_a_directory {
    use super::*;

    #[test]
    fn a_delete_is_seen_by_every_node() {
        super::a_delete_is_seen_by_every_node(Shared::Directory(tempfile::tempdir().unwrap()));
    }

    #[test]
    fn a_changed_info_is_seen_by_every_node() {
        super::a_changed_info_is_seen_by_every_node(Shared::Directory(tempfile::tempdir().unwrap()));
    }

    #[test]
    fn three_nodes_render_each_new_variant_once() {
        super::three_nodes_render_each_new_variant_once(Shared::Directory(tempfile::tempdir().unwrap()));
    }

    #[test]
    fn a_killed_lease_holder_is_taken_over() {
        super::a_killed_lease_holder_is_taken_over(Shared::Directory(tempfile::tempdir().unwrap()));
    }
}

mod on_a_bucket {
    use super::*;

    #[test]
    fn a_delete_is_seen_by_every_node() {
        super::a_delete_is_seen_by_every_node(Shared::Bucket(s3::prefix()));
    }

    #[test]
    fn three_nodes_render_each_new_variant_once() {
        super::three_nodes_render_each_new_variant_once(Shared::Bucket(s3::prefix()));
    }

    #[test]
    fn a_killed_lease_holder_is_taken_over() {
        super::a_killed_lease_holder_is_taken_over(Shared::Bucket(s3::prefix()));
    }
}
