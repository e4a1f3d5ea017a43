#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| cognate_fuzzing::totp(data));
