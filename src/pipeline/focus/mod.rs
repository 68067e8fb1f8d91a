//! Focus detection (DESIGN.md §14): where the subject of an original is, found once (at upload)
//! from a small upright copy, so that cover crops can be placed around it. Faces by SeetaFace's
//! detector (`faces`); where there is none, a saliency centre (`saliency`). Pure and
//! synchronous like the rest of the pipeline; storing the answer and counting detections are the
//! service's business.
//!
//! The answer is rounded to what `info.json` stores, so that a crop placed from a fresh detection
//! and one placed from the stored JSON are the same box, on every node.

mod faces;
mod saliency;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::bitmap::{Bitmap, Layout};
use super::plan::{CropBox, Placement, Subject};
use super::{Limits, RenderError, UploadCopies, codec, color, render_bitmap, resize, working};

/// Long side of the upright copy that faces and saliency are looked for in: faces down to 20 px
/// there (4 % of the long side) are found, and detection stays cheap.
pub const ANALYSIS_SIDE: u32 = 512;

/// Decimal places the stored fractions keep (a tenth of a pixel on a 1000 px image).
const PLACES: f64 = 10_000.0;

/// A point of the upright image, as fractions of its width and height (0 = left/top, 1 =
/// right/bottom).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FocusPoint {
    /// From the left edge.
    pub x: f32,
    /// From the top edge.
    pub y: f32,
}

impl FocusPoint {
    /// A point from fractions in 0..=1, rounded to the stored precision; `None` outside that range
    /// (or not a number).
    pub fn new(x: f64, y: f64) -> Option<Self> {
        let valid = |v: f64| (0.0..=1.0).contains(&v);
        (valid(x) && valid(y)).then(|| FocusPoint { x: stored(x), y: stored(y) })
    }
}

/// `X,Y` as fractions (the `?focus=0.42,0.18` of an upload).
impl FromStr for FocusPoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("focus '{s}' is not X,Y with X and Y fractions between 0 and 1");
        let (x, y) = s.split_once(',').ok_or_else(bad)?;
        let (x, y) = (x.trim().parse::<f64>().map_err(|_| bad())?, y.trim().parse::<f64>().map_err(|_| bad())?);
        FocusPoint::new(x, y).ok_or_else(bad)
    }
}

impl fmt::Display for FocusPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.x, self.y)
    }
}

/// What `info.json` stores about an original's subject: `"focus": {"x", "y"}` and `"faces":
/// [[x0, y0, x1, y1], ...]`, all fractions of the upright image, faces largest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FocusInfo {
    /// Where a crop without faces to keep is centred.
    pub focus: FocusPoint,
    /// The faces found, `[x0, y0, x1, y1]`, largest first.
    #[serde(default)]
    pub faces: Vec<[f32; 4]>,
}

impl FocusInfo {
    /// A focus set by hand (`?focus=`, `PUT .../focus`): no faces, so crops centre on the point.
    pub fn at(point: FocusPoint) -> Self {
        FocusInfo { focus: point, faces: Vec::new() }
    }

    /// How cover crops are placed for this original (in a namespace with `crop: "focus"`).
    pub fn placement(&self) -> Placement {
        let clamp = |v: f32| f64::from(v).clamp(0.0, 1.0);
        let boxes: Vec<[f64; 4]> =
            self.faces.iter().map(|b| b.map(clamp)).filter(|b| b[2] > b[0] && b[3] > b[1]).collect();
        let area = |b: &[f64; 4]| (b[2] - b[0]) * (b[3] - b[1]);
        let largest_face = boxes.iter().copied().reduce(|a, b| if area(&b) > area(&a) { b } else { a });
        let all_faces =
            boxes.iter().copied().reduce(|a, b| [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]);
        Placement::Subject(Subject { focus: [clamp(self.focus.x), clamp(self.focus.y)], all_faces, largest_face })
    }
}

/// Finds the focus of an original: decodes it small (scaled in the DCT domain where the format
/// allows), upright and in sRGB, then [`analyse`]s it. Refuses what a render would refuse.
pub fn detect(bytes: &[u8], limits: &Limits) -> Result<FocusInfo, RenderError> {
    let header = codec::read_header(bytes, limits)?;
    let (w, h) = header.orientation.upright_size(header.width, header.height);
    let small = render_bitmap(bytes, working::fit_geometry(w, h, ANALYSIS_SIDE), None, Placement::Centre, limits)?;
    analyse(small)
}

/// The focus an upload stores: found in the smallest of the working copies the upload made
/// (upright and sRGB already, and cheap to decode), else in the original.
pub fn detect_at_upload(original: &[u8], copies: &UploadCopies, limits: &Limits) -> Result<FocusInfo, RenderError> {
    match copies.copies.last() {
        Some((_, smallest)) => detect(&smallest.bytes, limits),
        None => detect(original, limits),
    }
}

/// The focus of an upright sRGB image (any layout; alpha is flattened onto white). Works on it
/// at most [`ANALYSIS_SIDE`] on its long side.
pub fn analyse(image: Bitmap) -> Result<FocusInfo, RenderError> {
    let image = color::flatten_onto_white(image);
    let image = if image.layout == Layout::Gray { image.into_rgb() } else { image };
    if image.layout != Layout::Rgb {
        return Err(RenderError::Internal(format!("focus of a {:?} image", image.layout)));
    }
    let image = shrink(image, ANALYSIS_SIDE)?;
    let (w, h) = (f64::from(image.width), f64::from(image.height));
    let gray: Vec<u8> = image
        .data
        .chunks_exact(3)
        .map(|p| ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8) as u8)
        .collect();
    let found = faces::detect(&gray, image.width, image.height);
    let mut boxes: Vec<[f64; 4]> =
        found.iter().map(|f| [f.bbox[0] / w, f.bbox[1] / h, f.bbox[2] / w, f.bbox[3] / h]).collect();
    let area = |b: &[f64; 4]| (b[2] - b[0]) * (b[3] - b[1]);
    boxes.sort_by(|a, b| area(b).total_cmp(&area(a)));
    let (x, y) = match boxes.as_slice() {
        [] => saliency::focus(&image, &shrink(image.clone(), saliency::MAP_SIDE)?),
        // The middle of the box around every face.
        faces => {
            let all = faces
                .iter()
                .fold([1.0f64, 1.0, 0.0, 0.0], |a, b| [a[0].min(b[0]), a[1].min(b[1]), a[2].max(b[2]), a[3].max(b[3])]);
            ((all[0] + all[2]) / 2.0, (all[1] + all[3]) / 2.0)
        }
    };
    let focus = FocusPoint::new(x.clamp(0.0, 1.0), y.clamp(0.0, 1.0)).expect("clamped into range");
    Ok(FocusInfo { focus, faces: boxes.into_iter().map(|b| b.map(stored)).collect() })
}

/// The image resized to at most `side` on its long side (never enlarged).
fn shrink(image: Bitmap, side: u32) -> Result<Bitmap, RenderError> {
    let (w, h) = (image.width, image.height);
    if w.max(h) <= side {
        return Ok(image);
    }
    let plan = super::plan::plan(w, h, working::fit_geometry(w, h, side));
    resize::resize(image, CropBox::full(w, h), plan.width, plan.height)
}

/// A fraction rounded to the stored precision.
fn stored(v: f64) -> f32 {
    ((v * PLACES).round() / PLACES) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_parse_validate_and_round() {
        assert_eq!("0.42,0.18".parse(), Ok(FocusPoint { x: 0.42, y: 0.18 }));
        assert_eq!(" 1 , 0 ".parse(), Ok(FocusPoint { x: 1.0, y: 0.0 }));
        assert_eq!(FocusPoint::new(0.123456, 0.5), Some(FocusPoint { x: 0.1235, y: 0.5 }));
        for bad in ["", "0.5", "0.5,", "a,b", "1.5,0.5", "0.5,-0.1", "NaN,0.5", "0.5,0.5,0.5", "inf,0"] {
            assert!(bad.parse::<FocusPoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn info_json_round_trips_exactly() {
        let info = FocusInfo {
            focus: FocusPoint::new(0.4213, 0.1799).unwrap(),
            faces: vec![[0.1, 0.2, 0.3, 0.4].map(stored), [0.5001, 0.6, 0.7, 0.8999].map(stored)],
        };
        let json = serde_json::to_string(&info).unwrap();
        assert_eq!(json, r#"{"focus":{"x":0.4213,"y":0.1799},"faces":[[0.1,0.2,0.3,0.4],[0.5001,0.6,0.7,0.8999]]}"#);
        let back: FocusInfo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, info);
        assert_eq!(back.placement(), info.placement());
        let no_faces: FocusInfo = serde_json::from_str(r#"{"focus":{"x":0.5,"y":0.25}}"#).unwrap();
        assert_eq!(no_faces, FocusInfo::at(FocusPoint { x: 0.5, y: 0.25 }));
    }

    #[test]
    fn placement_names_every_face_and_the_largest() {
        let info = FocusInfo {
            focus: FocusPoint { x: 0.5, y: 0.5 },
            faces: vec![[0.6, 0.1, 0.9, 0.5], [0.1, 0.2, 0.2, 0.3], [0.3, 0.3, 0.3, 0.3]],
        };
        let Placement::Subject(s) = info.placement() else { panic!("a subject") };
        let close = |a: [f64; 4], b: [f64; 4]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6);
        assert!(close(s.largest_face.unwrap(), [0.6, 0.1, 0.9, 0.5]));
        // The empty box (x0 == x1) is no face.
        assert!(close(s.all_faces.unwrap(), [0.1, 0.1, 0.9, 0.5]));
        assert_eq!(
            FocusInfo::at(FocusPoint { x: 0.2, y: 0.8 }).placement(),
            Placement::Subject(Subject {
                focus: [f64::from(0.2f32), f64::from(0.8f32)],
                all_faces: None,
                largest_face: None,
            })
        );
    }

    #[test]
    fn a_flat_image_focuses_on_its_middle_and_a_bright_spot_draws_it() {
        let flat = Bitmap::new(Layout::Rgb, 300, 200, vec![90; 300 * 200 * 3]);
        let info = analyse(flat).unwrap();
        assert!(info.faces.is_empty());
        assert!((info.focus.x - 0.5).abs() < 0.02 && (info.focus.y - 0.5).abs() < 0.02, "{info:?}");
        let mut spot = vec![90u8; 300 * 200 * 3];
        for y in 140..170 {
            for x in 30..60 {
                spot[(y * 300 + x) * 3..(y * 300 + x) * 3 + 3].copy_from_slice(&[230, 40, 30]);
            }
        }
        let info = analyse(Bitmap::new(Layout::Rgb, 300, 200, spot)).unwrap();
        assert!((info.focus.x - 0.15).abs() < 0.05 && (info.focus.y - 0.775).abs() < 0.05, "{info:?}");
    }

    #[test]
    fn odd_sizes_and_layouts_give_a_focus_inside_the_image() {
        let sizes = [(1, 1), (3, 2), (512, 1), (1, 700), (2000, 30), (19, 19), (40, 40)];
        for (w, h) in sizes {
            for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
                let n = (w * h) as usize * layout.channels();
                let data = (0..n).map(|i| (i * 37 % 251) as u8).collect();
                let info = analyse(Bitmap::new(layout, w, h, data)).unwrap();
                let inside = |v: f32| (0.0..=1.0).contains(&v);
                assert!(inside(info.focus.x) && inside(info.focus.y), "{w}x{h} {layout:?}: {info:?}");
            }
        }
    }
}
