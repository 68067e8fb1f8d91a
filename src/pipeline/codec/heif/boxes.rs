//! The few boxes of a HEIF file (ISO/IEC 23008-12) read here, before libheif sees it: the
//! `ftyp` brands that tell HEIC from AVIF, and what the file would make the decoder multiply,
//! the grid tiles (`dimg` references), every image's declared size (`ispe`), overlays, and the
//! picture size each HEVC image's parameter sets declare (in its `hvcC` or in its data), so
//! that a file of ten thousand tiles, of tiles larger than the image, with an overlay canvas of
//! any size or with an HEVC stream larger than its item is refused before anything is decoded.

use super::hevc;
use crate::model::ImageFormat;

/// Brands of AVIF files (still and sequence).
const AVIF_BRANDS: [&[u8; 4]; 2] = [b"avif", b"avis"];
/// Brands of HEIF files with HEVC images, and HEIF's structural brands.
const HEIC_BRANDS: [&[u8; 4]; 8] = [b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"];

/// The format an `ftyp` box at the start names: AVIF when its major or a compatible brand is
/// AVIF's, else HEIC when one is HEIF's.
pub(super) fn brand(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.len() < 12 || &bytes[4..8] != b"ftyp" {
        return None;
    }
    let size = u32::from_be_bytes(bytes[0..4].try_into().ok()?) as usize;
    let ftyp = bytes.get(8..size.clamp(12, bytes.len()))?;
    // major brand, minor version, compatible brands
    let brands: Vec<&[u8]> = std::iter::once(&ftyp[..4]).chain(ftyp.get(8..).unwrap_or(&[]).chunks_exact(4)).collect();
    let any = |set: &[&[u8; 4]]| brands.iter().any(|b| set.iter().any(|s| &s[..] == *b));
    if any(&AVIF_BRANDS) {
        Some(ImageFormat::Avif)
    } else if any(&HEIC_BRANDS) {
        Some(ImageFormat::Heic)
    } else {
        None
    }
}

/// What a file asks the decoder to do, from its `meta` box.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Work {
    /// `dimg` references (the tiles of grids, the layers of overlays), over the whole file.
    pub tiles: u64,
    /// The largest width x height any image item declares.
    pub largest_item_pixels: u64,
    /// Overlay items (`iovl`): their canvas size is in their payload, which libheif allocates
    /// whole before it checks anything.
    pub overlays: u64,
    /// The largest picture (by area) an HEVC sequence parameter set of the file declares:
    /// libde265 allocates it as declared.
    pub coded: Option<(u32, u32)>,
    /// An HEVC image whose parameter sets declare a picture larger than its `ispe` (beyond the
    /// coding block rounding [`CODED_SLACK`]): (declared by the stream, declared by the item).
    pub coded_beyond_item: Option<((u32, u32), (u32, u32))>,
}

/// How much an HEVC picture may exceed its item's `ispe` on a side: pictures are coded in whole
/// coding blocks (at most 64 pixels), and the stream's conformance window crops the rest.
pub(super) const CODED_SLACK: u32 = 64;

/// Reads the `meta` box's `iref` and `iprp`; a file whose boxes cannot be walked is left to
/// libheif to refuse.
pub(super) fn work(bytes: &[u8]) -> Work {
    let mut work = Work::default();
    let Some(meta) = children(bytes).find(|(kind, _)| kind == b"meta").map(|(_, body)| body) else {
        return work;
    };
    let meta = meta.get(4..).unwrap_or(&[]); // FullBox
    let (mut grids, mut hevc_items, mut iloc, mut idat) = (Vec::new(), Vec::new(), None, None);
    let (mut properties, mut associations) = (Vec::new(), Vec::new());
    for (kind, body) in children(meta) {
        match &kind {
            b"iref" => work.tiles = dimg_references(body),
            b"iinf" => {
                work.overlays = items_of_type(body, b"iovl").len() as u64;
                grids = items_of_type(body, b"grid");
                hevc_items = items_of_type(body, b"hvc1");
            }
            b"iloc" => iloc = Some(body),
            b"idat" => idat = Some(body),
            b"iprp" => {
                for (kind, body) in children(body) {
                    match &kind {
                        b"ipco" => {
                            work.largest_item_pixels = largest_ispe(body);
                            properties = children(body).collect();
                        }
                        b"ipma" => associations = item_properties(body),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    // Each HEVC image: the pictures its parameter sets declare, against its own ispe.
    for id in hevc_items {
        let props: Vec<([u8; 4], &[u8])> = associations
            .iter()
            .filter(|(item, _)| *item == id)
            .filter_map(|&(_, index)| properties.get(index.checked_sub(1)?).copied())
            .collect();
        let ispe = props.iter().find(|(kind, _)| kind == b"ispe").and_then(|(_, body)| ispe_size(body));
        let in_hvcc = props.iter().filter(|(kind, _)| kind == b"hvcC").flat_map(|(_, body)| hevc::hvcc_units(body));
        let data = iloc.map(|iloc| item_extents(iloc, id, bytes, idat.unwrap_or(&[]))).unwrap_or_default();
        let in_data = data.into_iter().flat_map(hevc::data_units);
        for coded in in_hvcc.chain(in_data).filter_map(hevc::sps_size) {
            let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
            if work.coded.is_none_or(|largest| area(coded) > area(largest)) {
                work.coded = Some(coded);
            }
            if let Some(item) = ispe
                && (coded.0 > item.0.saturating_add(CODED_SLACK) || coded.1 > item.1.saturating_add(CODED_SLACK))
            {
                work.coded_beyond_item = Some((coded, item));
            }
        }
    }
    // A grid's canvas is declared in its payload, and allocated as declared: it counts too.
    for id in grids {
        let payload = iloc.and_then(|iloc| item_start(iloc, id, bytes, idat.unwrap_or(&[])));
        if let Some((w, h)) = payload.and_then(grid_canvas) {
            work.largest_item_pixels = work.largest_item_pixels.max(u64::from(w) * u64::from(h));
        }
    }
    work
}

/// The canvas an `ImageGrid` payload declares (ISO/IEC 23008-12 6.6.2.3.2).
fn grid_canvas(payload: &[u8]) -> Option<(u32, u32)> {
    let flags = *payload.get(1)?;
    if flags & 1 == 0 {
        let field = |at: usize| payload.get(at..at + 2).map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])));
        Some((field(4)?, field(6)?))
    } else {
        let field = |at: usize| payload.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        Some((field(4)?, field(8)?))
    }
}

/// The bytes where item `id`'s data starts, from its first `iloc` extent to the end of where it
/// lies: in the file (construction method 0) or in `idat` (1).
fn item_start<'a>(iloc: &[u8], id: u32, file: &'a [u8], idat: &'a [u8]) -> Option<&'a [u8]> {
    let location = item_location(iloc, id)?;
    let (offset, _) = *location.extents.first()?;
    source(location.method, file, idat)?.get(usize::try_from(offset).ok()?..)
}

/// The extents of item `id`'s data (a length of 0: to the end of where it lies).
fn item_extents<'a>(iloc: &[u8], id: u32, file: &'a [u8], idat: &'a [u8]) -> Vec<&'a [u8]> {
    let Some(location) = item_location(iloc, id) else { return Vec::new() };
    let Some(source) = source(location.method, file, idat) else { return Vec::new() };
    location
        .extents
        .into_iter()
        .filter_map(|(offset, len)| {
            let start = usize::try_from(offset).ok()?;
            let end = if len == 0 { source.len() } else { start.checked_add(usize::try_from(len).ok()?)? };
            source.get(start..end.min(source.len()))
        })
        .collect()
}

fn source<'a>(method: u64, file: &'a [u8], idat: &'a [u8]) -> Option<&'a [u8]> {
    match method {
        0 => Some(file),
        1 => Some(idat),
        _ => None,
    }
}

/// Extents of data an item may have: more is a file built to make this walk long.
const MAX_EXTENTS: u64 = 4096;

/// Where an item's data is, from its `iloc` entry.
struct ItemLocation {
    item: u32,
    /// The construction method: 0 in the file, 1 in `idat`.
    method: u64,
    /// (offset with the base, length) of each extent.
    extents: Vec<(u64, u64)>,
}

/// Item `id`'s `iloc` entry.
fn item_location(iloc: &[u8], id: u32) -> Option<ItemLocation> {
    iloc_entries(iloc).into_iter().find(|location| location.item == id)
}

/// Every `iloc` entry.
fn iloc_entries(iloc: &[u8]) -> Vec<ItemLocation> {
    let mut entries = Vec::new();
    let mut r = Reader { bytes: iloc, at: 0 };
    let mut walk = || -> Option<()> {
        let version = r.uint(1)?;
        r.uint(3)?; // flags
        let sizes = r.uint(2)?;
        let (offset_size, length_size) = ((sizes >> 12) & 15, (sizes >> 8) & 15);
        let (base_size, index_size) = ((sizes >> 4) & 15, if version >= 1 { sizes & 15 } else { 0 });
        let count = r.uint(if version < 2 { 2 } else { 4 })?;
        for _ in 0..count {
            let item = u32::try_from(r.uint(if version < 2 { 2 } else { 4 })?).ok()?;
            let method = if version >= 1 { r.uint(2)? & 15 } else { 0 };
            r.uint(2)?; // data_reference_index
            let base = r.uint(base_size as usize)?;
            let count = r.uint(2)?;
            if count > MAX_EXTENTS {
                return None;
            }
            let mut extents = Vec::new();
            for _ in 0..count {
                r.uint(index_size as usize)?;
                let offset = r.uint(offset_size as usize)?;
                let length = r.uint(length_size as usize)?;
                extents.push((base.checked_add(offset)?, length));
            }
            entries.push(ItemLocation { item, method, extents });
        }
        Some(())
    };
    let _ = walk();
    entries
}

/// The `ipma` box's associations, as (item, property index from 1).
fn item_properties(ipma: &[u8]) -> Vec<(u32, usize)> {
    let mut out = Vec::new();
    let mut r = Reader { bytes: ipma, at: 0 };
    let mut walk = || -> Option<()> {
        let version = r.uint(1)?;
        let flags = r.uint(3)?;
        for _ in 0..r.uint(4)? {
            let item = u32::try_from(r.uint(if version < 1 { 2 } else { 4 })?).ok()?;
            for _ in 0..r.uint(1)? {
                let index = if flags & 1 == 1 { r.uint(2)? & 0x7fff } else { r.uint(1)? & 0x7f };
                out.push((item, usize::try_from(index).ok()?));
            }
        }
        Some(())
    };
    let _ = walk();
    out
}

/// The width and height of an `ispe` body.
fn ispe_size(body: &[u8]) -> Option<(u32, u32)> {
    let w = u32::from_be_bytes(body.get(4..8)?.try_into().ok()?);
    let h = u32::from_be_bytes(body.get(8..12)?.try_into().ok()?);
    Some((w, h))
}

/// Big-endian unsigned fields of 0 to 8 bytes, read in order.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn uint(&mut self, len: usize) -> Option<u64> {
        let field = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        (len <= 8).then(|| field.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)))
    }
}

/// The number of `dimg` references over every item of an `iref` box.
fn dimg_references(iref: &[u8]) -> u64 {
    let Some((&version, rest)) = iref.split_first() else { return 0 };
    let Some(refs) = rest.get(3..) else { return 0 };
    let id_len = if version == 0 { 2 } else { 4 };
    children(refs)
        .filter(|(kind, _)| kind == b"dimg")
        .map(|(_, body)| body.get(id_len..id_len + 2).map_or(0, |n| u64::from(u16::from_be_bytes([n[0], n[1]]))))
        .sum()
}

/// The item IDs of the `infe` entries (version 2 or 3) of an `iinf` box whose type is `kind`.
fn items_of_type(iinf: &[u8], kind: &[u8; 4]) -> Vec<u32> {
    let Some(&version) = iinf.first() else { return Vec::new() };
    let Some(entries) = iinf.get(if version == 0 { 6 } else { 8 }..) else { return Vec::new() };
    children(entries)
        .filter(|(box_kind, _)| box_kind == b"infe")
        .filter_map(|(_, body)| {
            // FullBox, then item_ID (16 bits in version 2, 32 in 3), protection index, type.
            let (id, at) = match body.first() {
                Some(2) => (u32::from(u16::from_be_bytes(body.get(4..6)?.try_into().ok()?)), 8),
                Some(3) => (u32::from_be_bytes(body.get(4..8)?.try_into().ok()?), 10),
                _ => return None,
            };
            (body.get(at..at + 4) == Some(&kind[..])).then_some(id)
        })
        .collect()
}

/// The largest width x height of the `ispe` properties in an `ipco` box.
fn largest_ispe(ipco: &[u8]) -> u64 {
    children(ipco)
        .filter(|(kind, _)| kind == b"ispe")
        .filter_map(|(_, body)| ispe_size(body))
        .map(|(w, h)| u64::from(w) * u64::from(h))
        .max()
        .unwrap_or(0)
}

/// The boxes in `bytes`, as (type, body), up to the first that does not fit.
fn children(bytes: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let header = bytes.get(at..at + 8)?;
        let size = u32::from_be_bytes(header[0..4].try_into().ok()?) as u64;
        let kind: [u8; 4] = header[4..8].try_into().ok()?;
        let (body_start, size) = match size {
            0 => (at + 8, (bytes.len() - at) as u64),
            1 => (at + 16, u64::from_be_bytes(bytes.get(at + 8..at + 16)?.try_into().ok()?)),
            n => (at + 8, n),
        };
        let end = at.checked_add(usize::try_from(size).ok()?)?;
        let body = bytes.get(body_start..end)?;
        at = end;
        Some((kind, body))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(body);
        out
    }

    #[test]
    fn counts_tiles_and_finds_the_largest_image() {
        // A grid (item 1) of 3 tiles and one of 2, each tile 512x512, the grid 1024x1024.
        let dimg = |from: u16, to: &[u16]| {
            let mut body = from.to_be_bytes().to_vec();
            body.extend((to.len() as u16).to_be_bytes());
            to.iter().for_each(|id| body.extend(id.to_be_bytes()));
            boxed(b"dimg", &body)
        };
        let iref = boxed(b"iref", &[&[0u8, 0, 0, 0][..], &dimg(1, &[2, 3, 4]), &dimg(5, &[6, 7])].concat());
        let ispe = |w: u32, h: u32| boxed(b"ispe", &[&[0u8; 4][..], &w.to_be_bytes(), &h.to_be_bytes()].concat());
        let iprp = boxed(b"iprp", &boxed(b"ipco", &[ispe(512, 512), ispe(1024, 1024)].concat()));
        let infe =
            |id: u16, kind: &[u8; 4]| boxed(b"infe", &[&[2u8, 0, 0, 0][..], &id.to_be_bytes(), &[0, 0], kind].concat());
        let iinf = boxed(b"iinf", &[&[0u8, 0, 0, 0, 0, 2][..], &infe(1, b"grid"), &infe(5, b"iovl")].concat());
        let meta = boxed(b"meta", &[&[0u8; 4][..], &boxed(b"hdlr", &[0; 12]), &iinf, &iref, &iprp].concat());
        let file = [boxed(b"ftyp", b"heic\0\0\0\0mif1heic"), meta].concat();
        assert_eq!(brand(&file), Some(ImageFormat::Heic));
        assert_eq!(
            work(&file),
            Work { tiles: 5, largest_item_pixels: 1024 * 1024, overlays: 1, coded: None, coded_beyond_item: None }
        );
        assert_eq!(work(&file[..40]), Work::default());
    }
}
