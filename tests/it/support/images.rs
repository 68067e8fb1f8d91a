//! Independent checks of encoded outputs: decode with image-rs, look for metadata, compare pixels.

use image::{DynamicImage, ImageFormat, RgbImage};

/// Decodes with image-rs (not our pipeline), or AVIF with libavif's `avifdec` (dav1d, not the
/// aom encoder that wrote it), and checks the sniffed format.
pub fn decode(bytes: &[u8], format: ImageFormat) -> DynamicImage {
    if format == ImageFormat::Avif {
        return decode_avif(bytes);
    }
    assert_eq!(image::guess_format(bytes).ok(), Some(format), "output is not {format:?}");
    image::load_from_memory_with_format(bytes, format)
        .unwrap_or_else(|e| panic!("output does not decode as {format:?}: {e}"))
}

/// An AVIF decoded by Debian's `avifdec` (libavif-bin) into a PNG, read back with image-rs.
pub fn decode_avif(bytes: &[u8]) -> DynamicImage {
    assert!(bytes.len() > 12 && &bytes[4..12] == b"ftypavif", "output is not an AVIF file");
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.avif"), dir.path().join("out.png"));
    std::fs::write(&input, bytes).unwrap();
    let run = std::process::Command::new("avifdec").arg(&input).arg(&output).output();
    let run = run.unwrap_or_else(|e| panic!("avifdec: {e}: run scripts/test, which installs libavif-bin"));
    assert!(run.status.success(), "avifdec refused the output: {}", String::from_utf8_lossy(&run.stderr));
    image::open(&output).expect("avifdec wrote a PNG")
}

pub fn format_of_ext(ext: &str) -> ImageFormat {
    match ext {
        "jpg" | "jpeg" => ImageFormat::Jpeg,
        "png" => ImageFormat::Png,
        "webp" => ImageFormat::WebP,
        "gif" => ImageFormat::Gif,
        "avif" => ImageFormat::Avif,
        other => panic!("no format for {other}"),
    }
}

/// Names of the metadata blocks an encoded image carries (EXIF, ICC, XMP, text, comments).
pub fn metadata_blocks(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    if bytes.starts_with(&[0xFF, 0xD8]) {
        let mut at = 2;
        while at + 4 <= bytes.len() && bytes[at] == 0xFF {
            let marker = bytes[at + 1];
            if marker == 0xDA {
                break;
            }
            let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
            if (0xE1..=0xEF).contains(&marker) || marker == 0xFE {
                found.push(format!("JPEG marker {marker:02X}"));
            }
            at += 2 + len;
        }
    } else if bytes.starts_with(b"\x89PNG") {
        let mut at = 8;
        while at + 8 <= bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let kind = String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned();
            if ["eXIf", "iCCP", "tEXt", "zTXt", "iTXt", "tIME"].contains(&kind.as_str()) {
                found.push(kind);
            }
            at += 12 + len;
        }
    } else if bytes.starts_with(b"RIFF") {
        let mut at = 12;
        while at + 8 <= bytes.len() {
            let kind = String::from_utf8_lossy(&bytes[at..at + 4]).into_owned();
            let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
            if ["EXIF", "XMP ", "ICCP"].contains(&kind.as_str()) {
                found.push(kind);
            }
            at += 8 + len + (len & 1);
        }
    } else if bytes.starts_with(b"GIF") {
        found.extend(gif_metadata(bytes));
    }
    found
}

/// Comment and application-data (XMP, ICC) extensions of a GIF, found by walking its blocks.
fn gif_metadata(bytes: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let color_table = |flags: u8| if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
    let skip_sub_blocks = |mut at: usize| {
        while at < bytes.len() && bytes[at] != 0 {
            at += 1 + bytes[at] as usize;
        }
        at + 1
    };
    let mut at = 13 + color_table(bytes[10]);
    while at < bytes.len() {
        match bytes[at] {
            0x21 => {
                let label = bytes[at + 1];
                if label == 0xFE {
                    found.push("GIF comment".to_owned());
                }
                if label == 0xFF && bytes.get(at + 3..at + 14).is_some_and(|id| id != b"NETSCAPE2.0") {
                    found.push(format!("GIF application data {}", String::from_utf8_lossy(&bytes[at + 3..at + 14])));
                }
                at = skip_sub_blocks(at + 2);
            }
            0x2C => at = skip_sub_blocks(at + 10 + color_table(bytes[at + 9]) + 1),
            _ => break, // 0x3B trailer
        }
    }
    found
}

/// Mean absolute difference per channel between two RGB images of the same size (0..255).
pub fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let total: u64 = a.as_raw().iter().zip(b.as_raw()).map(|(x, y)| u64::from(x.abs_diff(*y))).sum();
    total as f64 / a.as_raw().len() as f64
}

/// Mean RGB of each cell of a 4x4 grid (rows and columns split by integer division).
pub fn grid_means(img: &RgbImage) -> Vec<[f64; 3]> {
    let (w, h) = img.dimensions();
    let mut out = Vec::new();
    for gy in 0..4 {
        for gx in 0..4 {
            let mut sum = [0f64; 3];
            let mut n = 0f64;
            for y in gy * h / 4..(gy + 1) * h / 4 {
                for x in gx * w / 4..(gx + 1) * w / 4 {
                    let p = img.get_pixel(x, y);
                    for c in 0..3 {
                        sum[c] += f64::from(p[c]);
                    }
                    n += 1.0;
                }
            }
            out.push(sum.map(|s| s / n));
        }
    }
    out
}

/// The largest difference between two grids, over cells and channels.
pub fn grid_distance(a: &[[f64; 3]], b: &[[f64; 3]]) -> f64 {
    a.iter().zip(b).flat_map(|(x, y)| (0..3).map(move |c| (x[c] - y[c]).abs())).fold(0.0, f64::max)
}

/// Mean SSIM of the luma of two same-sized images over 8x8 windows (step 4), constants of
/// Wang et al. 2004 for 8-bit data.
pub fn ssim(a: &RgbImage, b: &RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let luma = |img: &RgbImage| -> Vec<f64> {
        img.pixels().map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2])).collect()
    };
    let (la, lb) = (luma(a), luma(b));
    let (w, h) = (a.width() as usize, a.height() as usize);
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let win = 8.min(w).min(h);
    let (mut total, mut count) = (0.0, 0.0);
    let mut y = 0;
    while y + win <= h {
        let mut x = 0;
        while x + win <= w {
            let (mut sa, mut sb, mut saa, mut sbb, mut sab) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for j in y..y + win {
                for i in x..x + win {
                    let (p, q) = (la[j * w + i], lb[j * w + i]);
                    sa += p;
                    sb += q;
                    saa += p * p;
                    sbb += q * q;
                    sab += p * q;
                }
            }
            let n = (win * win) as f64;
            let (ma, mb) = (sa / n, sb / n);
            let (va, vb, cov) = (saa / n - ma * ma, sbb / n - mb * mb, sab / n - ma * mb);
            total += ((2.0 * ma * mb + c1) * (2.0 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
            count += 1.0;
            x += 4;
        }
        y += 4;
    }
    total / count
}
