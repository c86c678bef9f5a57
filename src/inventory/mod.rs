//! The live inventory: one watcher task per host feeds messages to one model
//! task, which owns the [`Fleet`] and publishes it through a `watch` channel.
//! Readers get a snapshot plus a notification on every real change.
//!
//! Owns: watching engines and the live [`Fleet`]. May import `config`,
//! `docker`, `domain`, `hosts`, `labels`, `sanitize`; must not import `engine`
//! or a front end.
//! The layering is checked by a test (`src/layers.rs`).

pub mod logs;
pub mod stats;
pub mod status;
mod watch;

use std::time::Duration;

use tokio::sync::{mpsc, watch as tokio_watch};
use tokio::task::JoinHandle;

pub use crate::domain::model::{
    Change, Container, EngineInfo, EventRecord, Fleet, Health, HostView, Link, Port, Probe, State,
};
pub use watch::WatchOptions;

use crate::config::Config;
use crate::docker::Gateway;
use crate::hosts::Endpoint;

/// A running inventory. Dropping it stops every watcher.
pub struct Inventory {
    rx: tokio_watch::Receiver<Fleet>,
    tasks: Vec<JoinHandle<()>>,
}

impl Inventory {
    /// Starts one watcher per host in the config; at most
    /// `parallel_connects` of them connect at once.
    pub fn start(config: &Config, gateway: &Gateway, mut opts: WatchOptions) -> Inventory {
        opts.connecting.get_or_insert_with(|| {
            std::sync::Arc::new(tokio::sync::Semaphore::new(
                config.fleet.parallel_connects.get(),
            ))
        });
        opts.configured =
            std::sync::Arc::new(config.fleet.hosts.keys().map(|h| h.to_string()).collect());
        let hosts: Vec<(String, Endpoint)> = config
            .fleet
            .hosts
            .iter()
            .map(|(name, h)| (name.to_string(), Endpoint::from_config(h)))
            .collect();
        let fleet = Fleet::new(hosts.iter().map(|(n, e)| (n.as_str(), e.describe())))
            .with_kamal_services(config.kamal_services());
        Self::start_with(fleet, hosts, gateway, opts)
    }

    /// Starts watchers for the given hosts, reaching them through `gateway`.
    pub fn start_hosts(
        hosts: Vec<(String, Endpoint)>,
        gateway: &Gateway,
        opts: WatchOptions,
    ) -> Inventory {
        let fleet = Fleet::new(hosts.iter().map(|(n, e)| (n.as_str(), e.describe())));
        Self::start_with(fleet, hosts, gateway, opts)
    }

    fn start_with(
        fleet: Fleet,
        hosts: Vec<(String, Endpoint)>,
        gateway: &Gateway,
        opts: WatchOptions,
    ) -> Inventory {
        let (model_tx, model_rx) = tokio_watch::channel(fleet);
        let (tx, mut rx) = mpsc::channel::<Change>(1024);
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(async move {
            // Drain whatever is queued before notifying readers once: a burst
            // of events becomes one wake-up, not hundreds.
            let mut batch = Vec::with_capacity(64);
            while rx.recv_many(&mut batch, 256).await > 0 {
                model_tx.send_if_modified(|fleet| {
                    batch
                        .drain(..)
                        .fold(false, |changed, msg| fleet.apply(msg) | changed)
                });
            }
        }));
        for (name, endpoint) in hosts {
            tasks.push(tokio::spawn(watch::watch_host(
                gateway.clone(),
                name,
                endpoint,
                tx.clone(),
                opts.clone(),
            )));
        }
        Inventory {
            rx: model_rx,
            tasks,
        }
    }

    /// A copy of the model as it is now.
    pub fn snapshot(&self) -> Fleet {
        self.rx.borrow().clone()
    }

    /// A receiver that wakes on every change of the model.
    pub fn subscribe(&self) -> tokio_watch::Receiver<Fleet> {
        self.rx.clone()
    }

    /// Waits until `ready` holds for the model, for at most `timeout`.
    /// Returns the snapshot that satisfied it, or the last one seen.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut ready: impl FnMut(&Fleet) -> bool,
    ) -> Result<Fleet, Fleet> {
        let mut rx = self.rx.clone();
        let res = tokio::time::timeout(timeout, rx.wait_for(|f| ready(f))).await;
        match res {
            Ok(Ok(fleet)) => Ok(fleet.clone()),
            _ => Err(self.snapshot()),
        }
    }
}

impl Drop for Inventory {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
