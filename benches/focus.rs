//! Criterion benches of the focus (DESIGN.md §14): what finding it adds to an upload's work, and
//! what a cover crop placed around the stored focus costs against a centred one
//! (`cargo bench --bench focus`; figures in benches/quality/results/focus-*.md).
//!
//! Inputs: the 12 MP phone photo of the shared corpus (`jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg`,
//! EXIF orientation 6, no human face: both the face detector and the saliency run) and the
//! astronaut of scikit-image (`tests/it/golden/focus/astronaut.png`, 512x512, one face, no
//! working copy). Renders read the working copy the server would pick, as a miss does.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use image_server::model::{Geometry, ImageFormat};
use image_server::pipeline::focus::{self, ANALYSIS_SIDE, FocusInfo};
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

/// `working_copy_max_side`'s default.
const WORKING_COPY_MAX_SIDE: u32 = 2048;

/// The working copies' sizes of an original, as an upload makes them.
fn copy_sizes(original: &[u8]) -> [Option<(u32, u32)>; 2] {
    let facts = pipeline::probe(original, &LIMITS).unwrap();
    pipeline::working_copy_sizes(facts.width, facts.height, facts.format, WORKING_COPY_MAX_SIDE)
}

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

/// An upload's work on the pool (`Originals::store`), with and without finding the focus.
fn upload(c: &mut Criterion) {
    let (dog, astronaut) = (corpus("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg"), fixture("astronaut.png"));
    let (dog_sizes, astronaut_sizes) = (copy_sizes(&dog), copy_sizes(&astronaut));
    let dog_copies = pipeline::make_working_copies(&dog, dog_sizes, &LIMITS).unwrap();
    let astronaut_copies = pipeline::make_working_copies(&astronaut, astronaut_sizes, &LIMITS).unwrap();
    assert!(astronaut_copies.copies.is_empty());
    let dog_analysed = analysed_copy(&dog);
    let mut g = c.benchmark_group("upload of a 12 MP JPEG");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("working copies and placeholder (no focus: before issue 20)", |b| {
        b.iter(|| pipeline::make_working_copies(black_box(&dog), dog_sizes, &LIMITS).unwrap())
    });
    g.bench_function("working copies, placeholder and focus (an upload now)", |b| {
        b.iter(|| {
            let copies = pipeline::make_working_copies(black_box(&dog), dog_sizes, &LIMITS).unwrap();
            focus::detect_at_upload(&dog, &copies, &LIMITS).unwrap()
        })
    });
    g.bench_function("focus alone, from the 768x1024 working copy (what an upload adds)", |b| {
        b.iter(|| focus::detect_at_upload(black_box(&dog), &dog_copies, &LIMITS).unwrap())
    });
    g.bench_function("focus from the original (decode to 512 px, faces, saliency)", |b| {
        b.iter(|| focus::detect(black_box(&dog), &LIMITS).unwrap())
    });
    g.bench_function("faces and saliency alone, on the 384x512 analysed copy", |b| {
        b.iter(|| focus::analyse(black_box(dog_analysed.clone())).unwrap())
    });
    g.finish();
    let mut g = c.benchmark_group("upload of a 512x512 PNG with a face");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    g.bench_function("focus from the original (no working copy)", |b| {
        b.iter(|| focus::detect_at_upload(black_box(&astronaut), &astronaut_copies, &LIMITS).unwrap())
    });
    g.finish();
}

/// A miss of `x200.jpg` and `600x200.jpg` of the 12 MP photo, from the working copy the server
/// picks, centred and placed around the focus stored at upload (read, not computed: the box is
/// placed from the stored fractions inside the timed loop, as the service does).
fn placed_render(c: &mut Criterion) {
    let dog = corpus("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg");
    let facts = pipeline::probe(&dog, &LIMITS).unwrap();
    let size = (facts.width, facts.height);
    let copies = pipeline::make_working_copies(&dog, copy_sizes(&dog), &LIMITS).unwrap();
    let stored: FocusInfo = serde_json::from_str(
        &serde_json::to_string(&focus::detect_at_upload(&dog, &copies, &LIMITS).unwrap()).unwrap(),
    )
    .unwrap();
    for geometry in [Geometry::Square(200), Geometry::Rect { width: 600, height: 200 }] {
        // The smallest copy that suffices, as RenderPlan orders them.
        let (_, copy) = copies
            .copies
            .iter()
            .rev()
            .find(|(_, c)| pipeline::working_copy_suffices(size, (c.width, c.height), geometry))
            .expect("a working copy suffices");
        let spec = |placement| RenderSpec {
            geometry,
            format: ImageFormat::Jpeg,
            quality: 80,
            effort: Effort::Fast,
            placement,
        };
        let mut g = c.benchmark_group(format!(
            "render 12 MP JPEG -> {geometry}.jpg from its {}x{} copy",
            copy.width, copy.height
        ));
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        g.bench_function("centred", |b| {
            b.iter(|| {
                pipeline::render_from_working_copy(black_box(&copy.bytes), size, &spec(Placement::Centre), &LIMITS)
            })
        });
        g.bench_function("placed around the stored focus", |b| {
            b.iter(|| {
                let placement = black_box(&stored).placement();
                pipeline::render_from_working_copy(black_box(&copy.bytes), size, &spec(placement), &LIMITS)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, upload, placed_render);
criterion_main!(benches);
