#![no_main]
// The audit reader catches redb's panics on corrupt files and reports the segment unreadable
// (audit::segment); libfuzzer-sys's panic hook would abort on those caught panics too. A panic
// the reader does not catch still unwinds to libfuzzer-sys, which aborts on it.
libfuzzer_sys::fuzz_target!(
    init: std::panic::set_hook(Box::new(|_| {})),
    |data: &[u8]| audit::fuzzing::files(data)
);
