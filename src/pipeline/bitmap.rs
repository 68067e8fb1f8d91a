//! `Bitmap`: decoded 8-bit pixels in one of the layouts the pipeline carries between steps.

/// Channel layout of a bitmap, 8 bits per channel, interleaved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// One channel of luminance.
    Gray,
    /// Red, green, blue.
    Rgb,
    /// Red, green, blue, straight (not premultiplied) alpha.
    Rgba,
    /// Cyan, magenta, yellow, black, as the JPEG stores them (see `cmyk_inverted`).
    Cmyk,
}

impl Layout {
    /// Bytes per pixel.
    pub fn channels(self) -> usize {
        match self {
            Layout::Gray => 1,
            Layout::Rgb => 3,
            Layout::Rgba | Layout::Cmyk => 4,
        }
    }
}

/// An image in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitmap {
    /// Channel layout.
    pub layout: Layout,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * layout.channels()` bytes, rows top to bottom.
    pub data: Vec<u8>,
}

impl Bitmap {
    /// Wraps `data`, which must hold exactly one image of the given size and layout.
    pub fn new(layout: Layout, width: u32, height: u32, data: Vec<u8>) -> Self {
        debug_assert_eq!(data.len(), width as usize * height as usize * layout.channels());
        Self { layout, width, height, data }
    }

    /// Drops an alpha channel that is fully opaque everywhere: resizing and encoding three
    /// channels is cheaper, and the output is the same. In place: no second copy of the pixels.
    pub fn without_opaque_alpha(mut self) -> Self {
        if self.layout != Layout::Rgba || self.data.chunks_exact(4).any(|p| p[3] != 255) {
            return self;
        }
        let pixels = self.data.len() / 4;
        for i in 0..pixels {
            self.data.copy_within(i * 4..i * 4 + 3, i * 3);
        }
        self.data.truncate(pixels * 3);
        self.layout = Layout::Rgb;
        self
    }

    /// The same pixels as RGB (gray expanded); alpha must already be gone.
    pub fn into_rgb(self) -> Self {
        match self.layout {
            Layout::Rgb => self,
            Layout::Gray => {
                let rgb = self.data.iter().flat_map(|&g| [g, g, g]).collect();
                Bitmap::new(Layout::Rgb, self.width, self.height, rgb)
            }
            Layout::Rgba | Layout::Cmyk => unreachable!("into_rgb on {:?}", self.layout),
        }
    }

    /// The same pixels as RGBA (opaque alpha added where there was none).
    pub fn into_rgba(self) -> Self {
        let data = match self.layout {
            Layout::Rgba => return self,
            Layout::Gray => self.data.iter().flat_map(|&g| [g, g, g, 255]).collect(),
            Layout::Rgb => self.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
            Layout::Cmyk => unreachable!("into_rgba on CMYK"),
        };
        Bitmap::new(Layout::Rgba, self.width, self.height, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_alpha_is_dropped_in_place() {
        let opaque = Bitmap::new(Layout::Rgba, 2, 1, vec![1, 2, 3, 255, 4, 5, 6, 255]);
        assert_eq!(opaque.without_opaque_alpha(), Bitmap::new(Layout::Rgb, 2, 1, vec![1, 2, 3, 4, 5, 6]));
        let soft = Bitmap::new(Layout::Rgba, 1, 1, vec![1, 2, 3, 128]);
        assert_eq!(soft.clone().without_opaque_alpha(), soft);
    }
}
