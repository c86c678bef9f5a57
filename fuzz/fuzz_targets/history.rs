#![no_main]
//! See `berth::fuzz::history`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| berth::fuzz::history(data));
