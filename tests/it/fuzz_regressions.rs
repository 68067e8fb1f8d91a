//! What the fuzzers found (`fuzz/run.sh` minimises it into fuzz/regressions/TARGET/), replayed
//! through the same harnesses (`image_server::fuzzing`), and the harnesses run over the shared
//! corpus, so that a harness that stopped reaching the decoders would show here too.

use image_server::fuzzing;
use image_server::model::ImageFormat;

use crate::support::corpus;

fn harness(target: &str) -> fn(&[u8]) {
    match target {
        "url" => fuzzing::url,
        "upload_jpeg" => |d| fuzzing::upload(ImageFormat::Jpeg, d),
        "upload_png" => |d| fuzzing::upload(ImageFormat::Png, d),
        "upload_gif" => |d| fuzzing::upload(ImageFormat::Gif, d),
        "upload_webp" => |d| fuzzing::upload(ImageFormat::Webp, d),
        "upload_heif" => |d| fuzzing::upload(ImageFormat::Heic, d),
        "upload_avif" => |d| fuzzing::upload(ImageFormat::Avif, d),
        "upload_jxl" => |d| fuzzing::upload(ImageFormat::Jxl, d),
        "upload_tiff" => |d| fuzzing::upload(ImageFormat::Tiff, d),
        "exif" => fuzzing::exif,
        "icc" => fuzzing::icc,
        other => panic!("fuzz/regressions/{other}: no such fuzz target"),
    }
}

#[test]
fn what_the_fuzzers_found_replays_without_a_panic() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions");
    let mut replayed = 0;
    for dir in std::fs::read_dir(&root).into_iter().flatten().flatten().filter(|d| d.path().is_dir()) {
        let run = harness(&dir.file_name().to_string_lossy());
        for file in std::fs::read_dir(dir.path()).unwrap().flatten() {
            eprintln!("replaying {}", file.path().display());
            run(&std::fs::read(file.path()).unwrap());
            replayed += 1;
        }
    }
    eprintln!("{replayed} fuzz findings replayed");
}

#[test]
fn the_harnesses_take_the_corpus() {
    let mut decoded = 0;
    for entry in corpus::manifest() {
        let bytes = corpus::read(&entry.file);
        let format = match entry.format.as_str() {
            "jpeg" => ImageFormat::Jpeg,
            "png" => ImageFormat::Png,
            "gif" => ImageFormat::Gif,
            "webp" => ImageFormat::Webp,
            "heic" => ImageFormat::Heic,
            "avif" => ImageFormat::Avif,
            _ => continue,
        };
        // The small limits of the harness refuse the largest files from their header.
        if entry.width.zip(entry.height).is_some_and(|(w, h)| u64::from(w) * u64::from(h) <= 4_000_000) {
            decoded += 1;
        }
        fuzzing::upload(format, &bytes);
        fuzzing::exif(&bytes);
        fuzzing::icc(&bytes[..bytes.len().min(4096)]);
    }
    assert!(decoded >= 90, "{decoded}");
    for target in ["/p/6e0/072/682/e66287b662827da75b244a3/x200-q30.jpg", "/user/a/b/info.json?source=x&e=1", "/p?s="] {
        fuzzing::url(target.as_bytes());
    }
}
