//! WebP through libwebp: header and metadata chunks, scaled decoding of still images, the first
//! frame of an animation through the demuxer, and every frame through the animation decoder.

use std::ptr;

use libwebp_sys as webp;

use super::{Decoded, Header};
use crate::model::ImageFormat;
use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;

fn corrupt(reason: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt("WebP", reason)
}

fn features(bytes: &[u8]) -> Result<webp::WebPBitstreamFeatures, RenderError> {
    // SAFETY: a zeroed features struct is valid; libwebp reads only `bytes`.
    let mut f: webp::WebPBitstreamFeatures = unsafe { std::mem::zeroed() };
    let status = unsafe { webp::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut f) };
    if status != webp::VP8StatusCode::VP8_STATUS_OK {
        return Err(corrupt(format_args!("unreadable header ({status:?})")));
    }
    Ok(f)
}

pub(super) fn read_header(bytes: &[u8]) -> Result<Header, RenderError> {
    let f = features(bytes)?;
    let orientation = chunk(bytes, b"EXIF").map_or(Orientation::UPRIGHT, super::exif::orientation);
    Ok(Header {
        format: ImageFormat::Webp,
        width: u32::try_from(f.width).map_err(corrupt)?,
        height: u32::try_from(f.height).map_err(corrupt)?,
        orientation,
    })
}

pub(super) fn decode(bytes: &[u8], header: &Header, min_scale: f64) -> Result<Decoded, RenderError> {
    let f = features(bytes)?;
    let icc = chunk(bytes, b"ICCP").filter(|icc| icc.len() <= super::MAX_ICC_BYTES).map(<[u8]>::to_vec);
    let bitmap = if f.has_animation != 0 {
        first_frame(bytes, header)?
    } else {
        still(bytes, header, f.has_alpha != 0, min_scale)?
    };
    Ok(Decoded { bitmap, icc, cmyk_inverted: false })
}

/// Decodes a still image into memory we own, scaled down by libwebp when `min_scale` < 1.
fn still(bytes: &[u8], header: &Header, alpha: bool, min_scale: f64) -> Result<Bitmap, RenderError> {
    let (layout, mode) = if alpha {
        (Layout::Rgba, webp::WEBP_CSP_MODE::MODE_RGBA)
    } else {
        (Layout::Rgb, webp::WEBP_CSP_MODE::MODE_RGB)
    };
    let (mut width, mut height) = (header.width, header.height);
    let mut config = webp::WebPDecoderConfig::new().map_err(|()| corrupt("libwebp version mismatch"))?;
    if min_scale < 1.0 {
        let side = |n: u32| ((f64::from(n) * min_scale).ceil() as u32).clamp(1, n);
        (width, height) = (side(width), side(height));
        config.options.use_scaling = 1;
        config.options.scaled_width = width as i32;
        config.options.scaled_height = height as i32;
    }
    let stride = width as usize * layout.channels();
    let mut data: Vec<u8> = Vec::new();
    data.try_reserve_exact(stride * height as usize).map_err(|_| corrupt("out of memory"))?;
    data.resize(stride * height as usize, 0);
    config.output.colorspace = mode;
    config.output.is_external_memory = 1;
    config.output.u.RGBA = webp::WebPRGBABuffer { rgba: data.as_mut_ptr(), stride: stride as i32, size: data.len() };
    // SAFETY: the output buffer points at `data`, which outlives the call and has the size and
    // stride declared; with external memory libwebp allocates nothing we must free.
    let status = unsafe { webp::WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    if status != webp::VP8StatusCode::VP8_STATUS_OK {
        let why = match status {
            webp::VP8StatusCode::VP8_STATUS_NOT_ENOUGH_DATA => {
                "the file ends before the image data does (truncated)".to_owned()
            }
            other => format!("bad image data ({other:?})"),
        };
        return Err(corrupt(why));
    }
    Ok(Bitmap::new(layout, width, height, data))
}

/// The first frame of an animation, composed on its (transparent) canvas: its bitstream taken
/// from the demuxer and decoded into memory we own, then placed at its offset. One canvas and
/// one frame at most, where libwebp's animation decoder would keep two canvases of its own.
fn first_frame(bytes: &[u8], header: &Header) -> Result<Bitmap, RenderError> {
    let data = webp::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
    // SAFETY: the demuxer borrows `bytes` only while alive; the iterator's fragment points into
    // `bytes`; the iterator is released and the demuxer deleted on every path.
    let (fragment, x, y, w, h) = unsafe {
        let demux = webp::WebPDemuxInternal(&data, 0, ptr::null_mut(), webp::WEBP_DEMUX_ABI_VERSION as _);
        if demux.is_null() {
            return Err(corrupt("unreadable container"));
        }
        let mut iter: webp::WebPIterator = std::mem::zeroed();
        let found = webp::WebPDemuxGetFrame(demux, 1, &mut iter) != 0;
        let frame = (iter.fragment, iter.x_offset, iter.y_offset, iter.width, iter.height);
        if found {
            webp::WebPDemuxReleaseIterator(&mut iter);
        }
        webp::WebPDemuxDelete(demux);
        if !found || frame.0.bytes.is_null() {
            return Err(corrupt("the animation has no first frame"));
        }
        // The fragment lies within `bytes`, which outlives this function.
        let offset = (frame.0.bytes as usize).wrapping_sub(bytes.as_ptr() as usize);
        let fragment = bytes.get(offset..offset + frame.0.size).ok_or_else(|| corrupt("a frame outside the file"))?;
        (fragment, frame.1, frame.2, frame.3, frame.4)
    };
    let dim = |v: i32| u32::try_from(v).map_err(|_| corrupt("a frame of negative size"));
    let (x, y, w, h) = (dim(x)?, dim(y)?, dim(w)?, dim(h)?);
    if w == 0 || h == 0 || x.saturating_add(w) > header.width || y.saturating_add(h) > header.height {
        return Err(corrupt(format_args!(
            "a {w}x{h} frame at {x},{y} outside the {}x{} canvas",
            header.width, header.height
        )));
    }
    let frame_header = Header { width: w, height: h, ..*header };
    let frame = still(fragment, &frame_header, true, 1.0)?;
    if (x, y, w, h) == (0, 0, header.width, header.height) {
        return Ok(frame);
    }
    let mut canvas = Vec::new();
    let len = header.width as usize * header.height as usize * 4;
    canvas.try_reserve_exact(len).map_err(|_| corrupt("out of memory"))?;
    canvas.resize(len, 0);
    let (row, canvas_row) = (w as usize * 4, header.width as usize * 4);
    for (i, src) in frame.data.chunks_exact(row).enumerate() {
        let at = (y as usize + i) * canvas_row + x as usize * 4;
        canvas[at..at + row].copy_from_slice(src);
    }
    Ok(Bitmap::new(Layout::Rgba, header.width, header.height, canvas))
}

/// Frames and plays (WebP's loop count, 0: forever) of an animation, from the demuxer: no pixel is decoded.
pub(super) fn animation(bytes: &[u8]) -> Result<(u32, u32), RenderError> {
    let data = webp::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
    // SAFETY: the demuxer borrows `bytes` only while alive and is deleted before returning.
    unsafe {
        let demux = webp::WebPDemuxInternal(&data, 0, ptr::null_mut(), webp::WEBP_DEMUX_ABI_VERSION as _);
        if demux.is_null() {
            return Err(corrupt("unreadable container"));
        }
        let frames = webp::WebPDemuxGetI(demux, webp::WebPFormatFeature::WEBP_FF_FRAME_COUNT);
        let loops = webp::WebPDemuxGetI(demux, webp::WebPFormatFeature::WEBP_FF_LOOP_COUNT);
        webp::WebPDemuxDelete(demux);
        Ok((frames.max(1), loops))
    }
}

/// Calls `frame` with each frame of an animation composed on its canvas (RGBA) and the
/// milliseconds it shows, at most `max_frames` of them.
pub(super) fn for_each_frame(
    bytes: &[u8],
    header: &Header,
    max_frames: u32,
    frame: &mut super::FrameSink<'_>,
) -> Result<(), RenderError> {
    let data = webp::WebPData { bytes: bytes.as_ptr(), size: bytes.len() };
    let len = header.width as usize * header.height as usize * 4;
    // SAFETY: as in first_frame; each frame buffer is read before the next call replaces it, and
    // the decoder is deleted on every path out (the guard).
    unsafe {
        let mut options: webp::WebPAnimDecoderOptions = std::mem::zeroed();
        if webp::WebPAnimDecoderOptionsInit(&mut options) == 0 {
            return Err(corrupt("libwebp version mismatch"));
        }
        options.color_mode = webp::WEBP_CSP_MODE::MODE_RGBA;
        options.use_threads = 0;
        let dec = webp::WebPAnimDecoderNew(&data, &options);
        if dec.is_null() {
            return Err(corrupt("unreadable animation"));
        }
        struct Delete(*mut webp::WebPAnimDecoder);
        impl Drop for Delete {
            fn drop(&mut self) {
                // SAFETY: created above, deleted once.
                unsafe { webp::WebPAnimDecoderDelete(self.0) };
            }
        }
        let _delete = Delete(dec);
        let (mut shown, mut previous) = (0, 0);
        // libwebp keeps its canvas for the next frame: the sink gets a copy, one buffer reused.
        let mut canvas = Vec::new();
        while shown < max_frames && webp::WebPAnimDecoderHasMoreFrames(dec) != 0 {
            let (mut buf, mut timestamp): (*mut u8, i32) = (ptr::null_mut(), 0);
            if webp::WebPAnimDecoderGetNext(dec, &mut buf, &mut timestamp) == 0 || buf.is_null() {
                return Err(corrupt(format_args!("frame {} of the animation cannot be decoded", shown + 1)));
            }
            let duration = u32::try_from(timestamp - previous).unwrap_or(0);
            previous = timestamp;
            canvas.clear();
            canvas.extend_from_slice(std::slice::from_raw_parts(buf, len));
            frame(&mut canvas, duration)?;
            shown += 1;
        }
        Ok(())
    }
}

/// The payload of the first RIFF chunk with this FourCC (the extended format's metadata chunks).
fn chunk<'a>(bytes: &'a [u8], fourcc: &[u8; 4]) -> Option<&'a [u8]> {
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().ok()?) as usize;
        let body = bytes.get(at + 8..at + 8 + size)?;
        if id == fourcc {
            return Some(body);
        }
        at += 8 + size + (size & 1);
    }
    None
}
