//! `berth plan|deploy|restart|rollback|destroy|history`: the CLI renderer of
//! the engine's event stream. Human output is a stage list printed as it
//! happens; `--json` prints one event per line.
//!
//! Exit codes: 0 the action succeeded; 1 it failed or was cancelled (the
//! previous version keeps serving); 2 it could not start (config, plan).

use std::io::Write;

use std::sync::Arc;

use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{AppName, Config, DestinationName, RoleName};
use crate::engine::{self, Action, EngineEvent, Outcome, Plan, RunResult, Step, Version};
use crate::ops::{Session, act};

#[derive(Debug, clap::Args)]
pub struct Target {
    /// The app
    pub app: AppName,
    /// Destination (staging, production, ...)
    #[arg(long, short = 'd', value_name = "NAME")]
    pub destination: Option<DestinationName>,
}

#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Plan a deploy
    Deploy {
        #[command(flatten)]
        target: Target,
        #[arg(long, short = 'V', value_name = "VERSION")]
        version: Version,
    },
    /// Plan a rolling restart
    Restart {
        #[command(flatten)]
        target: Target,
        #[arg(long, value_name = "ROLE")]
        role: Option<RoleName>,
    },
    /// Plan a rollback
    Rollback {
        #[command(flatten)]
        target: Target,
        #[arg(long, short = 'V', value_name = "VERSION")]
        version: Option<Version>,
    },
    /// Plan a destroy
    Destroy {
        #[command(flatten)]
        target: Target,
    },
}

/// The target's names (checked by clap as they were parsed).
fn names(t: &Target) -> (AppName, Option<DestinationName>) {
    (t.app.clone(), t.destination.clone())
}

// Names and versions are checked by clap as they are parsed (`FromStr`):
// building an action cannot fail.

pub fn deploy_action(t: &Target, version: &Version) -> Action {
    let (app, destination) = names(t);
    Action::Deploy {
        app,
        version: version.clone(),
        destination,
    }
}

pub fn restart_action(t: &Target, role: Option<&RoleName>) -> Action {
    let (app, destination) = names(t);
    Action::Restart {
        app,
        role: role.cloned(),
        destination,
    }
}

pub fn rollback_action(t: &Target, version: Option<&Version>) -> Action {
    let (app, destination) = names(t);
    Action::Rollback {
        app,
        version: version.cloned(),
        destination,
    }
}

pub fn destroy_action(
    t: &Target,
    confirm: Option<&str>,
    purge_volumes: bool,
) -> anyhow::Result<Action> {
    let (app, destination) = names(t);
    Ok(Action::Destroy {
        app,
        destination,
        confirm: confirm.unwrap_or_default().to_string(),
        purge_volumes,
    })
}

pub fn proxy_sync_action(t: &Target) -> anyhow::Result<Action> {
    let (app, destination) = names(t);
    Ok(Action::ProxySync { app, destination })
}

pub fn plan_action(cmd: &PlanCommand) -> anyhow::Result<Action> {
    match cmd {
        PlanCommand::Deploy { target, version } => Ok(deploy_action(target, version)),
        PlanCommand::Restart { target, role } => Ok(restart_action(target, role.as_ref())),
        PlanCommand::Rollback { target, version } => Ok(rollback_action(target, version.as_ref())),
        // Planning a destroy shows what it would do; running it needs --confirm.
        PlanCommand::Destroy { target } => destroy_action(target, Some(target.app.as_str()), false),
    }
}

/// Says why an action did not start, on stderr; the exit code for it.
pub fn refused(action: &Action, why: &act::Refused) -> u8 {
    match why {
        act::Refused::Plan(e) => {
            errln!("berth: {e}");
            return EXIT_ERROR;
        }
        act::Refused::ReadOnly(e) => errln!("berth: {e}"),
        act::Refused::Lacks(lacks) => {
            errln!(
                "berth: {} {} cannot run; it lacks:",
                action.verb(),
                action.app()
            );
            for l in lacks {
                errln!("  - {l}");
            }
        }
    }
    super::EXIT_REFUSED
}

/// Prints a plan without running it, then what it lacks (exit 2 if any).
pub async fn print_plan(
    config: &Arc<Config>,
    session: &Session,
    action: &Action,
    json: bool,
) -> anyhow::Result<u8> {
    let plan = match act::plan(config, session, action.clone()).await {
        Ok(p) => p,
        Err(why) => return Ok(refused(action, &why)),
    };
    // What it lacks is said after the plan: the plan is shown either way.
    let lacks = |plan: engine::Plan| async move {
        let lacks = act::lacks(config, session, &plan).await;
        if lacks.is_empty() {
            EXIT_OK
        } else {
            refused(&plan.action, &act::Refused::Lacks(lacks))
        }
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(lacks(plan).await);
    }
    let dest = plan
        .destination
        .as_ref()
        .map(|d| format!(" [{d}]"))
        .unwrap_or_default();
    outln!(
        "plan: {}{dest} ({} stages)",
        plan.action.describe(),
        plan.stages.len()
    );
    for w in &plan.warnings {
        errln!("berth: {w}");
    }
    let width = plan.stages.len().to_string().len();
    for (i, s) in plan.stages.iter().enumerate() {
        let hosts: Vec<&str> = s.hosts.iter().map(|h| h.as_str()).collect();
        outln!(
            "  {:>width$}. {:<28} on {}{}",
            i + 1,
            s.name,
            hosts.join(", "),
            detail(config, &plan.app, &s.step)
        );
    }
    Ok(lacks(plan).await)
}

fn detail(config: &Config, app: &AppName, step: &Step) -> String {
    match step {
        Step::Image { image } => format!(
            "  ({image}: {})",
            crate::engine::plan::image_path(config, app)
        ),
        Step::ReleaseTask { command, .. } => {
            format!("  (runs {command:?} in a throw-away container)")
        }
        Step::Trigger {
            run, on_failure, ..
        } => {
            let when = if *on_failure {
                "only if the action fails; "
            } else {
                ""
            };
            if run.is_empty() {
                format!("  ({when}no hooks or plugins)")
            } else {
                let files: Vec<String> = run
                    .iter()
                    .map(|i| format!("{} ({})", i.path.display(), i.source))
                    .collect();
                format!("  ({when}runs {})", files.join(", "))
            }
        }
        Step::Lock => "  (the app's deploy lock, held until unlock)".into(),
        Step::Unlock => "  (always, last)".into(),
        Step::Restore => "  (only if a stage fails or the run is cancelled)".into(),
        Step::StartRetained { version: None, .. } => {
            "  (newest retained version not running)".into()
        }
        Step::Prune { retain } => {
            format!("  (keep {retain} stopped versions per role, and their images)")
        }
        Step::Traffic { .. } => {
            "  (point the proxy at the new containers; proven by a request through it)".into()
        }
        Step::Drain { timeout, .. } => {
            format!("  (old containers finish requests in flight for {timeout})")
        }
        _ => String::new(),
    }
}

/// Runs an action to the end, rendering its events; Ctrl-C cancels safely.
pub async fn run_action(
    config: &Arc<Config>,
    session: &Session,
    action: Action,
    json: bool,
    lock_wait: Option<std::time::Duration>,
) -> anyhow::Result<u8> {
    run_with(config, session, action, json, lock_wait, true).await
}

/// `berth exec APP -- CMD`: the commands' own output on stdout and stderr
/// as they printed it (each line after `HOST/CONTAINER | ` with
/// `prefix`), berth's stage lines on stderr, so `| grep` reads only what
/// the commands printed.
pub async fn run_exec(
    config: &Arc<Config>,
    session: &Session,
    action: Action,
    json: bool,
    prefix: bool,
) -> anyhow::Result<u8> {
    run_with(config, session, action, json, None, prefix).await
}

async fn run_with(
    config: &Arc<Config>,
    session: &Session,
    action: Action,
    json: bool,
    lock_wait: Option<std::time::Duration>,
    prefix: bool,
) -> anyhow::Result<u8> {
    let plan = match act::prepare(config, session, action.clone()).await {
        Ok(p) => p,
        Err(why) => return Ok(refused(&action, &why)),
    };
    let mut started = act::run(
        config.clone(),
        session,
        plan,
        act::LockOptions::from_env(lock_wait),
    );
    // From here a closed stdout or stderr loses output, never the run.
    let _acting = super::acting();
    let interrupt = started.cancel.clone();
    tokio::spawn(async move {
        // Ctrl-C, SIGTERM (a service manager, `kill`) and SIGHUP (the SSH
        // session dropped) all cancel at the next safe point: the previous
        // version keeps serving, the lock is released, the run recorded.
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        let why = tokio::select! {
            r = tokio::signal::ctrl_c() => if r.is_ok() { "Ctrl-C" } else { return },
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        };
        tracing::warn!(signal = why, "cancelling the run");
        errln!(
            "\nberth: {why}: cancelling at the next safe point; the previous version keeps serving (Ctrl-C again to abandon)"
        );
        interrupt.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!(
                "berth: abandoned; containers of this run may be left behind (see `berth status`)"
            );
            std::process::exit(130);
        }
    });
    let mut view = Render {
        prefix,
        ..Render::default()
    };
    while let Some(ev) = started.events.recv().await {
        if json {
            outln!("{}", serde_json::to_string(&ev).unwrap_or_default());
        } else {
            view.event(&ev);
        }
        let _ = std::io::stdout().flush();
    }
    // The exit code says what kind of end it was (see the README's table).
    Ok(match started.outcome.await {
        Ok(RunResult::Ok) => EXIT_OK,
        Ok(RunResult::Failed { kind, .. }) => match kind {
            crate::engine::FailureKind::Refused => super::EXIT_REFUSED,
            crate::engine::FailureKind::Unreachable => super::EXIT_UNREACHABLE,
            crate::engine::FailureKind::Failed => EXIT_UNHEALTHY,
        },
        _ => EXIT_UNHEALTHY,
    })
}

/// The human stage list, printed line by line as events arrive.
#[derive(Default)]
struct Render {
    plan: Option<Plan>,
    /// Skipped stages, held until the run's end: a refused run (the lock
    /// held by someone else) is one line, not a list of what it skipped.
    skipped: Vec<String>,
    /// An exec's lines after `HOST/CONTAINER | `.
    prefix: bool,
}

impl Render {
    /// berth's own line: on stdout, except for an exec, whose stdout is
    /// the commands' own.
    fn say(&self, line: &str) {
        if matches!(
            self.plan.as_ref().map(|p| &p.action),
            Some(Action::Exec { .. })
        ) {
            errln!("{line}");
        } else {
            outln!("{line}");
        }
    }

    fn total(&self) -> usize {
        self.plan.as_ref().map_or(0, |p| p.stages.len())
    }

    fn event(&mut self, ev: &EngineEvent) {
        let n = self.total();
        let w = n.to_string().len();
        let skipping = matches!(
            ev,
            EngineEvent::StageFinished {
                outcome: Outcome::Skipped { .. },
                ..
            } | EngineEvent::Finished { .. }
        );
        if !skipping {
            for line in std::mem::take(&mut self.skipped) {
                self.say(&line);
            }
        }
        match ev {
            EngineEvent::PlanReady { plan } => {
                for w in &plan.warnings {
                    errln!("berth: {w}");
                }
                let dest = plan
                    .destination
                    .as_ref()
                    .map(|d| format!(" [{d}]"))
                    .unwrap_or_default();
                self.plan = Some(plan.clone());
                self.say(&format!(
                    "{}{dest}: {} stages",
                    plan.action.describe(),
                    plan.stages.len()
                ));
            }
            EngineEvent::ExecOutput {
                host,
                container,
                stream,
                line,
                ..
            } => {
                let line = if self.prefix {
                    format!("{host}/{container} | {line}")
                } else {
                    line.clone()
                };
                match stream {
                    crate::engine::OutputStream::Stdout => outln!("{line}"),
                    crate::engine::OutputStream::Stderr => errln!("{line}"),
                }
            }
            EngineEvent::StageStarted { stage, name, .. } => {
                self.say(&format!("▶ [{:>w$}/{n}] {name}", stage + 1));
            }
            EngineEvent::Output { host, line, .. } => match host {
                Some(h) => self.say(&format!("    │ {h}: {line}")),
                None => self.say(&format!("    │ {line}")),
            },
            EngineEvent::HostProgress { host, status, .. } => {
                self.say(&format!("    │ {host}: {status}"))
            }
            EngineEvent::HealthProbe {
                host,
                container,
                health,
                output,
                ..
            } => {
                let out = output
                    .as_deref()
                    .filter(|o| !o.is_empty())
                    .map(|o| format!(" ({o})"))
                    .unwrap_or_default();
                self.say(&format!("    │ {host}: {container} {health}{out}"));
            }
            EngineEvent::StageFinished {
                stage,
                name,
                outcome,
                elapsed_ms,
            } => {
                let secs = *elapsed_ms as f64 / 1000.0;
                match outcome {
                    Outcome::Ok => {
                        self.say(&format!("✓ [{:>w$}/{n}] {name}  {secs:.1}s", stage + 1))
                    }
                    Outcome::Skipped { reason } => self.skipped.push(format!(
                        "- [{:>w$}/{n}] {name}  skipped: {reason}",
                        stage + 1
                    )),
                    Outcome::Failed { error } => {
                        self.say(&format!("✗ [{:>w$}/{n}] {name}  {secs:.1}s", stage + 1));
                        for line in error.lines() {
                            self.say(&format!("    ✗ {line}"));
                        }
                    }
                }
            }
            EngineEvent::Warning { message } => errln!("berth: warning: {message}"),
            EngineEvent::Finished { result, elapsed_ms } => {
                let secs = *elapsed_ms as f64 / 1000.0;
                let exec = matches!(
                    self.plan.as_ref().map(|p| &p.action),
                    Some(Action::Exec { .. })
                );
                if result.is_refusal() {
                    self.skipped.clear();
                } else {
                    for line in std::mem::take(&mut self.skipped) {
                        self.say(&line);
                    }
                }
                match result {
                    RunResult::Ok => self.say(&format!("ok in {secs:.1}s")),
                    RunResult::Failed { stage, .. } if result.is_refusal() => {
                        self.say(&format!("REFUSED at `{stage}`: nothing was changed"))
                    }
                    // An exec changes nothing: no version to fall back on.
                    RunResult::Failed { .. } if exec => {
                        self.say(&format!("FAILED after {secs:.1}s: see each container's exit above"))
                    }
                    RunResult::Failed { stage, .. } => {
                        self.say(&format!(
                            "FAILED at `{stage}` after {secs:.1}s; the previous version (if any) keeps serving"
                        ))
                    }
                    RunResult::Cancelled { .. } => {
                        self.say(&format!(
                            "CANCELLED after {secs:.1}s; the previous version (if any) keeps serving"
                        ))
                    }
                }
            }
        }
    }
}

/// `berth history <app>`: the audit lines from every host of the app.
/// `berth history APP [--limit N] [--since D]`: the newest `limit` lines
/// (all when `None`) started within `since` of now.
pub async fn history(
    config: &Config,
    session: &Session,
    app: &str,
    json: bool,
    limit: Option<usize>,
    since: Option<std::time::Duration>,
) -> anyhow::Result<u8> {
    let mut rows = Vec::new();
    let mut code = EXIT_OK;
    let berth_app = AppName::new(app)
        .ok()
        .and_then(|n| config.fleet.apps.get(&n));
    // Kamal's audit logs and Dokku's build records of an app of that name.
    // A berth app's history asks only the hosts that say `dokku: true` for
    // Dokku's builds: the others would cost a command each for nothing.
    let (mut theirs, found) =
        crate::ops::history::theirs(config, session, app, berth_app.is_some()).await;
    if berth_app.is_none() && !found {
        let unreached: Vec<String> = theirs
            .iter()
            .filter_map(|(place, r)| Some(format!("{place}: {}", r.as_ref().err()?)))
            .collect();
        anyhow::bail!(
            "app `{}` is not declared in {}, is no Kamal app read from a deploy file, and no Dokku host has it{}",
            crate::sanitize::one_line(app),
            config.path.display(),
            if unreached.is_empty() {
                String::new()
            } else {
                format!(" (not reached: {})", unreached.join("; "))
            }
        );
    }
    if berth_app.is_some() {
        // A berth app's hosts are read below, and say so when unreachable.
        theirs.retain(|(place, r)| r.is_ok() || !place.starts_with("Dokku host "));
    }
    for (place, read) in theirs {
        match read {
            Ok(records) => rows.extend(records),
            Err(e) => {
                errln!("berth: {place}: {e}");
                code = EXIT_ERROR;
            }
        }
    }
    let berth_hosts = berth_app.map(|a| a.hosts()).unwrap_or_default();
    for (host, read) in crate::ops::history::berth(config, session, app, berth_hosts).await {
        let (records, problems) = match read {
            Ok(r) => r,
            Err(e) => {
                errln!("berth: host {host}: {e}");
                code = EXIT_ERROR;
                continue;
            }
        };
        for p in problems {
            errln!("berth: warning: {p}");
        }
        rows.extend(records.into_iter().map(|r| (host.clone(), r)));
    }
    rows.sort_by_key(|(_, r)| r.started_at);
    if let Some(since) = since {
        let from =
            chrono::Utc::now() - chrono::Duration::from_std(since).unwrap_or(chrono::Duration::MAX);
        rows.retain(|(_, r)| r.started_at >= from);
    }
    if let Some(limit) = limit {
        let skip = rows.len().saturating_sub(limit);
        rows.drain(..skip);
    }
    if json {
        for (host, r) in &rows {
            let mut v = serde_json::to_value(r)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("host".into(), serde_json::Value::from(host.as_str()));
            }
            outln!("{v}");
        }
        return Ok(code);
    }
    if rows.is_empty() {
        outln!("no history for {app}");
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(host, r)| {
            let why = match (&r.failed_stage, &r.error) {
                (Some(s), Some(e)) => format!("at `{s}`: {}", e.lines().next().unwrap_or("")),
                (None, Some(e)) => e.lines().next().unwrap_or("").to_string(),
                _ => String::new(),
            };
            // What was run or said (an exec's command, a lock's message),
            // then why it failed.
            let why = match r.note.as_deref().filter(|n| !n.is_empty()) {
                Some(note) if why.is_empty() => note.to_string(),
                Some(note) => format!("{note} — {why}"),
                None => why,
            };
            vec![
                r.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                host.clone(),
                r.performer.to_string(),
                if r.tool.is_empty() {
                    r.action.clone()
                } else {
                    format!("[{}] {}", r.tool, r.action)
                },
                r.version.clone().unwrap_or_else(|| "-".into()),
                r.result.clone(),
                format!(
                    "{:.1}s",
                    (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0
                ),
                why,
            ]
        })
        .collect();
    out!("{}", super::table::render(&table, 0));
    Ok(code)
}
