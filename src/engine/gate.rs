//! The health gate: waits until a new container is healthy (Docker health),
//! or, with no healthcheck, has stayed running without a restart for
//! `min_uptime`. Always within a deadline. Driven by the engine's events for
//! that one container, with a slow re-read so probe output shows while it
//! waits. On failure the error says what was looked for and what was found.

use std::time::Duration;

use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::docker::Client;
use crate::domain::{Container, Health, State};
use crate::labels::Selector;

/// How often the gate re-reads the container while it waits, to report probe
/// results (the engine only sends an event when health *changes*).
const PROBE_REFRESH: Duration = Duration::from_secs(2);

pub struct Gate<'a> {
    pub docker: &'a Client,
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
        let mut events = self.docker.events_of(self.container_id).fuse();
        let mut initial_restarts = None;
        let mut last_seen: Option<Seen> = None;
        loop {
            let c = match self.docker.inspect(self.container_id).await {
                Ok(Some(c)) => c,
                Ok(None) => {
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
                        e.reason()
                    )));
                }
            };
            let restarts = c.restart_count;
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

    fn verdict(&self, c: &Container, new_restarts: i64) -> Verdict {
        match c.state {
            State::Running => {}
            State::Created => return Verdict::Wait { until: None },
            State::Restarting => {
                return Verdict::Fail("is restarting (it exited after starting)".into());
            }
            other => {
                let code = c
                    .exit_code
                    .map(|c| format!(" with code {c}"))
                    .unwrap_or_default();
                let oom = if c.oom_killed {
                    " (killed: out of memory)"
                } else {
                    ""
                };
                return Verdict::Fail(format!("{}{code}{oom}", other.as_str()));
            }
        }
        if new_restarts > 0 {
            return Verdict::Fail(format!(
                "restarted {new_restarts} time(s) while the gate waited"
            ));
        }
        match c.health {
            Health::Healthy => Verdict::Pass,
            Health::Unhealthy => Verdict::Fail("is unhealthy".into()),
            Health::Starting => Verdict::Wait { until: None },
            // No healthcheck: it must stay up for min_uptime.
            Health::None => {
                let up = c
                    .started_at
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
    async fn diagnose(&self, why: &str, c: Option<&Container>) -> String {
        let mut out = format!("host {}: {} {why}", self.host, self.container_name);
        out.push_str(&format!("\n  looked for: {}", self.selector.describe()));
        match self.docker.list(&self.selector, true).await {
            Ok(list) if list.is_empty() => {
                out.push_str("\n  found: no container with those labels")
            }
            Ok(list) => {
                let found: Vec<String> = list
                    .iter()
                    .map(|s| {
                        format!(
                            "{} ({})",
                            s.name.clone(),
                            crate::sanitize::one_line(if s.status.is_empty() {
                                "?"
                            } else {
                                &s.status
                            })
                        )
                    })
                    .collect();
                out.push_str(&format!("\n  found: {}", found.join(", ")));
            }
            Err(e) => out.push_str(&format!("\n  found: (could not list: {e})")),
        }
        let checks: Vec<String> = c
            .map(|c| c.health_log.as_slice())
            .unwrap_or_default()
            .iter()
            .rev()
            .take(3)
            .map(|r| {
                let text = crate::sanitize::one_line(r.output.trim());
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
        self.docker
            .tail(self.container_id, n, Duration::from_secs(2))
            .await
    }
}

fn seen(c: &Container) -> Seen {
    Seen {
        health: match c.health {
            Health::None => "running (no healthcheck)".into(),
            h => h.as_str().to_string(),
        },
        last_output: c
            .health_log
            .last()
            .map(|r| crate::sanitize::one_line(r.output.trim())),
    }
}
