//! Animated variants of animated originals (DESIGN.md §10): every frame composed on its canvas,
//! cropped and resized like a still, and streamed into a GIF or WebP animation encoder with its
//! timing and the original's loop count. The decoder's canvas (for WebP, libwebp's and a copy),
//! one resized frame and the encoder's state are held at a time, never the whole animation.

use std::cell::RefCell;
use std::io::Write;
use std::rc::Rc;

use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, RgbaImage};
use libwebp_sys as webp;

use super::bitmap::{Bitmap, Layout};
use super::{Limits, RenderError, RenderSpec, Rendered, decode, plan, resize};
use crate::model::ImageFormat;

/// Whether an original of `frames` frames on a `width` x `height` canvas is rendered as an
/// animation: at most `max_animation_frames`, and frames x canvas within four times
/// `max_source_pixels`. Other animations give their first frame.
pub fn keeps_animation(frames: u32, width: u32, height: u32, limits: &Limits) -> bool {
    let pixels = u64::from(frames) * u64::from(width) * u64::from(height);
    frames > 1 && frames <= limits.max_animation_frames && pixels <= limits.max_source_pixels.saturating_mul(4)
}

/// Renders an animated GIF or WebP original into an animated GIF or WebP variant, every frame
/// cropped by the same box (placed as `spec.placement` says).
pub fn render_animation(bytes: &[u8], spec: &RenderSpec, limits: &Limits) -> Result<Rendered, RenderError> {
    let header = decode::read_header(bytes, limits)?;
    let orientation = header.orientation;
    let (upright_w, upright_h) = orientation.upright_size(header.width, header.height);
    let plan = plan::plan_with(upright_w, upright_h, spec.geometry, spec.placement);
    let crop = orientation.crop_to_stored(plan.crop, header.width, header.height);
    let (dst_w, dst_h) = orientation.stored_size(plan.width, plan.height);
    let (_, plays) = decode::animation(bytes, &header)?;
    let mut encoder = AnimationEncoder::new(spec.format, plan.width, plan.height, spec.quality, plays)?;
    decode::for_each_frame(bytes, &header, limits.max_animation_frames, &mut |canvas, duration_ms| {
        // Resized from the canvas itself (no copy), which is then handed back for the next frame.
        let mut frame = Bitmap::new(Layout::Rgba, header.width, header.height, std::mem::take(canvas));
        let resized = resize::resize_from(&mut frame, crop, dst_w, dst_h);
        *canvas = frame.data;
        encoder.add(orientation.apply(resized?).into_rgba(), duration_ms)
    })?;
    let bytes = encoder.finish()?;
    Ok(Rendered { bytes, width: plan.width, height: plan.height })
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

/// An animation being encoded, frame by frame.
enum AnimationEncoder {
    Gif(GifEncoder<Output>, Output),
    Webp(WebpAnimation),
}

fn encode_error(format: ImageFormat, reason: impl std::fmt::Display) -> RenderError {
    RenderError::Encode { format: format.name(), reason: reason.to_string() }
}

impl AnimationEncoder {
    /// An encoder for an animation that plays `plays` times (0: forever).
    fn new(format: ImageFormat, width: u32, height: u32, quality: u8, plays: u32) -> Result<Self, RenderError> {
        match format {
            ImageFormat::Gif => {
                let output = Output::default();
                let mut gif = GifEncoder::new_with_speed(output.clone(), 10);
                // NETSCAPE counts repeats after the first play; Finite(0) writes no extension.
                let repeat = match plays {
                    0 => Repeat::Infinite,
                    n => Repeat::Finite((n - 1).min(65_535) as u16),
                };
                gif.set_repeat(repeat).map_err(|e| encode_error(format, e))?;
                Ok(AnimationEncoder::Gif(gif, output))
            }
            ImageFormat::Webp => Ok(AnimationEncoder::Webp(WebpAnimation::new(width, height, quality, plays)?)),
            ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Avif => {
                Err(RenderError::Internal(format!("{} cannot hold an animation", format.label())))
            }
        }
    }

    fn add(&mut self, frame: Bitmap, duration_ms: u32) -> Result<(), RenderError> {
        match self {
            AnimationEncoder::Gif(gif, _) => {
                let (w, h) = (frame.width, frame.height);
                let image = RgbaImage::from_raw(w, h, frame.data).expect("an RGBA frame of its size");
                let delay = Delay::from_numer_denom_ms(duration_ms, 1);
                gif.encode_frame(Frame::from_parts(image, 0, 0, delay)).map_err(|e| encode_error(ImageFormat::Gif, e))
            }
            AnimationEncoder::Webp(webp) => webp.add(&frame, duration_ms),
        }
    }

    fn finish(self) -> Result<Vec<u8>, RenderError> {
        match self {
            AnimationEncoder::Gif(gif, output) => {
                drop(gif); // writes the trailer
                Ok(output.0.take())
            }
            AnimationEncoder::Webp(webp) => webp.finish(),
        }
    }
}

/// libwebp's animation encoder, deleted when dropped.
struct WebpAnimation {
    encoder: *mut webp::WebPAnimEncoder,
    config: webp::WebPConfig,
    timestamp_ms: i32,
}

impl WebpAnimation {
    fn new(width: u32, height: u32, quality: u8, plays: u32) -> Result<Self, RenderError> {
        let fail = |why: &str| encode_error(ImageFormat::Webp, why);
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

    fn add(&mut self, frame: &Bitmap, duration_ms: u32) -> Result<(), RenderError> {
        // SAFETY: the picture is initialised by libwebp, imports `frame`'s RGBA rows (height rows
        // of width * 4 bytes) into its own memory, and is freed on every path.
        unsafe {
            let mut picture =
                webp::WebPPicture::new().map_err(|()| encode_error(ImageFormat::Webp, "libwebp version mismatch"))?;
            picture.use_argb = 1;
            picture.width = frame.width as i32;
            picture.height = frame.height as i32;
            let imported = webp::WebPPictureImportRGBA(&mut picture, frame.data.as_ptr(), frame.width as i32 * 4) != 0;
            let added =
                imported && webp::WebPAnimEncoderAdd(self.encoder, &mut picture, self.timestamp_ms, &self.config) != 0;
            webp::WebPPictureFree(&mut picture);
            if !added {
                return Err(encode_error(ImageFormat::Webp, self.error()));
            }
        }
        self.timestamp_ms = self.timestamp_ms.saturating_add(i32::try_from(duration_ms).unwrap_or(i32::MAX));
        Ok(())
    }

    fn finish(self) -> Result<Vec<u8>, RenderError> {
        // SAFETY: a null frame ends the animation at the last timestamp; the assembled data is
        // copied out and released with WebPDataClear.
        unsafe {
            let mut data: webp::WebPData = std::mem::zeroed();
            webp::WebPDataInit(&mut data);
            let done =
                webp::WebPAnimEncoderAdd(self.encoder, std::ptr::null_mut(), self.timestamp_ms, std::ptr::null()) != 0
                    && webp::WebPAnimEncoderAssemble(self.encoder, &mut data) != 0;
            if !done {
                return Err(encode_error(ImageFormat::Webp, self.error()));
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

impl Drop for WebpAnimation {
    fn drop(&mut self) {
        // SAFETY: created in new, deleted once.
        unsafe { webp::WebPAnimEncoderDelete(self.encoder) };
    }
}
