//! Orphans: containers that a run created and then could not account for,
//! because the run died (SIGKILL, a lost machine, a power cut) before it
//! finished or put things back.
//!
//! Every container a run creates carries the run's id (`berth.run`); the
//! run's lock carries it while the run lives, and its history line once it
//! finished (whatever the result). A container whose run is in neither is
//! an orphan. `berth doctor` reports them, and the app's next action (or
//! `berth doctor --fix`) removes them: every stopped one, and a running one
//! that nothing sends traffic to.
//!
//! What serves is read, never guessed: the proxy's live routing is the
//! truth. A running orphan the proxy routes the app to (the run died after
//! switching traffic) is kept, as the version that serves now, and the next
//! deploy replaces it after its own switch; when the proxy cannot be read,
//! every running orphan of the proxied role is kept. A running orphan of a
//! role no proxy fronts is kept while it is the only one of its role
//! running.

use std::collections::HashSet;

use crate::docker::{Client, Listed};
use crate::hosts::HostPath;
use crate::labels::{self, Selector};
use crate::sanitize::one_line;

/// A container as the orphan rule sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    pub name: String,
    pub role: String,
    /// `berth.run`; containers made before runs had ids have none.
    pub run: Option<String>,
    pub running: bool,
}

impl Candidate {
    pub fn from_listed(c: &Listed) -> Self {
        Candidate {
            id: c.id.clone(),
            name: c.name.clone(),
            // Labels are anyone's to set: clean, as they reach output.
            role: one_line(c.label(labels::ROLE).unwrap_or_default()),
            run: c.label(labels::RUN).filter(|r| !r.is_empty()).map(one_line),
            running: c.running,
        }
    }
}

/// Where a host's proxy sends an app's traffic now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Routing {
    /// The containers it sends to, each by id or by name (nginx's route
    /// records both; kamal-proxy names its target).
    To(HashSet<String>),
    /// It could not be read (why): any running container may serve.
    Unread(String),
}

/// Why a running orphan is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// The proxy sends the app's traffic to it.
    Routed,
    /// The proxy could not be read (why), so it may serve.
    ProxyUnread(String),
    /// No proxy fronts its role and nothing else of the role runs.
    Lone,
}

/// A container left by a run that no longer exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub id: String,
    pub name: String,
    pub role: String,
    pub run: String,
    pub running: bool,
    /// Why it may serve, so stays; `None`: removable.
    pub kept: Option<Kept>,
}

impl Orphan {
    /// It may serve: kept.
    pub fn serving(&self) -> bool {
        self.kept.is_some()
    }

    /// One line: what it is and what will become of it.
    pub fn describe(&self) -> String {
        let state = if self.running { "running" } else { "stopped" };
        let fate = match &self.kept {
            Some(Kept::Routed) => "kept: the proxy sends the app's traffic to it, so it serves (the next deploy replaces it after switching traffic away)".to_string(),
            Some(Kept::ProxyUnread(why)) => format!("kept: the proxy could not be read ({why}), so it may serve"),
            Some(Kept::Lone) => "kept: it is the only running container of its role (the next deploy replaces it)".to_string(),
            None => "removable".to_string(),
        };
        format!(
            "{} ({state}, role {}) was created by run {}, which neither finished nor holds the lock (killed?); {fate}",
            self.name, self.role, self.run
        )
    }
}

/// The role a proxy fronts on the host, and where it sends traffic; read
/// only when a running orphan of that role needs it.
pub struct Proxied<'a> {
    pub role: &'a str,
    pub routing: Routing,
}

impl Orphan {
    /// Whether what it becomes depends on the proxy of `role`.
    pub fn asks_proxy(&self, role: &str) -> bool {
        self.running && self.role == role
    }
}

/// Decides the running orphans of the proxied role by where the proxy sends
/// traffic: kept when it routes to them (or cannot be read); otherwise as
/// [`find`] decided (kept only while nothing else of the role runs).
pub fn judge(orphans: &mut [Orphan], proxied: &Proxied<'_>) {
    for o in orphans.iter_mut().filter(|o| o.asks_proxy(proxied.role)) {
        o.kept = match &proxied.routing {
            Routing::To(to) if to.contains(&o.id) || to.contains(&o.name) => Some(Kept::Routed),
            Routing::To(_) => o.kept.take(),
            Routing::Unread(why) => Some(Kept::ProxyUnread(why.clone())),
        };
    }
}

/// The orphans among `containers` (one app on one host): those whose run
/// is neither `finished` (in the host's history) nor `live` (holds the
/// app's lock). A running one is kept while nothing else of its role runs;
/// [`judge`] then decides the proxied role's by the proxy.
pub fn find(
    containers: &[Candidate],
    finished: &HashSet<String>,
    live: &HashSet<String>,
) -> Vec<Orphan> {
    let orphan = |c: &Candidate| {
        c.run
            .as_ref()
            .is_some_and(|r| !finished.contains(r) && !live.contains(r))
    };
    containers
        .iter()
        .filter(|c| orphan(c))
        .map(|c| {
            let other_runs = containers
                .iter()
                .any(|o| o.role == c.role && o.running && !orphan(o));
            Orphan {
                id: c.id.clone(),
                name: c.name.clone(),
                role: c.role.clone(),
                run: c.run.clone().unwrap_or_default(),
                running: c.running,
                kept: (c.running && !other_runs).then_some(Kept::Lone),
            }
        })
        .collect()
}

/// The runs an app's history on a host records as finished.
pub async fn finished_runs(state_dir: &HostPath, app: &str) -> Result<HashSet<String>, String> {
    let (records, _) = super::history::read(state_dir, app)
        .await
        .map_err(|e| e.to_string())?;
    Ok(records
        .into_iter()
        .map(|r| r.run)
        .filter(|r| !r.is_empty())
        .collect())
}

/// The orphans of one app (and destination) on one host's engine.
pub async fn scan(
    docker: &Client,
    selector: &Selector,
    state_dir: &HostPath,
    live: &HashSet<String>,
) -> Result<Vec<Orphan>, String> {
    let listed = docker
        .list(selector, true)
        .await
        .map_err(|e| e.to_string())?;
    let candidates: Vec<Candidate> = listed.iter().map(Candidate::from_listed).collect();
    if candidates.iter().all(|c| c.run.is_none()) {
        return Ok(Vec::new());
    }
    let finished = finished_runs(state_dir, &selector.app).await?;
    Ok(find(&candidates, &finished, live))
}

/// Removes the orphans that are not serving; returns what it removed.
pub async fn remove(docker: &Client, orphans: &[Orphan]) -> Result<Vec<String>, String> {
    let mut removed = Vec::new();
    for o in orphans.iter().filter(|o| !o.serving()) {
        docker
            .remove(&o.id, true)
            .await
            .map_err(|e| e.to_string())?;
        removed.push(o.name.clone());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, role: &str, run: Option<&str>, running: bool) -> Candidate {
        Candidate {
            id: format!("id-{name}"),
            name: name.into(),
            role: role.into(),
            run: run.map(str::to_string),
            running,
        }
    }

    fn set(items: &[&str]) -> HashSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_dead_runs_containers_are_orphans_and_only_a_lone_server_is_kept() {
        let all = [
            c("web-v1", "web", Some("r1"), true),
            c("web-v2", "web", Some("r2"), true),
            c("worker-v2", "worker", Some("r2"), true),
            c("web-v0", "web", Some("r0"), false),
            c("old", "web", None, false),
            c("task-v2", "web", Some("r2"), false),
        ];
        let found = find(&all, &set(&["r1", "r0"]), &set(&[]));
        let names: Vec<(&str, bool)> = found
            .iter()
            .map(|o| (o.name.as_str(), o.serving()))
            .collect();
        assert_eq!(
            names,
            [("web-v2", false), ("worker-v2", true), ("task-v2", false)],
            "web-v1 still serves web; nothing else runs worker"
        );
        assert!(
            found[1].describe().contains("kept"),
            "{}",
            found[1].describe()
        );
        // A live run's containers are never orphans.
        assert!(find(&all, &set(&["r1", "r0"]), &set(&["r2"])).is_empty());
        // Containers from before runs had ids are never orphans.
        assert!(find(&[c("x", "web", None, true)], &set(&[]), &set(&[])).is_empty());
    }

    #[test]
    fn the_proxys_routing_decides_the_proxied_roles_running_orphans() {
        // Killed right after the switch: the dead run's web-v2 gets the
        // traffic, web-v1 (finished) still runs beside it.
        let all = [
            c("web-v1", "web", Some("r1"), true),
            c("web-v2", "web", Some("r2"), true),
            c("web-v2b", "web", Some("r2"), true),
            c("web-v2c", "web", Some("r2"), false),
            c("worker-v2", "worker", Some("r2"), true),
        ];
        let routed = |to: &[&str]| Proxied {
            role: "web",
            routing: Routing::To(set(to)),
        };
        let fates = |proxied: &Proxied<'_>| {
            let mut found = find(&all, &set(&["r1"]), &set(&[]));
            judge(&mut found, proxied);
            found
                .into_iter()
                .map(|o| (o.name, o.kept))
                .collect::<Vec<_>>()
        };
        // By id (nginx's route) or by name (kamal-proxy's target).
        for to in [["id-web-v2"], ["web-v2"]] {
            assert_eq!(
                fates(&routed(&to)),
                [
                    ("web-v2".to_string(), Some(Kept::Routed)),
                    ("web-v2b".to_string(), None),
                    ("web-v2c".to_string(), None),
                    ("worker-v2".to_string(), Some(Kept::Lone)),
                ],
                "{to:?}"
            );
        }
        // Routed elsewhere: every web orphan goes; the worker is no proxy's.
        let elsewhere = fates(&routed(&["id-web-v1"]));
        assert!(
            elsewhere
                .iter()
                .all(|(n, k)| (n == "worker-v2") == k.is_some()),
            "{elsewhere:?}"
        );
        // Unread: every running web orphan is kept, the stopped one is not.
        let unread = fates(&Proxied {
            role: "web",
            routing: Routing::Unread("nginx did not answer".into()),
        });
        let kept: Vec<&str> = unread
            .iter()
            .filter(|(_, k)| k.is_some())
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(kept, ["web-v2", "web-v2b", "worker-v2"]);
        let mut one = find(&all, &set(&["r1"]), &set(&[]));
        judge(&mut one, &routed(&["web-v2"]));
        assert!(
            one[0]
                .describe()
                .contains("the proxy sends the app's traffic to it"),
            "{}",
            one[0].describe()
        );
    }
}
