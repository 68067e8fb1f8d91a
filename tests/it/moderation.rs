//! Moderation through the real server (DESIGN.md §11, §15): a real hook on loopback sees JPEG
//! sheets of at most 1024 px of each new original before anything is stored (every frame of an
//! animation, transparency over light and dark, origin pulls and `?source=` overrides included);
//! its rejects are 422 with its reason and store nothing; a hook that cannot be reached is 503,
//! or allowed with `moderation_fail_open`.

use std::collections::HashSet;

use crate::support::receiver::Receiver;
use crate::support::server::files_under;
use crate::support::{Server, corpus};

/// Uploads the hook rejects: the CMYK and the gray photo, by what the hook sees (their md5).
const REJECTED: [&str; 2] = ["jpeg/cmyk_adobe_swop_icc.jpg", "jpeg/gray_4.1mp_architecture.jpg"];
const ALLOWED: [&str; 3] =
    ["jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg", "png/palette_photo_290x442.png", "gif/anim_chi_31f.gif"];

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn moderated_server(url: &str, fail_open: bool) -> Server {
    let namespaces = serde_json::json!({ "m": { "moderation_url": url, "moderation_fail_open": fail_open } });
    Server::options().arg("--namespaces").raw(&namespaces.to_string()).start()
}

#[test]
fn the_hook_sees_a_small_jpeg_and_its_rejects_store_nothing() {
    let rejected: HashSet<String> = REJECTED.iter().map(|f| md5_hex(&corpus::read(f))).collect();
    let hook = Receiver::start(move |req, _| {
        let hash = req.header("x-image-server-hash").unwrap_or_default();
        if rejected.contains(hash) {
            (200, r#"{"verdict":"reject","reason":"not on this site"}"#.to_owned())
        } else {
            (200, r#"{"verdict":"allow"}"#.to_owned())
        }
    });
    let server = moderated_server(&hook.url, false);
    for file in REJECTED {
        let r = server.post("/m?outputs=w100.jpg", corpus::read(file));
        assert_eq!(r.status, 422, "{file}");
        assert_eq!(r.error(), "rejected by moderation: not on this site");
    }
    assert_eq!(files_under(&server.data_dir()), Vec::<String>::new(), "a rejected upload stores nothing");
    for file in ALLOWED {
        let r = server.post("/m?outputs=w100.jpg", corpus::read(file));
        assert_eq!(r.status, 201, "{file}: {}", String::from_utf8_lossy(&r.body));
    }
    let seen = hook.received();
    let originals: HashSet<&str> = seen.iter().filter_map(|r| r.header("x-image-server-hash")).collect();
    assert_eq!(originals.len(), REJECTED.len() + ALLOWED.len());
    // The 31 frames of the GIF come in two sheets of at most 16.
    let gif = md5_hex(&corpus::read(ALLOWED[2]));
    let sheets: Vec<&str> = seen
        .iter()
        .filter(|r| r.header("x-image-server-hash") == Some(gif.as_str()))
        .filter_map(|r| r.header("x-image-server-sheet"))
        .collect();
    assert_eq!(sheets, ["1/2", "2/2"]);
    for req in &seen {
        assert_eq!(req.header("content-type"), Some("image/jpeg"));
        assert_eq!(req.header("x-image-server-namespace"), Some("m"));
        let shown = image::load_from_memory_with_format(&req.body, image::ImageFormat::Jpeg).unwrap();
        let (w, h) = (shown.width(), shown.height());
        assert!(w.max(h) <= 1024 && w.min(h) >= 1, "{w}x{h}");
    }
    // The 12 MP photo is shown upright at 1024 on its long side.
    let dog = md5_hex(&corpus::read(ALLOWED[0]));
    let req = seen.iter().find(|r| r.header("x-image-server-hash") == Some(dog.as_str())).unwrap();
    let shown = image::load_from_memory(&req.body).unwrap();
    assert_eq!((shown.width(), shown.height()), (768, 1024));
    // A re-upload of stored bytes is not asked about again.
    assert_eq!(server.post("/m", corpus::read(ALLOWED[1])).status, 200);
    assert_eq!(hook.received().len(), seen.len());
    let status = server.status();
    assert_eq!(status["moderation"]["reject"], 2);
    assert_eq!(status["moderation"]["allow"], 3);
}

#[test]
fn a_hook_that_cannot_answer_is_503_unless_the_namespace_fails_open() {
    let unreachable = "http://127.0.0.1:9/hook";
    let closed = moderated_server(unreachable, false);
    let r = closed.post("/m", corpus::read(ALLOWED[1]));
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert_eq!(files_under(&closed.data_dir()), Vec::<String>::new());
    assert_eq!(closed.status()["moderation"]["unavailable"], 1);
    // Other namespaces are not moderated.
    assert_eq!(closed.post("/other", corpus::read(ALLOWED[1])).status, 201);

    // A hook that answers nonsense gives no verdict either.
    let confused = Receiver::start(|_, _| (200, r#"{"verdict":"maybe"}"#.to_owned()));
    assert_eq!(moderated_server(&confused.url, false).post("/m", corpus::read(ALLOWED[1])).status, 503);

    let open = moderated_server(unreachable, true);
    assert_eq!(open.post("/m", corpus::read(ALLOWED[1])).status, 201);
}

/// A hook that rejects what a page would show in red (a solid red area, through JPEG).
fn red_hook() -> Receiver {
    Receiver::start(|req, _| {
        let shown = image::load_from_memory_with_format(&req.body, image::ImageFormat::Jpeg).unwrap().to_rgb8();
        let red = shown.pixels().filter(|p| p[0] > 180 && p[1] < 80 && p[2] < 80).count();
        if red > 16 {
            (200, r#"{"verdict":"reject","reason":"red"}"#.to_owned())
        } else {
            (200, r#"{"verdict":"allow"}"#.to_owned())
        }
    })
}

/// An animated GIF of 64 x 64 frames of these colours, each shown a tenth of a second.
fn animated_gif(colours: &[[u8; 3]]) -> Vec<u8> {
    use image::codecs::gif::{GifEncoder, Repeat};
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder.set_repeat(Repeat::Infinite).unwrap();
        for [r, g, b] in colours {
            let frame = image::RgbaImage::from_pixel(64, 64, image::Rgba([*r, *g, *b, 255]));
            let delay = image::Delay::from_numer_denom_ms(100, 1);
            encoder.encode_frame(image::Frame::from_parts(frame, 0, 0, delay)).unwrap();
        }
    }
    out
}

/// Finding 5: an animation whose first frame is clean and a later one is not is refused: the
/// hook sees every frame.
#[test]
fn the_hook_sees_every_frame_of_an_animation() {
    let hook = red_hook();
    let server = moderated_server(&hook.url, false);
    let (blue, red) = ([20, 40, 200], [230, 10, 10]);
    let clean = server.post("/m", animated_gif(&[blue, blue, blue, blue]));
    assert_eq!(clean.status, 201, "{}", clean.error());
    let r = server.post("/m", animated_gif(&[blue, blue, red, blue]));
    assert_eq!(r.status, 422, "the third frame is red");
    assert_eq!(r.error(), "rejected by moderation: red");
    let stored = files_under(&server.data_dir());
    assert_eq!(stored.iter().filter(|f| f.ends_with("/original")).count(), 1, "only the clean GIF: {stored:?}");
}

/// Finding 5: white shapes on a transparent PNG (all white once flattened onto white) are shown
/// over a dark background too. The hook refuses a light shape enclosed in dark.
#[test]
fn the_hook_sees_transparency_over_dark() {
    let hook = Receiver::start(|req, _| {
        let shown = image::load_from_memory_with_format(&req.body, image::ImageFormat::Jpeg).unwrap().to_luma8();
        let (w, h) = shown.dimensions();
        let dark = |x: u32, y: u32| shown.get_pixel(x, y)[0] < 40;
        let light = |x: u32, y: u32| shown.get_pixel(x, y)[0] > 215;
        let enclosed = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).any(|(x, y)| {
            light(x, y)
                && (0..x).any(|l| dark(l, y))
                && (x + 1..w).any(|r| dark(r, y))
                && (0..y).any(|t| dark(x, t))
                && (y + 1..h).any(|b| dark(x, b))
        });
        let verdict =
            if enclosed { r#"{"verdict":"reject","reason":"a light shape"}"# } else { r#"{"verdict":"allow"}"# };
        (200, verdict.to_owned())
    });
    let server = moderated_server(&hook.url, false);
    let mut png = image::RgbaImage::from_pixel(120, 120, image::Rgba([0, 0, 0, 0]));
    for (x, y, p) in png.enumerate_pixels_mut() {
        if (40..80).contains(&x) && (40..80).contains(&y) {
            *p = image::Rgba([255, 255, 255, 255]);
        }
    }
    let mut bytes = Vec::new();
    png.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    let r = server.post("/m", bytes);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.error(), "rejected by moderation: a light shape");
    assert_eq!(files_under(&server.data_dir()), Vec::<String>::new());
}

/// Finding 5: originals pulled into a moderated origin-pull namespace are moderated, from its
/// template and from a `?source=` override alike; a refused pull stores nothing and is 422.
#[test]
fn origin_pulls_and_source_overrides_are_moderated() {
    use crate::support::origin::Origin;
    let rejected = md5_hex(&corpus::read(REJECTED[0]));
    let hook = Receiver::start(move |req, _| {
        if req.header("x-image-server-hash") == Some(rejected.as_str()) {
            (200, r#"{"verdict":"reject","reason":"not on this site"}"#.to_owned())
        } else {
            (200, r#"{"verdict":"allow"}"#.to_owned())
        }
    });
    let origin = Origin::start();
    let namespaces = serde_json::json!({ "o": {
        "source_url": origin.url("/corpus/{path}"),
        "allow_source_override": true,
        "moderation_url": hook.url,
    }});
    let server = Server::options().arg("--source-allow-private --namespaces").raw(&namespaces.to_string()).start();
    let pulled = server.get(&format!("/o/{}/w100.jpg", REJECTED[0]));
    assert_eq!(pulled.status, 422, "{}", String::from_utf8_lossy(&pulled.body));
    let source = origin.url(&format!("/corpus/{}", REJECTED[0]));
    let overridden = server.get(&format!("/o/avatar/1/w100.jpg?source={source}"));
    assert_eq!(overridden.status, 422, "{}", String::from_utf8_lossy(&overridden.body));
    assert_eq!(overridden.error(), "rejected by moderation: not on this site");
    assert_eq!(files_under(&server.data_dir()), Vec::<String>::new(), "a refused pull stores nothing");
    assert_eq!(server.get(&format!("/o/{}/w100.jpg", ALLOWED[1])).status, 200, "an allowed pull is served");
    assert_eq!(hook.received().len(), 3);
    assert_eq!(server.status()["moderation"]["reject"], 2);
}
