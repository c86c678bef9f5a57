//! Deploy locks: one per app (and destination), on the app's primary host,
//! in berth's state directory there.
//!
//! Acquiring is atomic and the holder record exists from the first instant:
//! the record is written into a fresh private directory, which is then
//! renamed to the lock's path. rename(2) of a directory fails when the
//! target exists and is not empty (a held lock always holds its record), so
//! exactly one contender wins, and every loser can read who did. Release
//! renames the lock away first, then deletes it.
//!
//! Inside the lock directory: `holder.json` (written once), `heartbeat`
//! (rewritten by the holder every few seconds), and one `nested-<pid>.json`
//! per nested berth call that re-entered the lock with its token. No file is
//! ever read-modified-written, so writers cannot clobber each other.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history::Performer;
use crate::hosts::{FilesError, HostPath, Kind, Removed};
use crate::sanitize::{clip, de_line as line, de_opt_line as opt_line, one_line};

pub const HOLDER: &str = "holder.json";
/// How long reaching a lock's host may take (an SSH host's connection is
/// usually open already).
pub const REACH_TIMEOUT: Duration = Duration::from_secs(10);
const HEARTBEAT: &str = "heartbeat";

/// Who holds a lock, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    #[serde(deserialize_with = "line")]
    pub user: String,
    #[serde(deserialize_with = "line")]
    pub machine: String,
    pub pid: u32,
    /// `deploy`, `restart`, ..., or `manual`.
    #[serde(deserialize_with = "line")]
    pub action: String,
    #[serde(default, deserialize_with = "opt_line")]
    pub version: Option<String>,
    #[serde(default, deserialize_with = "opt_message")]
    pub message: Option<String>,
    pub acquired_at: DateTime<Utc>,
    /// Secret to the holder; hooks get it as BERTH_LOCK_TOKEN. Never
    /// shown: a [`Status`] serialises its holder without it.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "line"
    )]
    pub token: String,
    /// A manual lock (`berth lock acquire`) has no heartbeat and never goes
    /// stale; it is released by hand.
    pub manual: bool,
    /// The run holding it (empty for a manual lock).
    #[serde(default, deserialize_with = "line")]
    pub run: String,
}

/// A nested berth call running under the holder's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nested {
    #[serde(deserialize_with = "line")]
    pub action: String,
    pub pid: u32,
    pub since: DateTime<Utc>,
    /// The nested run.
    #[serde(default, deserialize_with = "line")]
    pub run: String,
}

/// What is known about a lock right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    #[serde(serialize_with = "holder_shown")]
    pub holder: Holder,
    pub heartbeat_at: DateTime<Utc>,
    pub stale: bool,
    /// Seconds the heartbeat lies in the future (the holder's clock is
    /// ahead of this machine's); reported, never trusted to keep a lock.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skew_secs: Option<i64>,
    pub nested: Vec<Nested>,
    /// The command that clears it, named when it is stale.
    #[serde(skip)]
    pub clear_with: String,
}

/// A holder as shown (`lock status --json`): its token left out.
fn holder_shown<S: serde::Serializer>(holder: &Holder, s: S) -> Result<S::Ok, S::Error> {
    Holder {
        token: String::new(),
        ..holder.clone()
    }
    .serialize(s)
}

/// At most this many characters of a message are kept in a holder record.
pub const MESSAGE_KEPT: usize = 1000;

/// At most this many characters of a holder's message are shown.
pub const MESSAGE_SHOWN: usize = 200;

/// A holder's message as read: cleaned and kept to [`MESSAGE_KEPT`]
/// characters, however long the file someone wrote holds it.
fn opt_message<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(opt_line(d)?.map(|m| clip(&m, MESSAGE_KEPT)))
}

/// `berth lock release APP [-d DEST] --force`, for the lock in `dir`.
pub fn clear_command(dir: &HostPath) -> String {
    let name = dir
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.split_once('@') {
        Some((app, dest)) => format!("berth lock release {app} -d {dest} --force"),
        None => format!("berth lock release {name} --force"),
    }
}

/// A lock directory that is neither free nor held by a readable holder:
/// nobody can take it until it is cleared, so it is shown as what it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Broken {
    /// Where it is.
    pub path: String,
    /// What is wrong, in words.
    pub problem: String,
    /// The command that clears it.
    pub fix: String,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BROKEN lock at {}: {}; no action can take it until `{}` clears it",
            self.path, self.problem, self.fix
        )
    }
}

/// The lock directory of an app (and destination) under a state directory.
pub fn lock_dir(state_dir: &HostPath, app: &str, destination: &str) -> HostPath {
    let name = if destination.is_empty() {
        app.to_string()
    } else {
        format!("{app}@{destination}")
    };
    state_dir.join("locks").join(name)
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it.
    #[error("{}", .0.describe(Utc::now()))]
    Held(Box<Status>),
    /// It is there but unreadable or incomplete.
    #[error("{0}")]
    Broken(Box<Broken>),
    #[error("{0}")]
    Io(String),
}

impl From<FilesError> for LockError {
    fn from(e: FilesError) -> Self {
        LockError::Io(e.to_string())
    }
}

/// A random token (no cryptographic strength is needed: it only tells a
/// holder's own nested calls from others; it is never an authentication).
pub fn new_token() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn json_text<T: Serialize>(value: &T) -> Result<String, LockError> {
    serde_json::to_string(value).map_err(|e| LockError::Io(e.to_string()))
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, LockError> {
    serde_json::to_vec(value).map_err(|e| LockError::Io(e.to_string()))
}

/// Takes the lock, or says who holds it (stale when its heartbeat is older
/// than `ttl`).
pub async fn acquire(dir: &HostPath, holder: &Holder, ttl: Duration) -> Result<(), LockError> {
    let staging = format!(".acquire-{}-{}", std::process::id(), new_token());
    let files = [
        (HOLDER, json(holder)?),
        (HEARTBEAT, json(&holder.acquired_at)?),
    ];
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
    // A lock released between a lost race and the read of its holder is
    // free again: try once more, a bounded number of times.
    for _ in 0..16 {
        match dir.publish_dir(&staging, &files).await {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            // Not a directory (a file where the lock goes): `read` says so.
            Err(e) => {
                read(dir, ttl).await?;
                return Err(e.into());
            }
        }
        if let Some(status) = read(dir, ttl).await? {
            return Err(LockError::Held(Box::new(status)));
        }
    }
    Err(LockError::Io(format!(
        "{dir}: the lock kept changing hands while berth tried to take it"
    )))
}

/// Reads a lock. `None` when it is free. A lock that is there but cannot
/// be understood is [`LockError::Broken`], saying what is wrong and how to
/// clear it; a heartbeat in the future beyond `ttl` counts as stale, and
/// so does a run's lock whose process is gone from this machine.
pub async fn read(dir: &HostPath, ttl: Duration) -> Result<Option<Status>, LockError> {
    let broken = |problem: String| {
        LockError::Broken(Box::new(Broken {
            path: dir.to_string(),
            problem,
            fix: clear_command(dir),
        }))
    };
    let files = match dir.read_dir_files().await {
        Ok(Some(files)) => files,
        Ok(None) => return Ok(None),
        Err(e) => {
            return match dir.kind().await {
                Ok(Some(Kind::Other)) => Err(broken(
                    "it is a file, not a lock directory (left by hand or by another tool?)".into(),
                )),
                _ => Err(e.into()),
            };
        }
    };
    let mut status = parse(&files, ttl, Utc::now(), &clear_command(dir)).map_err(broken)?;
    // A run whose process is gone from this machine is over now, not once
    // its heartbeat ages past the TTL.
    if let Some(s) = status.as_mut() {
        s.stale |= s.holder_dead_here();
    }
    Ok(status)
}

/// What the files of a lock directory say, at `now`: `Ok(None)` when it
/// is free, `Err(problem)` when it is broken. Pure, for any bytes.
pub fn parse(
    files: &[(String, Vec<u8>)],
    ttl: Duration,
    now: DateTime<Utc>,
    clear_with: &str,
) -> Result<Option<Status>, String> {
    let file = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
    let Some(holder) = file(HOLDER) else {
        // rename(2) onto an empty directory succeeds: that one is free.
        if files.is_empty() {
            return Ok(None);
        }
        let mut names: Vec<String> = files.iter().map(|(n, _)| one_line(n)).collect();
        names.sort();
        return Err(format!(
            "it has no holder record ({HOLDER}), only {}",
            names.join(", ")
        ));
    };
    let holder: Holder = match serde_json::from_slice(holder) {
        Ok(h) => h,
        Err(_) if holder.iter().all(u8::is_ascii_whitespace) => {
            return Err(format!("its holder record ({HOLDER}) is empty"));
        }
        Err(e) => {
            return Err(format!(
                "its holder record ({HOLDER}) is unreadable: {}",
                one_line(&e.to_string())
            ));
        }
    };
    let heartbeat_at: DateTime<Utc> = file(HEARTBEAT)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(holder.acquired_at);
    let mut nested: Vec<Nested> = files
        .iter()
        .filter(|(n, _)| n.starts_with("nested-") && n.ends_with(".json"))
        .filter_map(|(_, b)| serde_json::from_slice(b).ok())
        .collect();
    nested.sort_by_key(|n: &Nested| n.since);
    let ttl_secs = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
    let ahead = heartbeat_at.signed_duration_since(now).num_seconds();
    let skew_secs = (ahead > ttl_secs && !holder.manual).then_some(ahead);
    let age = now
        .signed_duration_since(heartbeat_at)
        .to_std()
        .unwrap_or_default();
    let stale = !holder.manual && (age > ttl || skew_secs.is_some());
    Ok(Some(Status {
        holder,
        heartbeat_at,
        stale,
        skew_secs,
        nested,
        clear_with: clear_with.to_string(),
    }))
}

/// Refreshes the heartbeat; fails if the lock is no longer ours.
pub async fn heartbeat(dir: &HostPath, token: &str) -> Result<(), LockError> {
    match read(dir, Duration::MAX).await? {
        Some(s) if s.holder.token == token => {
            Ok(dir.join(HEARTBEAT).write(&json(&Utc::now())?).await?)
        }
        Some(s) => Err(LockError::Io(format!(
            "the lock was taken over: {}",
            s.describe(Utc::now())
        ))),
        None => Err(LockError::Io(
            "the lock was released by someone else (forced?)".into(),
        )),
    }
}

fn nested_file(dir: &HostPath, pid: u32) -> HostPath {
    dir.join(format!("nested-{pid}.json"))
}

/// Joins the lock held under `token` as a nested call.
pub async fn enter_nested(dir: &HostPath, token: &str, nested: &Nested) -> Result<(), LockError> {
    match read(dir, Duration::MAX).await? {
        Some(s) if s.holder.token == token => {
            Ok(nested_file(dir, nested.pid).write(&json(nested)?).await?)
        }
        Some(s) => Err(LockError::Held(Box::new(s))),
        None => Err(LockError::Io(
            "BERTH_LOCK_TOKEN is set but the lock it names is not held".into(),
        )),
    }
}

pub async fn leave_nested(dir: &HostPath, pid: u32) -> Result<(), LockError> {
    Ok(nested_file(dir, pid).remove_file().await?)
}

/// Releases a lock held under `token`: one round trip when it is ours
/// (removed only if its holder record names the token); otherwise a read
/// says whose it is.
pub async fn release(dir: &HostPath, token: &str) -> Result<(), LockError> {
    let gone = format!(".released-{}-{}", std::process::id(), new_token());
    // The record is serde_json's: `"token":"<hex>"` appears unescaped only
    // as the field itself (a quote inside a string value is escaped).
    let ours = format!("\"token\":{}", json_text(&token)?);
    match dir.remove_dir_if(&gone, HOLDER, &ours).await? {
        Removed::Gone | Removed::Absent => return Ok(()),
        Removed::Kept => {}
    }
    match read(dir, Duration::MAX).await? {
        Some(s) if s.holder.token == token => remove(dir).await.map(drop),
        Some(s) => Err(LockError::Held(Box::new(s))),
        None => Ok(()),
    }
}

/// What a forced release found.
pub enum Found {
    Free,
    Held(Box<Status>),
    Broken(Box<Broken>),
}

impl Found {
    /// The holder it removed, if it had a readable one.
    pub fn held(self) -> Option<Status> {
        match self {
            Found::Held(s) => Some(*s),
            _ => None,
        }
    }
}

/// Releases whatever holds the lock, broken or not; returns what it found.
pub async fn force_release(dir: &HostPath) -> Result<Found, LockError> {
    let found = match read(dir, Duration::MAX).await {
        Ok(None) => Found::Free,
        Ok(Some(s)) => Found::Held(Box::new(s)),
        Err(LockError::Broken(b)) => Found::Broken(b),
        Err(e) => return Err(e),
    };
    let removed = remove(dir).await?;
    Ok(if removed { found } else { Found::Free })
}

/// Removes the lock, whatever it is; false when nothing was there.
async fn remove(dir: &HostPath) -> Result<bool, LockError> {
    let gone = format!(".released-{}-{}", std::process::id(), new_token());
    Ok(dir.remove_dir(&gone).await?)
}

/// A holder record for this process.
pub fn holder_for(
    performer: &Performer,
    action: &str,
    version: Option<String>,
    message: Option<String>,
    manual: bool,
) -> Holder {
    Holder {
        user: performer.user.clone(),
        machine: performer.machine.clone(),
        pid: std::process::id(),
        action: action.to_string(),
        version: version.map(|v| one_line(&v)),
        // A message typed by a person still reaches every other operator.
        message: message.map(|m| clip(&one_line(&m), MESSAGE_KEPT)),
        acquired_at: Utc::now(),
        token: new_token(),
        manual,
        run: String::new(),
    }
}

/// A run's id: 16 hex digits, unique enough to tell runs apart (it is no
/// secret: it is on every container the run creates).
pub fn new_run_id() -> String {
    new_token().chars().take(16).collect()
}

/// Why an app's lock cannot be found.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error(transparent)]
    NotDeclared(#[from] crate::config::NotDeclared),
    #[error("app `{0}` has no primary role with a host")]
    NoPrimary(String),
    /// The lock's host could not be reached.
    #[error("host {host}: {source}")]
    Unreachable {
        host: crate::config::HostName,
        source: crate::hosts::HostError,
    },
}

/// Where an app's lock lives: its primary host, and the directory there.
pub async fn locate(
    config: &crate::config::Config,
    hosts: &crate::hosts::Pool,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
) -> Result<(crate::config::HostName, HostPath), LocateError> {
    config.app(app)?;
    let host = config
        .primary_host(app, destination)
        .ok_or_else(|| LocateError::NoPrimary(app.to_string()))?
        .clone();
    let state = hosts
        .state_dir(config.host(&host)?, REACH_TIMEOUT)
        .await
        .map_err(|source| LocateError::Unreachable {
            host: host.clone(),
            source,
        })?;
    let dir = lock_dir(
        &state,
        app.as_str(),
        destination.map(|d| d.as_str()).unwrap_or(""),
    );
    Ok((host, dir))
}

/// How a hand release went.
#[derive(Debug)]
pub enum Released {
    NotLocked,
    /// The holder's line as it was.
    Released(String),
    /// What a forced release removed (also written to the history).
    Forced(String),
}

/// Why a manual lock operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error(transparent)]
    Target(#[from] LocateError),
    #[error(
        "{app} is {line}; {why}: force the release to take it anyway (recorded in the history)"
    )]
    Refused {
        app: String,
        line: String,
        why: &'static str,
    },
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("writing the history: {0}")]
    History(FilesError),
}

/// `berth lock acquire` / the console's `l`: a manual lock, which deploys
/// refuse to start behind until it is released by hand.
pub async fn acquire_manual(
    config: &crate::config::Config,
    hosts: &crate::hosts::Pool,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
    message: &str,
    performer: &Performer,
) -> Result<Holder, ManualError> {
    let (host, dir) = locate(config, hosts, app, destination).await?;
    let holder = holder_for(performer, "manual", None, Some(message.to_string()), true);
    acquire(&dir, &holder, config.fleet.lock.ttl.get()).await?;
    let hand = Hand {
        config,
        hosts,
        host: &host,
        app,
        destination,
        performer,
    };
    // The message as the lock keeps it (bounded), not as it was typed.
    let kept = holder.message.clone().unwrap_or_default();
    hand.record("lock acquire", format!("\"{kept}\"")).await?;
    Ok(holder)
}

/// A lock taken or given back by hand, for its record in the history of
/// the lock's host (beside the runs it held back).
struct Hand<'a> {
    config: &'a crate::config::Config,
    hosts: &'a crate::hosts::Pool,
    host: &'a crate::config::HostName,
    app: &'a crate::config::AppName,
    destination: Option<&'a crate::config::DestinationName>,
    performer: &'a Performer,
}

impl Hand<'_> {
    async fn record(&self, action: &str, note: String) -> Result<(), ManualError> {
        let now = Utc::now();
        let record = super::history::Record {
            started_at: now,
            finished_at: now,
            performer: self.performer.clone(),
            action: action.into(),
            app: self.app.to_string(),
            destination: self.destination.map(|d| d.to_string()).unwrap_or_default(),
            version: None,
            digest: None,
            result: "ok".into(),
            failed_stage: None,
            error: None,
            note: Some(note),
            run: String::new(),
            tool: String::new(),
        };
        let state = self
            .hosts
            .state_dir(
                self.config.host(self.host).map_err(LocateError::from)?,
                REACH_TIMEOUT,
            )
            .await
            .map_err(|source| LocateError::Unreachable {
                host: self.host.clone(),
                source,
            })?;
        super::history::append(&state, &record)
            .await
            .map_err(ManualError::History)
    }
}

/// `berth lock release` / the console's `U`. Without `force`, only the
/// performer's own manual or stale lock goes; a forced release is recorded
/// in the history of the lock's host.
pub async fn release_manual(
    config: &crate::config::Config,
    hosts: &crate::hosts::Pool,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
    force: bool,
    performer: &Performer,
) -> Result<Released, ManualError> {
    let (host, dir) = locate(config, hosts, app, destination).await?;
    let hand = Hand {
        config,
        hosts,
        host: &host,
        app,
        destination,
        performer,
    };
    if !force {
        // A broken lock is an error here that names the forced release.
        let Some(status) = read(&dir, config.fleet.lock.ttl.get()).await? else {
            return Ok(Released::NotLocked);
        };
        let mine =
            status.holder.user == performer.user && status.holder.machine == performer.machine;
        let line = status.describe(Utc::now());
        if mine && (status.holder.manual || status.stale) {
            release(&dir, &status.holder.token).await?;
            hand.record("lock release", format!("released: {line}"))
                .await?;
            return Ok(Released::Released(line));
        }
        return Err(ManualError::Refused {
            app: app.to_string(),
            line,
            why: if mine {
                "its action is still running (heartbeat is fresh)"
            } else {
                "it is not yours"
            },
        });
    }
    let note = match force_release(&dir).await? {
        Found::Free => return Ok(Released::NotLocked),
        Found::Held(s) => format!("forced release of: {}", s.describe(Utc::now())),
        Found::Broken(b) => format!("forced release of a broken lock ({})", b.problem),
    };
    hand.record("lock release --force", note.clone()).await?;
    Ok(Released::Forced(note))
}

mod status;

#[cfg(test)]
mod tests;
