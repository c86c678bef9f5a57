//! A shell, or any command, in one container with the operator's terminal
//! attached (`s` in the console, `berth exec -i`): which container, which
//! program, and the line it leaves in the app's history. Connecting the
//! terminal to it is the front end's.
//!
//! Not under the app's lock (it changes no container), as `exec` is not;
//! refused in read-only mode, as every action is.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::history::{self, Performer, Record};
use super::plan;
use super::{Failure, lock};
use crate::config::{AppName, Config, DestinationName, HostName, RoleName};
use crate::docker::{Attached, Client, Gateway};
use crate::labels::Selector;

/// How long reaching a host's engine may take.
const REACH: Duration = Duration::from_secs(10);

/// One container to attach to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub host: HostName,
    pub id: String,
    pub name: String,
}

/// A berth app's container, for its history line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub app: AppName,
    pub destination: Option<DestinationName>,
}

impl Owner {
    /// The destination as labels and history records have it ("" for none).
    fn destination(&self) -> String {
        self.destination
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default()
    }
}

/// The engine of one of the config's hosts.
async fn reach(config: &Config, gateway: &Gateway, host: &HostName) -> Result<Client, Failure> {
    let cfg = config.host(host).map_err(Failure::on(host))?;
    gateway
        .engine_of(cfg, REACH)
        .await
        .map_err(Failure::on(host))
}

/// The container a shell goes to when the operator named an app (`berth
/// exec -i`, `s` on an app): checked as an exec's plan is (read-only
/// mode, role, host), then the first running container of the role on its
/// hosts in order, a healthy one before one with no healthcheck, and one
/// failing its healthcheck last.
pub async fn pick(
    config: &Config,
    gateway: &Gateway,
    owner: &Owner,
    role: Option<&RoleName>,
    host: Option<&HostName>,
) -> Result<Place, Failure> {
    let (role, hosts) =
        plan::exec_hosts(config, &owner.app, owner.destination.as_ref(), role, host)
            .map_err(|e| Failure::from(e.to_string()))?;
    let mut found = Vec::new();
    for host in &hosts {
        let engine = reach(config, gateway, host).await?;
        let selector = Selector {
            app: owner.app.to_string(),
            destination: owner.destination(),
            role: Some(role.to_string()),
            version: None,
            host: Some(host.to_string()),
        };
        let running = engine
            .list(&selector, false)
            .await
            .map_err(Failure::on(host))?;
        found.extend(running.into_iter().filter(|c| c.running).map(|c| {
            let rank = rank(&c.status);
            (
                rank,
                Place {
                    host: host.clone(),
                    id: c.id,
                    name: c.name,
                },
            )
        }));
    }
    // Stable: hosts keep their order within a rank.
    found.sort_by_key(|(rank, _)| *rank);
    found.into_iter().next().map(|(_, p)| p).ok_or_else(|| {
        Failure::from(format!(
            "no running container of {}'s role `{role}` on {}",
            owner.app,
            hosts
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// Healthy first, then no healthcheck (or starting), unhealthy last, from
/// Docker's status words (`Up 5 minutes (healthy)`).
fn rank(status: &str) -> u8 {
    if status.contains("(healthy)") {
        0
    } else if status.contains("(unhealthy)") {
        2
    } else {
        1
    }
}

/// What to run: the command asked for; else the app's `shell:`; else
/// `/bin/bash` where the container has it; else `/bin/sh`.
async fn program(
    engine: &Client,
    place: &Place,
    asked: &[String],
    configured: Option<&[String]>,
) -> Vec<String> {
    if !asked.is_empty() {
        return asked.to_vec();
    }
    if let Some(shell) = configured.filter(|s| !s.is_empty()) {
        return shell.to_vec();
    }
    let probe = ["/bin/bash".to_string(), "--version".to_string()];
    match engine.exec(&place.id, &probe, |_, _| {}).await {
        Ok(Some(0)) => vec!["/bin/bash".into()],
        _ => vec!["/bin/sh".into()],
    }
}

/// Starts the command asked for (or the shell, see [`program`]) in the
/// container, with a terminal of `tty` (columns, rows) when the operator
/// has one; what it runs, and the session.
pub async fn open(
    config: &Config,
    gateway: &Gateway,
    place: &Place,
    asked: &[String],
    configured: Option<&[String]>,
    tty: Option<(u16, u16)>,
) -> Result<(Vec<String>, Attached), Failure> {
    let host = &place.host;
    let engine = reach(config, gateway, host).await?;
    let argv = program(&engine, place, asked, configured).await;
    // The operator's terminal type, so the shell draws as it should.
    let term = std::env::var("TERM")
        .ok()
        .filter(|t| tty.is_some() && !t.is_empty() && t.chars().all(|c| c.is_ascii_graphic()))
        .map(|t| format!("TERM={t}"));
    let attached = engine
        .attach(&place.id, &argv, tty, term.as_slice())
        .await
        .map_err(Failure::on(host))?;
    Ok((argv, attached))
}

/// How an attached session ended.
pub enum Ended {
    Exit(Option<i64>),
    Failed(String),
}

/// The history line of an interactive exec, on the container's host:
/// who, which container, the command, how it ended.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    config: &Config,
    gateway: &Gateway,
    owner: &Owner,
    place: &Place,
    argv: &[String],
    started_at: DateTime<Utc>,
    ended: &Ended,
    performer: &Performer,
) -> Result<(), Failure> {
    let host = &place.host;
    let (result, error, code) = match ended {
        Ended::Exit(Some(0)) => ("ok", None, "exit 0".to_string()),
        Ended::Exit(Some(c)) => ("failed", None, format!("exit {c}")),
        Ended::Exit(None) => ("ok", None, "no exit code".to_string()),
        Ended::Failed(e) => ("failed", Some(e.clone()), "did not run".to_string()),
    };
    let record = Record {
        started_at,
        finished_at: Utc::now(),
        performer: performer.clone(),
        action: "exec".into(),
        app: owner.app.to_string(),
        destination: owner.destination(),
        version: None,
        digest: None,
        result: result.into(),
        failed_stage: None,
        error,
        note: Some(format!(
            "`{}` (interactive) in {host}: {} ({code})",
            shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" ")),
            place.name
        )),
        run: String::new(),
        tool: String::new(),
    };
    let cfg = config.host(host).map_err(Failure::on(host))?;
    let dir = gateway
        .hosts()
        .state_dir(cfg, lock::REACH_TIMEOUT)
        .await
        .map_err(Failure::on(host))?;
    history::append(&dir, &record)
        .await
        .map_err(Failure::on(host))
}

#[cfg(test)]
mod tests {
    use super::rank;

    #[test]
    fn healthy_containers_are_chosen_before_unknown_and_unhealthy_ones() {
        let mut statuses = vec![
            "Up 2 minutes (unhealthy)",
            "Up 3 seconds",
            "Up 1 minute (healthy)",
            "Up 4 seconds (health: starting)",
        ];
        statuses.sort_by_key(|s| rank(s));
        assert_eq!(
            statuses,
            vec![
                "Up 1 minute (healthy)",
                "Up 3 seconds",
                "Up 4 seconds (health: starting)",
                "Up 2 minutes (unhealthy)"
            ]
        );
    }
}
