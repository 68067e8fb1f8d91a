//! The EXIF reader.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| image_server::fuzzing::exif(data));
