#![no_main]
//! See `berth::fuzz::kamal_lock`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| berth::fuzz::kamal_lock(data));
