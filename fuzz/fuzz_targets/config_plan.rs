#![no_main]
//! See `berth::fuzz::config_then_plan`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        berth::fuzz::config_then_plan(text);
    }
});
