//! Runs a plan. Stages run in order; within a stage the hosts of a boot
//! group proceed in parallel. Every effect on the fleet (a container booted,
//! an old one stopped, a retained one started) is recorded, so that when a
//! stage fails or the operator cancels, the `restore` stage can put the old
//! version back: old containers started again, new ones removed.
//! Cancellation is honoured between stages and inside waits, never in the
//! middle of creating a container.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{CreateImageOptions, LogsOptions, WaitContainerOptions};
use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::containers::{self, ContainerSpec};
use super::event::{EngineEvent, Outcome, RunResult};
use super::gate::{Gate, GateError};
use super::history::{self, Performer, Record};
use super::lock::{self, LockError, Nested};
use super::orphans;
use super::plan::{Group, Plan, Stage, Step};
use super::trigger::Implementation;
use super::{Action, Version};
use crate::config::{AppConfig, Config, ConfigError, HostName, RoleName, Secret};
use crate::docker::{self, describe};
use crate::hosts::{self, Endpoint};
use crate::labels::{self, BerthLabels, Selector};

mod traffic;
use traffic::Switched;

/// Everything a run needs besides the plan.
pub struct RunContext<'a> {
    pub config: &'a Config,
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
        events: UnboundedSender<EngineEvent>,
        cancel: CancellationToken,
    ) -> Self {
        RunContext {
            config,
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
    Failed(String),
    Cancelled,
}

impl From<String> for StepError {
    fn from(e: String) -> Self {
        StepError::Failed(e)
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
    docker: HashMap<HostName, Docker>,
    /// What keeps each connected host's socket open (its SSH tunnel).
    reach: HashMap<HostName, hosts::Reach>,
    fresh: HashMap<(RoleName, HostName), Fresh>,
    booted: Vec<Touched>,
    started_retained: Vec<Touched>,
    stopped_old: Vec<Touched>,
    /// Proxies this run pointed elsewhere, with what they pointed at before.
    switched: Vec<Switched>,
    proxy: Option<crate::config::ProxySettings>,
    lock: Option<HeldLock>,
}

/// Runs `plan`, reporting on `ctx.events`, and returns how it ended. The
/// old version keeps serving whenever the result is not `Ok`.
pub async fn run(ctx: RunContext<'_>, plan: &Plan) -> RunResult {
    let app = match ctx.config.app(&plan.app) {
        Ok(app) => app,
        Err(error) => {
            let result = RunResult::Failed {
                stage: "plan".into(),
                error,
            };
            let _ = ctx.events.send(EngineEvent::Finished {
                result: result.clone(),
                elapsed_ms: 0,
            });
            return result;
        }
    };
    let secrets = ctx.config.load_secrets();
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
        reach: HashMap::new(),
        fresh: HashMap::new(),
        booted: Vec::new(),
        started_retained: Vec::new(),
        stopped_old: Vec::new(),
        switched: Vec::new(),
        proxy: ctx.config.proxy(&plan.app, plan.destination.as_ref()),
        lock: None,
        ctx,
    };
    runner.run().await
}

impl Runner<'_> {
    fn emit(&self, e: EngineEvent) {
        // A renderer that went away must not stop the run half-way.
        let _ = self.ctx.events.send(e);
    }

    fn out(&self, stage: usize, host: Option<&HostName>, line: impl Into<String>) {
        self.emit(EngineEvent::Output {
            stage,
            host: host.map(|h| h.to_string()),
            line: line.into(),
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
        self.emit(EngineEvent::PlanReady {
            plan: self.plan.clone(),
        });
        let warming = self.warm_up_ssh_hosts();
        let mut result = RunResult::Ok;
        for (i, stage) in self.plan.stages.iter().enumerate() {
            let t = Instant::now();
            let finish = |runner: &Self, outcome: Outcome| {
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
            let outcome = match self.step(i, stage).await {
                Ok(Done::Ok) => Outcome::Ok,
                Ok(Done::Skipped(reason)) => Outcome::Skipped { reason },
                Err(e) => {
                    let e = match e {
                        StepError::Failed(error) => {
                            StepError::Failed(self.with_dropped_hosts(&stage.hosts, error).await)
                        }
                        cancelled => cancelled,
                    };
                    let error = match &e {
                        StepError::Failed(error) => error.clone(),
                        StepError::Cancelled => "cancelled".to_string(),
                    };
                    // A failing finally-stage is reported, but the run's
                    // result stays what made it fail in the first place.
                    if !stage.step.is_finally() {
                        result = match e {
                            StepError::Failed(error) => RunResult::Failed {
                                stage: stage.name.clone(),
                                error,
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

    /// Connects to each host of a stage (once per run).
    /// Connects to the hosts not yet connected, `parallel_hosts` at once:
    /// one slow host delays only its own connection.
    async fn connect(&mut self, hosts: &[HostName]) -> Result<(), StepError> {
        let config = self.ctx.config;
        let missing = hosts.iter().filter(|h| !self.docker.contains_key(*h));
        let connected = bounded(
            self.parallel(),
            missing.map(|host| async move {
                let r = match config.host(host) {
                    Ok(cfg) => hosts::connect(&Endpoint::from_config(cfg), Duration::from_secs(10))
                        .await
                        .map_err(|e| format!("host {host}: {e}")),
                    Err(e) => Err(e),
                };
                (host, r)
            }),
        )
        .await;
        for (host, r) in connected {
            let (d, _, reach) = r?;
            self.docker.insert(host.clone(), d);
            self.reach.insert(host.clone(), reach);
        }
        Ok(())
    }

    /// Opens the connections of every SSH host of the plan at once, in the
    /// background, while the first stages (the lock, on the primary host
    /// alone) run: each later stage then finds its hosts' connections open
    /// in the shared pool instead of opening them one stage at a time.
    /// Failures are left for the stage that needs the host to report.
    fn warm_up_ssh_hosts(&self) -> tokio::task::JoinHandle<()> {
        let mut hosts: Vec<&HostName> = self.plan.stages.iter().flat_map(|s| &s.hosts).collect();
        hosts.sort();
        hosts.dedup();
        let endpoints: Vec<Endpoint> = hosts
            .into_iter()
            .filter_map(|h| self.ctx.config.host(h).ok())
            .map(Endpoint::from_config)
            .filter(|e| matches!(e, Endpoint::Ssh { .. }))
            .collect();
        let limit = self.parallel();
        tokio::spawn(async move {
            let reach = endpoints
                .iter()
                .map(|e| hosts::reach(e, lock::REACH_TIMEOUT));
            bounded(limit, reach).await;
        })
    }

    /// A failed stage's error, with a line for each of its SSH hosts whose
    /// connection is gone: "connection closed" from Docker alone does not
    /// say that the host dropped.
    async fn with_dropped_hosts(&self, stage_hosts: &[HostName], mut error: String) -> String {
        for host in stage_hosts {
            let Some(tunnel) = self.reach.get(host).and_then(|r| r.tunnel()) else {
                continue;
            };
            let Ok(cfg) = self.ctx.config.host(host) else {
                continue;
            };
            if !tunnel.alive().await {
                error.push_str(&format!(
                    "\nhost {host}: its SSH connection ({}) dropped; berth did not finish its work there, and reconnects on the next action",
                    Endpoint::from_config(cfg).describe()
                ));
            }
        }
        error
    }

    /// berth's state directory on a host (through its SSH connection).
    async fn state_dir(&self, host: &HostName) -> Result<hosts::HostPath, StepError> {
        hosts::state_dir(self.ctx.config.host(host)?, lock::REACH_TIMEOUT)
            .await
            .map_err(|e| format!("host {host}: {e}").into())
    }

    /// Hosts worked on at once (`parallel_hosts`).
    fn parallel(&self) -> usize {
        self.ctx.config.fleet.parallel_hosts.get()
    }

    /// The engine of a host of the current stage (`step` connects them
    /// first); `Err` guards against a bug, and says so.
    fn dock(&self, host: &HostName) -> Result<&Docker, String> {
        self.docker
            .get(host)
            .ok_or_else(|| format!("host {host}: not connected (a berth bug: please report it)"))
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
            Step::Image { image } => {
                let work = bounded(
                    self.parallel(),
                    stage.hosts.iter().map(|h| self.ensure_image(i, h, image)),
                );
                let results = self.cancellable(work).await?;
                first_error(results)?;
                Ok(Done::Ok)
            }
            Step::ReleaseTask { image, command } => {
                self.release_task(i, first(&stage.hosts)?, image, command)
                    .await?;
                Ok(Done::Ok)
            }
            Step::Boot { group, image } => {
                let version = match &self.plan.action {
                    Action::Deploy { version, .. } => version.to_string(),
                    _ => unreachable!("boot stages belong to deploys"),
                };
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
                        Err(GateError::Failed(e)) => errors.push(e),
                    }
                }
                if errors.is_empty() {
                    Ok(Done::Ok)
                } else {
                    Err(StepError::Failed(errors.join("\n")))
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
                        .map_err(|e| format!("host {host}: {e}"))?
                        .unwrap_or_default();
                    for (name, _) in files.iter().filter(|(n, _)| n != history::FILE) {
                        app_dir
                            .join(name)
                            .remove_file()
                            .await
                            .map_err(|e| format!("host {host}: {e}"))?;
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
            Step::Restore => {
                self.restore(i).await?;
                Ok(Done::Ok)
            }
        }
    }

    async fn take_lock(&mut self, i: usize, host: &HostName) -> Result<Done, StepError> {
        let app = self.plan.app.to_string();
        let state = self.state_dir(host).await?;
        let dir = lock::lock_dir(&state, &app, &self.destination);
        let verb = self.plan.action.verb();
        if let Some(token) = &self.ctx.lock_token
            && let Ok(Some(held)) = lock::read(&dir, Duration::MAX).await
            && held.holder.token == *token
        {
            let nested = Nested {
                action: verb.to_string(),
                pid: std::process::id(),
                since: Utc::now(),
                run: self.ctx.run_id.clone(),
            };
            lock::enter_nested(&dir, token, &nested)
                .await
                .map_err(|e| format!("host {host}: {e}"))?;
            self.out(
                i,
                Some(host),
                format!(
                    "re-entered the lock held by the calling {} (pid {}) as a nested {verb}",
                    held.holder.action, held.holder.pid
                ),
            );
            self.lock = Some(HeldLock {
                dir,
                token: token.clone(),
                nested: true,
                heartbeat: None,
            });
            return Ok(Done::Ok);
        }
        let version = match &self.plan.action {
            Action::Deploy { version, .. } => Some(version.to_string()),
            Action::Rollback { version, .. } => version.as_ref().map(|v| v.to_string()),
            _ => None,
        };
        let mut holder = lock::holder_for(&self.ctx.performer, verb, version, None, false);
        holder.run = self.ctx.run_id.clone();
        let deadline = self.ctx.lock_wait.map(|w| Instant::now() + w);
        let mut noted: Option<Instant> = None;
        loop {
            match lock::acquire(&dir, &holder, self.ctx.config.fleet.lock.ttl.get()).await {
                Ok(()) => break,
                Err(LockError::Held(held)) => {
                    let line = format!("{app} is {}", held.describe(Utc::now()));
                    let Some(deadline) = deadline else {
                        return Err(line.into());
                    };
                    if held.holder.manual {
                        return Err(format!(
                            "{line}; --lock-wait does not wait behind a manual lock: ask its holder, or release it if it is yours"
                        )
                        .into());
                    }
                    if Instant::now() >= deadline {
                        return Err(format!("gave up waiting for the lock: {line}").into());
                    }
                    if noted.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                        self.out(i, Some(host), format!("waiting for the lock: {line}"));
                        noted = Some(Instant::now());
                    }
                    tokio::select! {
                        _ = self.ctx.cancel.cancelled() => return Err(StepError::Cancelled),
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                }
                Err(e) => return Err(format!("host {host}: {e}").into()),
            }
        }
        let every = (self.ctx.config.fleet.lock.ttl.get() / 4)
            .clamp(Duration::from_millis(200), Duration::from_secs(5));
        let (hb_dir, token, events) = (dir.clone(), holder.token.clone(), self.ctx.events.clone());
        let heartbeat = tokio::spawn(async move {
            let mut warned = false;
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = lock::heartbeat(&hb_dir, &token).await
                    && !std::mem::replace(&mut warned, true)
                {
                    let _ = events.send(EngineEvent::Warning {
                        message: format!("lock heartbeat: {e}"),
                    });
                }
            }
        });
        self.out(i, Some(host), format!("locked {app} ({dir})"));
        self.lock = Some(HeldLock {
            dir,
            token: holder.token,
            nested: false,
            heartbeat: Some(heartbeat),
        });
        // With the lock held no other run of the app is alive: what a dead
        // one left can go before this one adds its own.
        self.sweep_orphans(i).await;
        Ok(Done::Ok)
    }

    async fn scan_orphans(
        &self,
        host: &HostName,
        selector: &Selector,
        state: &hosts::HostPath,
        live: &std::collections::HashSet<String>,
    ) -> Result<Vec<orphans::Orphan>, String> {
        orphans::scan(self.dock(host)?, selector, state, live).await
    }

    /// Removes what runs of this app that died left on the plan's hosts
    /// (see `orphans`); a serving one is named and kept. Never fails the
    /// stage: a host that cannot be read here fails the stage that needs it.
    async fn sweep_orphans(&mut self, i: usize) {
        let mut hosts: Vec<HostName> = self
            .plan
            .stages
            .iter()
            .flat_map(|s| s.hosts.iter().cloned())
            .collect();
        hosts.sort();
        hosts.dedup();
        let mut live: std::collections::HashSet<String> = [self.ctx.run_id.clone()].into();
        if let Some(held) = &self.lock
            && let Ok(Some(s)) = lock::read(&held.dir, Duration::MAX).await
        {
            live.extend(s.runs().map(str::to_string));
        }
        for host in hosts {
            if self.connect(std::slice::from_ref(&host)).await.is_err() {
                continue;
            }
            let Ok(state) = self.state_dir(&host).await else {
                continue;
            };
            let selector = self.selector(None, None, Some(&host));
            let found = match self.scan_orphans(&host, &selector, &state, &live).await {
                Ok(found) => found,
                Err(e) => {
                    self.out(i, Some(&host), format!("could not look for orphans: {e}"));
                    continue;
                }
            };
            for o in found.iter().filter(|o| o.serving) {
                self.out(i, Some(&host), format!("orphan {}", o.describe()));
            }
            let removed = match self.dock(&host) {
                Ok(docker) => orphans::remove(docker, &found).await,
                Err(e) => Err(e),
            };
            match removed {
                Ok(removed) => {
                    for name in removed {
                        self.out(
                            i,
                            Some(&host),
                            format!("removed orphan {name} (left by a run that died)"),
                        );
                    }
                }
                Err(e) => self.out(i, Some(&host), format!("could not remove an orphan: {e}")),
            }
        }
    }

    async fn unlock(&mut self, i: usize) -> Result<Done, StepError> {
        let Some(held) = self.lock.take() else {
            return Ok(Done::Skipped("the lock was not taken".into()));
        };
        if let Some(h) = held.heartbeat {
            h.abort();
        }
        if held.nested {
            lock::leave_nested(&held.dir, std::process::id())
                .await
                .map_err(|e| format!("leaving the caller's lock: {e}"))?;
            self.out(
                i,
                None,
                "left the calling action's lock (it stays held by the caller)",
            );
        } else {
            lock::release(&held.dir, &held.token)
                .await
                .map_err(|e| format!("releasing the lock: {e}"))?;
            self.out(i, None, format!("released {}", held.dir));
        }
        Ok(Done::Ok)
    }

    async fn run_trigger(
        &self,
        i: usize,
        trigger: &str,
        run: &[Implementation],
        hosts: &[HostName],
    ) -> Result<Done, StepError> {
        if run.is_empty() {
            return Ok(Done::Skipped(format!(
                "no hooks or plugins implement `{trigger}`"
            )));
        }
        for imp in run {
            if let Some(alias) = &imp.alias {
                self.out(
                    i,
                    None,
                    format!("warning: {} is named `{alias}`, an old name of `{trigger}`: rename it to `{trigger}`", imp.path.display()),
                );
            }
            self.out(
                i,
                None,
                format!("running {} ({})", imp.path.display(), imp.source),
            );
            self.run_hook(i, trigger, imp, hosts).await?;
        }
        Ok(Done::Ok)
    }

    /// One hook or plugin executable: its own process, an argument vector
    /// (no shell), a deadline, output streamed into the stage.
    async fn run_hook(
        &self,
        i: usize,
        trigger: &str,
        imp: &Implementation,
        hosts: &[HostName],
    ) -> Result<(), StepError> {
        use tokio::io::AsyncReadExt;
        let version = self.version_label().unwrap_or_default();
        let roles: Vec<&str> = self.app.roles.keys().map(|r| r.as_str()).collect();
        let hosts: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
        let config_path = std::path::absolute(&self.ctx.config.path)
            .unwrap_or_else(|_| self.ctx.config.path.clone());
        let mut cmd = tokio::process::Command::new(&imp.path);
        cmd.current_dir(self.ctx.config.dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .env("BERTH_APP", self.plan.app.as_str())
            .env("BERTH_ACTION", self.plan.action.verb())
            .env("BERTH_VERSION", version)
            .env("BERTH_DESTINATION", &self.destination)
            .env("BERTH_ROLES", roles.join(","))
            .env("BERTH_HOSTS", hosts.join(","))
            .env("BERTH_PERFORMER", self.ctx.performer.to_string())
            .env("BERTH_TRIGGER", trigger)
            .env(
                "BERTH_LOCK_TOKEN",
                self.lock.as_ref().map(|l| l.token.as_str()).unwrap_or(""),
            )
            .env("BERTH_CONFIG", &config_path);
        let name = format!("{} ({})", imp.path.display(), imp.source);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot run: {e}"))?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let pump = |reader: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| async move {
            let Some(mut reader) = reader else { return };
            let mut split = containers::LineSplitter::default();
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                for line in split.push(buf.get(..n).unwrap_or_default()) {
                    self.out(i, None, line);
                }
            }
            if let Some(line) = split.finish() {
                self.out(i, None, line);
            }
        };
        // Dropping `work` (cancel, timeout) drops the child: kill_on_drop.
        let work = async move {
            tokio::join!(
                pump(stdout.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
                pump(stderr.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>))
            );
            child.wait().await
        };
        let timeout = self.ctx.config.fleet.hooks.timeout.get();
        let status = tokio::select! {
            _ = self.ctx.cancel.cancelled() => return Err(StepError::Cancelled),
            r = tokio::time::timeout(timeout, work) => match r {
                Err(_) => return Err(format!("{name} did not finish within {}; killed", crate::config::duration::format(timeout)).into()),
                Ok(r) => r.map_err(|e| format!("{name}: {e}"))?,
            },
        };
        match status.code() {
            Some(0) => Ok(()),
            Some(code) => Err(format!("{name} exited with code {code}").into()),
            None => Err(format!("{name} was killed by a signal").into()),
        }
    }

    /// Runs `work` unless the operator cancels first.
    async fn cancellable<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, StepError> {
        tokio::select! {
            _ = self.ctx.cancel.cancelled() => Err(StepError::Cancelled),
            r = work => Ok(r),
        }
    }

    /// Records the containers a stage brought up (for its gate, and for
    /// restore), then reports the first host that failed.
    fn record_fresh(
        &mut self,
        role: &RoleName,
        hosts: &[HostName],
        results: Vec<Result<Fresh, String>>,
        origin: Origin,
    ) -> Result<(), StepError> {
        let mut first = None;
        for (host, r) in hosts.iter().zip(results) {
            match r {
                Ok(f) => {
                    let touched = Touched {
                        host: host.clone(),
                        id: f.id.clone(),
                        name: f.name.clone(),
                    };
                    match origin {
                        Origin::Booted => self.booted.push(touched),
                        Origin::Retained => self.started_retained.push(touched),
                    }
                    self.fresh.insert((role.clone(), host.clone()), f);
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }

    async fn ensure_image(&self, i: usize, host: &HostName, image: &str) -> Result<(), String> {
        let docker = self.dock(host)?;
        if docker.inspect_image(image).await.is_ok() {
            self.out(i, Some(host), format!("{image} is present"));
            return Ok(());
        }
        if let Some(build) = &self.app.build {
            let dir = self.ctx.config.dir().join(&build.context);
            self.out(
                i,
                Some(host),
                format!("building {image} from {}", dir.display()),
            );
            let tar = tokio::task::spawn_blocking(move || docker::build::context_tar(&dir))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("host {host}: reading build context: {e}"))?;
            let dockerfile = build.dockerfile.as_deref().unwrap_or("Dockerfile");
            return docker::build::build_image(
                docker,
                image,
                tar,
                dockerfile,
                &build.args,
                |line| self.out(i, Some(host), line),
            )
            .await
            .map_err(|e| format!("host {host}: {e}"));
        }
        self.out(
            i,
            Some(host),
            format!("{image} is not on the host; pulling"),
        );
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let opts = CreateImageOptions {
            from_image: Some(repo.into()),
            tag: Some(tag.into()),
            ..Default::default()
        };
        let mut stream = docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info =
                item.map_err(|e| format!("host {host}: pulling {image}: {}", describe(&e)))?;
            if let Some(detail) = info.error_detail {
                return Err(format!(
                    "host {host}: pulling {image}: {}",
                    detail.message.unwrap_or_default()
                ));
            }
            if let (Some(status), None) = (info.status, info.progress_detail) {
                self.out(i, Some(host), crate::sanitize::one_line(&status));
            }
        }
        Ok(())
    }

    fn env(&self, role: &RoleName) -> Result<BTreeMap<String, crate::config::EnvValue>, String> {
        let secrets = self.secrets.as_ref().map_err(|e| e.to_string())?;
        self.ctx
            .config
            .resolve_env(
                &self.plan.app,
                role,
                self.plan.destination.as_ref(),
                secrets,
            )
            .map_err(|e| e.to_string())
    }

    fn labels(
        &self,
        role: &str,
        version: &str,
        host: &HostName,
        phase: Option<&str>,
    ) -> BerthLabels {
        BerthLabels {
            app: self.plan.app.to_string(),
            role: role.to_string(),
            version: version.to_string(),
            destination: self.destination.clone(),
            phase: phase.map(str::to_string),
            host: host.to_string(),
            run: self.ctx.run_id.clone(),
        }
    }

    /// The release task: a throw-away container from the new image, with the
    /// primary role's env. Removed whatever happens; a non-zero exit fails
    /// the deploy before any new container boots.
    async fn release_task(
        &self,
        i: usize,
        host: &HostName,
        image: &str,
        command: &[String],
    ) -> Result<(), StepError> {
        let docker = self.dock(host)?;
        let version = match &self.plan.action {
            Action::Deploy { version, .. } => version.to_string(),
            _ => unreachable!("release tasks belong to deploys"),
        };
        containers::ensure_network(docker)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
        let spec = ContainerSpec {
            name: format!(
                "{}-release-{version}-{}",
                self.plan.app,
                containers::suffix()
            ),
            image: image.to_string(),
            labels: self.labels("release", &version, host, Some("release")),
            env: self.env(&self.app.primary_role)?,
            cmd: Some(command.to_vec()),
            port: None,
            volumes: self.app.volumes.clone(),
            healthcheck: Some(None),
            stop_timeout: Duration::from_secs(1),
            restart: false,
        };
        let id = containers::create_and_start(docker, &spec)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
        self.progress(i, host, format!("started {}", spec.name));
        let timeout = self
            .app
            .release
            .as_ref()
            .map(|r| r.timeout.get())
            .unwrap_or(Duration::from_secs(600));
        let outcome = tokio::select! {
            _ = self.ctx.cancel.cancelled() => Err(StepError::Cancelled),
            r = tokio::time::timeout(timeout, self.follow_task(i, host, docker, &id)) => match r {
                Ok(r) => r.map_err(StepError::Failed),
                Err(_) => Err(StepError::Failed(format!(
                    "host {host}: release task {} did not finish within {}s", spec.name, timeout.as_secs()
                ))),
            },
        };
        // Whatever happened, the task container goes.
        if let Err(e) = containers::remove(docker, &id, true).await {
            self.out(
                i,
                Some(host),
                format!("could not remove {}: {e}", spec.name),
            );
        }
        outcome
    }

    /// Streams a task's output until it exits; fails on a non-zero exit.
    async fn follow_task(
        &self,
        i: usize,
        host: &HostName,
        docker: &Docker,
        id: &str,
    ) -> Result<(), String> {
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: "all".into(),
            ..Default::default()
        };
        let mut logs = docker.logs(id, Some(opts));
        let mut split = containers::LineSplitter::default();
        while let Some(chunk) = logs.next().await {
            let chunk =
                chunk.map_err(|e| format!("host {host}: reading task output: {}", describe(&e)))?;
            for line in split.push(&chunk.into_bytes()) {
                self.out(i, Some(host), line);
            }
        }
        if let Some(line) = split.finish() {
            self.out(i, Some(host), line);
        }
        let mut wait = docker.wait_container(id, None::<WaitContainerOptions>);
        match wait.next().await {
            Some(Ok(r)) if r.status_code == 0 => Ok(()),
            Some(Ok(r)) => Err(format!(
                "host {host}: release task exited with code {}",
                r.status_code
            )),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                Err(format!("host {host}: release task exited with code {code}"))
            }
            Some(Err(e)) => Err(format!(
                "host {host}: waiting for the release task: {}",
                describe(&e)
            )),
            None => Err(format!(
                "host {host}: the engine did not report how the release task ended"
            )),
        }
    }

    async fn boot_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
        version: &str,
        image: &str,
    ) -> Result<Fresh, String> {
        let docker = self.dock(host)?;
        containers::ensure_network(docker)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
        let role_cfg = self
            .app
            .roles
            .get(role)
            .ok_or_else(|| format!("app {} has no role {role}", self.plan.app))?;
        let spec = ContainerSpec {
            name: containers::container_name(
                self.plan.app.as_str(),
                role.as_str(),
                &self.destination,
                version,
            ),
            image: image.to_string(),
            labels: self.labels(role.as_str(), version, host, None),
            env: self.env(role)?,
            cmd: role_cfg.command.as_ref().map(|c| c.0.clone()),
            port: role_cfg.port,
            volumes: self
                .app
                .volumes
                .iter()
                .chain(&role_cfg.volumes)
                .cloned()
                .collect(),
            healthcheck: self.app.role_healthcheck(role),
            stop_timeout: self.app.stop_timeout.get(),
            restart: true,
        };
        let id = containers::create_and_start(docker, &spec)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
        self.progress(i, host, format!("started {}", spec.name));
        Ok(Fresh {
            id,
            name: spec.name,
            version: version.to_string(),
        })
    }

    /// Restart = a fresh container of the version the host runs now.
    async fn reboot_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
    ) -> Result<Fresh, String> {
        let running = containers::list(
            self.dock(host)?,
            &self.selector(Some(role), None, Some(host)),
            false,
        )
        .await?;
        let Some(current) = running.first() else {
            return Err(format!(
                "host {host}: no running container of role `{role}` to restart (looked for: {}); deploy first",
                self.selector(Some(role), None, Some(host)).describe()
            ));
        };
        let version = containers::summary_label(current, labels::VERSION)
            .unwrap_or_default()
            .to_string();
        let image = current.image.clone().unwrap_or_default();
        self.out(
            i,
            Some(host),
            format!(
                "replacing {} ({version})",
                containers::summary_name(current)
            ),
        );
        self.boot_one(i, role, host, &version, &image).await
    }

    /// Rollback: start the newest retained (stopped) container of another
    /// version, or of the version asked for.
    async fn start_retained_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
        want: Option<&Version>,
    ) -> Result<Fresh, String> {
        let docker = self.dock(host)?;
        let all =
            containers::list(docker, &self.selector(Some(role), None, Some(host)), true).await?;
        let version_of = |c: &bollard::models::ContainerSummary| {
            containers::summary_label(c, labels::VERSION)
                .unwrap_or("")
                .to_string()
        };
        let running = |c: &&bollard::models::ContainerSummary| {
            c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
        };
        let current: Vec<String> = all.iter().filter(running).map(version_of).collect();
        let retained: Vec<&bollard::models::ContainerSummary> =
            all.iter().filter(|c| !running(c)).collect();
        let pick = retained.iter().find(|c| match want {
            Some(v) => version_of(c) == v.as_str(),
            None => !current.contains(&version_of(c)),
        });
        let Some(pick) = pick else {
            let mut have: Vec<String> = retained.iter().map(|c| version_of(c)).collect();
            have.dedup();
            let what = want
                .map(|v| format!("version `{v}`"))
                .unwrap_or_else(|| "an older version".into());
            return Err(format!(
                "host {host}: no retained container of {what} for role `{role}` (running: {}; retained: {})",
                if current.is_empty() {
                    "none".into()
                } else {
                    current.join(", ")
                },
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            ));
        };
        let id = pick.id.clone().unwrap_or_default();
        let name = containers::summary_name(pick);
        containers::start(docker, &id)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
        self.progress(i, host, format!("started retained {name}"));
        Ok(Fresh {
            id,
            name,
            version: version_of(pick),
        })
    }

    async fn gate_one(&self, i: usize, group: &Group, host: &HostName) -> Result<(), GateError> {
        let Some(fresh) = self.fresh.get(&(group.role.clone(), host.clone())) else {
            return Err(GateError::Failed(format!(
                "host {host}: no new container of role `{}` to check",
                group.role
            )));
        };
        let gate = Gate {
            docker: self.dock(host).map_err(GateError::Failed)?,
            host: host.as_str(),
            container_id: &fresh.id,
            container_name: &fresh.name,
            selector: self.selector(Some(&group.role), Some(&fresh.version), Some(host)),
            min_uptime: self.app.min_uptime.get(),
            timeout: self.app.deploy_timeout.get(),
        };
        gate.wait(&self.ctx.cancel, |seen| {
            self.emit(EngineEvent::HealthProbe {
                stage: i,
                host: host.to_string(),
                container: fresh.name.clone(),
                health: seen.health.clone(),
                output: seen.last_output.clone(),
            })
        })
        .await?;
        self.progress(i, host, format!("{} passed the health gate", fresh.name));
        Ok(())
    }

    /// Stops every other running container of the role on the host. Returns
    /// what it stopped even when a later stop fails (restore needs it).
    async fn stop_old_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
    ) -> (Vec<(String, String)>, Option<String>) {
        let keep = self
            .fresh
            .get(&(role.clone(), host.clone()))
            .map(|f| f.id.clone());
        let docker = match self.dock(host) {
            Ok(d) => d,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let running =
            match containers::list(docker, &self.selector(Some(role), None, Some(host)), false)
                .await
            {
                Ok(r) => r,
                Err(e) => return (Vec::new(), Some(format!("host {host}: {e}"))),
            };
        let mut stopped = Vec::new();
        for c in running.iter().filter(|c| c.id != keep) {
            let id = c.id.clone().unwrap_or_default();
            let name = containers::summary_name(c);
            if let Err(e) = containers::stop(docker, &id, self.app.stop_timeout.get()).await {
                return (stopped, Some(format!("host {host}: {e}")));
            }
            self.progress(i, host, format!("stopped {name}"));
            stopped.push((id, name));
        }
        if stopped.is_empty() {
            self.out(i, Some(host), "no old container was running");
        }
        (stopped, None)
    }

    async fn prune_one(&self, i: usize, host: &HostName, retain: u32) -> Result<(), String> {
        let docker = self.dock(host)?;
        for role in self.app.roles.keys() {
            let all = containers::list(docker, &self.selector(Some(role), None, Some(host)), true)
                .await?;
            let stopped = all
                .iter()
                .filter(|c| c.state != Some(bollard::models::ContainerSummaryStateEnum::RUNNING));
            for c in stopped.skip(retain as usize) {
                containers::remove(docker, c.id.as_deref().unwrap_or_default(), true)
                    .await
                    .map_err(|e| format!("host {host}: {e}"))?;
                self.out(
                    i,
                    Some(host),
                    format!(
                        "removed {} (beyond retain: {retain})",
                        containers::summary_name(c)
                    ),
                );
            }
        }
        Ok(())
    }

    async fn remove_all_one(
        &self,
        i: usize,
        host: &HostName,
        purge_volumes: bool,
    ) -> Result<(), String> {
        let docker = self.dock(host)?;
        let mut all = containers::list(docker, &self.selector(None, None, None), true).await?;
        // On an engine shared with another of the app's hosts, that host's
        // worker removes its own.
        all.retain(|c| {
            !crate::labels::started_for_another(
                containers::summary_label(c, crate::labels::HOST),
                host.as_str(),
                |h| self.ctx.config.fleet.hosts.contains_key(h),
            )
        });
        let mut volumes: Vec<String> = Vec::new();
        if purge_volumes {
            volumes.extend(
                all.iter()
                    .flat_map(|c| c.mounts.iter().flatten())
                    .filter_map(|m| {
                        (m.typ.as_deref() == Some("volume"))
                            .then(|| m.name.clone())
                            .flatten()
                    }),
            );
        }
        // Graceful stops in parallel: each may take the whole stop timeout.
        let removals = all.iter().map(|c| async move {
            let id = c.id.clone().unwrap_or_default();
            containers::stop(docker, &id, self.app.stop_timeout.get()).await?;
            containers::remove(docker, &id, purge_volumes).await?;
            self.progress(i, host, format!("removed {}", containers::summary_name(c)));
            Ok::<(), String>(())
        });
        first_error(bounded(self.parallel(), removals).await).map_err(|e| match e {
            StepError::Failed(e) => format!("host {host}: {e}"),
            StepError::Cancelled => format!("host {host}: cancelled"),
        })?;
        if all.is_empty() {
            self.out(i, Some(host), "no containers of the app");
        }
        volumes.sort();
        volumes.dedup();
        for v in volumes {
            match docker
                .remove_volume(&v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
            {
                Ok(()) => self.out(i, Some(host), format!("removed volume {v}")),
                Err(e) => self.out(i, Some(host), format!("kept volume {v}: {}", describe(&e))),
            }
        }
        Ok(())
    }

    /// Puts the old version back: stopped old containers are started, the
    /// proxy points at them again (before the new ones go, so something keeps
    /// serving), retained containers started by a rollback are stopped again,
    /// and new containers are removed.
    async fn restore(&mut self, i: usize) -> Result<(), StepError> {
        let mut errors = Vec::new();
        for t in std::mem::take(&mut self.stopped_old) {
            let started = match self.dock(&t.host) {
                Ok(docker) => containers::start(docker, &t.id).await,
                Err(e) => Err(e),
            };
            match started {
                Ok(()) => self.out(i, Some(&t.host), format!("started old {} again", t.name)),
                Err(e) => errors.push(format!("host {}: {e}", t.host)),
            }
        }
        // Traffic goes back before the new containers go away.
        for s in std::mem::take(&mut self.switched) {
            if let Err(e) = self.switch_back(i, &s).await {
                errors.push(format!("host {}: {e}", s.host));
            }
        }
        for t in std::mem::take(&mut self.started_retained) {
            let stopped = match self.dock(&t.host) {
                Ok(docker) => containers::stop(docker, &t.id, self.app.stop_timeout.get()).await,
                Err(e) => Err(e),
            };
            match stopped {
                Ok(()) => self.out(
                    i,
                    Some(&t.host),
                    format!("stopped retained {} again", t.name),
                ),
                Err(e) => errors.push(format!("host {}: {e}", t.host)),
            }
        }
        for t in std::mem::take(&mut self.booted) {
            let removed = match self.dock(&t.host) {
                Ok(docker) => containers::remove(docker, &t.id, true).await,
                Err(e) => Err(e),
            };
            match removed {
                Ok(()) => self.out(i, Some(&t.host), format!("removed new {}", t.name)),
                Err(e) => errors.push(format!("host {}: {e}", t.host)),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(StepError::Failed(errors.join("; ")))
        }
    }

    /// The version an action is about, for hooks and history: the deployed
    /// one, else the versions this run brought up (`v1` or `v1,v2`).
    fn version_label(&self) -> Option<String> {
        if let Action::Deploy { version, .. } = &self.plan.action {
            return Some(version.to_string());
        }
        let mut v: Vec<&str> = self.fresh.values().map(|f| f.version.as_str()).collect();
        v.sort();
        v.dedup();
        (!v.is_empty()).then(|| v.join(","))
    }

    async fn write_history(&self, started_at: chrono::DateTime<Utc>, result: &RunResult) {
        let version = self.version_label();
        let (failed_stage, error) = match result {
            RunResult::Ok => (None, None),
            RunResult::Failed { stage, error } => (Some(stage.clone()), Some(error.clone())),
            RunResult::Cancelled { stage } => {
                (stage.clone(), Some("cancelled by the operator".into()))
            }
        };
        let record = Record {
            started_at,
            finished_at: Utc::now(),
            performer: self.ctx.performer.clone(),
            action: self.plan.action.verb().into(),
            app: self.plan.app.to_string(),
            destination: self.destination.clone(),
            version,
            result: result.word().into(),
            failed_stage,
            error,
            note: None,
            run: self.ctx.run_id.clone(),
        };
        let mut hosts: Vec<&HostName> = self.plan.stages.iter().flat_map(|s| &s.hosts).collect();
        hosts.sort();
        hosts.dedup();
        let record = &record;
        let writes = hosts.into_iter().map(|host| async move {
            let written = match self.ctx.config.host(host) {
                Ok(cfg) => match hosts::state_dir(cfg, lock::REACH_TIMEOUT).await {
                    Ok(dir) => history::append(&dir, record)
                        .await
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            (host, written)
        });
        for (host, written) in bounded(self.parallel(), writes).await {
            if let Err(e) = written {
                self.emit(EngineEvent::Warning {
                    message: format!("host {host}: could not write history: {e}"),
                });
            }
        }
    }
}

/// A stage's first host (plans give every stage one or more).
fn first(hosts: &[HostName]) -> Result<&HostName, StepError> {
    hosts.first().ok_or_else(|| {
        StepError::Failed("a stage with no host (a berth bug: please report it)".into())
    })
}

fn first_error<T>(results: Vec<Result<T, String>>) -> Result<Vec<T>, StepError> {
    results
        .into_iter()
        .collect::<Result<Vec<T>, String>>()
        .map_err(StepError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn bounded_keeps_order_and_never_exceeds_its_limit() {
        let (now, most) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let work = (0..20u64).map(|i| {
            let (now, most) = (&now, &most);
            async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                // Later ones finish first: order must come from the input.
                tokio::time::sleep(Duration::from_millis(20 - i)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                i
            }
        });
        let out = bounded(3, work).await;
        assert_eq!(out, (0..20).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
