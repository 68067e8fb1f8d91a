//! Faces: SeetaFace's frontal face detector (the `rustface` crate), with the model that crate's
//! package ships compiled into the binary (build.rs finds it), so nothing is read or downloaded
//! at run time. One detector per worker thread, as the resizer is.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use rustface::{Detector, ImageData};

/// `model/seeta_fd_frontal_v1.0.bin` of the `rustface` package (BSD-2-Clause).
static MODEL: &[u8] = include_bytes!(env!("FACE_MODEL"));

/// Smallest face looked for, in pixels of the analysed image (the detector's own floor is 20).
const MIN_FACE: u32 = 20;
/// Score a window needs to count as a face. SeetaFace's examples use 2.0; higher trades small,
/// blurred or turned faces for fewer faces found in bark, fur and fabric.
const SCORE: f64 = 2.0;
/// Ratio between the scales of the detector's image pyramid (SeetaFace's default 0.8).
const PYRAMID_STEP: f32 = 0.8;
/// Sliding-window step in pixels (SeetaFace's default).
const WINDOW_STEP: u32 = 4;

thread_local! {
    static DETECTOR: RefCell<Option<Box<dyn Detector>>> = const { RefCell::new(None) };
}

/// A face: its box in pixels of the analysed image, `[x0, y0, x1, y1]`, and the detector's score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Face {
    pub(super) bbox: [f64; 4],
    pub(super) score: f64,
}

/// The faces in a `width` x `height` 8-bit gray image, boxes clamped inside it, highest score
/// first. A detector that panics finds no face (and is made anew for the next image).
pub(super) fn detect(gray: &[u8], width: u32, height: u32) -> Vec<Face> {
    if width.min(height) < MIN_FACE || gray.len() != width as usize * height as usize {
        return Vec::new();
    }
    DETECTOR.with(|cell| {
        let mut slot = cell.borrow_mut();
        let detector = slot.get_or_insert_with(new_detector);
        let found = catch_unwind(AssertUnwindSafe(|| detector.detect(&ImageData::new(gray, width, height))));
        let Ok(found) = found else {
            *slot = None;
            return Vec::new();
        };
        let (w, h) = (f64::from(width), f64::from(height));
        let mut faces: Vec<Face> = found
            .iter()
            .filter_map(|info| {
                let b = info.bbox();
                let (x0, y0) = (f64::from(b.x()).max(0.0), f64::from(b.y()).max(0.0));
                let x1 = (f64::from(b.x()) + f64::from(b.width())).min(w);
                let y1 = (f64::from(b.y()) + f64::from(b.height())).min(h);
                (x1 > x0 && y1 > y0).then_some(Face { bbox: [x0, y0, x1, y1], score: info.score() })
            })
            .collect();
        faces.sort_by(|a, b| b.score.total_cmp(&a.score));
        faces
    })
}

fn new_detector() -> Box<dyn Detector> {
    let model = rustface::read_model(MODEL).expect("the compiled-in SeetaFace model parses");
    let mut detector = rustface::create_detector_with_model(model);
    detector.set_min_face_size(MIN_FACE);
    detector.set_score_thresh(SCORE);
    detector.set_pyramid_scale_factor(PYRAMID_STEP);
    detector.set_slide_window_step(WINDOW_STEP, WINDOW_STEP);
    detector
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_model_parses_and_a_flat_image_has_no_face() {
        assert!(MODEL.len() > 1_000_000);
        assert!(detect(&vec![128; 200 * 150], 200, 150).is_empty());
        assert!(detect(&[0; 10 * 10], 10, 10).is_empty());
    }
}
