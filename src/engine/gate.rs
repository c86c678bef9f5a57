//! The health gate: waits until a new container is healthy (Docker health),
//! or, with no healthcheck, has stayed running without a restart for
//! `min_uptime`. Always within a deadline. Driven by the engine's events for
//! that one container, with a slow re-read so probe output shows while it
//! waits. On failure the error says what was looked for and what was found.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{EventsOptions, LogsOptions};
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::containers;
use crate::docker::{describe, is_not_found};
use crate::labels::Selector;

/// How often the gate re-reads the container while it waits, to report probe
/// results (the engine only sends an event when health *changes*).
const PROBE_REFRESH: Duration = Duration::from_secs(2);

pub struct Gate<'a> {
    pub docker: &'a Docker,
    pub host: &'a str,
    pub container_id: &'a str,
    pub container_name: &'a str,
    /// The exact labels of the new container, for diagnostics.
    pub selector: Selector,
    pub min_uptime: Duration,
    pub timeout: Duration,
}

#[derive(Debug)]
pub enum GateError {
    Failed(String),
    Cancelled,
}

/// What the gate saw on one read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub health: String,
    pub last_output: Option<String>,
}

enum Verdict {
    Pass,
    Wait { until: Option<Instant> },
    Fail(String),
}

impl Gate<'_> {
    pub async fn wait(
        &self,
        cancel: &CancellationToken,
        mut on_seen: impl FnMut(&Seen),
    ) -> Result<(), GateError> {
        let deadline = Instant::now() + self.timeout;
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("container".to_string(), vec![self.container_id.to_string()]),
        ]);
        let mut events = self
            .docker
            .events(Some(EventsOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .fuse();
        let mut initial_restarts = None;
        let mut last_seen: Option<Seen> = None;
        loop {
            let c = match self.docker.inspect_container(self.container_id, None).await {
                Ok(c) => c,
                Err(e) if is_not_found(&e) => {
                    return Err(GateError::Failed(
                        self.diagnose("was removed while the gate waited", None)
                            .await,
                    ));
                }
                Err(e) => {
                    return Err(GateError::Failed(format!(
                        "host {}: reading {}: {}",
                        self.host,
                        self.container_name,
                        describe(&e)
                    )));
                }
            };
            let restarts = c.restart_count.unwrap_or(0);
            let initial = *initial_restarts.get_or_insert(restarts);
            let seen = seen(&c);
            if last_seen.as_ref() != Some(&seen) {
                on_seen(&seen);
                last_seen = Some(seen);
            }
            let wake = match self.verdict(&c, restarts - initial) {
                Verdict::Pass => return Ok(()),
                Verdict::Fail(why) => {
                    return Err(GateError::Failed(self.diagnose(&why, Some(&c)).await));
                }
                Verdict::Wait { until } => until
                    .unwrap_or(deadline)
                    .min(deadline)
                    .min(Instant::now() + PROBE_REFRESH),
            };
            tokio::select! {
                _ = cancel.cancelled() => return Err(GateError::Cancelled),
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= deadline {
                        let why = format!(
                            "is still {} after the {}s deadline",
                            last_seen.as_ref().map(|s| s.health.as_str()).unwrap_or("unknown"),
                            self.timeout.as_secs_f32()
                        );
                        return Err(GateError::Failed(self.diagnose(&why, Some(&c)).await));
                    }
                }
                // Any event for the container: read it again.
                _ = events.next() => {}
            }
        }
    }

    fn verdict(&self, c: &ContainerInspectResponse, new_restarts: i64) -> Verdict {
        let state = c.state.clone().unwrap_or_default();
        match state.status {
            Some(ContainerStateStatusEnum::RUNNING) => {}
            Some(ContainerStateStatusEnum::CREATED) => return Verdict::Wait { until: None },
            Some(ContainerStateStatusEnum::RESTARTING) => {
                return Verdict::Fail("is restarting (it exited after starting)".into());
            }
            other => {
                let code = state
                    .exit_code
                    .map(|c| format!(" with code {c}"))
                    .unwrap_or_default();
                let oom = if state.oom_killed == Some(true) {
                    " (killed: out of memory)"
                } else {
                    ""
                };
                let what = other
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "gone".into());
                return Verdict::Fail(format!("{what}{code}{oom}"));
            }
        }
        if new_restarts > 0 {
            return Verdict::Fail(format!(
                "restarted {new_restarts} time(s) while the gate waited"
            ));
        }
        match state.health.and_then(|h| h.status) {
            Some(HealthStatusEnum::HEALTHY) => Verdict::Pass,
            Some(HealthStatusEnum::UNHEALTHY) => Verdict::Fail("is unhealthy".into()),
            Some(HealthStatusEnum::STARTING) => Verdict::Wait { until: None },
            // No healthcheck: it must stay up for min_uptime.
            _ => {
                let started = state
                    .started_at
                    .as_deref()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc));
                let up = started
                    .map(|s| (chrono::Utc::now() - s).to_std().unwrap_or_default())
                    .unwrap_or_default();
                if up >= self.min_uptime {
                    Verdict::Pass
                } else {
                    Verdict::Wait {
                        until: Some(Instant::now() + (self.min_uptime - up)),
                    }
                }
            }
        }
    }

    /// The failure message: host, container, filters, what matched, the last
    /// checks and the last log lines.
    async fn diagnose(&self, why: &str, c: Option<&ContainerInspectResponse>) -> String {
        let mut out = format!("host {}: {} {why}", self.host, self.container_name);
        out.push_str(&format!("\n  looked for: {}", self.selector.describe()));
        match containers::list(self.docker, &self.selector, true).await {
            Ok(list) if list.is_empty() => {
                out.push_str("\n  found: no container with those labels")
            }
            Ok(list) => {
                let found: Vec<String> = list
                    .iter()
                    .map(|s| {
                        format!(
                            "{} ({})",
                            containers::summary_name(s),
                            crate::sanitize::one_line(s.status.as_deref().unwrap_or("?"))
                        )
                    })
                    .collect();
                out.push_str(&format!("\n  found: {}", found.join(", ")));
            }
            Err(e) => out.push_str(&format!("\n  found: (could not list: {e})")),
        }
        let checks: Vec<String> = c
            .and_then(|c| c.state.as_ref()?.health.as_ref()?.log.clone())
            .unwrap_or_default()
            .iter()
            .rev()
            .take(3)
            .map(|r| {
                let text = crate::sanitize::one_line(r.output.as_deref().unwrap_or("").trim());
                format!("exit {}: {text}", r.exit_code.unwrap_or(-1))
            })
            .collect();
        if !checks.is_empty() {
            out.push_str(&format!(
                "\n  last checks (newest first): {}",
                checks.join(" | ")
            ));
        }
        let logs = self.tail_logs(5).await;
        if !logs.is_empty() {
            out.push_str("\n  last log lines:");
            for l in logs {
                out.push_str(&format!("\n    {l}"));
            }
        }
        out
    }

    async fn tail_logs(&self, n: usize) -> Vec<String> {
        let opts = LogsOptions {
            stdout: true,
            stderr: true,
            tail: n.to_string(),
            ..Default::default()
        };
        let mut stream = self.docker.logs(self.container_id, Some(opts));
        let mut split = containers::LineSplitter::default();
        let mut lines = Vec::new();
        let collect = async {
            while let Some(Ok(chunk)) = stream.next().await {
                lines.extend(split.push(&chunk.into_bytes()));
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), collect).await;
        lines.extend(split.finish());
        lines
    }
}

fn seen(c: &ContainerInspectResponse) -> Seen {
    let health = c.state.as_ref().and_then(|s| s.health.as_ref());
    Seen {
        health: health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none")
            .unwrap_or_else(|| "running (no healthcheck)".into()),
        last_output: health
            .and_then(|h| h.log.as_ref()?.last().cloned())
            .map(|r| crate::sanitize::one_line(r.output.as_deref().unwrap_or("").trim())),
    }
}
