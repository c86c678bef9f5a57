//! Any container, whoever started it: found by name or id on the hosts,
//! restarted, stopped, started, killed, paused, unpaused or removed
//! through its engine's API, and recorded in the host's history of hand
//! operations (who, what, which container, the result), which the Runs
//! view and `berth history --host` show. A berth app's container goes
//! through the engine and its app's lock instead (`ops::act`, as the
//! console's container keys always did); this is for the rest: another
//! tool's (Kamal, Dokku, Compose) and strays.

use std::time::Duration;

use chrono::Utc;

use super::Session;
use crate::config::{Config, HostName};
use crate::domain::{Container, State};
use crate::engine::history::{self, Performer, Record};
use crate::labels::Source;

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop or restart gives the container to exit (Docker's own
/// default).
const GRACE: Duration = Duration::from_secs(10);

/// What to do to a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Restart,
    Stop,
    Start,
    Kill,
    Pause,
    Unpause,
    Remove,
}

impl Op {
    pub fn verb(self) -> &'static str {
        match self {
            Op::Restart => "restart",
            Op::Stop => "stop",
            Op::Start => "start",
            Op::Kill => "kill",
            Op::Pause => "pause",
            Op::Unpause => "unpause",
            Op::Remove => "remove",
        }
    }
}

/// A container found on a host.
#[derive(Clone, Debug)]
pub struct Found {
    pub host: HostName,
    pub container: Container,
}

impl Found {
    /// Who owns it, as people say it: `Kamal's app shop`, `Compose project
    /// blog`, `nobody berth knows`.
    pub fn owner(&self) -> String {
        let o = &self.container.owner;
        let app = o.app.as_deref().unwrap_or("?");
        match o.source {
            Source::Berth => format!("berth app {app}"),
            Source::Kamal => format!("Kamal's app {app}"),
            Source::Dokku => format!("Dokku's app {app}"),
            Source::Compose => format!("Compose project {app}"),
            Source::Unmanaged => "nobody berth knows".into(),
        }
    }

    /// What the owning tool will do about `op` on its own next run, for
    /// the confirmation: berth acts now, the tool may undo it.
    pub fn consequence(&self, op: Op) -> String {
        let gone = matches!(op, Op::Stop | Op::Kill | Op::Remove);
        match self.container.owner.source {
            Source::Kamal if gone => {
                "Kamal starts the app's containers again on its next `kamal deploy`".into()
            }
            Source::Dokku if gone => {
                "Dokku starts the app again on its next deploy or `ps:rebuild`".into()
            }
            Source::Compose if gone => "`docker compose up` starts the service again".into(),
            Source::Berth if gone => "berth's next deploy of the app starts it again".into(),
            _ if gone && self.container.restart_count > 0 => {
                "its restart policy may start it again".into()
            }
            _ => "its owner is not told".into(),
        }
    }

    pub fn running(&self) -> bool {
        matches!(
            self.container.state,
            State::Running | State::Restarting | State::Paused
        )
    }
}

/// The container named `name` (its name, or an id prefix of 4 or more) on
/// `host`, or on whichever host has it; an error when none has it, or
/// when several do (naming them: `--host` picks one).
pub async fn find(
    config: &Config,
    session: &Session,
    name: &str,
    host: Option<&HostName>,
) -> Result<Found, String> {
    let name = name.trim_start_matches('/');
    let hosts: Vec<HostName> = match host {
        Some(h) => {
            config.host(h).map_err(|e| e.to_string())?;
            vec![h.clone()]
        }
        None => config.fleet.hosts.keys().cloned().collect(),
    };
    let mut found: Vec<Found> = Vec::new();
    let mut problems: Vec<String> = Vec::new();
    for h in hosts {
        let client = match session.client_for(config, h.as_str(), TIMEOUT).await {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("{h}: {e}"));
                continue;
            }
        };
        match client.list_all(TIMEOUT).await {
            Ok(all) => found.extend(
                all.into_iter()
                    .filter(|c| c.name == name || (name.len() >= 4 && c.id.starts_with(name)))
                    .map(|container| Found {
                        host: h.clone(),
                        container,
                    }),
            ),
            Err(e) => problems.push(format!("{h}: {e}")),
        }
    }
    let shown = crate::sanitize::one_line(name);
    // Hosts that reach one engine see the same container: a berth
    // container says which host it was started for.
    if found.len() > 1
        && let Some(first) = found.first()
        && found.iter().all(|f| f.container.id == first.container.id)
        && let Some(own) = first.container.owner.host.clone()
        && let Some(i) = found.iter().position(|f| f.host.as_str() == own)
    {
        return Ok(found.swap_remove(i));
    }
    match found.len() {
        1 => found.pop().ok_or_else(|| "no container".to_string()),
        0 if problems.is_empty() => Err(format!("no container `{shown}` on any host")),
        0 => Err(format!(
            "no container `{shown}` on the hosts that answered (not reached: {})",
            problems.join("; ")
        )),
        _ => Err(format!(
            "`{shown}` is on several hosts ({}): name one with --host",
            found
                .iter()
                .map(|f| f.host.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// Does `op` to the container, through its engine's API, and records it
/// in its host's history (the result, and the error when it failed).
/// Refused for a read-only config.
pub async fn act(config: &Config, session: &Session, found: &Found, op: Op) -> Result<(), String> {
    if let Some(why) = config.read_only() {
        return Err(format!("read-only ({why}): {} refused", op.verb()));
    }
    let started_at = Utc::now();
    let c = &found.container;
    let client = session
        .client_for(config, found.host.as_str(), TIMEOUT)
        .await?;
    let done = match op {
        Op::Restart => client.restart(&c.id, GRACE).await,
        Op::Stop => client.stop(&c.id, GRACE).await,
        Op::Start => client.start(&c.id).await,
        Op::Kill => client.kill(&c.id).await,
        Op::Pause => client.pause(&c.id, true).await,
        Op::Unpause => client.pause(&c.id, false).await,
        Op::Remove => client.remove(&c.id, false).await,
    }
    .map_err(|e| e.to_string());
    let record = Record {
        started_at,
        finished_at: Utc::now(),
        performer: Performer::current(),
        action: format!("container-{}", op.verb()),
        app: c.owner.app.clone().unwrap_or_default(),
        destination: c.owner.destination.clone(),
        version: c.owner.version.clone(),
        digest: None,
        result: if done.is_ok() { "ok" } else { "failed" }.into(),
        failed_stage: None,
        error: done.as_ref().err().cloned(),
        note: Some(crate::sanitize::one_line(&format!(
            "{} {} on {} ({})",
            op.verb(),
            c.name,
            found.host,
            found.owner()
        ))),
        run: String::new(),
        tool: String::new(),
    };
    let recorded = append(config, session, &found.host, &record).await;
    match (done, recorded) {
        (Err(e), _) => Err(e),
        (Ok(()), Err(e)) => Err(format!(
            "{} done, but not recorded in {}'s history: {e}",
            op.verb(),
            found.host
        )),
        (Ok(()), Ok(())) => Ok(()),
    }
}

/// Appends a hand operation to `host`'s history.
pub(super) async fn append(
    config: &Config,
    session: &Session,
    host: &HostName,
    record: &Record,
) -> Result<(), String> {
    let dir = state_dir(config, session, host).await?;
    history::append_host(&dir, record)
        .await
        .map_err(|e| e.to_string())
}

/// The host's history of hand operations on containers, oldest first.
pub async fn host_history(
    config: &Config,
    session: &Session,
    host: &HostName,
) -> Result<Vec<Record>, String> {
    let dir = state_dir(config, session, host).await?;
    history::read(&dir, history::HOST_LOG)
        .await
        .map(|(records, _)| records)
        .map_err(|e| e.to_string())
}

/// berth's state directory on `host`, ready for its files.
async fn state_dir(
    config: &Config,
    session: &Session,
    host: &HostName,
) -> Result<crate::hosts::HostPath, String> {
    let cfg = config.host(host).map_err(|e| e.to_string())?;
    session
        .gateway
        .hosts()
        .state_dir(cfg, TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}
