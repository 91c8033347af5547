#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| policy::fuzzing::analyze_sql(data));
