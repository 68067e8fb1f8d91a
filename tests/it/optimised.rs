//! Optimised outputs (DESIGN.md §11): what is rendered ahead of requests (an upload's outputs,
//! `regenerate`) comes from the small encoders, what a miss renders from the fast ones; the same
//! name, fewer bytes, the same pixels for PNG.

use crate::support::images::decode;
use crate::support::server::image_path;
use crate::support::{Server, corpus};

const NAMES: [&str; 4] = ["w400.png", "w400-q80.jpg", "w400-q60.avif", "w400-q80.webp"];

#[test]
fn upload_outputs_are_smaller_than_the_same_variants_rendered_on_a_miss() {
    let photo = corpus::read("jpeg/photo_2.5mp_storm_baseline_exif.jpg");
    // Rendered at upload on one server, on a miss on another.
    let ahead = Server::start();
    let reply = ahead.post(&format!("/p?outputs={}", NAMES.join(",")), photo.clone());
    assert_eq!(reply.status, 201);
    let path = image_path("p", reply.json()["hash"].as_str().unwrap());
    let on_demand = Server::start();
    assert_eq!(on_demand.upload("p", photo), path);
    for name in NAMES {
        let small = ahead.get(&format!("{path}/{name}"));
        let fast = on_demand.get(&format!("{path}/{name}"));
        assert_eq!((small.status, fast.status), (200, 200), "{name}");
        assert!(
            small.body.len() < fast.body.len(),
            "{name}: {} bytes at upload, {} on a miss",
            small.body.len(),
            fast.body.len()
        );
        let ext = name.rsplit('.').next().unwrap();
        let format = crate::support::images::format_of_ext(ext);
        let (a, b) = (decode(&small.body, format).to_rgb8(), decode(&fast.body, format).to_rgb8());
        assert_eq!(a.dimensions(), b.dimensions(), "{name}");
        if ext == "png" {
            assert!(a == b, "{name}: oxipng keeps every pixel");
        } else {
            let ssim = crate::support::images::ssim(&a, &b);
            assert!(ssim > 0.95, "{name}: the small encoder's output looks like the fast one's (SSIM {ssim})");
        }
    }
    // The upload's renders count in image_request, as misses do.
    assert_eq!(ahead.status()["renders"], NAMES.len());
}
