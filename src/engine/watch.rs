//! The engine's shared state that no Docker event stream carries: every
//! app's deploy lock and run history, read at start, on a poll, and at once
//! when something says it changed. Front ends subscribe; none reads lock or
//! history files itself.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use tokio::sync::{Notify, mpsc};

use super::history::{self, Record};
use super::lock::{self, Broken, Status};
use crate::config::{AppName, Config, DestinationName};
use crate::hosts::Pool;

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

/// How long a round waits before it sends what it has read so far: a
/// host that is slow, hung or gone is reported when its deadline passes,
/// and never holds back what the other hosts said.
pub const FIRST_FLUSH: Duration = Duration::from_millis(300);

/// Reads every app's lock and history: at start, every [`POLL`]
/// ([`SSH_POLL`] with SSH hosts), and when an action or a lock command
/// says something changed. Sends only what changed. Each host is read on
/// its own: what has come in after [`FIRST_FLUSH`] is sent then (a lock
/// not read yet keeps what it was), the rest when it comes.
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
    let mut locks: Locks = BTreeMap::new();
    let mut sent_locks: Option<Locks> = None;
    // Per (host, app): the history file's stamp, and its newest records.
    // History files are appended to, never rewritten: when one did not
    // change size or time, it is not parsed again.
    let mut files: Files = BTreeMap::new();
    let mut sent_history = false;
    let targets = lock_targets(&config);
    let places = history_places(&config);
    loop {
        // The reads of this round, and which are still out: a reload that
        // comes meanwhile reads again every lock and history that is not
        // (a slow host's stay out, and are not asked twice).
        let mut reads: FuturesUnordered<BoxFuture<'static, Read>> = FuturesUnordered::new();
        let mut out: HashSet<Key> = HashSet::new();
        let ask = |reads: &mut FuturesUnordered<BoxFuture<'static, Read>>,
                   out: &mut HashSet<Key>,
                   files: &Files| {
            for (key, app, dest) in &targets {
                if out.insert(Key::Lock(key.clone())) {
                    let (config, hosts, key) = (config.clone(), hosts.clone(), key.clone());
                    let (app, dest) = (app.clone(), dest.clone());
                    reads.push(Box::pin(async move {
                        let cell = read_lock(&config, &hosts, &app, dest.as_ref()).await;
                        Read::Lock(key, cell)
                    }));
                }
            }
            for (host, app) in &places {
                if out.insert(Key::History(host.clone(), app.clone())) {
                    let known = files.get(&(host.clone(), app.clone())).map(|(s, _)| *s);
                    let (config, hosts) = (config.clone(), hosts.clone());
                    let (host, app) = (host.clone(), app.clone());
                    reads.push(Box::pin(async move {
                        let got = read_history_of(&config, &hosts, &host, &app, known).await;
                        Read::History(host, app, got)
                    }));
                }
            }
        };
        ask(&mut reads, &mut out, &files);
        let first = tokio::time::sleep(FIRST_FLUSH);
        tokio::pin!(first);
        let mut flushed = false;
        let mut history_changed = false;
        loop {
            tokio::select! {
                next = reads.next() => {
                    match next {
                        Some(Read::Lock(key, cell)) => {
                            out.remove(&Key::Lock(key.clone()));
                            locks.insert(key, cell);
                        }
                        Some(Read::History(host, app, got)) => {
                            out.remove(&Key::History(host.clone(), app.clone()));
                            if let Some((stamp, records)) = got {
                                files.insert((host, app), (stamp, records));
                                history_changed = true;
                            }
                        }
                        None => break,
                    }
                    // After the first flush, what comes is sent as it
                    // comes (only when it changed something).
                    if flushed
                        && !send(&tx, &locks, &mut sent_locks, &files, &mut history_changed, &mut sent_history)
                    {
                        return;
                    }
                }
                _ = &mut first, if !flushed => {
                    flushed = true;
                    if !send(&tx, &locks, &mut sent_locks, &files, &mut history_changed, &mut sent_history) {
                        return;
                    }
                }
                _ = reload.notified() => ask(&mut reads, &mut out, &files),
            }
        }
        if !send(
            &tx,
            &locks,
            &mut sent_locks,
            &files,
            &mut history_changed,
            &mut sent_history,
        ) {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = reload.notified() => {}
        }
    }
}

/// A read out in a round.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Lock((String, String)),
    History(String, String),
}

/// A history file's size and time (`None`: not there).
type Stamp = Option<(u64, i64)>;
/// Per (host, app): its history file's stamp, and its newest records.
type Files = BTreeMap<(String, String), (Stamp, Vec<Record>)>;
/// Every app's lock, keyed by app and destination.
type Locks = BTreeMap<(String, String), LockRead>;

/// One read of a round: an app's lock, or a host's history of an app
/// (`None`: unchanged, or not reachable).
enum Read {
    Lock((String, String), LockRead),
    History(String, String, Option<(Stamp, Vec<Record>)>),
}

/// Sends the locks if they changed, and the history if some of it did
/// (or it never was); false when nobody listens any more.
fn send(
    tx: &mpsc::UnboundedSender<Update>,
    locks: &Locks,
    sent_locks: &mut Option<Locks>,
    files: &Files,
    history_changed: &mut bool,
    sent_history: &mut bool,
) -> bool {
    if sent_locks.as_ref() != Some(locks) {
        *sent_locks = Some(locks.clone());
        if tx.send(Update::Locks(locks.clone())).is_err() {
            return false;
        }
    }
    if *history_changed || !*sent_history {
        *history_changed = false;
        *sent_history = true;
        let all = files
            .iter()
            .flat_map(|((host, _), (_, records))| records.iter().map(|r| (host.clone(), r.clone())))
            .collect();
        if tx.send(Update::History(all)).is_err() {
            return false;
        }
    }
    true
}

/// Every app's lock: its key (app, destination) and where it is. Each is
/// read on its own: an app's lock is on its primary host, so a dead host
/// delays only its own apps' cells.
fn lock_targets(config: &Config) -> Vec<((String, String), AppName, Option<DestinationName>)> {
    config
        .fleet
        .apps
        .iter()
        .flat_map(|(app, app_cfg)| {
            std::iter::once(None)
                .chain(app_cfg.destinations.keys().map(Some))
                .map(move |dest| {
                    let key = (
                        app.to_string(),
                        dest.map(|d| d.to_string()).unwrap_or_default(),
                    );
                    (key, app.clone(), dest.cloned())
                })
        })
        .collect()
}

async fn read_lock(
    config: &Config,
    hosts: &Pool,
    app: &AppName,
    dest: Option<&DestinationName>,
) -> LockRead {
    let ttl = config.fleet.lock.ttl.get();
    match lock::locate(config, hosts, app, dest).await {
        Err(e) => LockRead::Error(e.to_string()),
        Ok((_, dir)) => match lock::read(&dir, ttl).await {
            Ok(None) => LockRead::Free,
            Ok(Some(s)) => LockRead::Held(Box::new(s)),
            Err(lock::LockError::Broken(b)) => LockRead::Broken(b),
            Err(e) => LockRead::Error(e.to_string()),
        },
    }
}

/// Every (host, app) whose history the console shows.
fn history_places(config: &Config) -> Vec<(String, String)> {
    config
        .fleet
        .apps
        .iter()
        .flat_map(|(app, app_cfg)| {
            app_cfg
                .hosts()
                .into_iter()
                .map(move |host| (host.to_string(), app.to_string()))
        })
        .collect()
}

/// The newest records of one app's history on one host, when its file
/// changed since `known` (size and time); `None` when it did not, or the
/// host cannot be reached.
async fn read_history_of(
    config: &Config,
    hosts: &Pool,
    host: &str,
    app: &str,
    known: Option<Stamp>,
) -> Option<(Stamp, Vec<Record>)> {
    const PER_APP: usize = 50;
    let name = crate::config::HostName::new(host).ok()?;
    let dir = hosts
        .state_dir(config.host(&name).ok()?, lock::REACH_TIMEOUT)
        .await
        .ok()?;
    let stamp = history::path(&dir, app).stamp().await.ok().flatten();
    if known == Some(stamp) {
        return None;
    }
    let (records, _) = history::read(&dir, app).await.unwrap_or_default();
    let skip = records.len().saturating_sub(PER_APP);
    Some((stamp, records.into_iter().skip(skip).collect()))
}
