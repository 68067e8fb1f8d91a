//! The harnesses of the fuzz targets (`fuzz/`), here so that `cargo test` replays what the
//! fuzzers found with the same code (`tests/it/fuzz_regressions.rs`). Each takes arbitrary
//! bytes and must never panic; the URL harness also checks that signing round-trips.

use std::time::Duration;

use hyper::Method;

use crate::access::{SignatureError, Signer};
use crate::config::SigningKey;
use crate::model::{Extension, Geometry, ImageFormat, Variant};
use crate::pipeline::stages::{exif_orientation, to_srgb};
use crate::pipeline::{self, Bitmap, Effort, JpegBounds, Layout, Limits, Placement, RenderSpec};

/// The URL grammar: a request target (path and query) through the router for each method, the
/// variant parser (whose canonical names must parse back to themselves), and the signature
/// check; a target signed by the signer must then verify.
pub fn url(data: &[u8]) {
    let Ok(target) = std::str::from_utf8(data) else { return };
    let (path, query) = target.split_once('?').map_or((target, None), |(p, q)| (p, Some(q)));
    for method in [Method::GET, Method::HEAD, Method::POST, Method::DELETE] {
        let _ = crate::http::router::route(&method, path, |ns| ns.as_str() == "user");
    }
    if let Some(leaf) = path.rsplit('/').next()
        && let Ok(variant) = leaf.parse::<Variant>()
    {
        assert_eq!(variant.to_string().parse::<Variant>(), Ok(variant), "{leaf}");
    }
    let signer = Signer::new(&[SigningKey::from_bytes(vec![7; 32])]).expect("one key");
    let _ = signer.verify(path, query, 1_700_000_000);
    if !path.starts_with('/') || query.is_some_and(|q| q.split('&').any(|p| p == "s" || p.starts_with("s="))) {
        return;
    }
    let signed = signer.sign(target, None);
    let (p, q) = signed.split_once('?').expect("a signed target has a query");
    match signer.verify(p, Some(q), 0) {
        Ok(()) | Err(SignatureError::BadExpiry | SignatureError::Expired(_)) => {}
        Err(e) => panic!("{target} signed as {signed} does not verify: {e}"),
    }
}

/// What a decode harness may cost: small, so that each run is fast.
const LIMITS: Limits = Limits {
    max_source_pixels: 4_000_000,
    jpeg: JpegBounds { max_scans: 100, deadline: Duration::from_secs(2) },
    max_animation_frames: 50,
    decode_budget_pixels: 100_000_000,
};

/// The upload path of one input format: the bytes (with the format's signature put in front
/// where they lack it, so that the fuzzer stays in that decoder) sniffed, probed, decoded whole,
/// made into working copies and rendered.
pub fn upload(format: ImageFormat, data: &[u8]) {
    let magic = pipeline::stages::signature(format);
    let sniffed = pipeline::stages::sniff(data) == Ok(format);
    let bytes = if sniffed { data.to_vec() } else { [magic, data].concat() };
    let Ok(facts) = pipeline::probe(&bytes, &LIMITS) else { return };
    if pipeline::inspect(&bytes, &LIMITS).is_err() {
        return;
    }
    let sizes = pipeline::working_copy_sizes(facts.width, facts.height, facts.format, 512);
    let _ = pipeline::make_working_copies(&bytes, sizes, &LIMITS);
    // The focus found at upload, and a crop placed around it.
    let placement = pipeline::focus::detect(&bytes, &LIMITS).map_or(Placement::Centre, |info| info.placement());
    for (geometry, ext, placement) in [
        (Geometry::Width(48), Extension::Jpg, Placement::Centre),
        (Geometry::Square(24), Extension::Png, Placement::Centre),
        (Geometry::Rect { width: 40, height: 12 }, Extension::Jpg, placement),
    ] {
        let spec = RenderSpec { geometry, format: ext.format(), quality: 70, effort: Effort::Fast, placement };
        let _ = pipeline::render(&bytes, &spec, &LIMITS);
    }
}

/// The EXIF reader, on a block as it comes from JPEG APP1, PNG eXIf or WebP EXIF.
pub fn exif(data: &[u8]) {
    let _ = exif_orientation(data);
}

/// The ICC reader and transform, with the bytes as the profile of RGB, gray and CMYK pixels.
pub fn icc(data: &[u8]) {
    for (layout, channels) in [(Layout::Rgb, 3), (Layout::Rgba, 4), (Layout::Gray, 1), (Layout::Cmyk, 4)] {
        let pixels: Vec<u8> = (0..4 * 4 * channels).map(|i| (i * 37 % 256) as u8).collect();
        let out = to_srgb(Bitmap::new(layout, 4, 4, pixels), Some(data), false);
        assert_eq!((out.width, out.height), (4, 4));
    }
}
