//! What a line of typed text is for: a filter, a search, a `:` command, or
//! a question (the version to deploy, a destroy's name, y/N), and what an
//! action is aimed at.

use super::*;

/// The container a shell opens in, and what it is for the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellAt {
    pub host: String,
    pub id: String,
    pub name: String,
    /// A declared berth app's container: its exec goes in the app's history.
    pub owner: Option<Target>,
    /// The app's `shell:`, if it sets one.
    pub shell: Option<Vec<String>>,
}

/// An app and destination an action is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub app: AppName,
    pub destination: Option<DestinationName>,
}

impl Target {
    /// `demo` or `demo@staging`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let (app, dest) = match s.split_once('@') {
            Some((a, d)) => (a, Some(d)),
            None => (s, None),
        };
        Ok(Target {
            app: AppName::new(app)?,
            destination: dest.map(DestinationName::new).transpose()?,
        })
    }

    pub fn dest_str(&self) -> &str {
        self.destination.as_ref().map(|d| d.as_str()).unwrap_or("")
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.destination {
            Some(d) => write!(f, "{}@{d}", self.app),
            None => write!(f, "{}", self.app),
        }
    }
}

/// What the keyboard is typing into.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    None,
    Filter(String),
    /// `/` in a container's log.
    Search(String),
    Command(String),
    Prompt(Prompt),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PromptKind {
    DeployVersion(Target),
    /// The app's name must be typed.
    Destroy(Target),
    LockMessage(Target),
    /// y/N before an action that touches running containers.
    Confirm {
        question: String,
        action: Action,
    },
    ForceUnlock {
        target: Target,
        holder: String,
    },
    /// y/N before acting on a container that is not a berth app's.
    ContainerOp {
        question: String,
        host: String,
        name: String,
        op: crate::ops::container::Op,
    },
    /// A running container's name must be typed to remove it.
    RemoveRunning {
        question: String,
        host: String,
        name: String,
    },
    /// y/N before restarting, stopping or starting a Compose project;
    /// its name typed before taking it down.
    ComposeOp {
        question: String,
        host: Option<String>,
        project: String,
        op: crate::ops::compose::ProjectOp,
    },
    Quit {
        running: usize,
    },
}

impl PromptKind {
    /// Answered with one key (y or anything else), not a line of text.
    pub fn yes_no(&self) -> bool {
        matches!(
            self,
            PromptKind::Confirm { .. }
                | PromptKind::ForceUnlock { .. }
                | PromptKind::Quit { .. }
                | PromptKind::ContainerOp { .. }
        ) || matches!(self, PromptKind::ComposeOp { op, .. } if !op.removes())
    }
}
