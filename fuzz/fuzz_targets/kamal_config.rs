#![no_main]
//! See `berth::fuzz::kamal_config`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| berth::fuzz::kamal_config(data));
