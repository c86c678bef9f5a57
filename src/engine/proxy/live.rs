//! What each host's proxy really has for an app, next to what runs there:
//! read by `berth proxy show`, compared by `berth doctor`.

use std::time::Duration;

use serde::Serialize;

use super::nginx;
use super::{Driver, Route, Target, kamal};
use crate::config::{AppName, Config, DestinationName, HostName};
use crate::docker::Gateway;
use crate::labels::Selector;

/// One host's proxy for the app.
#[derive(Clone, Debug, Serialize)]
pub struct HostRoute {
    pub host: HostName,
    pub driver: Option<Driver>,
    /// nginx: berth's file for the app (`ssh://…:/etc/nginx/…` on an SSH
    /// host).
    pub path: Option<String>,
    /// nginx: the file's text; kamal-proxy: what `kamal-proxy list` says.
    pub text: Option<String>,
    /// nginx: the route recorded in the file.
    pub route: Option<Route>,
    /// The role's running healthy containers now.
    pub running: Vec<Target>,
    /// Why the host could not be read.
    pub error: Option<String>,
}

/// A difference between a host's proxy and what runs, with its fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    pub subject: String,
    pub message: String,
    /// Its fix, when it is not `berth proxy sync`.
    pub fix: Option<String>,
}

impl HostRoute {
    /// How the proxy differs from the running healthy containers, if it does.
    pub fn drift(&self, app: &str) -> Option<Drift> {
        let subject = self
            .path
            .clone()
            .unwrap_or_else(|| format!("{app} on {}", self.host));
        let running = if self.running.is_empty() {
            "no healthy container runs".to_string()
        } else {
            let names: Vec<&str> = self.running.iter().map(|t| t.container.as_str()).collect();
            format!("{} runs", names.join(", "))
        };
        let message = if let Some(e) = &self.error {
            e.clone()
        } else {
            match self.driver? {
                Driver::Nginx => match (&self.text, &self.route) {
                    // Nothing runs and nothing routes: consistent (the
                    // roles check reports an app with nothing serving).
                    (None, _) if self.running.is_empty() => return None,
                    (None, _) => format!(
                        "berth's nginx file for `{app}` is missing on host {}: nginx does not route it ({running})",
                        self.host
                    ),
                    (Some(_), None) => format!(
                        "berth's nginx file for `{app}` on host {} has no route record (edited by hand?)",
                        self.host
                    ),
                    (Some(_), Some(route)) => {
                        let mut want: Vec<(&str, &str)> = self
                            .running
                            .iter()
                            .map(|t| (t.id.as_str(), t.address.as_str()))
                            .collect();
                        let mut have: Vec<(&str, &str)> = route
                            .targets
                            .iter()
                            .map(|t| (t.id.as_str(), t.address.as_str()))
                            .collect();
                        want.sort();
                        have.sort();
                        if want == have {
                            return None;
                        }
                        if let Some(d) = self.versions_beside(app, route, &subject) {
                            return Some(d);
                        }
                        let versions_now = Route {
                            targets: self.running.clone(),
                            ..route.clone()
                        }
                        .versions();
                        let what = if versions_now != route.versions() {
                            "version mismatch"
                        } else {
                            "stale address"
                        };
                        format!(
                            "{what} on host {}: nginx sends `{app}` to {}, but {running}",
                            self.host,
                            route.describe()
                        )
                    }
                },
                Driver::KamalProxy => {
                    let listed = self.text.as_deref().unwrap_or("");
                    let missing: Vec<&str> = self
                        .running
                        .iter()
                        .map(|t| t.container.as_str())
                        .filter(|c| !listed.contains(c))
                        .collect();
                    if missing.is_empty() {
                        return None;
                    }
                    format!(
                        "kamal-proxy on host {} does not list {} for `{app}`",
                        self.host,
                        missing.join(", ")
                    )
                }
            }
        };
        Some(Drift {
            subject,
            message,
            fix: None,
        })
    }

    /// Several versions of the role run and nginx sends to some of them:
    /// the others run beside what serves (a rollback or restart killed
    /// after starting them). `proxy sync` would send traffic to every
    /// version, so the fix says to stop them or deploy again.
    fn versions_beside(&self, app: &str, route: &Route, subject: &str) -> Option<Drift> {
        let mut versions: Vec<&str> = self.running.iter().map(|t| t.version.as_str()).collect();
        versions.sort();
        versions.dedup();
        if versions.len() < 2 {
            return None;
        }
        let beside: Vec<&str> = self
            .running
            .iter()
            .filter(|t| !route.targets.iter().any(|r| r.id == t.id))
            .map(|t| t.container.as_str())
            .collect();
        let first = beside.first()?;
        Some(Drift {
            subject: subject.to_string(),
            message: format!(
                "{} run at once on host {}: nginx sends `{app}` to {}, and {} also run beside it (started by a rollback or restart that was killed?)",
                versions.join(" and "),
                self.host,
                route.describe(),
                beside.join(", ")
            ),
            fix: Some(format!(
                "stop what should not serve (`berth container stop {first}`), or deploy again; `berth proxy sync` would send traffic to every version"
            )),
        })
    }
}

/// Reads every proxied host of the app. Hosts that cannot be reached come
/// back with `error` set; the others are not held up by them.
pub async fn read(
    config: &Config,
    gateway: &Gateway,
    app: &AppName,
    destination: Option<&DestinationName>,
) -> Option<Vec<HostRoute>> {
    let settings = config.proxy(app, destination)?;
    let dest = destination.map(|d| d.to_string()).unwrap_or_default();
    let hosts = config.role_hosts(app, &settings.role, destination);
    let reads = hosts.iter().map(|host| {
        let settings = &settings;
        let dest = &dest;
        async move {
            let mut out = HostRoute {
                host: host.clone(),
                driver: None,
                path: None,
                text: None,
                route: None,
                running: Vec::new(),
                error: None,
            };
            if let Err(e) = read_host(config, gateway, app, dest, settings, &mut out).await {
                out.error = Some(format!("host {host}: {e}"));
            }
            out
        }
    });
    Some(futures_util::future::join_all(reads).await)
}

async fn read_host(
    config: &Config,
    gateway: &Gateway,
    app: &AppName,
    dest: &str,
    settings: &crate::config::ProxySettings,
    out: &mut HostRoute,
) -> Result<(), String> {
    let cfg = config.host(&out.host).map_err(|e| e.to_string())?;
    let docker = gateway
        .engine_of(cfg, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let selector = Selector {
        app: app.to_string(),
        destination: dest.to_string(),
        role: Some(settings.role.to_string()),
        version: None,
        host: Some(out.host.to_string()),
    };
    out.running = super::healthy_targets(&docker, &selector, settings.app_port)
        .await
        .map_err(|e| e.to_string())?
        .0;
    let driver = super::driver_for(&docker, settings.driver)
        .await
        .map_err(|e| e.to_string())?;
    out.driver = Some(driver);
    match driver {
        Driver::Nginx => {
            let n = super::routing::nginx_of(gateway.hosts(), cfg, Duration::from_secs(10)).await?;
            let path = n.path(app.as_str(), dest);
            out.path = Some(path.to_string());
            out.text = n.read(&path).await.map_err(|e| e.to_string())?;
            out.route = out.text.as_deref().and_then(nginx::parse_route);
        }
        Driver::KamalProxy => {
            let lines = kamal::list(&docker, Duration::from_secs(15))
                .await
                .map_err(|e| e.to_string())?;
            out.text = Some(lines.join("\n"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, addr: &str, v: &str) -> Target {
        Target {
            container: format!("demo-web-{v}-{id}"),
            id: id.into(),
            version: v.into(),
            address: addr.into(),
        }
    }

    fn host_route(route: Option<Vec<Target>>, running: Vec<Target>) -> HostRoute {
        HostRoute {
            host: HostName::new("local").unwrap(),
            driver: Some(Driver::Nginx),
            path: Some("/etc/nginx/conf.d/berth-demo.conf".into()),
            text: route.as_ref().map(|_| String::from("# Managed by berth.")),
            route: route.map(|targets| Route {
                app: "demo".into(),
                destination: String::new(),
                role: "web".into(),
                listen: 80,
                domains: vec![],
                targets,
                generation: "g".into(),
                written_at: chrono::Utc::now(),
            }),
            running,
            error: None,
        }
    }

    #[test]
    fn drift_kinds() {
        let v2 = t("b", "10.0.0.3:80", "v2");
        let v1 = t("a", "10.0.0.2:80", "v1");
        assert_eq!(
            host_route(Some(vec![v2.clone()]), vec![v2.clone()]).drift("demo"),
            None
        );
        assert_eq!(
            host_route(None, vec![]).drift("demo"),
            None,
            "never deployed"
        );
        let missing = host_route(None, vec![v2.clone()]).drift("demo").unwrap();
        assert!(
            missing.message.contains("is missing on host local"),
            "{missing:?}"
        );
        assert_eq!(missing.subject, "/etc/nginx/conf.d/berth-demo.conf");
        let version = host_route(Some(vec![v1]), vec![v2.clone()])
            .drift("demo")
            .unwrap();
        assert!(version.message.starts_with("version mismatch on host local: nginx sends `demo` to v1 → demo-web-v1-a (10.0.0.2:80), but demo-web-v2-b runs"), "{version:?}");
        let mut moved = v2.clone();
        moved.address = "10.0.0.9:80".into();
        let stale = host_route(Some(vec![moved]), vec![v2])
            .drift("demo")
            .unwrap();
        assert!(stale.message.starts_with("stale address"), "{stale:?}");
    }

    #[test]
    fn a_version_running_beside_what_nginx_serves_is_named_with_its_own_fix() {
        // A rollback killed after starting the retained v1: v1 and v2 run,
        // nginx sends to v2.
        let (v1, v2) = (t("a", "10.0.0.2:80", "v1"), t("b", "10.0.0.3:80", "v2"));
        let d = host_route(Some(vec![v2.clone()]), vec![v1, v2])
            .drift("demo")
            .unwrap();
        assert!(
            d.message
                .starts_with("v1 and v2 run at once on host local: nginx sends `demo` to v2")
                && d.message.contains("and demo-web-v1-a also run beside it"),
            "{d:?}"
        );
        let fix = d.fix.unwrap();
        assert!(
            fix.contains("`berth container stop demo-web-v1-a`")
                && fix.contains("`berth proxy sync` would send traffic to every version"),
            "{fix}"
        );
    }
}
