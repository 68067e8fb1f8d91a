//! EXIF orientation: upright sizes, mapping a plan made on the upright image back onto the stored
//! pixels, and turning the (already resized) pixels upright.

use super::bitmap::Bitmap;
use super::plan::CropBox;

/// EXIF orientation 1..=8 (anything else read from a file counts as 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Orientation(u8);

impl Orientation {
    /// Stored pixels are already upright.
    pub const UPRIGHT: Orientation = Orientation(1);

    /// From the EXIF tag's value; 0 and out-of-range values are treated as 1.
    pub fn from_exif(value: u32) -> Self {
        match value {
            1..=8 => Orientation(value as u8),
            _ => Self::UPRIGHT,
        }
    }

    /// The EXIF value.
    pub fn value(self) -> u8 {
        self.0
    }

    /// Whether turning upright swaps width and height (5 to 8).
    pub fn swaps_axes(self) -> bool {
        self.0 >= 5
    }

    /// Size after turning a `w` x `h` stored image upright.
    pub fn upright_size(self, w: u32, h: u32) -> (u32, u32) {
        if self.swaps_axes() { (h, w) } else { (w, h) }
    }

    /// Size in stored orientation of an image that is `w` x `h` once upright.
    pub fn stored_size(self, w: u32, h: u32) -> (u32, u32) {
        self.upright_size(w, h)
    }

    /// Maps a continuous point of the upright image onto the stored image (`sw` x `sh`).
    fn upright_to_stored(self, ux: f64, uy: f64, sw: f64, sh: f64) -> (f64, f64) {
        match self.0 {
            2 => (sw - ux, uy),
            3 => (sw - ux, sh - uy),
            4 => (ux, sh - uy),
            5 => (uy, ux),
            6 => (uy, sh - ux),
            7 => (sw - uy, sh - ux),
            8 => (sw - uy, ux),
            _ => (ux, uy),
        }
    }

    /// The region of the stored `sw` x `sh` image that shows `crop` of the upright image.
    pub fn crop_to_stored(self, crop: CropBox, sw: u32, sh: u32) -> CropBox {
        let (sw, sh) = (f64::from(sw), f64::from(sh));
        let (x0, y0) = self.upright_to_stored(crop.left, crop.top, sw, sh);
        let (x1, y1) = self.upright_to_stored(crop.left + crop.width, crop.top + crop.height, sw, sh);
        CropBox { left: x0.min(x1), top: y0.min(y1), width: (x1 - x0).abs(), height: (y1 - y0).abs() }
    }

    /// Turns a stored-orientation bitmap upright.
    pub fn apply(self, src: Bitmap) -> Bitmap {
        if self.0 == 1 {
            return src;
        }
        let (sw, sh) = (src.width as usize, src.height as usize);
        let (uw, uh) = if self.swaps_axes() { (sh, sw) } else { (sw, sh) };
        let ch = src.layout.channels();
        let mut out = vec![0u8; src.data.len()];
        for uy in 0..uh {
            for ux in 0..uw {
                // Pixel-index form of `upright_to_stored`.
                let (sx, sy) = match self.0 {
                    2 => (sw - 1 - ux, uy),
                    3 => (sw - 1 - ux, sh - 1 - uy),
                    4 => (ux, sh - 1 - uy),
                    5 => (uy, ux),
                    6 => (uy, sh - 1 - ux),
                    7 => (sw - 1 - uy, sh - 1 - ux),
                    _ => (sw - 1 - uy, ux),
                };
                let s = (sy * sw + sx) * ch;
                let d = (uy * uw + ux) * ch;
                out[d..d + ch].copy_from_slice(&src.data[s..s + ch]);
            }
        }
        Bitmap::new(src.layout, uw as u32, uh as u32, out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::bitmap::Layout;
    use super::*;

    /// A 3x2 upright gray image with distinct pixels, and how each orientation stores it.
    /// Upright:  1 2 3
    ///           4 5 6
    fn stored(o: u8) -> Bitmap {
        let (w, h, px): (u32, u32, &[u8]) = match o {
            1 => (3, 2, &[1, 2, 3, 4, 5, 6]),
            2 => (3, 2, &[3, 2, 1, 6, 5, 4]),
            3 => (3, 2, &[6, 5, 4, 3, 2, 1]),
            4 => (3, 2, &[4, 5, 6, 1, 2, 3]),
            5 => (2, 3, &[1, 4, 2, 5, 3, 6]),
            6 => (2, 3, &[3, 6, 2, 5, 1, 4]),
            7 => (2, 3, &[6, 3, 5, 2, 4, 1]),
            8 => (2, 3, &[4, 1, 5, 2, 6, 3]),
            _ => unreachable!(),
        };
        Bitmap::new(Layout::Gray, w, h, px.to_vec())
    }

    #[test]
    fn every_orientation_comes_out_upright() {
        for o in 1..=8 {
            let up = Orientation::from_exif(o).apply(stored(o as u8));
            assert_eq!((up.width, up.height, up.data.as_slice()), (3, 2, &[1, 2, 3, 4, 5, 6][..]), "orientation {o}");
        }
    }

    #[test]
    fn crops_map_onto_the_pixels_they_show() {
        // The upright crop covering pixel "6" (x 2..3, y 1..2) must land on the stored pixel 6.
        let crop = CropBox { left: 2.0, top: 1.0, width: 1.0, height: 1.0 };
        for o in 1..=8u32 {
            let s = stored(o as u8);
            let c = Orientation::from_exif(o).crop_to_stored(crop, s.width, s.height);
            let idx = (c.top as u32 * s.width + c.left as u32) as usize;
            assert_eq!((c.width, c.height), (1.0, 1.0));
            assert_eq!(s.data[idx], 6, "orientation {o}: {c:?}");
        }
    }

    #[test]
    fn invalid_values_are_upright() {
        assert_eq!(Orientation::from_exif(0), Orientation::UPRIGHT);
        assert_eq!(Orientation::from_exif(9), Orientation::UPRIGHT);
    }
}
