//! `Variant`: `{geometry}[-q{quality}].{ext}`, parsed from and displayed back to its URL name.
//!
//! `Display` gives the canonical name, and only canonical names parse (no leading zeros, lower
//! case), so `parse(display(v)) == v` and the name doubles as storage key, cache key and ETag seed.
//! The one other spelling is wanelo's `full_size` for `full` (DESIGN.md §16): it parses to the same
//! variant, so it is stored, cached and counted under `full`.

use std::fmt;
use std::str::FromStr;

use super::ImageFormat;

/// What size the output has, relative to the (upright) original.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Geometry {
    /// `w{W}`: width W, aspect kept, never wider than the original.
    Width(u32),
    /// `h{H}`: height H, aspect kept, never taller than the original.
    Height(u32),
    /// `x{S}`: exactly S x S, centre crop, enlarging if needed.
    Square(u32),
    /// `{W}x{H}`: exactly W x H, centre crop (cover), enlarging if needed.
    Rect {
        /// Output width.
        width: u32,
        /// Output height.
        height: u32,
    },
    /// `full` (or wanelo's `full_size`): the original size.
    Full,
}

impl Geometry {
    /// The largest width and height the URL asks for, for the `maximum_*` checks (`full` asks for
    /// nothing: it is not limited).
    pub fn requested_size(&self) -> (Option<u32>, Option<u32>) {
        match *self {
            Geometry::Width(w) => (Some(w), None),
            Geometry::Height(h) => (None, Some(h)),
            Geometry::Square(s) => (Some(s), Some(s)),
            Geometry::Rect { width, height } => (Some(width), Some(height)),
            Geometry::Full => (None, None),
        }
    }

    /// Whether the geometry is a cover crop (`x{S}`, `{W}x{H}`): the ones whose box a
    /// namespace's `crop` setting places.
    pub fn is_cover_crop(&self) -> bool {
        matches!(self, Geometry::Square(_) | Geometry::Rect { .. })
    }
}

/// The file extension of a variant, as spelled in its URL.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Extension {
    /// `.jpg`
    Jpg,
    /// `.jpeg` (same output as `.jpg`, its own name)
    Jpeg,
    /// `.png`
    Png,
    /// `.webp`
    Webp,
    /// `.gif`
    Gif,
    /// `.avif`
    Avif,
    /// `.jxl`
    Jxl,
}

impl Extension {
    /// Every extension, in the order `--help` lists them.
    pub const ALL: [Extension; 7] = [
        Extension::Jpg,
        Extension::Jpeg,
        Extension::Png,
        Extension::Webp,
        Extension::Gif,
        Extension::Avif,
        Extension::Jxl,
    ];

    /// The extensions this build can answer (see [`ImageFormat::is_written`]).
    pub fn written() -> Vec<Extension> {
        Extension::ALL.into_iter().filter(|e| e.format().is_written()).collect()
    }

    /// `Ok` when this build can answer the extension, else why not (for configuration errors).
    pub fn check_written(self) -> Result<(), String> {
        if self.format().is_written() {
            return Ok(());
        }
        Err(format!("{self}: {}", self.format().unwritten_reason()))
    }

    /// Every extension, comma-separated (for messages).
    pub fn names() -> String {
        Extension::ALL.map(Extension::as_str).join(", ")
    }

    /// The extension as spelled in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Extension::Jpg => "jpg",
            Extension::Jpeg => "jpeg",
            Extension::Png => "png",
            Extension::Webp => "webp",
            Extension::Gif => "gif",
            Extension::Avif => "avif",
            Extension::Jxl => "jxl",
        }
    }

    /// The output format it asks for.
    pub fn format(self) -> ImageFormat {
        match self {
            Extension::Jpg | Extension::Jpeg => ImageFormat::Jpeg,
            Extension::Png => ImageFormat::Png,
            Extension::Webp => ImageFormat::Webp,
            Extension::Gif => ImageFormat::Gif,
            Extension::Avif => ImageFormat::Avif,
            Extension::Jxl => ImageFormat::Jxl,
        }
    }
}

impl FromStr for Extension {
    type Err = VariantError;

    fn from_str(s: &str) -> Result<Self, VariantError> {
        Extension::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| VariantError::UnknownExtension(s.to_owned()))
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rendered form of an image: geometry, optional quality, format.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Variant {
    /// Output size.
    pub geometry: Geometry,
    /// `-q{1..100}`; `None` means the format's configured default.
    pub quality: Option<u8>,
    /// Output extension (and so format).
    pub ext: Extension,
}

/// Why a variant name was refused. `Malformed` is outside the grammar (404); the others are
/// inside it with a bad value (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariantError {
    /// Not of the form `{geometry}[-q{quality}].{ext}`.
    #[error(
        "not a variant name: expected {{geometry}}[-q{{quality}}].{{ext}}, e.g. w200.jpg, x300-q80.webp, 300x200.png or full.jpg"
    )]
    Malformed,
    /// Quality outside 1..=100.
    #[error("quality {0} is out of range: use 1 to 100")]
    QualityOutOfRange(u64),
    /// A width or height of zero.
    #[error("a width or height of 0 is not an image size")]
    ZeroSize,
    /// An extension this server does not write.
    #[error("unknown extension '{0}': use jpg, jpeg, png, webp or gif")]
    UnknownExtension(String),
}

impl FromStr for Variant {
    type Err = VariantError;

    fn from_str(s: &str) -> Result<Self, VariantError> {
        let (stem, ext) = s.rsplit_once('.').ok_or(VariantError::Malformed)?;
        let (geometry, quality) = match stem.rsplit_once("-q") {
            Some((g, q)) => (g, Some(q)),
            None => (stem, None),
        };
        let geometry = parse_geometry(geometry)?;
        let quality = match quality {
            None => None,
            Some(q) => {
                let q = parse_number(q)?;
                if !(1..=100).contains(&q) {
                    return Err(VariantError::QualityOutOfRange(q));
                }
                Some(q as u8)
            }
        };
        if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(VariantError::Malformed);
        }
        let ext = ext.parse()?;
        Ok(Variant { geometry, quality, ext })
    }
}

impl Variant {
    /// A comma-separated list of names (`x300.jpg, x300.webp`; empty entries skipped); a bad name
    /// is returned with its error.
    pub fn parse_list(list: &str) -> Result<Vec<Variant>, (String, VariantError)> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| name.parse::<Variant>().map_err(|e| (name.to_owned(), e)))
            .collect()
    }
}

/// wanelo's name for `full`, accepted wherever a variant name is and never displayed.
const FULL_ALIAS: &str = "full_size";

fn parse_geometry(s: &str) -> Result<Geometry, VariantError> {
    if s == "full" || s == FULL_ALIAS {
        return Ok(Geometry::Full);
    }
    let size = |digits: &str| -> Result<u32, VariantError> {
        match parse_number(digits)? {
            0 => Err(VariantError::ZeroSize),
            n => Ok(u32::try_from(n).unwrap_or(u32::MAX)),
        }
    };
    if let Some(rest) = s.strip_prefix('w') {
        return Ok(Geometry::Width(size(rest)?));
    }
    if let Some(rest) = s.strip_prefix('h') {
        return Ok(Geometry::Height(size(rest)?));
    }
    if let Some(rest) = s.strip_prefix('x') {
        return Ok(Geometry::Square(size(rest)?));
    }
    let (w, h) = s.split_once('x').ok_or(VariantError::Malformed)?;
    Ok(Geometry::Rect { width: size(w)?, height: size(h)? })
}

/// Canonical decimal: ASCII digits, no sign, no leading zero (but "0" itself). Saturates
/// instead of overflowing, so huge sizes surface as "too large" rather than "malformed".
fn parse_number(s: &str) -> Result<u64, VariantError> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if !canonical {
        return Err(VariantError::Malformed);
    }
    Ok(s.bytes().fold(0u64, |n, d| n.saturating_mul(10).saturating_add(u64::from(d - b'0'))))
}

impl fmt::Display for Geometry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Geometry::Width(w) => write!(f, "w{w}"),
            Geometry::Height(h) => write!(f, "h{h}"),
            Geometry::Square(s) => write!(f, "x{s}"),
            Geometry::Rect { width, height } => write!(f, "{width}x{height}"),
            Geometry::Full => f.write_str("full"),
        }
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.geometry)?;
        if let Some(q) = self.quality {
            write!(f, "-q{q}")?;
        }
        write!(f, ".{}", self.ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_geometry() {
        let cases = [
            ("w200.jpg", Geometry::Width(200), None, Extension::Jpg),
            ("h150.png", Geometry::Height(150), None, Extension::Png),
            ("x300-q30.webp", Geometry::Square(300), Some(30), Extension::Webp),
            ("300x200-q100.jpeg", Geometry::Rect { width: 300, height: 200 }, Some(100), Extension::Jpeg),
            ("full.gif", Geometry::Full, None, Extension::Gif),
            ("full-q1.jpg", Geometry::Full, Some(1), Extension::Jpg),
        ];
        for (name, geometry, quality, ext) in cases {
            let v: Variant = name.parse().unwrap();
            assert_eq!(v, Variant { geometry, quality, ext }, "{name}");
        }
    }

    #[test]
    fn display_round_trips() {
        let geometries = [
            Geometry::Width(1),
            Geometry::Height(4096),
            Geometry::Square(300),
            Geometry::Rect { width: 300, height: 200 },
            Geometry::Rect { width: 1, height: 1 },
            Geometry::Full,
        ];
        for geometry in geometries {
            for quality in [None, Some(1), Some(30), Some(100)] {
                for ext in Extension::ALL {
                    let v = Variant { geometry, quality, ext };
                    let name = v.to_string();
                    assert_eq!(name.parse::<Variant>(), Ok(v), "{name}");
                }
            }
        }
    }

    #[test]
    fn malformed_names_are_outside_the_grammar() {
        for bad in [
            "",
            "w200",
            "w.jpg",
            "200.jpg",
            "wx200.jpg",
            "w0200.jpg",
            "x200-q.jpg",
            "x200-q080.jpg",
            "x200q80.jpg",
            "200x.jpg",
            "x200x.jpg",
            "W200.jpg",
            "w-1.jpg",
            "full-.jpg",
            "w200.",
            "w200.jp/g",
            "info.json.jpg",
            "w+200.jpg",
            "x200-q80-q80.jpg",
        ] {
            assert_eq!(bad.parse::<Variant>(), Err(VariantError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn bad_values_are_inside_the_grammar() {
        assert_eq!("x200-q0.jpg".parse::<Variant>(), Err(VariantError::QualityOutOfRange(0)));
        assert_eq!("x200-q101.jpg".parse::<Variant>(), Err(VariantError::QualityOutOfRange(101)));
        assert_eq!("w0.jpg".parse::<Variant>(), Err(VariantError::ZeroSize));
        assert_eq!("0x10.jpg".parse::<Variant>(), Err(VariantError::ZeroSize));
        assert_eq!("x200.bmp".parse::<Variant>(), Err(VariantError::UnknownExtension("bmp".into())));
        assert_eq!("x200.JPG".parse::<Variant>(), Err(VariantError::UnknownExtension("JPG".into())));
    }

    #[test]
    fn lists_of_names() {
        assert_eq!(Variant::parse_list("x300.jpg, x300.webp,").unwrap().len(), 2);
        assert_eq!(Variant::parse_list("").unwrap(), Vec::new());
        assert_eq!(Variant::parse_list("x300.jpg,nope"), Err(("nope".to_owned(), VariantError::Malformed)));
        assert!(Variant::parse_list("x300.bmp").is_err());
    }

    /// wanelo's parser/name_parser_test.go `TestFullSize` and `TestFullSizeWithQuality`:
    /// `full_size.jpg` is the original size at the default quality, `full_size-q10.jpg` at 10;
    /// here both are `full`, under its name.
    #[test]
    fn full_size_is_another_spelling_of_full() {
        for (alias, canonical) in
            [("full_size.jpg", "full.jpg"), ("full_size-q10.jpg", "full-q10.jpg"), ("full_size.webp", "full.webp")]
        {
            let v: Variant = alias.parse().unwrap();
            assert_eq!(Ok(v), canonical.parse::<Variant>(), "{alias}");
            assert_eq!(v.to_string(), canonical);
        }
        assert_eq!(Variant::parse_list("full_size.jpg,full_size-q10.jpg").unwrap().len(), 2);
        for bad in ["full_size", "full_sizes.jpg", "full-size.jpg", "Full_size.jpg", "full_size-q.jpg"] {
            assert_eq!(bad.parse::<Variant>(), Err(VariantError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn huge_sizes_saturate_rather_than_fail() {
        let v: Variant = "w99999999999999999999999.jpg".parse().unwrap();
        assert_eq!(v.geometry, Geometry::Width(u32::MAX));
    }
}
