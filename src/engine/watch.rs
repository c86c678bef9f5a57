//! The engine's shared state that no Docker event stream carries: every
//! app's deploy lock and run history, read at start, on a poll, and at once
//! when something says it changed. Front ends subscribe; none reads lock or
//! history files itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

use super::history::{self, Record};
use super::lock::{self, Broken, Status};
use crate::config::Config;
use crate::hosts::{HostPath, Pool};

/// How often lock files are re-read. They are small local files; the read
/// sends a message only when something changed, so an idle console does not
/// redraw for it.
pub const POLL: Duration = Duration::from_secs(2);
/// The same when some host is reached over SSH: each read there is a
/// command on the host (a session and a login shell), which a console left
/// open should not run every 2 s. The console's own actions and lock
/// commands still refresh at once.
pub const SSH_POLL: Duration = Duration::from_secs(10);
/// An app's lock as read.
#[derive(Clone, Debug, PartialEq)]
pub enum LockRead {
    Free,
    Held(Box<Status>),
    /// It is there, but nobody can take it until it is cleared.
    Broken(Box<Broken>),
    /// It could not be read (why).
    Error(String),
}

/// What changed: every app's lock (keyed by app and destination, `""` for
/// none), or the newest history records (with the host they came from).
#[derive(Clone, Debug)]
pub enum Update {
    Locks(BTreeMap<(String, String), LockRead>),
    History(Vec<(String, Record)>),
}

/// Reads every app's lock and history: at start, every [`POLL`]
/// ([`SSH_POLL`] with SSH hosts), and when an action or a lock command
/// says something changed. Sends only what changed.
pub async fn run(
    config: Arc<Config>,
    hosts: Pool,
    tx: mpsc::UnboundedSender<Update>,
    reload: Arc<Notify>,
) {
    let poll = if config.fleet.hosts.values().any(|h| h.ssh.is_some()) {
        SSH_POLL
    } else {
        POLL
    };
    let mut last_locks = None;
    // History files are appended to, never rewritten: when none changed
    // size or time, there is nothing new to parse.
    let mut last_stamp = None;
    loop {
        let files = history_files(&config, &hosts).await;
        let stamp = stamp(&files).await;
        let history = if last_stamp.as_ref() != Some(&stamp) {
            Some(read_history(&files).await)
        } else {
            None
        };
        let locks = read_locks(&config, &hosts).await;
        if last_locks.as_ref() != Some(&locks) {
            last_locks = Some(locks.clone());
            if tx.send(Update::Locks(locks)).is_err() {
                return;
            }
        }
        if let Some(history) = history {
            last_stamp = Some(stamp);
            if tx.send(Update::History(history)).is_err() {
                return;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = reload.notified() => {}
        }
    }
}

/// Every app's lock, read from all hosts at once.
async fn read_locks(config: &Config, hosts: &Pool) -> BTreeMap<(String, String), LockRead> {
    let ttl = config.fleet.lock.ttl.get();
    let targets = config.fleet.apps.iter().flat_map(|(app, app_cfg)| {
        std::iter::once(None)
            .chain(app_cfg.destinations.keys().map(Some))
            .map(move |dest| (app, dest))
    });
    let cells = futures_util::future::join_all(targets.map(|(app, dest)| async move {
        let cell = match lock::locate(config, hosts, app, dest).await {
            Err(e) => LockRead::Error(e.to_string()),
            Ok((_, dir)) => match lock::read(&dir, ttl).await {
                Ok(None) => LockRead::Free,
                Ok(Some(s)) => LockRead::Held(Box::new(s)),
                Err(lock::LockError::Broken(b)) => LockRead::Broken(b),
                Err(e) => LockRead::Error(e.to_string()),
            },
        };
        let dest = dest.map(|d| d.to_string()).unwrap_or_default();
        ((app.to_string(), dest), cell)
    }))
    .await;
    cells.into_iter().collect()
}

/// Every (host, app, state directory) the console shows runs from.
type HistoryFiles = Vec<(String, String, HostPath)>;

/// The state directory of every app's host, for those that can be reached.
async fn history_files(config: &Config, hosts: &Pool) -> HistoryFiles {
    let pairs = config
        .fleet
        .apps
        .iter()
        .flat_map(|(app, app_cfg)| app_cfg.hosts().into_iter().map(move |host| (host, app)));
    let found = futures_util::future::join_all(pairs.map(|(host, app)| async move {
        let dir = hosts
            .state_dir(config.host(host).ok()?, lock::REACH_TIMEOUT)
            .await
            .ok()?;
        Some((host.to_string(), app.to_string(), dir))
    }))
    .await;
    found.into_iter().flatten().collect()
}

type Stamp = Vec<Option<(u64, i64)>>;

/// Size and modification time of each history file (`None`: not there, or
/// not reachable).
async fn stamp(files: &HistoryFiles) -> Stamp {
    futures_util::future::join_all(files.iter().map(|(_, app, dir)| async move {
        let file = history::path(dir, app);
        file.stamp().await.ok().flatten()
    }))
    .await
}

/// The newest history records of every app, from every host that has them.
async fn read_history(files: &HistoryFiles) -> Vec<(String, history::Record)> {
    const PER_APP: usize = 50;
    let read = futures_util::future::join_all(files.iter().map(|(host, app, dir)| async move {
        let (records, _) = history::read(dir, app).await.unwrap_or_default();
        let skip = records.len().saturating_sub(PER_APP);
        records
            .into_iter()
            .skip(skip)
            .map(|r| (host.clone(), r))
            .collect::<Vec<_>>()
    }))
    .await;
    read.into_iter().flatten().collect()
}
