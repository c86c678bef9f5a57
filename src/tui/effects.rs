//! The console's effects: what `update` asked for that takes time (an
//! action, a lock, a host's clock, a container's inspect, a theme file),
//! started on its own task through [`crate::ops`], its answer coming back
//! as a message. The shell and the mouse touch the terminal, which the
//! loop owns: they are handed back to it as [`Local`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use super::model::{self, Effect, Msg};
use super::theme::{Palette, Theme};
use crate::config::Config;
use crate::engine::{self, EngineEvent, RunResult};
use crate::ops::{self, Session, act};

/// How long quitting waits for cancelled actions to put the old version back.
const CANCEL_DEADLINE: Duration = Duration::from_secs(120);

/// What only the loop can do: it owns the terminal.
pub enum Local {
    Done,
    Shell(model::ShellAt),
    Mouse(bool),
}

/// An action running in the background.
struct Running {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

pub struct Effects {
    config: Arc<Config>,
    session: Session,
    tx: mpsc::UnboundedSender<Msg>,
    /// Asks the lock watch for a read now.
    reload: Arc<Notify>,
    palette: Palette,
    running: HashMap<u64, Running>,
}

impl Effects {
    pub fn new(
        config: Arc<Config>,
        session: Session,
        tx: mpsc::UnboundedSender<Msg>,
        reload: Arc<Notify>,
        palette: Palette,
    ) -> Self {
        Effects {
            config,
            session,
            tx,
            reload,
            palette,
            running: HashMap::new(),
        }
    }

    /// Starts what `effect` asks for; what the loop must do itself comes back.
    pub fn apply(&mut self, effect: Effect) -> Local {
        self.running.retain(|_, r| !r.task.is_finished());
        let (config, session, tx) = (self.config.clone(), self.session.clone(), self.tx.clone());
        let reload = self.reload.clone();
        match effect {
            Effect::Start { run, action } => {
                let cancel = CancellationToken::new();
                let task = tokio::spawn(start_run(
                    config,
                    session,
                    run,
                    action,
                    cancel.clone(),
                    tx,
                    reload,
                ));
                self.running.insert(run, Running { cancel, task });
            }
            Effect::Cancel { run } => {
                if let Some(r) = self.running.get(&run) {
                    r.cancel.cancel();
                }
            }
            Effect::ContainerOp { host, name, op } => {
                tokio::spawn(async move {
                    let host_name = crate::config::HostName::new(&host).ok();
                    let done =
                        match ops::container::find(&config, &session, &name, host_name.as_ref())
                            .await
                        {
                            Ok(found) => ops::container::act(&config, &session, &found, op).await,
                            Err(e) => Err(e),
                        };
                    let (text, error) = match done {
                        Ok(()) => (format!("{} {name} on {host}: done", op.verb()), false),
                        Err(e) => (format!("{} {name} on {host}: {e}", op.verb()), true),
                    };
                    reload.notify_one();
                    let _ = tx.send(Msg::Notice {
                        text: crate::sanitize::one_line(&text),
                        error,
                    });
                });
            }
            Effect::ComposeOp { host, project, op } => {
                tokio::spawn(async move {
                    let host_name = host
                        .as_deref()
                        .and_then(|h| crate::config::HostName::new(h).ok());
                    let done =
                        match ops::compose::find(&config, &session, &project, host_name.as_ref())
                            .await
                        {
                            Ok(found) => ops::compose::act(&config, &session, &found, op).await,
                            Err(e) => Err(e),
                        };
                    let (text, error) = match done {
                        Ok(done) => (format!("{done}: done"), false),
                        Err(e) => (format!("compose {} {project}: {e}", op.verb()), true),
                    };
                    reload.notify_one();
                    let _ = tx.send(Msg::Notice {
                        text: crate::sanitize::one_line(&text),
                        error,
                    });
                });
            }
            Effect::Lock { target, message } => {
                tokio::spawn(async move {
                    let r = ops::lock::acquire(
                        &config,
                        &session,
                        &target.app,
                        target.destination.as_ref(),
                        &message,
                    )
                    .await;
                    let (text, error) = match r {
                        Ok(h) => (
                            format!("locked {target}: \"{}\"", h.message.unwrap_or_default()),
                            false,
                        ),
                        Err(e) => (format!("lock {target}: {}", lock_error(&e)), true),
                    };
                    reload.notify_one();
                    let _ = tx.send(Msg::Notice { text, error });
                });
            }
            Effect::Unlock { target, force } => {
                tokio::spawn(async move {
                    let r = ops::lock::release(
                        &config,
                        &session,
                        &target.app,
                        target.destination.as_ref(),
                        force,
                    )
                    .await;
                    let (text, error) = match r {
                        Ok(engine::lock::Released::NotLocked) => {
                            (format!("{target} is not locked"), false)
                        }
                        Ok(engine::lock::Released::Released(_)) => {
                            (format!("released {target}"), false)
                        }
                        Ok(engine::lock::Released::Forced(note)) => {
                            (format!("released {target}: {note}"), false)
                        }
                        Err(e) => (format!("unlock {target}: {}", lock_error(&e)), true),
                    };
                    reload.notify_one();
                    let _ = tx.send(Msg::Notice { text, error });
                });
            }
            Effect::LoadTheme(name) => {
                // A theme file is read off the loop's thread.
                let palette = self.palette;
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(Msg::Theme(
                        Theme::load(&name, palette).map_err(|e| e.to_string()),
                    ));
                });
            }
            Effect::HostClock(host) => {
                tokio::spawn(async move {
                    let skew = ops::host::clock(&config, &session, &host).await;
                    let _ = tx.send(Msg::HostClock {
                        host: host.clone(),
                        skew,
                    });
                    let disk = ops::host::disk(&config, &session, &host).await;
                    let _ = tx.send(Msg::HostDisk { host, disk });
                });
            }
            Effect::Inspect { host, id } => {
                tokio::spawn(async move {
                    let inspect = ops::inspect::inspect(&config, &session, &host, &id).await;
                    let _ = tx.send(Msg::Inspected {
                        host,
                        id,
                        inspect: Box::new(inspect),
                    });
                });
            }
            Effect::Shell(at) => return Local::Shell(at),
            Effect::Mouse(on) => return Local::Mouse(on),
            Effect::Quit => {}
        }
        Local::Done
    }

    /// Cancels what still runs and waits (bounded) for each run to put the
    /// old version back and release its lock. `quiet`: the terminal is gone.
    pub async fn finish(self, quiet: bool) {
        let running: Vec<Running> = self
            .running
            .into_values()
            .filter(|r| !r.task.is_finished())
            .collect();
        if running.is_empty() {
            return;
        }
        if !quiet {
            crate::sanitize::say_on_stderr(&format!(
                "berth: cancelling {} running action(s); the previous version keeps serving. Waiting for them to finish (up to {}s)…",
                running.len(),
                CANCEL_DEADLINE.as_secs()
            ));
        }
        for r in &running {
            r.cancel.cancel();
        }
        let all = futures_util::future::join_all(running.into_iter().map(|r| r.task));
        if tokio::time::timeout(CANCEL_DEADLINE, all).await.is_err() && !quiet {
            crate::sanitize::say_on_stderr(
                "berth: some actions did not finish in time; see `berth lock status` and `berth status`",
            );
        }
    }
}

fn lock_error(e: &engine::lock::ManualError) -> String {
    match e {
        engine::lock::ManualError::Lock(engine::lock::LockError::Held(s)) => {
            format!("already {}", s.describe(Utc::now()))
        }
        other => other.to_string(),
    }
}

/// Prepares and runs one action through [`act`], forwarding its events to
/// the console.
async fn start_run(
    config: Arc<Config>,
    session: Session,
    run: u64,
    action: engine::Action,
    cancel: CancellationToken,
    tx: mpsc::UnboundedSender<Msg>,
    reload: Arc<Notify>,
) {
    let plan = match act::plan(&config, &session, action.clone()).await {
        Ok(plan) => {
            let lacks = act::lacks(&config, &session, &plan).await;
            // The app's row shows what was found now (and forgets what was fixed).
            let _ = tx.send(Msg::Preflight(
                [(plan.app.to_string(), lacks.clone())]
                    .into_iter()
                    .collect(),
            ));
            if lacks.is_empty() {
                Ok(plan)
            } else {
                Err(act::Refused::Lacks(lacks))
            }
        }
        Err(why) => Err(why),
    };
    let plan = match plan {
        Ok(plan) => plan,
        Err(why) => {
            // Refused before anything is taken.
            let _ = tx.send(Msg::Engine {
                run,
                event: EngineEvent::Finished {
                    result: RunResult::Failed {
                        stage: why.stage().into(),
                        error: why.to_string(),
                        kind: crate::engine::FailureKind::Refused,
                    },
                    elapsed_ms: 0,
                },
            });
            let _ = tx.send(Msg::Notice {
                text: format!("{} {}: {why}", action.verb(), action.app()),
                error: true,
            });
            return;
        }
    };
    // Lock changes are worth seeing at once, not at the next poll.
    reload.notify_one();
    let mut started = act::run(config, &session, plan, act::LockOptions::default());
    loop {
        tokio::select! {
            event = started.events.recv() => match event {
                Some(event) => {
                    if tx.send(Msg::Engine { run, event }).is_err() {
                        started.cancel.cancel();
                    }
                }
                None => break,
            },
            _ = cancel.cancelled(), if !started.cancel.is_cancelled() => started.cancel.cancel(),
        }
    }
    let _ = started.outcome.await;
    reload.notify_one();
}
