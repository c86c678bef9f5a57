//! `berth plan|deploy|restart|rollback|destroy|history`: the CLI renderer of
//! the engine's event stream. Human output is a stage list printed as it
//! happens; `--json` prints one event per line.
//!
//! Exit codes: 0 the action succeeded; 1 it failed or was cancelled (the
//! previous version keeps serving); 2 it could not start (config, plan).

use std::io::Write;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{AppName, Config, DestinationName, RoleName};
use crate::docker::Gateway;
use crate::engine::{self, Action, EngineEvent, Outcome, Plan, RunResult, Step, Version};

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

/// Says what `plan` needs and lacks (preflight); `Some(2)` when anything.
pub async fn refused(config: &Config, gateway: &Gateway, plan: &engine::Plan) -> Option<u8> {
    let lacks = engine::preflight::check(config, gateway, plan).await;
    if lacks.is_empty() {
        return None;
    }
    errln!(
        "berth: {} {} cannot run; it lacks:",
        plan.action.verb(),
        plan.app
    );
    for l in &lacks {
        errln!("  - {l}");
    }
    Some(EXIT_ERROR)
}

/// Prints a plan without running it, then what it lacks (exit 2 if any).
pub async fn print_plan(
    config: &Config,
    gateway: &Gateway,
    action: &Action,
    json: bool,
) -> anyhow::Result<u8> {
    let action = &name_rollback_version(config, gateway, action.clone()).await?;
    // Finding hooks and plugins lists directories: off the async threads.
    let plan = tokio::task::block_in_place(|| engine::plan(config, action))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(refused(config, gateway, &plan).await.unwrap_or(EXIT_OK));
    }
    let dest = plan
        .destination
        .as_ref()
        .map(|d| format!(" [{d}]"))
        .unwrap_or_default();
    outln!(
        "plan: {}{dest} ({} stages)",
        action.describe(),
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
            detail(&s.step)
        );
    }
    Ok(refused(config, gateway, &plan).await.unwrap_or(EXIT_OK))
}

fn detail(step: &Step) -> String {
    match step {
        Step::Image { image } => format!("  ({image}: use if present, else build or pull)"),
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
/// A rollback with no version named gets the one it will start, read from
/// the hosts now, so that the plan and the run's header name it (and the
/// run starts exactly that one).
pub async fn name_rollback_version(
    config: &Config,
    gateway: &Gateway,
    action: Action,
) -> anyhow::Result<Action> {
    let Action::Rollback {
        app,
        version: None,
        destination,
    } = action
    else {
        return Ok(action);
    };
    let inventory = crate::inventory::Inventory::start(config, gateway, Default::default());
    let fleet = match inventory
        .wait_for(std::time::Duration::from_secs(10), |f| f.settled())
        .await
    {
        Ok(f) | Err(f) => f,
    };
    drop(inventory);
    let report = crate::inventory::status::report(
        config,
        &fleet,
        &crate::inventory::status::Filter {
            app: Some(app.to_string()),
            destination: destination.clone(),
        },
        chrono::Utc::now(),
    );
    let dest = destination.as_ref().map(|d| d.as_str()).unwrap_or("");
    let Some(v) = crate::inventory::status::rollback_version_of(&report, app.as_str(), dest) else {
        anyhow::bail!(
            "rollback {app}: no retained version to go back to (see `berth status --app {app}`)"
        );
    };
    Ok(Action::Rollback {
        app,
        version: Some(Version::new(&v).map_err(anyhow::Error::msg)?),
        destination,
    })
}

pub async fn run_action(
    config: &Config,
    gateway: &Gateway,
    action: Action,
    json: bool,
    lock_wait: Option<std::time::Duration>,
) -> anyhow::Result<u8> {
    let action = name_rollback_version(config, gateway, action).await?;
    let plan = tokio::task::block_in_place(|| engine::plan(config, &action))?;
    // What it needs and lacks, before the lock: all of it, at once.
    if let Some(code) = refused(config, gateway, &plan).await {
        return Ok(code);
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let interrupt = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            errln!(
                "\nberth: cancelling at the next safe point; the previous version keeps serving (Ctrl-C again to abandon)"
            );
            interrupt.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                errln!(
                    "berth: abandoned; containers of this run may be left behind (see `berth status`)"
                );
                std::process::exit(130);
            }
        }
    });
    let mut ctx = engine::RunContext::new(config, gateway.clone(), tx, cancel);
    ctx.lock_wait = lock_wait;
    // Set by berth for its hooks: a nested call re-enters the caller's lock.
    ctx.lock_token = std::env::var("BERTH_LOCK_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let render = tokio::spawn(async move {
        let mut view = Render::default();
        while let Some(ev) = rx.recv().await {
            if json {
                outln!("{}", serde_json::to_string(&ev).unwrap_or_default());
            } else {
                view.event(&ev);
            }
            let _ = std::io::stdout().flush();
        }
    });
    let result = engine::run(ctx, &plan).await;
    let _ = render.await;
    Ok(match result {
        RunResult::Ok => EXIT_OK,
        _ => EXIT_UNHEALTHY,
    })
}

/// The human stage list, printed line by line as events arrive.
#[derive(Default)]
struct Render {
    plan: Option<Plan>,
}

impl Render {
    fn total(&self) -> usize {
        self.plan.as_ref().map_or(0, |p| p.stages.len())
    }

    fn event(&mut self, ev: &EngineEvent) {
        let n = self.total();
        let w = n.to_string().len();
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
                outln!(
                    "{}{dest}: {} stages",
                    plan.action.describe(),
                    plan.stages.len()
                );
                self.plan = Some(plan.clone());
            }
            EngineEvent::StageStarted { stage, name, .. } => {
                outln!("▶ [{:>w$}/{n}] {name}", stage + 1);
            }
            EngineEvent::Output { host, line, .. } => match host {
                Some(h) => outln!("    │ {h}: {line}"),
                None => outln!("    │ {line}"),
            },
            EngineEvent::HostProgress { host, status, .. } => outln!("    │ {host}: {status}"),
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
                outln!("    │ {host}: {container} {health}{out}");
            }
            EngineEvent::StageFinished {
                stage,
                name,
                outcome,
                elapsed_ms,
            } => {
                let secs = *elapsed_ms as f64 / 1000.0;
                match outcome {
                    Outcome::Ok => outln!("✓ [{:>w$}/{n}] {name}  {secs:.1}s", stage + 1),
                    Outcome::Skipped { reason } => {
                        outln!("- [{:>w$}/{n}] {name}  skipped: {reason}", stage + 1)
                    }
                    Outcome::Failed { error } => {
                        outln!("✗ [{:>w$}/{n}] {name}  {secs:.1}s", stage + 1);
                        for line in error.lines() {
                            outln!("    ✗ {line}");
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
                match result {
                    RunResult::Ok => outln!("ok in {secs:.1}s"),
                    // An exec changes nothing: no version to fall back on.
                    RunResult::Failed { .. } if exec => {
                        outln!("FAILED after {secs:.1}s: see each container's exit above")
                    }
                    RunResult::Failed { stage, .. } => {
                        outln!(
                            "FAILED at `{stage}` after {secs:.1}s; the previous version (if any) keeps serving"
                        )
                    }
                    RunResult::Cancelled { .. } => {
                        outln!(
                            "CANCELLED after {secs:.1}s; the previous version (if any) keeps serving"
                        )
                    }
                }
            }
        }
    }
}

/// `berth history <app>`: the audit lines from every host of the app.
/// `berth history APP [--limit N] [--since D]`: the newest `limit` lines
/// (all when `None`) started within `since` of now.
/// Kamal's audit log of `app` on each of its hosts (every destination
/// read), and Dokku's build records of `app` on each Dokku host: per
/// place, its records with their host, or why it could not be read; and
/// whether any Kamal app or Dokku host has the app.
async fn their_history(
    config: &Config,
    gateway: &Gateway,
    app: &str,
    declared_dokku_only: bool,
) -> (
    Vec<(
        String,
        Result<Vec<(String, engine::history::Record)>, String>,
    )>,
    bool,
) {
    use futures_util::future::join_all;
    let hosts = gateway.hosts();
    let kamal: Vec<_> = config
        .kamal
        .iter()
        .filter(|k| k.service == app)
        .flat_map(|k| k.names.iter().map(move |(_, h)| (k, h)))
        .collect();
    let mut found = !kamal.is_empty();
    let kamal_reads = join_all(kamal.iter().map(|(k, h)| async move {
        let place = format!("{}'s audit log on {h}", k.service_and_destination());
        let read = engine::foreign::kamal_audit(config, hosts, k, h)
            .await
            .map(|rs| rs.into_iter().map(|r| (h.to_string(), r)).collect());
        (place, read)
    }));
    let dokku_hosts: Vec<_> = config
        .fleet
        .hosts
        .iter()
        .filter(|(_, h)| match h.dokku {
            Some(d) => d,
            None => !declared_dokku_only,
        })
        .map(|(n, _)| n)
        .collect();
    let dokku_reads = join_all(
        dokku_hosts
            .iter()
            .map(|h| async move { (h, engine::foreign::dokku(config, hosts, h).await) }),
    );
    let (mut out, dokku): (Vec<_>, Vec<_>) = futures_util::join!(kamal_reads, dokku_reads);
    for (h, read) in dokku {
        match read {
            Ok(Some(state)) if state.apps.iter().any(|a| a == app) => {
                found = true;
                let records = state
                    .builds
                    .into_iter()
                    .filter(|r| r.app == app)
                    .map(|r| (h.to_string(), r))
                    .collect();
                out.push((format!("Dokku's builds on {h}"), Ok(records)));
            }
            Ok(_) => {}
            // Said only when nothing else has the app: it may be there.
            Err(e) => out.push((format!("Dokku host {h}"), Err(e))),
        }
    }
    if found {
        // A Dokku host that cannot be read matters only when nothing else
        // has the app.
        out.retain(|(place, r)| r.is_ok() || !place.starts_with("Dokku host "));
    }
    (out, found)
}

pub async fn history(
    config: &Config,
    gateway: &Gateway,
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
    let (mut theirs, found) = their_history(config, gateway, app, berth_app.is_some()).await;
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
    for host in berth_hosts {
        let read = match gateway
            .hosts()
            .state_dir(
                config.host(host).map_err(anyhow::Error::msg)?,
                engine::lock::REACH_TIMEOUT,
            )
            .await
        {
            Ok(dir) => engine::history::read(&dir, app)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
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
        rows.extend(records.into_iter().map(|r| (host.to_string(), r)));
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
