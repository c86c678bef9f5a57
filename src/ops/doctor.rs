//! `berth doctor`: compares what is declared with what exists, and says
//! what to do about each difference. Checks hooks and plugins, locks (stale,
//! broken, or for apps no longer declared), containers left by runs that
//! died (orphans; `--fix` removes them), declared roles with nothing serving,
//! containers of apps no longer declared, retained versions whose image
//! is gone, and proxies that do not send an app's traffic to its running
//! healthy containers.
//!
//! [`run`] is the whole check, in the order the front ends show it.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

use super::Session;
use crate::config::Config;
use crate::docker::Gateway;
use crate::engine::proxy::routing;
use crate::engine::{lock, trigger};
use crate::inventory::{Fleet, Link, State};
use crate::labels::Source;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// `hooks`, `locks`, `roles`, `containers`, `images`, `hosts`, `proxy`.
    pub check: &'static str,
    /// What it is about: a file, an app, a container.
    pub subject: String,
    pub message: String,
    /// What to do, when the message does not already say it.
    pub fix: Option<String>,
}

/// Each proxied app (and destination): does every host's proxy send its
/// traffic to the role's running healthy containers?
pub async fn proxy_checks(config: &Config, gateway: &Gateway) -> Vec<Finding> {
    let mut out = Vec::new();
    for (app_name, app) in &config.fleet.apps {
        // The default destination and each named one: an app may run both.
        let dests: Vec<Option<&crate::config::DestinationName>> = std::iter::once(None)
            .chain(app.destinations.keys().map(Some))
            .collect();
        for dest in dests {
            let Some(hosts) =
                crate::engine::proxy::live::read(config, gateway, app_name, dest).await
            else {
                continue;
            };
            let sync = match dest {
                Some(d) => format!("berth proxy sync {app_name} -d {d}"),
                None => format!("berth proxy sync {app_name}"),
            };
            for h in hosts {
                if let Some(d) = h.drift(app_name.as_str()) {
                    out.push(Finding {
                        severity: if h.error.is_some() {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        check: "proxy",
                        subject: d.subject,
                        message: d.message,
                        fix: h
                            .error
                            .is_none()
                            .then(|| d.fix.unwrap_or_else(|| sync.clone())),
                    });
                }
            }
        }
    }
    out
}

/// Checks that need no engine: hooks, plugins and locks (locks on SSH
/// hosts are read through their connection).
pub async fn local_checks(config: &Config, gateway: &Gateway) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in trigger::discover(&config.hooks_dir(), &config.plugins_dir()).problems {
        // A layout problem's message already says what to do.
        out.push(Finding {
            severity: if p.error {
                Severity::Error
            } else {
                Severity::Warning
            },
            check: "hooks",
            subject: p.path.display().to_string(),
            message: p.message.clone(),
            fix: None,
        });
    }
    let ttl = config.fleet.lock.ttl.get();
    let mut seen_dirs = BTreeSet::new();
    for (host_name, host) in &config.fleet.hosts {
        let Ok(state) = gateway.hosts().state_dir(host, lock::REACH_TIMEOUT).await else {
            // An unreachable host is the fleet checks' finding.
            continue;
        };
        let locks = state.join("locks");
        if !seen_dirs.insert(locks.to_string()) {
            continue;
        }
        let names = match locks.subdirs().await {
            Ok(n) => n,
            Err(e) => {
                out.push(Finding {
                    severity: Severity::Error,
                    check: "locks",
                    subject: format!("locks on {host_name}"),
                    message: e.to_string(),
                    fix: None,
                });
                continue;
            }
        };
        // A lock path that is a file is no directory: name the declared
        // apps' locks on this host too.
        let mut names: BTreeSet<String> = names.into_iter().collect();
        for (app, app_cfg) in &config.fleet.apps {
            for dest in std::iter::once(None).chain(app_cfg.destinations.keys().map(Some)) {
                if config.primary_host(app, dest) == Some(host_name) {
                    names.insert(match dest {
                        Some(d) => format!("{app}@{d}"),
                        None => app.to_string(),
                    });
                }
            }
        }
        for name in names {
            let dir = locks.join(&name);
            let app = name.split('@').next().unwrap_or(&name).to_string();
            let declared = config.fleet.apps.contains_key(app.as_str());
            match lock::read(&dir, ttl).await {
                Ok(Some(s)) if !declared => out.push(Finding {
                    severity: Severity::Warning,
                    check: "locks",
                    subject: dir.to_string(),
                    message: format!(
                        "lock of `{app}`, which is not declared (orphaned): {}",
                        s.describe(Utc::now())
                    ),
                    fix: Some(format!("remove {dir} if the app is gone")),
                }),
                Ok(Some(s)) if s.stale => out.push(Finding {
                    severity: Severity::Error,
                    check: "locks",
                    subject: format!("{name} on {host_name}"),
                    message: s.describe(Utc::now()),
                    fix: Some(format!(
                        "`berth lock release {app} --force` once you know its holder is gone"
                    )),
                }),
                Ok(_) => {}
                Err(lock::LockError::Broken(b)) => out.push(Finding {
                    severity: Severity::Error,
                    check: "locks",
                    subject: format!("{name} on {host_name}"),
                    message: format!("broken lock at {}: {}", b.path, b.problem),
                    fix: Some(format!("`{}` (recorded in the history)", b.fix)),
                }),
                Err(e) => out.push(Finding {
                    severity: Severity::Error,
                    check: "locks",
                    subject: dir.to_string(),
                    message: e.to_string(),
                    fix: Some(format!("inspect {dir} and remove it if nothing runs")),
                }),
            }
        }
    }
    out
}

/// Checks against the live fleet.
pub fn fleet_checks(
    config: &Config,
    fleet: &Fleet,
    missing_images: &[(String, String, String)],
) -> Vec<Finding> {
    let mut out = Vec::new();
    for host in fleet.hosts.values() {
        if let Link::Down { reason, .. } = &host.link {
            out.push(Finding {
                severity: Severity::Error,
                check: "hosts",
                subject: host.name.clone(),
                message: format!("unreachable: {reason}"),
                fix: Some(
                    "check the engine and the `hosts:` entry; other checks skip this host".into(),
                ),
            });
            continue;
        }
        for (app_name, app) in &config.fleet.apps {
            for role in app.roles.keys() {
                if !config
                    .role_hosts(app_name, role, None)
                    .iter()
                    .any(|h| h.as_str() == host.name)
                {
                    continue;
                }
                let serving = host.containers.values().any(|c| {
                    c.owner.source == Source::Berth
                        && c.owner.app.as_deref() == Some(app_name.as_str())
                        && c.owner.role.as_deref() == Some(role.as_str())
                        && c.owner.destination.is_empty()
                        && c.owner.phase.is_none()
                        && c.is_serving(Utc::now())
                });
                if !serving {
                    out.push(Finding {
                        severity: Severity::Error,
                        check: "roles",
                        subject: format!("{app_name}/{role} on {}", host.name),
                        message: "declared, but no container of it is running and healthy".into(),
                        fix: Some(format!("`berth status --app {app_name}` shows why; `berth deploy {app_name} -V <version>` or `berth rollback {app_name}`")),
                    });
                }
            }
        }
        let mut undeclared = BTreeSet::new();
        for c in host.containers.values() {
            if c.owner.source == Source::Berth
                && let Some(app) = &c.owner.app
                && !config.fleet.apps.contains_key(app.as_str())
            {
                undeclared.insert((app.clone(), c.name.clone(), c.state));
            }
        }
        for (app, name, state) in undeclared {
            out.push(Finding {
                severity: Severity::Warning,
                check: "containers",
                subject: format!("{name} on {}", host.name),
                message: format!(
                    "labelled for app `{app}`, which is not declared ({})",
                    state.as_str()
                ),
                fix: Some(format!(
                    "declare `{app}` again, or remove the container (`docker rm -f {name}`)"
                )),
            });
        }
    }
    for (host, container, image) in missing_images {
        out.push(Finding {
            severity: Severity::Warning,
            check: "images",
            subject: format!("{container} on {host}"),
            message: format!(
                "retained for rollback, but its image `{image}` is no longer tagged on the host"
            ),
            fix: Some(format!(
                "rebuild or re-tag `{image}`, or remove the container so rollback does not pick it"
            )),
        });
    }
    out
}

/// One host's login to one app's registry.
#[derive(Clone, Debug, Serialize)]
pub struct RegistryLogin {
    pub app: String,
    pub host: String,
    /// `registry 127.0.0.1:5000`, `Docker Hub`.
    pub registry: String,
    /// `None`: the registry took the credentials; else why not.
    pub problem: Option<String>,
}

/// Each app shipped through a registry: can every one of its hosts log in
/// to it (through the host's own engine and network), with the secrets
/// file's credentials? Hosts that cannot be reached are left out (that is
/// the hosts check's finding); one try per host and repository.
pub async fn registry_logins(config: &Config, gateway: &Gateway) -> Vec<RegistryLogin> {
    let mut out = Vec::new();
    let secrets = config.read_secrets().await;
    let mut tried: Vec<(String, String)> = Vec::new();
    for (app_name, app) in &config.fleet.apps {
        let (Some(image), Some(r)) = (&app.image, config.registry(app_name)) else {
            continue;
        };
        let hosts = {
            let mut h: Vec<&crate::config::HostName> =
                app.roles.values().flat_map(|r| r.hosts.iter()).collect();
            h.sort();
            h.dedup();
            h
        };
        let auth = match secrets
            .as_ref()
            .map_err(ToString::to_string)
            .and_then(|s| config.registry_auth(app_name, s).map_err(|e| e.to_string()))
        {
            Ok(Some(auth)) => auth,
            Ok(None) => continue,
            Err(e) => {
                let registry = r
                    .server
                    .as_ref()
                    .map_or("Docker Hub".to_string(), |s| format!("registry {s}"));
                out.extend(hosts.iter().map(|h| RegistryLogin {
                    app: app_name.to_string(),
                    host: h.to_string(),
                    registry: registry.clone(),
                    problem: Some(e.clone()),
                }));
                continue;
            }
        };
        let full = auth.reference(image);
        let repo = crate::domain::reference::split_tag(&full).0.to_string();
        for host in hosts {
            if tried.contains(&(host.to_string(), repo.clone())) {
                continue;
            }
            tried.push((host.to_string(), repo.clone()));
            let Ok(cfg) = config.host(host) else { continue };
            let Ok(engine) = gateway.engine_of(cfg, Duration::from_secs(10)).await else {
                continue;
            };
            let problem = match engine.registry_login(&repo, &auth).await {
                crate::docker::Login::Ok => None,
                crate::docker::Login::Refused(why) => {
                    Some(format!("{} refused the credentials: {why}", auth.name()))
                }
                crate::docker::Login::Failed(why) => {
                    Some(format!("cannot log in to {}: {why}", auth.name()))
                }
            };
            out.push(RegistryLogin {
                app: app_name.to_string(),
                host: host.to_string(),
                registry: auth.name(),
                problem,
            });
        }
    }
    out
}

/// [`registry_logins`] that failed, as findings.
pub async fn registry_checks(config: &Config, gateway: &Gateway) -> Vec<Finding> {
    registry_logins(config, gateway)
        .await
        .into_iter()
        .filter_map(|l| {
            Some(Finding {
                severity: Severity::Error,
                check: "registry",
                subject: format!("{} on {}", l.app, l.host),
                message: l.problem?,
                fix: None,
            })
        })
        .collect()
}

/// Stopped berth containers whose image reference no longer resolves.
pub async fn missing_images(
    config: &Config,
    gateway: &Gateway,
    fleet: &Fleet,
) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for host in fleet.hosts.values().filter(|h| h.link == Link::Up) {
        let Some(cfg) = config.fleet.hosts.get(host.name.as_str()) else {
            continue;
        };
        let Ok(docker) = gateway.engine_of(cfg, Duration::from_secs(5)).await else {
            continue;
        };
        for c in host.containers.values() {
            if c.owner.source == Source::Berth
                && c.owner.phase.is_none()
                && matches!(c.state, State::Exited | State::Created)
                && !docker.has_image(&c.image).await
            {
                out.push((host.name.clone(), c.name.clone(), c.image.clone()));
            }
        }
    }
    out
}

/// Containers left by runs that died (see `engine::orphans`), on every
/// host of every app and destination; with `fix`, the removable ones go.
pub async fn orphan_checks(config: &Config, gateway: &Gateway, fix: bool) -> Vec<Finding> {
    use crate::engine::orphans;
    let mut out = Vec::new();
    let ttl = config.fleet.lock.ttl.get();
    for (app_name, app) in &config.fleet.apps {
        for dest in std::iter::once(None).chain(app.destinations.keys().map(Some)) {
            // A lock that cannot be read may belong to a live run: nothing
            // of the app is called an orphan then (the lock check says why).
            // A stale lock's run is dead, and so is one whose process is
            // gone from this machine: what it made is orphaned.
            let live: std::collections::HashSet<String> =
                match lock::locate(config, gateway.hosts(), app_name, dest).await {
                    Ok((_, dir)) => match lock::read(&dir, ttl).await {
                        Ok(Some(s)) if !s.stale => s.runs().map(str::to_string).collect(),
                        Ok(_) => Default::default(),
                        Err(_) => continue,
                    },
                    Err(_) => continue,
                };
            let mut hosts: Vec<&crate::config::HostName> = app
                .roles
                .keys()
                .flat_map(|r| config.role_hosts(app_name, r, dest))
                .collect();
            hosts.sort();
            hosts.dedup();
            for host in hosts {
                let Some(cfg) = config.fleet.hosts.get(host) else {
                    continue;
                };
                let Ok(docker) = gateway.engine_of(cfg, Duration::from_secs(5)).await else {
                    continue; // the fleet checks report an unreachable host
                };
                let Ok(state) = gateway.hosts().state_dir(cfg, lock::REACH_TIMEOUT).await else {
                    continue;
                };
                let selector = crate::labels::Selector {
                    app: app_name.to_string(),
                    destination: dest.map(|d| d.to_string()).unwrap_or_default(),
                    host: Some(host.to_string()),
                    ..Default::default()
                };
                let trouble = |severity, message: String| Finding {
                    severity,
                    check: "orphans",
                    subject: format!("{app_name} on {host}"),
                    message,
                    fix: None,
                };
                let mut found = match orphans::scan(&docker, &selector, &state, &live).await {
                    Ok(found) => found,
                    Err(e) => {
                        out.push(trouble(
                            Severity::Warning,
                            format!("could not look for orphans: {e}"),
                        ));
                        continue;
                    }
                };
                // What serves is what the proxy routes to: never removed.
                if let Some(settings) = config.proxy(app_name, dest) {
                    let of = routing::Orphans {
                        hosts: gateway.hosts(),
                        cfg,
                        docker: &docker,
                        host,
                        app: app_name.as_str(),
                        destination: &selector.destination,
                    };
                    routing::judge(&of, &settings, &mut found).await;
                }
                let removed = if fix && !found.is_empty() {
                    orphans::remove(&docker, &found).await
                } else {
                    Ok(Vec::new())
                };
                for o in &found {
                    let gone = removed.as_ref().is_ok_and(|r| r.contains(&o.name));
                    out.push(Finding {
                        severity: if gone {
                            Severity::Warning
                        } else {
                            Severity::Error
                        },
                        check: "orphans",
                        subject: format!("{} on {host}", o.name),
                        message: if gone {
                            format!("removed: {}", o.describe())
                        } else {
                            o.describe()
                        },
                        fix: (!gone).then(|| {
                            if o.serving() {
                                format!("deploy {app_name} again to replace it")
                            } else {
                                format!(
                                    "`berth doctor --fix`, or {app_name}'s next action, removes it"
                                )
                            }
                        }),
                    });
                }
                if let Err(e) = removed {
                    out.push(trouble(
                        Severity::Error,
                        format!("could not remove an orphan: {e}"),
                    ));
                }
            }
        }
    }
    out
}

/// Every check, sorted: errors first. `fix` removes orphans it finds.
pub async fn run(config: &Config, session: &Session, fix: bool) -> Vec<Finding> {
    let gateway = &session.gateway;
    let mut findings = local_checks(config, gateway).await;
    let fleet = session.fleet_now(config, Duration::from_secs(10)).await;
    let missing = missing_images(config, gateway, &fleet).await;
    findings.extend(fleet_checks(config, &fleet, &missing));
    findings.extend(proxy_checks(config, gateway).await);
    findings.extend(registry_checks(config, gateway).await);
    findings.extend(orphan_checks(config, gateway, fix).await);
    findings.sort_by(|a, b| (a.severity, a.check).cmp(&(b.severity, b.check)));
    findings
}
