//! How the engine creates, finds and removes containers on one host. Every
//! container it creates is labelled through `labels::BerthLabels`, and every
//! lookup goes through a `labels::Selector`.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, ContainerSummary, HealthConfig, HostConfig, NetworkCreateRequest,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
    StopContainerOptions,
};

use crate::config::{EnvValue, HealthcheckConfig};
use crate::docker::{describe, is_not_found};
use crate::labels::{BerthLabels, Selector};

/// The per-host network app containers join. They publish no host ports, so
/// old and new versions run side by side; the proxy reaches them here.
pub const NETWORK: &str = "berth";

/// What to start.
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    pub labels: BerthLabels,
    pub env: BTreeMap<String, EnvValue>,
    pub cmd: Option<Vec<String>>,
    pub port: Option<u16>,
    /// `docker run -v` forms.
    pub volumes: Vec<String>,
    /// `None`: keep the image's own healthcheck. `Some(None)`: disable it.
    pub healthcheck: Option<Option<HealthcheckConfig>>,
    pub stop_timeout: Duration,
    /// App containers come back after a host reboot; tasks do not.
    pub restart: bool,
}

/// A short random suffix, so a version can be booted again (restart, a
/// redeploy of the same version) without a name clash.
pub fn suffix() -> String {
    format!("{:06x}", fastrand::u32(..0x100_0000))
}

/// `<app>-<role>[-<destination>]-<version>-<suffix>`.
pub fn container_name(app: &str, role: &str, destination: &str, version: &str) -> String {
    let dest = if destination.is_empty() {
        String::new()
    } else {
        format!("-{destination}")
    };
    format!("{app}-{role}{dest}-{version}-{}", suffix())
}

fn nanos(d: Duration) -> i64 {
    d.as_nanos().min(i64::MAX as u128) as i64
}

/// Docker's HEALTHCHECK from the config. A zero duration is left unset:
/// engines reject intervals under 1 ms, and unset means Docker's default.
pub fn health_config(h: &HealthcheckConfig) -> HealthConfig {
    let dur = |d: Duration| (d >= Duration::from_millis(1)).then(|| nanos(d));
    let mut test = vec!["CMD".to_string()];
    test.extend(h.command.0.iter().cloned());
    HealthConfig {
        test: Some(test),
        interval: dur(h.interval.get()),
        timeout: dur(h.timeout.get()),
        retries: Some(h.retries as i64),
        start_period: dur(h.start_period.get()),
        ..Default::default()
    }
}

pub fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let healthcheck = match &spec.healthcheck {
        None => None,
        Some(None) => Some(HealthConfig {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        }),
        Some(Some(h)) => Some(health_config(h)),
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.cmd.clone(),
        env: Some(
            spec.env
                .iter()
                .map(|(k, v)| format!("{k}={}", v.expose()))
                .collect(),
        ),
        labels: Some(spec.labels.to_map()),
        exposed_ports: spec.port.map(|p| vec![format!("{p}/tcp")]),
        healthcheck,
        stop_timeout: Some(spec.stop_timeout.as_secs() as i64),
        host_config: Some(HostConfig {
            network_mode: Some(NETWORK.into()),
            binds: (!spec.volumes.is_empty()).then(|| spec.volumes.clone()),
            restart_policy: spec.restart.then_some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates the `berth` network on the host if it is not there.
///
/// Engines before API 1.44 accept a second network of the same name unless
/// asked not to, and bollard's request no longer can ask. Two actions
/// starting at once on a fresh host would each create one, and every later
/// container start would fail as "ambiguous". So after creating, every
/// caller converges on the same network (the oldest) and removes the empty
/// extras.
pub async fn ensure_network(docker: &Docker) -> Result<(), String> {
    ensure_named_network(docker, NETWORK).await
}

/// [`ensure_network`] for any name (tests use their own).
pub async fn ensure_named_network(docker: &Docker, name: &str) -> Result<(), String> {
    if named_networks(docker, name).await?.is_empty() {
        let req = NetworkCreateRequest {
            name: name.into(),
            driver: Some("bridge".into()),
            attachable: Some(true),
            ..Default::default()
        };
        match docker.create_network(req).await {
            Ok(_) => {}
            // Another run created it meanwhile (engines that check names).
            Err(e) if describe(&e).contains("already exists") => {}
            Err(e) => return Err(format!("creating network `{name}`: {}", describe(&e))),
        }
    }
    let mut found = named_networks(docker, name).await?;
    found.sort();
    for (_, id) in found.iter().skip(1) {
        // The engine refuses to remove a network with containers on it.
        match docker.remove_network(id).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => {
                return Err(format!(
                    "{} networks are named `{name}` and the extra one {id} could not be removed ({}); \
                     move its containers off it or remove it by hand (`docker network ls --filter name={name}`)",
                    found.len(),
                    describe(&e)
                ));
            }
        }
    }
    Ok(())
}

/// Networks named exactly `name`: (created, id).
async fn named_networks(
    docker: &Docker,
    name: &str,
) -> Result<Vec<(Option<chrono::DateTime<chrono::FixedOffset>>, String)>, String> {
    let filters = std::collections::HashMap::from([("name".to_string(), vec![name.to_string()])]);
    let list = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .map_err(|e| format!("listing networks: {}", describe(&e)))?;
    Ok(list
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name))
        .map(|n| {
            let created = n
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok());
            (created, n.id.unwrap_or_default())
        })
        .collect())
}

/// Creates and starts a container; returns its id. A container that was
/// created but failed to start is removed before returning the error.
pub async fn create_and_start(docker: &Docker, spec: &ContainerSpec) -> Result<String, String> {
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(spec.name.clone()),
                ..Default::default()
            }),
            create_body(spec),
        )
        .await
        .map_err(|e| format!("creating {}: {}", spec.name, describe(&e)))?;
    if let Err(e) = docker.start_container(&created.id, None).await {
        let _ = remove(docker, &created.id, false).await;
        return Err(format!("starting {}: {}", spec.name, describe(&e)));
    }
    Ok(created.id)
}

/// Containers matching `selector`; `all` includes stopped ones. Newest first.
pub async fn list(
    docker: &Docker,
    selector: &Selector,
    all: bool,
) -> Result<Vec<ContainerSummary>, String> {
    let mut list = docker
        .list_containers(Some(ListContainersOptions {
            all,
            filters: Some(selector.filters()),
            ..Default::default()
        }))
        .await
        .map_err(|e| {
            format!(
                "listing containers ({}): {}",
                selector.describe(),
                describe(&e)
            )
        })?;
    list.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
    Ok(list)
}

/// The name Docker shows, without its leading `/`.
pub fn summary_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| crate::sanitize::one_line(n.trim_start_matches('/')))
        .unwrap_or_else(|| c.id.clone().unwrap_or_default())
}

pub fn summary_label<'a>(c: &'a ContainerSummary, key: &str) -> Option<&'a str> {
    c.labels.as_ref()?.get(key).map(String::as_str)
}

pub async fn stop(docker: &Docker, id: &str, grace: Duration) -> Result<(), String> {
    let opts = StopContainerOptions {
        t: Some(grace.as_secs() as i32),
        ..Default::default()
    };
    match docker.stop_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // 304: already stopped.
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        Err(e) => Err(format!("stopping {id:.12}: {}", describe(&e))),
    }
}

pub async fn start(docker: &Docker, id: &str) -> Result<(), String> {
    match docker.start_container(id, None).await {
        Ok(())
        | Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 304, ..
        }) => Ok(()),
        Err(e) => Err(format!("starting {id:.12}: {}", describe(&e))),
    }
}

/// Force-removes a container (and its anonymous volumes when `volumes`).
pub async fn remove(docker: &Docker, id: &str, volumes: bool) -> Result<(), String> {
    let opts = RemoveContainerOptions {
        force: true,
        v: volumes,
        ..Default::default()
    };
    match docker.remove_container(id, Some(opts)).await {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(format!("removing {id:.12}: {}", describe(&e))),
    }
}

/// Splits a byte stream into lines, holding a partial line until its end
/// arrives (a log chunk may end mid-line, or mid-character).
#[derive(Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    pub fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.partial.drain(..=i).collect();
            line.pop(); // the newline
            lines.push(crate::sanitize::clean_bytes(&line));
        }
        lines
    }

    pub fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty())
            .then(|| crate::sanitize::clean_bytes(&std::mem::take(&mut self.partial)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Argv, HumanDuration};

    #[test]
    fn healthcheck_leaves_zero_durations_unset() {
        let h = health_config(&HealthcheckConfig {
            command: Argv(vec!["wget".into(), "-q".into()]),
            interval: HumanDuration::secs(2),
            timeout: HumanDuration::secs(3),
            retries: 4,
            start_period: HumanDuration::secs(0),
        });
        assert_eq!(h.test.unwrap(), vec!["CMD", "wget", "-q"]);
        assert_eq!(h.interval, Some(2_000_000_000));
        assert_eq!(h.retries, Some(4));
        assert_eq!(h.start_period, None);
    }

    #[test]
    fn names_are_unique_per_boot() {
        let a = container_name("demo", "web", "", "v2");
        assert!(a.starts_with("demo-web-v2-"), "{a}");
        assert!(container_name("demo", "web", "staging", "v2").starts_with("demo-web-staging-v2-"));
    }

    #[test]
    fn splitter_holds_partial_lines_and_utf8() {
        let mut s = LineSplitter::default();
        assert!(s.push(b"hel").is_empty());
        assert_eq!(s.push(b"lo\nwor"), vec!["hello"]);
        let check = "✓".as_bytes();
        assert!(s.push(&check[..1]).is_empty());
        assert_eq!(
            s.push(&[&check[1..], b"\x1b[1m!\n"].concat()),
            vec!["wor✓!"]
        );
        assert_eq!(s.push(b"tail"), Vec::<String>::new());
        assert_eq!(s.finish().as_deref(), Some("tail"));
    }
}
