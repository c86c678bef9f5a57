//! The live model of the fleet: hosts, their containers, and recent events.
//!
//! Pure data, changed only through [`Fleet::apply`] with a [`Change`] from a
//! host watcher. Nothing here knows about terminals or Docker's API types;
//! the TUI and the CLI read snapshots of it.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::labels::Owner;

/// How many recent Docker events the model keeps across all hosts.
pub const EVENT_HISTORY: usize = 500;
/// How many health-check results are kept per container (Docker keeps 5).
pub const HEALTH_LOG: usize = 5;

#[derive(Clone, Debug, Default)]
pub struct Fleet {
    /// Bumped on every change; a cheap "did anything change" check.
    pub revision: u64,
    pub hosts: BTreeMap<String, HostView>,
    /// Newest last; bounded by [`EVENT_HISTORY`].
    pub events: VecDeque<EventRecord>,
    /// Kamal services known from their deploy files, with each one's
    /// destination (`""` for none): their accessories are theirs even
    /// before an app container of theirs is seen.
    pub kamal_services: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostView {
    pub name: String,
    /// Where the engine is (`unix:///var/run/docker.sock`, `ssh://...`).
    pub endpoint: String,
    pub link: Link,
    /// Known once connected; kept while unreachable to show what it was.
    pub engine: Option<EngineInfo>,
    /// True once the first full container list arrived over the current or a
    /// previous connection.
    pub synced: bool,
    /// By container id.
    pub containers: BTreeMap<String, Container>,
}

impl HostView {
    /// True once the host has either synced or failed to connect: what it
    /// says will not change on its own before the next event.
    pub fn settled(&self) -> bool {
        self.synced && self.link == Link::Up || matches!(self.link, Link::Down { .. })
    }
}

/// The state of the connection to a host's engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Link {
    Connecting,
    Up,
    Down {
        reason: String,
        since: DateTime<Utc>,
        /// When the watcher tries again.
        retry_at: Option<DateTime<Utc>>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EngineInfo {
    /// `docker`, or `podman` for Podman's Docker-compatible service (told
    /// by its version answer's components).
    pub product: String,
    pub version: String,
    /// The API version negotiated with the engine.
    pub api_version: String,
    pub os: String,
    pub arch: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
    Unknown,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Restarting => "restarting",
            State::Removing => "removing",
            State::Exited => "exited",
            State::Dead => "dead",
            State::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No healthcheck configured.
    None,
    Starting,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::None => "none",
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Port {
    pub container_port: u16,
    pub protocol: String,
    /// Published address on the host, if any.
    pub host_ip: Option<String>,
    pub host_port: Option<u16>,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.host_ip, self.host_port) {
            (Some(ip), Some(hp)) => {
                write!(f, "{ip}:{hp}->{}/{}", self.container_port, self.protocol)
            }
            (None, Some(hp)) => write!(f, "{hp}->{}/{}", self.container_port, self.protocol),
            _ => write!(f, "{}/{}", self.container_port, self.protocol),
        }
    }
}

/// One health-check run, as Docker recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Probe {
    pub at: Option<DateTime<Utc>>,
    pub exit_code: Option<i64>,
    /// Control sequences stripped.
    pub output: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub owner: Owner,
    pub state: State,
    pub health: Health,
    pub created_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub restart_count: i64,
    /// Exit code of the last run: when it has exited, or when it has
    /// restarted since (the code it last died with, kept by the watcher).
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// Image reference as the container was created with.
    pub image: String,
    pub ports: Vec<Port>,
    /// Newest last.
    pub health_log: Vec<Probe>,
}

impl Container {
    /// How long it has been running, or `None` when it is not running.
    pub fn uptime(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        (self.state == State::Running)
            .then_some(self.started_at?)
            .map(|s| (now - s).max(chrono::Duration::zero()))
    }

    /// Running, restarting or paused: the version it runs is in play.
    /// (Stopped ones are kept for rollback, or are what failed.)
    pub fn is_active(&self) -> bool {
        !matches!(self.state, State::Exited | State::Dead | State::Created)
    }

    /// Running and, if it has a healthcheck, healthy; and not caught in a
    /// crash loop between two of its restarts (up a moment, down again).
    pub fn is_serving(&self, now: DateTime<Utc>) -> bool {
        self.state == State::Running
            && matches!(self.health, Health::Healthy | Health::None)
            && !self.crash_loop(now)
    }

    /// Restarting now, or restarted twice or more and up less than two
    /// minutes: a container that keeps dying.
    pub fn crash_loop(&self, now: DateTime<Utc>) -> bool {
        self.state == State::Restarting
            || (self.restart_count >= 2
                && self
                    .uptime(now)
                    .is_some_and(|u| u < chrono::Duration::minutes(2)))
    }

    /// A crash loop caught while up, whose last exit code nobody has told:
    /// the engine resets it on restart, and its event history (the last
    /// 256 events) no longer holds the `die`. Its next exit will tell.
    pub fn exit_unknown(&self, now: DateTime<Utc>) -> bool {
        self.state == State::Running && self.exit_code.is_none() && self.crash_loop(now)
    }

    /// Something went wrong with it: unhealthy, crash-looping, dead,
    /// OOM-killed, or exited with a non-zero code.
    pub fn failed(&self, now: DateTime<Utc>) -> bool {
        self.health == Health::Unhealthy
            || self.crash_loop(now)
            || self.state == State::Dead
            || self.oom_killed
            || (self.state == State::Exited && self.exit_code.is_some_and(|e| e != 0))
    }

    /// Why it needs eyes, in a few words ("8 restarts in 2m, last exit 1,
    /// OOM killed", "unhealthy: wget: server returned error 404", "exit 1"):
    /// `None` when nothing is wrong.
    pub fn reason(&self, now: DateTime<Utc>) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if self.crash_loop(now) {
            let since = self
                .created_at
                .map(|c| {
                    format!(
                        " in {}",
                        crate::domain::format::age((now - c).num_seconds())
                    )
                })
                .unwrap_or_default();
            parts.push(format!("{} restarts{since}", self.restart_count));
            match self.exit_code {
                Some(code) => parts.push(format!("last exit {code}")),
                None if self.exit_unknown(now) => parts.push("last exit unknown".into()),
                None => {}
            }
        } else if let Some(code) = self.exit_code.filter(|c| *c != 0) {
            parts.push(format!("exit {code}"));
        }
        if self.oom_killed {
            parts.push("OOM killed".into());
        }
        if self.health == Health::Unhealthy {
            let last = self
                .health_log
                .last()
                .map(|p| {
                    p.output
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|o| !o.is_empty());
            parts.push(match last {
                Some(out) => format!("unhealthy: {}", out.chars().take(120).collect::<String>()),
                None => "unhealthy".into(),
            });
        }
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Shortened id, as `docker ps` shows it.
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
}

/// A Docker event worth an operator's attention.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    pub at: DateTime<Utc>,
    pub host: String,
    pub container_id: String,
    pub container_name: String,
    pub app: Option<String>,
    /// `start`, `die`, `oom`, `health_status`, ...
    pub action: String,
    /// Exit code for `die`, the new status for `health_status`, ...
    pub detail: Option<String>,
}

/// A change reported by a host watcher.
#[derive(Clone, Debug)]
pub enum Change {
    Link {
        host: String,
        link: Link,
    },
    /// A fresh connection: the engine and the full container list. Replaces
    /// what was known, so containers removed while disconnected disappear.
    Synced {
        host: String,
        engine: EngineInfo,
        containers: Vec<Container>,
    },
    Upsert {
        host: String,
        container: Box<Container>,
    },
    Remove {
        host: String,
        id: String,
    },
    Event(EventRecord),
}

impl Fleet {
    /// A fleet with these hosts, none connected yet.
    pub fn new<'a>(hosts: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        Fleet {
            revision: 0,
            hosts: hosts
                .into_iter()
                .map(|(name, endpoint)| {
                    (
                        name.to_string(),
                        HostView {
                            name: name.to_string(),
                            endpoint,
                            link: Link::Connecting,
                            engine: None,
                            synced: false,
                            containers: BTreeMap::new(),
                        },
                    )
                })
                .collect(),
            events: VecDeque::new(),
            kamal_services: Vec::new(),
        }
    }

    /// The same, knowing these Kamal services (from their deploy files).
    pub fn with_kamal_services(mut self, services: Vec<(String, String)>) -> Self {
        self.kamal_services = services;
        self
    }

    /// Applies one change; returns whether anything changed (so that
    /// watchers of the model wake only for real changes).
    /// A container on a shared engine is shown under the host it was
    /// started for only.
    fn started_for_another(&self, host: &str, c: &Container) -> bool {
        crate::labels::started_for_another(c.owner.host.as_deref(), host, |h| {
            self.hosts.contains_key(h)
        })
    }

    pub fn apply(&mut self, msg: Change) -> bool {
        let changed = match msg {
            Change::Link { host, link } => match self.hosts.get_mut(&host) {
                Some(h) if h.link != link => {
                    h.link = link;
                    true
                }
                _ => false,
            },
            Change::Synced {
                host,
                engine,
                containers,
            } => {
                let containers: BTreeMap<String, Container> = containers
                    .into_iter()
                    .filter(|c| !self.started_for_another(&host, c))
                    .map(|c| (c.id.clone(), c))
                    .collect();
                match self.hosts.get_mut(&host) {
                    Some(h) => {
                        h.link = Link::Up;
                        h.engine = Some(engine);
                        h.synced = true;
                        h.containers = containers;
                        true
                    }
                    None => false,
                }
            }
            Change::Upsert { host, container } if self.started_for_another(&host, &container) => {
                self.hosts
                    .get_mut(&host)
                    .and_then(|h| h.containers.remove(&container.id))
                    .is_some()
            }
            Change::Upsert { host, container } => {
                // Adopted before it is compared: an accessory seen again is
                // no change.
                let mut container = *container;
                adopt(&self.kamal_services(), &mut container);
                match self.hosts.get_mut(&host) {
                    Some(h) if h.containers.get(&container.id) != Some(&container) => {
                        h.containers.insert(container.id.clone(), container);
                        true
                    }
                    _ => false,
                }
            }
            Change::Remove { host, id } => self
                .hosts
                .get_mut(&host)
                .and_then(|h| h.containers.remove(&id))
                .is_some(),
            Change::Event(record) => {
                if self.events.len() == EVENT_HISTORY {
                    self.events.pop_front();
                }
                self.events.push_back(record);
                true
            }
        };
        if changed {
            self.adopt_accessories();
            self.revision += 1;
        }
        changed
    }

    /// Kamal labels an accessory only `service=<service>-<name>`: once an
    /// app `<service>` is seen (a Kamal container with a role, on any
    /// host), its accessories are shown as its own (role
    /// `accessory:<name>`), not as apps of their own. Containers whose
    /// service is no app's stay as they are.
    fn adopt_accessories(&mut self) {
        let services = self.kamal_services();
        if services.is_empty() {
            return;
        }
        for c in self
            .hosts
            .values_mut()
            .flat_map(|h| h.containers.values_mut())
        {
            adopt(&services, c);
        }
    }

    /// The Kamal apps seen on any host or known from their deploy files,
    /// longest name first, each with its destination when it has exactly
    /// one (an accessory, labelled with no destination, is shown with it).
    fn kamal_services(&self) -> Vec<(String, Option<String>)> {
        use crate::labels::Source;
        let mut seen: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        let containers = self
            .hosts
            .values()
            .flat_map(|h| h.containers.values())
            .filter(|c| c.owner.source == Source::Kamal)
            .filter(|c| {
                c.owner
                    .role
                    .as_deref()
                    .is_some_and(|r| !r.starts_with("accessory:") && r != "proxy")
            })
            .filter_map(|c| Some((c.owner.app.clone()?, c.owner.destination.clone())));
        for (service, dest) in containers.chain(self.kamal_services.iter().cloned()) {
            seen.entry(service).or_default().insert(dest);
        }
        let mut services: Vec<(String, Option<String>)> = seen
            .into_iter()
            .map(|(s, dests)| {
                let one = (dests.len() == 1)
                    .then(|| dests.into_iter().next())
                    .flatten();
                (s, one)
            })
            .collect();
        services.sort_by_key(|(s, _)| (std::cmp::Reverse(s.len()), s.clone()));
        services
    }

    /// True once every host has either synced or failed to connect.
    pub fn settled(&self) -> bool {
        self.hosts.values().all(HostView::settled)
    }
}

/// A Kamal accessory (labelled `service=<service>-<name>`, no role) of one
/// of `services` (longest first: `shop-api-db` goes to `shop-api` before
/// `shop`) becomes that service's `accessory:<name>`.
fn adopt(services: &[(String, Option<String>)], c: &mut Container) {
    if c.owner.source != crate::labels::Source::Kamal || c.owner.role.is_some() {
        return;
    }
    let Some(label) = c.owner.app.as_deref() else {
        return;
    };
    let adopted = services.iter().find_map(|(s, dest)| {
        label
            .strip_prefix(s.as_str())
            .and_then(|rest| rest.strip_prefix('-'))
            .filter(|name| !name.is_empty())
            .map(|name| (s.clone(), format!("accessory:{name}"), dest.clone()))
    });
    if let Some((app, role, dest)) = adopted {
        c.owner.app = Some(app);
        c.owner.role = Some(role);
        if c.owner.destination.is_empty()
            && let Some(d) = dest
        {
            c.owner.destination = d;
        }
    }
}

#[cfg(test)]
mod tests;
