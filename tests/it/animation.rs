//! Animated originals (DESIGN.md §10): `.gif` and `.webp` variants keep every frame, its timing
//! and the loop count, within `max_animation_frames`; other formats and longer animations give the
//! first frame; `info.json` says `frames` and carries a ThumbHash placeholder.

use std::io::Cursor;

use base64::Engine;
use image::codecs::gif::GifDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, Frame};

use crate::support::{Server, corpus};

/// The frames of an animated GIF or WebP, decoded by image-rs (not our decoder).
fn frames(bytes: &[u8], ext: &str) -> Vec<Frame> {
    let frames = match ext {
        "gif" => GifDecoder::new(Cursor::new(bytes)).unwrap().into_frames().collect_frames(),
        "webp" => {
            let decoder = WebPDecoder::new(Cursor::new(bytes)).unwrap();
            if !decoder.has_animation() {
                let still = image::load_from_memory(bytes).expect("a still WebP").to_rgba8();
                return vec![Frame::new(still)];
            }
            decoder.into_frames().collect_frames()
        }
        other => panic!("no animation decoder for {other}"),
    };
    frames.unwrap_or_else(|e| panic!("{ext} animation does not decode: {e}"))
}

/// How many times the animation plays (0: forever), read from the container: GIF's NETSCAPE
/// extension counts repeats after the first play (none: plays once), WebP's ANIM chunk plays.
fn plays(bytes: &[u8], ext: &str) -> u32 {
    match ext {
        "gif" => match bytes.windows(11).position(|w| w == b"NETSCAPE2.0") {
            None => 1,
            Some(at) => match u32::from(u16::from_le_bytes([bytes[at + 13], bytes[at + 14]])) {
                0 => 0,
                n => n + 1,
            },
        },
        "webp" => {
            let at = bytes.windows(4).position(|w| w == b"ANIM").expect("an ANIM chunk");
            // ANIM: fourcc, size (4), background colour (4), loop count (2).
            u32::from(u16::from_le_bytes([bytes[at + 12], bytes[at + 13]]))
        }
        other => panic!("{other}"),
    }
}

/// Frame delays in milliseconds.
fn delays(frames: &[Frame]) -> Vec<u32> {
    frames
        .iter()
        .map(|f| {
            let (n, d) = f.delay().numer_denom_ms();
            n / d.max(1)
        })
        .collect()
}

/// The animation as a browser shows it: consecutive identical frames merged, their delays
/// summed. libwebp's animation encoder stores such runs as one frame.
fn timeline(frames: &[Frame]) -> Vec<u32> {
    let mut runs: Vec<u32> = Vec::new();
    for (i, delay) in delays(frames).into_iter().enumerate() {
        match runs.last_mut() {
            Some(last) if frames[i].buffer() == frames[i - 1].buffer() => *last += delay,
            _ => runs.push(delay),
        }
    }
    runs
}

/// Animated corpus originals: (file, ext, frames).
fn animations() -> Vec<(String, &'static str, u32)> {
    let list: Vec<_> = corpus::manifest()
        .into_iter()
        .filter(|e| e.format == "gif" || e.format == "webp")
        .filter_map(|e| {
            let ext = if e.format == "gif" { "gif" } else { "webp" };
            Some((e.file.clone(), ext, e.animated_frames()?))
        })
        .collect();
    assert!(list.len() >= 8, "the corpus has at least 8 animated GIFs and WebPs, found {}", list.len());
    list
}

#[test]
fn animated_originals_keep_frames_timing_and_loops_in_gif_and_webp() {
    let server = Server::start();
    let mut checked = 0;
    for (file, ext, count) in animations() {
        let original = corpus::read(&file);
        let source_frames = frames(&original, ext);
        assert_eq!(source_frames.len() as u32, count, "{file}: the manifest's frame count");
        let source_plays = plays(&original, ext);
        let path = server.upload("anim", original);
        let info = server.get(&format!("{path}/info.json")).json();
        assert_eq!(info["frames"].as_u64(), Some(u64::from(count)), "{file}: info.json frames");

        for out in ["gif", "webp"] {
            let reply = server.get(&format!("{path}/w64.{out}"));
            assert_eq!(reply.status, 200, "{file} -> w64.{out}: {}", reply.error());
            let got = frames(&reply.body, out);
            // GIF keeps every frame; WebP keeps every distinct one, a repeated frame's time added
            // to the one before it, as libwebp's animation encoder stores it.
            let (expected, shown) = match out {
                "gif" => (delays(&source_frames), delays(&got)),
                _ => (timeline(&source_frames), delays(&got)),
            };
            assert_eq!(shown.len(), expected.len(), "{file} -> w64.{out}: frame count ({count} in the original)");
            let (w, h) = got[0].buffer().dimensions();
            assert_eq!(w, 64.min(source_frames[0].buffer().width()), "{file} -> w64.{out}: width");
            assert!(h >= 1);
            // GIF holds delays in 10 ms steps: a WebP's 75 ms becomes 70 or 80.
            let tolerance = if out == "gif" || ext == "gif" { 10 } else { 1 };
            for (i, (a, b)) in expected.iter().zip(shown).enumerate() {
                assert!(a.abs_diff(b) <= tolerance, "{file} -> w64.{out}: frame {i} shows {b} ms, not {a}");
            }
            assert_eq!(plays(&reply.body, out), source_plays, "{file} -> w64.{out}: plays");
            checked += 1;
        }
        // A format without animation gives the first frame, composed as image-rs composes it.
        let still = server.get(&format!("{path}/w64.png"));
        assert_eq!(still.status, 200, "{file} -> w64.png");
        image::load_from_memory(&still.body).unwrap_or_else(|e| panic!("{file} -> w64.png: {e}"));
        let first = image::load_from_memory(&server.get(&format!("{path}/full.png")).body).unwrap().to_rgba8();
        let expected = source_frames[0].buffer();
        assert_eq!(first.dimensions(), expected.dimensions(), "{file}: full.png is the canvas");
        let differs = first.pixels().zip(expected.pixels()).filter(|(a, b)| {
            // Transparent pixels may keep any colour.
            (a.0[3] > 0 || b.0[3] > 0) && a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 2)
        });
        assert_eq!(differs.count(), 0, "{file}: full.png is not the first frame");
    }
    assert!(checked >= 16, "checked {checked} animated variants");
}

#[test]
fn a_longer_animation_than_the_limit_gives_its_first_frame() {
    let server = Server::options().arg("--max-animation-frames").arg("10").start();
    let path = server.upload("anim", corpus::read("gif/anim_chi_31f.gif"));
    // info.json tells the truth about the original.
    assert_eq!(server.get(&format!("{path}/info.json")).json()["frames"], 31);
    for out in ["gif", "webp"] {
        let reply = server.get(&format!("{path}/w100.{out}"));
        assert_eq!(reply.status, 200);
        let got = frames(&reply.body, out);
        assert_eq!(got.len(), 1, "31 frames over a limit of 10 give one frame in .{out}");
    }
    // Within the limit, the same server keeps them.
    let path = server.upload("anim", corpus::read("gif/anim_loop3_10f.gif"));
    assert_eq!(frames(&server.get(&format!("{path}/w100.webp")).body, "webp").len(), 10);
}

#[test]
fn still_images_say_no_frames_and_every_image_has_a_thumbhash_of_its_colours() {
    let server = Server::start();
    for file in [
        "jpeg/photo_0.24mp_owl_baseline.jpg",
        "jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg",
        "png/rgba_dice_transparent.png",
        "png/grayalpha8_400x300.png",
        "gif/anim_chi_31f.gif",
        "webp/lossy_photo_coast_800x534.webp",
    ] {
        let path = server.upload("hash", corpus::read(file));
        let info = server.get(&format!("{path}/info.json")).json();
        if !file.contains("anim") {
            assert!(info.get("frames").is_none(), "{file}: a still image has no frames field: {info}");
        }
        let hash = info["thumbhash"].as_str().unwrap_or_else(|| panic!("{file}: no thumbhash: {info}"));
        let hash = base64::engine::general_purpose::STANDARD.decode(hash).expect("base64");
        assert!((5..=25).contains(&hash.len()), "{file}: a ThumbHash is 5-25 bytes, got {}", hash.len());
        let (pw, ph, _) = thumbhash::thumb_hash_to_rgba(&hash).expect("the ThumbHash decodes");
        // The placeholder has the upright image's aspect ratio...
        let upright = image::load_from_memory(&server.get(&format!("{path}/w100.png")).body).unwrap();
        let (ratio_hash, ratio_image) = (pw as f64 / ph as f64, upright.width() as f64 / upright.height() as f64);
        assert!((ratio_hash / ratio_image - 1.0).abs() < 0.35, "{file}: placeholder {pw}x{ph}, image {ratio_image:.2}");
        // ...and its average colour.
        let (r, g, b, _) = thumbhash::thumb_hash_to_average_rgba(&hash).expect("average");
        let rgb = upright.to_rgb8();
        let n = f64::from(rgb.width() * rgb.height());
        let mean = |c: usize| rgb.pixels().map(|p| f64::from(p.0[c])).sum::<f64>() / n / 255.0;
        let a = upright.to_rgba8();
        let opaque = a.pixels().all(|p| p.0[3] == 255);
        if opaque {
            for (c, v) in [r, g, b].into_iter().enumerate() {
                assert!(
                    (f64::from(v) - mean(c)).abs() < 0.12,
                    "{file}: channel {c}: thumbhash {v:.2}, image {:.2}",
                    mean(c)
                );
            }
        }
    }
}
