//! Saliency: where the eye goes in a photo without faces, for the focus of its crops (the job of
//! libvips' `attention` crop and smartcrop.js, measured against them in
//! `tests/it/focus_crops.rs`). Two cues on a small map of the image, plus a mild pull to the
//! middle:
//!
//! - **Detail against its surroundings**: fine detail (the Laplacian of lightness on the
//!   analysed image) near a cell, over the detail of its wider neighbourhood. A subject in focus
//!   before a blurred or plain background scores; texture that fills a region (bark, grass,
//!   gravel) does not score against itself.
//! - **Distinct colour**: how far the cell's (slightly blurred) CIELAB colour is from the image's
//!   average colour (Achanta et al.'s frequency-tuned saliency).
//!
//! Each cue is scaled by how peaked it is (Itti and Koch's map normalisation: a map with one
//! strong peak counts more than one with many), the sum is blurred, weighted by a broad Gaussian
//! around the middle, and its peak is the focus.

use crate::pipeline::bitmap::{Bitmap, Layout};

/// Long side of the map, in cells.
pub(super) const MAP_SIDE: u32 = 128;
/// The pull to the middle: a Gaussian of this many image sides.
const PRIOR_SIGMA: f32 = 0.3;
/// Blur of the detail around a cell, and of its surroundings, in cells.
const DETAIL_NEAR: f32 = 2.0;
const DETAIL_AROUND: f32 = 12.0;
/// Blur of the colour before comparing it with the average, in cells.
const COLOUR_BLUR: f32 = 2.0;

/// The focus, as fractions of the width and height, of `image` (upright RGB, the analysed copy)
/// whose `map` is the same picture at most [`MAP_SIDE`] on its long side.
pub(super) fn focus(image: &Bitmap, map: &Bitmap) -> (f64, f64) {
    debug_assert!(image.layout == Layout::Rgb && map.layout == Layout::Rgb);
    let (w, h) = (map.width as usize, map.height as usize);
    if w == 0 || h == 0 || image.width == 0 || image.height == 0 {
        return (0.5, 0.5);
    }
    let detail = detail_against_surroundings(image, w, h);
    let colour = distinct_colour(map);
    let total: Vec<f32> = peaked(detail, w, h).iter().zip(peaked(colour, w, h)).map(|(a, b)| a + b).collect();
    let blurred = gaussian_blur(&total, w, h, w.max(h) as f32 / 20.0);
    let (mut best, mut at) = (f32::MIN, (w / 2, h / 2));
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = ((x as f32 + 0.5) / w as f32 - 0.5, (y as f32 + 0.5) / h as f32 - 0.5);
            let prior = (-(fx * fx + fy * fy) / (2.0 * PRIOR_SIGMA * PRIOR_SIGMA)).exp();
            // A hair above zero, so that a featureless image's peak is its middle.
            let v = (blurred[y * w + x] + 1e-6) * prior;
            if v > best {
                (best, at) = (v, (x, y));
            }
        }
    }
    ((at.0 as f64 + 0.5) / w as f64, (at.1 as f64 + 0.5) / h as f64)
}

/// Fine detail (|Laplacian| of L* on `image`) averaged into the `w` x `h` cells of the map, near
/// each cell over around it.
fn detail_against_surroundings(image: &Bitmap, w: usize, h: usize) -> Vec<f32> {
    let (iw, ih) = (image.width as usize, image.height as usize);
    let lightness: Vec<f32> = image.data.chunks_exact(3).map(|p| lab([p[0], p[1], p[2]])[0]).collect();
    let at = |x: usize, y: usize| lightness[y * iw + x];
    let (mut sum, mut count) = (vec![0f32; w * h], vec![0u32; w * h]);
    for y in 0..ih {
        let (up, down) = (y.saturating_sub(1), (y + 1).min(ih - 1));
        for x in 0..iw {
            let (left, right) = (x.saturating_sub(1), (x + 1).min(iw - 1));
            let laplacian = 4.0 * at(x, y) - at(left, y) - at(right, y) - at(x, up) - at(x, down);
            let cell = (y * h / ih) * w + x * w / iw;
            sum[cell] += laplacian.abs();
            count[cell] += 1;
        }
    }
    let detail: Vec<f32> = sum.iter().zip(&count).map(|(s, &n)| s / n.max(1) as f32).collect();
    let mut sorted = detail.clone();
    sorted.sort_by(f32::total_cmp);
    let median = sorted[sorted.len() / 2];
    let near = gaussian_blur(&detail, w, h, DETAIL_NEAR);
    let around = gaussian_blur(&detail, w, h, DETAIL_AROUND);
    near.iter().zip(around).map(|(n, a)| n / (a + median + 1e-3)).collect()
}

/// How far each cell's colour is from the average colour of the map.
fn distinct_colour(map: &Bitmap) -> Vec<f32> {
    let (w, h) = (map.width as usize, map.height as usize);
    let lab: Vec<[f32; 3]> = map.data.chunks_exact(3).map(|p| lab([p[0], p[1], p[2]])).collect();
    let n = lab.len() as f32;
    let mean = lab.iter().fold([0f32; 3], |m, c| [m[0] + c[0], m[1] + c[1], m[2] + c[2]]).map(|s| s / n);
    let channels: Vec<Vec<f32>> =
        (0..3).map(|c| gaussian_blur(&lab.iter().map(|p| p[c]).collect::<Vec<_>>(), w, h, COLOUR_BLUR)).collect();
    (0..w * h).map(|i| (0..3).map(|c| (channels[c][i] - mean[c]).powi(2)).sum::<f32>().sqrt()).collect()
}

/// Scales a map to 0..=1, then by (1 - m)^2 where m is the mean of its local peaks: a map with
/// one strong peak keeps its weight, one with many similar peaks loses most of it.
fn peaked(mut v: Vec<f32>, w: usize, h: usize) -> Vec<f32> {
    let min = v.iter().copied().fold(f32::MAX, f32::min);
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    if max - min <= 1e-6 {
        return vec![0.0; v.len()];
    }
    for x in &mut v {
        *x = (*x - min) / (max - min);
    }
    let r = (w.max(h) / 16).max(1);
    let (mut peaks, mut count) = (0f32, 0u32);
    for y in 0..h {
        for x in 0..w {
            let c = v[y * w + x];
            if c <= 0.05 {
                continue;
            }
            let window = (y.saturating_sub(r)..(y + r + 1).min(h))
                .flat_map(|wy| (x.saturating_sub(r)..(x + r + 1).min(w)).map(move |wx| wy * w + wx));
            if window.into_iter().all(|i| v[i] <= c) {
                peaks += c;
                count += 1;
            }
        }
    }
    let mean_peak = if count > 1 { peaks / count as f32 } else { 0.0 };
    let weight = (1.0 - mean_peak).powi(2);
    v.iter().map(|x| x * weight).collect()
}

/// sRGB to CIE L*a*b* (D65).
fn lab(rgb: [u8; 3]) -> [f32; 3] {
    let lin = rgb.map(|c| {
        let c = f32::from(c) / 255.0;
        if c <= 0.04045 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    });
    let x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047;
    let y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
    let z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883;
    let f = |t: f32| if t > 0.008856 { t.cbrt() } else { 7.787 * t + 16.0 / 116.0 };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// A separable Gaussian blur (to three sigmas), edges extended.
fn gaussian_blur(v: &[f32], w: usize, h: usize, sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).round().max(1.0) as isize;
    let kernel: Vec<f32> = (-radius..=radius).map(|i| (-((i * i) as f32) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f32 = kernel.iter().sum();
    let pass = |src: &[f32], horizontal: bool| {
        let mut out = vec![0f32; w * h];
        for y in 0..h as isize {
            for x in 0..w as isize {
                let mut acc = 0.0;
                for (k, weight) in kernel.iter().enumerate() {
                    let d = k as isize - radius;
                    let (sx, sy) = if horizontal {
                        ((x + d).clamp(0, w as isize - 1), y)
                    } else {
                        (x, (y + d).clamp(0, h as isize - 1))
                    };
                    acc += weight * src[sy as usize * w + sx as usize];
                }
                out[y as usize * w + x as usize] = acc / total;
            }
        }
        out
    };
    pass(&pass(v, true), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_of_white_black_and_red() {
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 0.5);
        assert!(close(lab([255, 255, 255]), [100.0, 0.0, 0.0]));
        assert!(close(lab([0, 0, 0]), [0.0, 0.0, 0.0]));
        assert!(close(lab([255, 0, 0]), [53.2, 80.1, 67.2]));
    }

    #[test]
    fn one_peak_outweighs_many() {
        let (w, h) = (32, 32);
        let mut one = vec![0f32; w * h];
        one[16 * w + 16] = 1.0;
        let many: Vec<f32> = (0..w * h).map(|i| if (i / w) % 4 == 0 && i % 4 == 0 { 1.0 } else { 0.0 }).collect();
        let (one, many) = (peaked(one, w, h), peaked(many, w, h));
        assert!(one[16 * w + 16] > 0.99);
        assert!(many[0] < 0.01);
    }
}
