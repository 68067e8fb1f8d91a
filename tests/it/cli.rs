//! The command line: `process`, configuration errors, `config`, `--help`.

use crate::support::corpus;
use crate::support::server::{cli_in as image_server, files_under};

#[test]
fn process_stores_originals_and_renders_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let good = corpus::dir().join("jpeg/photo_0.24mp_owl_baseline.jpg");
    let other = corpus::dir().join("png/palette_photo_290x442.png");
    let bad = corpus::dir().join("malformed/corrupt_header.jpg");
    let out = image_server(dir.path())
        .args(["process", "--namespace", "p", "--outputs", "x50.jpg,w80.webp"])
        .arg(&good)
        .arg(&bad)
        .arg(&other)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "one input failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!((lines[1]["width"].as_u64(), lines[1]["content_type"].as_str()), (Some(290), Some("image/png")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("corrupt_header.jpg"));
    let files = files_under(&dir.path().join("data"));
    assert_eq!(files.iter().filter(|f| f.ends_with("/x50.jpg")).count(), 2, "{files:?}");
    assert_eq!(files.iter().filter(|f| f.ends_with("/w80.webp")).count(), 2);
    assert_eq!(files.iter().filter(|f| f.ends_with("/original")).count(), 2);

    // `-` reads the list from standard input.
    let mut child = image_server(dir.path())
        .args(["process", "-n", "q", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{}", good.display()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 1);
}

#[test]
fn bad_configuration_stops_start_up_naming_key_and_layer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/production.json"), r#"{"maximum_widht": 100}"#).unwrap();
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a [&'a str]);
    let cases: [Case; 4] = [
        (&["--port", "seventy"], &[], &["server_port", "flag --port"]),
        (&[], &[("IMG_WORKERS", "0")], &["workers", "IMG_WORKERS"]),
        (&["-e", "production"], &[], &["maximum_widht", "unknown key", "production.json"]),
        (&["--config", "missing.json"], &[], &["missing.json"]),
    ];
    for (args, env, needles) in cases {
        let out = image_server(dir.path()).args(args).envs(env.iter().copied()).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for needle in needles {
            assert!(stderr.contains(needle), "{args:?} {env:?}: '{stderr}' should name '{needle}'");
        }
    }
}

#[test]
fn config_prints_the_effective_values_and_their_layers() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/development.json"), r#"{"maximum_width": 2000}"#).unwrap();
    let out = image_server(dir.path()).args(["config", "--port", "8080"]).env("IMG_QUEUE_SIZE", "7").output().unwrap();
    assert!(out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["server_port"]["value"], 8080);
    assert_eq!(json["server_port"]["from"], "flag --port");
    assert_eq!(json["queue_size"]["value"], 7);
    assert_eq!(json["queue_size"]["from"], "environment variable IMG_QUEUE_SIZE");
    assert_eq!(json["maximum_width"]["value"], 2000);
    assert!(json["maximum_width"]["from"].as_str().unwrap().contains("development.json"));
    assert_eq!(json["status_port"]["from"], "the built-in default");
}

#[test]
fn help_lists_every_configuration_flag() {
    // Every key the configuration knows, with its flag, from the binary itself.
    let dir = tempfile::tempdir().unwrap();
    let out = image_server(dir.path()).arg("config").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let keys: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = keys.as_object().unwrap();
    assert!(keys.len() >= 27, "config lists {} keys", keys.len());
    let mut flags: Vec<String> = keys.values().map(|k| k["flag"].as_str().unwrap().to_owned()).collect();
    flags.extend(["--environment".to_owned(), "--config".to_owned()]);

    let help = String::from_utf8(image_server(dir.path()).arg("--help").output().unwrap().stdout).unwrap();
    // A flag counts as listed only as a whole word: `--statsd` is not `--statsd-prefix`.
    let listed: Vec<&str> = help
        .split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .map(|word| word.split('=').next().unwrap_or(word))
        .filter(|word| word.starts_with("--"))
        .collect();
    for flag in &flags {
        assert!(listed.contains(&flag.as_str()), "--help lacks {flag}");
    }
    for (name, key) in keys {
        assert_eq!(key["variable"], format!("IMG_{}", name.to_uppercase()), "{name}");
        assert!(help.contains(key["variable"].as_str().unwrap()), "--help does not name the variable of {name}");
    }
}

/// docs/configuration.md carries what `image-server config --reference` prints, between its
/// markers: a key added, renamed or re-described without regenerating the page fails here.
#[test]
fn the_configuration_page_is_the_generated_reference() {
    let dir = tempfile::tempdir().unwrap();
    let out = image_server(dir.path()).args(["config", "--reference"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let generated = String::from_utf8(out.stdout).unwrap();
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md")).unwrap();
    let begin = "<!-- generated by `image-server config --reference`: do not edit by hand -->\n";
    let end = "<!-- end of generated reference -->";
    let start = page.find(begin).expect("docs/configuration.md has no generated-reference marker") + begin.len();
    let stop = start + page[start..].find(end).expect("docs/configuration.md has no end marker");
    assert!(
        page[start..stop] == generated,
        "docs/configuration.md is behind the key table: regenerate its table with `image-server config --reference`"
    );
    // Every key the server reads is in it, with its flag and variable.
    let keys: serde_json::Value =
        serde_json::from_slice(&image_server(dir.path()).arg("config").output().unwrap().stdout).unwrap();
    for (name, key) in keys.as_object().unwrap() {
        let row =
            format!("| `{name}` | `{}` | `{}` |", key["flag"].as_str().unwrap(), key["variable"].as_str().unwrap());
        assert!(generated.contains(&row), "the reference has no row {row}");
    }
}
