//! `berth lock status|acquire|release`: who holds each app's deploy lock,
//! and manual locks for incidents. Kamal's locks (on each Kamal app's
//! primary host) and Dokku's (on each Dokku host) are shown read-only next
//! to berth's.

use chrono::Utc;
use serde::Serialize;

use super::{EXIT_OK, EXIT_REFUSED, EXIT_UNHEALTHY, EXIT_UNREACHABLE};
use crate::config::Config;
use crate::engine::lock::{self, LockError, ManualError, Released, Status};
use crate::ops::Session;
use crate::ops::lock::{ForeignView, TargetError, foreign_locks, target};

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

pub async fn run(config: &Config, session: &Session, cmd: &LockCommand) -> anyhow::Result<u8> {
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
                _ => foreign_locks(config, session, app.as_deref(), destination.as_deref()).await,
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
            // Exit 1 for a broken lock, 4 for one that could not be read
            // (its host not reached, or its files not read).
            let (mut broken_any, mut unread) = (false, false);
            for a in apps {
                // One broken or unreachable lock never hides the others.
                let (app, dest, host, dir) =
                    match target(config, session, &a, destination.as_deref()).await {
                        Ok(t) => t,
                        Err(TargetError::Unreachable { host, why }) => {
                            unread = true;
                            views.push(LockView {
                                app: a.clone(),
                                destination: destination.clone().unwrap_or_default(),
                                host,
                                path: String::new(),
                                held: false,
                                status: None,
                                broken: None,
                                error: Some(why),
                            });
                            continue;
                        }
                        Err(e) => anyhow::bail!(e),
                    };
                let (status, broken, error) = match lock::read(&dir, ttl).await {
                    Ok(s) => (s, None, None),
                    Err(LockError::Broken(b)) => (None, Some(*b), None),
                    Err(e) => (None, None, Some(e.to_string())),
                };
                broken_any |= broken.is_some();
                unread |= error.is_some();
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
            unread |= kamal.iter().chain(&dokku).any(|v| v.error.is_some());
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
            Ok(if unread {
                EXIT_UNREACHABLE
            } else if broken_any {
                EXIT_UNHEALTHY
            } else {
                EXIT_OK
            })
        }
        LockCommand::Acquire {
            app,
            message,
            destination,
        } => {
            if let Some(why) = refuse_kamal(
                config,
                app,
                destination.as_deref(),
                "lock acquire -m MESSAGE",
            ) {
                errln!("berth: {why}");
                return Ok(EXIT_REFUSED);
            }
            let (app, dest, _, _) = match target(config, session, app, destination.as_deref()).await
            {
                Ok(t) => t,
                Err(e) => return not_found(e),
            };
            match crate::ops::lock::acquire(config, session, &app, dest.as_ref(), message).await {
                Ok(holder) => {
                    outln!(
                        "locked {app}: manual lock \"{}\"; `berth lock release {app}` when done",
                        holder.message.unwrap_or_default()
                    );
                    Ok(EXIT_OK)
                }
                Err(ManualError::Lock(LockError::Held(s))) => {
                    errln!("berth: {app} is {}", s.describe(Utc::now()));
                    Ok(EXIT_REFUSED)
                }
                Err(e) => Err(e.into()),
            }
        }
        LockCommand::Release {
            app,
            force,
            destination,
        } => {
            if let Some(why) = refuse_kamal(config, app, destination.as_deref(), "lock release") {
                errln!("berth: {why}");
                return Ok(EXIT_REFUSED);
            }
            let (app, dest, _, _) = match target(config, session, app, destination.as_deref()).await
            {
                Ok(t) => t,
                Err(e) => return not_found(e),
            };
            match crate::ops::lock::release(config, session, &app, dest.as_ref(), *force).await {
                Ok(Released::NotLocked) => outln!("{app} is not locked"),
                Ok(Released::Released(line)) => outln!("released {app} ({line})"),
                Ok(Released::Forced(note)) => outln!("released {app}: {note}"),
                Err(ManualError::Refused { app, line, why }) => {
                    errln!(
                        "berth: {app} is {line}; {why}: `berth lock release {app} --force` releases it anyway (recorded in the history)"
                    );
                    return Ok(EXIT_REFUSED);
                }
                Err(e) => return Err(e.into()),
            }
            Ok(EXIT_OK)
        }
    }
}

/// An app's lock not found: its host not reached is exit 4, a name or
/// config that does not hold exit 2.
fn not_found(e: TargetError) -> anyhow::Result<u8> {
    match e {
        TargetError::Unreachable { why, .. } => {
            errln!("berth: {why}");
            Ok(EXIT_UNREACHABLE)
        }
        TargetError::Invalid(why) => Err(anyhow::Error::msg(why)),
    }
}

/// berth never changes a Kamal app's lock: it says what to run instead
/// (a refusal, exit 3).
fn refuse_kamal(
    config: &Config,
    app: &str,
    destination: Option<&str>,
    args: &str,
) -> Option<String> {
    if config.fleet.apps.keys().any(|k| k.as_str() == app) {
        return None;
    }
    let theirs = config.kamal.iter().find(|a| {
        a.service == app && destination.is_none_or(|d| a.destination.as_deref() == Some(d))
    })?;
    Some(format!(
        "{} is a Kamal app, which berth reads and never changes: run `{}`",
        theirs.service_and_destination(),
        theirs.command(args)
    ))
}
