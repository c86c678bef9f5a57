//! One watcher per host: connect, list once, then follow the engine's event
//! stream and re-read only the container an event names. When the engine
//! goes away the host is marked down with the reason, and the watcher
//! reconnects with capped, jittered exponential backoff.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::docker::{Gateway, convert};
use crate::domain::model::{Change, Link};
use crate::hosts::Endpoint;

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
    /// Connection attempts in flight at once across hosts (`parallel_connects`);
    /// a connected host holds no permit.
    pub connecting: Option<std::sync::Arc<tokio::sync::Semaphore>>,
    /// Every configured host's name: on an engine two configured hosts
    /// share, the containers started for the other are not inspected (the
    /// model shows each under its own host only).
    pub configured: std::sync::Arc<std::collections::HashSet<String>>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            connect_timeout: Duration::from_secs(5),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            inspect_concurrency: 32,
            list_first: false,
            connecting: None,
            configured: Default::default(),
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
    gateway: Gateway,
    host: String,
    endpoint: Endpoint,
    tx: mpsc::Sender<Change>,
    opts: WatchOptions,
) {
    let mut backoff = opts.backoff_min;
    loop {
        let started = Instant::now();
        let reason = match session(&gateway, &host, &endpoint, &tx, &opts).await {
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
            .send(Change::Link {
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

/// Each container's last exit code, as its `die` events and inspects
/// said: the engine forgets it when it restarts the container (and its
/// event history keeps only 256 events), the watcher does not.
#[derive(Default)]
struct Exits {
    codes: std::collections::HashMap<String, i64>,
}

impl Exits {
    /// Up again after a restart, and no code said why it went down.
    fn lost(c: &crate::domain::Container) -> bool {
        c.state == crate::domain::State::Running && c.restart_count > 0 && c.exit_code.is_none()
    }

    /// Learns the code an inspect gives (a stopped or restarting container
    /// has it), or gives a restarted one the code it last died with.
    fn keep(&mut self, c: &mut crate::domain::Container) {
        match c.exit_code {
            Some(code) => {
                self.codes.insert(c.id.clone(), code);
            }
            None if Self::lost(c) => c.exit_code = self.codes.get(&c.id).copied(),
            None => {}
        }
    }
}

/// ±20% so that many watchers of one restarted engine do not retry in step.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.8 + 0.4 * fastrand::f64())
}

async fn session(
    gateway: &Gateway,
    host: &str,
    endpoint: &Endpoint,
    tx: &mpsc::Sender<Change>,
    opts: &WatchOptions,
) -> End {
    let permit = match &opts.connecting {
        Some(s) => s.clone().acquire_owned().await.ok(),
        None => None,
    };
    // The engine's client keeps an SSH tunnel open while this session runs.
    let engine = match gateway.engine(endpoint, opts.connect_timeout).await {
        Ok(e) => e,
        Err(e) => return End::Lost(e.to_string()),
    };
    drop(permit);
    let lost = |e: crate::docker::DockerError| {
        // A client whose connection failed is not handed out again.
        gateway.forget(endpoint);
        End::Lost(e.to_string())
    };

    // Subscribe from the engine's own clock, asked for with the list and
    // taken a second early: events that happen while we list are replayed,
    // never missed. Duplicates are harmless (each one re-reads the
    // container). /info also says what the engine is.
    let snapshot = match engine.snapshot().await {
        Ok(s) => s,
        Err(e) => return lost(e),
    };
    let snapped = Instant::now();
    let since = snapshot.now.map(|t| t - 1);
    let info = snapshot.info;
    let mut listed = snapshot.containers;
    listed.retain(|c| {
        !crate::labels::started_for_another(c.owner.host.as_deref(), host, |h| {
            opts.configured.contains(h)
        })
    });
    let ids: Vec<String> = listed.iter().map(|c| c.id.clone()).collect();
    if opts.list_first {
        let listed = Change::Synced {
            host: host.to_string(),
            engine: info.clone(),
            containers: listed,
        };
        if tx.send(listed).await.is_err() {
            return End::Closed;
        }
    }
    let mut containers = match engine.inspect_all(ids, opts.inspect_concurrency).await {
        Ok(c) => c,
        Err(e) => return lost(e),
    };
    // A crash loop caught while up says exit 0 to an inspect: its code is
    // in its last `die` event, if the engine's short history still has it.
    let mut exits = Exits::default();
    let unknown = containers.iter().filter(|c| Exits::lost(c));
    if let Some(oldest) = unknown.filter_map(|c| c.finished_at).min() {
        // Up to now on the engine's clock: the inspects took a while, and a
        // container may have died and restarted since the snapshot.
        let now = snapshot.now.unwrap_or_else(|| Utc::now().timestamp())
            + snapped.elapsed().as_secs() as i64;
        match engine
            .recent_exits(oldest.timestamp() - 1, now + 2, opts.connect_timeout)
            .await
        {
            Ok(found) => exits.codes = found,
            Err(e) => tracing::warn!(host, "last exit codes not read: {e}"),
        }
    }
    for c in &mut containers {
        exits.keep(c);
    }
    tracing::info!(host, containers = containers.len(), api = %info.api_version, "host synced");
    let synced = Change::Synced {
        host: host.to_string(),
        engine: info,
        containers,
    };
    if tx.send(synced).await.is_err() {
        return End::Closed;
    }

    let mut events = engine.container_events(host, since);
    while let Some(item) = events.next().await {
        let ev = match item {
            Ok(ev) => ev,
            Err(e) => return lost(e),
        };
        if let Some(record) = ev.record
            && tx.send(Change::Event(record)).await.is_err()
        {
            return End::Closed;
        }
        let msg = match ev.effect {
            convert::EventEffect::Ignore => continue,
            convert::EventEffect::Removed(id) => {
                exits.codes.remove(&id);
                Change::Remove {
                    host: host.to_string(),
                    id,
                }
            }
            convert::EventEffect::Refresh(id) => match engine.inspect(&id).await {
                Ok(Some(mut c)) => {
                    if let Some(code) = ev.exit {
                        exits.codes.insert(id, code);
                    }
                    exits.keep(&mut c);
                    Change::Upsert {
                        host: host.to_string(),
                        container: Box::new(c),
                    }
                }
                Ok(None) => Change::Remove {
                    host: host.to_string(),
                    id,
                },
                Err(e) => return lost(e),
            },
        };
        if tx.send(msg).await.is_err() {
            return End::Closed;
        }
    }
    End::Lost("the engine closed its event stream (daemon stopped or restarted?)".into())
}
