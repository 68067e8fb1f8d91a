//! AVIF through the system libavif: a C shim compiled by build.rs against the installed header,
//! so this side only passes plain values. A build without libavif's development files
//! (`cfg(avif)` unset) neither reads nor writes AVIF (see `ImageFormat::is_read`, `is_written`).
//!
//! Originals: libavif with dav1d, one thread (2-3x faster than libheif on the same files,
//! benches/quality/avif_decode.sh); the first image of a sequence; the clean aperture cropped in
//! the shim; `irot`/`imir` as an [`Orientation`] applied after the resize like EXIF's (EXIF
//! orientation itself is ignored, as HEIF readers do: turned once); 10/12 bits to 8; the ICC
//! profile or the nclx primaries to sRGB. Bounded by the file's tiles and declared sizes
//! (`heif::check_work`), libavif's size and frame-count limits, and the deadline checked when
//! the decode returns (libavif cannot be stopped midway). Output: aom (see docs/delivery.md).

use std::borrow::Cow;

use super::{Codec, Decoded, Effort, Header, heif, pixel_buffer};
use crate::model::ImageFormat;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;
use crate::pipeline::{Limits, RenderError, color};

/// What the header of an AVIF says (`struct image_server_avif_info` of avif_shim.c).
#[repr(C)]
#[derive(Default)]
struct Info {
    width: u32,
    height: u32,
    alpha: i32,
    angle: i32,
    mirror: i32,
    icc_len: u64,
    primaries: i32,
    transfer: i32,
    frames: u32,
}

impl Info {
    /// `irot` (anticlockwise quarter turns) then `imir` (0 top-bottom, 1 left-right) as the EXIF
    /// orientation that shows the image the same way.
    fn orientation(&self) -> Orientation {
        // imir left-right after a turn is the top-bottom mirror after the opposite turn.
        let (angle, mirror) = match self.mirror {
            1 => ((self.angle + 2) & 3, true),
            0 => (self.angle & 3, true),
            _ => (self.angle & 3, false),
        };
        let exif = match (angle, mirror) {
            (0, false) => 1,
            (2, true) => 2,
            (2, false) => 3,
            (0, true) => 4,
            (1, true) => 5,
            (3, false) => 6,
            (3, true) => 7,
            _ => 8, // (1, false)
        };
        Orientation::from_exif(exif)
    }
}

fn corrupt(reason: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt("AVIF", reason)
}

/// libavif's limit on an image's pixels.
fn size_limit(limits: &Limits) -> u32 {
    u32::try_from(limits.max_source_pixels).unwrap_or(u32::MAX)
}

/// AVIF's row of the codec table.
pub(super) struct Avif;

impl Codec for Avif {
    fn format(&self) -> ImageFormat {
        ImageFormat::Avif
    }

    fn signature(&self) -> &'static [u8] {
        b"\0\0\0\x18ftypavif\0\0\0\0mif1avif"
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        heif::brand(bytes) == Some(ImageFormat::Avif)
    }

    /// An animated AVIF gives its first frame, so it counts as one frame.
    fn read_header(&self, bytes: &[u8], limits: &Limits) -> Result<Header, RenderError> {
        heif::check_work(bytes, ImageFormat::Avif, limits)?;
        let info = imp::info(bytes, size_limit(limits)).map_err(corrupt)?;
        Ok(Header {
            format: ImageFormat::Avif,
            width: info.width,
            height: info.height,
            orientation: info.orientation(),
        })
    }

    fn decode(&self, bytes: &[u8], header: &Header, _: f64, limits: &Limits) -> Result<Decoded, RenderError> {
        let started = std::time::Instant::now();
        let info = imp::info(bytes, size_limit(limits)).map_err(corrupt)?;
        if (info.width, info.height) != (header.width, header.height) {
            return Err(corrupt("the file changed between header and decode"));
        }
        let layout = if info.alpha != 0 { Layout::Rgba } else { Layout::Rgb };
        let mut data = pixel_buffer("AVIF", info.width as usize * info.height as usize * layout.channels())?;
        let icc_len = usize::try_from(info.icc_len).unwrap_or(usize::MAX);
        let mut icc = if icc_len > 0 && icc_len <= super::MAX_ICC_BYTES { vec![0u8; icc_len] } else { Vec::new() };
        imp::decode(bytes, size_limit(limits), &info, layout, &mut data, &mut icc).map_err(corrupt)?;
        if started.elapsed() > limits.deadline() {
            return Err(RenderError::DecodeTimeout { secs: limits.deadline().as_secs() });
        }
        let icc = if icc.is_empty() { color::nclx_profile(info.primaries, info.transfer) } else { Some(icc) };
        Ok(Decoded { bitmap: Bitmap::new(layout, info.width, info.height, data), icc, cmyk_inverted: false })
    }

    /// dav1d's planes (8-bit 4:2:0 with alpha: 2.5; 10-bit 4:4:4: 6) and our RGBA bitmap (4).
    fn decode_bytes_per_pixel(&self) -> u64 {
        8
    }

    /// Measured (16.0 without alpha, 17.0 with; a flat image holds 10): libavif's YUV and alpha
    /// planes (2.5) and aom's frame buffers, lookahead and statistics for the colour and the
    /// alpha images; our bitmap is dropped once in the planes.
    fn encode_bytes_per_pixel(&self, _pixels: u64, alpha: bool) -> u64 {
        if alpha { 18 } else { 17 }
    }

    fn encode(&self, bitmap: Cow<'_, Bitmap>, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
        encode(bitmap, quality, effort)
    }
}

/// The 1..=100 quality scale of libavif 1.x and `avifenc -q`, as aom's quantizer (0 best ..
/// 63 worst): 60 is 25, 80 is 13, 100 is lossless.
pub(crate) fn quantizer(quality: u8) -> i32 {
    let quality = i32::from(quality.clamp(1, 100));
    ((100 - quality) * 63 + 50) / 100
}

/// libavif's version and codecs and libheif's, or why there are none.
pub(crate) fn versions() -> String {
    format!("{}; {}", imp::versions(), heif::versions())
}

/// Encodes an RGB, RGBA or gray bitmap as a still AVIF at `quality` (4:2:0, full range sRGB,
/// alpha at the colour's quantizer). The pixels go into libavif's YUV planes first, and an owned
/// `bitmap` is dropped before aom encodes them.
fn encode(bitmap: Cow<'_, Bitmap>, quality: u8, effort: Effort) -> Result<Vec<u8>, RenderError> {
    if bitmap.layout == Layout::Cmyk {
        return Err(RenderError::Encode { format: "avif", reason: "cannot write Cmyk pixels".to_owned() });
    }
    let q = quantizer(quality);
    imp::encode(bitmap, q, q, effort).map_err(|reason| match reason {
        None => RenderError::Internal("this build has no libavif (apt-get install libavif-dev, then rebuild)".into()),
        Some(reason) => RenderError::Encode { format: "avif", reason },
    })
}

/// The shim, where libavif is built in.
#[cfg(avif)]
mod shim;
#[cfg(avif)]
use shim as imp;

/// Without libavif nothing here reads: `ImageFormat::is_read` says no first.
#[cfg(not(avif))]
mod imp {
    use std::borrow::Cow;

    use super::{Effort, Info};
    use crate::pipeline::bitmap::{Bitmap, Layout};

    const NONE: &str = "this build has no libavif (apt-get install libavif-dev, then rebuild)";

    pub(super) fn info(_: &[u8], _: u32) -> Result<Info, String> {
        Err(NONE.to_owned())
    }

    pub(super) fn decode(_: &[u8], _: u32, _: &Info, _: Layout, _: &mut [u8], _: &mut [u8]) -> Result<(), String> {
        Err(NONE.to_owned())
    }

    pub(super) fn encode(_: Cow<'_, Bitmap>, _: i32, _: i32, _: Effort) -> Result<Vec<u8>, Option<String>> {
        Err(None)
    }

    pub(super) fn versions() -> String {
        "none: built without libavif (apt-get install libavif-dev, then rebuild)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(avif))]
    #[test]
    fn this_build_writes_avif() {
        panic!("built without libavif: apt-get install libavif-dev (scripts/test does), then rebuild");
    }

    #[test]
    fn irot_and_imir_are_the_exif_orientation_that_shows_the_same() {
        let orientation = |angle, mirror| Info { angle, mirror, ..Info::default() }.orientation().value();
        let table = [(0, -1, 1), (0, 1, 2), (2, -1, 3), (0, 0, 4), (1, 0, 5), (3, -1, 6), (3, 0, 7), (1, -1, 8)];
        for (angle, mirror, exif) in table {
            assert_eq!(orientation(angle, mirror), exif, "irot {angle} imir {mirror}");
        }
        assert_eq!((orientation(2, 0), orientation(2, 1), orientation(1, 1), orientation(3, 1)), (2, 4, 7, 5));
    }

    #[test]
    fn quality_scale_is_libavifs() {
        assert_eq!(quantizer(100), 0);
        assert_eq!(quantizer(60), 25);
        assert_eq!(quantizer(80), 13);
        assert_eq!(quantizer(1), 62);
    }

    #[cfg(avif)]
    #[test]
    fn encodes_rgb_rgba_and_gray() {
        let (w, h) = (67, 45);
        let rgb = Bitmap::new(Layout::Rgb, w, h, (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect());
        let rgba = Bitmap::new(Layout::Rgba, w, h, (0..w * h * 4).map(|i| (i % 199) as u8).collect());
        let gray = Bitmap::new(Layout::Gray, w, h, (0..w * h).map(|i| (i % 256) as u8).collect());
        let alpha_urn: &[u8] = b"urn:mpeg:mpegB:cicp:systems:auxiliary:alpha";
        let gray_as_rgb = encode(Cow::Owned(gray.clone().into_rgb()), 60, Effort::Fast).unwrap();
        assert_eq!(
            encode(Cow::Borrowed(&gray), 60, Effort::Fast).unwrap(),
            gray_as_rgb,
            "gray goes in as its RGB would"
        );
        for (bitmap, alpha) in [(rgb, false), (rgba, true), (gray, false)] {
            let bytes = encode(Cow::Borrowed(&bitmap), 60, Effort::Fast).unwrap();
            assert_eq!(&bytes[4..12], b"ftypavif");
            assert_eq!(bytes.windows(alpha_urn.len()).any(|x| x == alpha_urn), alpha, "{:?}", bitmap.layout);
        }
        assert!(versions().contains("aom"), "{}", versions());
    }
}
