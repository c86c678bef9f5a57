//! Creating, finding, stopping and removing containers on one engine.
//! Every container berth creates is labelled through `labels::BerthLabels`,
//! and every lookup goes through a `labels::Selector`.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, ContainerSummary, HealthConfig, HostConfig, NetworkCreateRequest,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
    StopContainerOptions,
};

use super::{Client, DockerError, describe, is_not_found};
use crate::config::{EnvValue, HealthcheckConfig};
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
    /// The network it joins, by id ([`Client::ensure_network`]'s answer):
    /// by name, an engine with two networks of that name for a moment
    /// could put it on the one about to be removed.
    pub network: String,
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
            network_mode: Some(if spec.network.is_empty() {
                NETWORK.to_string()
            } else {
                spec.network.clone()
            }),
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

/// A container as a selector's lookup finds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    /// Without Docker's leading `/`, control characters removed.
    pub name: String,
    /// As the engine has them (anyone's to set: clean before showing).
    pub labels: std::collections::HashMap<String, String>,
    pub running: bool,
    /// `Up 5 minutes (healthy)`, as Docker words it (untrusted text).
    pub status: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// The image reference it was created with.
    pub image: String,
    /// The named volumes mounted in it.
    pub volumes: Vec<String>,
}

impl Listed {
    fn from(c: ContainerSummary) -> Self {
        Listed {
            name: c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| crate::sanitize::one_line(n.trim_start_matches('/')))
                .unwrap_or_else(|| c.id.clone().unwrap_or_default()),
            id: c.id.unwrap_or_default(),
            labels: c.labels.unwrap_or_default(),
            running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
            status: c.status.unwrap_or_default(),
            created: c.created.unwrap_or(0),
            image: c.image.unwrap_or_default(),
            volumes: c
                .mounts
                .unwrap_or_default()
                .into_iter()
                .filter(|m| m.typ.as_ref().map(|t| t.to_string()).as_deref() == Some("volume"))
                .filter_map(|m| m.name)
                .collect(),
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    /// Docker calls it sick: unhealthy, or its healthcheck still starting.
    pub fn is_sick(&self) -> bool {
        // `Up 5 minutes (unhealthy)`, `Up 2 seconds (health: starting)`.
        self.status.contains("(unhealthy)") || self.status.contains("(health: starting)")
    }
}

impl Client {
    /// Creates the `berth` network on the host if it is not there.
    ///
    /// Engines before API 1.44 accept a second network of the same name
    /// unless asked not to, and bollard's request no longer can ask. Two
    /// actions starting at once on a fresh host would each create one, and
    /// every later container start would fail as "ambiguous". So after
    /// creating, every caller converges on the same network (the oldest)
    /// and removes the empty extras. Returns that network's id: containers
    /// join it by id, never by a name that may be ambiguous for a moment.
    pub async fn ensure_network(&self) -> Result<String, DockerError> {
        self.ensure_named_network(NETWORK).await
    }

    /// [`Client::ensure_network`] for any name (tests use their own).
    pub async fn ensure_named_network(&self, name: &str) -> Result<String, DockerError> {
        let docker = &self.docker;
        if self.named_networks(name).await?.is_empty() {
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
                Err(e) => return Err(DockerError::of(format!("creating network `{name}`"), &e)),
            }
        }
        let mut found = self.named_networks(name).await?;
        found.sort();
        let Some((_, oldest)) = found.first().cloned() else {
            return Err(DockerError::Request {
                what: format!("creating network `{name}`"),
                reason: "the engine created it, then listed no network of that name".into(),
            });
        };
        for (_, id) in found.iter().skip(1) {
            // The engine refuses to remove a network with containers on it.
            match docker.remove_network(id).await {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => {
                    return Err(DockerError::Request {
                        what: format!("{} networks are named `{name}`", found.len()),
                        reason: format!(
                            "the extra one {id} could not be removed ({}); \
                             move its containers off it or remove it by hand (`docker network ls --filter name={name}`)",
                            describe(&e)
                        ),
                    });
                }
            }
        }
        Ok(oldest)
    }

    /// Networks named exactly `name`: (created, id).
    async fn named_networks(
        &self,
        name: &str,
    ) -> Result<Vec<(Option<chrono::DateTime<chrono::FixedOffset>>, String)>, DockerError> {
        let filters =
            std::collections::HashMap::from([("name".to_string(), vec![name.to_string()])]);
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|e| DockerError::of("listing networks", &e))?;
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

    /// Creates and starts a container; returns its id. A container that
    /// was created but failed to start is removed before returning the
    /// error.
    pub async fn create_and_start(&self, spec: &ContainerSpec) -> Result<String, DockerError> {
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(spec.name.clone()),
                    ..Default::default()
                }),
                create_body(spec),
            )
            .await
            .map_err(|e| DockerError::of(format!("creating {}", spec.name), &e))?;
        if let Err(e) = self.docker.start_container(&created.id, None).await {
            let _ = self.remove(&created.id, false).await;
            return Err(DockerError::of(format!("starting {}", spec.name), &e));
        }
        Ok(created.id)
    }

    /// Containers matching `selector`; `all` includes stopped ones. Newest
    /// first.
    pub async fn list(&self, selector: &Selector, all: bool) -> Result<Vec<Listed>, DockerError> {
        let mut list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all,
                filters: Some(selector.filters()),
                ..Default::default()
            }))
            .await
            .map_err(|e| {
                DockerError::of(format!("listing containers ({})", selector.describe()), &e)
            })?;
        list.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
        Ok(list.into_iter().map(Listed::from).collect())
    }

    /// Stops a container, giving it `grace` to exit; one already stopped
    /// or gone is fine.
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<(), DockerError> {
        let opts = StopContainerOptions {
            t: Some(grace.as_secs() as i32),
            ..Default::default()
        };
        match self.docker.stop_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 304: already stopped.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(DockerError::of(format!("stopping {id:.12}"), &e)),
        }
    }

    /// Starts a container; one already running is fine.
    pub async fn start(&self, id: &str) -> Result<(), DockerError> {
        match self.docker.start_container(id, None).await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            Err(e) => Err(DockerError::of(format!("starting {id:.12}"), &e)),
        }
    }

    /// Restarts a container, giving it `grace` to stop.
    pub async fn restart(&self, id: &str, grace: Duration) -> Result<(), DockerError> {
        let opts = bollard::query_parameters::RestartContainerOptions {
            t: Some(grace.as_secs() as i32),
            ..Default::default()
        };
        self.docker
            .restart_container(id, Some(opts))
            .await
            .map_err(|e| DockerError::of(format!("restarting {id:.12}"), &e))
    }

    /// Sends a container SIGKILL (Docker's `kill`).
    pub async fn kill(&self, id: &str) -> Result<(), DockerError> {
        self.docker
            .kill_container(id, None::<bollard::query_parameters::KillContainerOptions>)
            .await
            .map_err(|e| DockerError::of(format!("killing {id:.12}"), &e))
    }

    /// Freezes a container's processes (`pause`), or thaws them.
    pub async fn pause(&self, id: &str, pause: bool) -> Result<(), DockerError> {
        let done = if pause {
            self.docker.pause_container(id).await
        } else {
            self.docker.unpause_container(id).await
        };
        done.map_err(|e| {
            let what = if pause { "pausing" } else { "unpausing" };
            DockerError::of(format!("{what} {id:.12}"), &e)
        })
    }

    /// Force-removes a container (and its anonymous volumes when
    /// `volumes`); one already gone is fine.
    pub async fn remove(&self, id: &str, volumes: bool) -> Result<(), DockerError> {
        let opts = RemoveContainerOptions {
            force: true,
            v: volumes,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(opts)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::of(format!("removing {id:.12}"), &e)),
        }
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
}
