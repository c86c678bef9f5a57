//! Runs a plan. Stages run in order; within a stage the hosts of a boot
//! group proceed in parallel. Every effect on the fleet (a container booted,
//! an old one stopped, a retained one started) is recorded, so that when a
//! stage fails or the operator cancels, the `restore` stage can put the old
//! version back: old containers started again, new ones removed.
//! Cancellation is honoured between stages and inside waits, never in the
//! middle of creating a container.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::Failure;
use super::event::{EngineEvent, FailureKind, Outcome, RunResult};
use super::gate::{Gate, GateError};
use super::history::{self, Performer, Record};
use super::lock::{self, LockError, Nested};
use super::orphans;
use super::plan::{Group, Plan, Stage, Step};
use super::proxy::routing;
use super::trigger::Implementation;
use super::{Action, Version};
use crate::config::{AppConfig, Config, ConfigError, HostName, RoleName, Secret};
use crate::docker::{self, Client, ContainerSpec, Gateway};
use crate::hosts::{self, Endpoint};
use crate::labels::{self, BerthLabels, Selector};

mod boot;
mod connect;
mod image;
mod locking;
mod restore;
mod traffic;
mod triggers;
use traffic::Switched;

/// Everything a run needs besides the plan.
pub struct RunContext<'a> {
    pub config: &'a Config,
    /// The way to every host's engine and files.
    pub gateway: Gateway,
    pub events: UnboundedSender<EngineEvent>,
    pub cancel: CancellationToken,
    pub performer: Performer,
    /// Wait this long for a lock held by another action (never behind a
    /// manual lock); `None` fails at once.
    pub lock_wait: Option<Duration>,
    /// BERTH_LOCK_TOKEN of a calling action: when it names the lock held on
    /// this app, the run re-enters it instead of failing.
    pub lock_token: Option<String>,
    /// This run's id: on every container it creates (`berth.run`), in its
    /// lock and in its history line, so what a dead run left can be told
    /// from what a finished or live one did.
    pub run_id: String,
}

impl<'a> RunContext<'a> {
    pub fn new(
        config: &'a Config,
        gateway: Gateway,
        events: UnboundedSender<EngineEvent>,
        cancel: CancellationToken,
    ) -> Self {
        RunContext {
            config,
            gateway,
            events,
            cancel,
            performer: Performer::current(),
            lock_wait: None,
            lock_token: None,
            run_id: lock::new_run_id(),
        }
    }
}

/// The lock this run holds (or joined as a nested call).
struct HeldLock {
    dir: hosts::HostPath,
    token: String,
    nested: bool,
    heartbeat: Option<tokio::task::JoinHandle<()>>,
}

/// Why a step did not finish.
enum StepError {
    Failed(Failure),
    Cancelled,
}

impl From<Failure> for StepError {
    fn from(e: Failure) -> Self {
        StepError::Failed(e)
    }
}

impl From<String> for StepError {
    fn from(e: String) -> Self {
        StepError::Failed(e.into())
    }
}

enum Done {
    Ok,
    Skipped(String),
}

/// A container this run brought up for a role on a host.
#[derive(Clone, Debug)]
struct Fresh {
    id: String,
    name: String,
    version: String,
}

/// How a fresh container came to be: restore removes booted ones and stops
/// retained ones again.
#[derive(Clone, Copy)]
enum Origin {
    Booted,
    Retained,
}

/// A container, for the restore list.
#[derive(Clone, Debug)]
struct Touched {
    host: HostName,
    id: String,
    name: String,
}

/// Runs the futures at most `limit` at once; results in their order.
fn bounded<T, F: Future<Output = T>>(
    limit: usize,
    work: impl IntoIterator<Item = F>,
) -> impl Future<Output = Vec<T>> {
    // Collected first: a lazy map over closures held across the awaits
    // trips the compiler's Send check for spawned runs.
    let work: Vec<F> = work.into_iter().collect();
    futures_util::stream::iter(work)
        .buffered(limit.max(1))
        .collect()
}

struct Runner<'a> {
    ctx: RunContext<'a>,
    plan: &'a Plan,
    app: &'a AppConfig,
    destination: String,
    secrets: Result<BTreeMap<String, Secret>, ConfigError>,
    /// Each connected host's engine (which keeps an SSH host's tunnel open).
    docker: HashMap<HostName, Client>,
    fresh: HashMap<(RoleName, HostName), Fresh>,
    booted: Vec<Touched>,
    started_retained: Vec<Touched>,
    stopped_old: Vec<Touched>,
    /// Proxies this run pointed elsewhere, with what they pointed at before.
    switched: Vec<Switched>,
    proxy: Option<crate::config::ProxySettings>,
    lock: Option<HeldLock>,
    /// `host: container (exit N)` of each container an exec ran in.
    exec_ran: Vec<String>,
    /// The registry digest every host holds of the version (with a
    /// registry), for the history.
    digest: Option<String>,
}

/// Runs `plan`, reporting on `ctx.events`, and returns how it ended. The
/// old version keeps serving whenever the result is not `Ok`.
pub async fn run(ctx: RunContext<'_>, plan: &Plan) -> RunResult {
    let app = match ctx.config.app(&plan.app) {
        Ok(app) => app,
        Err(error) => {
            let result = RunResult::Failed {
                stage: "plan".into(),
                error: error.to_string(),
                kind: FailureKind::Refused,
            };
            let _ = ctx.events.send(EngineEvent::Finished {
                result: result.clone(),
                elapsed_ms: 0,
            });
            return result;
        }
    };
    let secrets = ctx.config.read_secrets().await;
    let runner = Runner {
        app,
        plan,
        destination: plan
            .destination
            .as_ref()
            .map(|d| d.to_string())
            .unwrap_or_default(),
        secrets,
        docker: HashMap::new(),
        fresh: HashMap::new(),
        booted: Vec::new(),
        started_retained: Vec::new(),
        stopped_old: Vec::new(),
        switched: Vec::new(),
        proxy: ctx.config.proxy(&plan.app, plan.destination.as_ref()),
        lock: None,
        exec_ran: Vec::new(),
        digest: None,
        ctx,
    };
    // Every line logged while it runs says which run, app and action.
    let span = tracing::info_span!(
        "run",
        id = %runner.ctx.run_id,
        app = %plan.app,
        action = %plan.action.verb(),
        destination = %runner.destination,
    );
    tracing::Instrument::instrument(runner.run(), span).await
}

impl Runner<'_> {
    fn emit(&self, e: EngineEvent) {
        // A renderer that went away must not stop the run half-way.
        let _ = self.ctx.events.send(e);
    }

    fn out(&self, stage: usize, host: Option<&HostName>, line: impl Into<String>) {
        let line = line.into();
        match host {
            Some(h) => tracing::info!(host = %h, "{line}"),
            None => tracing::info!("{line}"),
        }
        self.emit(EngineEvent::Output {
            stage,
            host: host.map(|h| h.to_string()),
            line,
        });
    }

    /// A line a command printed in `container` (`berth exec`).
    fn exec_out(
        &self,
        stage: usize,
        host: &HostName,
        container: &str,
        stream: crate::docker::LogStream,
        line: String,
    ) {
        tracing::info!(host = %host, container, "{line}");
        self.emit(EngineEvent::ExecOutput {
            stage,
            host: host.to_string(),
            container: container.to_string(),
            stream: match stream {
                crate::docker::LogStream::Stdout => super::event::OutputStream::Stdout,
                crate::docker::LogStream::Stderr => super::event::OutputStream::Stderr,
            },
            line,
        });
    }

    fn progress(&self, stage: usize, host: &HostName, status: impl Into<String>) {
        self.emit(EngineEvent::HostProgress {
            stage,
            host: host.to_string(),
            status: status.into(),
        });
    }

    async fn run(mut self) -> RunResult {
        let started = Instant::now();
        let started_at = Utc::now();
        tracing::info!(
            stages = self.plan.stages.len(),
            by = %self.ctx.performer,
            "{} started",
            self.plan.action.describe()
        );
        self.emit(EngineEvent::PlanReady {
            plan: self.plan.clone(),
        });
        let warming = self.warm_up_ssh_hosts();
        let mut result = RunResult::Ok;
        for (i, stage) in self.plan.stages.iter().enumerate() {
            let t = Instant::now();
            let hosts: Vec<&str> = stage.hosts.iter().map(|h| h.as_str()).collect();
            let span = tracing::info_span!("stage", n = i + 1, name = %stage.name, hosts = %hosts.join(","));
            let finish = |runner: &Self, outcome: Outcome| {
                let _in = span.enter();
                match &outcome {
                    Outcome::Ok => tracing::info!(ms = t.elapsed().as_millis() as u64, "ok"),
                    Outcome::Skipped { reason } => tracing::info!("skipped: {reason}"),
                    Outcome::Failed { error } => {
                        tracing::warn!(ms = t.elapsed().as_millis() as u64, "failed: {error}")
                    }
                }
                runner.emit(EngineEvent::StageFinished {
                    stage: i,
                    name: stage.name.clone(),
                    outcome,
                    elapsed_ms: t.elapsed().as_millis() as u64,
                })
            };
            if let Some(reason) = self.skip_reason(&stage.step, &mut result, &stage.name) {
                finish(&self, Outcome::Skipped { reason });
                continue;
            }
            self.emit(EngineEvent::StageStarted {
                stage: i,
                name: stage.name.clone(),
                at: Utc::now(),
            });
            let step = tracing::Instrument::instrument(self.step(i, stage), span.clone());
            let outcome = match step.await {
                Ok(Done::Ok) => Outcome::Ok,
                Ok(Done::Skipped(reason)) => Outcome::Skipped { reason },
                Err(e) => {
                    let error = match &e {
                        StepError::Failed(failure) => {
                            self.with_dropped_hosts(&stage.hosts, failure.to_string())
                                .await
                        }
                        StepError::Cancelled => "cancelled".to_string(),
                    };
                    // A failing finally-stage is reported, but the run's
                    // result stays what made it fail in the first place.
                    if !stage.step.is_finally() {
                        result = match e {
                            StepError::Failed(failure) => RunResult::Failed {
                                stage: stage.name.clone(),
                                error: error.clone(),
                                kind: failure.kind(),
                            },
                            StepError::Cancelled => RunResult::Cancelled {
                                stage: Some(stage.name.clone()),
                            },
                        };
                    }
                    Outcome::Failed { error }
                }
            };
            finish(&self, outcome);
        }
        self.write_history(started_at, &result).await;
        warming.abort();
        match &result {
            RunResult::Ok => tracing::info!(ms = started.elapsed().as_millis() as u64, "ok"),
            RunResult::Failed { stage, error, .. } => {
                tracing::warn!("failed at `{stage}`: {error}; the previous version keeps serving")
            }
            RunResult::Cancelled { .. } => {
                tracing::warn!("cancelled; the previous version keeps serving")
            }
        }
        self.emit(EngineEvent::Finished {
            result: result.clone(),
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
        result
    }

    /// Why a stage does not run, if it does not. The finally-part (restore,
    /// deploy-failed, unlock) runs after a failure; the rest stops at the
    /// first failure or at a cancel.
    fn skip_reason(&self, step: &Step, result: &mut RunResult, name: &str) -> Option<String> {
        let reason = if step.is_finally() {
            match step {
                Step::Restore if result.is_ok() => "the run succeeded",
                Step::Restore if !self.has_effects() => "nothing was changed",
                Step::Trigger { .. } if result.is_ok() => "the run succeeded",
                Step::Trigger { .. } | Step::Unlock if self.lock.is_none() => {
                    "the lock was not taken"
                }
                _ => return None,
            }
            .to_string()
        } else {
            match result {
                RunResult::Failed { stage, .. } => format!("not run: `{stage}` failed"),
                RunResult::Cancelled { .. } => "cancelled".to_string(),
                RunResult::Ok if self.ctx.cancel.is_cancelled() => {
                    *result = RunResult::Cancelled {
                        stage: Some(name.to_string()),
                    };
                    "cancelled".to_string()
                }
                RunResult::Ok => return None,
            }
        };
        Some(reason)
    }

    fn has_effects(&self) -> bool {
        !(self.booted.is_empty()
            && self.stopped_old.is_empty()
            && self.started_retained.is_empty()
            && self.switched.is_empty())
    }

    /// Hosts worked on at once (`parallel_hosts`).
    fn parallel(&self) -> usize {
        self.ctx.config.fleet.parallel_hosts.get()
    }

    /// The engine of a host of the current stage (`step` connects them
    /// first); `Err` guards against a bug, and says so.
    fn dock(&self, host: &HostName) -> Result<&Client, Failure> {
        self.docker
            .get(host)
            .ok_or_else(|| Failure::at(host, "not connected (a berth bug: please report it)"))
    }

    fn selector(
        &self,
        role: Option<&RoleName>,
        version: Option<&str>,
        host: Option<&HostName>,
    ) -> Selector {
        Selector {
            app: self.plan.app.to_string(),
            destination: self.destination.clone(),
            role: role.map(|r| r.to_string()),
            version: version.map(str::to_string),
            host: host.map(|h| h.to_string()),
        }
    }

    async fn step(&mut self, i: usize, stage: &Stage) -> Result<Done, StepError> {
        self.connect(&stage.hosts).await?;
        match &stage.step {
            Step::Lock => self.take_lock(i, first(&stage.hosts)?).await,
            Step::Unlock => self.unlock(i).await,
            Step::Trigger { trigger, run, .. } => {
                self.run_trigger(i, trigger, run, &stage.hosts).await
            }
            Step::Traffic { group } => self.traffic(i, group, &stage.hosts).await,
            Step::Drain { group, timeout } => {
                self.drain(i, group, &stage.hosts, timeout.get()).await
            }
            Step::RemoveRoute => self.remove_routes(i, &stage.hosts).await,
            Step::Image { image } => self.image(i, &stage.hosts, image).await,
            Step::ReleaseTask {
                image,
                command,
                version,
            } => {
                self.release_task(i, first(&stage.hosts)?, image, command, version)
                    .await?;
                Ok(Done::Ok)
            }
            Step::Boot {
                group,
                image,
                version,
            } => {
                let version = version.to_string();
                let results = bounded(
                    self.parallel(),
                    stage
                        .hosts
                        .iter()
                        .map(|h| self.boot_one(i, &group.role, h, &version, image)),
                )
                .await;
                self.record_fresh(&group.role, &stage.hosts, results, Origin::Booted)?;
                Ok(Done::Ok)
            }
            Step::Reboot { group } => {
                let results = bounded(
                    self.parallel(),
                    stage
                        .hosts
                        .iter()
                        .map(|h| self.reboot_one(i, &group.role, h)),
                )
                .await;
                self.record_fresh(&group.role, &stage.hosts, results, Origin::Booted)?;
                Ok(Done::Ok)
            }
            Step::StartRetained { group, version } => {
                let results = bounded(
                    self.parallel(),
                    stage
                        .hosts
                        .iter()
                        .map(|h| self.start_retained_one(i, &group.role, h, version.as_ref())),
                )
                .await;
                self.record_fresh(&group.role, &stage.hosts, results, Origin::Retained)?;
                Ok(Done::Ok)
            }
            Step::HealthGate { group } => {
                let work = bounded(
                    self.parallel(),
                    stage.hosts.iter().map(|h| self.gate_one(i, group, h)),
                );
                let results = work.await;
                let mut errors = Vec::new();
                for r in results {
                    match r {
                        Ok(()) => {}
                        Err(GateError::Cancelled) => return Err(StepError::Cancelled),
                        Err(GateError::Failed(e)) => errors.push(Failure::from(e)),
                    }
                }
                if errors.is_empty() {
                    Ok(Done::Ok)
                } else {
                    Err(StepError::Failed(Failure::Several(errors)))
                }
            }
            Step::StopOld { group } => {
                let results = bounded(
                    self.parallel(),
                    stage
                        .hosts
                        .iter()
                        .map(|h| self.stop_old_one(i, &group.role, h)),
                )
                .await;
                let mut first = None;
                for (host, r) in stage.hosts.iter().zip(results) {
                    let (stopped, err) = r;
                    self.stopped_old
                        .extend(stopped.into_iter().map(|(id, name)| Touched {
                            host: host.clone(),
                            id,
                            name,
                        }));
                    if let Some(e) = err {
                        first.get_or_insert(e);
                    }
                }
                first.map_or(Ok(Done::Ok), |e| Err(e.into()))
            }
            Step::Prune { retain } => {
                first_error(
                    bounded(
                        self.parallel(),
                        stage.hosts.iter().map(|h| self.prune_one(i, h, *retain)),
                    )
                    .await,
                )?;
                // An orphan kept at the lock because it was serving has
                // been replaced by now.
                self.sweep_orphans(i).await;
                Ok(Done::Ok)
            }
            Step::RemoveContainers { purge_volumes } => {
                first_error(
                    bounded(
                        self.parallel(),
                        stage
                            .hosts
                            .iter()
                            .map(|h| self.remove_all_one(i, h, *purge_volumes)),
                    )
                    .await,
                )?;
                Ok(Done::Ok)
            }
            Step::RemoveState => {
                // The audit history outlives what it audits (destroy records
                // itself in it at the end); everything else of the app goes.
                let app = self.plan.app.as_str();
                for host in &stage.hosts {
                    let dir = self.state_dir(host).await?;
                    let app_dir = history::app_dir(&dir, app);
                    let files = app_dir
                        .read_dir_files()
                        .await
                        .map_err(Failure::on(host))?
                        .unwrap_or_default();
                    for (name, _) in files.iter().filter(|(n, _)| n != history::FILE) {
                        app_dir
                            .join(name)
                            .remove_file()
                            .await
                            .map_err(Failure::on(host))?;
                        self.out(i, Some(host), format!("removed {}", app_dir.join(name)));
                    }
                    self.out(
                        i,
                        Some(host),
                        format!("kept the history (`berth history {app}` shows it)"),
                    );
                }
                Ok(Done::Ok)
            }
            Step::Exec { role, command } => {
                let results = bounded(
                    self.parallel(),
                    stage
                        .hosts
                        .iter()
                        .map(|h| self.exec_on(i, role, h, command)),
                )
                .await;
                let mut failed = Vec::new();
                for r in results {
                    match r {
                        Ok(ran) => self.exec_ran.extend(ran),
                        Err((ran, e)) => {
                            self.exec_ran.extend(ran);
                            failed.push(e);
                        }
                    }
                }
                match failed.len() {
                    0 => Ok(Done::Ok),
                    1 => Err(StepError::Failed(failed.remove(0))),
                    _ => Err(StepError::Failed(Failure::Several(failed))),
                }
            }
            Step::Container { container, op } => {
                self.container_op(i, first(&stage.hosts)?, container, *op)
                    .await?;
                Ok(Done::Ok)
            }
            Step::Restore => {
                self.restore(i).await?;
                Ok(Done::Ok)
            }
        }
    }
}

/// A stage's first host (plans give every stage one or more).
fn first(hosts: &[HostName]) -> Result<&HostName, StepError> {
    hosts.first().ok_or_else(|| {
        StepError::Failed(Failure::from(
            "a stage with no host (a berth bug: please report it)".to_string(),
        ))
    })
}

fn first_error<T>(results: Vec<Result<T, Failure>>) -> Result<Vec<T>, StepError> {
    results
        .into_iter()
        .collect::<Result<Vec<T>, Failure>>()
        .map_err(StepError::Failed)
}

#[cfg(test)]
mod tests;
