//! What a running plan reports. One stream of these drives both the CLI's
//! stage list (or its `--json` lines) and the console's run view.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::plan::Plan;

/// Which of a process's outputs a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EngineEvent {
    PlanReady {
        plan: Plan,
    },
    StageStarted {
        stage: usize,
        name: String,
        at: DateTime<Utc>,
    },
    /// A line of output from a build, a task, a hook or berth itself;
    /// control sequences already stripped.
    Output {
        stage: usize,
        host: Option<String>,
        line: String,
    },
    /// A line a command printed in a container (`berth exec`), from its
    /// stdout or its stderr; control sequences already stripped.
    ExecOutput {
        stage: usize,
        host: String,
        container: String,
        stream: OutputStream,
        line: String,
    },
    /// A host's part of a stage moved on (`booted demo-web-v2-3f1a`).
    HostProgress {
        stage: usize,
        host: String,
        status: String,
    },
    /// A health check result seen while a gate waits.
    HealthProbe {
        stage: usize,
        host: String,
        container: String,
        health: String,
        output: Option<String>,
    },
    StageFinished {
        stage: usize,
        name: String,
        outcome: Outcome,
        elapsed_ms: u64,
    },
    /// Something went wrong outside any stage (writing history, ...).
    Warning {
        message: String,
    },
    Finished {
        result: RunResult,
        elapsed_ms: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed { error: String },
    Skipped { reason: String },
}

/// What kind of failure ended a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A stage ran and failed (a health gate, a release task, a build).
    #[default]
    Failed,
    /// Refused before it changed anything: no plan, something missing,
    /// the lock held by someone else.
    Refused,
    /// A host or engine it needed could not be reached, or its connection
    /// dropped under the stage.
    Unreachable,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RunResult {
    Ok,
    /// The action failed at `stage`; the previous version keeps serving.
    Failed {
        stage: String,
        error: String,
        /// What kind of failure, for a front end to act on (an exit code)
        /// without reading the words.
        kind: FailureKind,
    },
    /// The operator cancelled; the previous version keeps serving.
    Cancelled {
        stage: Option<String>,
    },
}

impl RunResult {
    pub fn is_ok(&self) -> bool {
        matches!(self, RunResult::Ok)
    }

    /// `ok`, `failed`, `refused`, `cancelled`: for history and summaries.
    pub fn word(&self) -> &'static str {
        match self {
            RunResult::Ok => "ok",
            RunResult::Failed {
                kind: FailureKind::Refused,
                ..
            } => "refused",
            RunResult::Failed { .. } => "failed",
            RunResult::Cancelled { .. } => "cancelled",
        }
    }

    /// A run that changed nothing because something refused it (a lock
    /// held by someone else): no failure of the app.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RunResult::Failed {
                kind: FailureKind::Refused,
                ..
            }
        )
    }
}
