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
use crate::hosts::{FilesError, HostPath};

pub const HOLDER: &str = "holder.json";
/// How long reaching a lock's host may take (an SSH host's connection is
/// usually open already).
pub const REACH_TIMEOUT: Duration = Duration::from_secs(10);
const HEARTBEAT: &str = "heartbeat";

/// Who holds a lock, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub user: String,
    pub machine: String,
    pub pid: u32,
    /// `deploy`, `restart`, ..., or `manual`.
    pub action: String,
    pub version: Option<String>,
    pub message: Option<String>,
    pub acquired_at: DateTime<Utc>,
    /// Secret to the holder; hooks get it as BERTH_LOCK_TOKEN.
    pub token: String,
    /// A manual lock (`berth lock acquire`) has no heartbeat and never goes
    /// stale; it is released by hand.
    pub manual: bool,
}

/// A nested berth call running under the holder's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nested {
    pub action: String,
    pub pid: u32,
    pub since: DateTime<Utc>,
}

/// What is known about a lock right now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Status {
    pub holder: Holder,
    pub heartbeat_at: DateTime<Utc>,
    pub stale: bool,
    pub nested: Vec<Nested>,
}

impl Status {
    /// One line: who, from where, doing what, since when, and staleness.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let h = &self.holder;
        let what = match (&h.action[..], &h.version, &h.message) {
            ("manual", _, Some(m)) => format!("manual lock: \"{m}\""),
            ("manual", _, None) => "manual lock".to_string(),
            (a, Some(v), _) => format!("{a} {v}"),
            (a, None, _) => a.to_string(),
        };
        let mut line = format!(
            "locked by {}@{} (pid {}) for {what} since {} ({} ago)",
            h.user,
            h.machine,
            h.pid,
            h.acquired_at.format("%Y-%m-%d %H:%M:%S UTC"),
            ago(now - h.acquired_at)
        );
        if !self.nested.is_empty() {
            let n: Vec<String> = self
                .nested
                .iter()
                .map(|n| format!("{} (pid {})", n.action, n.pid))
                .collect();
            line.push_str(&format!("; nested: {}", n.join(", ")));
        }
        if self.stale {
            line.push_str(&format!(
                "; STALE: no heartbeat for {} (its process is probably gone; `berth lock release <app> --force` if so)",
                ago(now - self.heartbeat_at)
            ));
        }
        line
    }
}

fn ago(d: chrono::Duration) -> String {
    crate::cli_age(d.num_seconds())
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
    #[error("{0}")]
    Io(String),
}

impl From<FilesError> for LockError {
    fn from(e: FilesError) -> Self {
        LockError::Io(e.to_string())
    }
}

/// A random token (not cryptographic strength is needed: it only tells a
/// holder's own nested calls from others; it is never an authentication).
pub fn new_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for i in 0..2u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, LockError> {
    serde_json::to_vec(value).map_err(|e| LockError::Io(e.to_string()))
}

/// Takes the lock, or says who holds it.
pub async fn acquire(dir: &HostPath, holder: &Holder) -> Result<(), LockError> {
    let staging = format!(".acquire-{}-{}", std::process::id(), &holder.token[..8]);
    let files = [
        (HOLDER, json(holder)?),
        (HEARTBEAT, json(&holder.acquired_at)?),
    ];
    let files: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, &b[..])).collect();
    // A lock released between a lost race and the read of its holder is
    // free again: try once more, a bounded number of times.
    for _ in 0..16 {
        if dir.publish_dir(&staging, &files).await? {
            return Ok(());
        }
        if let Some(status) = read(dir, Duration::MAX).await? {
            return Err(LockError::Held(Box::new(status)));
        }
    }
    Err(LockError::Io(format!(
        "{dir}: the lock kept changing hands while berth tried to take it"
    )))
}

/// Reads a lock. `None` when it is free.
pub async fn read(dir: &HostPath, ttl: Duration) -> Result<Option<Status>, LockError> {
    let Some(files) = dir.read_dir_files().await? else {
        return Ok(None);
    };
    let file = |name: &str| files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
    // A directory without its record is a lock being released (or an
    // empty directory left behind): free, as rename(2) onto it succeeds.
    let Some(holder) = file(HOLDER) else {
        return Ok(None);
    };
    let holder: Holder = serde_json::from_slice(holder).map_err(|e| {
        LockError::Io(format!(
            "{}: unreadable holder record: {e}",
            dir.join(HOLDER)
        ))
    })?;
    let heartbeat_at: DateTime<Utc> = file(HEARTBEAT)
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(holder.acquired_at);
    let mut nested: Vec<Nested> = files
        .iter()
        .filter(|(n, _)| n.starts_with("nested-") && n.ends_with(".json"))
        .filter_map(|(_, b)| serde_json::from_slice(b).ok())
        .collect();
    nested.sort_by_key(|n: &Nested| n.since);
    let age = (Utc::now() - heartbeat_at).to_std().unwrap_or_default();
    let stale = !holder.manual && age > ttl;
    Ok(Some(Status {
        holder,
        heartbeat_at,
        stale,
        nested,
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

/// Releases a lock held under `token`.
pub async fn release(dir: &HostPath, token: &str) -> Result<(), LockError> {
    match read(dir, Duration::MAX).await? {
        Some(s) if s.holder.token == token => remove(dir).await,
        Some(s) => Err(LockError::Held(Box::new(s))),
        None => Ok(()),
    }
}

/// Releases whatever holds the lock; returns what it held.
pub async fn force_release(dir: &HostPath) -> Result<Option<Status>, LockError> {
    let status = read(dir, Duration::MAX).await.unwrap_or(None);
    remove(dir).await?;
    Ok(status)
}

async fn remove(dir: &HostPath) -> Result<(), LockError> {
    let gone = format!(".released-{}-{}", std::process::id(), new_token());
    dir.remove_dir(&gone).await?;
    Ok(())
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
        version,
        message,
        acquired_at: Utc::now(),
        token: new_token(),
        manual,
    }
}

/// Where an app's lock lives: its primary host, and the directory there.
pub async fn locate(
    config: &crate::config::Config,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
) -> Result<(crate::config::HostName, HostPath), String> {
    if !config.fleet.apps.contains_key(app) {
        return Err(format!(
            "app `{app}` is not declared in {}",
            config.path.display()
        ));
    }
    let host = config.primary_host(app, destination).clone();
    let state = crate::hosts::state_dir(&config.fleet.hosts[&host], REACH_TIMEOUT)
        .await
        .map_err(|e| format!("host {host}: {e}"))?;
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
    #[error("{0}")]
    Target(String),
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
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
    message: &str,
    performer: &Performer,
) -> Result<(), ManualError> {
    let (_, dir) = locate(config, app, destination)
        .await
        .map_err(ManualError::Target)?;
    let holder = holder_for(performer, "manual", None, Some(message.to_string()), true);
    acquire(&dir, &holder).await?;
    Ok(())
}

/// `berth lock release` / the console's `U`. Without `force`, only the
/// performer's own manual or stale lock goes; a forced release is recorded
/// in the history of the lock's host.
pub async fn release_manual(
    config: &crate::config::Config,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
    force: bool,
    performer: &Performer,
) -> Result<Released, ManualError> {
    let (host, dir) = locate(config, app, destination)
        .await
        .map_err(ManualError::Target)?;
    let Some(status) = read(&dir, config.fleet.lock.ttl.get()).await? else {
        return Ok(Released::NotLocked);
    };
    let mine = status.holder.user == performer.user && status.holder.machine == performer.machine;
    let line = status.describe(Utc::now());
    if !force {
        if mine && (status.holder.manual || status.stale) {
            release(&dir, &status.holder.token).await?;
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
    let removed = force_release(&dir).await?;
    let note = removed
        .map(|s| format!("forced release of: {}", s.describe(Utc::now())))
        .unwrap_or_else(|| "forced release (no holder record)".into());
    let now = Utc::now();
    let record = super::history::Record {
        started_at: now,
        finished_at: now,
        performer: performer.clone(),
        action: "lock release --force".into(),
        app: app.to_string(),
        destination: destination.map(|d| d.to_string()).unwrap_or_default(),
        version: None,
        result: "ok".into(),
        failed_stage: None,
        error: None,
        note: Some(note.clone()),
    };
    let state = crate::hosts::state_dir(&config.fleet.hosts[&host], REACH_TIMEOUT)
        .await
        .map_err(ManualError::Target)?;
    super::history::append(&state, &record)
        .await
        .map_err(ManualError::History)?;
    Ok(Released::Forced(note))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Performer {
        Performer {
            user: "ana".into(),
            machine: "laptop".into(),
        }
    }

    #[tokio::test]
    async fn one_holder_and_losers_see_it() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(&HostPath::local(t.path()), "demo", "");
        let a = holder_for(&me(), "deploy", Some("v2".into()), None, false);
        acquire(&dir, &a).await.unwrap();
        let b = holder_for(
            &Performer {
                user: "bo".into(),
                machine: "ci".into(),
            },
            "restart",
            None,
            None,
            false,
        );
        let LockError::Held(s) = acquire(&dir, &b).await.unwrap_err() else {
            panic!()
        };
        assert_eq!(s.holder, a);
        let line = s.describe(Utc::now());
        assert!(line.starts_with("locked by ana@laptop (pid "), "{line}");
        assert!(line.contains("for deploy v2 since "), "{line}");
        assert!(!line.contains("STALE"));
        // Only the holder's token releases it.
        assert!(release(&dir, &b.token).await.is_err());
        release(&dir, &a.token).await.unwrap();
        assert!(read(&dir, Duration::MAX).await.unwrap().is_none());
        acquire(&dir, &b).await.unwrap();
    }

    #[tokio::test]
    async fn stale_after_ttl_unless_manual() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(&HostPath::local(t.path()), "demo", "staging");
        assert!(dir.path.ends_with("locks/demo@staging"));
        let mut h = holder_for(&me(), "deploy", None, None, false);
        h.acquired_at = Utc::now() - chrono::Duration::seconds(120);
        acquire(&dir, &h).await.unwrap();
        let s = read(&dir, Duration::from_secs(60)).await.unwrap().unwrap();
        assert!(s.stale);
        assert!(
            s.describe(Utc::now())
                .contains("STALE: no heartbeat for 2m")
        );
        heartbeat(&dir, &h.token).await.unwrap();
        assert!(
            !read(&dir, Duration::from_secs(60))
                .await
                .unwrap()
                .unwrap()
                .stale
        );
        let forced = force_release(&dir).await.unwrap().unwrap();
        assert_eq!(forced.holder, h);

        let mut m = holder_for(&me(), "manual", None, Some("db migration".into()), true);
        m.acquired_at = Utc::now() - chrono::Duration::seconds(3600);
        acquire(&dir, &m).await.unwrap();
        let s = read(&dir, Duration::from_secs(60)).await.unwrap().unwrap();
        assert!(!s.stale, "manual locks never go stale");
        assert!(
            s.describe(Utc::now())
                .contains("for manual lock: \"db migration\"")
        );
    }

    #[tokio::test]
    async fn nested_calls_show_and_leave() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(&HostPath::local(t.path()), "demo", "");
        let h = holder_for(&me(), "deploy", None, None, false);
        acquire(&dir, &h).await.unwrap();
        let n = Nested {
            action: "restart".into(),
            pid: 4242,
            since: Utc::now(),
        };
        assert!(enter_nested(&dir, "wrong", &n).await.is_err());
        enter_nested(&dir, &h.token, &n).await.unwrap();
        let s = read(&dir, Duration::MAX).await.unwrap().unwrap();
        assert_eq!(s.nested, vec![n]);
        assert!(
            s.describe(Utc::now())
                .contains("nested: restart (pid 4242)")
        );
        leave_nested(&dir, 4242).await.unwrap();
        assert!(
            read(&dir, Duration::MAX)
                .await
                .unwrap()
                .unwrap()
                .nested
                .is_empty()
        );
    }

    #[test]
    fn concurrent_acquires_have_one_winner() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(&HostPath::local(t.path()), "demo", "");
        let wins: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..32)
                .map(|i| {
                    let dir = dir.clone();
                    s.spawn(move || {
                        let mut h = holder_for(&me(), "deploy", None, None, false);
                        h.token = format!("{i:016}{}", h.token);
                        tokio::runtime::Builder::new_current_thread()
                            .build()
                            .unwrap()
                            .block_on(acquire(&dir, &h))
                            .is_ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    }
}
