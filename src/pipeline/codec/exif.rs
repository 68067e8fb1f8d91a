//! The EXIF orientation tag, read from a TIFF-structured EXIF block.

use crate::pipeline::orient::Orientation;

/// Orientation from an EXIF block (with or without the `Exif\0\0` prefix of JPEG APP1 and some
/// WebP files). Unreadable EXIF counts as upright: a photo with broken metadata still renders.
pub fn orientation(block: &[u8]) -> Orientation {
    let tiff = block.strip_prefix(b"Exif\0\0").unwrap_or(block);
    let mut reader = exif::Reader::new();
    reader.continue_on_error(true);
    let parsed = match reader.read_raw(tiff.to_vec()) {
        Ok(parsed) => parsed,
        Err(exif::Error::PartialResult(partial)) => partial.into_inner().0,
        Err(_) => return Orientation::UPRIGHT,
    };
    parsed
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .map_or(Orientation::UPRIGHT, Orientation::from_exif)
}
