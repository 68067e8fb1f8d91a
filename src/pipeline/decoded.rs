//! Working copies decoded whole, so that every variant of one image can render from one decode:
//! a burst of misses on a new image (the sizes one page asks for) decodes it once, not per size.
//!
//! Which sources are decoded whole depends only on the source (a working copy, of at most
//! [`WHOLE_DECODE_MAX_PIXELS`]), never on whether a decode was kept: a render is the same bytes
//! on every node, from a kept decode or not. Originals keep their scaled decode.

use super::codec::{self, Decoded, Header};
use super::{Bitmap, Framing, Limits, RenderError, RenderSpec, resize};

/// Working copies of at most this many pixels are decoded whole: every one at the default
/// `working_copy_max_side` (2048). One such decode holds at most 16 MiB (RGBA).
pub(super) const WHOLE_DECODE_MAX_PIXELS: u64 = 2048 * 2048;

/// A still source decoded at its stored size, with what rendering from it needs.
pub struct DecodedSource {
    header: Header,
    decoded: Decoded,
}

impl DecodedSource {
    /// Bytes it keeps alive.
    pub fn weight(&self) -> usize {
        self.decoded.bitmap.data.len() + self.decoded.icc.as_ref().map_or(0, Vec::len)
    }
}

/// Whether a source of this header is decoded whole.
pub(super) fn decodes_whole(header: &Header) -> bool {
    u64::from(header.width) * u64::from(header.height) <= WHOLE_DECODE_MAX_PIXELS
}

/// A working copy decoded whole, or `None` for one too large to share (render it with
/// [`super::prepare`], which decodes it scaled).
pub fn decode_whole(bytes: &[u8], limits: &Limits) -> Result<Option<DecodedSource>, RenderError> {
    let header = codec::read_header(bytes, limits)?;
    if !decodes_whole(&header) {
        return Ok(None);
    }
    let decoded = codec::decode(bytes, &header, 1.0, limits)?;
    Ok(Some(DecodedSource { header, decoded }))
}

/// [`super::prepare`] from a source decoded whole: the same pixels, without decoding.
pub fn prepare_decoded(
    source: &DecodedSource,
    original_size: Option<(u32, u32)>,
    spec: &RenderSpec,
) -> Result<Bitmap, RenderError> {
    let framing = Framing::new(&source.header, spec.geometry, original_size, spec.placement);
    let bitmap = &source.decoded.bitmap;
    let crop = framing.crop_on(bitmap.width, bitmap.height);
    let resized = resize::resize_shared(bitmap, crop, framing.width, framing.height)?;
    Ok(framing.finish(resized, source.decoded.icc.as_deref(), source.decoded.cmyk_inverted))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::{Geometry, ImageFormat};
    use crate::pipeline::codec::JpegBounds;
    use crate::pipeline::{Effort, Placement, make_working_copies, render_from_working_copy, working_copy_sizes};

    /// A render from a kept decode is the bytes of the render that decodes the copy itself.
    #[test]
    fn a_kept_decode_renders_the_same_bytes() {
        let limits = Limits {
            max_source_pixels: 100_000_000,
            jpeg: JpegBounds { max_scans: 100, deadline: Duration::from_secs(30) },
            max_animation_frames: 10,
            decode_budget_pixels: 100_000_000,
        };
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        for file in ["jpeg/photo_2.5mp_storm_baseline_exif.jpg", "png/rgba_bug_2048x1536.png"] {
            let original = std::fs::read(corpus.join(file)).unwrap();
            let header = codec::read_header(&original, &limits).unwrap();
            let size = header.orientation.upright_size(header.width, header.height);
            let sizes = working_copy_sizes(size.0, size.1, header.format, 2048);
            let copies = make_working_copies(&original, sizes, &limits).unwrap();
            let copy = &copies.copies.last().unwrap().1.bytes;
            let kept = decode_whole(copy, &limits).unwrap().expect("a working copy is decoded whole");
            for geometry in [Geometry::Width(300), Geometry::Square(120), Geometry::Rect { width: 400, height: 90 }] {
                for format in [ImageFormat::Jpeg, ImageFormat::Png] {
                    let spec = RenderSpec {
                        geometry,
                        format,
                        quality: 80,
                        effort: Effort::Fast,
                        placement: Placement::Centre,
                    };
                    let fresh = render_from_working_copy(copy, size, &spec, &limits).unwrap();
                    let from_kept =
                        super::super::encode_prepared(prepare_decoded(&kept, Some(size), &spec).unwrap(), &spec);
                    assert!(fresh.bytes == from_kept.unwrap().bytes, "{file} {geometry:?} {format:?}");
                }
            }
        }
    }
}
