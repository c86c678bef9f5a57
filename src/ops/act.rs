//! Starting an action: the one path from what the operator asked for to a
//! running plan, for the console and the CLI alike.
//!
//! 1. A rollback with no version named gets the one it will start, read
//!    from the hosts now, so the plan and the run's header name it.
//! 2. The plan is made on a blocking thread (finding hooks and plugins
//!    lists directories; async threads must not wait on that).
//! 3. Preflight: what the plan needs and lacks, all of it at once, before
//!    the lock is taken or anything changes.
//! 4. The run, on its own task: its events, a cancel handle and its result.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Session;
use crate::config::Config;
use crate::engine::{self, Action, EngineEvent, Plan, RunResult, Version};

/// Why an action did not start. Nothing was taken or changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// No plan can be made (an unknown app, a bad hooks layout, ...), or a
    /// rollback has nothing to go back to.
    Plan(String),
    /// Read-only mode refuses every action.
    ReadOnly(String),
    /// The plan needs things that are missing: every one of them.
    Lacks(Vec<String>),
}

impl Refused {
    /// The stage a refused run is reported at.
    pub fn stage(&self) -> &'static str {
        match self {
            Refused::Plan(_) | Refused::ReadOnly(_) => "plan",
            Refused::Lacks(_) => "preflight",
        }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Plan(e) | Refused::ReadOnly(e) => f.write_str(e),
            Refused::Lacks(l) => write!(f, "it lacks: {}", l.join("; ")),
        }
    }
}

/// How a run takes the app's lock.
#[derive(Clone, Debug, Default)]
pub struct LockOptions {
    /// Wait this long for a lock held by another action; `None` fails at once.
    pub wait: Option<Duration>,
    /// A calling action's lock token (set by berth for its hooks): the run
    /// re-enters that lock instead of failing on it.
    pub token: Option<String>,
}

impl LockOptions {
    /// The options a hook's nested `berth` call inherits from its caller.
    pub fn from_env(wait: Option<Duration>) -> Self {
        LockOptions {
            wait,
            token: std::env::var("BERTH_LOCK_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        }
    }
}

/// A run under way.
pub struct Started {
    /// Every event of the run, in order; closed when the run ends.
    pub events: mpsc::UnboundedReceiver<EngineEvent>,
    /// Cancels at the next safe point; the previous version keeps serving.
    pub cancel: CancellationToken,
    /// The run's result, once it has put everything back it had to.
    pub outcome: JoinHandle<RunResult>,
}

/// Steps 1 and 2: the plan the action will run, its rollback version named.
pub async fn plan(
    config: &Arc<Config>,
    session: &Session,
    action: Action,
) -> Result<Plan, Refused> {
    let action = name_rollback_version(config, session, action).await?;
    let (c, a) = (config.clone(), action);
    match tokio::task::spawn_blocking(move || engine::plan(&c, &a)).await {
        Ok(planned) => planned.map_err(|e| match e {
            engine::PlanError::ReadOnly { .. } => Refused::ReadOnly(e.to_string()),
            e => Refused::Plan(e.to_string()),
        }),
        Err(e) => Err(Refused::Plan(format!("planning stopped: {e}"))),
    }
}

/// Step 3: what the plan needs and lacks, in words; empty when nothing.
pub async fn lacks(config: &Config, session: &Session, plan: &Plan) -> Vec<String> {
    engine::preflight::check(config, &session.gateway, plan)
        .await
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Steps 1 to 3: a plan that can run now.
pub async fn prepare(
    config: &Arc<Config>,
    session: &Session,
    action: Action,
) -> Result<Plan, Refused> {
    let plan = plan(config, session, action).await?;
    let lacks = lacks(config, session, &plan).await;
    if lacks.is_empty() {
        Ok(plan)
    } else {
        Err(Refused::Lacks(lacks))
    }
}

/// Step 4: runs a prepared plan on its own task.
pub fn run(config: Arc<Config>, session: &Session, plan: Plan, lock: LockOptions) -> Started {
    let (tx, events) = mpsc::unbounded_channel();
    let cancel = CancellationToken::new();
    let gateway = session.gateway.clone();
    let token = cancel.clone();
    let outcome = tokio::spawn(async move {
        let mut ctx = engine::RunContext::new(&config, gateway, tx, token);
        ctx.lock_wait = lock.wait;
        ctx.lock_token = lock.token;
        engine::run(ctx, &plan).await
    });
    Started {
        events,
        cancel,
        outcome,
    }
}

/// What a deploy of each declared app lacks now: the console shows it on
/// each app's row before anyone presses a key.
pub async fn lacks_of_every_app(
    config: &Arc<Config>,
    session: &Session,
) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let Ok(version) = Version::new("next") else {
        return out;
    };
    for app in config.fleet.apps.keys() {
        let action = Action::Deploy {
            app: app.clone(),
            version: version.clone(),
            destination: None,
        };
        let lacks = match plan(config, session, action).await {
            Ok(plan) => lacks(config, session, &plan).await,
            Err(e) => vec![e.to_string()],
        };
        out.push((app.to_string(), lacks));
    }
    out
}

/// A rollback with no version named gets the newest retained version that
/// is not running, read from the hosts now; other actions are unchanged.
async fn name_rollback_version(
    config: &Config,
    session: &Session,
    action: Action,
) -> Result<Action, Refused> {
    let Action::Rollback {
        app,
        version: None,
        destination,
    } = action
    else {
        return Ok(action);
    };
    let fleet = session.fleet_now(config, Duration::from_secs(10)).await;
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
        return Err(Refused::Plan(format!(
            "rollback {app}: no retained version to go back to (see `berth status --app {app}`)"
        )));
    };
    Ok(Action::Rollback {
        app,
        version: Some(Version::new(&v).map_err(Refused::Plan)?),
        destination,
    })
}
