//! A run as the console shows it: the plan's stages with their live state,
//! each stage's output, and how the run ended. Built only from the engine's
//! event stream (the same one the CLI prints), or from a history record for
//! runs this console did not start.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::engine::history::Record;
use crate::engine::{EngineEvent, Outcome, RunResult};
use crate::sanitize::strip_controls;

/// Output lines kept per stage; older ones are dropped (and counted).
pub const OUTPUT_LINES: usize = 2000;

#[derive(Clone, Debug, PartialEq)]
pub enum StageState {
    Pending,
    Running { since: DateTime<Utc> },
    Ok { elapsed_ms: u64 },
    Failed { elapsed_ms: u64, error: String },
    Skipped { reason: String },
}

#[derive(Clone, Debug)]
pub struct StageView {
    pub name: String,
    pub hosts: Vec<String>,
    pub state: StageState,
    /// The last progress line per host (`booted demo-web-v2-3f1a`).
    pub host_status: BTreeMap<String, String>,
    pub output: Vec<String>,
    pub dropped: usize,
}

impl StageView {
    fn push(&mut self, line: String) {
        if self.output.len() == OUTPUT_LINES {
            self.output.remove(0);
            self.dropped += 1;
        }
        self.output.push(line);
    }
}

#[derive(Clone, Debug)]
pub struct RunView {
    /// This console's number for the run; history runs have none.
    pub id: Option<u64>,
    pub verb: String,
    pub app: String,
    pub destination: String,
    pub version: Option<String>,
    pub performer: String,
    pub started_at: DateTime<Utc>,
    pub stages: Vec<StageView>,
    pub warnings: Vec<String>,
    pub result: Option<RunResult>,
    pub elapsed_ms: Option<u64>,
    /// Where a history run was read from.
    pub host: Option<String>,
}

impl RunView {
    pub fn started(
        id: u64,
        verb: &str,
        (app, destination): (&str, &str),
        performer: String,
        at: DateTime<Utc>,
    ) -> Self {
        RunView {
            id: Some(id),
            verb: verb.to_string(),
            app: app.to_string(),
            destination: destination.to_string(),
            version: None,
            performer,
            started_at: at,
            stages: Vec::new(),
            warnings: Vec::new(),
            result: None,
            elapsed_ms: None,
            host: None,
        }
    }

    /// A finished run known only from a host's history.
    pub fn from_history(host: &str, r: &Record) -> Self {
        let result = match r.result.as_str() {
            "ok" => Some(RunResult::Ok),
            "cancelled" => Some(RunResult::Cancelled {
                stage: r.failed_stage.clone(),
            }),
            // A Dokku build still going, as its record says.
            "running" => None,
            "refused" => Some(RunResult::Failed {
                stage: r.failed_stage.clone().unwrap_or_default(),
                error: strip_controls(r.error.as_deref().unwrap_or("")),
                kind: crate::engine::FailureKind::Refused,
            }),
            "abandoned" => Some(RunResult::Failed {
                stage: r.failed_stage.clone().unwrap_or_default(),
                error: "abandoned: the process that ran it is gone".into(),
                kind: crate::engine::FailureKind::Failed,
            }),
            _ => Some(RunResult::Failed {
                stage: r.failed_stage.clone().unwrap_or_default(),
                error: strip_controls(r.error.as_deref().unwrap_or("")),
                kind: crate::engine::FailureKind::Failed,
            }),
        };
        RunView {
            id: None,
            // Another tool's record says whose it is.
            verb: if r.tool.is_empty() {
                r.action.clone()
            } else {
                format!("{}: {}", r.tool, r.action)
            },
            app: r.app.clone(),
            destination: r.destination.clone(),
            version: r.version.clone(),
            performer: r.performer.to_string(),
            started_at: r.started_at,
            stages: Vec::new(),
            warnings: Vec::new(),
            result,
            elapsed_ms: Some((r.finished_at - r.started_at).num_milliseconds().max(0) as u64),
            host: Some(host.to_string()),
        }
    }

    pub fn running(&self) -> bool {
        self.id.is_some() && self.result.is_none()
    }

    /// The stage running now, or the last one that ran.
    pub fn current_stage(&self) -> Option<usize> {
        let find = |f: fn(&StageState) -> bool| self.stages.iter().position(|s| f(&s.state));
        find(|s| matches!(s, StageState::Running { .. }))
            // Once it is over, the stage that failed is what to read (the
            // cleanup stages after it are not).
            .or_else(|| {
                (!self.running())
                    .then(|| find(|s| matches!(s, StageState::Failed { .. })))
                    .flatten()
            })
            .or_else(|| {
                self.stages
                    .iter()
                    .rposition(|s| !matches!(s.state, StageState::Pending))
            })
    }

    /// Applies one engine event.
    pub fn apply(&mut self, ev: EngineEvent) {
        match ev {
            EngineEvent::PlanReady { plan } => {
                if let crate::engine::Action::Deploy { version, .. } = &plan.action {
                    self.version = Some(version.to_string());
                }
                self.warnings = plan.warnings.clone();
                self.stages = plan
                    .stages
                    .iter()
                    .map(|s| StageView {
                        name: s.name.clone(),
                        hosts: s.hosts.iter().map(|h| h.to_string()).collect(),
                        state: StageState::Pending,
                        host_status: BTreeMap::new(),
                        output: Vec::new(),
                        dropped: 0,
                    })
                    .collect();
            }
            EngineEvent::StageStarted { stage, at, .. } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    s.state = StageState::Running { since: at };
                }
            }
            EngineEvent::Output { stage, host, line } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    let line = strip_controls(&line);
                    s.push(match host {
                        Some(h) => format!("{h}: {line}"),
                        None => line,
                    });
                }
            }
            EngineEvent::ExecOutput {
                stage,
                host,
                container,
                stream,
                line,
            } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    let bang = if stream == crate::engine::OutputStream::Stderr {
                        "!"
                    } else {
                        ""
                    };
                    s.push(format!(
                        "{host}: {container}{bang}: {}",
                        strip_controls(&line)
                    ));
                }
            }
            EngineEvent::HostProgress {
                stage,
                host,
                status,
            } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    let status = strip_controls(&status);
                    s.push(format!("{host}: {status}"));
                    s.host_status.insert(host, status);
                }
            }
            EngineEvent::HealthProbe {
                stage,
                host,
                container,
                health,
                output,
            } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    let out = output
                        .filter(|o| !o.is_empty())
                        .map(|o| format!(" ({})", strip_controls(&o)))
                        .unwrap_or_default();
                    s.push(format!("{host}: {container} {health}{out}"));
                    s.host_status.insert(host, format!("{container} {health}"));
                }
            }
            EngineEvent::StageFinished {
                stage,
                outcome,
                elapsed_ms,
                ..
            } => {
                if let Some(s) = self.stages.get_mut(stage) {
                    s.state = match outcome {
                        Outcome::Ok => StageState::Ok { elapsed_ms },
                        Outcome::Failed { error } => {
                            let error = strip_controls(&error);
                            for line in error.lines() {
                                s.push(format!("✗ {line}"));
                            }
                            StageState::Failed { elapsed_ms, error }
                        }
                        Outcome::Skipped { reason } => StageState::Skipped { reason },
                    };
                }
            }
            EngineEvent::Warning { message } => self.warnings.push(strip_controls(&message)),
            EngineEvent::Finished { result, elapsed_ms } => {
                self.result = Some(result);
                self.elapsed_ms = Some(elapsed_ms);
            }
        }
    }

    /// `deploy demo v2 [staging]`.
    pub fn title(&self) -> String {
        let mut t = format!("{} {}", self.verb, self.app);
        if let Some(v) = &self.version {
            t.push(' ');
            t.push_str(v);
        }
        if !self.destination.is_empty() {
            t.push_str(&format!(" [{}]", self.destination));
        }
        t
    }

    /// Is `record` this console's own run, written to history when it ended?
    pub fn same_as(&self, record: &Record, performer: &str) -> bool {
        self.id.is_some()
            && record.app == self.app
            && record.action == self.verb
            && record.destination == self.destination
            && record.performer.to_string() == performer
            && (record.started_at - self.started_at).num_seconds().abs() <= 2
    }
}
