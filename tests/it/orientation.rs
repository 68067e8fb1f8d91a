//! The eight EXIF orientations (and the invalid 0) all come out upright and identical.

use image::ImageFormat;

use crate::support::images::{decode, mean_abs_diff};
use crate::support::{Server, corpus};

#[test]
fn every_exif_orientation_comes_out_upright() {
    let server = Server::start();
    let render = |n: u32, variant: &str| {
        let path = server.upload("p", corpus::read(&format!("exif/orientation_{n}_landscape.jpg")));
        let info = server.get(&format!("{path}/info.json")).json();
        assert_eq!((info["width"].as_u64(), info["height"].as_u64()), (Some(1800), Some(1200)), "orientation {n}");
        decode(&server.get(&format!("{path}/{variant}")).body, ImageFormat::Png).to_rgb8()
    };
    for variant in ["w300.png", "120x100.png"] {
        let upright = render(1, variant);
        for n in [0, 2, 3, 4, 5, 6, 7, 8] {
            let img = render(n, variant);
            assert_eq!(img.dimensions(), upright.dimensions(), "orientation {n} {variant}");
            // The files differ only by their JPEG encoding of turned pixels: ~1-2 levels.
            // A flipped or rotated result is tens of levels off.
            let diff = mean_abs_diff(&img, &upright);
            assert!(diff < 4.0, "orientation {n} {variant}: {diff:.1} from the upright one");
        }
    }
    let flipped = image::imageops::flip_horizontal(&render(1, "w300.png"));
    assert!(mean_abs_diff(&flipped, &render(1, "w300.png")) > 15.0, "the comparison can tell a mirror image");
}
