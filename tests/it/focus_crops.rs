//! Crops that keep the subject (issue 20, DESIGN.md §14): the focus found once per original,
//! cover crops placed around it, measured over HTTP on photos whose subjects were labelled by
//! hand (`golden/subjects.tsv`) against libvips' attention crop and the centred crop; and, on the
//! pipeline, the same box whatever the EXIF orientation, source (working copy) or frame. Each crop
//! is found in its original's pixels, ours and libvips' alike, so the tests check what was
//! rendered, not only what was planned. `SAVE_OUTPUT=DIR` writes the crops for looking at.

use image::AnimationDecoder;
use image_server::pipeline::focus::{self, FocusInfo, FocusPoint};
use image_server::pipeline::{self, RenderSpec, plan};

use crate::support::server::cli_in;
use crate::support::subjects::{
    self, Gray, Kept, SHAPES, assert_at, found, geometry, limits, png, png_name, reference,
};
use crate::support::{Server, corpus};

fn save(name: &str, bytes: &[u8]) {
    if let Ok(dir) = std::env::var("SAVE_OUTPUT") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(name), bytes).unwrap();
    }
}

#[derive(Default)]
struct Tally {
    sum: [f64; 2],
    n: usize,
}

impl Tally {
    fn add(&mut self, k: Kept) {
        self.sum[0] += k.raw;
        self.sum[1] += k.attainable;
        self.n += 1;
    }

    /// Means of (raw, attainable).
    fn mean(&self) -> (f64, f64) {
        (self.sum[0] / self.n as f64, self.sum[1] / self.n as f64)
    }
}

/// The measure of issue 20, over HTTP: every labelled photo uploaded into a namespace with
/// `crop: "focus"` and into a plain one; the cover crops the server answers keep at least as much
/// of the subject as libvips' attention crop, and at least 0.9 of what a crop of that shape can
/// keep; each is found where the focus stored in info.json places it, and the plain namespace's
/// where a centred crop always was.
#[test]
fn focus_crops_keep_the_subject_better_than_vips_attention_and_centred_crops_stay() {
    let server = Server::options().arg("--namespaces").raw(r#"{"focus": {"crop": "focus"}}"#).start();
    // Per shape (and all shapes, last): ours, libvips' attention, centred.
    let mut tallies: Vec<[Tally; 3]> = (0..=SHAPES.len()).map(|_| Default::default()).collect();
    let mut table = String::new();
    for photo in subjects::set() {
        let bytes = photo.bytes();
        let (focused, plain) = (server.upload("focus", bytes.clone()), server.upload("p", bytes.clone()));
        let info = server.get(&format!("{focused}/info.json")).json();
        let size = (info["width"].as_u64().unwrap() as u32, info["height"].as_u64().unwrap() as u32);
        let stored: FocusInfo = serde_json::from_value(info.clone()).expect("info.json has a focus");
        table += &format!("{} ({}): {}\n", photo.name, photo.what, serde_json::to_string(&stored).unwrap());
        for (i, &shape) in SHAPES.iter().enumerate() {
            let geometry = geometry(shape);
            let what = format!("{} {geometry}", photo.name);
            let reference = reference(&bytes, size, shape);
            let get = |path: &str| {
                let reply = server.get(&format!("{path}/{}", png_name(shape)));
                assert_eq!(reply.status, 200, "{what}: {}", String::from_utf8_lossy(&reply.body));
                reply.body
            };
            let base = photo.name.rsplit(['/', ':']).next().unwrap().replace('.', "_");
            let ours = get(&focused);
            save(&format!("{base}-{geometry}-focus.png"), &ours);
            let ours = found(&reference, &ours, size, shape, &format!("{what} (focus)"));
            let placed = plan::plan_with(size.0, size.1, geometry, stored.placement()).crop;
            assert_at(ours, placed, shape, &format!("{what} (focus)"));
            let centre = get(&plain);
            save(&format!("{base}-{geometry}-centre.png"), &centre);
            let centre = found(&reference, &centre, size, shape, &format!("{what} (centre)"));
            assert_at(centre, plan::plan(size.0, size.1, geometry).crop, shape, &format!("{what} (centre)"));
            let vips = subjects::vips_attention(&photo.path, shape);
            save(&format!("{base}-{geometry}-vips.png"), &vips);
            let vips = found(&reference, &vips, size, shape, &format!("{what} (vips attention)"));
            let kept = [ours, vips, centre].map(|b| subjects::kept(b, photo.subject));
            for row in [i, SHAPES.len()] {
                tallies[row].iter_mut().zip(kept).for_each(|(tally, k)| tally.add(k));
            }
            let cells = kept.map(|k| format!("{:.2} ({:.2})", k.attainable, k.raw));
            table += &format!("  {geometry:>8}: focus {} vips {} centre {}\n", cells[0], cells[1], cells[2]);
        }
    }
    table += "kept, of what the shape can keep (of the subject's area): focus / vips attention / centre\n";
    for (i, t) in tallies.iter().enumerate() {
        let shape = SHAPES.get(i).map_or("all".to_owned(), |&s| geometry(s).to_string());
        let m = t.each_ref().map(Tally::mean);
        table += &format!(
            "  {shape:>8}: {:.3} ({:.3}) / {:.3} ({:.3}) / {:.3} ({:.3})\n",
            m[0].1, m[0].0, m[1].1, m[1].0, m[2].1, m[2].0
        );
    }
    println!("{table}");
    let [ours, vips, _] = tallies[SHAPES.len()].each_ref().map(Tally::mean);
    assert!(ours.1 >= vips.1 && ours.0 >= vips.0, "focus keeps less than vips attention:\n{table}");
    assert!(ours.1 >= 0.9, "focus keeps less than 0.9 of what the crops can keep:\n{table}");
    let detections = &server.status()["focus"];
    assert_eq!(detections["detections"], 2 * subjects::set().len(), "one detection an upload: {detections}");
}

/// EXIF orientation: the focus is a point of the upright image, and a crop placed around it shows
/// the same part of the picture whichever way the file stores it.
#[test]
fn focus_is_upright_whatever_the_exif_orientation() {
    let limits = limits();
    let shape = (200, 600);
    let upright = corpus::read("exif/orientation_1_landscape.jpg");
    let want = focus::detect(&upright, &limits).unwrap();
    for o in 0..=8 {
        let bytes = corpus::read(&format!("exif/orientation_{o}_landscape.jpg"));
        let info = focus::detect(&bytes, &limits).unwrap();
        let (dx, dy) = ((info.focus.x - want.focus.x).abs(), (info.focus.y - want.focus.y).abs());
        assert!(dx < 0.02 && dy < 0.02, "orientation {o}: {info:?}, upright {want:?}");
        // The same stored focus places the same box on every orientation of the file.
        let spec = png(geometry(shape), want.placement());
        let crop = pipeline::render(&bytes, &spec, &limits).unwrap().bytes;
        let placed = plan::plan_with(1800, 1200, geometry(shape), want.placement()).crop;
        let at =
            found(&reference(&bytes, (1800, 1200), shape), &crop, (1800, 1200), shape, &format!("orientation {o}"));
        assert_at(at, placed, shape, &format!("orientation {o}"));
    }
}

/// Working copies: planned on the original's size, a crop rendered from the 1024 px copy shows
/// the box a render from the original shows.
#[test]
fn focus_crops_from_a_working_copy_frame_as_the_original() {
    let limits = limits();
    let original = corpus::read("jpeg/photo_12.2mp_dog_exif6_icc_xmp.jpg");
    let facts = pipeline::probe(&original, &limits).unwrap();
    let size = (facts.width, facts.height);
    let sizes = pipeline::working_copy_sizes(size.0, size.1, facts.format, 2048);
    let copy = pipeline::make_working_copies(&original, sizes, &limits).unwrap().copies.pop().unwrap().1;
    let placement = FocusInfo::at(FocusPoint::new(0.3, 0.8).unwrap()).placement();
    for shape in [(200, 200), (200, 100), (100, 300)] {
        let g = geometry(shape);
        assert!(pipeline::working_copy_suffices(size, (copy.width, copy.height), g), "{g}");
        let rendered = pipeline::render_from_working_copy(&copy.bytes, size, &png(g, placement), &limits).unwrap();
        assert_eq!((rendered.width, rendered.height), shape);
        let at = found(&reference(&original, size, shape), &rendered.bytes, size, shape, &format!("working copy {g}"));
        assert_at(at, plan::plan_with(size.0, size.1, g, placement).crop, shape, &format!("working copy {g}"));
    }
}

/// Animation: every frame is cut by the one placed box.
#[test]
fn focus_crops_of_an_animation_cut_every_frame_alike() {
    let limits = limits();
    let bytes = corpus::read("gif/anim_chi_31f.gif");
    let size = (320, 240);
    let placement = FocusInfo::at(FocusPoint::new(0.1, 0.5).unwrap()).placement();
    let shape = (100, 100);
    let spec = RenderSpec { format: image_server::model::ImageFormat::Gif, ..png(geometry(shape), placement) };
    let animated = pipeline::render_animation(&bytes, &spec, &limits).unwrap();
    let frames = image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&animated.bytes))
        .unwrap()
        .into_frames()
        .collect_frames()
        .unwrap();
    assert_eq!(frames.len(), 31);
    assert!(frames.iter().all(|f| f.buffer().dimensions() == shape));
    // The first frame is the still original's picture, found at the placed box: the left edge.
    let first = image::DynamicImage::ImageRgba8(frames[0].buffer().clone());
    let at = subjects::locate(&reference(&bytes, size, shape), &Gray::of(&first));
    assert!(at.1 > 0.9, "first frame not found: {at:?}");
    let planned = plan::plan_with(size.0, size.1, geometry(shape), placement).crop;
    assert_eq!(planned.left, 0.0);
    assert!(at.0 <= 1, "first frame found at {at:?}, planned at the left edge");
}

/// `image-server focus FILE` prints what an upload would store.
#[test]
fn focus_command_prints_the_stored_focus_and_faces() {
    let dir = tempfile::tempdir().unwrap();
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/golden/focus/astronaut.png");
    let out = cli_in(dir.path()).arg("focus").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let info: FocusInfo = serde_json::from_slice(&out.stdout).unwrap();
    let line = String::from_utf8(out.stdout).unwrap();
    assert!(line.starts_with(r#"{"focus":{"x":"#) && line.contains(r#""faces":[["#), "{line}");
    // One face, inside the hand-labelled one (x 173..282, y 58..173 of 512).
    assert_eq!(info.faces.len(), 1, "{line}");
    let [x0, y0, x1, y1] = info.faces[0].map(|v| f64::from(v) * 512.0);
    let centre = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
    assert!((173.0..282.0).contains(&centre.0) && (58.0..173.0).contains(&centre.1), "{line}");
    let bad = cli_in(dir.path()).arg("focus").arg(corpus::dir().join("malformed/corrupt_header.jpg")).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("corrupt_header.jpg"));
}
