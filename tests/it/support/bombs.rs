//! Hostile files made in the tests from real ones: headers that declare huge sizes, a PNG whose
//! ICC profile inflates to much more than the file, a GIF canvas far larger than its frames, and
//! a progressive JPEG with thousands of scans.

use crate::support::corpus;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

/// A PNG whose header declares `w` x `h` RGB pixels, with a tiny (wrong) image body.
pub fn png_declaring(w: u32, h: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &ihdr);
    png_chunk(&mut out, b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A valid 1x1 gray PNG carrying an iCCP chunk that inflates to `profile_bytes`, and text chunks
/// (tEXt, zTXt) that inflate to as much.
pub fn png_with_inflating_chunks(profile_bytes: usize) -> Vec<u8> {
    let zeros = vec![0u8; profile_bytes];
    let deflated = fdeflate::compress_to_vec(&zeros);
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut out, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    let mut iccp = b"bomb\0\0".to_vec();
    iccp.extend(&deflated);
    png_chunk(&mut out, b"iCCP", &iccp);
    let mut ztxt = b"Comment\0\0".to_vec();
    ztxt.extend(&deflated);
    png_chunk(&mut out, b"zTXt", &ztxt);
    // One gray pixel: filter byte 0, value 128.
    png_chunk(&mut out, b"IDAT", &fdeflate::compress_to_vec(&[0, 128]));
    png_chunk(&mut out, b"IEND", &[]);
    out
}

/// A GIF whose canvas is `w` x `h` and whose only frame is one red pixel.
pub fn gif_canvas(w: u16, h: u16) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, w, h, &[]).unwrap();
        let frame = gif::Frame {
            width: 1,
            height: 1,
            palette: Some(vec![255, 0, 0, 0, 0, 0]),
            buffer: std::borrow::Cow::Owned(vec![0]),
            ..gif::Frame::default()
        };
        encoder.write_frame(&frame).unwrap();
    }
    out
}

/// A real progressive JPEG (5312x2988) with `scans` more scans before its end: each a valid
/// AC scan of the luma band 63 that one Huffman code per 32767 blocks (an end-of-band run)
/// covers, so each costs a few dozen bytes and a pass over 248,336 blocks.
pub fn jpeg_scan_bomb(scans: usize) -> Vec<u8> {
    let bytes = corpus::read("jpeg/photo_15.9mp_dandelions_progressive.jpg");
    assert_eq!(&bytes[bytes.len() - 2..], &[0xFF, 0xD9], "ends with EOI");
    let sof = bytes.windows(2).position(|m| m == [0xFF, 0xC2]).expect("a progressive frame header");
    let luma = bytes[sof + 10];
    let blocks: usize = 664 * 374; // the luma blocks of 5312x2988 at 2x2 sampling
    // An AC table (class 1, id 3) holding one symbol, EOB14 (0xE0), coded as the bit 0.
    let mut out = bytes[..bytes.len() - 2].to_vec();
    out.extend([0xFF, 0xC4, 0, 20, 0x13, 1]);
    out.extend([0; 15]);
    out.push(0xE0);
    // Each code: the bit 0, then 14 one bits: a run of 2^14 + 16383 = 32767 blocks.
    let mut bits: Vec<u8> = Vec::new();
    for _ in 0..blocks.div_ceil(32767) {
        bits.push(0);
        bits.extend([1; 14]);
    }
    while !bits.len().is_multiple_of(8) {
        bits.push(1);
    }
    let mut data = Vec::new();
    for byte in bits.chunks(8).map(|b| b.iter().fold(0u8, |acc, bit| acc << 1 | bit)) {
        data.push(byte);
        if byte == 0xFF {
            data.push(0); // byte stuffing
        }
    }
    let scan = [&[0xFF, 0xDA, 0, 8, 1, luma, 0x03, 63, 63, 0x00][..], &data].concat();
    for _ in 0..scans {
        out.extend(&scan);
    }
    out.extend([0xFF, 0xD9]);
    out
}

/// Bits written least significant first, as VP8L reads them.
struct LsbBits {
    out: Vec<u8>,
    bits: u64,
    count: u32,
}

impl LsbBits {
    fn put(&mut self, value: u32, n: u32) {
        self.bits |= u64::from(value) << self.count;
        self.count += n;
        while self.count >= 8 {
            self.out.push(self.bits as u8);
            self.bits >>= 8;
            self.count -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.count > 0 {
            self.out.push(self.bits as u8);
        }
        self.out
    }
}

/// A lossless WebP of `w` x `h` pixels all of colour `[r, g, b, a]`, in a few dozen bytes: each
/// of its five prefix codes holds one symbol, so every pixel costs no bits at all.
pub fn webp_lossless_flat(w: u32, h: u32, [r, g, b, a]: [u8; 4]) -> Vec<u8> {
    let mut bits = LsbBits { out: vec![0x2f], bits: 0, count: 0 };
    bits.put(w - 1, 14);
    bits.put(h - 1, 14);
    bits.put(u32::from(a != 255), 1); // alpha_is_used
    bits.put(0, 3); // version
    bits.put(0, 1); // no transform
    bits.put(0, 1); // no colour cache
    bits.put(0, 1); // no meta prefix codes
    // Green, red, blue, alpha, distance: simple codes of one 8-bit symbol.
    for symbol in [g, r, b, a, 0] {
        bits.put(1, 1); // simple
        bits.put(0, 1); // one symbol
        bits.put(1, 1); // of 8 bits
        bits.put(u32::from(symbol), 8);
    }
    let mut vp8l = bits.finish();
    let len = vp8l.len() as u32;
    if len % 2 == 1 {
        vp8l.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend((4 + 8 + vp8l.len() as u32).to_le_bytes());
    out.extend(b"WEBPVP8L");
    out.extend(len.to_le_bytes());
    out.extend(vp8l);
    out
}

/// A baseline JPEG of `w` x `h` flat mid-gray pixels (`components` 1: grayscale, 3: YCbCr
/// 4:4:4) with a restart marker after every block: one Huffman code of one bit for "no change"
/// and one for "end of block", so each block is a byte of padding and a marker.
pub fn jpeg_restart_every_block(w: u16, h: u16, components: u8) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    let segment = |out: &mut Vec<u8>, marker: u8, body: &[u8]| {
        out.extend([0xFF, marker]);
        out.extend(((body.len() + 2) as u16).to_be_bytes());
        out.extend(body);
    };
    segment(&mut out, 0xDB, &[&[0u8][..], &[1; 64]].concat()); // one quantisation table of ones
    let mut sof = vec![8];
    sof.extend(h.to_be_bytes());
    sof.extend(w.to_be_bytes());
    sof.push(components);
    for id in 1..=components {
        sof.extend([id, 0x11, 0]);
    }
    segment(&mut out, 0xC0, &sof);
    // DC table 0 and AC table 0: one code of length 1 each, for category 0 and for EOB.
    let table = |class: u8| [&[class << 4, 1][..], &[0; 15], &[0]].concat();
    segment(&mut out, 0xC4, &[table(0), table(1)].concat());
    segment(&mut out, 0xDD, &1u16.to_be_bytes()); // a restart interval of one MCU
    let mut sos = vec![components];
    for id in 1..=components {
        sos.extend([id, 0x00]);
    }
    sos.extend([0, 63, 0]);
    segment(&mut out, 0xDA, &sos);
    // Each MCU: two zero bits per block, padded with ones to the byte.
    let mcu = 0xFFu8 >> (2 * components);
    let mcus = usize::from(w).div_ceil(8) * usize::from(h).div_ceil(8);
    for n in 0..mcus {
        out.push(mcu);
        if n + 1 < mcus {
            out.extend([0xFF, 0xD0 + (n % 8) as u8]);
        }
    }
    out.extend([0xFF, 0xD9]);
    out
}
