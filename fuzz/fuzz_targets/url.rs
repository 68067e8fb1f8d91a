//! The URL grammar: path and query through the router, the variant parser and signatures.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| image_server::fuzzing::url(data));
