//! From bollard's API types to the inventory's model. Every string that
//! came from the engine (names, labels, health output) is untrusted and is
//! stripped of control sequences here, at the boundary.

use std::collections::HashMap;

use bollard::models::{
    ContainerInspectResponse, ContainerSummary, ContainerSummaryHealthStatusEnum, EventMessage,
    HealthStatusEnum,
};
use chrono::{DateTime, TimeZone, Utc};

use crate::domain::{Container, EventRecord, Health, Port, Probe, State, Usage, model::HEALTH_LOG};
use crate::labels::Owner;
use crate::sanitize::{one_line, strip_controls};

/// Docker's zero time (`0001-01-01T00:00:00Z`) means "never".
fn time(text: Option<&str>) -> Option<DateTime<Utc>> {
    let t = DateTime::parse_from_rfc3339(text?)
        .ok()?
        .with_timezone(&Utc);
    (t.timestamp() > 0).then_some(t)
}

/// A container's state from the engine's word for it (inspect and list
/// use two enums for the same words).
fn state(word: Option<String>) -> State {
    match word.as_deref() {
        Some("created") => State::Created,
        Some("running") => State::Running,
        Some("paused") => State::Paused,
        Some("restarting") => State::Restarting,
        Some("removing") => State::Removing,
        Some("exited") => State::Exited,
        Some("dead") => State::Dead,
        _ => State::Unknown,
    }
}

/// Who a container belongs to, from its labels (cleaned of control
/// sequences first).
pub fn owner(name: &str, labels: Option<HashMap<String, String>>) -> Owner {
    let labels: HashMap<String, String> = labels
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (one_line(&k), one_line(&v)))
        .collect();
    Owner::classify(name, &labels)
}

/// Docker keeps the last health status of a stopped container; it says
/// nothing about a container that is not running.
fn live_health(state: State, health: Health) -> Health {
    if matches!(state, State::Running | State::Restarting | State::Paused) {
        health
    } else {
        Health::None
    }
}

pub fn container(c: ContainerInspectResponse) -> Container {
    let name = one_line(c.name.as_deref().unwrap_or("").trim_start_matches('/'));
    let mut config = c.config.unwrap_or_default();
    let owner = owner(&name, config.labels.take());
    let st = c.state.unwrap_or_default();
    let state = state(st.status.map(|s| s.to_string()));
    let (health, health_log) = match st.health {
        Some(h) => {
            let status = match h.status {
                Some(HealthStatusEnum::STARTING) => Health::Starting,
                Some(HealthStatusEnum::HEALTHY) => Health::Healthy,
                Some(HealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
                _ => Health::None,
            };
            let mut log: Vec<Probe> = h
                .log
                .unwrap_or_default()
                .into_iter()
                .map(|r| Probe {
                    at: time(r.start.as_deref()),
                    exit_code: r.exit_code,
                    output: strip_controls(r.output.as_deref().unwrap_or(""))
                        .trim_end()
                        .to_string(),
                })
                .collect();
            if log.len() > HEALTH_LOG {
                log.drain(..log.len() - HEALTH_LOG);
            }
            (status, log)
        }
        None => (Health::None, Vec::new()),
    };
    let health = live_health(state, health);
    // A crash-looping container (`restarting`) still has the code it last
    // exited with: that is the signal an operator needs.
    let exited = matches!(state, State::Exited | State::Dead | State::Restarting);
    let mut ports: Vec<Port> = Vec::new();
    let published = c.network_settings.and_then(|n| n.ports).unwrap_or_default();
    let mut exposed: Vec<String> = config.exposed_ports.unwrap_or_default();
    exposed.extend(published.keys().cloned());
    exposed.sort();
    exposed.dedup();
    for spec in exposed {
        let (port, proto) = spec.split_once('/').unwrap_or((&spec, "tcp"));
        let Ok(container_port) = port.parse() else {
            continue;
        };
        let bindings = published.get(&spec).cloned().flatten().unwrap_or_default();
        if bindings.is_empty() {
            ports.push(Port {
                container_port,
                protocol: proto.into(),
                host_ip: None,
                host_port: None,
            });
        }
        for b in bindings {
            ports.push(Port {
                container_port,
                protocol: proto.into(),
                host_ip: b.host_ip.filter(|ip| !ip.is_empty()),
                host_port: b.host_port.and_then(|p| p.parse().ok()),
            });
        }
    }
    Container {
        id: c.id.unwrap_or_default(),
        name,
        owner,
        state,
        health,
        created_at: time(c.created.as_deref()),
        started_at: time(st.started_at.as_deref()),
        finished_at: time(st.finished_at.as_deref()),
        restart_count: c.restart_count.unwrap_or(0),
        exit_code: if exited { st.exit_code } else { None },
        oom_killed: st.oom_killed.unwrap_or(false),
        image: one_line(config.image.as_deref().unwrap_or("")),
        ports,
        health_log,
    }
}

/// How a container was started, from its inspect, every text cleaned
/// (env values as they are: the caller masks secrets).
pub fn inspect(c: &ContainerInspectResponse) -> crate::domain::Inspect {
    use crate::domain::{Inspect, Mount};
    let config = c.config.clone().unwrap_or_default();
    let host = c.host_config.clone().unwrap_or_default();
    let all = |v: Option<Vec<String>>| v.unwrap_or_default().iter().map(|s| one_line(s)).collect();
    let mut labels: Vec<(String, String)> = config
        .labels
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (one_line(&k), one_line(&v)))
        .collect();
    labels.sort();
    let mut networks: Vec<(String, String)> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.clone())
        .unwrap_or_default()
        .into_iter()
        .map(|(n, e)| (one_line(&n), one_line(&e.ip_address.unwrap_or_default())))
        .collect();
    networks.sort();
    let restart = host.restart_policy.unwrap_or_default();
    let restart_policy = match (
        restart.name.map(|n| n.to_string()),
        restart.maximum_retry_count,
    ) {
        (Some(n), Some(max)) if n == "on-failure" && max > 0 => format!("on-failure:{max}"),
        (Some(n), _) if !n.is_empty() => n,
        _ => "no".to_string(),
    };
    Inspect {
        entrypoint: all(config.entrypoint),
        command: all(config.cmd),
        user: one_line(config.user.as_deref().unwrap_or_default()),
        workdir: one_line(config.working_dir.as_deref().unwrap_or_default()),
        env: config
            .env
            .unwrap_or_default()
            .iter()
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (one_line(k), one_line(v))
            })
            .collect(),
        mounts: c
            .mounts
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|m| Mount {
                kind: m.typ.map(|t| t.to_string()).unwrap_or_default(),
                source: one_line(
                    m.name
                        .as_deref()
                        .or(m.source.as_deref())
                        .unwrap_or_default(),
                ),
                destination: one_line(m.destination.as_deref().unwrap_or_default()),
                read_only: m.rw == Some(false),
            })
            .collect(),
        labels,
        networks,
        restart_policy,
        memory_limit: host.memory.filter(|&m| m > 0).map(|m| m as u64),
        cpus: host.nano_cpus.filter(|&n| n > 0).map(|n| n as f64 / 1e9),
        image: one_line(config.image.as_deref().unwrap_or_default()),
        image_id: one_line(c.image.as_deref().unwrap_or_default()),
        digests: Vec::new(),
        ports: ports(c),
        created: one_line(
            &c.created
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        started: one_line(
            c.state
                .as_ref()
                .and_then(|s| s.started_at.as_deref())
                .unwrap_or_default(),
        ),
        finished: one_line(
            c.state
                .as_ref()
                .and_then(|s| s.finished_at.as_deref())
                .unwrap_or_default(),
        ),
    }
}

/// Published ports as `docker port` words them, sorted; a port exposed
/// but not published as itself.
fn ports(c: &ContainerInspectResponse) -> Vec<String> {
    let map = c
        .network_settings
        .as_ref()
        .and_then(|n| n.ports.clone())
        .unwrap_or_default();
    let mut out: Vec<String> = map
        .into_iter()
        .flat_map(|(port, bindings)| {
            let port = one_line(&port);
            match bindings.filter(|b| !b.is_empty()) {
                None => vec![port],
                Some(bindings) => bindings
                    .into_iter()
                    .map(|b| {
                        format!(
                            "{}:{}->{port}",
                            one_line(b.host_ip.as_deref().unwrap_or_default()),
                            one_line(b.host_port.as_deref().unwrap_or_default())
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    out.sort();
    out
}

/// A container from the engine's list, before it is inspected: enough for
/// a first frame (name, owner, state, health, image, ports). What only an
/// inspect tells (start time, restarts, health-check output) is empty until
/// the inspected container replaces it.
pub fn summary(c: ContainerSummary) -> Container {
    let name = one_line(
        c.names
            .as_ref()
            .and_then(|n| n.first())
            .map_or("", |n| n.trim_start_matches('/')),
    );
    let owner = owner(&name, c.labels);
    let state = state(c.state.map(|s| s.to_string()));
    let status = c.status.unwrap_or_default();
    // Engines before API 1.50 give health only inside the status text:
    // `Up 5 minutes (healthy)`, `(health: starting)`.
    let health = match c.health.and_then(|h| h.status) {
        Some(ContainerSummaryHealthStatusEnum::HEALTHY) => Health::Healthy,
        Some(ContainerSummaryHealthStatusEnum::UNHEALTHY) => Health::Unhealthy,
        Some(ContainerSummaryHealthStatusEnum::STARTING) => Health::Starting,
        _ if status.contains("(unhealthy)") => Health::Unhealthy,
        _ if status.contains("(healthy)") => Health::Healthy,
        _ if status.contains("(health: starting)") => Health::Starting,
        _ => Health::None,
    };
    let health = live_health(state, health);
    // `Exited (137) 3 minutes ago`.
    let exit_code = matches!(state, State::Exited | State::Dead)
        .then(|| {
            let (_, rest) = status.split_once('(')?;
            rest.split_once(')')?.0.parse().ok()
        })
        .flatten();
    let mut ports: Vec<Port> = c
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| Port {
            container_port: p.private_port,
            protocol: p.typ.map_or_else(|| "tcp".to_string(), |t| t.to_string()),
            host_ip: p.ip.filter(|ip| !ip.is_empty()),
            host_port: p.public_port,
        })
        .collect();
    ports.sort_by(|a, b| (a.container_port, &a.protocol).cmp(&(b.container_port, &b.protocol)));
    ports.dedup();
    Container {
        id: c.id.unwrap_or_default(),
        name,
        owner,
        state,
        health,
        created_at: c.created.and_then(|t| Utc.timestamp_opt(t, 0).single()),
        started_at: None,
        finished_at: None,
        restart_count: 0,
        exit_code,
        oom_killed: false,
        image: one_line(c.image.as_deref().unwrap_or("")),
        ports,
        health_log: Vec::new(),
    }
}

/// The container actions the inventory follows. Exec events (one per health
/// probe) and the like are left out: they change nothing an operator sees.
pub const WATCHED_ACTIONS: &[&str] = &[
    "create",
    "start",
    "restart",
    "die",
    "kill",
    "stop",
    "destroy",
    "oom",
    "pause",
    "unpause",
    "rename",
    "update",
    "health_status",
];

/// Actions shown in the events list.
const NOTABLE: &[&str] = &[
    "start",
    "restart",
    "die",
    "kill",
    "stop",
    "oom",
    "health_status",
    "destroy",
];

/// One container event, as the inventory takes it.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    /// For the events list, when it is worth showing.
    pub record: Option<EventRecord>,
    /// What it means for the model.
    pub effect: EventEffect,
    /// A `die`'s exit code: an inspect made once the engine has restarted
    /// the container says 0, so this is where a crash loop's code is kept.
    pub exit: Option<i64>,
}

/// The exit code a `die` event carries (`None` for any other event).
pub fn die_exit(ev: &EventMessage) -> Option<i64> {
    let (action, _) = action_parts(ev.action.as_deref().unwrap_or(""));
    (action == "die")
        .then(|| {
            ev.actor
                .as_ref()?
                .attributes
                .as_ref()?
                .get("exitCode")?
                .parse()
                .ok()
        })
        .flatten()
}

/// What a raw event means for the model.
#[derive(Debug, PartialEq, Eq)]
pub enum EventEffect {
    /// The container is gone.
    Removed(String),
    /// Its state changed: read it again.
    Refresh(String),
    Ignore,
}

/// Splits `health_status: healthy` into (`health_status`, `healthy`).
fn action_parts(action: &str) -> (&str, Option<&str>) {
    match action.split_once(": ") {
        Some((a, d)) => (a, Some(d)),
        None => (action, None),
    }
}

pub fn event_effect(ev: &EventMessage) -> EventEffect {
    let Some(id) = ev.actor.as_ref().and_then(|a| a.id.clone()) else {
        return EventEffect::Ignore;
    };
    let (action, _) = action_parts(ev.action.as_deref().unwrap_or(""));
    match action {
        "destroy" => EventEffect::Removed(id),
        a if WATCHED_ACTIONS.contains(&a) => EventEffect::Refresh(id),
        _ => EventEffect::Ignore,
    }
}

/// The event as the events list shows it, when it is worth showing.
pub fn event_record(host: &str, ev: &EventMessage) -> Option<EventRecord> {
    let (action, detail) = action_parts(ev.action.as_deref().unwrap_or(""));
    if !NOTABLE.contains(&action) {
        return None;
    }
    let actor = ev.actor.as_ref()?;
    let attrs = actor.attributes.clone().unwrap_or_default();
    let name = one_line(attrs.get("name").map(String::as_str).unwrap_or(""));
    let labels: HashMap<String, String> = attrs
        .iter()
        .map(|(k, v)| (k.clone(), one_line(v)))
        .collect();
    let owner = Owner::classify(&name, &labels);
    let detail = match action {
        "die" => attrs
            .get("exitCode")
            .map(|c| format!("exit code {}", one_line(c))),
        "kill" => attrs
            .get("signal")
            .map(|s| format!("signal {}", one_line(s))),
        _ => detail.map(one_line),
    };
    let at = ev
        .time_nano
        .map(|n| Utc.timestamp_nanos(n))
        .or_else(|| ev.time.and_then(|s| Utc.timestamp_opt(s, 0).single()))
        .unwrap_or_else(Utc::now);
    Some(EventRecord {
        at,
        host: host.to_string(),
        container_id: actor.id.clone().unwrap_or_default(),
        container_name: name,
        app: owner.app,
        action: action.to_string(),
        detail,
    })
}

/// CPU and memory from a sample and the one before it (in
/// `precpu_stats`), worked out as `docker stats` does. `None` for a sample with no
/// previous reading to compare with (the first of a stream), or from a container that is not running.
pub fn usage(s: &bollard::models::ContainerStatsResponse) -> Option<Usage> {
    let cpu = s.cpu_stats.as_ref()?;
    let pre = s.precpu_stats.as_ref()?;
    let total =
        |c: &bollard::models::ContainerCpuStats| c.cpu_usage.as_ref().and_then(|u| u.total_usage);
    let cpu_delta = total(cpu)?.checked_sub(total(pre)?)?;
    let system_delta = cpu.system_cpu_usage?.checked_sub(pre.system_cpu_usage?)?;
    if system_delta == 0 {
        return None;
    }
    let cpus = cpu.online_cpus.filter(|&n| n > 0).unwrap_or(1) as f64;
    let mem = s.memory_stats.as_ref()?;
    let usage = mem.usage?;
    // cgroup v2 reports `inactive_file`, v1 `total_inactive_file`: page
    // cache the kernel can take back, which `docker stats` leaves out.
    let cache = mem.stats.as_ref().and_then(|st| {
        st.get("inactive_file")
            .or_else(|| st.get("total_inactive_file"))
            .copied()
    });
    Some(Usage {
        cpu: cpu_delta as f64 / system_delta as f64 * cpus * 100.0,
        memory: usage.saturating_sub(cache.unwrap_or(0)),
        limit: mem.limit.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests;
