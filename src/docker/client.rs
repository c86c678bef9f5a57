//! One engine's client: every request berth makes of Docker, answering in
//! `domain` types. Made by the [`super::Gateway`] (or, for tests and tools,
//! [`Client::at_socket`]); cloning shares the client.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use futures_util::{StreamExt, TryStreamExt};

use super::{DockerError, convert, describe, is_not_found};
use crate::domain::{Container, EngineInfo, Usage};
use crate::hosts::{Reach, ssh::Tunnel};

/// A host's Docker engine.
#[derive(Clone)]
pub struct Client {
    pub(super) docker: Docker,
    /// Keeps an SSH host's connection (and forwarded socket) open while
    /// the client is in use.
    reach: Arc<Reach>,
    endpoint: String,
}

/// Disk an engine uses: its images, and its containers' writable layers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskUse {
    pub images: u64,
    /// At most this much (shared layers are counted once per image).
    pub image_bytes: u64,
    pub containers: u64,
    pub container_bytes: u64,
    pub volumes: u64,
}

/// What the proxy needs of a container: whether it runs, its address on a
/// network, and its labels.
#[derive(Clone, Debug, Default)]
pub struct ProxyFacts {
    pub id: String,
    /// Control characters removed.
    pub name: String,
    pub running: bool,
    /// Its address on each network it joined (may be empty text).
    pub addresses: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

/// The engine's state at one moment, for a watcher: what it is, every
/// container as listed, and its clock (to subscribe to events from).
pub struct Snapshot {
    pub info: EngineInfo,
    pub containers: Vec<Container>,
    /// The engine's own time, in seconds since the epoch.
    pub now: Option<i64>,
}

impl Client {
    pub(super) fn new(docker: Docker, reach: Reach, endpoint: String) -> Self {
        Client {
            docker,
            reach: Arc::new(reach),
            endpoint,
        }
    }

    /// The engine at a local unix socket, outside any gateway (for tools
    /// and tests): the API version negotiated, the engine's word on itself.
    pub async fn at_socket(
        socket: &Path,
        timeout: Duration,
    ) -> Result<(Client, EngineInfo), DockerError> {
        let (docker, info) = super::connect(socket, timeout).await?;
        let reach = Reach::local(socket.to_path_buf());
        Ok((
            Client::new(docker, reach, format!("unix://{}", socket.display())),
            info,
        ))
    }

    /// The raw client, for tests that set the scene with requests berth
    /// itself never makes. berth's own code goes through the methods.
    #[doc(hidden)]
    pub fn bollard(&self) -> &Docker {
        &self.docker
    }

    /// What the client talks to: a local socket (forwarded, for SSH
    /// hosts) or a TCP address.
    pub fn target(&self) -> &crate::hosts::Target {
        &self.reach.target
    }

    /// The SSH connection under the client, for an SSH host.
    pub fn tunnel(&self) -> Option<&Tunnel> {
        self.reach.tunnel()
    }

    /// `unix:///var/run/docker.sock`, `ssh://deploy@web-1:22`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// What the engine says of itself (one `/version` round trip).
    pub async fn version(&self, timeout: Duration) -> Result<EngineInfo, DockerError> {
        let v = tokio::time::timeout(timeout, self.docker.version())
            .await
            .map_err(|_| DockerError::Timeout {
                endpoint: self.endpoint.clone(),
                timeout,
            })?
            .map_err(|e| DockerError::of("reading the engine's version", &e))?;
        let api = self.docker.client_version();
        let clean = crate::sanitize::one_line;
        Ok(EngineInfo {
            product: super::product_of(&v).into(),
            version: clean(v.version.as_deref().unwrap_or("unknown")),
            api_version: format!("{}.{}", api.major_version, api.minor_version),
            os: clean(v.os.as_deref().unwrap_or_default()),
            arch: clean(v.arch.as_deref().unwrap_or_default()),
        })
    }

    /// The engine's clock against this machine's, in milliseconds
    /// (positive: the engine is ahead), measured at the middle of one
    /// `/info` round trip; `None` when the engine does not say or does not
    /// answer in `timeout`.
    pub async fn clock_skew_ms(&self, timeout: Duration) -> Option<i64> {
        let before = chrono::Utc::now();
        let info = tokio::time::timeout(timeout, self.docker.info())
            .await
            .ok()?
            .ok()?;
        let after = chrono::Utc::now();
        let middle = before + (after - before) / 2;
        let at = chrono::DateTime::parse_from_rfc3339(info.system_time.as_deref()?).ok()?;
        Some((at.with_timezone(&chrono::Utc) - middle).num_milliseconds())
    }

    /// What the engine uses on disk (one list of images, one of containers
    /// with their sizes, one of volumes; Docker's own `system df` sums
    /// these too).
    pub async fn disk_use(&self, timeout: Duration) -> Result<DiskUse, DockerError> {
        use bollard::query_parameters::{
            ListContainersOptions, ListImagesOptions, ListVolumesOptions,
        };
        let docker = &self.docker;
        let work = async {
            let images = docker
                .list_images(Some(ListImagesOptions {
                    all: false,
                    ..Default::default()
                }))
                .await
                .map_err(|e| DockerError::of("listing images", &e))?;
            let containers = docker
                .list_containers(Some(ListContainersOptions {
                    all: true,
                    size: true,
                    ..Default::default()
                }))
                .await
                .map_err(|e| DockerError::of("listing containers", &e))?;
            let volumes = docker
                .list_volumes(None::<ListVolumesOptions>)
                .await
                .map_err(|e| DockerError::of("listing volumes", &e))?;
            let bytes = |n: i64| u64::try_from(n).unwrap_or(0);
            Ok(DiskUse {
                images: images.len() as u64,
                // Layers shared between images count once per image: an upper bound.
                image_bytes: images.iter().map(|i| bytes(i.size)).sum(),
                containers: containers.len() as u64,
                container_bytes: containers.iter().filter_map(|c| c.size_rw).map(bytes).sum(),
                volumes: volumes.volumes.map_or(0, |v| v.len() as u64),
            })
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| DockerError::NoAnswer {
                what: "reading disk use".into(),
            })?
    }

    /// Every container of the engine, running or not, as listed.
    pub async fn list_all(&self, timeout: Duration) -> Result<Vec<Container>, DockerError> {
        Ok(tokio::time::timeout(timeout, self.list_summaries())
            .await
            .map_err(|_| DockerError::NoAnswer {
                what: "listing containers".into(),
            })??
            .into_iter()
            .map(convert::summary)
            .collect())
    }

    async fn list_summaries(&self) -> Result<Vec<bollard::models::ContainerSummary>, DockerError> {
        use bollard::query_parameters::ListContainersOptions;
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .map_err(|e| DockerError::of("listing containers", &e))
    }

    /// What the engine is, every container as listed, and its clock, in
    /// one round trip's time (`/info`, `/version` and the list at once).
    pub async fn snapshot(&self) -> Result<Snapshot, DockerError> {
        let (info, version, summaries) = tokio::join!(
            self.docker.info(),
            self.docker.version(),
            self.list_summaries()
        );
        // Which engine it is (Docker or Podman): `/info` does not say.
        let product = version.as_ref().map_or("docker", super::product_of);
        let info = info.map_err(|e| DockerError::of("reading engine info", &e))?;
        let summaries = summaries?;
        let now = info
            .system_time
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp());
        let api = self.docker.client_version();
        // What an engine says of itself is outside text like any other.
        let clean = crate::sanitize::one_line;
        let info = EngineInfo {
            product: product.into(),
            version: clean(info.server_version.as_deref().unwrap_or("unknown")),
            api_version: format!("{}.{}", api.major_version, api.minor_version),
            os: clean(info.os_type.as_deref().unwrap_or_default()),
            arch: clean(&go_arch(info.architecture.as_deref().unwrap_or_default())),
        };
        Ok(Snapshot {
            info,
            containers: summaries.into_iter().map(convert::summary).collect(),
            now,
        })
    }

    /// A container as inspected; `None` when it does not exist.
    ///
    /// A container that restarted and is up again says exit code 0 to an
    /// inspect (the engine resets it on start): the code a crash loop keeps
    /// dying with is not here. Its `die` events carry it; the inventory's
    /// watchers keep it ([`Client::recent_exits`], [`convert::Event::exit`]).
    pub async fn inspect(&self, id: &str) -> Result<Option<Container>, DockerError> {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => Ok(Some(convert::container(c))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(DockerError::of(format!("inspecting {id:.12}"), &e)),
        }
    }

    /// The exit code of each container's newest `die` event from `since`
    /// to `until` (seconds since the epoch, the engine's clock), in one
    /// read of the engine's event history, within `timeout`.
    ///
    /// That history is a ring of the engine's last 256 events of every
    /// kind (Docker's `eventsLimit`): on a busy engine a die older than a
    /// few seconds may be gone, and a container missing here has simply
    /// no exit the engine still remembers.
    pub async fn recent_exits(
        &self,
        since: i64,
        until: i64,
        timeout: Duration,
    ) -> Result<HashMap<String, i64>, DockerError> {
        use bollard::query_parameters::EventsOptions;
        let mut events = self.docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: Some(until.max(since + 1).to_string()),
            filters: Some(HashMap::from([
                ("type".to_string(), vec!["container".to_string()]),
                ("event".to_string(), vec!["die".to_string()]),
            ])),
        }));
        let mut exits = HashMap::new();
        let read = async {
            while let Some(ev) = events.next().await {
                let ev =
                    ev.map_err(|e| DockerError::of("reading the engine's event history", &e))?;
                if let (Some(id), Some(code)) = (
                    ev.actor.as_ref().and_then(|a| a.id.clone()),
                    convert::die_exit(&ev),
                ) {
                    exits.insert(id, code);
                }
            }
            Ok::<_, DockerError>(())
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| DockerError::NoAnswer {
                what: "reading the engine's event history".into(),
            })??;
        Ok(exits)
    }

    /// How a container was started (command, env, mounts, networks,
    /// limits); `None` when it does not exist. Env values come as they are:
    /// mask them ([`crate::domain::Inspect::mask`]) before showing them.
    pub async fn inspect_details(
        &self,
        id: &str,
    ) -> Result<Option<crate::domain::Inspect>, DockerError> {
        match self.docker.inspect_container(id, None).await {
            Ok(c) => {
                let mut found = convert::inspect(&c);
                // The image's registry digests; an image removed since (or
                // one built here) has none to tell.
                if !found.image_id.is_empty()
                    && let Ok(image) = self.docker.inspect_image(&found.image_id).await
                {
                    found.digests = image
                        .repo_digests
                        .unwrap_or_default()
                        .iter()
                        .map(|d| crate::sanitize::one_line(d))
                        .collect();
                }
                Ok(Some(found))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(DockerError::of(format!("inspecting {id:.12}"), &e)),
        }
    }

    /// The containers `ids` names, inspected `concurrency` at once; those
    /// removed meanwhile are left out.
    pub async fn inspect_all(
        &self,
        ids: Vec<String>,
        concurrency: usize,
    ) -> Result<Vec<Container>, DockerError> {
        let inspected: Vec<Option<Container>> = futures_util::stream::iter(ids)
            .map(|id| async move { self.inspect(&id).await })
            .buffer_unordered(concurrency.max(1))
            .try_collect()
            .await?;
        Ok(inspected.into_iter().flatten().collect())
    }

    /// The container events the inventory follows, from `since` (seconds
    /// since the epoch, the engine's clock) on, as records and effects for
    /// `host`. Health probes alone produce three exec events per container
    /// per interval; the engine is asked not to send them at all.
    pub fn container_events(
        &self,
        host: &str,
        since: Option<i64>,
    ) -> impl futures_util::Stream<Item = Result<convert::Event, DockerError>> + Send + Unpin + 'static
    {
        use bollard::query_parameters::EventsOptions;
        let host = host.to_string();
        self.docker
            .events(Some(EventsOptions {
                since: since.map(|s| s.to_string()),
                until: None,
                filters: Some(HashMap::from([
                    ("type".to_string(), vec!["container".to_string()]),
                    (
                        "event".to_string(),
                        convert::WATCHED_ACTIONS
                            .iter()
                            .map(|a| a.to_string())
                            .collect(),
                    ),
                ])),
            }))
            .map(move |item| {
                item.map(|ev| convert::Event {
                    record: convert::event_record(&host, &ev),
                    effect: convert::event_effect(&ev),
                    exit: convert::die_exit(&ev),
                })
                .map_err(|e| DockerError::of("event stream broke", &e))
            })
    }

    /// Fires on any event of one container (to wake a waiter). The stream
    /// ends when the engine closes it.
    pub fn events_of(
        &self,
        id: &str,
    ) -> impl futures_util::Stream<Item = ()> + Send + Unpin + 'static {
        use bollard::query_parameters::EventsOptions;
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            ("container".to_string(), vec![id.to_string()]),
        ]);
        self.docker
            .events(Some(EventsOptions {
                filters: Some(filters),
                ..Default::default()
            }))
            .map(|_| ())
    }

    /// A sampler of one container's CPU and memory.
    pub fn sampler(&self, id: &str) -> Sampler {
        Sampler {
            docker: self.docker.clone(),
            id: id.to_string(),
            previous: None,
        }
    }

    /// Builds `tag` from a tar context, calling `on_line` for each output
    /// line (cleaned). Fails with the engine's own error message.
    pub async fn build(
        &self,
        tag: &str,
        context: Vec<u8>,
        dockerfile: &str,
        args: &crate::config::Map<String, String>,
        mut on_line: impl FnMut(String),
    ) -> Result<(), DockerError> {
        use bollard::query_parameters::BuildImageOptions;
        let options = BuildImageOptions {
            dockerfile: dockerfile.to_string(),
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            buildargs: (!args.is_empty()).then(|| args.clone().into_iter().collect()),
            ..Default::default()
        };
        let what = || format!("building {tag}");
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(what(), &describe(&e)))?;
            if let Some(detail) = info.error_detail {
                let message = detail.message.as_deref().unwrap_or("unknown build error");
                return Err(failed(what(), message));
            }
            if let Some(text) = info.stream {
                for line in crate::sanitize::strip_controls(&text).lines() {
                    if !line.trim().is_empty() {
                        on_line(line.to_string());
                    }
                }
            }
        }
        Ok(())
    }

    /// Removes a volume.
    pub async fn remove_volume(&self, name: &str) -> Result<(), DockerError> {
        self.docker
            .remove_volume(name, None::<bollard::query_parameters::RemoveVolumeOptions>)
            .await
            .map_err(|e| DockerError::of(format!("removing volume {name}"), &e))
    }

    /// What the proxy needs of a container; `None` when it does not exist.
    pub async fn proxy_facts(&self, id: &str) -> Result<Option<ProxyFacts>, DockerError> {
        let c = match self.docker.inspect_container(id, None).await {
            Ok(c) => c,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(DockerError::of(format!("inspecting container {id}"), &e)),
        };
        Ok(Some(ProxyFacts {
            id: c.id.clone().unwrap_or_else(|| id.to_string()),
            name: crate::sanitize::one_line(
                c.name.as_deref().unwrap_or(id).trim_start_matches('/'),
            ),
            running: c.state.as_ref().and_then(|s| s.running).unwrap_or(false),
            addresses: c
                .network_settings
                .and_then(|n| n.networks)
                .unwrap_or_default()
                .into_iter()
                .map(|(net, e)| (net, e.ip_address.unwrap_or_default()))
                .collect(),
            labels: c.config.and_then(|c| c.labels).unwrap_or_default(),
        }))
    }

    /// Joins a container to a network.
    pub async fn join_network(&self, container: &str, network: &str) -> Result<(), DockerError> {
        use bollard::models::NetworkConnectRequest;
        self.docker
            .connect_network(
                network,
                NetworkConnectRequest {
                    container: container.to_string(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| {
                DockerError::of(
                    format!("joining `{container}` to the `{network}` network"),
                    &e,
                )
            })
    }
}

/// One container's CPU and memory, one sample at a time; CPU is worked out
/// between consecutive samples, as `docker stats` does.
pub struct Sampler {
    docker: Docker,
    id: String,
    previous: Option<bollard::models::ContainerCpuStats>,
}

impl Sampler {
    /// Takes a one-shot sample (cheaper for the engine than its stats
    /// stream, which samples every second). `Ok(None)`: no usage to tell
    /// yet (the first sample, or a container that is not running).
    pub async fn sample(&mut self) -> Result<Option<Usage>, DockerError> {
        use bollard::query_parameters::StatsOptions;
        let opts = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let sample = match self.docker.stats(&self.id, Some(opts)).next().await {
            Some(Ok(s)) => s,
            Some(Err(e)) => return Err(DockerError::of(format!("stats of {:.12}", self.id), &e)),
            None => {
                return Err(DockerError::Request {
                    what: format!("stats of {:.12}", self.id),
                    reason: "the engine sent none".into(),
                });
            }
        };
        let usage = self.previous.take().and_then(|p| {
            convert::usage(&bollard::models::ContainerStatsResponse {
                precpu_stats: Some(p),
                ..sample.clone()
            })
        });
        self.previous = sample.cpu_stats;
        Ok(usage)
    }
}

/// A streamed request that failed on the way or with the engine's own
/// error (`errorDetail`), in its words, cleaned.
pub(super) fn failed(what: String, reason: &str) -> DockerError {
    DockerError::Request {
        what,
        reason: crate::sanitize::one_line(reason),
    }
}

/// /info says `x86_64` where /version (and `docker version`) say `amd64`:
/// berth shows the latter everywhere.
fn go_arch(uname: &str) -> String {
    match uname {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "armv7l" => "arm",
        other => other,
    }
    .to_string()
}
