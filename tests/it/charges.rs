//! What a client may cost (DESIGN.md §15; issue 18, findings 3 and 4): work is charged to its
//! client by its units (pixels decoded and encoded) before it is spent, an upload pays for its
//! outputs (and the job it queues) before its answer, `?outputs=` has a count limit, and popular
//! sizes count only renders, once per client, within the namespace's size for background work.

use std::time::Duration;

use crate::support::server::files_under;
use crate::support::{Server, corpus};

fn names(n: usize) -> String {
    (0..n).map(|i| format!("w{}.jpg", 100 + i)).collect::<Vec<_>>().join(",")
}

/// Finding 3: one upload with 3,000 output names passed, answered 202 and queued hours of work.
#[test]
fn an_upload_asks_for_at_most_max_outputs_per_upload_outputs() {
    let server = Server::start();
    let photo = corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg");
    for n in [17, 3000] {
        let refused = server.post(&format!("/p?wait=false&outputs={}", names(n)), photo.clone());
        assert_eq!(refused.status, 400, "{n} outputs: {}", String::from_utf8_lossy(&refused.body));
        assert!(refused.error().contains("at most 16"), "{}", refused.error());
    }
    assert!(files_under(&server.data_dir()).is_empty(), "a refused upload stored nothing");
    let taken = server.post(&format!("/p?outputs={}", names(16)), photo.clone());
    assert_eq!(taken.status, 201, "{}", String::from_utf8_lossy(&taken.body));
    assert_eq!(taken.json()["variants"].as_array().unwrap().len(), 16);

    // The operator's own limit, either way.
    let wider = Server::options().arg("--max-outputs-per-upload 20").start();
    assert_eq!(wider.post(&format!("/p?outputs={}", names(20)), photo.clone()).status, 201);
    assert_eq!(wider.post(&format!("/p?outputs={}", names(21)), photo).status, 400);
}

/// Finding 3: the outputs an upload asks for (and the job `?wait=false` queues) were free; a
/// rate limit of 5 a minute let through hours of work.
#[test]
fn an_upload_pays_for_its_outputs_before_its_answer() {
    let server = Server::options().arg("--rate-limit-per-minute 10").start();
    let photo = corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg");
    // Storing it and 16 renders from it: 17 units, over 10.
    for wait in ["true", "false"] {
        let refused = server.post(&format!("/p?wait={wait}&outputs={}", names(16)), photo.clone());
        assert_eq!(refused.status, 429, "wait={wait}: {}", String::from_utf8_lossy(&refused.body));
        assert!(refused.header("retry-after").is_some());
    }
    assert!(files_under(&server.data_dir()).is_empty(), "nothing stored, no job queued");
    // Within the limit the same upload goes through, outputs and all.
    let taken = server.post(&format!("/p?outputs={}", names(4)), photo);
    assert_eq!(taken.status, 201, "{}", String::from_utf8_lossy(&taken.body));
}

/// Work is charged by its size, not one token a request: a render of a 4.1 MP original's full
/// size costs three units (8.2 MP decoded and encoded), so of a budget of 10 a minute, after the
/// upload's 2, the third full-size render is refused. At one token a request, eight would pass.
/// (The bucket refills a unit every 6 s, so a slow machine may let one more through.)
#[test]
fn a_render_is_charged_by_its_pixels() {
    let server = Server::options().arg("--rate-limit-per-minute 10").start();
    let path = server.upload("p", corpus::read("jpeg/photo_4.1mp_autumn_progressive.jpg"));
    let mut rendered = Vec::new();
    let limited = loop {
        let name = format!("full-q{}.jpg", 10 + rendered.len());
        let reply = server.get(&format!("{path}/{name}"));
        if reply.status != 200 {
            break reply;
        }
        rendered.push(name);
        assert!(rendered.len() < 8, "{} full-size renders passed a budget of 10 units", rendered.len());
    };
    assert_eq!(limited.status, 429, "{}", String::from_utf8_lossy(&limited.body));
    assert!(limited.error().contains("units of work"), "{}", limited.error());
    assert!(limited.header("retry-after").is_some());
    assert!((2..=4).contains(&rendered.len()), "{} full-size renders before the refusal", rendered.len());
    // Hits cost nothing.
    for _ in 0..20 {
        assert_eq!(server.get(&format!("{path}/{}", rendered[0])).status, 200);
    }
}

fn popular(server: &Server, ns: &str) -> Vec<(String, u64)> {
    let status = server.status();
    status["popular"][ns]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["variant"].as_str().unwrap().to_owned(), e["count"].as_u64().unwrap()))
        .collect()
}

/// Finding 4: memory hits counted toward popularity and cost nothing, so one client made four
/// huge junk names the namespace's top 4, rendered in the background for every new image.
#[test]
fn junk_sizes_from_one_client_do_not_become_popular() {
    let namespaces = serde_json::json!({ "pop": { "prerender_popular": 2 } });
    let server =
        Server::options().arg("--trusted-proxies 127.0.0.1/32 --namespaces").raw(&namespaces.to_string()).start();
    let images: Vec<String> =
        ["jpeg/photo_0.24mp_owl_baseline.jpg", "png/palette_photo_290x442.png", "jpeg/ijg_testorig.jpg"]
            .iter()
            .map(|f| server.upload("pop", corpus::read(f)))
            .collect();
    let attacker = "198.51.100.66";
    let ask = |path: &str, client: &str| {
        let reply = server.get_with(path, "x-forwarded-for", client);
        assert_eq!(reply.status, 200, "{path}: {}", String::from_utf8_lossy(&reply.body));
    };
    // Huge names (over prerender_max_side, 1024) and `full`, 50 times each: never counted.
    for junk in ["w4000.png", "3000x3000.png", "full.png"] {
        for _ in 0..50 {
            ask(&format!("{}/{junk}", images[0]), attacker);
        }
    }
    // A small name asked 50 times by one client, on every image: it counts once.
    for image in &images {
        for _ in 0..50 {
            ask(&format!("{image}/w300.webp"), attacker);
        }
    }
    // Honest clients, each rendering w100.jpg of another image.
    for (i, image) in images.iter().enumerate() {
        ask(&format!("{image}/w100.jpg"), &format!("203.0.113.{i}"));
    }
    assert_eq!(popular(&server, "pop"), [("w100.jpg".to_owned(), 3), ("w300.webp".to_owned(), 1)]);

    // What a new image gets in the background is those two, and no junk.
    let new = server.upload("pop", corpus::read("jpeg/photo_0.31mp_tablets_progressive.jpg"));
    ask(&format!("{new}/w50.jpg"), "203.0.113.9");
    let dir = server.data_dir().join(&new[1..]);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !(dir.join("w100.jpg").exists() && dir.join("w300.webp").exists()) {
        assert!(std::time::Instant::now() < deadline, "the popular sizes were not rendered");
        std::thread::sleep(Duration::from_millis(50));
    }
    for junk in ["w4000.png", "3000x3000.png", "full.png"] {
        assert!(!dir.join(junk).exists(), "{junk} rendered in the background");
    }
}

/// Found by benches/load/hostile.py: a 25 MB full.png, once rendered, was answered from memory
/// free, about 130 times a second to one client, and the copies to its socket took the CPU honest
/// clients' misses needed. An answer found already of 1 MiB or more is charged one unit per 8 MiB
/// begun; a page's hits stay free.
#[test]
fn a_large_answer_found_already_is_charged_for_its_bytes() {
    let server = Server::options().arg("--rate-limit-per-minute 60").start();
    let path = server.upload("p", corpus::read("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg"));
    assert_eq!(server.get(&format!("{path}/w200.jpg")).status, 200);
    let full = server.get(&format!("{path}/full.png"));
    assert_eq!(full.status, 200, "{}", String::from_utf8_lossy(&full.body));
    assert!(full.body.len() as u64 >= 16 << 20, "a large answer: {} bytes", full.body.len());
    let mut served = 0;
    let limited = loop {
        let reply = server.get(&format!("{path}/full.png"));
        if reply.status != 200 {
            break reply;
        }
        served += 1;
        assert!(served < 60, "{served} answers of {} bytes passed a budget of 60 units", full.body.len());
    };
    assert_eq!(limited.status, 429, "{}", String::from_utf8_lossy(&limited.body));
    assert!(limited.error().contains("8 MiB of a large answer"), "{}", limited.error());
    assert!(limited.header("retry-after").is_some());
    // The client's small hits are still free.
    for _ in 0..20 {
        assert_eq!(server.get(&format!("{path}/w200.jpg")).status, 200);
    }
    // And a HEAD sends no bytes to charge.
    assert_eq!(server.request("HEAD", &format!("{path}/full.png")).status, 200);
}
