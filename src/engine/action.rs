//! What an operator asks for.

use std::fmt;

use serde::Serialize;

use crate::config::{AppName, DestinationName, HostName, RoleName};

/// A mutating action on one app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Deploy {
        app: AppName,
        version: Version,
        destination: Option<DestinationName>,
    },
    /// Replace each container of the role(s) with a fresh one of the version
    /// it runs, one boot group at a time, each through the health gate.
    Restart {
        app: AppName,
        role: Option<RoleName>,
        destination: Option<DestinationName>,
    },
    /// Start a retained (stopped) version again through the health gate.
    Rollback {
        app: AppName,
        /// The newest retained version that is not running, when `None`.
        version: Option<Version>,
        destination: Option<DestinationName>,
    },
    Destroy {
        app: AppName,
        destination: Option<DestinationName>,
        /// Must equal the app's name: destroy is never one keystroke away.
        confirm: String,
        purge_volumes: bool,
    },
    /// Point the proxy at the role's running healthy containers (after a
    /// hand edit, a lost file, or a proxy restarted without its config).
    ProxySync {
        app: AppName,
        destination: Option<DestinationName>,
    },
    /// One container of the app, by hand (the console's Containers view):
    /// under the app's lock, and recorded in its history.
    Container {
        app: AppName,
        destination: Option<DestinationName>,
        host: HostName,
        /// Its name as Docker shows it (found again by the app's labels
        /// on that host when the step runs).
        container: String,
        op: ContainerOp,
    },
    /// A command in every running container of a role (the primary role
    /// unless named), or of one host's: not under the lock (it changes no
    /// container), but recorded in the app's history with the command and
    /// the containers it ran in.
    Exec {
        app: AppName,
        destination: Option<DestinationName>,
        role: Option<RoleName>,
        host: Option<HostName>,
        command: Vec<String>,
    },
}

/// What to do to one container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerOp {
    Restart,
    Stop,
    Start,
    Remove,
}

impl ContainerOp {
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerOp::Restart => "restart",
            ContainerOp::Stop => "stop",
            ContainerOp::Start => "start",
            ContainerOp::Remove => "remove",
        }
    }
}

impl fmt::Display for ContainerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub fn app(&self) -> &AppName {
        match self {
            Action::Deploy { app, .. }
            | Action::Restart { app, .. }
            | Action::Rollback { app, .. }
            | Action::Destroy { app, .. }
            | Action::ProxySync { app, .. }
            | Action::Container { app, .. }
            | Action::Exec { app, .. } => app,
        }
    }

    pub fn destination(&self) -> Option<&DestinationName> {
        match self {
            Action::Deploy { destination, .. }
            | Action::Restart { destination, .. }
            | Action::Rollback { destination, .. }
            | Action::Destroy { destination, .. }
            | Action::ProxySync { destination, .. }
            | Action::Container { destination, .. }
            | Action::Exec { destination, .. } => destination.as_ref(),
        }
    }

    /// `deploy`, `restart`, ...
    /// The version it brings up, when it names one (deploy; rollback).
    pub fn version(&self) -> Option<&Version> {
        match self {
            Action::Deploy { version, .. } => Some(version),
            Action::Rollback { version, .. } => version.as_ref(),
            _ => None,
        }
    }

    /// `deploy demo v2`, `rollback demo v1`, `restart demo`: what it does, in words.
    pub fn describe(&self) -> String {
        if let Action::Container {
            host,
            container,
            op,
            ..
        } = self
        {
            return format!("{op} container {container} of {} on {host}", self.app());
        }
        if let Action::Exec { command, .. } = self {
            return format!(
                "exec {}: {}",
                self.app(),
                shlex::try_join(command.iter().map(String::as_str))
                    .unwrap_or_else(|_| command.join(" "))
            );
        }
        match self.version() {
            Some(v) => format!("{} {} {v}", self.verb(), self.app()),
            None => format!("{} {}", self.verb(), self.app()),
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Action::Deploy { .. } => "deploy",
            Action::Restart { .. } => "restart",
            Action::Rollback { .. } => "rollback",
            Action::Destroy { .. } => "destroy",
            Action::ProxySync { .. } => "proxy-sync",
            Action::Exec { .. } => "exec",
            Action::Container { op, .. } => match op {
                ContainerOp::Restart => "container-restart",
                ContainerOp::Stop => "container-stop",
                ContainerOp::Start => "container-start",
                ContainerOp::Remove => "container-remove",
            },
        }
    }
}

/// A version: an image tag, also part of container names and labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Version(String);

impl Version {
    /// Docker's tag rule: 1–128 of `A-Za-z0-9_.-`, not starting with `.` or `-`.
    pub fn new(v: &str) -> Result<Self, String> {
        let ok = !v.is_empty()
            && v.len() <= 128
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && !v.starts_with(['.', '-']);
        if ok {
            Ok(Version(v.to_string()))
        } else {
            Err(format!(
                "version `{v}` is not a valid image tag (1-128 of letters, digits, `_`, `.`, `-`; not starting with `.` or `-`)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Version::new(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_docker_tags() {
        for ok in ["v1", "2026.11.22", "abc_DEF-1", "latest"] {
            assert!(Version::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a/b", "a:b", "with space", &"x".repeat(129)] {
            assert!(Version::new(bad).is_err(), "{bad}");
        }
    }
}
