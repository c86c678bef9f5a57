//! The engine's shared state that no Docker event stream carries: every
//! app's deploy lock and run history, read at start, on a poll, and at once
//! when something says it changed. Front ends subscribe; none reads lock or
//! history files itself.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{Notify, mpsc};

use super::foreign::{self, ForeignKey, ForeignRead};
use super::history::{self, Record};
use super::lock::{self, Broken, Status};
use crate::config::{AppName, Config, DestinationName, HostName};
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
/// The poll's share per read: a big fleet is read less often, never more
/// than about a thousand reads a second.
const PER_READ: Duration = Duration::from_millis(1);
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
/// none), Kamal's and Dokku's locks (keyed by tool, app and destination),
/// or the newest history records, berth's and theirs (with the host they
/// came from).
#[derive(Clone, Debug)]
pub enum Update {
    Locks(BTreeMap<(String, String), LockRead>),
    Foreign(BTreeMap<ForeignKey, ForeignRead>),
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
    // Kamal's and Dokku's state (see `foreign`): the locks, each Dokku
    // host's apps (dropped when it says it has no Dokku: not asked again),
    // and their records, per place read.
    let mut theirs = Theirs::default();
    let mut dokku_hosts: Vec<HostName> = config
        .fleet
        .hosts
        .iter()
        .filter(|(_, h)| h.dokku != Some(false))
        .map(|(n, _)| n.clone())
        .collect();
    let audits: Vec<(usize, HostName)> = config
        .kamal
        .iter()
        .enumerate()
        .flat_map(|(i, app)| app.names.iter().map(move |(_, n)| (i, n.clone())))
        .collect();
    // Every read is on its own clock: due again `poll` after it came back
    // (at once on a reload). A read still out is never asked twice, and a
    // dead or hung host's reads, out until their deadline, hold back no
    // other host's: there are no rounds to wait for. What is due is kept
    // in time order, so a turn touches only the reads it starts (a fleet
    // of 10,000 apps has 20,000 of them).
    let locks_of: HashMap<(String, String), (AppName, Option<DestinationName>)> = targets
        .into_iter()
        .map(|(key, app, dest)| (key, (app, dest)))
        .collect();
    let every = |dokku_hosts: &[HostName]| -> Vec<Key> {
        (0..config.kamal.len())
            .map(Key::Kamal)
            .chain(audits.iter().map(|(i, h)| Key::Audit(*i, h.clone())))
            .chain(dokku_hosts.iter().cloned().map(Key::Dokku))
            .chain(locks_of.keys().cloned().map(Key::Lock))
            .chain(
                places
                    .iter()
                    .map(|(h, a)| Key::History(h.clone(), a.clone())),
            )
            .collect()
    };
    let start = |key: &Key, files: &Files| -> BoxFuture<'static, Read> {
        let (config, hosts) = (config.clone(), hosts.clone());
        match key.clone() {
            Key::Kamal(i) => Box::pin(async move {
                let (read, key) = match config.kamal.get(i) {
                    Some(app) => (
                        foreign::kamal_lock(&config, &hosts, app).await,
                        (
                            "kamal".to_string(),
                            app.service.clone(),
                            app.destination.clone().unwrap_or_default(),
                        ),
                    ),
                    None => (
                        ForeignRead::Error("no such Kamal app".into()),
                        ("kamal".to_string(), String::new(), String::new()),
                    ),
                };
                Read::Foreign(i, key, read)
            }),
            Key::Audit(i, host) => Box::pin(async move {
                let got = match config.kamal.get(i) {
                    Some(app) => foreign::kamal_audit(&config, &hosts, app, &host).await,
                    None => Err("no such Kamal app".into()),
                };
                let place = format!("kamal {i} {host}");
                Read::Theirs(
                    Key::Audit(i, host.clone()),
                    place,
                    host.to_string(),
                    got.ok(),
                )
            }),
            Key::Dokku(host) => Box::pin(async move {
                let got = foreign::dokku(&config, &hosts, &host).await;
                Read::Dokku(host, got)
            }),
            Key::Lock(key) => {
                let target = locks_of.get(&key).cloned();
                Box::pin(async move {
                    let cell = match target {
                        Some((app, dest)) => read_lock(&config, &hosts, &app, dest.as_ref()).await,
                        None => LockRead::Error("no such app".into()),
                    };
                    Read::Lock(key, cell)
                })
            }
            Key::History(host, app) => {
                let known = files.get(&(host.clone(), app.clone())).map(|(s, _)| *s);
                Box::pin(async move {
                    let got = read_history_of(&config, &hosts, &host, &app, known).await;
                    Read::History(host, app, got)
                })
            }
        }
    };
    // A fleet too big to read every `poll` is read at a pace it can keep:
    // at most one read per millisecond on average (20,000 reads: every 20 s).
    let poll = poll.max(PER_READ * u32::try_from(every(&dokku_hosts).len()).unwrap_or(u32::MAX));
    let mut reads: FuturesUnordered<BoxFuture<'static, Read>> = FuturesUnordered::new();
    let mut out: HashSet<Key> = HashSet::new();
    let mut schedule: BTreeMap<tokio::time::Instant, Vec<Key>> = BTreeMap::new();
    let mut now_due: Vec<Key> = every(&dokku_hosts);
    let first = tokio::time::sleep(FIRST_FLUSH);
    tokio::pin!(first);
    let mut flushed = false;
    let mut history_changed = false;
    loop {
        let now = tokio::time::Instant::now();
        while let Some(entry) = schedule.first_entry() {
            if *entry.key() > now {
                break;
            }
            now_due.extend(entry.remove());
        }
        for key in now_due.drain(..) {
            if out.insert(key.clone()) {
                reads.push(start(&key, &files));
            }
        }
        let next = schedule.first_key_value().map_or(now + poll, |(t, _)| *t);
        tokio::select! {
            Some(read) = reads.next(), if !reads.is_empty() => {
                // Every read that is in by now, then one send.
                let mut came = vec![read];
                while let Some(Some(read)) = reads.next().now_or_never() {
                    came.push(read);
                }
                let back = tokio::time::Instant::now() + poll;
                for read in came {
                    let key = match read {
                        Read::Lock(key, cell) => {
                            locks.insert(key.clone(), cell);
                            Key::Lock(key)
                        }
                        Read::History(host, app, got) => {
                            let key = Key::History(host.clone(), app.clone());
                            if let Some((stamp, records)) = got {
                                files.insert((host, app), (stamp, records));
                                history_changed = true;
                            }
                            key
                        }
                        Read::Foreign(i, key, read) => {
                            theirs.locks.insert(key, read);
                            Key::Kamal(i)
                        }
                        Read::Theirs(key, place, host, got) => {
                            if let Some(records) = got {
                                history_changed |= theirs.records(place, &host, records);
                            }
                            key
                        }
                        Read::Dokku(host, got) => {
                            match got {
                                // No Dokku there: not asked again.
                                Ok(None) => {
                                    dokku_hosts.retain(|h| h != &host);
                                    out.remove(&Key::Dokku(host));
                                    continue;
                                }
                                Ok(Some(state)) => {
                                    history_changed |= theirs.dokku(&host, state);
                                }
                                Err(e) => theirs.dokku_unreachable(&host, &e),
                            }
                            Key::Dokku(host)
                        }
                    };
                    out.remove(&key);
                    schedule.entry(back).or_default().push(key);
                }
                // Before the first flush, the first reads are gathered (one
                // redraw, not one per host); after it, or once all of them
                // came, what comes is sent as it comes (when it changed).
                if !flushed && reads.is_empty() {
                    flushed = true;
                }
                if flushed
                    && !send(&tx, &locks, &mut sent_locks, &files, &mut theirs, &mut history_changed, &mut sent_history)
                {
                    return;
                }
            }
            _ = &mut first, if !flushed => {
                flushed = true;
                if !send(&tx, &locks, &mut sent_locks, &files, &mut theirs, &mut history_changed, &mut sent_history) {
                    return;
                }
            }
            _ = tokio::time::sleep_until(next) => {}
            // Something said it changed: everything not out is read again.
            _ = reload.notified() => {
                schedule.clear();
                now_due = every(&dokku_hosts);
            }
        }
    }
}

/// A read out in a round.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Lock((String, String)),
    History(String, String),
    /// A Kamal app's lock (its index in the config), its audit log on a host.
    Kamal(usize),
    Audit(usize, HostName),
    Dokku(HostName),
}

/// Kamal's and Dokku's state as last read.
#[derive(Default)]
struct Theirs {
    locks: BTreeMap<ForeignKey, ForeignRead>,
    sent: Option<BTreeMap<ForeignKey, ForeignRead>>,
    /// Each Dokku host's lock keys, replaced when it is read again.
    dokku_keys: BTreeMap<HostName, Vec<ForeignKey>>,
    /// Per place read (a Kamal audit log on a host, a Dokku host's
    /// builds): its records, with the host.
    records: BTreeMap<String, Vec<(String, Record)>>,
}

impl Theirs {
    /// A place's records; whether they changed.
    fn records(&mut self, place: String, host: &str, records: Vec<Record>) -> bool {
        let records: Vec<(String, Record)> =
            records.into_iter().map(|r| (host.to_string(), r)).collect();
        if self.records.get(&place) == Some(&records) {
            return false;
        }
        self.records.insert(place, records);
        true
    }

    /// A Dokku host's apps, locks and builds; whether its builds changed.
    fn dokku(&mut self, host: &HostName, state: foreign::DokkuState) -> bool {
        for key in self.dokku_keys.remove(host).unwrap_or_default() {
            self.locks.remove(&key);
        }
        let key = |app: &str| ("dokku".to_string(), app.to_string(), String::new());
        let mut keys = Vec::new();
        for app in &state.apps {
            keys.push(key(app));
            self.locks.entry(key(app)).or_insert(ForeignRead::Free);
        }
        for lock in state.locks {
            let k = key(&lock.app);
            keys.push(k.clone());
            self.locks.insert(k, ForeignRead::Held(Box::new(lock)));
        }
        self.dokku_keys.insert(host.clone(), keys);
        self.records(format!("dokku {host}"), host.as_str(), state.builds)
    }

    /// A Dokku host that was read before and cannot be now: its apps'
    /// locks are unknown, said so (one never read stays unasked-for).
    fn dokku_unreachable(&mut self, host: &HostName, why: &str) {
        for key in self.dokku_keys.get(host).into_iter().flatten() {
            self.locks
                .insert(key.clone(), ForeignRead::Error(why.to_string()));
        }
    }
}

/// A history file's size and time (`None`: not there).
type Stamp = Option<(u64, i64)>;
/// Per (host, app): its history file's stamp, and its newest records.
type Files = BTreeMap<(String, String), (Stamp, Vec<Record>)>;
/// Every app's lock, keyed by app and destination.
type Locks = BTreeMap<(String, String), LockRead>;

/// One read of a round: an app's lock, or a host's history of an app
/// (`None`: unchanged, or not reachable); Kamal's lock of an app, records
/// of theirs from a place (on a host), or a Dokku host's state.
enum Read {
    Lock((String, String), LockRead),
    History(String, String, Option<(Stamp, Vec<Record>)>),
    Foreign(usize, ForeignKey, ForeignRead),
    Theirs(Key, String, String, Option<Vec<Record>>),
    Dokku(HostName, Result<Option<foreign::DokkuState>, String>),
}

/// Sends the locks if they changed, and the history if some of it did
/// (or it never was); false when nobody listens any more.
fn send(
    tx: &mpsc::UnboundedSender<Update>,
    locks: &Locks,
    sent_locks: &mut Option<Locks>,
    files: &Files,
    theirs: &mut Theirs,
    history_changed: &mut bool,
    sent_history: &mut bool,
) -> bool {
    if sent_locks.as_ref() != Some(locks) {
        *sent_locks = Some(locks.clone());
        if tx.send(Update::Locks(locks.clone())).is_err() {
            return false;
        }
    }
    if theirs.sent.as_ref() != Some(&theirs.locks) {
        theirs.sent = Some(theirs.locks.clone());
        if tx.send(Update::Foreign(theirs.locks.clone())).is_err() {
            return false;
        }
    }
    if *history_changed || !*sent_history {
        *history_changed = false;
        *sent_history = true;
        let all = files
            .iter()
            .flat_map(|((host, _), (_, records))| records.iter().map(|r| (host.clone(), r.clone())))
            .chain(theirs.records.values().flatten().cloned())
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
    let apps = config.fleet.apps.iter().flat_map(|(app, app_cfg)| {
        app_cfg
            .hosts()
            .into_iter()
            .map(move |host| (host.to_string(), app.to_string()))
    });
    // And each host's record of hand operations on its containers.
    let hosts = config
        .fleet
        .hosts
        .keys()
        .map(|h| (h.to_string(), history::HOST_LOG.to_string()));
    apps.chain(hosts).collect()
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
