//! The kamal-proxy driver, for hosts where Kamal's proxy already runs: the
//! switch is `kamal-proxy deploy <service> --target <container>:<port>` run
//! inside the `kamal-proxy` container, which health-checks the target and
//! drains the old one itself. Service names follow Kamal's
//! (`<app>-<role>[-<destination>]`), so a fleet moving from Kamal keeps its
//! routes.

use std::time::Duration;

use super::{ProxyError, Target};
use crate::config::ProxySettings;
use crate::docker::Client;

pub const CONTAINER: &str = "kamal-proxy";

/// Kamal's service name for a role: `<app>-<role>[-<destination>]`.
pub fn service(app: &str, role: &str, destination: &str) -> String {
    if destination.is_empty() {
        format!("{app}-{role}")
    } else {
        format!("{app}-{role}-{destination}")
    }
}

/// The argument vector of the switch, as Kamal writes it (`--flag=value`).
/// The target is the container's name: kamal-proxy resolves it on the
/// `berth` network, which [`ensure_network`] joins it to.
pub fn deploy_args(
    service: &str,
    target: &Target,
    settings: &ProxySettings,
    deploy_timeout: Duration,
) -> Vec<String> {
    let mut args = vec![
        "kamal-proxy".to_string(),
        "deploy".to_string(),
        service.to_string(),
        format!("--target={}:{}", target.container, settings.app_port),
    ];
    args.extend(settings.domains.iter().map(|d| format!("--host={d}")));
    args.extend([
        format!("--health-check-path={}", settings.health_path),
        format!(
            "--health-check-interval={}",
            seconds(settings.health_interval)
        ),
        format!(
            "--health-check-timeout={}",
            seconds(settings.health_timeout)
        ),
        format!("--deploy-timeout={}", seconds(deploy_timeout)),
        format!("--drain-timeout={}", seconds(settings.drain_timeout)),
    ]);
    args
}

/// kamal-proxy reads Go durations; whole seconds as Kamal passes them,
/// milliseconds when there is a fraction.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Connects the kamal-proxy container to the `berth` network (once).
pub async fn ensure_network(docker: &Client) -> Result<(), ProxyError> {
    let c = docker
        .proxy_facts(CONTAINER)
        .await?
        .ok_or_else(|| ProxyError::Gone(CONTAINER.to_string()))?;
    if c.addresses.contains_key(super::NETWORK) {
        return Ok(());
    }
    Ok(docker.join_network(CONTAINER, super::NETWORK).await?)
}

/// `kamal-proxy list`: its lines as it prints them (`Service Host Path
/// Target State TLS`, then a row per service).
pub async fn list(docker: &Client, deadline: Duration) -> Result<Vec<String>, ProxyError> {
    let lines = std::sync::Mutex::new(Vec::new());
    let log = |l: String| {
        lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(l)
    };
    exec(
        docker,
        &["kamal-proxy".into(), "list".into()],
        deadline,
        &log,
    )
    .await?;
    Ok(lines
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .map(|l| match l.strip_prefix(LOGGED) {
            Some(raw) => raw.to_string(),
            None => l,
        })
        .collect())
}

/// What [`exec`] puts before each line it logs.
const LOGGED: &str = "kamal-proxy: ";

/// Runs `argv` in the kamal-proxy container; its output lines go to `log`.
/// Bounded by `deadline` (kamal-proxy's own deploy timeout plus slack).
pub async fn exec(
    docker: &Client,
    argv: &[String],
    deadline: Duration,
    log: &(dyn Fn(String) + Sync),
) -> Result<(), ProxyError> {
    let shown = argv.join(" ");
    let work = async {
        let mut lines = Vec::new();
        let code = docker
            .exec(CONTAINER, argv, |_, l| {
                if !l.is_empty() {
                    log(format!("{LOGGED}{l}"));
                    lines.push(l);
                }
            })
            .await?;
        match code {
            Some(0) => Ok(()),
            other => Err(ProxyError::Exit {
                command: shown.clone(),
                code: other.map_or("no code".into(), |c| format!("code {c}")),
                output: lines.join("\n"),
            }),
        }
    };
    tokio::time::timeout(deadline, work)
        .await
        .unwrap_or_else(|_| {
            Err(ProxyError::Timeout {
                command: shown.clone(),
                deadline,
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProxyDriver, RoleName};

    fn settings(domains: &[&str]) -> ProxySettings {
        ProxySettings {
            role: RoleName::new("web").unwrap(),
            domains: domains.iter().map(|d| d.to_string()).collect(),
            app_port: 3000,
            listen: 80,
            health_path: "/up".into(),
            health_interval: Duration::from_secs(1),
            health_timeout: Duration::from_millis(2500),
            drain_timeout: Duration::from_secs(30),
            driver: ProxyDriver::KamalProxy,
        }
    }

    fn target() -> Target {
        Target {
            container: "shop-web-v2-a1b2c3".into(),
            id: "abc".into(),
            version: "v2".into(),
            address: "172.18.0.5:3000".into(),
        }
    }

    #[test]
    fn deploy_command_matches_kamal() {
        let args = deploy_args(
            &service("shop", "web", ""),
            &target(),
            &settings(&["shop.test", "www.shop.test"]),
            Duration::from_secs(60),
        );
        assert_eq!(
            args,
            [
                "kamal-proxy",
                "deploy",
                "shop-web",
                "--target=shop-web-v2-a1b2c3:3000",
                "--host=shop.test",
                "--host=www.shop.test",
                "--health-check-path=/up",
                "--health-check-interval=1s",
                "--health-check-timeout=2500ms",
                "--deploy-timeout=60s",
                "--drain-timeout=30s",
            ]
        );
    }

    #[test]
    fn destinations_and_catch_all() {
        assert_eq!(service("shop", "web", "staging"), "shop-web-staging");
        let args = deploy_args("s", &target(), &settings(&[]), Duration::from_secs(5));
        assert!(
            !args.iter().any(|a| a.starts_with("--host")),
            "no --host answers any name"
        );
        assert!(args.contains(&"--drain-timeout=30s".to_string()));
    }
}
