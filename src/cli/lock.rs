//! `berth lock status|acquire|release`: who holds each app's deploy lock,
//! and manual locks for incidents. Kamal's and Dokku's locks on this machine
//! are shown read-only next to berth's.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{AppName, Config, DestinationName};
use crate::docker::Gateway;
use crate::engine::history::Performer;
use crate::engine::lock::{self, LockError, ManualError, Released, Status};
use crate::hosts::HostPath;

#[derive(Debug, clap::Subcommand)]
pub enum LockCommand {
    /// Who holds each app's lock (stale ones marked)
    Status {
        /// Only this app
        app: Option<String>,
        #[arg(long, short = 'd', value_name = "NAME")]
        destination: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take an app's lock by hand (e.g. during an incident); deploys then refuse to start
    Acquire {
        app: String,
        /// Why (shown to everyone who is refused)
        #[arg(long, short = 'm', value_name = "MESSAGE")]
        message: String,
        #[arg(long, short = 'd', value_name = "NAME")]
        destination: Option<String>,
    },
    /// Release your own lock; --force releases anyone's (recorded in the history)
    Release {
        app: String,
        #[arg(long)]
        force: bool,
        #[arg(long, short = 'd', value_name = "NAME")]
        destination: Option<String>,
    },
}

#[derive(Serialize)]
struct LockView {
    app: String,
    destination: String,
    host: String,
    /// Where the lock lives (`ssh://…:~/.berth/locks/web` on an SSH host).
    path: String,
    #[serde(flatten)]
    status: Option<Status>,
    held: bool,
    /// Set when the lock is there but cannot be read as a holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    broken: Option<lock::Broken>,
    /// Set when the lock could not be read at all (its host unreachable...).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn target(
    config: &Config,
    gateway: &Gateway,
    app: &str,
    dest: Option<&str>,
) -> anyhow::Result<(AppName, Option<DestinationName>, String, HostPath)> {
    let app = AppName::new(app).map_err(anyhow::Error::msg)?;
    let dest = dest
        .map(DestinationName::new)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (host, dir) = lock::locate(config, gateway.hosts(), &app, dest.as_ref())
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((app, dest, host.to_string(), dir))
}

pub async fn run(config: &Config, gateway: &Gateway, cmd: &LockCommand) -> anyhow::Result<u8> {
    let ttl = config.fleet.lock.ttl.get();
    match cmd {
        LockCommand::Status {
            app,
            destination,
            json,
        } => {
            let apps: Vec<String> = match app {
                Some(a) => vec![a.clone()],
                None => config.fleet.apps.keys().map(|a| a.to_string()).collect(),
            };
            let mut views = Vec::new();
            let mut failed = false;
            for a in apps {
                let (app, dest, host, dir) =
                    target(config, gateway, &a, destination.as_deref()).await?;
                // One broken or unreachable lock never hides the others.
                let (status, broken, error) = match lock::read(&dir, ttl).await {
                    Ok(s) => (s, None, None),
                    Err(LockError::Broken(b)) => (None, Some(*b), None),
                    Err(e) => (None, None, Some(e.to_string())),
                };
                failed |= broken.is_some() || error.is_some();
                views.push(LockView {
                    app: app.to_string(),
                    destination: dest.map(|d| d.to_string()).unwrap_or_default(),
                    host,
                    path: dir.to_string(),
                    held: status.is_some() || broken.is_some(),
                    status,
                    broken,
                    error,
                });
            }
            let foreign = foreign_locks();
            if *json {
                #[derive(Serialize)]
                struct Out<'a> {
                    berth: &'a [LockView],
                    kamal: &'a [ForeignLock],
                    dokku: &'a [ForeignLock],
                }
                let (kamal, dokku): (Vec<ForeignLock>, Vec<ForeignLock>) =
                    foreign.into_iter().partition(|f| f.tool == "kamal");
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&Out {
                        berth: &views,
                        kamal: &kamal,
                        dokku: &dokku
                    })?
                );
            } else {
                let now = Utc::now();
                for v in &views {
                    let name = if v.destination.is_empty() {
                        v.app.clone()
                    } else {
                        format!("{} [{}]", v.app, v.destination)
                    };
                    match (&v.status, &v.broken, &v.error) {
                        (_, Some(b), _) => outln!("{name}: {b}"),
                        (_, _, Some(e)) => outln!("{name}: cannot read its lock: {e}"),
                        (Some(s), _, _) => outln!("{name}: {}", s.describe(now)),
                        (None, None, None) => outln!("{name}: free"),
                    }
                }
                for f in &foreign {
                    outln!("{} ({}, read-only): {}", f.app, f.tool, f.detail);
                }
            }
            Ok(if failed { EXIT_ERROR } else { EXIT_OK })
        }
        LockCommand::Acquire {
            app,
            message,
            destination,
        } => {
            let (app, dest, _, _) = target(config, gateway, app, destination.as_deref()).await?;
            match lock::acquire_manual(
                config,
                gateway.hosts(),
                &app,
                dest.as_ref(),
                message,
                &Performer::current(),
            )
            .await
            {
                Ok(holder) => {
                    outln!(
                        "locked {app}: manual lock \"{}\"; `berth lock release {app}` when done",
                        holder.message.unwrap_or_default()
                    );
                    Ok(EXIT_OK)
                }
                Err(ManualError::Lock(LockError::Held(s))) => {
                    errln!("berth: {app} is {}", s.describe(Utc::now()));
                    Ok(EXIT_UNHEALTHY)
                }
                Err(e) => Err(e.into()),
            }
        }
        LockCommand::Release {
            app,
            force,
            destination,
        } => {
            let (app, dest, _, _) = target(config, gateway, app, destination.as_deref()).await?;
            match lock::release_manual(
                config,
                gateway.hosts(),
                &app,
                dest.as_ref(),
                *force,
                &Performer::current(),
            )
            .await
            {
                Ok(Released::NotLocked) => outln!("{app} is not locked"),
                Ok(Released::Released(line)) => outln!("released {app} ({line})"),
                Ok(Released::Forced(note)) => outln!("released {app}: {note}"),
                Err(ManualError::Refused { app, line, why }) => {
                    errln!(
                        "berth: {app} is {line}; {why}: `berth lock release {app} --force` releases it anyway (recorded in the history)"
                    );
                    return Ok(EXIT_ERROR);
                }
                Err(e) => return Err(e.into()),
            }
            Ok(EXIT_OK)
        }
    }
}

/// A lock of another tool, found on this machine.
#[derive(Debug, Serialize)]
pub struct ForeignLock {
    pub tool: &'static str,
    pub app: String,
    pub path: PathBuf,
    pub detail: String,
}

/// Kamal's locks under `~/.kamal/` and Dokku's under its data directory.
fn foreign_locks() -> Vec<ForeignLock> {
    let mut out = Vec::new();
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        out.extend(kamal_locks(&home.join(".kamal")));
    }
    out.extend(dokku_locks(
        Path::new("/var/lib/dokku/data/apps"),
        Path::new("/proc/locks"),
    ));
    out
}

/// `.kamal/lock-<service>[-<dest>]/details`: base64 of "Locked by: ... at
/// ...", "Version: ...", "Message: ...".
pub fn kamal_locks(dir: &Path) -> Vec<ForeignLock> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(service) = name.strip_prefix("lock-") else {
            continue;
        };
        let details = std::fs::read(entry.path().join("details")).unwrap_or_default();
        let detail = kamal_details(&details);
        out.push(ForeignLock {
            tool: "kamal",
            app: crate::sanitize::one_line(service),
            path: entry.path(),
            detail: format!("locked: {detail}"),
        });
    }
    out.sort_by(|a, b| a.app.cmp(&b.app));
    out
}

/// The `details` file of a Kamal lock as one clean line: Ruby's
/// `Base64.encode64` of "Locked by: …", "Version: …", "Message: …" lines.
/// Pure, for any bytes.
pub fn kamal_details(details: &[u8]) -> String {
    let Some(decoded) = base64_decode(&String::from_utf8_lossy(details)) else {
        return "(unreadable details)".into();
    };
    crate::sanitize::strip_controls(&String::from_utf8_lossy(&decoded))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `<apps>/<app>/.deploy.lock`; the file can outlive its flock, so whether a
/// process still holds it is read from /proc/locks, never by locking it.
pub fn dokku_locks(apps: &Path, proc_locks: &Path) -> Vec<ForeignLock> {
    use std::os::unix::fs::MetadataExt;
    let held = held_inodes(&std::fs::read_to_string(proc_locks).unwrap_or_default());
    let mut out = Vec::new();
    for entry in std::fs::read_dir(apps).into_iter().flatten().flatten() {
        let path = entry.path().join(".deploy.lock");
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let content =
            String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
        out.push(ForeignLock {
            tool: "dokku",
            app: crate::sanitize::one_line(&entry.file_name().to_string_lossy()),
            path,
            detail: dokku_detail(&content, &held, meta.ino()),
        });
    }
    out.sort_by(|a, b| a.app.cmp(&b.app));
    out
}

/// The inodes of files held by a flock, from `/proc/locks` text.
pub fn held_inodes(proc_locks: &str) -> Vec<u64> {
    proc_locks
        .lines()
        .filter(|l| l.contains("FLOCK"))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(5)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// A Dokku lock file's line: held or left over, with what it records (a
/// build id, `pid-N` or a bare pid; anyone's text, so cleaned).
pub fn dokku_detail(content: &str, held: &[u64], inode: u64) -> String {
    let pid = crate::sanitize::one_line(content.trim());
    if held.contains(&inode) {
        format!("deploy in progress (lock file held; pid {pid})")
    } else {
        format!("lock file present but no process holds it (left over; pid {pid} recorded)")
    }
}

/// Ruby's `Base64.encode64` text (line-wrapped), as Kamal writes it.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let joined: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_base64() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
        assert!(base64_decode("!!").is_none());
    }

    #[test]
    fn reads_kamal_lock_details() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("lock-shop-staging");
        std::fs::create_dir_all(&d).unwrap();
        // base64 of "Locked by: Ana at 2026-11-22T10:00:00Z\nVersion: abc123\nMessage: Automatic deploy lock\n", line-wrapped as Kamal does.
        std::fs::write(
            d.join("details"),
            "TG9ja2VkIGJ5OiBBbmEgYXQgMjAyNi0xMS0yMlQxMDowMDowMFoKVmVyc2lv\nbjogYWJjMTIzCk1lc3NhZ2U6IEF1dG9tYXRpYyBkZXBsb3kgbG9jawo=\n",
        )
        .unwrap();
        let locks = kamal_locks(t.path());
        assert_eq!(locks.len(), 1);
        assert_eq!(locks[0].app, "shop-staging");
        assert_eq!(
            locks[0].detail,
            "locked: Locked by: Ana at 2026-11-22T10:00:00Z; Version: abc123; Message: Automatic deploy lock"
        );
    }

    #[test]
    fn dokku_lock_held_or_left_over() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        for app in ["blog", "shop"] {
            std::fs::create_dir_all(t.path().join(app)).unwrap();
            std::fs::write(t.path().join(app).join(".deploy.lock"), "4242\n").unwrap();
        }
        let ino = std::fs::metadata(t.path().join("blog/.deploy.lock"))
            .unwrap()
            .ino();
        let proc_locks = t.path().join("locks");
        std::fs::write(
            &proc_locks,
            format!("1: FLOCK  ADVISORY  WRITE 4242 fd:01:{ino} 0 EOF\n"),
        )
        .unwrap();
        let locks = dokku_locks(t.path(), &proc_locks);
        assert_eq!(locks[0].app, "blog");
        assert!(
            locks[0].detail.starts_with("deploy in progress"),
            "{:?}",
            locks[0]
        );
        assert!(
            locks[1]
                .detail
                .starts_with("lock file present but no process holds it"),
            "{:?}",
            locks[1]
        );
    }
}
