//! The focus over HTTP (issue 20, DESIGN.md §14): found and counted at upload and at an origin
//! pull's first fetch, set by `POST /{ns}?focus=X,Y` and changed by `PUT /{ns}/{hash}/focus`,
//! which removes the image's stored cover crops (and only those) and tells the purge hook; a
//! changed focus is seen by three nodes on one storage within `delete_visibility_secs`, and a
//! crop placed by an old focus is not kept by any node; a namespace without `crop: "focus"`
//! answers the bytes it always answered.

use image::AnimationDecoder;
use image_server::model::ImageHash;
use image_server::pipeline::focus::{FocusInfo, FocusPoint};
use image_server::pipeline::plan;

use crate::support::origin::Origin;
use crate::support::receiver::Receiver;
use crate::support::server::{Reply, ServerOptions, cli_in, files_under, image_path};
use crate::support::subjects::{Gray, assert_at, found, geometry, locate, reference};
use crate::support::{Server, corpus, s3};

const TOKEN: &str = "secret";
/// 800x534: an `x200` crop is a 534 px square sliding along x, from 0 to 266.
const COAST: &str = "webp/lossy_photo_coast_800x534.webp";
const COAST_SIZE: (u32, u32) = (800, 534);

fn focus_namespace() -> String {
    r#"{"f": {"crop": "focus"}}"#.to_owned()
}

fn put_focus(server: &Server, path: &str, token: Option<&str>, body: &str) -> Reply {
    let client = crate::support::server::client();
    let mut req = client.put(server.url(&format!("{path}/focus"))).body(body.to_owned());
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    Reply { status, headers, body: resp.bytes().unwrap().to_vec() }
}

/// Asserts the `x200.png` of the coast answered at `path` shows the box `point` places.
fn assert_x200_at(server: &Server, path: &str, point: (f64, f64), what: &str) {
    let shape = (200, 200);
    let reply = server.get(&format!("{path}/x200.png"));
    assert_eq!(reply.status, 200, "{what}: {}", String::from_utf8_lossy(&reply.body));
    let original = corpus::read(COAST);
    let at = found(&reference(&original, COAST_SIZE, shape), &reply.body, COAST_SIZE, shape, what);
    let placement = FocusInfo::at(FocusPoint::new(point.0, point.1).unwrap()).placement();
    assert_at(at, plan::plan_with(COAST_SIZE.0, COAST_SIZE.1, geometry(shape), placement).crop, shape, what);
}

/// Where the `x200.png` of the coast answered at `path` starts (its box's left edge on the
/// original), or `None` when it is not answered.
fn x200_left(server: &Server, path: &str) -> Option<f64> {
    let reply = server.get(&format!("{path}/x200.png"));
    (reply.status == 200).then(|| {
        let reference = reference(&corpus::read(COAST), COAST_SIZE, (200, 200));
        found(&reference, &reply.body, COAST_SIZE, (200, 200), "x200.png")[0]
    })
}

fn stored(server: &Server) -> Vec<String> {
    files_under(&server.data_dir())
}

#[test]
fn upload_focus_and_put_focus_move_the_crop_and_remove_only_cover_crops() {
    let server =
        Server::options().arg("--upload-tokens").raw(TOKEN).arg("--namespaces").raw(&focus_namespace()).start();
    let coast = corpus::read(COAST);
    for bad in ["1.5,0.5", "0.5", "a,b", "0.5,-0.1", "NaN,0.5"] {
        let reply = server.post_with_token(&format!("/f?focus={bad}"), TOKEN, coast.clone());
        assert_eq!(reply.status, 400, "?focus={bad}");
        assert!(reply.error().contains("focus"), "{}", reply.error());
    }
    assert!(stored(&server).is_empty(), "a refused upload stores nothing: {:?}", stored(&server));

    let reply = server.post_with_token("/f?focus=0.05,0.5", TOKEN, coast.clone());
    assert_eq!(reply.status, 201, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.json()["focus"], serde_json::json!({"x": 0.05, "y": 0.5}));
    assert_eq!(reply.json()["faces"], serde_json::json!([]));
    let path = image_path("f", reply.json()["hash"].as_str().unwrap());
    assert_x200_at(&server, &path, (0.05, 0.5), "?focus=0.05,0.5");
    for other in ["w200.png", "300x100.jpg"] {
        assert_eq!(server.get(&format!("{path}/{other}")).status, 200);
    }
    let leaves = |server: &Server| -> Vec<String> {
        let prefix = format!("{}/", path.trim_start_matches('/'));
        stored(server).iter().filter_map(|f| f.strip_prefix(&prefix).map(str::to_owned)).collect()
    };
    for leaf in ["x200.png", "w200.png", "300x100.jpg"] {
        assert!(leaves(&server).contains(&leaf.to_owned()), "{leaf} stored: {:?}", leaves(&server));
    }

    // Refusals: no token, bad bodies, an absent image, another method.
    assert_eq!(put_focus(&server, &path, None, r#"{"x": 0.9, "y": 0.5}"#).status, 401);
    for bad in [r#"{"x": 2, "y": 0.5}"#, "nope", r#"{"x": 0.5}"#, r#"{"x": 0.5, "y": 0.5, "z": 1}"#, ""] {
        let reply = put_focus(&server, &path, Some(TOKEN), bad);
        assert_eq!(reply.status, 400, "{bad}");
        assert!(reply.error().contains("focus must be JSON"), "{}", reply.error());
    }
    let huge = format!(r#"{{"x": 0.5, "y": 0.5, "pad": "{}"}}"#, "a".repeat(5000));
    assert_eq!(put_focus(&server, &path, Some(TOKEN), &huge).status, 413);
    let absent = image_path("f", "0123456789abcdef0123456789abcdef");
    assert_eq!(put_focus(&server, &absent, Some(TOKEN), r#"{"x": 0.5, "y": 0.5}"#).status, 404);
    assert_eq!(server.get(&format!("{path}/focus")).status, 405);
    assert_x200_at(&server, &path, (0.05, 0.5), "after refused changes");

    // The change: info.json says it, the cover crops are gone from storage, the others stay.
    let reply = put_focus(&server, &path, Some(TOKEN), r#"{"x": 0.95, "y": 0.5}"#);
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.json()["focus"], serde_json::json!({"x": 0.95, "y": 0.5}));
    assert_eq!(reply.json()["variants"], serde_json::json!(["w200.png"]));
    let after = leaves(&server);
    assert!(after.contains(&"w200.png".to_owned()) && after.contains(&"info.json".to_owned()), "{after:?}");
    assert!(!after.iter().any(|l| l == "x200.png" || l == "300x100.jpg"), "cover crops removed: {after:?}");
    assert_eq!(server.get(&format!("{path}/info.json")).json()["focus"]["x"], 0.95);
    assert_x200_at(&server, &path, (0.95, 0.5), "after PUT focus");

    // The same bytes uploaded again with another focus: changed as by PUT; without one: kept.
    let reply = server.post_with_token("/f?focus=0.5,0.5", TOKEN, coast.clone());
    assert_eq!((reply.status, &reply.json()["focus"]), (200, &serde_json::json!({"x": 0.5, "y": 0.5})));
    assert_x200_at(&server, &path, (0.5, 0.5), "uploaded again with ?focus=0.5,0.5");
    let reply = server.post_with_token("/f", TOKEN, coast);
    assert_eq!((reply.status, &reply.json()["focus"]), (200, &serde_json::json!({"x": 0.5, "y": 0.5})));
    assert_eq!(server.status()["focus"]["detections"], 0, "a focus given is no detection");
}

#[test]
fn a_focus_is_found_and_counted_once_per_upload_and_origin_pull() {
    let origin = Origin::start();
    let namespaces = serde_json::json!({
        "o": { "source_url": origin.url("/corpus/{path}"), "crop": "focus" },
    });
    let server = Server::options().arg("--source-allow-private --namespaces").raw(&namespaces.to_string()).start();
    let astronaut =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/focus/astronaut.png"))
            .unwrap();
    let reply = server.post("/p", astronaut.clone());
    assert_eq!(reply.status, 201);
    let info: FocusInfo = serde_json::from_value(reply.json()).expect("the upload's info has a focus");
    assert_eq!(info.faces.len(), 1, "{info:?}");
    let status = server.status();
    assert_eq!((status["focus"]["detections"].as_u64(), status["focus"]["faces"].as_u64()), (Some(1), Some(1)));
    assert_eq!(status["focus"]["detection_time_ms"]["count"], 1);
    // The same bytes again: stored already, nothing detected.
    assert_eq!(server.post("/p", astronaut).status, 200);
    assert_eq!(server.status()["focus"]["detections"], 1);

    // An origin pull finds it at the first fetch, and never again.
    let file = "jpeg/icc_adobe_rgb_a98_portrait.jpg";
    assert_eq!(server.get(&format!("/o/{file}/x200.png")).status, 200);
    assert_eq!(server.get(&format!("/o/{file}/200x100.png")).status, 200);
    let info = server.get(&format!("/o/{file}/info.json")).json();
    let info: FocusInfo = serde_json::from_value(info).expect("a pulled original's info has a focus");
    // What `image-server focus FILE` says an upload stores.
    let dir = tempfile::tempdir().unwrap();
    let printed = cli_in(dir.path()).arg("focus").arg(corpus::dir().join(file)).output().unwrap();
    assert_eq!(serde_json::from_slice::<FocusInfo>(&printed.stdout).unwrap(), info);
    assert_eq!(server.status()["focus"]["detections"], 2);
    assert_eq!(origin.hits(), 1);
    let text = server.status_get("/metrics");
    assert!(String::from_utf8_lossy(&text.body).contains("image_server_focus_detections_total 2"));
}

/// Animation over HTTP: every frame of an `x` crop is cut by the box the uploaded focus places.
#[test]
fn an_animation_is_cropped_around_its_focus() {
    let server = Server::options().arg("--namespaces").raw(&focus_namespace()).start();
    let bytes = corpus::read("gif/anim_chi_31f.gif");
    let reply = server.post("/f?focus=0.1,0.5", bytes.clone());
    let path = image_path("f", reply.json()["hash"].as_str().unwrap());
    let gif = server.get(&format!("{path}/x100.gif"));
    assert_eq!(gif.status, 200);
    let frames = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&gif.body))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 31);
    let first = image::DynamicImage::ImageRgba8(frames[0].buffer().clone());
    let (offset, ncc) = locate(&reference(&bytes, (320, 240), (100, 100)), &Gray::of(&first));
    assert!(ncc > 0.9 && offset <= 1, "first frame at {offset} ({ncc:.3}): placed at the left edge");
}

/// A namespace without `crop` answers the bytes it answered before the setting existed: MD5s of
/// variants rendered by the server as it was before issue 20 (commit d36f3db), portrait,
/// EXIF-rotated 12 MP photo (from a working copy), animation and PNG alike.
#[test]
fn centred_crops_keep_their_bytes() {
    let golden = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/centred_crops.tsv"),
    )
    .unwrap();
    let server = Server::options().arg("--namespaces").raw(&focus_namespace()).start();
    let mut paths = std::collections::HashMap::new();
    let mut differs = 0;
    for line in golden.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let [file, variant, md5] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("centred_crops.tsv: {line}")
        };
        let path = paths.entry(file).or_insert_with(|| server.upload("p", corpus::read(file)));
        let reply = server.get(&format!("{path}/{variant}"));
        assert_eq!(reply.status, 200, "{file} {variant}");
        assert_eq!(ImageHash::of(&reply.body).to_string(), md5, "{file} {variant}: not the bytes it was");
        // The focus namespace places these crops elsewhere (the test can tell them apart).
        let focused = server.upload("f", corpus::read(file));
        differs += usize::from(server.get(&format!("{focused}/{variant}")).body != reply.body);
    }
    assert!(differs >= 3, "only {differs} crops moved in the focus namespace");
}

/// Two nodes on one storage: node B knows the image with its old focus when node A changes it;
/// B's next miss of a cover crop, placed by the old focus, is answered but not kept (in storage
/// nor in B's memory), so that A, and B's next request, get the crop of the new focus.
#[test]
fn a_crop_placed_by_an_old_focus_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let node = || {
        Server::options()
            .arg(&format!("--storage file://{}", dir.path().display()))
            .arg("--namespaces")
            .raw(&focus_namespace())
            .start()
    };
    let (a, b) = (node(), node());
    let reply = a.post("/f?focus=0.05,0.5", corpus::read(COAST));
    let path = image_path("f", reply.json()["hash"].as_str().unwrap());
    assert_x200_at(&b, &path, (0.05, 0.5), "B, before the change");
    assert_eq!(put_focus(&a, &path, None, r#"{"x": 0.95, "y": 0.5}"#).status, 200);
    assert!(!files_under(dir.path()).iter().any(|f| f.ends_with("x200.png")), "A removed B's crop from storage");
    // B's memory still has the old focus: its first render of a new name is placed by it...
    let shape = (150, 150);
    let first = b.get(&format!("{path}/x150.png"));
    assert_eq!(first.status, 200);
    let original = corpus::read(COAST);
    let at = |body: &[u8], what: &str| found(&reference(&original, COAST_SIZE, shape), body, COAST_SIZE, shape, what);
    let placed = |x: f64| {
        let placement = FocusInfo::at(FocusPoint::new(x, 0.5).unwrap()).placement();
        plan::plan_with(COAST_SIZE.0, COAST_SIZE.1, geometry(shape), placement).crop
    };
    assert_at(at(&first.body, "B's first x150"), placed(0.05), shape, "B's first x150");
    // ... and taken back: A (and B's next request) render the crop of the new focus.
    assert!(!files_under(dir.path()).iter().any(|f| f.ends_with("x150.png")), "B's stale crop not stored");
    for (node, what) in [(&a, "A's x150"), (&b, "B's second x150")] {
        let reply = node.get(&format!("{path}/x150.png"));
        assert_eq!(reply.status, 200);
        assert_at(at(&reply.body, what), placed(0.95), shape, what);
    }
    assert!(files_under(dir.path()).iter().any(|f| f.ends_with("x150.png")), "the new crop is stored");
}

/// Three nodes on one storage, each serving the coast's `x200.png` from memory: a `PUT .../focus`
/// on one of them is seen by all three within `delete_visibility_secs` (1 s here), as a delete
/// is, and none stores a crop of the old focus again.
fn a_changed_focus_is_seen_by_every_node(node: impl Fn(ServerOptions) -> Server, objects: impl Fn() -> Vec<String>) {
    let options = || Server::options().arg("--delete-visibility-secs 1 --namespaces").raw(&focus_namespace());
    let nodes: Vec<Server> = (0..3).map(|_| node(options())).collect();
    let reply = nodes[0].post("/f?focus=0.05,0.5", corpus::read(COAST));
    let path = image_path("f", reply.json()["hash"].as_str().unwrap());
    for node in &nodes {
        for _ in 0..2 {
            assert_x200_at(node, &path, (0.05, 0.5), "before the change");
        }
        assert!(node.status()["cache"]["memory_hits"].as_u64() >= Some(1), "served from memory");
    }
    assert_eq!(put_focus(&nodes[0], &path, None, r#"{"x": 0.95, "y": 0.5}"#).status, 200);
    // The x200 box of the coast starts at 0 for x 0.05 and at 266 for x 0.95.
    for (i, node) in nodes.iter().enumerate() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while x200_left(node, &path).is_none_or(|left| left < 250.0) {
            assert!(std::time::Instant::now() < deadline, "node {i} still answers the crop of the old focus");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_x200_at(node, &path, (0.95, 0.5), &format!("node {i}, after the change"));
    }
    let crops: Vec<String> = objects().into_iter().filter(|k| k.ends_with("/x200.png")).collect();
    assert_eq!(crops.len(), 1, "the crop of the new focus, once: {crops:?}");
    assert_x200_at(&nodes[2], &path, (0.95, 0.5), "read back from storage");
}

#[test]
fn a_changed_focus_is_seen_by_every_node_on_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let node = |opts: ServerOptions| opts.arg(&format!("--storage file://{}", dir.path().display())).start();
    a_changed_focus_is_seen_by_every_node(node, || files_under(dir.path()));
}

#[test]
fn a_changed_focus_is_seen_by_every_node_on_a_bucket() {
    let prefix = s3::prefix();
    a_changed_focus_is_seen_by_every_node(|opts| s3::storage(opts, &prefix).start(), || s3::keys(&prefix));
}

/// The namespace's purge hook hears of the cover crops a new focus removed.
#[test]
fn a_changed_focus_calls_the_purge_hook_with_the_removed_crops() {
    let hook = Receiver::start(|_, _| (200, "{}".to_owned()));
    let namespaces = serde_json::json!({
        "f": { "crop": "focus", "purge_url": hook.url, "purge_secret": "purge-secret" }
    });
    let server = Server::options().arg("--namespaces").raw(&namespaces.to_string()).start();
    let reply = server.post("/f", corpus::read(COAST));
    let path = image_path("f", reply.json()["hash"].as_str().unwrap());
    for leaf in ["x200.png", "300x100.jpg", "w200.png"] {
        assert_eq!(server.get(&format!("{path}/{leaf}")).status, 200);
    }
    assert_eq!(put_focus(&server, &path, None, r#"{"x": 0.95, "y": 0.5}"#).status, 200);
    let call = hook.wait_for(1, std::time::Duration::from_secs(30)).remove(0);
    let body = call.json();
    assert_eq!(body["event"], "image.focus_changed");
    let mut paths: Vec<&str> = body["paths"].as_array().unwrap().iter().map(|p| p.as_str().unwrap()).collect();
    paths.sort();
    let at = |name: &str| format!("{path}/{name}");
    assert_eq!(paths, [at("300x100.jpg"), at("info.json"), at("x200.png")], "the removed crops (and the info)");
}
