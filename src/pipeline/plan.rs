//! Geometry maths only: from the upright source size and the asked geometry to a crop box on the
//! source and an output size. No pixels here.

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
