//! berth: a terminal operations console for fleets of Docker hosts.
//!
//! The library holds everything but the terminal front ends: the fleet
//! config, the live inventory, the Docker and host connections, and the
//! engine. `src/main.rs` and `src/cli/` are thin renderers on top.

pub mod cli;
pub mod config;
pub mod docker;
pub mod engine;
pub mod hosts;
pub mod inventory;
pub mod labels;
pub mod sanitize;
