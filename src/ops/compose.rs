//! A Compose project as one thing: restart, stop, start or take down all
//! its containers through the engine's API, found by Compose's labels (a
//! host may have no `docker compose`, and berth has no project files), in
//! the order Compose uses (what a service depends on starts first and
//! stops last), recorded as one line in the host's history.
//!
//! `down` is Compose's `down`: the containers stopped and removed, and
//! the networks Compose made for the project removed; volumes are kept.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::Utc;

use super::Session;
use crate::config::{Config, HostName};
use crate::docker::ComposeMember;
use crate::engine::history::{Performer, Record};

const TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop gives each container (Compose's own default).
const GRACE: Duration = Duration::from_secs(10);

/// What to do to a whole project.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectOp {
    Restart,
    Stop,
    Start,
    Down,
}

impl ProjectOp {
    pub fn verb(self) -> &'static str {
        match self {
            ProjectOp::Restart => "restart",
            ProjectOp::Stop => "stop",
            ProjectOp::Start => "start",
            ProjectOp::Down => "down",
        }
    }

    /// Whether it takes the project's containers away (asked more firmly).
    pub fn removes(self) -> bool {
        self == ProjectOp::Down
    }
}

/// A project found on a host, with its containers.
#[derive(Clone, Debug)]
pub struct Project {
    pub host: HostName,
    pub name: String,
    pub members: Vec<ComposeMember>,
}

impl Project {
    /// `3 containers (db, web, worker)`, for confirmations and records.
    pub fn summary(&self) -> String {
        let services: BTreeSet<&str> = self
            .members
            .iter()
            .map(|m| m.place.service.as_str())
            .collect();
        format!(
            "{} container{} ({})",
            self.members.len(),
            if self.members.len() == 1 { "" } else { "s" },
            services.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

/// Compose project `name` on `host`, or on whichever host has it; an
/// error when none has it, or when several do (`--host` picks one).
/// Hosts that reach one engine see one project.
pub async fn find(
    config: &Config,
    session: &Session,
    name: &str,
    host: Option<&HostName>,
) -> Result<Project, String> {
    let hosts: Vec<HostName> = match host {
        Some(h) => {
            config.host(h).map_err(|e| e.to_string())?;
            vec![h.clone()]
        }
        None => config.fleet.hosts.keys().cloned().collect(),
    };
    let mut found: Vec<Project> = Vec::new();
    let mut problems = Vec::new();
    for h in hosts {
        let members = match session.client_for(config, h.as_str(), TIMEOUT).await {
            Ok(client) => client
                .compose_members(name)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match members {
            Ok(m) if m.is_empty() => {}
            Ok(members) => {
                let ids = |p: &[ComposeMember]| -> BTreeSet<String> {
                    p.iter().map(|m| m.id.clone()).collect()
                };
                if !found.iter().any(|p| ids(&p.members) == ids(&members)) {
                    found.push(Project {
                        host: h,
                        name: name.to_string(),
                        members,
                    });
                }
            }
            Err(e) => problems.push(format!("{h}: {e}")),
        }
    }
    let shown = crate::sanitize::one_line(name);
    match found.len() {
        1 => found.pop().ok_or_else(|| "no project".to_string()),
        0 if problems.is_empty() => Err(format!("no Compose project `{shown}` on any host")),
        0 => Err(format!(
            "no Compose project `{shown}` on the hosts that answered (not reached: {})",
            problems.join("; ")
        )),
        _ => Err(format!(
            "Compose project `{shown}` is on several hosts ({}): name one with --host",
            found
                .iter()
                .map(|p| p.host.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The order to start the members in: a service after the services it
/// depends on, by name where they do not; one-off (`run`) containers
/// last. A dependency circle (Compose refuses one) keeps name order.
fn start_order(members: &[ComposeMember]) -> Vec<usize> {
    let mut by_service: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in members.iter().enumerate() {
        if !m.place.oneoff {
            by_service
                .entry(m.place.service.as_str())
                .or_default()
                .push(i);
        }
    }
    let mut order = Vec::new();
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    while placed.len() < by_service.len() {
        let ready: Vec<&str> = by_service
            .keys()
            .copied()
            .filter(|s| !placed.contains(s))
            .filter(|s| {
                by_service.get(s).into_iter().flatten().all(|&i| {
                    members.get(i).is_none_or(|m| {
                        m.place.depends_on.iter().all(|d| {
                            placed.contains(d.as_str()) || !by_service.contains_key(d.as_str())
                        })
                    })
                })
            })
            .collect();
        // A circle: take the first left, by name.
        let next = if ready.is_empty() {
            by_service
                .keys()
                .copied()
                .filter(|s| !placed.contains(s))
                .take(1)
                .collect()
        } else {
            ready
        };
        for s in next {
            placed.insert(s);
            order.extend(by_service.get(s).into_iter().flatten().copied());
        }
    }
    order.extend(
        members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.place.oneoff)
            .map(|(i, _)| i),
    );
    order
}

/// Does `op` to every container of the project, in Compose's order, and
/// records it in the host's history. Goes on past a container that fails
/// and says each failure. Refused for a read-only config.
pub async fn act(
    config: &Config,
    session: &Session,
    project: &Project,
    op: ProjectOp,
) -> Result<String, String> {
    if let Some(why) = config.read_only() {
        return Err(format!("read-only ({why}): {} refused", op.verb()));
    }
    let started_at = Utc::now();
    let client = session
        .client_for(config, project.host.as_str(), TIMEOUT)
        .await?;
    let forward = start_order(&project.members);
    let backward: Vec<usize> = forward.iter().rev().copied().collect();
    let members = |order: &[usize]| -> Vec<ComposeMember> {
        order
            .iter()
            .filter_map(|&i| project.members.get(i).cloned())
            .collect()
    };
    let mut failures: Vec<String> = Vec::new();
    let mut note = |m: &ComposeMember, r: Result<(), crate::docker::DockerError>| {
        if let Err(e) = r {
            failures.push(format!("{}: {}", m.name, e.reason()));
        }
    };
    match op {
        ProjectOp::Restart => {
            for m in members(&forward).iter().filter(|m| !m.place.oneoff) {
                note(m, client.restart(&m.id, GRACE).await);
            }
        }
        ProjectOp::Stop => {
            for m in members(&backward).iter().filter(|m| m.running) {
                note(m, client.stop(&m.id, GRACE).await);
            }
        }
        ProjectOp::Start => {
            for m in members(&forward)
                .iter()
                .filter(|m| !m.running && !m.place.oneoff)
            {
                note(m, client.start(&m.id).await);
            }
        }
        ProjectOp::Down => {
            for m in members(&backward) {
                if m.running {
                    note(&m, client.stop(&m.id, GRACE).await);
                }
                note(&m, client.remove(&m.id, false).await);
            }
        }
    }
    if op == ProjectOp::Down && failures.is_empty() {
        match client.compose_networks(&project.name).await {
            Ok(networks) => {
                for (id, name) in networks {
                    if let Err(e) = client.remove_network(&id).await {
                        failures.push(format!("network {name}: {}", e.reason()));
                    }
                }
            }
            Err(e) => failures.push(e.to_string()),
        }
    }
    let done = format!(
        "{} Compose project {} on {}: {}",
        op.verb(),
        project.name,
        project.host,
        project.summary()
    );
    let error = (!failures.is_empty()).then(|| failures.join("; "));
    let record = Record {
        started_at,
        finished_at: Utc::now(),
        performer: Performer::current(),
        action: format!("compose-{}", op.verb()),
        app: project.name.clone(),
        destination: String::new(),
        version: None,
        digest: None,
        result: if error.is_none() { "ok" } else { "failed" }.into(),
        failed_stage: None,
        error: error.clone(),
        note: Some(crate::sanitize::one_line(&done)),
        run: String::new(),
        tool: String::new(),
    };
    let recorded = super::container::append(config, session, &project.host, &record).await;
    match (error, recorded) {
        (Some(e), _) => Err(crate::sanitize::one_line(&e)),
        (None, Err(e)) => Err(format!(
            "{} done, but not recorded in {}'s history: {e}",
            op.verb(),
            project.host
        )),
        (None, Ok(())) => Ok(crate::sanitize::one_line(&done)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::ComposePlace;

    fn member(name: &str, service: &str, depends_on: &[&str], oneoff: bool) -> ComposeMember {
        ComposeMember {
            id: name.into(),
            name: name.into(),
            place: ComposePlace {
                service: service.into(),
                depends_on: depends_on.iter().map(|s| s.to_string()).collect(),
                oneoff,
            },
            running: true,
        }
    }

    fn names(members: &[ComposeMember], order: &[usize]) -> Vec<String> {
        order.iter().map(|&i| members[i].name.clone()).collect()
    }

    #[test]
    fn what_a_service_depends_on_starts_first_one_offs_last() {
        let m = [
            member("run-1", "web", &[], true),
            member("web-1", "web", &["db", "cache"], false),
            member("web-2", "web", &["db", "cache"], false),
            member("worker-1", "worker", &["web"], false),
            member("db-1", "db", &[], false),
            member("cache-1", "cache", &["db"], false),
        ];
        assert_eq!(
            names(&m, &start_order(&m)),
            ["db-1", "cache-1", "web-1", "web-2", "worker-1", "run-1"]
        );
    }

    #[test]
    fn a_circle_or_a_missing_dependency_still_orders_every_member() {
        let m = [
            member("a-1", "a", &["b"], false),
            member("b-1", "b", &["a"], false),
            member("c-1", "c", &["gone"], false),
        ];
        let order = start_order(&m);
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2]);
        assert_eq!(names(&m, &order).first().map(String::as_str), Some("c-1"));
    }
}
