//! TIFF originals through the `tiff` crate: the first page only (the directory chain is never
//! walked, so a file of a million pages or a looping chain costs one directory), strips and
//! tiles read one chunk at a time with the deadline checked between them, none/LZW/Deflate/
//! PackBits/JPEG compression, 8 and 16-bit gray, RGB and CMYK with or without alpha (16 bits
//! reduced to 8), the ICC profile (tag 34675) and the orientation tag (274). Not written.

use std::io::Cursor;
use std::time::Instant;

use tiff::ColorType;
use tiff::decoder::{Decoder, DecodingResult};
use tiff::tags::Tag;

use super::{Codec, Decoded, Header, MAX_ICC_BYTES};
use crate::model::ImageFormat;
use crate::pipeline::bitmap::{Bitmap, Layout};
use crate::pipeline::orient::Orientation;
use crate::pipeline::{Limits, RenderError};

/// TIFF's row of the codec table.
pub(super) struct Tiff;

fn corrupt(reason: impl std::fmt::Display) -> RenderError {
    RenderError::corrupt("TIFF", reason)
}

/// Bytes one tag's value may take: an ICC profile is the largest the server reads.
const MAX_TAG_BYTES: usize = MAX_ICC_BYTES;

impl Codec for Tiff {
    fn format(&self) -> ImageFormat {
        ImageFormat::Tiff
    }

    fn signature(&self) -> &'static [u8] {
        b"II*\0"
    }

    fn sniff(&self, bytes: &[u8]) -> bool {
        ["II*\0", "MM\0*", "II+\0", "MM\0+"].iter().any(|magic| bytes.starts_with(magic.as_bytes()))
    }

    fn read_header(&self, bytes: &[u8], _: &Limits) -> Result<Header, RenderError> {
        let mut decoder = decoder(bytes, 0)?;
        let (width, height) = decoder.dimensions().map_err(corrupt)?;
        let orientation = match decoder.find_tag(Tag::Orientation) {
            Ok(Some(value)) => value.into_u32().map_or(Orientation::UPRIGHT, Orientation::from_exif),
            _ => Orientation::UPRIGHT,
        };
        Ok(Header { format: ImageFormat::Tiff, width, height, orientation })
    }

    /// Our bitmap (4) and one strip or tile as the file stores it and reduced to 8 bits: a file
    /// of one strip of 8-bit RGBA holds 4 more, of 16-bit 12 more (more than charged).
    fn decode_bytes_per_pixel(&self) -> u64 {
        12
    }

    fn decode(&self, bytes: &[u8], header: &Header, _: f64, limits: &Limits) -> Result<Decoded, RenderError> {
        let started = Instant::now();
        let (width, height) = (header.width, header.height);
        let mut decoder = decoder(bytes, width as usize * height as usize * 8)?;
        // (layout, bits, gray and alpha stored as 2 samples)
        let (layout, bits, gray_alpha) = match decoder.colortype().map_err(corrupt)? {
            ColorType::Gray(bits) => (Layout::Gray, bits, false),
            ColorType::GrayA(bits) | ColorType::Multiband { bit_depth: bits, num_samples: 2 } => {
                (Layout::Rgba, bits, true)
            }
            ColorType::RGB(bits) => (Layout::Rgb, bits, false),
            ColorType::RGBA(bits) => (Layout::Rgba, bits, false),
            ColorType::CMYK(bits) => (Layout::Cmyk, bits, false),
            other => return Err(corrupt(format_args!("{other:?} pixels are not read"))),
        };
        if bits != 8 && bits != 16 {
            return Err(corrupt(format_args!("{bits}-bit samples are not read")));
        }
        let planar = decoder.find_tag(Tag::PlanarConfiguration).ok().flatten().and_then(|v| v.into_u32().ok());
        if planar == Some(2) {
            return Err(corrupt("separate colour planes are not read"));
        }
        let icc = decoder.get_tag_u8_vec(Tag::IccProfile).ok().filter(|icc| icc.len() <= MAX_ICC_BYTES);

        // Samples as the file stores them (gray and alpha as 2), into our own 8-bit buffer.
        let samples = if gray_alpha { 2 } else { layout.channels() };
        let row_len = width as usize * samples;
        let len = row_len * height as usize;
        let mut data = super::pixel_buffer_with_room("TIFF", len, if gray_alpha { len * 2 } else { len })?;
        let (chunk_w, chunk_h) = decoder.chunk_dimensions();
        let across = width.div_ceil(chunk_w.max(1)).max(1);
        let chunks = u32::try_from(u64::from(across) * u64::from(height.div_ceil(chunk_h.max(1)))).map_err(corrupt)?;
        for index in 0..chunks {
            if started.elapsed() > limits.deadline() {
                return Err(RenderError::DecodeTimeout { secs: limits.deadline().as_secs() });
            }
            let (w, h) = decoder.chunk_data_dimensions(index);
            let (x, y) = ((index % across) * chunk_w, (index / across) * chunk_h);
            let chunk = to_8bit(decoder.read_chunk(index).map_err(corrupt)?)?;
            let chunk_row = w as usize * samples;
            if w == 0 || chunk.len() < chunk_row * h as usize || x + w > width || y + h > height {
                return Err(corrupt(format_args!("chunk {index} does not fit the image")));
            }
            for (r, src) in chunk.chunks_exact(chunk_row).take(h as usize).enumerate() {
                let at = (y as usize + r) * row_len + x as usize * samples;
                data[at..at + chunk_row].copy_from_slice(src);
            }
        }
        if gray_alpha {
            data = super::gray_alpha_to_rgba(data);
        }
        Ok(Decoded { bitmap: Bitmap::new(layout, width, height, data), icc, cmyk_inverted: false })
    }
}

/// A decoder of the first directory whose decoded chunks may take `buffer` bytes (at least
/// 1 MiB) and whose tags at most [`MAX_TAG_BYTES`].
fn decoder(bytes: &[u8], buffer: usize) -> Result<Decoder<Cursor<&[u8]>>, RenderError> {
    let mut limits = tiff::decoder::Limits::default();
    limits.decoding_buffer_size = buffer.max(1 << 20);
    limits.intermediate_buffer_size = buffer.max(1 << 20);
    limits.ifd_value_size = MAX_TAG_BYTES;
    Ok(Decoder::new(Cursor::new(bytes)).map_err(corrupt)?.with_limits(limits))
}

/// 8-bit samples as they are, 16-bit ones reduced to their high byte.
fn to_8bit(result: DecodingResult) -> Result<Vec<u8>, RenderError> {
    match result {
        DecodingResult::U8(v) => Ok(v),
        DecodingResult::U16(v) => Ok(v.into_iter().map(|s| (s >> 8) as u8).collect()),
        _ => Err(corrupt("samples other than 8 or 16-bit integers are not read")),
    }
}
