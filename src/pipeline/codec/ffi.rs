//! What the calls into the C shims (libavif, libheif, libjxl) share: the buffer a shim writes a
//! NUL-terminated message into, and the pixel bytes a shim reads from a bitmap.
// A build with none of the three libraries calls no shim.
#![cfg_attr(not(any(avif, heif, jxl)), allow(dead_code))]

use std::ffi::c_char;

use crate::pipeline::bitmap::Bitmap;

/// Room for the NUL-terminated text a shim writes: an error message, or its library's versions.
pub(super) struct ShimText([c_char; 512]);

impl ShimText {
    pub(super) fn new() -> ShimText {
        ShimText([0; 512])
    }

    /// Where the shim writes, with [`ShimText::len`].
    pub(super) fn as_mut_ptr(&mut self) -> *mut c_char {
        self.0.as_mut_ptr()
    }

    /// The most the shim may write, its NUL included.
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    /// What the shim wrote, up to its NUL (or the whole buffer, should it have written none).
    pub(super) fn text(&self) -> String {
        let bytes: Vec<u8> = self.0.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The bytes of pixels a shim reads from `bitmap`: its width x height x channels, which its
/// data must hold.
pub(super) fn pixel_bytes(bitmap: &Bitmap) -> Result<usize, String> {
    let channels = bitmap.layout.channels();
    let expected = bitmap.width as usize * bitmap.height as usize * channels;
    if bitmap.data.len() != expected {
        return Err(format!("{} bytes for {}x{}x{channels}", bitmap.data.len(), bitmap.width, bitmap.height));
    }
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::bitmap::Layout;

    #[test]
    fn text_stops_at_the_nul_and_never_reads_past_the_buffer() {
        let mut text = ShimText::new();
        for (i, b) in b"no ftyp\0junk".iter().enumerate() {
            text.0[i] = *b as c_char;
        }
        assert_eq!(text.text(), "no ftyp");
        text.0 = [b'x' as c_char; 512];
        assert_eq!(text.text().len(), 512);
        assert_eq!(ShimText::new().text(), "");
    }

    #[test]
    fn pixel_bytes_are_the_bitmaps_size() {
        assert_eq!(pixel_bytes(&Bitmap::new(Layout::Rgba, 3, 2, vec![0; 24])), Ok(24));
        let short = Bitmap { layout: Layout::Rgb, width: 3, height: 2, data: vec![0; 17] };
        assert_eq!(pixel_bytes(&short), Err("17 bytes for 3x2x3".to_owned()));
    }
}
