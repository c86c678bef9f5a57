//! Preflight: what an action needs and lacks, found before it takes the
//! lock or changes anything. A deploy that cannot work is refused with
//! every reason at once, instead of failing at its release task.
//!
//! It reads, never changes (but for a probe file it removes at once): the
//! secrets file and the secrets each role names, the build context, each
//! host's state directory and engine, and nginx where the traffic stage
//! will use it.

use std::time::Duration;

use super::plan::{Plan, Step};
use super::proxy;
use crate::config::Config;
use crate::docker::Gateway;
use crate::hosts::{Endpoint, Pool};

/// One thing an action needs and does not have.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Lack {
    /// The host it is about (empty: this machine's files).
    pub host: String,
    /// What is missing, in words.
    pub what: String,
    /// What to do about it.
    pub fix: String,
}

impl std::fmt::Display for Lack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.is_empty() {
            write!(f, "{} ({})", self.what, self.fix)
        } else {
            write!(f, "host {}: {} ({})", self.host, self.what, self.fix)
        }
    }
}

/// How long each host may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What `plan` needs that is missing: files on this machine first (no host
/// is touched for those), then each host of the plan.
pub async fn check(config: &Config, gateway: &Gateway, plan: &Plan) -> Vec<Lack> {
    let mut out = local(config, plan).await;
    out.extend(on_hosts(config, gateway, plan).await);
    out
}

/// The secrets file and every secret the app's roles name; the build
/// context. No host is touched.
pub async fn local(config: &Config, plan: &Plan) -> Vec<Lack> {
    let mut out = Vec::new();
    let Ok(app) = config.app(&plan.app) else {
        return out;
    };
    let starts_containers = plan.stages.iter().any(|s| {
        matches!(
            s.step,
            Step::Boot { .. }
                | Step::Reboot { .. }
                | Step::StartRetained { .. }
                | Step::ReleaseTask { .. }
        )
    });
    if starts_containers {
        match config.read_secrets().await {
            Err(e) => out.push(Lack {
                host: String::new(),
                what: format!("the secrets file cannot be read: {e}"),
                fix: match config.secrets_path() {
                    Some(p) => format!(
                        "create {} (NAME=value lines; a .example beside it may show which)",
                        p.display()
                    ),
                    None => "set `secrets_file:`".into(),
                },
            }),
            Ok(secrets) => {
                for role in app.roles.keys() {
                    if let Err(e) =
                        config.resolve_env(&plan.app, role, plan.destination.as_ref(), &secrets)
                    {
                        let what = e.to_string();
                        if !out.iter().any(|l| l.what == what) {
                            out.push(Lack {
                                host: String::new(),
                                what,
                                fix: "add it to the secrets file".into(),
                            });
                        }
                    }
                }
            }
        }
    }
    if let Some(build) = &app.build
        && plan
            .stages
            .iter()
            .any(|s| matches!(s.step, Step::Image { .. }))
    {
        let dir = config.dir().join(&build.context);
        if !tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
            out.push(Lack {
                host: String::new(),
                what: format!("the build context {} is not a directory", dir.display()),
                fix: "fix `build.context` (relative to the config file)".into(),
            });
        }
    }
    out
}

/// Each host of the plan: reachable, its state directory writable, its
/// engine answering, and nginx runnable with a writable config directory
/// where the traffic stage uses it. (Whether an image not on a host can be
/// pulled is only known by pulling it: the image stage says.)
pub async fn on_hosts(config: &Config, gateway: &Gateway, plan: &Plan) -> Vec<Lack> {
    let mut hosts: Vec<&crate::config::HostName> =
        plan.stages.iter().flat_map(|s| &s.hosts).collect();
    hosts.sort();
    hosts.dedup();
    let traffic: Vec<&crate::config::HostName> = plan
        .stages
        .iter()
        .filter(|s| matches!(s.step, Step::Traffic { .. }))
        .flat_map(|s| &s.hosts)
        .collect();
    let proxy = config.proxy(&plan.app, plan.destination.as_ref());
    let checks = hosts.into_iter().map(|host| {
        let proxy = proxy.as_ref().filter(|_| traffic.contains(&host));
        async move {
            let lack = |what: String, fix: &str| Lack {
                host: host.to_string(),
                what,
                fix: fix.into(),
            };
            let mut out = Vec::new();
            let Ok(cfg) = config.host(host) else {
                return out;
            };
            // The state directory: locks and history live there.
            match gateway.hosts().state_dir(cfg, TIMEOUT).await {
                Err(e) => {
                    out.push(lack(
                        format!("cannot be reached: {e}"),
                        "`berth hosts check` says more",
                    ));
                    return out;
                }
                Ok(state) => {
                    let probe = state.join(".preflight");
                    let written = probe.append_line("berth preflight").await;
                    let _ = probe.remove_file().await;
                    if let Err(e) = written {
                        out.push(lack(
                            format!("its state directory is not writable: {e}"),
                            "fix its permissions or set the host's `state_dir:`",
                        ));
                    }
                }
            }
            let Ok(docker) = gateway.engine_of(cfg, TIMEOUT).await else {
                out.push(lack(
                    "its Docker engine does not answer".into(),
                    "`berth hosts check` says more",
                ));
                return out;
            };
            if let Some(settings) = proxy
                && matches!(
                    proxy::driver_for(&docker, settings.driver).await,
                    Ok(proxy::Driver::Nginx)
                )
            {
                out.extend(nginx(gateway.hosts(), cfg, host.as_str()).await);
                out.extend(listen_port(gateway.hosts(), cfg, host.as_str(), settings.listen).await);
            }
            out
        }
    });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// nginx's port on a host: free (nginx binds it when berth reloads it), or
/// already nginx's. Anything else that answers there (or holds it without
/// speaking HTTP) would keep nginx from serving the app.
async fn listen_port(
    hosts: &Pool,
    cfg: &crate::config::HostConfig,
    host: &str,
    port: u16,
) -> Vec<Lack> {
    use super::proxy::probe::{self, Via};
    let via = match Endpoint::from_config(cfg) {
        // Not an SSH host: nginx runs on this machine.
        Endpoint::Local { .. } | Endpoint::Tcp { .. } | Endpoint::Invalid { .. } => Via::Tcp(
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)),
        ),
        Endpoint::Ssh { ssh, remote_socket } => {
            let Ok(tunnel) = hosts.tunnel(&ssh, &remote_socket, TIMEOUT).await else {
                return Vec::new(); // the reach check says why
            };
            let Ok(socket) = tunnel.forward_tcp(port).await else {
                return Vec::new();
            };
            Via::Unix {
                socket,
                shown: format!("127.0.0.1:{port} on host {host} (through ssh)"),
            }
        }
    };
    let taken = |what: String| Lack {
        host: host.to_string(),
        what,
        fix: format!("free port {port} or set the app's `proxy.listen` to a free one"),
    };
    // Asked so that nginx answers itself: an nginx whose upstream is dead
    // (a removed container) is still nginx, and repair must reach it.
    match probe::identify(&via, Duration::from_secs(5)).await {
        Ok(a) if a.server.as_deref().is_some_and(|s| s.starts_with("nginx")) => Vec::new(),
        Ok(a) => vec![taken(format!(
            "port {port} is answered by {}, not nginx",
            a.server
                .map_or("a server that does not say its name".into(), |s| format!(
                    "`{s}`"
                ))
        ))],
        // Refused (or, through ssh, a channel closed at once with no word):
        // nothing listens; nginx binds it when berth reloads it.
        Err(e) if e.nothing_listens() => Vec::new(),
        Err(e @ (probe::ProbeError::NotHttp { .. } | probe::ProbeError::Timeout { .. })) => {
            vec![taken(format!(
                "port {port} is held by something that is not an HTTP server ({e})"
            ))]
        }
        Err(_) => Vec::new(),
    }
}

/// nginx on a host: its command runs, and berth may write its directory.
async fn nginx(hosts: &Pool, cfg: &crate::config::HostConfig, host: &str) -> Vec<Lack> {
    let lack = |what: String, fix: &str| Lack {
        host: host.to_string(),
        what,
        fix: fix.into(),
    };
    let Ok(dir) = hosts.on_host(cfg, cfg.nginx.dir.clone(), TIMEOUT).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut argv: Vec<&str> = cfg.nginx.command.0.iter().map(String::as_str).collect();
    argv.push("-v");
    match dir.files.run(&argv, TIMEOUT).await {
        Ok(o) if o.code == Some(0) => {}
        Ok(o) => out.push(lack(
            format!(
                "`{}` fails: {}",
                argv.join(" "),
                crate::sanitize::one_line(&String::from_utf8_lossy(&o.stderr))
            ),
            "install nginx (Debian: nginx-light) or set the host's `nginx.command`",
        )),
        Err(e) => out.push(lack(
            format!("`{}` cannot run: {e}", argv.join(" ")),
            "install nginx (Debian: nginx-light) or set the host's `nginx.command`",
        )),
    }
    // On an SSH host the switch holds nginx's file lock with the host's own
    // `flock` (util-linux): without it the traffic stage could not start.
    if matches!(dir.files, crate::hosts::Files::Ssh(..)) {
        let flock = match dir.files.run(&["flock", "--version"], TIMEOUT).await {
            Ok(o) if o.code == Some(0) => None,
            Ok(o) => Some(format!(
                "`flock --version` fails: {}",
                crate::sanitize::one_line(&String::from_utf8_lossy(&o.stderr))
            )),
            Err(e) => Some(format!("`flock` cannot run: {e}")),
        };
        if let Some(what) = flock {
            out.push(lack(
                what,
                "install util-linux's flock on the host (Debian: util-linux; Alpine: apk add util-linux)",
            ));
        }
    }
    let probe = dir.join(".berth-preflight");
    let written = probe.write(b"").await;
    let _ = probe.remove_file().await;
    if let Err(e) = written {
        out.push(lack(
            format!("nginx's directory {dir} is not writable: {e}"),
            "let berth write it, or point the host's `nginx.dir` at one it may",
        ));
    }
    out
}
