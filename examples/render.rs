//! Renders one variant of a local file through the pipeline, for looking at outputs by eye:
//! `cargo run --release --example render -- photo.jpg x300.png out.png`

use image_server::config::Config;
use image_server::model::Variant;
use image_server::pipeline::{self, RenderSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, variant, output] = args.as_slice() else {
        eprintln!("usage: render INPUT VARIANT OUTPUT");
        std::process::exit(2);
    };
    let bytes = std::fs::read(input).expect("read input");
    let variant: Variant = variant.parse().expect("variant");
    let spec =
        RenderSpec { geometry: variant.geometry, format: variant.ext.format(), quality: variant.quality.unwrap_or(80) };
    let limits = image_server::service::render_limits(&Config::defaults());
    match pipeline::render(&bytes, &spec, &limits) {
        Ok(r) => {
            std::fs::write(output, &r.bytes).expect("write output");
            println!("{}x{} {} bytes", r.width, r.height, r.bytes.len());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
