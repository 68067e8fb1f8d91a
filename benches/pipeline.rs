//! Criterion benches of the render pipeline, stage by stage and whole, with the alternatives we
//! chose against measured side by side in the same run (`cargo bench --bench pipeline`).
//!
//! Inputs are the peer bench's images (`../shared/bench/images`), loaded outside the timed loops:
//! medium.jpg (1920x1200, 4:2:0 q90), large.jpg (5120x2880) and alpha.png (1000x1000 RGBA).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image_server::model::{Geometry, ImageFormat};
use image_server::pipeline::stages::{CropBox, decode, encode, read_header, resize};
use image_server::pipeline::{self, Effort, Limits, Placement, RenderSpec};

fn input(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/images").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

static LIMITS: std::sync::LazyLock<Limits> =
    std::sync::LazyLock::new(|| image_server::service::render_limits(&image_server::config::Config::defaults()));

/// The small-tier working copy of a JPEG, as the server makes it at upload, with the original's
/// size (what renders from it plan on).
fn working_copy(original: &[u8]) -> (Vec<u8>, (u32, u32)) {
    let facts = pipeline::probe(original, &LIMITS).unwrap();
    let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, 2048);
    let mut copies = pipeline::make_working_copies(original, sizes, &LIMITS).unwrap().copies;
    (copies.pop().expect("a small tier").1.bytes, (facts.width, facts.height))
}

/// A w200 JPEG from a working copy made by [`working_copy`].
fn w200_from_working_copy((copy, original_size): &(Vec<u8>, (u32, u32))) -> Vec<u8> {
    let spec = spec(200, ImageFormat::Jpeg);
    pipeline::render_from_working_copy(black_box(copy), *original_size, &spec, &LIMITS).unwrap().bytes
}

fn spec(width: u32, format: ImageFormat) -> RenderSpec {
    RenderSpec {
        geometry: Geometry::Width(width),
        format,
        quality: 80,
        effort: Effort::Fast,
        placement: Placement::Centre,
    }
}

fn probe(c: &mut Criterion) {
    let (medium, large) = (input("medium.jpg"), input("large.jpg"));
    let mut g = c.benchmark_group("probe");
    g.bench_function("medium header", |b| b.iter(|| read_header(black_box(&medium), &LIMITS).unwrap()));
    g.bench_function("large header", |b| b.iter(|| read_header(black_box(&large), &LIMITS).unwrap()));
    g.finish();
}

fn decoding(c: &mut Criterion) {
    let medium = input("medium.jpg");
    let header = read_header(&medium, &LIMITS).unwrap();
    let mut g = c.benchmark_group("decode medium.jpg");
    g.bench_function("libjpeg-turbo full", |b| b.iter(|| decode(black_box(&medium), &header, 1.0, &LIMITS).unwrap()));
    g.bench_function("libjpeg-turbo scaled 1/4 (w200 path)", |b| {
        b.iter(|| decode(black_box(&medium), &header, 0.21, &LIMITS).unwrap())
    });
    // What Pillow's draft() picks for w200: the smallest scale not below the target, 240x150.
    g.bench_function("libjpeg-turbo scaled 1/8 (Pillow draft's choice for w200)", |b| {
        b.iter(|| decode(black_box(&medium), &header, 0.1, &LIMITS).unwrap())
    });
    g.bench_function("image-rs (zune-jpeg) full", |b| b.iter(|| image::load_from_memory(black_box(&medium)).unwrap()));
    g.finish();

    let large = input("large.jpg");
    let header = read_header(&large, &LIMITS).unwrap();
    let (working, _) = working_copy(&large);
    let working_header = read_header(&working, &LIMITS).unwrap();
    let mut g = c.benchmark_group("decode large.jpg for w200");
    g.sample_size(20);
    g.bench_function("original scaled 1/8", |b| b.iter(|| decode(black_box(&large), &header, 0.08, &LIMITS).unwrap()));
    g.bench_function("1024 px working copy scaled 1/2", |b| {
        b.iter(|| decode(black_box(&working), &working_header, 0.4, &LIMITS).unwrap())
    });
    g.finish();
}

fn resizing(c: &mut Criterion) {
    let medium = input("medium.jpg");
    let header = read_header(&medium, &LIMITS).unwrap();
    let decoded = decode(&medium, &header, 0.21, &LIMITS).unwrap().bitmap; // 480x300, what w200 resizes from
    let (w, h) = (decoded.width, decoded.height);
    let as_image = image::RgbImage::from_raw(w, h, decoded.data.clone()).unwrap();
    let mut g = c.benchmark_group("resize 480x300 -> 200x125 Lanczos3");
    g.bench_function("fast_image_resize", |b| {
        b.iter(|| resize(black_box(decoded.clone()), CropBox::full(w, h), 200, 125).unwrap())
    });
    g.bench_function("image-rs", |b| {
        b.iter(|| image::imageops::resize(black_box(&as_image), 200, 125, FilterType::Lanczos3))
    });
    g.finish();
}

fn encoding(c: &mut Criterion) {
    let medium = input("medium.jpg");
    let header = read_header(&medium, &LIMITS).unwrap();
    let decoded = decode(&medium, &header, 0.21, &LIMITS).unwrap().bitmap;
    let (w, h) = (decoded.width, decoded.height);
    let small = resize(decoded, CropBox::full(w, h), 200, 125).unwrap();
    let mut g = c.benchmark_group("encode 200x125");
    g.bench_function("jpeg libjpeg-turbo (ours)", |b| {
        b.iter(|| encode(black_box(&small), ImageFormat::Jpeg, 80, Effort::Fast).unwrap())
    });
    g.bench_function("jpeg mozjpeg trellis", |b| {
        b.iter(|| {
            let mut comp = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
            comp.set_size(200, 125);
            comp.set_quality(80.0);
            let mut started = comp.start_compress(Vec::new()).unwrap();
            started.write_scanlines(black_box(&small.data)).unwrap();
            started.finish().unwrap()
        })
    });
    g.bench_function("jpeg image-rs", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            JpegEncoder::new_with_quality(&mut out, 80)
                .encode(black_box(&small.data), 200, 125, image::ExtendedColorType::Rgb8)
                .unwrap();
            out
        })
    });
    g.bench_function("webp libwebp", |b| {
        b.iter(|| encode(black_box(&small), ImageFormat::Webp, 80, Effort::Fast).unwrap())
    });
    g.bench_function("png fast deflate", |b| {
        b.iter(|| encode(black_box(&small), ImageFormat::Png, 80, Effort::Fast).unwrap())
    });
    g.finish();
}

fn whole_render(c: &mut Criterion) {
    let (medium, large, alpha) = (input("medium.jpg"), input("large.jpg"), input("alpha.png"));
    let (large_working, medium_working) = (working_copy(&large), working_copy(&medium));
    let mut g = c.benchmark_group("render");
    g.sample_size(30).measurement_time(Duration::from_secs(8));
    g.bench_function("medium -> w200.jpg (ours)", |b| {
        b.iter(|| pipeline::render(black_box(&medium), &spec(200, ImageFormat::Jpeg), &LIMITS).unwrap())
    });
    g.bench_function("medium -> w200.jpg (image-rs decode, resize, encode)", |b| {
        b.iter(|| {
            let img = image::load_from_memory(black_box(&medium)).unwrap();
            let small = img.resize(200, 125, FilterType::Lanczos3).to_rgb8();
            let mut out = Vec::new();
            JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small).unwrap();
            out
        })
    });
    g.bench_function("medium -> w200.jpg from the working copy (ours)", |b| {
        b.iter(|| w200_from_working_copy(&medium_working))
    });
    g.bench_function("medium -> w400.jpg (ours)", |b| {
        b.iter(|| pipeline::render(black_box(&medium), &spec(400, ImageFormat::Jpeg), &LIMITS).unwrap())
    });
    g.bench_function("medium -> w200.webp (ours)", |b| {
        b.iter(|| pipeline::render(black_box(&medium), &spec(200, ImageFormat::Webp), &LIMITS).unwrap())
    });
    g.bench_function("large -> w200.jpg from the original (ours)", |b| {
        b.iter(|| pipeline::render(black_box(&large), &spec(200, ImageFormat::Jpeg), &LIMITS).unwrap())
    });
    g.bench_function("large -> w200.jpg from the working copy (ours)", |b| {
        b.iter(|| w200_from_working_copy(&large_working))
    });
    g.bench_function("alpha.png -> w200.png (ours)", |b| {
        b.iter(|| pipeline::render(black_box(&alpha), &spec(200, ImageFormat::Png), &LIMITS).unwrap())
    });
    g.finish();
}

criterion_group!(benches, probe, decoding, resizing, encoding, whole_render);
criterion_main!(benches);
