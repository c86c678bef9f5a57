#![no_main]
//! See `berth::fuzz::lock_record`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| berth::fuzz::lock_record(data));
