//! Animated variants of animated originals (DESIGN.md §10): every frame composed on its canvas,
//! cropped and resized like a still, and streamed into a GIF or WebP animation encoder with its
//! timing and the original's loop count. The decoder's canvas (for WebP, libwebp's and a copy),
//! one resized frame and the encoder's state are held at a time, never the whole animation.

use super::bitmap::{Bitmap, Layout};
use super::{Limits, RenderError, RenderSpec, Rendered, codec, plan, resize};

/// Whether an original of `frames` frames on a `width` x `height` canvas is rendered as an
/// animation: at most `max_animation_frames`, and frames x canvas within four times
/// `max_source_pixels`. Other animations give their first frame.
pub fn keeps_animation(frames: u32, width: u32, height: u32, limits: &Limits) -> bool {
    let pixels = u64::from(frames) * u64::from(width) * u64::from(height);
    frames > 1 && frames <= limits.max_animation_frames && pixels <= limits.max_source_pixels.saturating_mul(4)
}

/// Renders an animated original into an animated variant (formats that [`ImageFormat::animates`]),
/// every frame cropped by the same box (placed as `spec.placement` says).
///
/// [`ImageFormat::animates`]: crate::model::ImageFormat::animates
pub fn render_animation(bytes: &[u8], spec: &RenderSpec, limits: &Limits) -> Result<Rendered, RenderError> {
    let header = codec::read_header(bytes, limits)?;
    let orientation = header.orientation;
    let (upright_w, upright_h) = orientation.upright_size(header.width, header.height);
    let plan = plan::plan_with(upright_w, upright_h, spec.geometry, spec.placement);
    let crop = orientation.crop_to_stored(plan.crop, header.width, header.height);
    let (dst_w, dst_h) = orientation.stored_size(plan.width, plan.height);
    let (_, plays) = codec::animation(bytes, &header)?;
    let mut encoder = codec::animation_encoder(spec.format, plan.width, plan.height, spec.quality, plays)?;
    codec::for_each_frame(bytes, &header, limits.max_animation_frames, &mut |canvas, duration_ms| {
        // Resized from the canvas itself (no copy), which is then handed back for the next frame.
        let mut frame = Bitmap::new(Layout::Rgba, header.width, header.height, std::mem::take(canvas));
        let resized = resize::resize_from(&mut frame, crop, dst_w, dst_h);
        *canvas = frame.data;
        encoder.add(orientation.apply(resized?).into_rgba(), duration_ms)
    })?;
    let bytes = encoder.finish()?;
    Ok(Rendered { bytes, width: plan.width, height: plan.height })
}
