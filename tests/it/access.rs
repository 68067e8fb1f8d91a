//! Who may do what (DESIGN.md §9): signed URLs (with rotation, expiry and ?source= signed),
//! upload tokens, closed namespaces, rate limits per client (`X-Forwarded-For` with ports, IPv6
//! by /64), and `image-server sign`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::support::origin::Origin;
use crate::support::server::{cli_in, files_under, image_path};
use crate::support::{Reply, Server, corpus};

const KEY_A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const KEY_B: &str = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

/// docs/security.md's recipe, written again here: the path and query, HMAC-SHA256 with the key's
/// bytes, the first 16 bytes, URL-safe base64 without padding.
fn sign(key_hex: &str, path_and_query: &str) -> String {
    use base64::Engine;
    let key: Vec<u8> =
        (0..key_hex.len()).step_by(2).map(|i| u8::from_str_radix(&key_hex[i..i + 2], 16).unwrap()).collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(path_and_query.as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..16]);
    let join = if path_and_query.contains('?') { '&' } else { '?' };
    format!("{path_and_query}{join}s={sig}")
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn forbidden(reply: &Reply, needle: &str) {
    assert_eq!(reply.status, 403, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.error().contains(needle), "'{}' should say '{needle}'", reply.error());
}

#[test]
fn variants_and_info_need_a_valid_signature() {
    let server = Server::options().arg(&format!("--signing-keys {KEY_A}")).start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    let variant = format!("{path}/x50.jpg");
    forbidden(&server.get(&variant), "must be signed");
    forbidden(&server.get(&format!("{path}/info.json")), "must be signed");
    forbidden(&server.get(&sign(KEY_B, &variant)), "does not match");
    forbidden(&server.get(&format!("{variant}?s=AAAAAAAAAAAAAAAAAAAAAA")), "does not match");
    assert_eq!(server.get(&sign(KEY_A, &variant)).status, 200);
    assert_eq!(server.get(&sign(KEY_A, &format!("{path}/info.json"))).status, 200);
    assert_eq!(server.head(&sign(KEY_A, &variant)).status, 200);
    // Another name needs its own signature.
    forbidden(&server.get(&sign(KEY_A, &variant).replace("x50", "x51")), "does not match");

    // Expiry is signed with the rest: in the future it works, in the past or changed it does not.
    let later = sign(KEY_A, &format!("{variant}?e={}", now() + 600));
    assert_eq!(server.get(&later).status, 200);
    forbidden(&server.get(&sign(KEY_A, &format!("{variant}?e={}", now() - 1))), "expired");
    forbidden(&server.get(&later.replace("?e=", "?e=9")), "does not match");

    // The object stored is the variant's own name, whatever the query was.
    let stored = files_under(&server.data_dir());
    assert!(stored.iter().any(|f| f.ends_with("/x50.jpg")), "{stored:?}");
    assert!(stored.iter().all(|f| !f.contains('?') && !f.contains("s=")), "{stored:?}");
    // Uploads are not signed URLs: tokens guard them.
    assert_eq!(server.post("/p", corpus::read("gif/static_hopper_128.gif")).status, 201);
}

#[test]
fn keys_rotate_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let old = Server::options().in_dir(dir.path()).arg(&format!("--signing-keys {KEY_A}")).start();
    let path = old.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    let signed_a = sign(KEY_A, &format!("{path}/x40.jpg"));
    assert_eq!(old.get(&signed_a).status, 200);
    drop(old);
    // The new key first (it signs), the old one still verifies.
    let rotated = Server::options().in_dir(dir.path()).arg(&format!("--signing-keys {KEY_B},{KEY_A}")).start();
    assert_eq!(rotated.get(&signed_a).status, 200, "URLs signed with the old key");
    assert_eq!(rotated.get(&sign(KEY_B, &format!("{path}/x41.jpg"))).status, 200, "URLs signed with the new key");
    // `image-server sign` signs with the first key, as the recipe does.
    let out = cli_in(dir.path())
        .args(["sign", &format!("{path}/x42.jpg"), "--signing-keys", &format!("{KEY_B},{KEY_A}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.trim(), sign(KEY_B, &format!("{path}/x42.jpg")));
    assert_eq!(rotated.get(printed.trim()).status, 200);
    let expiring = cli_in(dir.path())
        .args(["sign", &format!("{path}/x43.jpg"), "--expires-in", "300"])
        .env("IMG_SIGNING_KEYS", KEY_A)
        .output()
        .unwrap();
    let expiring = String::from_utf8(expiring.stdout).unwrap();
    assert!(expiring.contains("?e="), "{expiring}");
    assert_eq!(rotated.get(expiring.trim()).status, 200);
    // Without keys there is nothing to sign with.
    let none = cli_in(dir.path()).args(["sign", "/p/x"]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
}

#[test]
fn a_source_override_is_part_of_what_is_signed() {
    let origin = Origin::start();
    let namespaces = serde_json::json!({
        "pull": { "source_url": origin.url("/status/404?{path}"), "allow_source_override": true },
        "open": { "require_signature": false },
    });
    let server = Server::options()
        .arg(&format!("--source-allow-private --signing-keys {KEY_A} --namespaces"))
        .raw(&namespaces.to_string())
        .start();
    let file = "jpeg/photo_0.24mp_owl_baseline.jpg";
    let source = format!("source={}", origin.url(&format!("/corpus/{file}")).replace(':', "%3A"));
    let signed = sign(KEY_A, &format!("/pull/an/image/w60.jpg?{source}"));
    assert_eq!(server.get(&signed).status, 200, "the signed source is fetched");
    let other = signed.replace("photo_0.24mp_owl_baseline", "ijg_testorig");
    forbidden(&server.get(&other), "does not match");
    // A namespace that does not require signatures.
    let open = server.upload("open", corpus::read("jpeg/ijg_testorig.jpg"));
    assert_eq!(server.get(&format!("{open}/x20.jpg")).status, 200);
}

#[test]
fn uploads_need_a_token_where_tokens_are_set() {
    let namespaces = serde_json::json!({ "team": { "upload_tokens": ["team-secret"] }, "p": {} });
    let server =
        Server::options().arg("--upload-tokens global-secret --namespaces").raw(&namespaces.to_string()).start();
    let bytes = corpus::read("jpeg/ijg_testorig.jpg");
    let post = |ns: &str, token: Option<&str>| {
        let mut req = crate::support::server::client().post(server.url(&format!("/{ns}"))).body(bytes.clone());
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let resp = req.send().unwrap();
        (resp.status().as_u16(), resp.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()))
    };
    let (status, challenge) = post("p", None);
    assert_eq!(status, 401);
    assert!(challenge.unwrap().starts_with("Bearer"));
    assert_eq!(post("p", Some("wrong")).0, 401);
    assert_eq!(post("p", Some("team-secret")).0, 401, "a namespace's token opens that namespace only");
    assert_eq!(post("p", Some("global-secret")).0, 201);
    assert_eq!(post("team", Some("team-secret")).0, 201);
    assert_eq!(post("team", Some("global-secret")).0, 200, "global tokens open every namespace");
    // Reads need no token, and config never prints one.
    let stored = server.post_with_token("/p", "global-secret", bytes.clone()).json();
    let path = image_path("p", stored["hash"].as_str().unwrap());
    assert_eq!(server.get(&format!("{path}/x30.jpg")).status, 200);
    let dir = tempfile::tempdir().unwrap();
    let printed = cli_in(dir.path())
        .args(["config", "--upload-tokens", "global-secret", "--namespaces", &namespaces.to_string()])
        .output()
        .unwrap();
    let printed = String::from_utf8(printed.stdout).unwrap();
    assert!(!printed.contains("secret\""), "a token was printed: {printed}");
    assert!(printed.contains("(secret)"), "{printed}");
}

#[test]
fn closed_namespaces_are_404() {
    let server = Server::options().arg("--allow-unknown-namespaces=false --namespaces").raw(r#"{"p":{}}"#).start();
    let bytes = corpus::read("jpeg/ijg_testorig.jpg");
    let reply = server.post("/q", bytes.clone());
    assert_eq!(reply.status, 404);
    assert!(reply.error().contains("no namespace 'q'"), "{}", reply.error());
    let path = server.upload("p", bytes);
    assert_eq!(server.get(&format!("{path}/x10.jpg")).status, 200);
    assert_eq!(server.request("DELETE", &path.replacen("/p/", "/q/", 1)).status, 404);
    assert_eq!(server.get(&format!("{}/x10.jpg", path.replacen("/p/", "/q/", 1))).status, 404);
}

#[test]
fn renders_and_uploads_are_limited_per_client_and_hits_are_not() {
    let server = Server::options().arg("--rate-limit-per-minute 4 --trusted-proxies 127.0.0.1").start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg")); // one upload: 3 left
    for w in [10, 11, 12] {
        assert_eq!(server.get(&format!("{path}/w{w}.jpg")).status, 200);
    }
    let limited = server.get(&format!("{path}/w13.jpg"));
    assert_eq!(limited.status, 429, "{}", String::from_utf8_lossy(&limited.body));
    let retry: u32 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert!(limited.error().contains("4 units of work a minute"), "{}", limited.error());
    assert_eq!(server.post("/p", corpus::read("gif/static_hopper_128.gif")).status, 429, "uploads too");
    // Hits from memory or storage are never limited.
    for _ in 0..10 {
        assert_eq!(server.get(&format!("{path}/w10.jpg")).status, 200);
    }
    // Behind a trusted proxy, each forwarded client has a bucket of its own.
    let other = server.get_with(&format!("{path}/w14.jpg"), "x-forwarded-for", "198.51.100.7");
    assert_eq!(other.status, 200);
    let untrusted = Server::options().arg("--rate-limit-per-minute 1").start();
    let p2 = untrusted.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    let spoofed = untrusted.get_with(&format!("{p2}/w20.jpg"), "x-forwarded-for", "198.51.100.8");
    assert_eq!(spoofed.status, 429, "X-Forwarded-For from an untrusted peer is not believed");
}

#[test]
fn ports_in_forwarded_for_do_not_dodge_the_rate_limit_and_one_ipv6_64_is_one_client() {
    // Issue 18, finding 6: the proxy's `ip:port` entry was dropped, so the attacker's own entry
    // on its left became the client, a fresh one each time; and each IPv6 /128 had a bucket.
    let server = Server::options().arg("--rate-limit-per-minute 2 --trusted-proxies 127.0.0.1").start();
    let bytes = corpus::read("gif/static_hopper_128.gif");
    let upload = |forwarded_for: &str| {
        let client = crate::support::server::client();
        let req = client.post(server.url("/p")).header("x-forwarded-for", forwarded_for).body(bytes.clone());
        req.send().unwrap().status().as_u16()
    };
    let statuses: Vec<u16> = (1..=3).map(|i| upload(&format!("198.51.100.{i}, 203.0.113.9:{}", 40_000 + i))).collect();
    assert_eq!(statuses[2], 429, "the client behind the proxy's ip:port was charged afresh each time: {statuses:?}");
    assert_eq!(upload("[2001:db8:7:7::1]:443"), 200);
    assert_eq!(upload("2001:db8:7:7:ffff::2"), 200);
    assert_eq!(upload("198.51.100.50, [2001:db8:7:7::3]"), 429, "a third address of one /64");
    assert_eq!(upload("2001:db8:7:8::1"), 200, "the next /64 is another client");
    // An entry the proxy wrote that is not an address stops the walk: the proxy is charged.
    assert_eq!(upload("198.51.100.60, unknown"), 200);
    assert_eq!(upload("198.51.100.61, unknown"), 200);
    assert_eq!(upload("198.51.100.62, unknown"), 429);
}

#[test]
fn the_signing_recipes_sign_as_the_server_does() {
    let server = Server::options().arg(&format!("--signing-keys {KEY_A}")).start();
    let path = server.upload("p", corpus::read("jpeg/ijg_testorig.jpg"));
    let run = |program: &str, code: String| {
        let out =
            std::process::Command::new(program).arg(if program == "node" { "-e" } else { "-c" }).arg(code).output();
        let out = out.unwrap_or_else(|e| panic!("{program} ({e}): run scripts/test, which installs it"));
        assert!(out.status.success(), "{program}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let variant = format!("{path}/x33.jpg");
    let python = run(
        "python3",
        format!("{}\nprint(sign('{KEY_A}', '{variant}'))", crate::support::docs::block("security.md", "# sign.py")),
    );
    let node = run(
        "node",
        format!(
            "{}\nconsole.log(sign('{KEY_A}', '{variant}'))",
            crate::support::docs::block("security.md", "// sign.js")
        ),
    );
    assert_eq!(python, sign(KEY_A, &variant));
    assert_eq!(node, python);
    assert_eq!(server.get(&python).status, 200);
}
