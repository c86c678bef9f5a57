//! The audit history: one JSON line per action, appended to
//! `<state_dir>/apps/<app>/history.jsonl` on every host the action touched.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who ran an action, from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Performer {
    pub user: String,
    pub machine: String,
}

impl Performer {
    pub fn current() -> Self {
        let user = ["USER", "LOGNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
            .or_else(user_from_uid)
            .unwrap_or_else(|| "unknown".into());
        let machine = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown".into());
        Performer { user, machine }
    }
}

/// The name of this process's user from /etc/passwd (no libc call needed).
fn user_from_uid() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        (f.nth(1)? == uid).then(|| name.to_string())
    })
}

impl std::fmt::Display for Performer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.user, self.machine)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub performer: Performer,
    pub action: String,
    pub app: String,
    #[serde(default)]
    pub destination: String,
    pub version: Option<String>,
    /// `ok`, `failed` or `cancelled`.
    pub result: String,
    pub failed_stage: Option<String>,
    pub error: Option<String>,
    /// Anything else worth keeping (e.g. what a forced lock release removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

pub fn path(state_dir: &Path, app: &str) -> PathBuf {
    state_dir.join("apps").join(app).join("history.jsonl")
}

/// Appends one record. A single `write` of one line on an append-mode file,
/// so concurrent writers do not interleave within a line.
pub fn append(state_dir: &Path, record: &Record) -> std::io::Result<()> {
    let path = path(state_dir, &record.app);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?
        .write_all(line.as_bytes())
}

/// Reads an app's history; lines that do not parse are reported, not fatal.
pub fn read(state_dir: &Path, app: &str) -> (Vec<Record>, Vec<String>) {
    let path = path(state_dir, app);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return (Vec::new(), Vec::new());
    };
    let mut records = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        match serde_json::from_str(line) {
            Ok(r) => records.push(r),
            Err(e) => problems.push(format!(
                "{}:{}: unreadable history line: {e}",
                path.display(),
                i + 1
            )),
        }
    }
    (records, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let r = Record {
            started_at: Utc::now(),
            finished_at: Utc::now(),
            performer: Performer {
                user: "ana".into(),
                machine: "laptop".into(),
            },
            action: "deploy".into(),
            app: "demo".into(),
            destination: String::new(),
            version: Some("v2".into()),
            result: "failed".into(),
            failed_stage: Some("health gate web [1/1]".into()),
            error: Some("unhealthy".into()),
            note: None,
        };
        append(dir.path(), &r).unwrap();
        append(dir.path(), &r).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(dir.path(), "demo"))
            .unwrap()
            .write_all(b"{broken\n")
            .unwrap();
        let (records, problems) = read(dir.path(), "demo");
        assert_eq!(records, vec![r.clone(), r]);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("history.jsonl:3: unreadable"),
            "{problems:?}"
        );
    }
}
