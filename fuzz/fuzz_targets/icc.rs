//! The ICC reader and transform.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| image_server::fuzzing::icc(data));
