#![no_main]
//! See `berth::fuzz::clean`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| berth::fuzz::clean(data));
