//! Writing JPEG with libjpeg-turbo's and mozjpeg's encoders: which one an output gets, and the
//! baseline working copies.

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::pipeline::RenderError;
use crate::pipeline::bitmap::{Bitmap, Layout};

/// Encodes a working copy: a baseline JPEG, because a progressive one is several times slower to
/// decode (libjpeg keeps the whole coefficient buffer, even when decoding scaled), and working
/// copies are decoded on every miss.
pub(crate) fn working_copy_jpeg(bitmap: &Bitmap, quality: u8) -> Result<Vec<u8>, RenderError> {
    jpeg(bitmap, quality, JpegSettings::Fast { progressive: false })
        .map_err(|reason| RenderError::Encode { format: "jpg", reason })
}

/// Which of libjpeg's encoders writes a JPEG.
#[derive(Clone, Copy)]
pub(super) enum JpegSettings {
    /// libjpeg-turbo's, with optimised Huffman tables, progressive where asked.
    Fast { progressive: bool },
    /// mozjpeg's defaults (trellis quantisation, a progressive script searched for the fewest
    /// bytes) over the same quantisation tables as `Fast`.
    Small,
    /// libjpeg-turbo's, baseline with the standard Huffman tables: each row is coded as it
    /// comes, without the whole-image coefficient buffers the others hold.
    Streamed,
}

/// Below this size the progressive script's extra scan headers outweigh what it saves.
pub(super) const PROGRESSIVE_FROM_PIXELS: u64 = 50_000;

/// Above this size an output is streamed ([`JpegSettings::Streamed`]): the whole-image buffers
/// of optimised tables and progressive scans would hold 6 bytes a pixel (96 MB here) on top of
/// the bitmap, for a few percent fewer bytes.
pub(super) const STREAMED_FROM_PIXELS: u64 = 16_000_000;

pub(super) fn jpeg(bitmap: &Bitmap, quality: u8, settings: JpegSettings) -> Result<Vec<u8>, String> {
    let color_space = match bitmap.layout {
        Layout::Gray => mozjpeg::ColorSpace::JCS_GRAYSCALE,
        Layout::Rgb => mozjpeg::ColorSpace::JCS_RGB,
        other => return Err(format!("cannot write {other:?} pixels as JPEG")),
    };
    let run = AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let mut c = mozjpeg::Compress::new(color_space);
        match settings {
            JpegSettings::Fast { progressive: true } => {
                c.set_fastest_defaults();
                c.set_progressive_mode();
            }
            JpegSettings::Fast { progressive: false } | JpegSettings::Streamed => c.set_fastest_defaults(),
            JpegSettings::Small => {}
        }
        c.set_size(bitmap.width as usize, bitmap.height as usize);
        match settings {
            JpegSettings::Fast { .. } | JpegSettings::Streamed => c.set_quality(f32::from(quality)),
            // libjpeg's standard tables, scaled as `set_quality` scales them: mozjpeg's own
            // tables would make the same -q another quality (measured: q80 on them matches the
            // SSIM of q85 on these).
            JpegSettings::Small => {
                let q = f32::from(quality);
                c.set_luma_qtable(&mozjpeg::qtable::AnnexK_Luma.scaled(q, q));
                c.set_chroma_qtable(&mozjpeg::qtable::AnnexK_Chroma.scaled(q, q));
            }
        }
        c.set_optimize_coding(!matches!(settings, JpegSettings::Streamed));
        let mut started = c.start_compress(Vec::with_capacity(bitmap.data.len() / 8))?;
        started.write_scanlines(&bitmap.data)?;
        started.finish()
    });
    match catch_unwind(run) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("libjpeg failed".to_owned()),
    }
}
