//! berth: a terminal operations console for fleets of Docker hosts.
//!
//! The library holds everything but the terminal front ends: the fleet
//! config, the live inventory, the Docker and host connections, and the
//! engine. `src/main.rs` and `src/cli/` are thin renderers on top.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod cli;
pub mod config;
pub mod docker;
pub mod engine;
#[doc(hidden)]
pub mod fuzz;
pub mod hosts;
pub mod inventory;
pub mod labels;
pub mod sanitize;
pub mod tui;

/// `42s`, `5m`, `2h13m`, `3d4h`: ages as the CLI and the engine print them.
pub fn cli_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}
pub mod doctor;
