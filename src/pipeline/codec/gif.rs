//! GIF through the `gif` crate: frames decoded as palette indices and composed here onto one
//! RGBA canvas (transparency and disposal as browsers apply them), so that decoding costs the
//! canvas and one frame, whatever the frames' sizes say. Written (stills and animations) by
//! image-rs's encoder.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{Cursor, Write};
use std::rc::Rc;

use gif::{ColorOutput, DecodeOptions, DisposalMethod, MemoryLimit};
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};

use super::{AnimationEncoder, Codec, Decoded, Effort, Header, in_colour};
use crate::model::ImageFormat;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;
use crate::pipeline::{Limits, RenderError};

fn corrupt(e: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt("GIF", e)
}

/// A reader whose frames may hold no more indices than the canvas has pixels.
fn reader(bytes: &[u8], canvas_pixels: u64) -> Result<gif::Decoder<Cursor<&[u8]>>, RenderError> {
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    let limit = std::num::NonZeroU64::new(canvas_pixels.max(1)).expect("at least 1");
    options.set_memory_limit(MemoryLimit::Bytes(limit));
    options.read_info(Cursor::new(bytes)).map_err(corrupt)
}

/// GIF's row of the codec table.
pub(super) struct Gif;

impl Codec for Gif {
    fn format(&self) -> ImageFormat {
        ImageFormat::Gif
    }

    fn signature(&self) -> &'static [u8] {
        b"GIF89a"
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a")
    }

    fn read_header(&self, bytes: &[u8], _: &Limits) -> Result<Header, RenderError> {
        read_header(bytes)
    }

    fn animation(&self, bytes: &[u8], _: &Header) -> Result<(u32, u32), RenderError> {
        animation(bytes)
    }

    fn decode(&self, bytes: &[u8], header: &Header, _: f64, _: &Limits) -> Result<Decoded, RenderError> {
        decode(bytes, header)
    }

    fn for_each_frame(
        &self,
        bytes: &[u8],
        header: &Header,
        max_frames: u32,
        frame: &mut super::FrameSink<'_>,
    ) -> Result<(), RenderError> {
        for_each_frame(bytes, header, max_frames, frame)
    }

    /// The RGBA canvas (4), and a frame's indices and colours on their way onto it.
    fn decode_bytes_per_pixel(&self) -> u64 {
        8
    }

    /// Measured (8.0 RGB, 10.3 with alpha): our bitmap (3 or 4), the encoder's RGBA copy of it
    /// (4) and its palette indices (1).
    fn encode_bytes_per_pixel(&self, _pixels: u64, alpha: bool) -> u64 {
        if alpha { 11 } else { 9 }
    }

    fn encode(&self, bitmap: Cow<'_, Bitmap>, _: u8, _: Effort) -> Result<Vec<u8>, RenderError> {
        let bitmap = in_colour(bitmap);
        let mut out = Vec::new();
        {
            let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
            let color = super::png::color_type(bitmap.layout);
            encoder.encode(&bitmap.data, bitmap.width, bitmap.height, color).map_err(encode_error)?;
        }
        Ok(out)
    }

    fn animation_encoder(
        &self,
        _width: u32,
        _height: u32,
        _quality: u8,
        plays: u32,
    ) -> Result<Box<dyn AnimationEncoder>, RenderError> {
        let output = Output::default();
        let mut gif = GifEncoder::new_with_speed(output.clone(), 10);
        // NETSCAPE counts repeats after the first play; Finite(0) writes no extension.
        let repeat = match plays {
            0 => Repeat::Infinite,
            n => Repeat::Finite((n - 1).min(65_535) as u16),
        };
        gif.set_repeat(repeat).map_err(encode_error)?;
        Ok(Box::new(GifAnimation { gif, output }))
    }
}

fn encode_error(e: impl std::fmt::Display) -> RenderError {
    RenderError::Encode { format: "gif", reason: e.to_string() }
}

/// Where the GIF encoder writes: shared, since image-rs's encoder only gives its writer back
/// by finishing on drop.
#[derive(Clone, Default)]
struct Output(Rc<RefCell<Vec<u8>>>);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An animated GIF being written.
struct GifAnimation {
    gif: GifEncoder<Output>,
    output: Output,
}

impl AnimationEncoder for GifAnimation {
    fn add(&mut self, frame: Bitmap, duration_ms: u32) -> Result<(), RenderError> {
        let (w, h) = (frame.width, frame.height);
        let image = RgbaImage::from_raw(w, h, frame.data).expect("an RGBA frame of its size");
        let delay = Delay::from_numer_denom_ms(duration_ms, 1);
        self.gif.encode_frame(Frame::from_parts(image, 0, 0, delay)).map_err(encode_error)
    }

    fn finish(self: Box<Self>) -> Result<Vec<u8>, RenderError> {
        let GifAnimation { gif, output } = *self;
        drop(gif); // writes the trailer
        Ok(output.0.take())
    }
}

fn read_header(bytes: &[u8]) -> Result<Header, RenderError> {
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    let decoder = options.read_info(Cursor::new(bytes)).map_err(corrupt)?;
    let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
    Ok(Header { format: ImageFormat::Gif, width, height, orientation: Orientation::UPRIGHT })
}

/// The first frame, composed on its canvas.
fn decode(bytes: &[u8], header: &Header) -> Result<Decoded, RenderError> {
    let mut frames = Frames::new(bytes, header)?;
    frames.advance()?.ok_or_else(|| corrupt("no image in the file"))?;
    let bitmap = Bitmap::new(Layout::Rgba, frames.width, frames.height, frames.canvas);
    Ok(Decoded { bitmap, icc: None, cmyk_inverted: false })
}

/// Frames and plays (0: forever) of a GIF, reading the frames without decoding them. NETSCAPE's
/// loop field counts repeats after the first play, and a GIF without it plays once.
fn animation(bytes: &[u8]) -> Result<(u32, u32), RenderError> {
    let mut options = DecodeOptions::new();
    options.set_color_output(ColorOutput::Indexed);
    options.skip_frame_decoding(true);
    let mut decoder = options.read_info(Cursor::new(bytes)).map_err(corrupt)?;
    let mut frames = 0u32;
    while decoder.read_next_frame().map_err(corrupt)?.is_some() {
        frames += 1;
    }
    let loops = match decoder.repeat() {
        gif::Repeat::Infinite => 0,
        gif::Repeat::Finite(n) => u32::from(n) + 1,
    };
    Ok((frames.max(1), loops))
}

/// Calls `frame` with each frame composed on its canvas (RGBA) and the milliseconds it shows, at
/// most `max_frames` of them.
fn for_each_frame(
    bytes: &[u8],
    header: &Header,
    max_frames: u32,
    frame: &mut super::FrameSink<'_>,
) -> Result<(), RenderError> {
    let mut frames = Frames::new(bytes, header)?;
    for _ in 0..max_frames {
        let Some(delay_ms) = frames.advance()? else { break };
        frame(&mut frames.canvas, delay_ms)?;
    }
    Ok(())
}

/// The frames of a GIF, composed one after the other on one canvas.
struct Frames<'a> {
    decoder: gif::Decoder<Cursor<&'a [u8]>>,
    canvas: Vec<u8>,
    width: u32,
    height: u32,
    /// What the previous frame asked to be done with its area before the next is drawn.
    pending: Option<(DisposalMethod, Rect, Option<Vec<u8>>)>,
}

/// A frame's area on the canvas, clipped to it.
#[derive(Clone, Copy, Debug)]
struct Rect {
    left: u32,
    top: u32,
    width: u32,
    height: u32,
}

impl<'a> Frames<'a> {
    fn new(bytes: &'a [u8], header: &Header) -> Result<Self, RenderError> {
        let (width, height) = (header.width, header.height);
        let pixels = u64::from(width) * u64::from(height);
        let decoder = reader(bytes, pixels)?;
        let mut canvas = Vec::new();
        canvas.try_reserve_exact(pixels as usize * 4).map_err(|_| corrupt("out of memory"))?;
        canvas.resize(pixels as usize * 4, 0);
        Ok(Frames { decoder, canvas, width, height, pending: None })
    }

    /// Applies the previous frame's disposal, then draws the next frame; its delay in
    /// milliseconds, or `None` at the end.
    fn advance(&mut self) -> Result<Option<u32>, RenderError> {
        if let Some((dispose, rect, saved)) = self.pending.take() {
            match (dispose, saved) {
                (DisposalMethod::Background, _) => self.clear(rect),
                (DisposalMethod::Previous, Some(saved)) => self.restore(rect, &saved),
                (DisposalMethod::Keep | DisposalMethod::Any | DisposalMethod::Previous, _) => {}
            }
        }
        let global = self.decoder.global_palette().map(<[u8]>::to_vec);
        let Some(frame) = self.decoder.read_next_frame().map_err(corrupt)? else {
            return Ok(None);
        };
        let palette = frame.palette.clone().or(global).ok_or_else(|| corrupt("a frame without a palette"))?;
        let rect = Rect {
            left: u32::from(frame.left),
            top: u32::from(frame.top),
            width: u32::from(frame.width),
            height: u32::from(frame.height),
        };
        let (dispose, transparent, delay) = (frame.dispose, frame.transparent, frame.delay);
        let saved = (dispose == DisposalMethod::Previous).then(|| save(&self.canvas, self.width, self.height, rect));
        // The frame's indices are read where the decoder holds them, never copied.
        let frame = self.decoder.current_frame_info().ok_or_else(|| corrupt("a frame vanished"))?;
        draw(&mut self.canvas, self.width, self.height, rect, &frame.buffer, &palette, transparent);
        self.pending = Some((dispose, rect, saved));
        Ok(Some(u32::from(delay) * 10))
    }

    fn clear(&mut self, rect: Rect) {
        let canvas_w = self.width as usize;
        for (canvas_y, visible_w) in rows(self.width, self.height, rect) {
            let start = (canvas_y as usize * canvas_w + rect.left as usize) * 4;
            self.canvas[start..start + visible_w as usize * 4].fill(0);
        }
    }

    fn restore(&mut self, rect: Rect, saved: &[u8]) {
        let canvas_w = self.width as usize;
        let mut at = 0;
        for (canvas_y, visible_w) in rows(self.width, self.height, rect) {
            let start = (canvas_y as usize * canvas_w + rect.left as usize) * 4;
            let len = visible_w as usize * 4;
            self.canvas[start..start + len].copy_from_slice(&saved[at..at + len]);
            at += len;
        }
    }
}

/// The rows of `rect` that lie on a `width` x `height` canvas, as (canvas row, visible columns).
fn rows(width: u32, height: u32, rect: Rect) -> impl Iterator<Item = (u32, u32)> {
    let visible_w = rect.width.min(width.saturating_sub(rect.left));
    let visible_h = if visible_w == 0 { 0 } else { rect.height.min(height.saturating_sub(rect.top)) };
    (0..visible_h).map(move |y| (rect.top + y, visible_w))
}

/// Draws a frame's palette indices into its area of the canvas, leaving transparent ones.
fn draw(
    canvas: &mut [u8],
    width: u32,
    height: u32,
    rect: Rect,
    indices: &[u8],
    palette: &[u8],
    transparent: Option<u8>,
) {
    let canvas_w = width as usize;
    for (row, (canvas_y, visible_w)) in rows(width, height, rect).enumerate() {
        let from = row * rect.width as usize;
        let Some(src) = indices.get(from..from + visible_w as usize) else { break };
        let start = (canvas_y as usize * canvas_w + rect.left as usize) * 4;
        let dst = &mut canvas[start..start + visible_w as usize * 4];
        for (&index, px) in src.iter().zip(dst.chunks_exact_mut(4)) {
            if Some(index) == transparent {
                continue;
            }
            if let Some(rgb) = palette.get(usize::from(index) * 3..usize::from(index) * 3 + 3) {
                px.copy_from_slice(&[rgb[0], rgb[1], rgb[2], 255]);
            }
        }
    }
}

/// A copy of `rect`'s area of the canvas, for a frame disposed to the previous state.
fn save(canvas: &[u8], width: u32, height: u32, rect: Rect) -> Vec<u8> {
    let canvas_w = width as usize;
    let mut saved = Vec::new();
    for (canvas_y, visible_w) in rows(width, height, rect) {
        let start = (canvas_y as usize * canvas_w + rect.left as usize) * 4;
        saved.extend_from_slice(&canvas[start..start + visible_w as usize * 4]);
    }
    saved
}
