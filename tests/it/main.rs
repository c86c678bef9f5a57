//! berth's integration tests, one binary: each area a module, all sharing
//! one build of the helpers in `common/` (and one build of the test image).
//! They run against the real Docker engine, real nginx and real sshd; see
//! `common/mod.rs` for what happens when Docker is unreachable.
//!
//! Run one area with a filter: `scripts/test proxy_live::`.

mod common;

mod config_errors;
mod console_pty;
mod containers_live;
mod demo;
mod engine_live;
mod engines_live;
mod fleet_live;
mod kamal_live;
mod lock_live;
mod outputs;
mod proxy_live;
mod registry_live;
mod resources_live;
mod signals_live;
mod ssh_live;
mod status_live;
mod strange_files;
mod watcher_live;
