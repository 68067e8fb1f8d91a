//! `image-server regenerate`: renders variants for every stored original of a namespace, with a
//! progress bar; `--missing-only` resumes an interrupted run.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::support::corpus;
use crate::support::server::{cli_in as image_server, files_under};

/// Fifty distinct, valid originals from the corpus, stored with `process`.
fn gallery(dir: &Path) {
    let files: Vec<_> = corpus::manifest()
        .into_iter()
        .filter(|e| !e.file.starts_with("malformed/") && !e.file.starts_with("pngsuite/x"))
        .filter(|e| e.format != "avif" && e.format != "heic")
        .take(50)
        .map(|e| corpus::dir().join(e.file))
        .collect();
    assert_eq!(files.len(), 50);
    let out = image_server(dir).args(["process", "--namespace", "gallery"]).args(&files).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 50);
}

/// The stored variants named in `outputs` (a comma-separated list, as `--outputs` takes it).
fn variants_of(dir: &Path, outputs: &str) -> Vec<String> {
    let names: Vec<String> = outputs.split(',').map(|name| format!("/{name}")).collect();
    files_under(&dir.join("data")).into_iter().filter(|f| names.iter().any(|n| f.ends_with(n.as_str()))).collect()
}

fn variants(dir: &Path) -> Vec<String> {
    variants_of(dir, "x40.jpg,w30.webp")
}

fn summary(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_owned()
}

#[test]
fn regenerate_renders_a_namespace_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    gallery(dir.path());
    let regenerate = |extra: &[&str]| {
        image_server(dir.path())
            .args(["regenerate", "--namespace", "gallery", "--outputs", "x40.jpg,w30.webp"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = regenerate(&[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        summary(&out).contains("50 images, 100 variants rendered, 0 already stored, 0 failed"),
        "{}",
        summary(&out)
    );
    let stored = variants(dir.path());
    assert_eq!(stored.len(), 100);

    for key in stored.iter().take(7) {
        std::fs::remove_file(dir.path().join("data").join(key)).unwrap();
    }
    let out = regenerate(&["--missing-only"]);
    assert!(summary(&out).contains("7 variants rendered, 93 already stored"), "{}", summary(&out));
    assert_eq!(variants(dir.path()).len(), 100);

    let out = regenerate(&[]);
    assert!(
        summary(&out).contains("100 variants rendered, 0 already stored"),
        "without --missing-only everything is rendered again"
    );
}

#[test]
fn an_interrupted_run_resumes_with_missing_only() {
    // Enough work (200 renders on one worker, two of them 640 px PNGs, some seconds) that the
    // interrupt, sent once 10 are stored, always lands part-way.
    const OUTPUTS: &str = "x40.jpg,w30.webp,w640.png,w480.webp";
    let dir = tempfile::tempdir().unwrap();
    gallery(dir.path());
    let mut child = image_server(dir.path())
        .args(["regenerate", "--namespace", "gallery", "--outputs", OUTPUTS, "--workers", "1"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while variants_of(dir.path(), OUTPUTS).len() < 10 {
        assert!(Instant::now() < deadline, "regenerate made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGKILL, the harshest interrupt: a Ctrl-C (SIGINT) is ignored by processes started in the
    // background of a non-interactive shell, as a CI script may start the tests.
    let _ = Command::new("kill").arg("-KILL").arg(child.id().to_string()).status();
    let _ = child.wait();
    let done = variants_of(dir.path(), OUTPUTS).len();
    assert!((10..200).contains(&done), "interrupted part-way ({done} of 200)");
    for key in variants_of(dir.path(), OUTPUTS) {
        let bytes = std::fs::read(dir.path().join("data").join(&key)).unwrap();
        image::load_from_memory(&bytes).unwrap_or_else(|e| panic!("{key} is not whole: {e}"));
    }
    let out = image_server(dir.path())
        .args(["regenerate", "--namespace", "gallery", "--outputs", OUTPUTS, "--missing-only"])
        .output()
        .unwrap();
    let expected = format!("{} variants rendered, {done} already stored", 200 - done);
    assert!(summary(&out).contains(&expected), "{} (expected {expected})", summary(&out));
}

#[test]
fn the_progress_bar_shows_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    gallery(dir.path());
    // `script` runs the command on a pseudo-terminal, where indicatif draws.
    let cmd = format!("{} regenerate --namespace gallery --outputs x40.jpg", env!("CARGO_BIN_EXE_image-server"));
    let out = Command::new("script")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // indicatif hides its bar on a terminal without TERM or with TERM=dumb, as CI may have.
        .env("TERM", "xterm")
        .args(["-qec", &cmd, "/dev/null"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/50 variants"), "no progress bar in:\n{text}");
    assert!(text.contains('█'), "no bar drawn in:\n{text}");
}
