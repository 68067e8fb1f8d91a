//! Colour management: CMYK and ICC-tagged originals come out in sRGB with the colours a
//! colour-managed reference (libvips) gives, within a tolerance.

use image::ImageFormat;

use crate::support::images::{decode, grid_distance, grid_means};
use crate::support::{Server, corpus};

/// Largest allowed difference of a 4x4 grid cell's mean, per channel, from the reference.
/// Measured: ours is within 0.4-1.2 of libvips for RGB profiles and 8.9 for the SWOP CMYK
/// (other rendering intent, one row more from rounding); ignoring the profiles instead is off
/// by 7.6 (Adobe RGB), 7.2 (Display P3) and 33.5 (CMYK), so these tolerances tell them apart.
fn tolerance(file: &str) -> f64 {
    if file.contains("cmyk") {
        15.0
    } else if file.contains("gray") {
        5.0
    } else {
        3.0
    }
}

#[test]
fn icc_and_cmyk_originals_match_the_colour_managed_reference() {
    let golden: serde_json::Value =
        serde_json::from_str(include_str!("golden/colour_reference.json")).expect("golden/colour_reference.json");
    let server = Server::start();
    let grids = golden["grids"].as_object().unwrap();
    assert!(grids.len() >= 7, "the golden file holds {} reference grids", grids.len());
    let mut compared = 0;
    for (file, grid) in grids {
        let reference: Vec<[f64; 3]> = grid
            .as_array()
            .unwrap()
            .iter()
            .map(|cell| {
                let c = cell.as_array().unwrap();
                [c[0].as_f64().unwrap(), c[1].as_f64().unwrap(), c[2].as_f64().unwrap()]
            })
            .collect();
        let path = server.upload("p", corpus::read(file));
        let reply = server.get(&format!("{path}/w64.png"));
        assert_eq!(reply.status, 200, "{file}");
        let ours = grid_means(&decode(&reply.body, ImageFormat::Png).to_rgb8());
        assert_eq!(ours.len(), reference.len(), "{file}: grid sizes differ");
        let distance = grid_distance(&ours, &reference);
        assert!(distance <= tolerance(file), "{file}: off by {distance:.1} from the colour-managed reference");
        compared += 1;
    }
    assert_eq!(compared, grids.len(), "every reference grid was compared");
}
