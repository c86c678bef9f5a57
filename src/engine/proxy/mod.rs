//! Traffic: the proxy in front of an app's role. After a boot group passes
//! its health gate, the `traffic` stage points the proxy on each of the
//! group's hosts at the new containers and proves the switch with a request
//! through the proxy; only then do the old containers drain and stop. A
//! failed switch puts the previous proxy config back, so the old version
//! keeps its traffic.
//!
//! Two drivers: nginx on the host (berth owns one file per app and
//! destination, see [`nginx`]) and kamal-proxy, when its container runs on
//! the host ([`kamal`]).

pub mod kamal;
pub mod live;
pub mod nginx;
pub mod probe;
pub mod routing;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::{ProxyDriver, ProxySettings};
use crate::docker::{Client, NETWORK};
use crate::labels;

/// A container the proxy sends requests to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub container: String,
    pub id: String,
    pub version: String,
    /// `ip:port` on the `berth` network.
    pub address: String,
}

/// What the proxy of one app (and destination) on one host does: where it
/// listens, which names it answers, and the containers behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub app: String,
    #[serde(default)]
    pub destination: String,
    pub role: String,
    pub listen: u16,
    #[serde(default)]
    pub domains: Vec<String>,
    pub targets: Vec<Target>,
    /// New with every switch: a probe answered with it proves the proxy
    /// runs this route and not the one before.
    pub generation: String,
    pub written_at: DateTime<Utc>,
}

impl Route {
    pub fn new(
        app: &str,
        destination: &str,
        settings: &ProxySettings,
        targets: Vec<Target>,
    ) -> Route {
        let now = Utc::now();
        let versions: Vec<&str> = targets.iter().map(|t| t.version.as_str()).collect();
        Route {
            app: app.to_string(),
            destination: destination.to_string(),
            role: settings.role.to_string(),
            listen: settings.listen,
            domains: settings.domains.clone(),
            generation: format!(
                "{}.{}",
                versions.first().copied().unwrap_or("none"),
                now.timestamp_micros()
            ),
            targets,
            written_at: now,
        }
    }

    /// The versions it sends traffic to, e.g. `v2`.
    pub fn versions(&self) -> String {
        let mut v: Vec<&str> = self.targets.iter().map(|t| t.version.as_str()).collect();
        v.sort();
        v.dedup();
        v.join(",")
    }

    /// One line for stage output: `v2 → demo-web-v2-1a2b3c (172.18.0.5:8080)`.
    pub fn describe(&self) -> String {
        let to: Vec<String> = self
            .targets
            .iter()
            .map(|t| format!("{} ({})", t.container, t.address))
            .collect();
        if to.is_empty() {
            "no containers".into()
        } else {
            format!("{} → {}", self.versions(), to.join(", "))
        }
    }

    /// Whether two routes send the same names to the same containers
    /// (generation and time aside).
    pub fn same_traffic(&self, other: &Route) -> bool {
        let key = |r: &Route| {
            let mut t: Vec<(String, String)> = r
                .targets
                .iter()
                .map(|t| (t.id.clone(), t.address.clone()))
                .collect();
            t.sort();
            (r.listen, r.domains.clone(), t)
        };
        key(self) == key(other)
    }
}

/// Which proxy a host uses for an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Driver {
    Nginx,
    KamalProxy,
}

impl std::fmt::Display for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Driver::Nginx => "nginx",
            Driver::KamalProxy => "kamal-proxy",
        })
    }
}

/// Why the proxy's side of a step failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    /// A container to route to is gone.
    #[error("container {0} does not exist")]
    Gone(String),
    #[error("{0} is not running")]
    NotRunning(String),
    #[error("{name} has no address on the `{network}` network")]
    NoAddress { name: String, network: &'static str },
    #[error("{name}: `{ip}` is not an IP address")]
    BadAddress { name: String, ip: String },
    /// A command in the kamal-proxy container failed (its output, cleaned).
    #[error("`{command}` exited with {code}: {output}")]
    Exit {
        command: String,
        code: String,
        output: String,
    },
    #[error("`{command}` did not finish within {}", crate::config::duration::format(*deadline))]
    Timeout {
        command: String,
        deadline: std::time::Duration,
    },
}

/// The driver for a host: as configured, or for `auto`, kamal-proxy when
/// its container runs there and nginx otherwise.
pub async fn driver_for(docker: &Client, setting: ProxyDriver) -> Result<Driver, ProxyError> {
    match setting {
        ProxyDriver::Nginx => Ok(Driver::Nginx),
        ProxyDriver::KamalProxy => Ok(Driver::KamalProxy),
        ProxyDriver::Auto => match docker.proxy_facts(kamal::CONTAINER).await? {
            Some(c) if c.running => Ok(Driver::KamalProxy),
            _ => Ok(Driver::Nginx),
        },
    }
}

/// A running container as a proxy target: its address on the `berth`
/// network and its version label.
pub async fn target_of(docker: &Client, id: &str, port: u16) -> Result<Target, ProxyError> {
    let c = docker
        .proxy_facts(id)
        .await?
        .ok_or_else(|| ProxyError::Gone(id.to_string()))?;
    let name = c.name;
    if !c.running {
        return Err(ProxyError::NotRunning(name));
    }
    let Some(ip) = c.addresses.get(NETWORK).filter(|ip| !ip.is_empty()) else {
        return Err(ProxyError::NoAddress {
            name,
            network: NETWORK,
        });
    };
    // Parsed, so nothing but an address reaches a proxy config file.
    let ip: std::net::IpAddr = ip.parse().map_err(|_| ProxyError::BadAddress {
        name: name.clone(),
        ip: crate::sanitize::one_line(ip),
    })?;
    let version = c
        .labels
        .get(labels::VERSION)
        .map(|v| crate::sanitize::one_line(v))
        .unwrap_or_default();
    Ok(Target {
        container: name,
        id: c.id,
        version,
        address: std::net::SocketAddr::new(ip, port).to_string(),
    })
}

/// The running containers `selector` finds that Docker does not call sick
/// (unhealthy, or still starting), as targets; and how many run in all.
pub async fn healthy_targets(
    docker: &Client,
    selector: &labels::Selector,
    port: u16,
) -> Result<(Vec<Target>, usize), ProxyError> {
    let running = docker.list(selector, false).await?;
    let mut out = Vec::new();
    for c in running.iter().filter(|c| !c.is_sick()) {
        out.push(target_of(docker, &c.id, port).await?);
    }
    Ok((out, running.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(id: &str, addr: &str, v: &str) -> Target {
        Target {
            container: format!("demo-web-{v}-{id}"),
            id: id.into(),
            version: v.into(),
            address: addr.into(),
        }
    }

    #[test]
    fn same_traffic_ignores_generation_and_order() {
        let settings = ProxySettings {
            role: crate::config::RoleName::new("web").unwrap(),
            domains: vec!["demo.test".into()],
            app_port: 8080,
            listen: 80,
            health_path: "/up".into(),
            health_interval: std::time::Duration::from_secs(1),
            health_timeout: std::time::Duration::from_secs(5),
            drain_timeout: std::time::Duration::from_secs(30),
            driver: ProxyDriver::Auto,
        };
        let a = Route::new(
            "demo",
            "",
            &settings,
            vec![
                target("a", "10.0.0.2:8080", "v2"),
                target("b", "10.0.0.3:8080", "v2"),
            ],
        );
        let mut b = Route::new(
            "demo",
            "",
            &settings,
            vec![
                target("b", "10.0.0.3:8080", "v2"),
                target("a", "10.0.0.2:8080", "v2"),
            ],
        );
        b.generation = "other".into();
        assert!(a.same_traffic(&b));
        assert_eq!(a.versions(), "v2");
        b.targets[0].address = "10.0.0.9:8080".into();
        assert!(!a.same_traffic(&b), "a moved address is different traffic");
        assert!(a.generation.starts_with("v2."));
        assert_eq!(
            a.describe(),
            "v2 → demo-web-v2-a (10.0.0.2:8080), demo-web-v2-b (10.0.0.3:8080)"
        );
    }
}
