//! The use cases: what an operator asks of berth, in one place that both
//! front ends call. Start an action (rollback target, planning, preflight,
//! run), check the hosts, inspect a container with its secrets masked,
//! read a host's clock and disk, follow logs and stats, take and release
//! locks, open a shell, run the doctor.
//!
//! The front ends hold a [`Session`] and pass it here; they never name a
//! Docker client or a host connection themselves, so what the console
//! does and what the CLI does cannot drift apart.
//!
//! Owns: the use cases and the session. May import every layer below it;
//! must not import a front end. The layering is checked by a test
//! (`src/layers.rs`), which also forbids `tui` and `cli` from importing
//! `docker` or `hosts`.

pub mod act;
pub mod compose;
pub mod container;
pub mod doctor;
pub mod feeds;
pub mod history;
pub mod host;
pub mod inspect;
pub mod lock;
pub mod logfile;
pub mod resources;
pub mod shell;
pub mod status;
pub mod survey;

use crate::config::{Config, HostConfig};
use crate::docker::Gateway;
use crate::inventory::{Inventory, WatchOptions};

pub use crate::docker::{Attached, DiskUse, DockerError, LogRange};

/// A front end's way to the fleet: one client per engine and one kept SSH
/// master per host, shared by everything the front end starts. Cheap to
/// clone; [`Session::close`] ends the masters.
#[derive(Clone, Default)]
pub struct Session {
    gateway: Gateway,
}

impl Session {
    pub fn new() -> Self {
        Session {
            gateway: Gateway::new(),
        }
    }

    /// Ends every kept SSH master and drops every client.
    pub fn close(&self) {
        self.gateway.close();
    }

    /// Starts watching every host of the config.
    pub fn inventory(&self, config: &Config, opts: WatchOptions) -> Inventory {
        Inventory::start(config, &self.gateway, opts)
    }

    /// The Docker client of the config's host named `host`, reached within
    /// `timeout`; the error in words.
    async fn client_for(
        &self,
        config: &Config,
        host: &str,
        timeout: std::time::Duration,
    ) -> Result<crate::docker::Client, String> {
        let name = crate::config::HostName::new(host)?;
        let cfg = config.host(&name).map_err(|e| e.to_string())?;
        self.gateway
            .engine_of(cfg, timeout)
            .await
            .map_err(|e| e.to_string())
    }

    /// The fleet once every host has answered or `timeout` has passed (the
    /// hosts that have not are reported as such): one look, no watching.
    pub async fn fleet_now(
        &self,
        config: &Config,
        timeout: std::time::Duration,
    ) -> crate::inventory::Fleet {
        let inventory = self.inventory(config, WatchOptions::default());
        match inventory.wait_for(timeout, |f| f.settled()).await {
            Ok(f) | Err(f) => f,
        }
    }

    /// Forgets a host's client after an error, so the next use reconnects.
    pub fn forget(&self, host: &HostConfig) {
        self.gateway
            .forget(&crate::hosts::Endpoint::from_config(host));
    }
}

/// `--context NAME`: this machine's engine is that Docker context's, over
/// `DOCKER_HOST` and the current context. Set once, before any host is
/// reached.
pub fn use_docker_context(name: &str) {
    crate::hosts::address::use_context(name);
}
