//! The audit history: one JSON line per action, appended to
//! `<state_dir>/apps/<app>/history.jsonl` on every host the action touched.

use crate::hosts::{FilesError, HostPath};
use crate::sanitize::{
    de_line as line, de_opt_line as opt_line, de_opt_text as opt_text, one_line,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who ran an action, from where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Performer {
    #[serde(deserialize_with = "line")]
    pub user: String,
    #[serde(deserialize_with = "line")]
    pub machine: String,
}

impl Performer {
    /// Who this process acts for, and where: found once a process (the
    /// lookup reads files and may ask NSS), then the same answer.
    pub fn current() -> Self {
        static ME: std::sync::OnceLock<Performer> = std::sync::OnceLock::new();
        ME.get_or_init(Self::look_up).clone()
    }

    fn look_up() -> Self {
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
        // `$USER` and the hostname are outside text like any other.
        Performer {
            user: one_line(&user),
            machine: one_line(&machine),
        }
    }
}

/// The name of this process's user, through NSS (so LDAP and SSSD users
/// are found, not only those in /etc/passwd).
fn user_from_uid() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::Uid::current())
        .ok()
        .flatten()
        .map(|u| u.name)
}

impl std::fmt::Display for Performer {
    /// `ana@laptop`; a performer with no machine (Kamal records a git
    /// email) as it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.machine.is_empty() {
            return f.write_str(&self.user);
        }
        write!(f, "{}@{}", self.user, self.machine)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub performer: Performer,
    #[serde(deserialize_with = "line")]
    pub action: String,
    #[serde(deserialize_with = "line")]
    pub app: String,
    #[serde(default, deserialize_with = "line")]
    pub destination: String,
    #[serde(default, deserialize_with = "opt_line")]
    pub version: Option<String>,
    /// The registry digest every host ran the version as (deploys through
    /// a registry).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_line"
    )]
    pub digest: Option<String>,
    /// `ok`, `failed`, `refused` (the lock held by someone else: nothing
    /// changed) or `cancelled`.
    #[serde(deserialize_with = "line")]
    pub result: String,
    #[serde(default, deserialize_with = "opt_line")]
    pub failed_stage: Option<String>,
    #[serde(default, deserialize_with = "opt_text")]
    pub error: Option<String>,
    /// Anything else worth keeping (e.g. what a forced lock release removed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "opt_text"
    )]
    pub note: Option<String>,
    /// The run's id, as on the containers it created (empty for lines
    /// written by hand operations, and by berth before runs had ids).
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "line"
    )]
    pub run: String,
    /// The tool whose record this is, when not berth's: `kamal` (its audit
    /// log) or `dokku` (its build records). Never written by berth.
    #[serde(
        default,
        skip_serializing_if = "String::is_empty",
        deserialize_with = "line"
    )]
    pub tool: String,
}

/// An app's own directory in a state directory (its history lives there).
pub fn app_dir(state_dir: &HostPath, app: &str) -> HostPath {
    state_dir.join("apps").join(app)
}

/// The history's file name in the app's directory.
pub const FILE: &str = "history.jsonl";

pub fn path(state_dir: &HostPath, app: &str) -> HostPath {
    app_dir(state_dir, app).join(FILE)
}

/// The per-host history of hand operations on containers berth did not
/// deploy (or did, outside an action): a directory no app can have (an app
/// name is a DNS label), read beside the apps' histories.
pub const HOST_LOG: &str = "_containers";

/// Appends one record to the host's [`HOST_LOG`].
pub async fn append_host(state_dir: &HostPath, record: &Record) -> Result<(), FilesError> {
    append_to(path(state_dir, HOST_LOG), record).await
}

/// Appends one record: one line, written at once on an append-mode file,
/// so concurrent writers do not interleave within a line.
pub async fn append(state_dir: &HostPath, record: &Record) -> Result<(), FilesError> {
    append_to(path(state_dir, &record.app), record).await
}

async fn append_to(path: HostPath, record: &Record) -> Result<(), FilesError> {
    // serde_json escapes newlines inside strings: a record is one line.
    let line = serde_json::to_string(record).map_err(|e| FilesError {
        what: "appending to",
        place: path.to_string(),
        why: e.to_string(),
    })?;
    path.append_line(&line).await
}

/// Reads an app's history; lines that do not parse are reported, not fatal.
pub async fn read(
    state_dir: &HostPath,
    app: &str,
) -> Result<(Vec<Record>, Vec<String>), FilesError> {
    let path = path(state_dir, app);
    let Some(bytes) = path.read().await? else {
        return Ok((Vec::new(), Vec::new()));
    };
    Ok(parse(&path.to_string(), &bytes))
}

/// A history file's records, and a line for each line that does not parse
/// (named `place:line`). Pure, for any bytes.
pub fn parse(place: &str, bytes: &[u8]) -> (Vec<Record>, Vec<String>) {
    let text = String::from_utf8_lossy(bytes);
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
                "{place}:{}: unreadable history line: {}",
                i + 1,
                one_line(&e.to_string())
            )),
        }
    }
    (records, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_is_found_as_the_system_names_it() {
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let expected = String::from_utf8(id.stdout).unwrap().trim().to_string();
        assert_eq!(user_from_uid(), Some(expected));
    }

    #[tokio::test]
    async fn append_and_read_back() {
        use std::io::Write;
        let t = tempfile::tempdir().unwrap();
        let dir = HostPath::local(t.path());
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
            digest: None,
            result: "failed".into(),
            failed_stage: Some("health gate web [1/1]".into()),
            error: Some("unhealthy".into()),
            note: None,
            run: String::new(),
            tool: String::new(),
        };
        append(&dir, &r).await.unwrap();
        append(&dir, &r).await.unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(path(&dir, "demo").path)
            .unwrap()
            .write_all(b"{broken\n")
            .unwrap();
        let (records, problems) = read(&dir, "demo").await.unwrap();
        assert_eq!(records, vec![r.clone(), r]);
        assert_eq!(problems.len(), 1);
        assert!(
            problems[0].contains("history.jsonl:3: unreadable"),
            "{problems:?}"
        );
    }
}
