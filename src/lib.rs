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
pub mod domain;
pub mod engine;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod fuzz;
pub mod hosts;
pub mod inventory;
pub mod labels;
pub mod ops;
pub mod sanitize;
pub mod tui;

#[cfg(test)]
mod docs;
#[cfg(test)]
mod layers;
