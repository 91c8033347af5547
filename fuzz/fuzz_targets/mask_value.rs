#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| masking::fuzzing::mask_value(data));
