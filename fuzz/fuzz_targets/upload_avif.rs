//! The upload path of Avif originals: sniff, probe, decode, working copies, render.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| image_server::fuzzing::upload(image_server::model::ImageFormat::Avif, data));
