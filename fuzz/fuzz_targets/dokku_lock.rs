#![no_main]
//! See `berth::fuzz::dokku_lock`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| berth::fuzz::dokku_lock(data));
