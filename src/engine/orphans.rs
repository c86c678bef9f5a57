//! Orphans: containers that a run created and then could not account for,
//! because the run died (SIGKILL, a lost machine, a power cut) before it
//! finished or put things back.
//!
//! Every container a run creates carries the run's id (`berth.run`); the
//! run's lock carries it while the run lives, and its history line once it
//! finished (whatever the result). A container whose run is in neither is
//! an orphan. `berth doctor` reports them, and the app's next action (or
//! `berth doctor --fix`) removes them: every stopped one, and a running one
//! while another container of its role that is not an orphan runs beside
//! it. A running orphan that is the only one of its role left running (the
//! run died after stopping the old version) is serving: it is reported and
//! kept, and the next deploy replaces it like any running container.

use std::collections::HashSet;

use crate::docker::{Engine, Listed};
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

/// A container left by a run that no longer exists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    pub id: String,
    pub name: String,
    pub role: String,
    pub run: String,
    pub running: bool,
    /// Running, and no container of its role that is not an orphan runs:
    /// it serves, so it is kept.
    pub serving: bool,
}

impl Orphan {
    /// One line: what it is and what will become of it.
    pub fn describe(&self) -> String {
        let state = if self.running { "running" } else { "stopped" };
        let fate = if self.serving {
            "kept: it is the only running container of its role (the next deploy replaces it)"
        } else {
            "removable"
        };
        format!(
            "{} ({state}, role {}) was created by run {}, which neither finished nor holds the lock (killed?); {fate}",
            self.name, self.role, self.run
        )
    }
}

/// The orphans among `containers` (one app on one host): those whose run
/// is neither `finished` (in the host's history) nor `live` (holds the
/// app's lock).
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
                serving: c.running && !other_runs,
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
    docker: &Engine,
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
pub async fn remove(docker: &Engine, orphans: &[Orphan]) -> Result<Vec<String>, String> {
    let mut removed = Vec::new();
    for o in orphans.iter().filter(|o| !o.serving) {
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
        let names: Vec<(&str, bool)> = found.iter().map(|o| (o.name.as_str(), o.serving)).collect();
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
}
