//! What a moderation hook is shown of an original (DESIGN.md §15): what the server may serve of
//! it. Every frame of an animation that variants keep animated, laid out as contact sheets of at
//! most [`FRAMES_PER_SHEET`] frames; the first frame of anything else. A sheet with any
//! transparency shows each frame twice, over a light and over a dark background, so that white
//! on transparent (invisible once flattened onto white) is seen as a dark page shows it. Each
//! sheet is a JPEG of at most [`SHEET_SIDE`] px a side; frames are never enlarged.
//!
//! Memory stays bounded whatever the animation: the decoder's canvas, the tiles of one sheet and
//! the JPEGs made so far.

use super::bitmap::{Bitmap, Layout};
use super::plan::CropBox;
use super::{Effort, Limits, Placement, RenderError, codec, keeps_animation, render_bitmap, resize};
use crate::model::{Geometry, ImageFormat};

/// The longest side of a sheet.
pub const SHEET_SIDE: u32 = 1024;

/// Frames on one sheet: 16 frames of a square animation are 256 px each.
pub const FRAMES_PER_SHEET: usize = 16;

/// The backgrounds transparency is shown over.
const LIGHT: u8 = 255;
const DARK: u8 = 0;

/// Where no tile is.
const BACKDROP: u8 = 128;

/// The sheets an original is shown as, JPEGs at `quality`, in frame order.
pub fn moderation_sheets(bytes: &[u8], limits: &Limits, quality: u8) -> Result<Vec<Vec<u8>>, RenderError> {
    let header = codec::read_header(bytes, limits)?;
    let orientation = header.orientation;
    let upright = orientation.upright_size(header.width, header.height);
    let (frames, _) = codec::animation(bytes, &header)?;
    if !keeps_animation(frames, header.width, header.height, limits) {
        let mut sheets = Sheets::new(upright, 1, quality);
        let (w, h) = sheets.tile_size();
        let geometry = Geometry::Rect { width: w, height: h };
        sheets.add(render_bitmap(bytes, geometry, None, Placement::Centre, limits)?)?;
        return sheets.finish();
    }
    let mut sheets = Sheets::new(upright, frames.min(limits.max_animation_frames) as usize, quality);
    let full = CropBox::full(header.width, header.height);
    codec::for_each_frame(bytes, &header, limits.max_animation_frames, &mut |canvas, _| {
        let (w, h) = sheets.tile_size();
        let (w, h) = orientation.stored_size(w, h);
        // Resized from the canvas itself, which is then handed back for the next frame.
        let mut frame = Bitmap::new(Layout::Rgba, header.width, header.height, std::mem::take(canvas));
        let resized = resize::resize_from(&mut frame, full, w, h);
        *canvas = frame.data;
        sheets.add(orientation.apply(resized?))
    })?;
    sheets.finish()
}

/// Sheets being laid out, one at a time.
struct Sheets {
    /// The upright size of a frame.
    frame: (u32, u32),
    /// Frames still to come, this sheet's included.
    left: usize,
    /// This sheet's frames so far.
    tiles: Vec<Bitmap>,
    quality: u8,
    done: Vec<Vec<u8>>,
}

impl Sheets {
    fn new(frame: (u32, u32), frames: usize, quality: u8) -> Sheets {
        Sheets { frame, left: frames.max(1), tiles: Vec::new(), quality, done: Vec::new() }
    }

    /// Frames on the sheet being laid out.
    fn on_this_sheet(&self) -> usize {
        self.left.clamp(1, FRAMES_PER_SHEET)
    }

    /// The size of this sheet's tiles, were none transparent.
    fn tile_size(&self) -> (u32, u32) {
        let (_, _, cell) = grid(self.on_this_sheet(), self.frame);
        fit(self.frame, cell)
    }

    fn add(&mut self, tile: Bitmap) -> Result<(), RenderError> {
        self.tiles.push(tile);
        if self.tiles.len() >= self.on_this_sheet() {
            self.flush()?;
        }
        Ok(())
    }

    /// Lays out and encodes the sheet of the tiles so far.
    fn flush(&mut self) -> Result<(), RenderError> {
        if self.tiles.is_empty() {
            return Ok(());
        }
        let n = self.on_this_sheet();
        self.left = self.left.saturating_sub(self.tiles.len());
        let tiles = std::mem::take(&mut self.tiles);
        let transparent = tiles.iter().any(|t| t.layout == Layout::Rgba && t.data.chunks_exact(4).any(|p| p[3] != 255));
        let sheet = if transparent { pairs(n, self.frame, tiles)? } else { singles(n, self.frame, &tiles) };
        self.done.push(codec::encode(&sheet, ImageFormat::Jpeg, self.quality, Effort::Fast)?);
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Vec<u8>>, RenderError> {
        self.flush()?;
        Ok(self.done)
    }
}

/// The sheet of `n` opaque tiles of frames of `frame` size, each in its cell.
fn singles(n: usize, frame: (u32, u32), tiles: &[Bitmap]) -> Bitmap {
    let (cols, rows, cell) = grid(n, frame);
    let (tw, th) = fit(frame, cell);
    let mut sheet = Canvas::new(cols * tw, rows * th);
    for (i, tile) in tiles.iter().enumerate() {
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        sheet.draw(tile, col * tw, row * th, LIGHT);
    }
    sheet.0
}

/// The sheet of `n` tiles with transparency: each over light and over dark, side by side or one
/// above the other, whichever shows them larger.
fn pairs(n: usize, frame: (u32, u32), tiles: Vec<Bitmap>) -> Result<Bitmap, RenderError> {
    let (w, h) = frame;
    let beside = grid(n, (w.saturating_mul(2), h));
    let above = grid(n, (w, h.saturating_mul(2)));
    let area = |(_, _, (cw, ch)): (u32, u32, (u32, u32))| u64::from(cw) * u64::from(ch);
    let side_by_side = area(beside) >= area(above);
    let (cols, rows, cell) = if side_by_side { beside } else { above };
    let half = if side_by_side { (cell.0 / 2, cell.1) } else { (cell.0, cell.1 / 2) };
    let (tw, th) = fit(frame, (half.0.max(1), half.1.max(1)));
    let unit = if side_by_side { (2 * tw, th) } else { (tw, 2 * th) };
    let mut sheet = Canvas::new(cols * unit.0, rows * unit.1);
    for (i, tile) in tiles.into_iter().enumerate() {
        let tile = if (tile.width, tile.height) == (tw, th) {
            tile
        } else {
            let full = CropBox::full(tile.width, tile.height);
            resize::resize(tile, full, tw, th)?
        };
        let (x, y) = ((i as u32 % cols) * unit.0, (i as u32 / cols) * unit.1);
        sheet.draw(&tile, x, y, LIGHT);
        let (dx, dy) = if side_by_side { (tw, 0) } else { (0, th) };
        sheet.draw(&tile, x + dx, y + dy, DARK);
    }
    Ok(sheet.0)
}

/// The grid that shows `n` tiles shaped like `frame` largest within a sheet: its columns, rows
/// and cell size.
fn grid(n: usize, frame: (u32, u32)) -> (u32, u32, (u32, u32)) {
    let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let aspect = f64::from(frame.0.max(1)) / f64::from(frame.1.max(1));
    let side = f64::from(SHEET_SIDE);
    let cell_width = |cols: u32| {
        let rows = n.div_ceil(cols);
        (side / f64::from(cols)).min(side / f64::from(rows) * aspect)
    };
    let cols = (1..=n).max_by(|a, b| cell_width(*a).total_cmp(&cell_width(*b))).unwrap_or(1);
    let width = cell_width(cols);
    let cell = ((width.floor() as u32).max(1), ((width / aspect).floor() as u32).clamp(1, SHEET_SIDE));
    (cols, n.div_ceil(cols), cell)
}

/// `frame` scaled to fit in `cell`, never enlarged, at least 1 px a side.
fn fit(frame: (u32, u32), cell: (u32, u32)) -> (u32, u32) {
    let (w, h) = (f64::from(frame.0.max(1)), f64::from(frame.1.max(1)));
    let scale = (f64::from(cell.0) / w).min(f64::from(cell.1) / h).min(1.0);
    (((w * scale).round() as u32).clamp(1, cell.0.max(1)), ((h * scale).round() as u32).clamp(1, cell.1.max(1)))
}

/// An RGB sheet being drawn on.
struct Canvas(Bitmap);

impl Canvas {
    fn new(width: u32, height: u32) -> Canvas {
        let (width, height) = (width.max(1), height.max(1));
        let data = vec![BACKDROP; width as usize * height as usize * 3];
        Canvas(Bitmap::new(Layout::Rgb, width, height, data))
    }

    /// Draws `tile` with its top left at `(x, y)`, composed over `background` where it is
    /// transparent; whatever falls outside the sheet is left out.
    fn draw(&mut self, tile: &Bitmap, x: u32, y: u32, background: u8) {
        let sheet = &mut self.0;
        let channels = tile.layout.channels();
        let over = |c: u8, a: u8| {
            let (c, a) = (u32::from(c), u32::from(a));
            ((c * a + u32::from(background) * (255 - a) + 127) / 255) as u8
        };
        for row in 0..tile.height.min(sheet.height.saturating_sub(y)) {
            for col in 0..tile.width.min(sheet.width.saturating_sub(x)) {
                let at = (row as usize * tile.width as usize + col as usize) * channels;
                let p = &tile.data[at..at + channels];
                let rgb = match tile.layout {
                    Layout::Gray => [p[0]; 3],
                    Layout::Rgb => [p[0], p[1], p[2]],
                    Layout::Rgba => [over(p[0], p[3]), over(p[1], p[3]), over(p[2], p[3])],
                    // Colour conversion made every source RGB; a CMYK tile is a bug shown gray.
                    Layout::Cmyk => [BACKDROP; 3],
                };
                let to = ((y + row) as usize * sheet.width as usize + (x + col) as usize) * 3;
                sheet.data[to..to + 3].copy_from_slice(&rgb);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_show_tiles_largest_within_the_sheet() {
        assert_eq!(grid(1, (800, 600)), (1, 1, (1024, 768)));
        assert_eq!(grid(16, (500, 500)), (4, 4, (256, 256)));
        assert_eq!(grid(2, (1000, 500)), (1, 2, (1024, 512)));
        let (cols, rows, (w, h)) = grid(5, (10_000, 1));
        assert!(cols * w <= SHEET_SIDE && rows * h <= SHEET_SIDE && h >= 1, "{cols}x{rows} of {w}x{h}");
        assert_eq!(fit((800, 600), (1024, 768)), (800, 600), "never enlarged");
        assert_eq!(fit((4000, 3000), (1024, 768)), (1024, 768));
    }

    #[test]
    fn transparency_is_shown_over_light_and_dark() {
        // A white square on a transparent 4x4: invisible over white, plain over black.
        let mut data = vec![0u8; 4 * 4 * 4];
        for (i, p) in data.chunks_exact_mut(4).enumerate() {
            if (1..3).contains(&(i % 4)) && (1..3).contains(&(i / 4)) {
                p.copy_from_slice(&[255, 255, 255, 255]);
            }
        }
        let sheet = pairs(1, (4, 4), vec![Bitmap::new(Layout::Rgba, 4, 4, data)]).unwrap();
        assert_eq!((sheet.width, sheet.height), (8, 4), "side by side");
        let at = |x: usize, y: usize| sheet.data[(y * 8 + x) * 3];
        assert_eq!((at(0, 0), at(1, 1)), (255, 255), "over light: all white");
        assert_eq!((at(4, 0), at(5, 1), at(7, 3)), (0, 255, 0), "over dark: the square shows");
    }
}
