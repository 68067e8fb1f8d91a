//! Criterion benches of focus detection (DESIGN.md §14), run once per original at upload, and of
//! a cover crop placed around the focus against a centred one (`cargo bench --bench focus`).
//!
//! Inputs: the 12 MP phone photo of the shared corpus (`jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg`,
//! EXIF orientation 6, no human face: both the face detector and the saliency run) and the
//! astronaut of scikit-image (`tests/it/golden/focus/astronaut.png`, one face).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use image_server::model::{Geometry, ImageFormat};
use image_server::pipeline::focus::{self, ANALYSIS_SIDE};
use image_server::pipeline::{self, Bitmap, Effort, Layout, Limits, Placement, RenderSpec};

fn read(path: PathBuf) -> Vec<u8> {
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn corpus(rel: &str) -> Vec<u8> {
    read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus").join(rel))
}

fn fixture(name: &str) -> Vec<u8> {
    read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/focus").join(name))
}

static LIMITS: std::sync::LazyLock<Limits> =
    std::sync::LazyLock::new(|| image_server::service::render_limits(&image_server::config::Config::defaults()));

/// The upright, sRGB copy that detection analyses, made once outside the timed loop.
fn analysed_copy(bytes: &[u8]) -> Bitmap {
    let facts = pipeline::probe(bytes, &LIMITS).unwrap();
    let geometry =
        if facts.width >= facts.height { Geometry::Width(ANALYSIS_SIDE) } else { Geometry::Height(ANALYSIS_SIDE) };
    let spec = RenderSpec {
        geometry,
        format: ImageFormat::Png,
        quality: 100,
        effort: Effort::Fast,
        placement: Placement::Centre,
    };
    let png = pipeline::render(bytes, &spec, &LIMITS).unwrap();
    let rgb = image::load_from_memory(&png.bytes).unwrap().to_rgb8();
    Bitmap::new(Layout::Rgb, rgb.width(), rgb.height(), rgb.into_raw())
}

/// The small-tier working copy (1024 px) the server makes at upload.
fn working_copy(original: &[u8]) -> Vec<u8> {
    let facts = pipeline::probe(original, &LIMITS).unwrap();
    let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, 2048);
    pipeline::make_working_copies(original, sizes, &LIMITS).unwrap().copies.pop().expect("a small tier").1.bytes
}

fn detection(c: &mut Criterion) {
    let (dog, astronaut) = (corpus("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg"), fixture("astronaut.png"));
    let (dog_copy, astronaut_copy, dog_working) = (analysed_copy(&dog), analysed_copy(&astronaut), working_copy(&dog));
    let mut g = c.benchmark_group("focus");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("12 MP JPEG: detect (decode to 512 px, faces, saliency)", |b| {
        b.iter(|| focus::detect(black_box(&dog), &LIMITS).unwrap())
    });
    g.bench_function("12 MP JPEG: detect from its 1024 px working copy", |b| {
        b.iter(|| focus::detect(black_box(&dog_working), &LIMITS).unwrap())
    });
    g.bench_function("12 MP JPEG: analyse its 384x512 copy (faces, saliency)", |b| {
        b.iter(|| focus::analyse(black_box(dog_copy.clone())).unwrap())
    });
    g.bench_function("astronaut: analyse 512x512 (one face, no saliency)", |b| {
        b.iter(|| focus::analyse(black_box(astronaut_copy.clone())).unwrap())
    });
    g.finish();
}

fn placed_render(c: &mut Criterion) {
    let dog = corpus("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg");
    let placement = focus::detect(&dog, &LIMITS).unwrap().placement();
    let spec = |placement| RenderSpec {
        geometry: Geometry::Rect { width: 600, height: 200 },
        format: ImageFormat::Jpeg,
        quality: 80,
        effort: Effort::Fast,
        placement,
    };
    let mut g = c.benchmark_group("render 12 MP JPEG -> 600x200.jpg");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.bench_function("centred", |b| b.iter(|| pipeline::render(black_box(&dog), &spec(Placement::Centre), &LIMITS)));
    g.bench_function("placed around the stored focus", |b| {
        b.iter(|| pipeline::render(black_box(&dog), &spec(placement), &LIMITS))
    });
    g.finish();
}

criterion_group!(benches, detection, placed_render);
criterion_main!(benches);
