//! wanelo's command lines on this binary: `server`, flags spelled with `_`, flags before the
//! subcommand, and `process` reading `HASH URL` lines.

use std::io::Write;
use std::process::{Output, Stdio};

use image_server::model::ImageHash;

use super::{A_HASH, a_jpg, a_path};
use crate::support::origin::Origin;
use crate::support::server::{cli_in as image_server, files_under, image_path};
use crate::support::{Server, corpus};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The info JSON lines `process` printed.
fn printed(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(out.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// wanelo's cmd_server.go usage (`server [flags]`, `--maximum_width '1000'`, `--default_quality
/// '75'`) with main.go, which read its flags before the subcommand: `image-server
/// --maximum_width 100 --default_quality 75 server` starts this server with those settings.
#[test]
fn wanelo_s_server_command_line_starts_the_server() {
    let server = Server::options().before("--maximum_width 100 --default_quality 75").subcommand("server").start();
    assert_eq!(server.get("/status_check").status, 200);
    let path = server.upload("p", a_jpg());
    assert_eq!(server.get(&format!("{path}/w100.jpg")).status, 200);
    assert_eq!(server.get(&format!("{path}/w101.jpg")).status, 406, "maximum_width is 100");
}

/// main.go's flags as wanelo's deploy scripts spell them (`--maximum_width`,
/// `--default_quality=75`, `--statsd_prefix`, `--remote_base_url`): each is the flag of the same
/// key here, before the subcommand or after it, with its value as given. Every long flag takes
/// `_` (`--max_outputs_per_upload`); a flag this server lacks is named as it was given.
#[test]
fn flags_spelled_with_underscores_before_or_after_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = image_server(dir.path())
        .args(["--maximum_width", "1000", "--default_quality=75", "config", "--statsd_prefix", "img_"])
        .args(["--remote_base_url", "http://cdn.example/a_b", "--max_outputs_per_upload=3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let config: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(config["maximum_width"]["value"], 1000);
    assert_eq!(config["maximum_width"]["from"], "flag --maximum-width");
    assert_eq!(config["default_quality"]["value"], 75);
    assert_eq!(config["default_quality"]["from"], "flag --default-quality");
    assert_eq!(config["statsd_prefix"]["value"], "img_", "a value keeps its underscores");
    assert_eq!(config["remote_base_url"]["value"], "http://cdn.example/a_b");
    assert_eq!(config["max_outputs_per_upload"]["value"], 3);

    let out = image_server(dir.path()).args(["--local_base_path", "public", "config"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--local_base_path"), "{}", stderr(&out));
}

/// wanelo's README: `image --remote_base_path public/images --outputs x300.webp,x300.jpg process
/// $MANTA_INPUT_FILE`, the namespace and outputs before the subcommand; with `full_size.jpg`
/// among them, as cmd_server.go's usage gives outputs (`full_size.jpg,full_size.webp,...`).
#[test]
fn process_takes_namespace_and_outputs_before_the_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), a_jpg()).unwrap();
    let out = image_server(dir.path())
        .args(["--namespace", "p", "--outputs", "x300.webp,x300.jpg,full_size.jpg", "process", "a.jpg"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let lines = printed(&out);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["hash"], A_HASH);
    let prefix = format!("{}/", &a_path("p")[1..]);
    let files: Vec<String> = files_under(&dir.path().join("data"))
        .into_iter()
        .filter_map(|f| f.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    for leaf in ["original", "info.json", "x300.webp", "x300.jpg", "full.jpg"] {
        assert!(files.iter().any(|f| f == leaf), "{leaf} not stored: {files:?}");
    }
}

/// wanelo's cli/cli_test.go `TestLineToItem` (a `HASH URL` line is a hash and a URL), with
/// cli/batch.go `ProcessStream` and fetcher/original_fetcher.go `Fetch`, which it feeds: the
/// image of a line is the stored one of its hash where there is one (nothing is fetched), else
/// its URL's; a line may also be a bare hash (test/process.txt) or a bare URL; without arguments
/// `process` reads standard input. A line naming a file (even one named like a hash) is that file.
#[test]
fn process_reads_hash_url_lines_from_standard_input() {
    let origin = Origin::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jpg"), a_jpg()).unwrap();
    let first = image_server(dir.path()).args(["-n", "p", "process", "a.jpg"]).output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));

    let md5 = |file: &str| ImageHash::of(&corpus::read(file)).to_string();
    let (owl, png, ijg) =
        ("jpeg/photo_0.24mp_owl_baseline.jpg", "png/palette_photo_290x442.png", "jpeg/ijg_testorig.jpg");
    std::fs::write(dir.path().join(md5(ijg)), corpus::read(ijg)).unwrap();
    let absent = "ffffffffffffffffffffffffffffffff";
    let lines = [
        format!("{A_HASH} {}", origin.url("/corpus/not/fetched.jpg")),
        format!("{}\t{}", md5(owl), origin.url(&format!("/corpus/{owl}"))),
        origin.url(&format!("/corpus/{png}")),
        A_HASH.to_owned(),
        absent.to_owned(),
        md5(ijg),
    ];
    let mut child = image_server(dir.path())
        .args(["--source_allow_private", "--namespace", "p", "--outputs", "x50.jpg", "process"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{}", lines.join("\n")).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "one line failed: {}", stderr(&out));
    assert!(stderr(&out).contains(absent), "the failure names its hash: {}", stderr(&out));
    let hashes: Vec<String> = printed(&out).iter().map(|l| l["hash"].as_str().unwrap().to_owned()).collect();
    assert_eq!(hashes, [A_HASH.to_owned(), md5(owl), md5(png), A_HASH.to_owned(), md5(ijg)]);
    assert_eq!(origin.targets(), [format!("/corpus/{owl}"), format!("/corpus/{png}")], "a stored hash is not fetched");
    let files = files_under(&dir.path().join("data"));
    for hash in [A_HASH.to_owned(), md5(owl), md5(png), md5(ijg)] {
        let x50 = format!("{}/x50.jpg", &image_path("p", &hash)[1..]);
        assert!(files.contains(&x50), "{x50} not in {files:?}");
    }
}
