//! One watcher per host: connect, list once, then follow the engine's event
//! stream and re-read only the container an event names. When the engine
//! goes away the host is marked down with the reason, and the watcher
//! reconnects with capped, jittered exponential backoff.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use tokio::sync::mpsc;

use crate::docker::{self, convert};
use crate::domain::model::{EngineInfo, Link, Msg};
use crate::hosts::{self, Endpoint};

/// Tunables for host watchers.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Deadline for connecting and negotiating with an engine.
    pub connect_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Inspects in flight at once during the initial list.
    pub inspect_concurrency: usize,
    /// Publish the engine's list at once, before every container is
    /// inspected (the console's first frame); the inspected containers
    /// follow. Off for `status`, which reports only complete data.
    pub list_first: bool,
    /// Connection attempts in flight at once across hosts (`parallel_hosts`);
    /// a connected host holds no permit.
    pub connecting: Option<std::sync::Arc<tokio::sync::Semaphore>>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            connect_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            inspect_concurrency: 8,
            list_first: false,
            connecting: None,
        }
    }
}

/// Why a watch session ended.
enum End {
    /// Nobody listens to the model any more.
    Closed,
    /// The engine could not be reached, or went away.
    Lost(String),
}

/// Watches one host until the model's receiver is dropped.
pub async fn watch_host(
    host: String,
    endpoint: Endpoint,
    tx: mpsc::Sender<Msg>,
    opts: WatchOptions,
) {
    let mut backoff = opts.backoff_min;
    loop {
        let started = Instant::now();
        let reason = match session(&host, &endpoint, &tx, &opts).await {
            End::Closed => return,
            End::Lost(reason) => reason,
        };
        // A connection that held for a while resets the backoff: the next
        // drop is a new incident, not the same one.
        if started.elapsed() > Duration::from_secs(30) {
            backoff = opts.backoff_min;
        }
        let wait = jitter(backoff);
        tracing::warn!(host = %host, retry_in_ms = wait.as_millis() as u64, "host unreachable: {reason}");
        let now = Utc::now();
        let down = Link::Down {
            // An SSH host's own words may be in it (its banner, its stderr).
            reason: crate::sanitize::one_line(&reason),
            since: now,
            retry_at: chrono::Duration::from_std(wait).ok().map(|w| now + w),
        };
        if tx
            .send(Msg::Link {
                host: host.clone(),
                link: down,
            })
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(opts.backoff_max);
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

/// ±20% so that many watchers of one restarted engine do not retry in step.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + 0.4 * fastrand::f64())
}

async fn session(
    host: &str,
    endpoint: &Endpoint,
    tx: &mpsc::Sender<Msg>,
    opts: &WatchOptions,
) -> End {
    // `_reach` keeps an SSH tunnel open for as long as this session runs.
    let permit = match &opts.connecting {
        Some(s) => s.clone().acquire_owned().await.ok(),
        None => None,
    };
    let (docker, _reach) = match hosts::open(endpoint, opts.connect_timeout).await {
        Ok(ok) => ok,
        Err(reason) => return End::Lost(reason),
    };
    drop(permit);
    let lost = |what: &str, e: &bollard::errors::Error| {
        End::Lost(format!("{what}: {}", docker::describe(e)))
    };

    // Subscribe from the engine's own clock, asked for with the list and
    // taken a second early: events that happen while we list are replayed,
    // never missed. Duplicates are harmless (each one re-reads the
    // container). /info also says what the engine is.
    let (info, summaries) = tokio::join!(
        docker.info(),
        docker.list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
    );
    let info = match info {
        Ok(info) => info,
        Err(e) => return lost("reading engine info", &e),
    };
    let since = info
        .system_time
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (t.timestamp() - 1).to_string());
    let api = docker.client_version();
    // What an engine says of itself is outside text like any other.
    let clean = crate::sanitize::one_line;
    let engine = EngineInfo {
        version: clean(info.server_version.as_deref().unwrap_or("unknown")),
        api_version: format!("{}.{}", api.major_version, api.minor_version),
        os: clean(info.os_type.as_deref().unwrap_or_default()),
        arch: clean(&go_arch(info.architecture.as_deref().unwrap_or_default())),
    };
    let summaries = match summaries {
        Ok(s) => s,
        Err(e) => return lost("listing containers", &e),
    };
    let ids: Vec<String> = summaries.iter().filter_map(|s| s.id.clone()).collect();
    if opts.list_first {
        let listed = Msg::Synced {
            host: host.to_string(),
            engine: engine.clone(),
            containers: summaries.into_iter().map(convert::summary).collect(),
        };
        if tx.send(listed).await.is_err() {
            return End::Closed;
        }
    }
    let containers = match inspect_all(&docker, ids, opts.inspect_concurrency).await {
        Ok(c) => c,
        Err(e) => return lost("listing containers", &e),
    };
    tracing::info!(host, containers = containers.len(), api = %engine.api_version, "host synced");
    let synced = Msg::Synced {
        host: host.to_string(),
        engine,
        containers,
    };
    if tx.send(synced).await.is_err() {
        return End::Closed;
    }

    let mut events = docker.events(Some(EventsOptions {
        since,
        until: None,
        // Only the actions the model follows: health probes alone produce
        // three exec events per container per interval, which the engine
        // then need not send at all.
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
    }));
    while let Some(item) = events.next().await {
        let ev = match item {
            Ok(ev) => ev,
            Err(e) => return lost("event stream broke", &e),
        };
        if let Some(record) = convert::event_record(host, &ev)
            && tx.send(Msg::Event(record)).await.is_err()
        {
            return End::Closed;
        }
        let msg = match convert::event_effect(&ev) {
            convert::EventEffect::Ignore => continue,
            convert::EventEffect::Removed(id) => Msg::Remove {
                host: host.to_string(),
                id,
            },
            convert::EventEffect::Refresh(id) => match docker.inspect_container(&id, None).await {
                Ok(c) => Msg::Upsert {
                    host: host.to_string(),
                    container: Box::new(convert::container(c)),
                },
                Err(e) if docker::is_not_found(&e) => Msg::Remove {
                    host: host.to_string(),
                    id,
                },
                Err(e) => return lost("reading a container after an event", &e),
            },
        };
        if tx.send(msg).await.is_err() {
            return End::Closed;
        }
    }
    End::Lost("the engine closed its event stream (daemon stopped or restarted?)".into())
}

/// The listed containers, inspected (for health, restarts, exit codes).
async fn inspect_all(
    docker: &Docker,
    ids: Vec<String>,
    concurrency: usize,
) -> Result<Vec<crate::inventory::Container>, bollard::errors::Error> {
    let inspected: Vec<Option<crate::inventory::Container>> = futures_util::stream::iter(ids)
        .map(|id| async move {
            match docker.inspect_container(&id, None).await {
                Ok(c) => Ok(Some(convert::container(c))),
                // Removed between the list and the inspect.
                Err(e) if docker::is_not_found(&e) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok(inspected.into_iter().flatten().collect())
}
