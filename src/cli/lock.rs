//! `berth lock status|acquire|release`: who holds each app's deploy lock,
//! and manual locks for incidents. Kamal's locks (on each Kamal app's
//! primary host) and Dokku's (on each Dokku host) are shown read-only next
//! to berth's.

use chrono::Utc;
use serde::Serialize;

use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{AppName, Config, DestinationName};
use crate::docker::Gateway;
use crate::engine::foreign::{self, ForeignLock, ForeignRead};
use crate::engine::history::Performer;
use crate::engine::lock::{self, LockError, ManualError, Released, Status};
use crate::hosts::HostPath;

#[derive(Debug, clap::Subcommand)]
pub enum LockCommand {
    /// Who holds each app's lock (stale ones marked)
    Status {
        /// Only this app
        app: Option<String>,
        #[arg(long, short = 'd', value_name = "NAME")]
        destination: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take an app's lock by hand (e.g. during an incident); deploys then refuse to start
    Acquire {
        app: String,
        /// Why (shown to everyone who is refused)
        #[arg(long, short = 'm', value_name = "MESSAGE")]
        message: String,
        #[arg(long, short = 'd', value_name = "NAME")]
        destination: Option<String>,
    },
    /// Release your own lock; --force releases anyone's (recorded in the history)
    Release {
        app: String,
        #[arg(long)]
        force: bool,
        #[arg(long, short = 'd', value_name = "NAME")]
        destination: Option<String>,
    },
}

#[derive(Serialize)]
struct LockView {
    app: String,
    destination: String,
    host: String,
    /// Where the lock lives (`ssh://…:~/.berth/locks/web` on an SSH host).
    path: String,
    #[serde(flatten)]
    status: Option<Status>,
    held: bool,
    /// Set when the lock is there but cannot be read as a holder.
    #[serde(skip_serializing_if = "Option::is_none")]
    broken: Option<lock::Broken>,
    /// Set when the lock could not be read at all (its host unreachable...).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn target(
    config: &Config,
    gateway: &Gateway,
    app: &str,
    dest: Option<&str>,
) -> anyhow::Result<(AppName, Option<DestinationName>, String, HostPath)> {
    let app = AppName::new(app).map_err(anyhow::Error::msg)?;
    let dest = dest
        .map(DestinationName::new)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (host, dir) = lock::locate(config, gateway.hosts(), &app, dest.as_ref())
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((app, dest, host.to_string(), dir))
}

pub async fn run(config: &Config, gateway: &Gateway, cmd: &LockCommand) -> anyhow::Result<u8> {
    let ttl = config.fleet.lock.ttl.get();
    match cmd {
        LockCommand::Status {
            app,
            destination,
            json,
        } => {
            let berth_app = |a: &str| config.fleet.apps.keys().any(|k| k.as_str() == a);
            let apps: Vec<String> = match app {
                Some(a) if berth_app(a) => vec![a.clone()],
                Some(_) => Vec::new(),
                None => config.fleet.apps.keys().map(|a| a.to_string()).collect(),
            };
            // A berth app named: its lock alone, no other tool's.
            let (kamal, dokku) = match app {
                Some(a) if berth_app(a) => (Vec::new(), Vec::new()),
                _ => foreign_locks(config, gateway, app.as_deref(), destination.as_deref()).await,
            };
            if let Some(a) = app
                && !berth_app(a)
                && kamal.is_empty()
                && !dokku.iter().any(|v| &v.app == a)
            {
                let unreached: Vec<String> = dokku
                    .iter()
                    .filter_map(|v| Some(format!("{}: {}", v.host, v.error.as_ref()?)))
                    .collect();
                let mut why = format!(
                    "app `{}` is not declared, is no Kamal app read from a deploy file, and no Dokku host has it",
                    crate::sanitize::one_line(a)
                );
                if !unreached.is_empty() {
                    why.push_str(&format!(" (not reached: {})", unreached.join("; ")));
                }
                anyhow::bail!(why);
            }
            let mut views = Vec::new();
            let mut failed = false;
            for a in apps {
                let (app, dest, host, dir) =
                    target(config, gateway, &a, destination.as_deref()).await?;
                // One broken or unreachable lock never hides the others.
                let (status, broken, error) = match lock::read(&dir, ttl).await {
                    Ok(s) => (s, None, None),
                    Err(LockError::Broken(b)) => (None, Some(*b), None),
                    Err(e) => (None, None, Some(e.to_string())),
                };
                failed |= broken.is_some() || error.is_some();
                views.push(LockView {
                    app: app.to_string(),
                    destination: dest.map(|d| d.to_string()).unwrap_or_default(),
                    host,
                    path: dir.to_string(),
                    held: status.is_some() || broken.is_some(),
                    status,
                    broken,
                    error,
                });
            }
            failed |= kamal.iter().chain(&dokku).any(|v| v.error.is_some());
            if *json {
                #[derive(Serialize)]
                struct Out<'a> {
                    berth: &'a [LockView],
                    kamal: &'a [ForeignView],
                    dokku: &'a [ForeignView],
                }
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&Out {
                        berth: &views,
                        kamal: &kamal,
                        dokku: &dokku
                    })?
                );
            } else {
                let now = Utc::now();
                for v in &views {
                    let name = if v.destination.is_empty() {
                        v.app.clone()
                    } else {
                        format!("{} [{}]", v.app, v.destination)
                    };
                    match (&v.status, &v.broken, &v.error) {
                        (_, Some(b), _) => outln!("{name}: {b}"),
                        (_, _, Some(e)) => outln!("{name}: cannot read its lock: {e}"),
                        (Some(s), _, _) => outln!("{name}: {}", s.describe(now)),
                        (None, None, None) => outln!("{name}: free"),
                    }
                }
                for (tool, list) in [("kamal", &kamal), ("dokku", &dokku)] {
                    for v in list {
                        let name = match (v.app.is_empty(), v.destination.is_empty()) {
                            (true, _) => format!("host {}", v.host),
                            (false, true) => v.app.clone(),
                            (false, false) => format!("{} [{}]", v.app, v.destination),
                        };
                        let state = match (&v.lock, &v.error) {
                            (_, Some(e)) => format!("cannot read its lock: {e}"),
                            (Some(l), _) => l.describe(now),
                            (None, None) => "free".into(),
                        };
                        outln!("{name} ({tool}, read-only, on {}): {state}", v.host);
                    }
                }
            }
            Ok(if failed { EXIT_ERROR } else { EXIT_OK })
        }
        LockCommand::Acquire {
            app,
            message,
            destination,
        } => {
            refuse_kamal(
                config,
                app,
                destination.as_deref(),
                "lock acquire -m MESSAGE",
            )?;
            let (app, dest, _, _) = target(config, gateway, app, destination.as_deref()).await?;
            match lock::acquire_manual(
                config,
                gateway.hosts(),
                &app,
                dest.as_ref(),
                message,
                &Performer::current(),
            )
            .await
            {
                Ok(holder) => {
                    outln!(
                        "locked {app}: manual lock \"{}\"; `berth lock release {app}` when done",
                        holder.message.unwrap_or_default()
                    );
                    Ok(EXIT_OK)
                }
                Err(ManualError::Lock(LockError::Held(s))) => {
                    errln!("berth: {app} is {}", s.describe(Utc::now()));
                    Ok(EXIT_UNHEALTHY)
                }
                Err(e) => Err(e.into()),
            }
        }
        LockCommand::Release {
            app,
            force,
            destination,
        } => {
            refuse_kamal(config, app, destination.as_deref(), "lock release")?;
            let (app, dest, _, _) = target(config, gateway, app, destination.as_deref()).await?;
            match lock::release_manual(
                config,
                gateway.hosts(),
                &app,
                dest.as_ref(),
                *force,
                &Performer::current(),
            )
            .await
            {
                Ok(Released::NotLocked) => outln!("{app} is not locked"),
                Ok(Released::Released(line)) => outln!("released {app} ({line})"),
                Ok(Released::Forced(note)) => outln!("released {app}: {note}"),
                Err(ManualError::Refused { app, line, why }) => {
                    errln!(
                        "berth: {app} is {line}; {why}: `berth lock release {app} --force` releases it anyway (recorded in the history)"
                    );
                    return Ok(EXIT_ERROR);
                }
                Err(e) => return Err(e.into()),
            }
            Ok(EXIT_OK)
        }
    }
}

/// berth never changes a Kamal app's lock: it says what to run instead.
fn refuse_kamal(
    config: &Config,
    app: &str,
    destination: Option<&str>,
    args: &str,
) -> anyhow::Result<()> {
    if config.fleet.apps.keys().any(|k| k.as_str() == app) {
        return Ok(());
    }
    let theirs = config.kamal.iter().find(|a| {
        a.service == app && destination.is_none_or(|d| a.destination.as_deref() == Some(d))
    });
    match theirs {
        Some(k) => anyhow::bail!(
            "{} is a Kamal app, which berth reads and never changes: run `{}`",
            k.service_and_destination(),
            k.command(args)
        ),
        None => Ok(()),
    }
}

/// A Kamal or Dokku app's lock, as `lock status` shows it.
#[derive(Serialize)]
struct ForeignView {
    app: String,
    destination: String,
    /// The host it was read on (Dokku: every Dokku host with the app).
    host: String,
    held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    lock: Option<ForeignLock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Kamal's locks (each app's, on its primary host) and Dokku's (on every
/// host that runs Dokku), of `only` app or all; read-only, each host on
/// its own and at once.
async fn foreign_locks(
    config: &Config,
    gateway: &Gateway,
    only: Option<&str>,
    destination: Option<&str>,
) -> (Vec<ForeignView>, Vec<ForeignView>) {
    use futures_util::future::join_all;
    let hosts = gateway.hosts();
    let kamal_apps: Vec<_> = config
        .kamal
        .iter()
        .filter(|a| only.is_none_or(|o| o == a.service))
        .filter(|a| destination.is_none_or(|d| a.destination.as_deref() == Some(d)))
        .collect();
    let kamal = join_all(kamal_apps.iter().map(|app| async move {
        let read = foreign::kamal_lock(config, hosts, app).await;
        let host = app
            .primary_host()
            .and_then(|a| app.host_name(a))
            .map(|h| h.to_string())
            .unwrap_or_default();
        view(
            app.service.clone(),
            app.destination.clone().unwrap_or_default(),
            host,
            read,
        )
    }));
    let dokku_hosts: Vec<_> = config
        .fleet
        .hosts
        .iter()
        .filter(|(_, h)| h.dokku != Some(false))
        .map(|(n, h)| (n, h.dokku == Some(true)))
        .collect();
    let dokku = join_all(dokku_hosts.iter().map(|(name, declared)| async move {
        match foreign::dokku(config, hosts, name).await {
            Ok(Some(state)) => state
                .apps
                .iter()
                .map(|app| {
                    let read = match state.locks.iter().find(|l| &l.app == app) {
                        Some(l) => ForeignRead::Held(Box::new(l.clone())),
                        None => ForeignRead::Free,
                    };
                    view(app.clone(), String::new(), name.to_string(), read)
                })
                .collect(),
            Ok(None) if *declared => vec![view(
                String::new(),
                String::new(),
                name.to_string(),
                ForeignRead::Error(format!(
                    "the host says `dokku: true`, but {} is not there",
                    foreign::DOKKU_DATA
                )),
            )],
            Ok(None) => Vec::new(),
            // A host that cannot be reached is said once, as no app.
            Err(e) => vec![view(
                String::new(),
                String::new(),
                name.to_string(),
                ForeignRead::Error(e),
            )],
        }
    }));
    let (kamal, dokku) = futures_util::join!(kamal, dokku);
    let dokku: Vec<ForeignView> = dokku
        .into_iter()
        .flatten()
        // An unreachable host is only news when no app was asked for, or
        // when it might hold the app asked for.
        .filter(|v| only.is_none_or(|o| v.app == o || v.app.is_empty()))
        .filter(|_| destination.is_none())
        .collect();
    (kamal, dokku)
}

fn view(app: String, destination: String, host: String, read: ForeignRead) -> ForeignView {
    let (held, lock, error) = match read {
        ForeignRead::Free => (false, None, None),
        ForeignRead::Held(l) => (true, Some(*l), None),
        ForeignRead::Error(e) => (false, None, Some(e)),
    };
    ForeignView {
        app,
        destination,
        host,
        held,
        lock,
        error,
    }
}
