#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| sigv4_fuzz::spec(data));
