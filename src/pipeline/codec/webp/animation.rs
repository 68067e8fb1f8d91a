//! WebP animations: frames read through libwebp's demuxer and composed on one canvas of ours
//! (libwebp's own animation decoder keeps two canvases), and animations written through its
//! animation encoder.

use std::ptr;

use libwebp_sys as webp;

use super::{corrupt, decode_into, features, still};
use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::codec::{AnimationEncoder, FrameSink, Header};

fn encode_error(reason: impl std::fmt::Display) -> RenderError {
    RenderError::Encode { format: "webp", reason: reason.to_string() }
}

/// The first frame of an animation, composed on its (transparent) canvas.
pub(super) fn first_frame(bytes: &[u8], header: &Header) -> Result<Bitmap, RenderError> {
    let mut canvas = Canvas::new(header)?;
    let mut frames = Demuxer::new(bytes)?;
    let part = frames.next()?.ok_or_else(|| corrupt("the animation has no first frame"))?;
    canvas.draw(&part, header)?;
    Ok(Bitmap::new(Layout::Rgba, header.width, header.height, canvas.pixels))
}

/// Frames and plays (WebP's loop count, 0: forever) of an animation, from the demuxer: no pixel is decoded.
pub(super) fn animation(bytes: &[u8]) -> Result<(u32, u32), RenderError> {
    let demuxer = Demuxer::new(bytes)?;
    // SAFETY: the demuxer is alive; these read its parsed header.
    let (frames, plays) = unsafe {
        (
            webp::WebPDemuxGetI(demuxer.demux, webp::WebPFormatFeature::WEBP_FF_FRAME_COUNT),
            webp::WebPDemuxGetI(demuxer.demux, webp::WebPFormatFeature::WEBP_FF_LOOP_COUNT),
        )
    };
    Ok((frames.max(1), plays))
}

/// Calls `frame` with each frame of an animation composed on its canvas (RGBA) and the
/// milliseconds it shows, at most `max_frames` of them. Composed here, as libwebp's animation
/// decoder does it, on one canvas of ours: that decoder keeps two canvases of its own.
pub(super) fn for_each_frame(
    bytes: &[u8],
    header: &Header,
    max_frames: u32,
    frame: &mut FrameSink<'_>,
) -> Result<(), RenderError> {
    let mut canvas = Canvas::new(header)?;
    let mut frames = Demuxer::new(bytes)?;
    // The sink may premultiply what it gets, which only a canvas of opaque and fully transparent
    // pixels does not notice: one with partial alpha is handed over as a copy.
    let mut copy = Vec::new();
    for _ in 0..max_frames {
        let Some(part) = frames.next()? else { break };
        canvas.draw(&part, header)?;
        if canvas.pixels.chunks_exact(4).any(|p| p[3] != 0 && p[3] != 255) {
            copy.clear();
            copy.extend_from_slice(&canvas.pixels);
            frame(&mut copy, part.duration_ms)?;
        } else {
            frame(&mut canvas.pixels, part.duration_ms)?;
        }
        canvas.dispose(&part, header);
    }
    Ok(())
}

/// One frame as the demuxer gives it: its bitstream (into the file), place and timing.
struct FramePart<'a> {
    fragment: &'a [u8],
    x: u32,
    y: u32,
    width: u32,
    height: u32,
    duration_ms: u32,
    /// Alpha-blended onto the canvas (else it replaces its area).
    blend: bool,
    /// Its area is cleared to transparent before the next frame.
    dispose_to_background: bool,
}

/// libwebp's demuxer over a file, frame by frame; released when dropped.
struct Demuxer<'a> {
    bytes: &'a [u8],
    demux: *mut webp::WebPDemuxer,
    iter: webp::WebPIterator,
    started: bool,
}

impl<'a> Demuxer<'a> {
    fn new(bytes: &'a [u8]) -> Result<Self, RenderError> {
        let data = webp::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
        // SAFETY: the demuxer borrows `bytes` (which outlives it) and is deleted in Drop.
        let demux = unsafe { webp::WebPDemuxInternal(&data, 0, ptr::null_mut(), webp::WEBP_DEMUX_ABI_VERSION as _) };
        if demux.is_null() {
            return Err(corrupt("unreadable container"));
        }
        // SAFETY: an all-zero iterator is what libwebp's own callers start from.
        let iter = unsafe { std::mem::zeroed() };
        Ok(Demuxer { bytes, demux, iter, started: false })
    }

    fn next(&mut self) -> Result<Option<FramePart<'a>>, RenderError> {
        // SAFETY: the iterator belongs to this demuxer; it is released once, in Drop.
        let found = unsafe {
            if self.started {
                webp::WebPDemuxNextFrame(&mut self.iter) != 0
            } else {
                self.started = true;
                webp::WebPDemuxGetFrame(self.demux, 1, &mut self.iter) != 0
            }
        };
        if !found {
            return Ok(None);
        }
        let it = &self.iter;
        // The fragment points into `bytes`: taken back as a slice of it, bounds checked.
        let offset = (it.fragment.bytes as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        let fragment = self
            .bytes
            .get(offset..offset.wrapping_add(it.fragment.size))
            .ok_or_else(|| corrupt("a frame outside the file"))?;
        let dim = |v: i32| u32::try_from(v).map_err(|_| corrupt("a frame of negative size or place"));
        Ok(Some(FramePart {
            fragment,
            x: dim(it.x_offset)?,
            y: dim(it.y_offset)?,
            width: dim(it.width)?,
            height: dim(it.height)?,
            duration_ms: dim(it.duration)?,
            blend: it.blend_method == webp::WebPMuxAnimBlend::WEBP_MUX_BLEND,
            dispose_to_background: it.dispose_method == webp::WebPMuxAnimDispose::WEBP_MUX_DISPOSE_BACKGROUND,
        }))
    }
}

impl Drop for Demuxer<'_> {
    fn drop(&mut self) {
        // SAFETY: created in new, released and deleted once.
        unsafe {
            if self.started {
                webp::WebPDemuxReleaseIterator(&mut self.iter);
            }
            webp::WebPDemuxDelete(self.demux);
        }
    }
}

/// An animation's canvas, RGBA, not premultiplied, starting transparent.
struct Canvas {
    pixels: Vec<u8>,
    width: u32,
    /// Nothing drawn yet: all transparent, so blending onto it is replacing (to within libwebp's
    /// rounding of one level).
    fresh: bool,
}

impl Canvas {
    fn new(header: &Header) -> Result<Canvas, RenderError> {
        let len = header.width as usize * header.height as usize * 4;
        let mut pixels = Vec::new();
        pixels.try_reserve_exact(len).map_err(|_| corrupt("out of memory"))?;
        pixels.resize(len, 0);
        Ok(Canvas { pixels, width: header.width, fresh: true })
    }

    /// Decodes `part` and puts it on the canvas, blended or replacing its area.
    fn draw(&mut self, part: &FramePart<'_>, header: &Header) -> Result<(), RenderError> {
        let (x, y, w, h) = (part.x, part.y, part.width, part.height);
        if w == 0 || h == 0 || x.saturating_add(w) > header.width || y.saturating_add(h) > header.height {
            return Err(corrupt(format_args!(
                "a {w}x{h} frame at {x},{y} outside the {}x{} canvas",
                header.width, header.height
            )));
        }
        let canvas_row = self.width as usize * 4;
        let at = (y as usize * self.width as usize + x as usize) * 4;
        // Blending an opaque frame, or onto nothing, is replacing.
        let fresh = std::mem::take(&mut self.fresh);
        let replace = !part.blend || fresh || features(part.fragment)?.has_alpha == 0;
        if replace {
            // Replacing its area: decoded straight onto the canvas, rows a canvas row apart.
            let end = at + (h as usize - 1) * canvas_row + w as usize * 4;
            let config = webp::WebPDecoderConfig::new().map_err(|()| corrupt("libwebp version mismatch"))?;
            return decode_into(
                part.fragment,
                config,
                webp::WEBP_CSP_MODE::MODE_RGBA,
                &mut self.pixels[at..end],
                canvas_row,
            );
        }
        let frame = still(part.fragment, &Header { width: w, height: h, ..*header }, true, 1.0)?;
        let row = w as usize * 4;
        for (i, src) in frame.data.chunks_exact(row).enumerate() {
            let start = at + i * canvas_row;
            for (d, s) in self.pixels[start..start + row].chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                blend(d, s);
            }
        }
        Ok(())
    }

    /// Clears `part`'s area to transparent where it asks to be disposed so.
    fn dispose(&mut self, part: &FramePart<'_>, header: &Header) {
        if !part.dispose_to_background {
            return;
        }
        let (x, w) = (part.x.min(header.width) as usize, part.width as usize);
        for row in part.y..part.y.saturating_add(part.height).min(header.height) {
            let at = (row as usize * self.width as usize + x) * 4;
            let end = at + w.min(self.width as usize - x) * 4;
            self.pixels[at..end].fill(0);
        }
    }
}

/// `src` over `dst`, neither premultiplied, in libwebp's integer arithmetic
/// (`BlendPixelNonPremult` of its animation decoder).
fn blend(dst: &mut [u8], src: &[u8]) {
    let src_a = u32::from(src[3]);
    if src_a == 0 {
        return;
    }
    let dst_factor_a = (u32::from(dst[3]) * (256 - src_a)) >> 8;
    let blend_a = src_a + dst_factor_a;
    let scale = (1u32 << 24) / blend_a;
    for c in 0..3 {
        let v = u64::from(u32::from(src[c]) * src_a + u32::from(dst[c]) * dst_factor_a) * u64::from(scale);
        dst[c] = (v >> 24) as u8;
    }
    dst[3] = blend_a.min(255) as u8;
}

/// libwebp's animation encoder, deleted when dropped.
pub(super) struct WebpAnimation {
    encoder: *mut webp::WebPAnimEncoder,
    config: webp::WebPConfig,
    timestamp_ms: i32,
}

impl WebpAnimation {
    pub(super) fn new(width: u32, height: u32, quality: u8, plays: u32) -> Result<Self, RenderError> {
        let fail = |why: &str| encode_error(why);
        let config = webp::WebPConfig::new_with_preset(webp::WebPPreset::WEBP_PRESET_DEFAULT, f32::from(quality))
            .map_err(|()| fail("libwebp version mismatch"))?;
        // SAFETY: the options are initialised by libwebp before use; the encoder is checked for
        // null and owned by the returned value.
        unsafe {
            let mut options: webp::WebPAnimEncoderOptions = std::mem::zeroed();
            if webp::WebPAnimEncoderOptionsInitInternal(&mut options, webp::WEBP_MUX_ABI_VERSION as _) == 0 {
                return Err(fail("libwebp version mismatch"));
            }
            options.anim_params.loop_count = i32::try_from(plays).unwrap_or(0);
            let encoder = webp::WebPAnimEncoderNewInternal(
                width as i32,
                height as i32,
                &options,
                webp::WEBP_MUX_ABI_VERSION as _,
            );
            if encoder.is_null() {
                return Err(fail("cannot start the animation encoder"));
            }
            Ok(WebpAnimation { encoder, config, timestamp_ms: 0 })
        }
    }

    fn add_frame(&mut self, frame: &Bitmap, duration_ms: u32) -> Result<(), RenderError> {
        // SAFETY: the picture is initialised by libwebp, imports `frame`'s RGBA rows (height rows
        // of width * 4 bytes) into its own memory, and is freed on every path.
        unsafe {
            let mut picture = webp::WebPPicture::new().map_err(|()| encode_error("libwebp version mismatch"))?;
            picture.use_argb = 1;
            picture.width = frame.width as i32;
            picture.height = frame.height as i32;
            let imported = webp::WebPPictureImportRGBA(&mut picture, frame.data.as_ptr(), frame.width as i32 * 4) != 0;
            let added =
                imported && webp::WebPAnimEncoderAdd(self.encoder, &mut picture, self.timestamp_ms, &self.config) != 0;
            webp::WebPPictureFree(&mut picture);
            if !added {
                return Err(encode_error(self.error()));
            }
        }
        self.timestamp_ms = self.timestamp_ms.saturating_add(i32::try_from(duration_ms).unwrap_or(i32::MAX));
        Ok(())
    }

    fn assemble(&self) -> Result<Vec<u8>, RenderError> {
        // SAFETY: a null frame ends the animation at the last timestamp; the assembled data is
        // copied out and released with WebPDataClear.
        unsafe {
            let mut data: webp::WebPData = std::mem::zeroed();
            webp::WebPDataInit(&mut data);
            let done =
                webp::WebPAnimEncoderAdd(self.encoder, std::ptr::null_mut(), self.timestamp_ms, std::ptr::null()) != 0
                    && webp::WebPAnimEncoderAssemble(self.encoder, &mut data) != 0;
            if !done {
                return Err(encode_error(self.error()));
            }
            let bytes = std::slice::from_raw_parts(data.bytes, data.size).to_vec();
            webp::WebPDataClear(&mut data);
            Ok(bytes)
        }
    }

    fn error(&self) -> String {
        // SAFETY: libwebp returns a static, NUL-terminated message for this encoder.
        unsafe {
            let msg = webp::WebPAnimEncoderGetError(self.encoder);
            if msg.is_null() {
                "libwebp failed".to_owned()
            } else {
                std::ffi::CStr::from_ptr(msg).to_string_lossy().into_owned()
            }
        }
    }
}

impl AnimationEncoder for WebpAnimation {
    fn add(&mut self, frame: Bitmap, duration_ms: u32) -> Result<(), RenderError> {
        self.add_frame(&frame, duration_ms)
    }

    fn finish(self: Box<Self>) -> Result<Vec<u8>, RenderError> {
        self.assemble()
    }
}

impl Drop for WebpAnimation {
    fn drop(&mut self) {
        // SAFETY: created in new, deleted once.
        unsafe { webp::WebPAnimEncoderDelete(self.encoder) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libwebp's own animation decoder: the composition ours must match.
    fn libwebp_frames(bytes: &[u8], header: &Header) -> Vec<(Vec<u8>, u32)> {
        let data = webp::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
        let len = header.width as usize * header.height as usize * 4;
        let mut out = Vec::new();
        // SAFETY: as libwebp documents: the frame buffer is read before the next call, and the
        // decoder deleted at the end.
        unsafe {
            let mut options: webp::WebPAnimDecoderOptions = std::mem::zeroed();
            assert!(webp::WebPAnimDecoderOptionsInit(&mut options) != 0);
            options.color_mode = webp::WEBP_CSP_MODE::MODE_RGBA;
            let dec = webp::WebPAnimDecoderNew(&data, &options);
            assert!(!dec.is_null());
            let mut previous = 0;
            while webp::WebPAnimDecoderHasMoreFrames(dec) != 0 {
                let (mut buf, mut timestamp): (*mut u8, i32) = (ptr::null_mut(), 0);
                assert!(webp::WebPAnimDecoderGetNext(dec, &mut buf, &mut timestamp) != 0);
                out.push((std::slice::from_raw_parts(buf, len).to_vec(), (timestamp - previous) as u32));
                previous = timestamp;
            }
            webp::WebPAnimDecoderDelete(dec);
        }
        out
    }

    /// Every frame of the corpus' animated WebPs, composed here, against libwebp's composition.
    #[test]
    fn frames_compose_as_libwebps_animation_decoder_composes_them() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/webp");
        let mut compared = 0;
        for name in ["anim_6f_200.webp", "anim_loop3_10f.webp", "anim_rotating_squares_9f.webp"] {
            let bytes = std::fs::read(dir.join(name)).unwrap();
            let header = super::super::read_header(&bytes).unwrap();
            let mut ours = Vec::new();
            for_each_frame(&bytes, &header, 1000, &mut |canvas, ms| {
                ours.push((canvas.clone(), ms));
                Ok(())
            })
            .unwrap();
            let theirs = libwebp_frames(&bytes, &header);
            assert_eq!(ours.len(), theirs.len(), "{name}");
            for (i, ((canvas, ms), (reference, reference_ms))) in ours.iter().zip(&theirs).enumerate() {
                assert_eq!(ms, reference_ms, "{name} frame {i} delay");
                let worst = canvas
                    .chunks_exact(4)
                    .zip(reference.chunks_exact(4))
                    .filter(|(a, b)| a[3] != 0 || b[3] != 0)
                    .map(|(a, b)| a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap())
                    .max()
                    .unwrap_or(0);
                assert!(worst <= 1, "{name} frame {i}: differs by up to {worst}");
                compared += 1;
            }
            let first = first_frame(&bytes, &header).unwrap();
            assert_eq!(first.data, ours[0].0, "{name}: the first frame alone");
        }
        assert_eq!(compared, 25);
    }
}
