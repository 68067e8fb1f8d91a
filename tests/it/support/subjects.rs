//! The focus crop evaluation's set and measures (issue 20): photos with their subjects labelled
//! by hand (`golden/subjects.tsv`), where a cover crop came from in its original (found in the
//! pixels, whoever made the crop), how much of the subject it kept, and the reference crops of
//! `vipsthumbnail --smartcrop attention`. Shared by the pipeline tests and the HTTP ones.

use std::path::{Path, PathBuf};

use image::DynamicImage;
use image_server::config::Config;
use image_server::model::{Geometry, ImageFormat};
use image_server::pipeline::{self, Effort, Limits, Placement, RenderSpec, plan};

use super::corpus;

/// The crop shapes measured: a square thumbnail, a banner and a tower.
pub const SHAPES: [(u32, u32); 3] = [(200, 200), (600, 200), (200, 600)];

/// A photo of the set.
#[derive(Clone, Debug)]
pub struct Labelled {
    /// As written in the TSV (`corpus:jpeg/...` or `focus:astronaut.png`).
    pub name: String,
    pub path: PathBuf,
    /// The subject, `[x0, y0, x1, y1]` in pixels of the upright original.
    pub subject: [f64; 4],
    pub what: String,
}

impl Labelled {
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.path).unwrap_or_else(|e| panic!("{}: {e}", self.path.display()))
    }
}

/// Every labelled photo.
pub fn set() -> Vec<Labelled> {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden");
    let text = std::fs::read_to_string(golden.join("subjects.tsv")).expect("golden/subjects.tsv");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("file\t") && !l.trim().is_empty())
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 6, "subjects.tsv: {line}");
            let path = match cols[0].split_once(':') {
                Some(("corpus", rel)) => corpus::dir().join(rel),
                Some(("focus", rel)) => golden.join("focus").join(rel),
                _ => panic!("subjects.tsv: unknown source in {}", cols[0]),
            };
            let n = |i: usize| cols[i].parse::<f64>().unwrap_or_else(|e| panic!("subjects.tsv: {line}: {e}"));
            Labelled { name: cols[0].to_owned(), path, subject: [n(1), n(2), n(3), n(4)], what: cols[5].to_owned() }
        })
        .collect()
}

/// A crop box on the upright original: left, top, width, height in its pixels.
pub type Boxed = [f64; 4];

/// How much of `subject` a crop box keeps: of its area (`raw`), and of the most that a box of
/// that size could keep anywhere (`attainable`; a 600x200 banner of a portrait cannot hold a face
/// taller than the banner, wherever it goes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Kept {
    pub raw: f64,
    pub attainable: f64,
}

pub fn kept(crop: Boxed, subject: [f64; 4]) -> Kept {
    let [left, top, w, h] = crop;
    let overlap = |a0: f64, a1: f64, b0: f64, b1: f64| (a1.min(b1) - a0.max(b0)).max(0.0);
    let inside = overlap(left, left + w, subject[0], subject[2]) * overlap(top, top + h, subject[1], subject[3]);
    let (sw, sh) = (subject[2] - subject[0], subject[3] - subject[1]);
    Kept { raw: inside / (sw * sh), attainable: inside / (w.min(sw) * h.min(sh)) }
}

/// Luma as f32, for matching.
pub struct Gray {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Gray {
    pub fn of(image: &DynamicImage) -> Gray {
        let luma = image.to_luma8();
        let (width, height) = (luma.width() as usize, luma.height() as usize);
        Gray { width, height, data: luma.into_raw().into_iter().map(f32::from).collect() }
    }

    pub fn decode(bytes: &[u8]) -> Gray {
        Gray::of(&image::load_from_memory(bytes).expect("the crop decodes"))
    }
}

/// Where `crop` (an output of a cover crop) sits in `reference` (the whole upright original,
/// scaled as the crop was, so one side of both is the same length): the offset along the other
/// side, in reference pixels, with the best normalised cross-correlation of their luma, and that
/// correlation (1 = the same picture).
pub fn locate(reference: &Gray, crop: &Gray) -> (usize, f64) {
    let along_x = reference.width > crop.width;
    let span = if along_x { reference.width - crop.width } else { reference.height.saturating_sub(crop.height) };
    let (w, h) = (crop.width.min(reference.width), crop.height.min(reference.height));
    let crop_at = |x: usize, y: usize| f64::from(crop.data[y * crop.width + x]);
    let window_mean = |at: &dyn Fn(usize, usize) -> f64| {
        (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| at(x, y)).sum::<f64>() / (w * h) as f64
    };
    let crop_mean = window_mean(&crop_at);
    let mut best = (0, f64::MIN);
    for offset in 0..=span {
        let (dx, dy) = if along_x { (offset, 0) } else { (0, offset) };
        let ref_at = |x: usize, y: usize| f64::from(reference.data[(y + dy) * reference.width + x + dx]);
        let ref_mean = window_mean(&ref_at);
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for y in 0..h {
            for x in 0..w {
                let (a, b) = (ref_at(x, y) - ref_mean, crop_at(x, y) - crop_mean);
                (ab, aa, bb) = (ab + a * b, aa + a * a, bb + b * b);
            }
        }
        let ncc = ab / (aa * bb).sqrt().max(1e-9);
        if ncc > best.1 {
            best = (offset, ncc);
        }
    }
    best
}

/// The crop box on the original (`width` x `height` upright) that a `w` x `h` cover crop found
/// at `offset` of its reference shows.
pub fn box_at(width: u32, height: u32, (w, h): (u32, u32), offset: usize, reference: &Gray) -> Boxed {
    let (sw, sh) = (f64::from(width), f64::from(height));
    let scale = f64::max(f64::from(w) / sw, f64::from(h) / sh);
    let (cw, ch) = ((f64::from(w) / scale).min(sw), (f64::from(h) / scale).min(sh));
    if reference.width > w as usize {
        [offset as f64 * sw / reference.width as f64, 0.0, cw, ch]
    } else {
        [0.0, offset as f64 * sh / reference.height as f64, cw, ch]
    }
}

/// libvips' attention crop of `path` at `w` x `h`, as PNG bytes (`vipsthumbnail`, Debian's
/// libvips-tools; scripts/test installs it).
pub fn vips_attention(path: &Path, (w, h): (u32, u32)) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("crop.png");
    let run = std::process::Command::new("vipsthumbnail")
        .arg(path)
        .args(["--smartcrop", "attention", "--size", &format!("{w}x{h}"), "-o"])
        .arg(&out)
        .output()
        .unwrap_or_else(|e| panic!("vipsthumbnail: {e}: run scripts/test, which installs libvips-tools"));
    assert!(run.status.success(), "vipsthumbnail {}: {}", path.display(), String::from_utf8_lossy(&run.stderr));
    std::fs::read(&out).expect("vipsthumbnail wrote the crop")
}

/// The server's default decode limits.
pub fn limits() -> Limits {
    image_server::service::render_limits(&Config::defaults())
}

/// `x{S}` for a square shape, `{W}x{H}` otherwise.
pub fn geometry((w, h): (u32, u32)) -> Geometry {
    if w == h { Geometry::Square(w) } else { Geometry::Rect { width: w, height: h } }
}

/// The variant name of a shape as a PNG (lossless, so that a crop is found precisely).
pub fn png_name(shape: (u32, u32)) -> String {
    format!("{}.png", geometry(shape))
}

pub fn png(geometry: Geometry, placement: Placement) -> RenderSpec {
    RenderSpec { geometry, format: ImageFormat::Png, quality: 100, effort: Effort::Fast, placement }
}

/// The whole upright original, scaled as a `w` x `h` cover crop of it is: where crops are found.
pub fn reference(bytes: &[u8], (width, height): (u32, u32), (w, h): (u32, u32)) -> Gray {
    let scale = f64::max(f64::from(w) / f64::from(width), f64::from(h) / f64::from(height));
    let rw = ((f64::from(width) * scale).round() as u32).max(w);
    let rh = ((f64::from(height) * scale).round() as u32).max(h);
    let spec = png(Geometry::Rect { width: rw, height: rh }, Placement::Centre);
    Gray::decode(&pipeline::render(bytes, &spec, &limits()).unwrap().bytes)
}

/// Finds `crop` in `reference` and gives its box on the original, insisting that it was found.
pub fn found(reference: &Gray, crop: &[u8], size: (u32, u32), shape: (u32, u32), what: &str) -> Boxed {
    let (offset, ncc) = locate(reference, &Gray::decode(crop));
    assert!(ncc > 0.9, "{what}: the crop does not match its original anywhere (best correlation {ncc:.3})");
    box_at(size.0, size.1, shape, offset, reference)
}

/// Asserts a found box is the planned one, within a pixel and a half of the crop's scale.
pub fn assert_at(found: Boxed, planned: plan::CropBox, shape: (u32, u32), what: &str) {
    let source_px = f64::max(planned.width / f64::from(shape.0), planned.height / f64::from(shape.1));
    let off = f64::max((found[0] - planned.left).abs(), (found[1] - planned.top).abs());
    assert!(off <= 1.5 * source_px, "{what}: rendered at {found:?}, planned at {planned:?}");
}

#[test]
fn focus_measure_of_kept_fractions() {
    let subject = [100.0, 100.0, 200.0, 300.0];
    assert_eq!(kept([0.0, 0.0, 1000.0, 1000.0], subject), Kept { raw: 1.0, attainable: 1.0 });
    assert_eq!(kept([150.0, 0.0, 1000.0, 1000.0], subject), Kept { raw: 0.5, attainable: 0.5 });
    // A 100-row banner keeps at most half of the 200-row subject.
    assert_eq!(kept([0.0, 150.0, 1000.0, 100.0], subject), Kept { raw: 0.5, attainable: 1.0 });
    assert_eq!(kept([300.0, 0.0, 100.0, 100.0], subject), Kept { raw: 0.0, attainable: 0.0 });
}

#[test]
fn focus_measure_locates_a_window_of_a_picture() {
    let reference = Gray {
        width: 40,
        height: 10,
        data: (0..400).map(|i| ((i % 40) * (i / 40) % 17) as f32 + (i % 7) as f32).collect(),
    };
    let crop =
        Gray { width: 10, height: 10, data: (0..100).map(|i| reference.data[(i / 10) * 40 + 23 + i % 10]).collect() };
    let (offset, ncc) = locate(&reference, &crop);
    assert_eq!(offset, 23);
    assert!(ncc > 0.999);
}
