//! Geometry maths only: from the upright source size and the asked geometry to a crop box on the
//! source and an output size, and where a cover crop's box goes (the centre, or around a subject
//! found once at upload). No pixels here.

use crate::model::Geometry;

/// A region of the source, in (possibly fractional) source pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropBox {
    /// Left edge.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl CropBox {
    /// The whole of a `width` x `height` image.
    pub fn full(width: u32, height: u32) -> Self {
        Self { left: 0.0, top: 0.0, width: f64::from(width), height: f64::from(height) }
    }

    /// The same region on a copy of the image scaled by `sx` horizontally and `sy` vertically.
    pub fn scaled(self, sx: f64, sy: f64) -> Self {
        Self { left: self.left * sx, top: self.top * sy, width: self.width * sx, height: self.height * sy }
    }
}

/// What to cut from the source and how big the result is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// The part of the source that ends up in the output.
    pub crop: CropBox,
    /// Output width.
    pub width: u32,
    /// Output height.
    pub height: u32,
}

/// Plans `geometry` on a `src_w` x `src_h` (upright) source.
///
/// - `w{W}` / `h{H}`: never larger than the source; the other side rounded to the nearest pixel,
///   at least 1.
/// - `x{S}` / `{W}x{H}`: exactly the asked size, scaled to cover it and cropped around the centre,
///   enlarging if the source is smaller.
/// - `full`: the source size.
pub fn plan(src_w: u32, src_h: u32, geometry: Geometry) -> Plan {
    let full = CropBox::full(src_w, src_h);
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    match geometry {
        Geometry::Full => Plan { crop: full, width: src_w, height: src_h },
        Geometry::Width(w) => {
            let width = w.min(src_w);
            let height = proportional(sh, f64::from(width) / sw);
            Plan { crop: full, width, height }
        }
        Geometry::Height(h) => {
            let height = h.min(src_h);
            let width = proportional(sw, f64::from(height) / sh);
            Plan { crop: full, width, height }
        }
        Geometry::Square(s) => cover(sw, sh, s, s),
        Geometry::Rect { width, height } => cover(sw, sh, width, height),
    }
}

/// Where the box of a cover crop (`x{S}`, `{W}x{H}`) goes on the source. Its size is the same
/// either way: only its position moves.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Placement {
    /// Centred: the box of [`plan`], so existing URLs keep their bytes.
    #[default]
    Centre,
    /// Around the subject, clamped inside the image.
    Subject(Subject),
}

/// What a cover crop should keep, in fractions (0..=1) of the upright image: made from the focus
/// and faces stored with an original (see `pipeline::focus`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Subject {
    /// The focus point `[x, y]`: the centre of a crop when there are no faces.
    pub focus: [f64; 2],
    /// The box around every face, `[x0, y0, x1, y1]`, if any face was found.
    pub all_faces: Option<[f64; 4]>,
    /// The largest face, `[x0, y0, x1, y1]`, if any.
    pub largest_face: Option<[f64; 4]>,
}

/// [`plan`], with the cover crop's box placed as `placement` says: centred on the box around every
/// face when it fits inside the crop, else on the largest face, else on the focus point; clamped
/// inside the source. `Placement::Centre` and the geometries that do not crop give exactly
/// [`plan`]. A pure function of its arguments, so every node cuts the same box.
pub fn plan_with(src_w: u32, src_h: u32, geometry: Geometry, placement: Placement) -> Plan {
    let plan = plan(src_w, src_h, geometry);
    match (placement, geometry) {
        (Placement::Subject(subject), Geometry::Square(_) | Geometry::Rect { .. }) => {
            Plan { crop: place(plan.crop, f64::from(src_w), f64::from(src_h), &subject), ..plan }
        }
        _ => plan,
    }
}

/// Moves a `crop`-sized box of a `sw` x `sh` source over the subject.
fn place(crop: CropBox, sw: f64, sh: f64, subject: &Subject) -> CropBox {
    let pixels = |b: [f64; 4]| [b[0] * sw, b[1] * sh, b[2] * sw, b[3] * sh];
    let centre = |b: [f64; 4]| ((b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0);
    // A box fits when it is no larger than the crop (with a hair of slack for rounding).
    let fits = |b: [f64; 4]| b[2] - b[0] <= crop.width + 1e-6 && b[3] - b[1] <= crop.height + 1e-6;
    let (cx, cy) = match (subject.all_faces.map(pixels), subject.largest_face.map(pixels)) {
        (Some(all), _) if fits(all) => centre(all),
        // The largest face, even when it does not fit: its middle (eyes, nose) is kept.
        (_, Some(largest)) => centre(largest),
        (Some(all), None) => centre(all),
        (None, None) => (subject.focus[0] * sw, subject.focus[1] * sh),
    };
    let along = |c: f64, size: f64, side: f64| {
        let c = if c.is_finite() { c } else { side / 2.0 };
        (c - size / 2.0).clamp(0.0, (side - size).max(0.0))
    };
    CropBox { left: along(cx, crop.width, sw), top: along(cy, crop.height, sh), ..crop }
}

fn proportional(side: f64, scale: f64) -> u32 {
    ((side * scale).round() as u32).max(1)
}

fn cover(sw: f64, sh: f64, width: u32, height: u32) -> Plan {
    let scale = f64::max(f64::from(width) / sw, f64::from(height) / sh);
    let (cw, ch) = ((f64::from(width) / scale).min(sw), (f64::from(height) / scale).min(sh));
    let crop = CropBox { left: (sw - cw) / 2.0, top: (sh - ch) / 2.0, width: cw, height: ch };
    Plan { crop, width, height }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTRAIT: (u32, u32) = (3024, 4032);
    const LANDSCAPE: (u32, u32) = (1920, 1200);
    const TINY: (u32, u32) = (1, 1);
    const HUGE: (u32, u32) = (6028, 3391);

    fn size(src: (u32, u32), g: Geometry) -> (u32, u32) {
        let p = plan(src.0, src.1, g);
        (p.width, p.height)
    }

    #[test]
    fn output_sizes_table() {
        use Geometry::*;
        let rect = |width, height| Rect { width, height };
        let table = [
            (LANDSCAPE, Width(200), (200, 125)),
            (LANDSCAPE, Width(5000), (1920, 1200)),
            (LANDSCAPE, Height(300), (480, 300)),
            (LANDSCAPE, Height(9999), (1920, 1200)),
            (LANDSCAPE, Square(300), (300, 300)),
            (LANDSCAPE, Square(4096), (4096, 4096)),
            (LANDSCAPE, rect(300, 200), (300, 200)),
            (LANDSCAPE, rect(100, 1000), (100, 1000)),
            (LANDSCAPE, Full, (1920, 1200)),
            (PORTRAIT, Width(200), (200, 267)),
            (PORTRAIT, Height(200), (150, 200)),
            (PORTRAIT, Square(200), (200, 200)),
            (PORTRAIT, rect(300, 200), (300, 200)),
            (PORTRAIT, Full, (3024, 4032)),
            (TINY, Width(200), (1, 1)),
            (TINY, Height(200), (1, 1)),
            (TINY, Square(200), (200, 200)),
            (TINY, rect(300, 200), (300, 200)),
            (TINY, Full, (1, 1)),
            (HUGE, Width(1), (1, 1)),
            (HUGE, Width(200), (200, 113)),
            (HUGE, Height(1), (2, 1)),
            (HUGE, Square(1), (1, 1)),
            (HUGE, rect(4096, 10), (4096, 10)),
            ((5120, 2880), Width(200), (200, 113)),
            ((10000, 10), Width(100), (100, 1)),
            ((10, 10000), Height(100), (1, 100)),
        ];
        for (src, g, want) in table {
            assert_eq!(size(src, g), want, "{src:?} {g}");
        }
    }

    #[test]
    fn width_and_height_never_enlarge() {
        for src in [PORTRAIT, LANDSCAPE, TINY, HUGE] {
            for n in [1, 2, 199, 200, 1000, 4096, u32::MAX] {
                let (w, h) = size(src, Geometry::Width(n));
                assert!(w <= src.0 && h <= src.1 && w >= 1 && h >= 1, "{src:?} w{n} -> {w}x{h}");
                let (w, h) = size(src, Geometry::Height(n));
                assert!(w <= src.0 && h <= src.1 && w >= 1 && h >= 1, "{src:?} h{n} -> {w}x{h}");
            }
        }
    }

    #[test]
    fn cover_crops_are_centred_inside_the_source_with_the_output_aspect() {
        for src in [PORTRAIT, LANDSCAPE, TINY, HUGE] {
            for (w, h) in [(1, 1), (300, 200), (200, 300), (4096, 4096), (1, 4096)] {
                let p = plan(src.0, src.1, Geometry::Rect { width: w, height: h });
                let c = p.crop;
                assert!(c.left >= 0.0 && c.top >= 0.0, "{src:?} {w}x{h}: {c:?}");
                assert!(c.left + c.width <= f64::from(src.0) + 1e-9);
                assert!(c.top + c.height <= f64::from(src.1) + 1e-9);
                // Centred: equal margins on both sides.
                let right = f64::from(src.0) - c.left - c.width;
                let bottom = f64::from(src.1) - c.top - c.height;
                assert!((c.left - right).abs() < 1e-6 && (c.top - bottom).abs() < 1e-6);
                // One side is the whole source; the aspect ratio is the output's.
                assert!((c.width - f64::from(src.0)).abs() < 1e-6 || (c.height - f64::from(src.1)).abs() < 1e-6);
                let aspect = c.width / c.height;
                assert!((aspect - f64::from(w) / f64::from(h)).abs() / aspect < 1e-9, "{src:?} {w}x{h}: {c:?}");
            }
        }
    }
}

#[cfg(test)]
mod placement_tests {
    use super::*;

    const PORTRAIT: (u32, u32) = (3024, 4032);
    const LANDSCAPE: (u32, u32) = (1920, 1200);

    fn point(x: f64, y: f64) -> Placement {
        Placement::Subject(Subject { focus: [x, y], all_faces: None, largest_face: None })
    }

    /// Faces in fractions; the focus is left in the middle, as faces take precedence.
    fn faces(boxes: &[[f64; 4]]) -> Placement {
        let area = |b: &[f64; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        let largest_face = boxes.iter().copied().reduce(|a, b| if area(&b) > area(&a) { b } else { a });
        let all_faces =
            boxes.iter().copied().reduce(|a, b| [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]);
        Placement::Subject(Subject { focus: [0.5, 0.5], all_faces, largest_face })
    }

    #[test]
    fn crop_positions_table() {
        use Geometry::*;
        let banner = Rect { width: 600, height: 200 };
        let tower = Rect { width: 200, height: 600 };
        // (source, geometry, placement, expected (left, top) of the crop box)
        let table = [
            // x200 of a landscape: a 1200 px square sliding along x.
            (LANDSCAPE, Square(200), point(0.5, 0.5), (360.0, 0.0)),
            (LANDSCAPE, Square(200), point(0.1, 0.9), (0.0, 0.0)),
            (LANDSCAPE, Square(200), point(0.6, 0.5), (552.0, 0.0)),
            (LANDSCAPE, Square(200), point(0.75, 0.5), (720.0, 0.0)),
            (LANDSCAPE, Square(200), point(1.0, 1.0), (720.0, 0.0)),
            // 600x200 of a landscape: the whole width, 640 rows sliding along y.
            (LANDSCAPE, banner, point(0.3, 0.1), (0.0, 0.0)),
            (LANDSCAPE, banner, point(0.3, 0.4), (0.0, 160.0)),
            (LANDSCAPE, banner, point(0.3, 0.9), (0.0, 560.0)),
            // 200x600 of a landscape: 400 columns.
            (LANDSCAPE, tower, point(0.25, 0.5), (280.0, 0.0)),
            // Every face fits in a portrait's x200 (3024 square): centred on them, clamped.
            (PORTRAIT, Square(200), faces(&[[0.1, 0.05, 0.3, 0.2], [0.6, 0.1, 0.8, 0.25]]), (0.0, 0.0)),
            (PORTRAIT, Square(200), faces(&[[0.1, 0.5, 0.3, 0.6], [0.6, 0.55, 0.8, 0.7]]), (0.0, 907.2)),
            // They do not all fit in a 1008-row banner: the largest face is centred.
            (PORTRAIT, banner, faces(&[[0.2, 0.05, 0.4, 0.2], [0.5, 0.4, 0.8, 0.6]]), (0.0, 1512.0)),
            // Nor does the one face: still centred on it.
            (PORTRAIT, banner, faces(&[[0.1, 0.3, 0.9, 0.7]]), (0.0, 1512.0)),
            // A face in a 200x600 tower (1344 columns): centred on it.
            (PORTRAIT, tower, faces(&[[0.7, 0.2, 0.9, 0.35]]), (1680.0, 0.0)),
            // Not a number: the middle.
            (LANDSCAPE, Square(200), point(f64::NAN, 0.5), (360.0, 0.0)),
        ];
        for (src, g, placement, want) in table {
            let p = plan_with(src.0, src.1, g, placement);
            let centred = plan(src.0, src.1, g);
            assert_eq!((p.width, p.height), (centred.width, centred.height), "{src:?} {g}");
            assert_eq!((p.crop.width, p.crop.height), (centred.crop.width, centred.crop.height), "{src:?} {g}");
            let got = (p.crop.left, p.crop.top);
            assert!(
                (got.0 - want.0).abs() < 1e-6 && (got.1 - want.1).abs() < 1e-6,
                "{src:?} {g} {placement:?}: {got:?}"
            );
        }
    }

    #[test]
    fn centre_and_uncropped_geometries_are_exactly_plan() {
        use Geometry::*;
        let subject = faces(&[[0.0, 0.0, 0.1, 0.1]]);
        for src in [PORTRAIT, LANDSCAPE, (1, 1), (6028, 3391), (10, 10000)] {
            for g in [Width(200), Height(300), Full, Square(200), Rect { width: 600, height: 200 }, Square(4096)] {
                assert_eq!(plan_with(src.0, src.1, g, Placement::Centre), plan(src.0, src.1, g), "{src:?} {g}");
                if matches!(g, Width(_) | Height(_) | Full) {
                    assert_eq!(plan_with(src.0, src.1, g, subject), plan(src.0, src.1, g), "{src:?} {g}");
                }
            }
        }
    }

    #[test]
    fn placed_boxes_stay_inside_the_source() {
        use Geometry::*;
        let fractions = [-0.5, 0.0, 0.01, 0.33, 0.5, 0.99, 1.0, 1.5, f64::INFINITY];
        for src in [PORTRAIT, LANDSCAPE, (1, 1), (6028, 3391), (10, 10000), (333, 333)] {
            for g in [Square(1), Square(200), Rect { width: 600, height: 200 }, Rect { width: 1, height: 4096 }] {
                for &x in &fractions {
                    for &y in &fractions {
                        for placement in [point(x, y), faces(&[[x, y, 0.5, 0.5], [0.2, 0.2, x, y]])] {
                            let c = plan_with(src.0, src.1, g, placement).crop;
                            assert!(c.left >= 0.0 && c.top >= 0.0, "{src:?} {g} {placement:?}: {c:?}");
                            assert!(c.left + c.width <= f64::from(src.0) + 1e-9, "{src:?} {g} {placement:?}: {c:?}");
                            assert!(c.top + c.height <= f64::from(src.1) + 1e-9, "{src:?} {g} {placement:?}: {c:?}");
                        }
                    }
                }
            }
        }
    }
}
