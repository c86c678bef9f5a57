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

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history::Performer;

pub const HOLDER: &str = "holder.json";
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
pub fn lock_dir(state_dir: &Path, app: &str, destination: &str) -> PathBuf {
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

fn io(what: &str, path: &Path, e: std::io::Error) -> LockError {
    LockError::Io(format!("{what} {}: {e}", path.display()))
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

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), LockError> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let text = serde_json::to_vec(value).map_err(|e| LockError::Io(e.to_string()))?;
    std::fs::write(&tmp, text).map_err(|e| io("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io("writing", path, e))
}

/// Takes the lock, or says who holds it.
pub fn acquire(dir: &Path, holder: &Holder) -> Result<(), LockError> {
    let parent = dir.parent().expect("a lock dir has a parent");
    std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
    let staging = parent.join(format!(
        ".acquire-{}-{}",
        std::process::id(),
        &holder.token[..8]
    ));
    std::fs::create_dir(&staging).map_err(|e| io("creating", &staging, e))?;
    let write = write_json(&staging.join(HOLDER), holder)
        .and_then(|()| write_json(&staging.join(HEARTBEAT), &holder.acquired_at));
    if let Err(e) = write {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            if matches!(
                e.kind(),
                std::io::ErrorKind::DirectoryNotEmpty | std::io::ErrorKind::AlreadyExists
            ) {
                match read(dir, Duration::MAX)? {
                    Some(status) => Err(LockError::Held(Box::new(status))),
                    // Released between our rename and our read: try again.
                    None => acquire(dir, holder),
                }
            } else {
                Err(io("creating", dir, e))
            }
        }
    }
}

/// Reads a lock. `None` when it is free.
pub fn read(dir: &Path, ttl: Duration) -> Result<Option<Status>, LockError> {
    let holder_path = dir.join(HOLDER);
    let holder: Holder = match std::fs::read(&holder_path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            LockError::Io(format!(
                "{}: unreadable holder record: {e}",
                holder_path.display()
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("reading", &holder_path, e)),
    };
    let heartbeat_at: DateTime<Utc> = std::fs::read(dir.join(HEARTBEAT))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(holder.acquired_at);
    let mut nested: Vec<Nested> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("nested-"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
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
pub fn heartbeat(dir: &Path, token: &str) -> Result<(), LockError> {
    match read(dir, Duration::MAX)? {
        Some(s) if s.holder.token == token => write_json(&dir.join(HEARTBEAT), &Utc::now()),
        Some(s) => Err(LockError::Io(format!(
            "the lock was taken over: {}",
            s.describe(Utc::now())
        ))),
        None => Err(LockError::Io(
            "the lock was released by someone else (forced?)".into(),
        )),
    }
}

/// Joins the lock held under `token` as a nested call.
pub fn enter_nested(dir: &Path, token: &str, nested: &Nested) -> Result<(), LockError> {
    match read(dir, Duration::MAX)? {
        Some(s) if s.holder.token == token => {
            write_json(&dir.join(format!("nested-{}.json", nested.pid)), nested)
        }
        Some(s) => Err(LockError::Held(Box::new(s))),
        None => Err(LockError::Io(
            "BERTH_LOCK_TOKEN is set but the lock it names is not held".into(),
        )),
    }
}

pub fn leave_nested(dir: &Path, pid: u32) {
    let _ = std::fs::remove_file(dir.join(format!("nested-{pid}.json")));
}

/// Releases a lock held under `token`.
pub fn release(dir: &Path, token: &str) -> Result<(), LockError> {
    match read(dir, Duration::MAX)? {
        Some(s) if s.holder.token == token => remove(dir),
        Some(s) => Err(LockError::Held(Box::new(s))),
        None => Ok(()),
    }
}

/// Releases whatever holds the lock; returns what it held.
pub fn force_release(dir: &Path) -> Result<Option<Status>, LockError> {
    let status = read(dir, Duration::MAX).unwrap_or(None);
    if dir.exists() {
        remove(dir)?;
    }
    Ok(status)
}

fn remove(dir: &Path) -> Result<(), LockError> {
    let gone = dir.with_file_name(format!(".released-{}-{}", std::process::id(), new_token()));
    std::fs::rename(dir, &gone).map_err(|e| io("releasing", dir, e))?;
    std::fs::remove_dir_all(&gone).map_err(|e| io("removing", &gone, e))
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
pub fn locate(
    config: &crate::config::Config,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
) -> Result<(crate::config::HostName, PathBuf), String> {
    if !config.fleet.apps.contains_key(app) {
        return Err(format!(
            "app `{app}` is not declared in {}",
            config.path.display()
        ));
    }
    let host = config.primary_host(app, destination).clone();
    let state = crate::hosts::state_dir(&config.fleet.hosts[&host])
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
    History(std::io::Error),
}

/// `berth lock acquire` / the console's `l`: a manual lock, which deploys
/// refuse to start behind until it is released by hand.
pub fn acquire_manual(
    config: &crate::config::Config,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
    message: &str,
    performer: &Performer,
) -> Result<(), ManualError> {
    let (_, dir) = locate(config, app, destination).map_err(ManualError::Target)?;
    let holder = holder_for(performer, "manual", None, Some(message.to_string()), true);
    acquire(&dir, &holder)?;
    Ok(())
}

/// `berth lock release` / the console's `U`. Without `force`, only the
/// performer's own manual or stale lock goes; a forced release is recorded
/// in the history of the lock's host.
pub fn release_manual(
    config: &crate::config::Config,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
    force: bool,
    performer: &Performer,
) -> Result<Released, ManualError> {
    let (host, dir) = locate(config, app, destination).map_err(ManualError::Target)?;
    let Some(status) = read(&dir, config.fleet.lock.ttl.get())? else {
        return Ok(Released::NotLocked);
    };
    let mine = status.holder.user == performer.user && status.holder.machine == performer.machine;
    let line = status.describe(Utc::now());
    if !force {
        if mine && (status.holder.manual || status.stale) {
            release(&dir, &status.holder.token)?;
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
    let removed = force_release(&dir)?;
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
    let state = crate::hosts::state_dir(&config.fleet.hosts[&host]).map_err(ManualError::Target)?;
    super::history::append(&state, &record).map_err(ManualError::History)?;
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

    #[test]
    fn one_holder_and_losers_see_it() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(t.path(), "demo", "");
        let a = holder_for(&me(), "deploy", Some("v2".into()), None, false);
        acquire(&dir, &a).unwrap();
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
        let LockError::Held(s) = acquire(&dir, &b).unwrap_err() else {
            panic!()
        };
        assert_eq!(s.holder, a);
        let line = s.describe(Utc::now());
        assert!(line.starts_with("locked by ana@laptop (pid "), "{line}");
        assert!(line.contains("for deploy v2 since "), "{line}");
        assert!(!line.contains("STALE"));
        // Only the holder's token releases it.
        assert!(release(&dir, &b.token).is_err());
        release(&dir, &a.token).unwrap();
        assert!(read(&dir, Duration::MAX).unwrap().is_none());
        acquire(&dir, &b).unwrap();
    }

    #[test]
    fn stale_after_ttl_unless_manual() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(t.path(), "demo", "staging");
        assert!(dir.ends_with("locks/demo@staging"));
        let mut h = holder_for(&me(), "deploy", None, None, false);
        h.acquired_at = Utc::now() - chrono::Duration::seconds(120);
        acquire(&dir, &h).unwrap();
        let s = read(&dir, Duration::from_secs(60)).unwrap().unwrap();
        assert!(s.stale);
        assert!(
            s.describe(Utc::now())
                .contains("STALE: no heartbeat for 2m")
        );
        heartbeat(&dir, &h.token).unwrap();
        assert!(!read(&dir, Duration::from_secs(60)).unwrap().unwrap().stale);
        let forced = force_release(&dir).unwrap().unwrap();
        assert_eq!(forced.holder, h);

        let mut m = holder_for(&me(), "manual", None, Some("db migration".into()), true);
        m.acquired_at = Utc::now() - chrono::Duration::seconds(3600);
        acquire(&dir, &m).unwrap();
        let s = read(&dir, Duration::from_secs(60)).unwrap().unwrap();
        assert!(!s.stale, "manual locks never go stale");
        assert!(
            s.describe(Utc::now())
                .contains("for manual lock: \"db migration\"")
        );
    }

    #[test]
    fn nested_calls_show_and_leave() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(t.path(), "demo", "");
        let h = holder_for(&me(), "deploy", None, None, false);
        acquire(&dir, &h).unwrap();
        let n = Nested {
            action: "restart".into(),
            pid: 4242,
            since: Utc::now(),
        };
        assert!(enter_nested(&dir, "wrong", &n).is_err());
        enter_nested(&dir, &h.token, &n).unwrap();
        let s = read(&dir, Duration::MAX).unwrap().unwrap();
        assert_eq!(s.nested, vec![n]);
        assert!(
            s.describe(Utc::now())
                .contains("nested: restart (pid 4242)")
        );
        leave_nested(&dir, 4242);
        assert!(
            read(&dir, Duration::MAX)
                .unwrap()
                .unwrap()
                .nested
                .is_empty()
        );
    }

    #[test]
    fn concurrent_acquires_have_one_winner() {
        let t = tempfile::tempdir().unwrap();
        let dir = lock_dir(t.path(), "demo", "");
        let wins: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..32)
                .map(|i| {
                    let dir = dir.clone();
                    s.spawn(move || {
                        let mut h = holder_for(&me(), "deploy", None, None, false);
                        h.token = format!("{i:016}{}", h.token);
                        acquire(&dir, &h).is_ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
    }
}
