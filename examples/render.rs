//! Renders one variant of a local file through the pipeline, for looking at outputs by eye:
//! `cargo run --release --example render -- photo.jpg x300.png out.png [fast|small]` (the
//! encoders' effort: `fast`, the request path's, by default; `small`, the upload-time one's).
//! Prints the output's size, bytes and encode-inclusive render time in milliseconds.

use image_server::config::Config;
use image_server::model::Variant;
use image_server::pipeline::{self, Effort, RenderSpec};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, variant, output, effort) = match args.as_slice() {
        [input, variant, output] => (input, variant, output, Effort::Fast),
        [input, variant, output, effort] if effort == "fast" => (input, variant, output, Effort::Fast),
        [input, variant, output, effort] if effort == "small" => (input, variant, output, Effort::Small),
        _ => {
            eprintln!("usage: render INPUT VARIANT OUTPUT [fast|small]");
            std::process::exit(2);
        }
    };
    let bytes = std::fs::read(input).expect("read input");
    let variant: Variant = variant.parse().expect("variant");
    let spec = RenderSpec {
        geometry: variant.geometry,
        format: variant.ext.format(),
        quality: variant.quality.unwrap_or(80),
        effort,
        placement: pipeline::Placement::Centre,
    };
    let limits = image_server::service::render_limits(&Config::defaults());
    let started = std::time::Instant::now();
    match pipeline::render(&bytes, &spec, &limits) {
        Ok(r) => {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            std::fs::write(output, &r.bytes).expect("write output");
            println!("{}x{} {} bytes {ms:.2} ms", r.width, r.height, r.bytes.len());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
