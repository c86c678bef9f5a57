//! Where a host's proxy sends an app's traffic now, read before anything
//! removes a container (the orphan sweep of the next run, `doctor --fix`):
//! the proxy's live routing is the truth recovery goes by, never a guess
//! from what runs.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::nginx::{self, Nginx};
use super::probe::{self, Via};
use super::{Driver, kamal};
use crate::config::{HostConfig, HostName, ProxySettings};
use crate::docker::Client;
use crate::engine::orphans::{self, Orphan, Proxied, Routing};
use crate::hosts::{HostPath, Pool};

/// How long a proxy has to say what it runs.
const ASK: Duration = Duration::from_secs(5);

/// Where to reach the proxy's port on a host: on this machine, or through
/// the SSH host's connection (a local socket forwarded to the port there).
pub async fn via(docker: &Client, host: &HostName, listen: u16) -> Result<Via, String> {
    match docker.tunnel() {
        None => Ok(Via::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, listen)))),
        Some(t) => Ok(Via::Unix {
            socket: t.forward_tcp(listen).await.map_err(|e| e.to_string())?,
            shown: format!("127.0.0.1:{listen} on host {host} (through ssh)"),
        }),
    }
}

/// A host's nginx, as its config says: files and commands on this machine,
/// or on the SSH host through its connection.
pub async fn nginx_of<'a>(
    hosts: &Pool,
    cfg: &'a HostConfig,
    timeout: Duration,
) -> Result<Nginx<'a>, String> {
    let dir = hosts
        .on_host(cfg, cfg.nginx.dir.clone(), timeout)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Nginx {
        command: &cfg.nginx.command.0,
        dir,
    })
}

/// One host's proxy, reached.
pub struct At<'a> {
    pub docker: &'a Client,
    pub host: &'a HostName,
    pub nginx: Nginx<'a>,
}

/// An app's orphans on one host, and where to read its proxy.
pub struct Orphans<'a> {
    pub hosts: &'a Pool,
    pub cfg: &'a HostConfig,
    pub docker: &'a Client,
    pub host: &'a HostName,
    pub app: &'a str,
    pub destination: &'a str,
}

/// Decides the running orphans of the proxied role by where the host's
/// proxy sends the app's traffic now, read only when one of them asks
/// (the engine's sweep and `doctor` both judge this way).
pub async fn judge(of: &Orphans<'_>, settings: &ProxySettings, found: &mut [Orphan]) {
    if !found.iter().any(|o| o.asks_proxy(settings.role.as_str())) {
        return;
    }
    let routing = match nginx_of(of.hosts, of.cfg, crate::engine::lock::REACH_TIMEOUT).await {
        Ok(nginx) => {
            let at = At {
                docker: of.docker,
                host: of.host,
                nginx,
            };
            read(&at, settings, of.app, of.destination).await
        }
        Err(e) => Routing::Unread(e),
    };
    orphans::judge(
        found,
        &Proxied {
            role: settings.role.as_str(),
            routing,
        },
    );
}

/// Where the host's proxy sends the app's traffic now (see [`Routing`]).
pub async fn read(at: &At<'_>, settings: &ProxySettings, app: &str, destination: &str) -> Routing {
    let driver = match super::driver_for(at.docker, settings.driver).await {
        Ok(d) => d,
        Err(e) => return Routing::Unread(e.to_string()),
    };
    match driver {
        Driver::Nginx => {
            let via = match via(at.docker, at.host, settings.listen).await {
                Ok(v) => v,
                Err(e) => return Routing::Unread(e),
            };
            let path = at.nginx.path(app, destination);
            nginx_routing(&at.nginx, &path, &via, &settings.domains).await
        }
        Driver::KamalProxy => {
            let service = kamal::service(app, settings.role.as_str(), destination);
            kamal_routing(at.docker, &service).await
        }
    }
}

/// nginx: the targets of berth's route file, trusted only when nginx
/// answers with that file's generation (a run killed between writing the
/// file and reloading, or between putting it back and reloading, leaves
/// the two apart: then what nginx runs is unknown).
pub async fn nginx_routing(
    nginx: &Nginx<'_>,
    path: &HostPath,
    via: &Via,
    domains: &[String],
) -> Routing {
    let text = match nginx.read(path).await {
        Ok(t) => t,
        Err(e) => return Routing::Unread(e.to_string()),
    };
    let route = text.as_deref().and_then(nginx::parse_route);
    if text.is_some() && route.is_none() {
        return Routing::Unread(format!("{path} has no route record (edited by hand?)"));
    }
    let answer = probe::generation(via, &probe::host_header(domains), ASK).await;
    match (route, answer) {
        (Some(r), Ok(a)) if a.generation.as_deref() == Some(r.generation.as_str()) => Routing::To(
            r.targets
                .into_iter()
                .flat_map(|t| [t.id, t.container])
                .collect(),
        ),
        // No file, and nginx runs none of berth's configs for the app (or
        // does not listen at all): it routes the app nowhere.
        (None, Ok(a)) if a.generation.as_deref().is_none_or(str::is_empty) => {
            Routing::To(HashSet::new())
        }
        (None, Err(e)) if e.nothing_listens() => Routing::To(HashSet::new()),
        (route, Ok(a)) => Routing::Unread(format!(
            "nginx runs generation {}, but {path} records {}: it was not reloaded onto its file",
            a.generation.as_deref().unwrap_or("none"),
            route.map_or_else(|| "no route".to_string(), |r| r.generation),
        )),
        (_, Err(e)) => Routing::Unread(format!("asking nginx what it runs: {e}")),
    }
}

/// kamal-proxy: the targets its own `list` names for the service.
pub async fn kamal_routing(docker: &Client, service: &str) -> Routing {
    match kamal::list(docker, ASK).await {
        Ok(lines) => Routing::To(kamal_targets(&lines, service)),
        Err(e) => Routing::Unread(format!("kamal-proxy list: {e}")),
    }
}

/// The targets (`name:port` → `name`) on the service's rows of
/// `kamal-proxy list`.
fn kamal_targets(lines: &[String], service: &str) -> HashSet<String> {
    lines
        .iter()
        .filter(|l| l.split_whitespace().next() == Some(service))
        .flat_map(|l| l.split_whitespace().skip(1))
        .filter_map(|word| word.rsplit_once(':'))
        .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .map(|(name, _)| name.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamal_proxy_lists_its_targets_by_service() {
        let lines: Vec<String> = [
            "Service     Host        Path  Target                 State    TLS",
            "demo-web    app.test    /     demo-web-v2-abc:3000   running  no",
            "demo-web-staging  *     /     demo-web-v9-zzz:3000   running  no",
            "other-web   *           /     other-web-v1:80        running  no",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            kamal_targets(&lines, "demo-web"),
            HashSet::from(["demo-web-v2-abc".to_string()])
        );
        assert!(kamal_targets(&lines, "gone-web").is_empty());
    }
}
