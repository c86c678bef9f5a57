//! `berth container OP NAME`: any container, whoever started it. A berth
//! app's container (restart, stop, start, remove) runs as an action of its
//! app, under its lock and into its history, as the console's keys do;
//! any other is acted on through its engine after a confirmation that
//! names its owner and what that owner will do about it, and recorded in
//! the host's history (`berth container history`).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{Config, HostName};
use crate::ops::Session;
use crate::ops::container::{self, Found, Op};

#[derive(Debug, clap::Subcommand)]
pub enum ContainerCommand {
    /// Restart a container (stopped with a 10 s grace, started again)
    Restart(Named),
    /// Stop a container (10 s grace, then killed)
    Stop(Named),
    /// Start a stopped container
    Start(Named),
    /// Kill a container (SIGKILL)
    Kill(Named),
    /// Freeze a container's processes
    Pause(Named),
    /// Thaw a paused container
    Unpause(Named),
    /// Remove a container; a running one only with --force and its name
    /// typed again (--confirm NAME)
    Rm {
        #[command(flatten)]
        named: Named,
        /// Remove it even while it runs
        #[arg(long)]
        force: bool,
        /// The container's name again, to remove a running one without a
        /// terminal to type it in
        #[arg(long, value_name = "NAME")]
        confirm: Option<String>,
    },
    /// A container's log (any container, whoever started it); with -f,
    /// followed through its restarts
    Logs(super::container_logs::Args),
    /// The hand operations on containers recorded on each host (or one)
    History {
        /// Only this host's
        #[arg(long, value_name = "HOST")]
        host: Option<HostName>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct Named {
    /// The container's name (or an id prefix of 4 or more characters)
    name: String,
    /// The host it is on [default: whichever host has it]
    #[arg(long, value_name = "HOST")]
    host: Option<HostName>,
    /// Do not ask (for scripts); without a terminal to ask on, required
    #[arg(long, short = 'y')]
    yes: bool,
}

pub async fn run(
    config: &Arc<Config>,
    session: &Session,
    command: &ContainerCommand,
) -> anyhow::Result<u8> {
    let (named, op, force, confirm) = match command {
        ContainerCommand::Restart(n) => (n, Op::Restart, false, None),
        ContainerCommand::Stop(n) => (n, Op::Stop, false, None),
        ContainerCommand::Start(n) => (n, Op::Start, false, None),
        ContainerCommand::Kill(n) => (n, Op::Kill, false, None),
        ContainerCommand::Pause(n) => (n, Op::Pause, false, None),
        ContainerCommand::Unpause(n) => (n, Op::Unpause, false, None),
        ContainerCommand::Rm {
            named,
            force,
            confirm,
        } => (named, Op::Remove, *force, confirm.as_deref()),
        ContainerCommand::History { host, json } => {
            return history(config, session, host.as_ref(), *json).await;
        }
        ContainerCommand::Logs(args) => {
            return super::container_logs::run(config, session, args).await;
        }
    };
    if let Some(why) = config.read_only() {
        errln!("berth: read-only ({why}): container {} refused", op.verb());
        return Ok(super::EXIT_REFUSED);
    }
    let found = match container::find(config, session, &named.name, named.host.as_ref()).await {
        Ok(f) => f,
        Err(e) => {
            errln!("berth: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let name = crate::sanitize::one_line(&found.container.name);
    // A berth app's container: an action of its app, as ever.
    if let Some(action) = berth_action(config, &found, op) {
        return super::actions::run_action(config, session, action, false, None).await;
    }
    if op == Op::Remove && found.running() {
        if !force {
            errln!(
                "berth: {name} is running: `berth container rm --force {name}` removes it anyway"
            );
            return Ok(EXIT_ERROR);
        }
        let typed = match confirm {
            Some(c) => c.to_string(),
            None if std::io::stdin().is_terminal() => ask(&format!(
                "{name} on {} runs ({}); {}. Type its name to remove it: ",
                found.host,
                found.owner(),
                found.consequence(op)
            ))?,
            None => {
                errln!(
                    "berth: {name} is running: give --confirm {name} to remove it without a terminal"
                );
                return Ok(EXIT_ERROR);
            }
        };
        if typed.trim() != found.container.name {
            errln!(
                "berth: `{}` is not {name}: nothing removed",
                crate::sanitize::one_line(typed.trim())
            );
            return Ok(EXIT_ERROR);
        }
    } else if let Some(code) = confirmed(
        &format!(
            "{} {name} on {} ({}; {})",
            capital(op.verb()),
            found.host,
            found.owner(),
            found.consequence(op)
        ),
        named.yes,
    )? {
        return Ok(code);
    }
    match container::act(config, session, &found, op).await {
        Ok(()) => {
            outln!("{} {name} on {}: done", op.verb(), found.host);
            Ok(EXIT_OK)
        }
        Err(e) => {
            errln!("berth: {} {name} on {}: {e}", op.verb(), found.host);
            Ok(EXIT_UNHEALTHY)
        }
    }
}

/// For a container of an app the config declares: the app's action on it
/// (under its lock, into its history), when `op` is one.
fn berth_action(config: &Config, found: &Found, op: Op) -> Option<crate::engine::Action> {
    use crate::engine::ContainerOp;
    let o = &found.container.owner;
    if o.source != crate::labels::Source::Berth {
        return None;
    }
    let app = crate::config::AppName::new(o.app.as_deref()?).ok()?;
    if !config.fleet.apps.contains_key(&app) {
        return None;
    }
    let op = match op {
        Op::Restart => ContainerOp::Restart,
        Op::Stop => ContainerOp::Stop,
        Op::Start => ContainerOp::Start,
        Op::Remove => ContainerOp::Remove,
        Op::Kill | Op::Pause | Op::Unpause => return None,
    };
    Some(crate::engine::Action::Container {
        app,
        destination: crate::config::DestinationName::new(&o.destination).ok(),
        host: found.host.clone(),
        container: found.container.name.clone(),
        op,
    })
}

/// Asks `question` y/N on the terminal, unless `yes`; `Some(exit code)`
/// when it is not to be done (no terminal to ask on and no `--yes`, or
/// not a yes).
pub(super) fn confirmed(question: &str, yes: bool) -> anyhow::Result<Option<u8>> {
    if yes {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        errln!("berth: {question}: give --yes to do it without a terminal to ask on");
        return Ok(Some(EXIT_ERROR));
    }
    let answer = ask(&format!("{question}? [y/N] "))?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(None)
    } else {
        errln!("berth: nothing done");
        Ok(Some(EXIT_ERROR))
    }
}

pub(super) fn ask(question: &str) -> anyhow::Result<String> {
    err!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line)
}

pub(super) fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

async fn history(
    config: &Config,
    session: &Session,
    host: Option<&HostName>,
    json: bool,
) -> anyhow::Result<u8> {
    let hosts: Vec<HostName> = match host {
        Some(h) => vec![h.clone()],
        None => config.fleet.hosts.keys().cloned().collect(),
    };
    let mut code = EXIT_OK;
    let mut shown = 0;
    for h in &hosts {
        match container::host_history(config, session, h).await {
            Ok(records) => {
                shown += records.len();
                for r in records {
                    if json {
                        let mut v = serde_json::to_value(&r)?;
                        if let Some(m) = v.as_object_mut() {
                            m.insert("host".into(), serde_json::Value::String(h.to_string()));
                        }
                        outln!("{}", serde_json::to_string(&v)?);
                    } else {
                        outln!(
                            "{}  {h}  {}  {}  {}{}",
                            r.started_at.format("%Y-%m-%d %H:%M:%S"),
                            r.performer,
                            r.note.as_deref().unwrap_or(&r.action),
                            r.result,
                            r.error
                                .as_deref()
                                .map(|e| format!(": {e}"))
                                .unwrap_or_default()
                        );
                    }
                }
            }
            Err(e) => {
                errln!("berth: {h}: {e}");
                code = EXIT_ERROR;
            }
        }
    }
    // Text says there is nothing; JSON lines of nothing is no line.
    if shown == 0 && !json && code == EXIT_OK {
        let on: Vec<String> = hosts.iter().map(ToString::to_string).collect();
        outln!("no hand operations recorded on {}", on.join(", "));
    }
    Ok(code)
}
