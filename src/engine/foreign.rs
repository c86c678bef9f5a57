//! Kamal's and Dokku's own state on their hosts, read (never changed) for
//! the console and the command line, where those tools keep it:
//!
//! - Kamal's deploy lock, a directory on the primary role's first host
//!   (`.kamal/lock-<service>[-<destination>]`, relative to the SSH user's
//!   home) with a `details` file of Ruby `Base64.encode64` text: `Locked
//!   by: NAME at TIME`, `Version: V`, `Message: M`;
//! - Kamal's audit log on every host (`.kamal/<service>[-<dest>]-audit.log`,
//!   lines `[time] [performer] [destination] [role…] message`);
//! - Dokku's deploy locks (`<data>/apps/<app>/.deploy.lock`: a build id,
//!   `pid-N`, a bare pid, or empty for `apps:lock`), held or left over as
//!   `/proc/locks` says (never by taking one), and its build records
//!   (`<data>/builds/<app>/<id>.json`).
//!
//! Everything read here is other tools' text: it is cleaned as it is read.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;

use super::history::{Performer, Record};
use crate::config::kamal::KamalApp;
use crate::config::{Config, HostName};
use crate::hosts::Pool;
use crate::sanitize::one_line;

/// Deadline for reaching a host.
pub const REACH: Duration = super::lock::REACH_TIMEOUT;
/// Dokku's data directory.
pub const DOKKU_DATA: &str = "/var/lib/dokku/data";
/// The end of each audit log read (Kamal's own `audit` shows 50).
const AUDIT_LINES: usize = 200;
/// Build records read per Dokku app, newest.
const BUILDS_PER_APP: usize = 50;

/// Another tool's deploy lock, as found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ForeignLock {
    /// `kamal` or `dokku`.
    pub tool: &'static str,
    pub app: String,
    pub destination: String,
    /// The fleet host it is on, and where (`ssh://…:~/.kamal/lock-shop`).
    pub host: String,
    pub path: String,
    /// Dokku: the file is there, but no process holds its flock (a deploy
    /// that died). Dokku still counts it as locked.
    pub left_over: bool,
    pub holder: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub version: Option<String>,
    pub message: Option<String>,
    /// What clears it, with that tool.
    pub clear_with: String,
}

impl ForeignLock {
    /// One line: `locked by Ana 5m ago: "hotfix" (version abc, kamal)`.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let by = self.holder.as_deref().unwrap_or("someone");
        let age = self
            .since
            .map(|s| {
                format!(
                    " {} ago",
                    crate::domain::format::age((now - s).num_seconds())
                )
            })
            .unwrap_or_default();
        let msg = self
            .message
            .as_deref()
            .map(|m| format!(": \"{m}\""))
            .unwrap_or_default();
        let version = self
            .version
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!("version {v}, "))
            .unwrap_or_default();
        let state = if self.left_over {
            "left over by"
        } else {
            "locked by"
        };
        format!(
            "{state} {by}{age}{msg} ({version}{}; `{}` clears it)",
            self.tool, self.clear_with
        )
    }
}

/// A lock as read: free, held, or unreadable (why).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForeignRead {
    Free,
    Held(Box<ForeignLock>),
    Error(String),
}

/// `(tool, app, destination)`: which app's lock.
pub type ForeignKey = (String, String, String);

/// A Kamal app's lock, read on its primary host.
pub async fn kamal_lock(config: &Config, hosts: &Pool, app: &KamalApp) -> ForeignRead {
    let Some(name) = app.primary_host().and_then(|a| app.host_name(a)) else {
        return ForeignRead::Error("the app has no primary host".into());
    };
    let dir = match reach(config, hosts, name, PathBuf::from(app.lock_dir())).await {
        Ok(d) => d,
        Err(e) => return ForeignRead::Error(e),
    };
    // One command: the directory's files, or that it is not there.
    let files = match dir.read_dir_files().await {
        Ok(Some(files)) => files,
        Ok(None) => return ForeignRead::Free,
        Err(e) => return ForeignRead::Error(e.to_string()),
    };
    let details = files
        .into_iter()
        .find(|(name, _)| name == "details")
        .map(|(_, bytes)| bytes);
    ForeignRead::Held(Box::new(kamal_details(
        app,
        name.as_str(),
        dir.to_string(),
        details.as_deref(),
    )))
}

/// The lock a Kamal lock directory makes, from its `details` (`None`:
/// the directory is there, its details not yet). Pure, for any bytes.
pub fn kamal_details(
    app: &KamalApp,
    host: &str,
    path: String,
    details: Option<&[u8]>,
) -> ForeignLock {
    let mut lock = ForeignLock {
        tool: "kamal",
        app: app.service.clone(),
        destination: app.destination.clone().unwrap_or_default(),
        host: host.to_string(),
        path,
        left_over: false,
        holder: None,
        since: None,
        version: None,
        message: None,
        clear_with: app.command("lock release"),
    };
    let Some(details) = details else {
        lock.message = Some("(the lock's details are not written yet)".into());
        return lock;
    };
    let Some(text) = base64_decode(&String::from_utf8_lossy(details)) else {
        lock.message = Some("(its details are not Kamal's base64)".into());
        return lock;
    };
    for line in String::from_utf8_lossy(&text).lines() {
        // Each field bounded as it is read: a details file of a megabyte
        // makes no answer huge.
        let line = crate::sanitize::clip(&one_line(line), crate::sanitize::LINE_KEPT);
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Locked by: ") {
            match rest.rsplit_once(" at ") {
                Some((who, at)) => {
                    lock.holder = Some(who.to_string());
                    lock.since = DateTime::parse_from_rfc3339(at.trim())
                        .ok()
                        .map(|t| t.with_timezone(&Utc));
                }
                None => lock.holder = Some(rest.to_string()),
            }
        } else if let Some(v) = line.strip_prefix("Version: ") {
            lock.version = Some(v.to_string());
        } else if let Some(m) = line.strip_prefix("Message: ") {
            lock.message = Some(crate::sanitize::clip(m, crate::engine::lock::MESSAGE_KEPT));
        }
    }
    lock
}

/// Ruby's `Base64.encode64` text (a newline every 60 characters).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let joined: String = text.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
}

/// `path` on a fleet host, through its shared connection.
async fn reach(
    config: &Config,
    hosts: &Pool,
    name: &HostName,
    path: PathBuf,
) -> Result<crate::hosts::HostPath, String> {
    let host = config.host(name).map_err(|e| e.to_string())?;
    hosts
        .on_host(host, path, REACH)
        .await
        .map_err(|e| format!("host {name}: {e}"))
}

/// The end of a Kamal app's audit log on one of its hosts, as history
/// records (marked as Kamal's); empty when there is no log.
pub async fn kamal_audit(
    config: &Config,
    hosts: &Pool,
    app: &KamalApp,
    host: &HostName,
) -> Result<Vec<Record>, String> {
    let log = reach(config, hosts, host, PathBuf::from(app.audit_log())).await?;
    let text = log
        .tail(AUDIT_LINES)
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    Ok(parse_audit(app, host.as_str(), &text))
}

/// Kamal's audit lines: `[time] [performer] [destination] [tags…] message`
/// (the destination tag only with one). Lines that do not start with a
/// time are skipped. Pure, for any bytes.
pub fn parse_audit(app: &KamalApp, host: &str, text: &[u8]) -> Vec<Record> {
    let dest = app.destination.clone().unwrap_or_default();
    String::from_utf8_lossy(text)
        .lines()
        .filter_map(|line| {
            // Cleaned whole first: a `]` inside an escape sequence must not
            // split a tag and leave the sequence's text behind as words.
            let line = one_line(line);
            let mut rest = line.trim_start();
            let mut tags = Vec::new();
            while let Some(r) = rest.strip_prefix('[') {
                let (tag, after) = r.split_once(']')?;
                tags.push(tag);
                rest = after.trim_start();
            }
            let at = DateTime::parse_from_rfc3339(tags.first()?.trim())
                .ok()?
                .with_timezone(&Utc);
            let performer = tags.get(1).map(|p| one_line(p)).unwrap_or_default();
            let mut extra: Vec<&str> = tags.iter().skip(2).copied().collect();
            if !dest.is_empty() && extra.first() == Some(&dest.as_str()) {
                extra.remove(0);
            }
            let message = one_line(rest);
            let version = message
                .split_whitespace()
                .skip_while(|w| *w != "version")
                .nth(1)
                .map(str::to_string);
            Some(Record {
                started_at: at,
                finished_at: at,
                performer: Performer {
                    user: performer,
                    machine: String::new(),
                },
                action: message,
                app: app.service.clone(),
                destination: dest.clone(),
                version,
                digest: None,
                result: "ok".into(),
                failed_stage: None,
                error: None,
                note: (!extra.is_empty())
                    .then(|| format!("on {host}; {}", one_line(&extra.join(" ")))),
                run: String::new(),
                tool: "kamal".into(),
            })
        })
        .collect()
}

/// What a Dokku host holds: its apps' locks and build records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DokkuState {
    /// Every app on the host.
    pub apps: Vec<String>,
    /// The locks there are (an app without one is free).
    pub locks: Vec<ForeignLock>,
    pub builds: Vec<Record>,
}

/// A host's Dokku state; `None` when Dokku is not there.
pub async fn dokku(
    config: &Config,
    hosts: &Pool,
    host: &HostName,
) -> Result<Option<DokkuState>, String> {
    let data = reach(config, hosts, host, PathBuf::from(DOKKU_DATA)).await?;
    let raw = data
        .dokku_state(BUILDS_PER_APP)
        .await
        .map_err(|e| e.to_string())?;
    Ok(raw.map(|raw| parse_dokku(host.as_str(), &data.to_string(), &raw)))
}

/// The Dokku state script's lines (see `dokku_state.sh`). Pure, for any
/// bytes: a line that does not parse is skipped.
pub fn parse_dokku(host: &str, place: &str, raw: &[u8]) -> DokkuState {
    let text = String::from_utf8_lossy(raw);
    let mut flocks: Vec<(u64, u64, u64)> = Vec::new();
    let mut files = Vec::new();
    let mut builds = Vec::new();
    let mut apps = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["app", app] => {
                if let Some(app) = unhex(app) {
                    apps.push(one_line(&String::from_utf8_lossy(&app)));
                }
            }
            ["flock", id] => {
                let mut parts = id.split(':');
                let (Some(maj), Some(min), Some(ino)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                if let (Ok(maj), Ok(min), Ok(ino)) = (
                    u64::from_str_radix(maj, 16),
                    u64::from_str_radix(min, 16),
                    ino.parse(),
                ) {
                    flocks.push((maj, min, ino));
                }
            }
            ["lock", app, dev, ino, mtime, content] => {
                let (Some(app), Ok(dev), Ok(ino), Ok(mtime), Some(content)) = (
                    unhex(app),
                    dev.parse::<u64>(),
                    ino.parse::<u64>(),
                    mtime.parse::<i64>(),
                    unhex(content),
                ) else {
                    continue;
                };
                files.push((app, dev, ino, mtime, content));
            }
            ["build", _app, json] => {
                if let Some(record) = unhex(json).and_then(|j| build_record(host, &j)) {
                    builds.push(record);
                }
            }
            _ => {}
        }
    }
    let locks = files
        .into_iter()
        .map(|(app, dev, ino, mtime, content)| {
            let app = one_line(&String::from_utf8_lossy(&app));
            let held = flocks.contains(&(dev_major(dev), dev_minor(dev), ino));
            let recorded = one_line(String::from_utf8_lossy(&content).trim());
            dokku_lock(host, place, &app, held, mtime, &recorded)
        })
        .collect();
    DokkuState {
        apps,
        locks,
        builds,
    }
}

/// One app's lock file: held by a running deploy, left over by a dead one,
/// or `apps:lock`'s empty file.
fn dokku_lock(
    host: &str,
    place: &str,
    app: &str,
    held: bool,
    mtime: i64,
    recorded: &str,
) -> ForeignLock {
    let (holder, message) = if recorded.is_empty() {
        (
            "dokku apps:lock".to_string(),
            Some("locked by hand (apps:lock)".to_string()),
        )
    } else if let Some(pid) = recorded.strip_prefix("pid-") {
        (format!("pid {pid}"), None)
    } else if recorded.bytes().all(|b| b.is_ascii_digit()) {
        (format!("pid {recorded}"), None)
    } else {
        (format!("build {recorded}"), None)
    };
    let left_over = !held && !recorded.is_empty();
    ForeignLock {
        tool: "dokku",
        app: app.to_string(),
        destination: String::new(),
        host: host.to_string(),
        path: format!("{place}/apps/{app}/.deploy.lock"),
        left_over,
        holder: Some(holder),
        since: Utc.timestamp_opt(mtime, 0).single(),
        version: None,
        message: if left_over {
            Some("no process holds it: the deploy that took it is gone".into())
        } else {
            message
        },
        clear_with: format!("dokku apps:unlock {app}"),
    }
}

/// A Dokku 0.38+ build record as a history record (marked as Dokku's).
fn build_record(host: &str, json: &[u8]) -> Option<Record> {
    #[derive(serde::Deserialize)]
    struct Build {
        id: String,
        app: String,
        #[serde(default)]
        kind: String,
        #[serde(default)]
        pid: i64,
        started_at: DateTime<Utc>,
        #[serde(default)]
        finished_at: Option<DateTime<Utc>>,
        #[serde(default)]
        status: String,
        #[serde(default)]
        source: String,
        #[serde(default)]
        exit_code: Option<i64>,
    }
    let b: Build = serde_json::from_slice(json).ok()?;
    let result = match b.status.as_str() {
        "succeeded" => "ok",
        "failed" => "failed",
        "canceled" => "cancelled",
        "running" => "running",
        "abandoned" => "abandoned",
        _ => "unknown",
    };
    Some(Record {
        started_at: b.started_at,
        finished_at: b.finished_at.unwrap_or(b.started_at),
        performer: Performer {
            user: "dokku".into(),
            machine: one_line(host),
        },
        action: one_line(if b.kind.is_empty() { "deploy" } else { &b.kind }),
        app: one_line(&b.app),
        destination: String::new(),
        version: None,
        digest: None,
        result: result.into(),
        failed_stage: None,
        error: b.exit_code.filter(|c| *c != 0).map(|c| format!("exit {c}")),
        note: Some(one_line(&format!(
            "build {} from {} (pid {})",
            b.id,
            if b.source.is_empty() { "?" } else { &b.source },
            b.pid
        ))),
        run: one_line(&b.id),
        tool: "dokku".into(),
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s == "-" {
        return Some(Vec::new());
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// glibc's `major()`/`minor()` of a `st_dev`, as /proc/locks prints them.
fn dev_major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}
fn dev_minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

#[cfg(test)]
mod tests;
