//! Every original people upload (DESIGN.md §13): HEIC and AVIF from the corpus, JPEG XL, TIFF
//! and turned AVIF made in the test from corpus photos (cjxl, avifenc, Pillow, tiffcp, vips:
//! tests/tools/make_formats.py), each checked against a decoder nobody on this project wrote
//! (tests/tools/reference.py: pillow-heif, libvips, djxl, Pillow); every input format to every output
//! format; hostile files of each new format.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{DynamicImage, ImageFormat, RgbImage};

use crate::support::images::{decode, decode_avif, mean_abs_diff};
use crate::support::{Server, corpus};

/// Largest mean difference per channel (0..255) between our `w64.png` and the reference's.
const MAX_MEAN_DIFF: f64 = 3.0;

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools")
}

/// Makes the JPEG XL or TIFF test files into `dir`; their paths.
fn made(kind: &str, dir: &Path) -> Vec<PathBuf> {
    let run =
        Command::new("python3").arg(tools().join("make_formats.py")).arg(kind).arg(corpus::dir()).arg(dir).output();
    let run = run.unwrap_or_else(|e| panic!("make_formats.py: {e}"));
    assert!(
        run.status.success(),
        "make_formats.py {kind} (run scripts/test, which installs libjxl-tools, libtiff-tools, libvips-tools, Pillow): {}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8(run.stdout).unwrap().lines().map(|name| dir.join(name)).collect()
}

/// The reference rendering of `original` at `width` (sRGB, on white) and the upright size the
/// reference decoder reads.
fn reference(original: &Path, width: u32) -> (RgbImage, (u32, u32)) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reference.png");
    let run = Command::new("python3")
        .arg(tools().join("reference.py"))
        .arg(original)
        .arg(width.to_string())
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("reference.py: {e}"));
    assert!(
        run.status.success(),
        "reference.py {} (run scripts/test, which installs pillow-heif and djxl): {}",
        original.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let size: Vec<u32> =
        String::from_utf8(run.stdout).unwrap().split_whitespace().map(|n| n.parse().unwrap()).collect();
    (image::open(&out).unwrap().to_rgb8(), (size[0], size[1]))
}

/// RGB composed onto white, as the reference is.
fn on_white(img: DynamicImage) -> RgbImage {
    let rgba = img.to_rgba8();
    let mut out = RgbImage::new(rgba.width(), rgba.height());
    for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(p[3]);
        for c in 0..3 {
            o[c] = ((u32::from(p[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// Uploads `original`, checks its info (upright size, MIME type) against the reference and its
/// `w64.png` against the reference's.
fn matches_reference(server: &Server, original: &Path, mime: &str) {
    let name = original.file_name().unwrap().to_string_lossy().into_owned();
    let reply = server.post("/p", std::fs::read(original).unwrap());
    assert_eq!(reply.status, 201, "{name}: {}", String::from_utf8_lossy(&reply.body));
    let info = reply.json();
    let (theirs, (w, h)) = reference(original, 64);
    assert_eq!((info["width"].as_u64(), info["height"].as_u64()), (Some(u64::from(w)), Some(u64::from(h))), "{name}");
    assert_eq!(info["content_type"], mime, "{name}");
    let path = crate::support::server::image_path("p", info["hash"].as_str().unwrap());
    let variant = server.get(&format!("{path}/w64.png"));
    assert_eq!(variant.status, 200, "{name}: {}", String::from_utf8_lossy(&variant.body));
    let ours = on_white(decode(&variant.body, ImageFormat::Png));
    assert_eq!(ours.dimensions(), theirs.dimensions(), "{name}");
    let diff = mean_abs_diff(&ours, &theirs);
    eprintln!("{name}: mean difference {diff:.2} per channel");
    assert!(diff <= MAX_MEAN_DIFF, "{name}: w64.png differs from the reference by {diff:.2} per channel");
}

#[test]
fn heic_and_avif_originals_match_pillow_heif_and_libvips() {
    let server = Server::start();
    let mut seen = 0;
    for entry in corpus::manifest().into_iter().filter(|e| e.format == "heic" || e.format == "avif") {
        let mime = if entry.format == "heic" { "image/heic" } else { "image/avif" };
        matches_reference(&server, &corpus::dir().join(&entry.file), mime);
        seen += 1;
    }
    assert!(seen >= 5, "{seen} HEIC/AVIF files in the corpus");
}

#[test]
fn small_heics_match_pillow_heif() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let files = made("heic", dir.path());
    assert_eq!(files.len(), 4, "{files:?}");
    for file in files {
        matches_reference(&server, &file, "image/heic");
    }
}

#[test]
fn avif_rotations_mirrors_and_crops_are_applied_once_as_libheif_applies_them() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let files = made("avif", dir.path());
    assert_eq!(files.len(), 8, "{files:?}");
    for file in files {
        matches_reference(&server, &file, "image/avif");
    }
}

#[test]
fn jpeg_xl_originals_match_djxl() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let files = made("jxl", dir.path());
    assert!(files.len() >= 8, "{files:?}");
    for file in files {
        matches_reference(&server, &file, "image/jxl");
    }
}

#[test]
fn tiff_originals_match_pillow() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let files = made("tiff", dir.path());
    assert!(files.len() >= 15, "{files:?}");
    for file in files {
        matches_reference(&server, &file, "image/tiff");
    }
}

/// An output decoded by a decoder we did not write: image-rs, avifdec, djxl.
fn decode_output(bytes: &[u8], ext: &str) -> DynamicImage {
    match ext {
        "avif" => decode_avif(bytes),
        "jxl" => {
            assert_eq!(&bytes[..2], [0xFF, 0x0A], "not a JPEG XL codestream");
            let dir = tempfile::tempdir().unwrap();
            let (input, output) = (dir.path().join("in.jxl"), dir.path().join("out.png"));
            std::fs::write(&input, bytes).unwrap();
            let run = Command::new("djxl").arg(&input).arg(&output).output().expect("djxl (libjxl-tools)");
            assert!(run.status.success(), "djxl refused the output: {}", String::from_utf8_lossy(&run.stderr));
            image::open(&output).unwrap()
        }
        ext => decode(bytes, crate::support::images::format_of_ext(ext)),
    }
}

#[test]
fn every_input_format_gives_every_output_format_at_the_asked_size() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let jxl = made("jxl", &dir.path().join("jxl"));
    let tiff = made("tiff", &dir.path().join("tiff"));
    let pick =
        |files: &[PathBuf], name: &str| std::fs::read(files.iter().find(|f| f.ends_with(name)).unwrap()).unwrap();
    let inputs: Vec<(&str, Vec<u8>)> = vec![
        ("jpeg", corpus::read("jpeg/photo_0.24mp_owl_baseline.jpg")),
        ("png", corpus::read("png/rgba_dice_transparent.png")),
        ("gif", corpus::read("gif/static_hopper_128.gif")),
        ("webp", corpus::read("webp/lossy_alpha_dice_200x150.webp")),
        ("avif", corpus::read("avif_heic/avif_kodim23_768x512.avif")),
        ("heic", corpus::read("avif_heic/heic_example1_4032x3024.heic")),
        ("jxl", pick(&jxl, "vardct.jxl")),
        ("tiff", pick(&tiff, "rgb_tiff_lzw.tif")),
    ];
    for (input, bytes) in inputs {
        let path = server.upload("p", bytes);
        for ext in ["jpg", "png", "webp", "gif", "avif", "jxl"] {
            for (geometry, want) in [("x48", (48, 48)), ("60x40", (60, 40))] {
                let reply = server.get(&format!("{path}/{geometry}.{ext}"));
                assert_eq!(reply.status, 200, "{input} -> {geometry}.{ext}: {}", String::from_utf8_lossy(&reply.body));
                let img = decode_output(&reply.body, ext);
                assert_eq!((img.width(), img.height()), want, "{input} -> {geometry}.{ext}");
            }
        }
    }
}

/// A baseline TIFF whose one directory declares `w` x `h` 8-bit gray pixels, in one strip of 16
/// bytes.
fn tiff_declaring(w: u32, h: u32) -> Vec<u8> {
    let entries: [(u16, u16, u32); 8] = [
        (256, 4, w),   // ImageWidth, LONG
        (257, 4, h),   // ImageLength
        (258, 3, 8),   // BitsPerSample, SHORT
        (259, 3, 1),   // Compression: none
        (262, 3, 1),   // Photometric: black is zero
        (273, 4, 122), // StripOffsets
        (278, 4, h),   // RowsPerStrip
        (279, 4, 16),  // StripByteCounts
    ];
    let mut out = b"II*\0\x08\0\0\0".to_vec();
    out.extend((entries.len() as u16).to_le_bytes());
    for (tag, kind, value) in entries {
        out.extend(tag.to_le_bytes());
        out.extend(kind.to_le_bytes());
        out.extend(1u32.to_le_bytes());
        out.extend(value.to_le_bytes());
    }
    out.extend(0u32.to_le_bytes());
    out.extend([0x80; 16]);
    out
}

/// A HEIF file with every `ispe` (declared image size) set to `w` x `h`.
fn heif_declaring(file: &str, w: u32, h: u32) -> Vec<u8> {
    let mut bytes = corpus::read(file);
    let spots: Vec<usize> = bytes.windows(4).enumerate().filter(|(_, b)| *b == b"ispe").map(|(i, _)| i).collect();
    assert!(!spots.is_empty(), "{file} has no ispe");
    for at in spots {
        bytes[at + 8..at + 12].copy_from_slice(&w.to_be_bytes());
        bytes[at + 12..at + 16].copy_from_slice(&h.to_be_bytes());
    }
    bytes
}

/// A bare JPEG XL codestream whose size header declares `side` x `side` (LSB-first bits: not
/// small, height in the 18-bit form, aspect 1:1, default metadata), and nothing after it.
fn jxl_declaring(side: u32) -> Vec<u8> {
    let mut bits: Vec<bool> = vec![false, false, true]; // small = 0; selector 2 (LSB first)
    bits.extend((0..18).map(|i| (side - 1) >> i & 1 == 1));
    bits.extend([true, false, false]); // ratio 1: width = height
    bits.push(true); // all_default metadata
    let mut out = vec![0xFF, 0x0A];
    out.extend(bits.chunks(8).map(|byte| byte.iter().enumerate().fold(0u8, |b, (i, &bit)| b | (u8::from(bit) << i))));
    out.extend([0; 32]);
    out
}

#[test]
fn hostile_files_of_the_new_formats_get_a_4xx_or_a_render() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let jxl = made("jxl", &dir.path().join("jxl"));
    let tiff = made("tiff", &dir.path().join("tiff"));
    let read =
        |files: &[PathBuf], name: &str| std::fs::read(files.iter().find(|f| f.ends_with(name)).unwrap()).unwrap();
    let samples: Vec<(&str, Vec<u8>)> = vec![
        ("heic", corpus::read("avif_heic/heic_example1_4032x3024.heic")),
        ("avif", corpus::read("avif_heic/avif_kodim23_768x512.avif")),
        ("avif alpha", corpus::read("avif_heic/avif_rgba_64.avif")),
        ("avif sequence", corpus::read("avif_heic/avif_animated_5f_150.avif")),
        ("jxl vardct", read(&jxl, "vardct.jxl")),
        ("jxl modular", read(&jxl, "modular.jxl")),
        ("jxl animated", read(&jxl, "animated.jxl")),
        ("tiff lzw", read(&tiff, "rgb_tiff_lzw.tif")),
        ("tiff tiles", read(&tiff, "rgb_tiles_lzw.tif")),
        ("tiff jpeg", read(&tiff, "rgb_jpeg.tif")),
    ];
    let answered = |what: &str, body: Vec<u8>| {
        let reply = server.post("/p", body);
        assert!(
            reply.status == 201 || reply.status == 200 || (400..500).contains(&reply.status),
            "{what}: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
        if reply.status < 300 {
            let path = crate::support::server::image_path("p", reply.json()["hash"].as_str().unwrap());
            let variant = server.get(&format!("{path}/w100.jpg"));
            assert!(variant.status == 200 || (400..500).contains(&variant.status), "{what}: render {}", variant.status);
        }
        assert_eq!(server.health(), 200, "{what}: the server stopped serving");
        reply
    };
    for (what, bytes) in &samples {
        for cut in [bytes.len() / 2, bytes.len() * 9 / 10, 64, 13] {
            answered(&format!("{what} cut at {cut}"), bytes[..cut.min(bytes.len())].to_vec());
        }
        for seed in 1..=6u64 {
            let mut damaged = bytes.clone();
            // A few bytes past the first 64 (the signature stays, so the format's reader gets it).
            for k in 0..4u64 {
                let at = 64 + ((seed * 7919 + k * 104_729) as usize % (damaged.len().saturating_sub(64)).max(1));
                if at < damaged.len() {
                    damaged[at] ^= 0x5A ^ (seed as u8);
                }
            }
            answered(&format!("{what} damaged ({seed})"), damaged);
        }
    }
    // The grid's own canvas (in its payload, in idat) declared 65535 x 65535, its ispe left.
    let mut grid = corpus::read("avif_heic/heic_example1_4032x3024.heic");
    let idat = grid.windows(4).position(|b| b == b"idat").expect("the grid payload is in idat") + 4;
    grid[idat + 4..idat + 8].copy_from_slice(&[0xFF; 4]);
    for (what, body) in [
        ("heic grid canvas", grid),
        ("heic", heif_declaring("avif_heic/heic_example1_4032x3024.heic", 100_000, 100_000)),
        ("avif", heif_declaring("avif_heic/avif_kodim23_768x512.avif", 100_000, 100_000)),
        ("tiff", tiff_declaring(100_000, 100_000)),
    ] {
        let reply = answered(&format!("{what} declaring 100000x100000"), body);
        assert!((400..500).contains(&reply.status), "{what}: {}", reply.status);
        assert!(reply.error().contains("too large"), "{what}: {}", reply.error());
    }
    // fuzz/regressions/upload_heif: an overlay whose canvas libheif would allocate whole.
    let found = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/upload_heif");
    let overlay = std::fs::read(found.join("oom-0fa4143495fa4a45156dd4f5597c02d88863a427")).unwrap();
    let reply = answered("the HEIF overlay the fuzzer found", overlay);
    assert_eq!(reply.status, 415, "{}", reply.error());
    assert!(reply.error().contains("overlay"), "{}", reply.error());
    let reply = answered("jxl declaring 100000x100000", jxl_declaring(100_000));
    assert!((400..500).contains(&reply.status), "jxl: {}", reply.status);
    let peak_mib = server.peak_rss_kib() / 1024;
    eprintln!("peak RSS over the hostile files: {peak_mib} MiB");
    assert!(peak_mib < 512, "peak RSS {peak_mib} MiB");
    assert!(server.logs().iter().all(|l| !l.contains("panicked")), "a request panicked");
}

/// The start-up line says what this build reads and writes, so an operator sees a build made
/// without libheif, libavif or libjxl before a user's HEIC is refused.
#[test]
fn the_start_up_line_names_the_formats_read_and_written() {
    let server = Server::start();
    let logs = server.logs();
    let line = logs.iter().find(|l| l.contains("image-server listening")).expect("a start-up line");
    let field = |name: &str| {
        let start = line.find(&format!("{name}=")).unwrap_or_else(|| panic!("no {name}= in {line}")) + name.len() + 1;
        line[start..].split_whitespace().next().unwrap().to_owned()
    };
    // scripts/test installs libheif, libavif and libjxl, so this build has them all.
    assert_eq!(field("reads"), "jpg,png,webp,gif,avif,heic,jxl,tiff", "{line}");
    assert_eq!(field("writes"), "jpg,png,webp,gif,avif,jxl", "{line}");
}
