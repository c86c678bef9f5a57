#![no_main]
//! See `berth::fuzz::labels`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| berth::fuzz::labels(data));
