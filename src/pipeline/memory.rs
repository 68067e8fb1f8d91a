//! What pipeline work holds in memory at its peak, from the codec table (each codec's bytes per
//! pixel of decoding and of encoding, measured and written down in its module): the charge the
//! CPU pool draws from `decode_budget_pixels`, a budget pixel standing for
//! [`BUDGET_BYTES_PER_PIXEL`] bytes, and what is refused when a single piece of work would hold
//! more than the whole budget (DESIGN.md §9).
//!
//! A render holds the most in one of three phases: decoding the source (the decoder's own
//! buffers and our bitmap), resampling it (the source's bitmap and the output's), or encoding
//! the output (our bitmap and the encoder's buffers, or the encoder's alone when it drops ours).
//! Encoders hold more for pixels with alpha; an original whose format cannot carry alpha (JPEG)
//! never gives any, other originals are charged as if they did.

pub use super::BUDGET_BYTES_PER_PIXEL;
use super::Limits;
pub use super::codec::{decode_bytes, encode_bytes};
use crate::model::ImageFormat;

/// What one piece of work holds, in the budget's pixels.
pub fn budget_pixels(bytes: u64) -> u64 {
    bytes.div_ceil(BUDGET_BYTES_PER_PIXEL)
}

/// Whether the pixels of an original of `format` may have alpha (an unknown format: as if so).
pub fn may_have_alpha(original: Option<ImageFormat>) -> bool {
    original.is_none_or(ImageFormat::has_alpha)
}

/// What decoding a whole `width` x `height` original of `format` is charged, in budget pixels.
pub fn decode_charge(format: ImageFormat, width: u32, height: u32) -> u64 {
    budget_pixels(decode_bytes(format, u64::from(width) * u64::from(height)))
}

/// Bytes a render holds at its peak: decoding `source` pixels of `from`, resampling them to
/// `output` pixels (unless they are the same) and encoding those as `to`.
pub fn render_bytes(from: ImageFormat, source: u64, to: ImageFormat, output: u64, alpha: bool) -> u64 {
    let resize =
        if output == source { 0 } else { source.saturating_add(output).saturating_mul(BUDGET_BYTES_PER_PIXEL) };
    decode_bytes(from, source).max(resize).max(encode_bytes(to, output, alpha))
}

/// Whether encoding `width` x `height` as `format` fits in the decode budget.
pub fn encode_fits(format: ImageFormat, width: u32, height: u32, alpha: bool, limits: &Limits) -> bool {
    encode_bytes(format, u64::from(width) * u64::from(height), alpha) <= limits.budget_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_holds_its_largest_phase() {
        let (jpeg, avif, png) = (ImageFormat::Jpeg, ImageFormat::Avif, ImageFormat::Png);
        let big = 50_000_000;
        // Full size: no resampling; the encoder's phase is the larger.
        assert_eq!(render_bytes(jpeg, big, avif, big, false), encode_bytes(avif, big, false));
        // A thumbnail: decoding the original is the most.
        assert_eq!(render_bytes(jpeg, big, jpeg, 10_000, false), decode_bytes(jpeg, big).max((big + 10_000) * 4));
        assert!(render_bytes(jpeg, big, avif, big, false) > render_bytes(jpeg, big, jpeg, big, false));
        // Alpha costs encoders more, and a JPEG original has none.
        assert!(encode_bytes(png, big, true) > encode_bytes(png, big, false));
        assert!(!may_have_alpha(Some(jpeg)) && may_have_alpha(Some(png)) && may_have_alpha(None));
        assert_eq!(budget_pixels(9), 3);
    }
}
