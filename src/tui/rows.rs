//! The rows each table view shows, derived from the fleet model, the
//! config, the locks and the runs. Derived once per change (not per frame),
//! so a frame only draws the rows on screen, whatever the fleet's size.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::config::Config;
use crate::domain::{Container, Fleet, Health, Link, State};
use crate::engine::lock::Status as LockStatus;
use crate::inventory::status;
use crate::labels::Source;

use super::runs::RunView;

/// An app's lock as the Apps view shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum LockCell {
    /// Not read yet.
    Unknown,
    Free,
    Held(Box<LockStatus>),
    /// The lock could not be read (why).
    Error(String),
    /// It is there, but nobody can take it until it is cleared.
    Broken(Box<crate::engine::lock::Broken>),
    /// Kamal's or Dokku's lock, read where that tool keeps it.
    Foreign(Box<crate::engine::foreign::ForeignLock>),
    /// Another tool's app whose lock berth does not read (a Kamal app
    /// with no deploy file given, a Compose project).
    NotBerth,
}

impl From<crate::engine::foreign::ForeignRead> for LockCell {
    fn from(read: crate::engine::foreign::ForeignRead) -> Self {
        use crate::engine::foreign::ForeignRead;
        match read {
            ForeignRead::Free => LockCell::Free,
            ForeignRead::Held(l) => LockCell::Foreign(l),
            ForeignRead::Error(e) => LockCell::Error(e),
        }
    }
}

impl From<crate::engine::watch::LockRead> for LockCell {
    fn from(read: crate::engine::watch::LockRead) -> Self {
        use crate::engine::watch::LockRead;
        match read {
            LockRead::Free => LockCell::Free,
            LockRead::Held(s) => LockCell::Held(s),
            LockRead::Broken(b) => LockCell::Broken(b),
            LockRead::Error(e) => LockCell::Error(e),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct HostRow {
    pub name: String,
    pub endpoint: String,
    pub up: bool,
    /// `up`, `connecting`, or why it is down.
    pub link: String,
    pub docker: String,
    pub running: usize,
    pub stopped: usize,
    pub unhealthy: usize,
    pub total: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RoleCell {
    pub role: String,
    pub serving: usize,
    pub total: usize,
    pub ok: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AppRow {
    pub app: String,
    pub destination: String,
    pub source: Source,
    pub declared: bool,
    pub ok: bool,
    pub roles: Vec<RoleCell>,
    pub versions: Vec<String>,
    /// Versions kept (stopped) for rollback, newest first.
    pub retained: Vec<String>,
    /// The first thing wrong ("web: 8 restarts in 2m, last exit 1").
    pub problem: Option<String>,
    /// What a deploy of it lacks (preflight): said on its row.
    pub lacks: Vec<String>,
    pub hosts: Vec<String>,
    pub lock: LockCell,
    /// The newest run of this app (its age is drawn with the frame's clock).
    pub last: Option<LastRun>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LastRun {
    pub verb: String,
    /// `running`, `ok`, `failed`, `refused`, `cancelled`.
    pub word: &'static str,
    pub ok: bool,
    pub started_at: DateTime<Utc>,
}

impl AppRow {
    /// A row with nothing found on any host yet.
    pub(super) fn empty(
        app: &str,
        destination: &str,
        source: Source,
        declared: bool,
        lock: LockCell,
    ) -> Self {
        AppRow {
            app: app.to_string(),
            destination: destination.to_string(),
            source,
            declared,
            ok: true,
            roles: Vec::new(),
            versions: Vec::new(),
            retained: Vec::new(),
            problem: None,
            lacks: Vec::new(),
            hosts: Vec::new(),
            lock,
            last: None,
        }
    }

    /// Where `a`/`d`/`r` act: only berth apps are berth's to change.
    pub fn actionable(&self) -> bool {
        self.source == Source::Berth && self.declared
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContainerRow {
    pub host: String,
    pub id: String,
    pub name: String,
    pub app: String,
    pub role: String,
    pub destination: String,
    pub source: Source,
    pub version: String,
    pub state: State,
    pub health: Health,
    pub started_at: Option<DateTime<Utc>>,
    pub restarts: i64,
    pub exit_code: Option<i64>,
    pub ports: String,
    pub rank: u8,
    /// Stopped and kept for rollback: not a failure.
    pub retained: bool,
    pub oom_killed: bool,
    /// Why it needs eyes (see `Container::reason`).
    pub reason: Option<String>,
}

/// A `/` filter: a case-insensitive regex; a leading `!` keeps what does
/// not match. An invalid regex matches as plain text.
#[derive(Clone, Debug)]
pub struct RowFilter {
    pub text: String,
    regex: Regex,
    invert: bool,
}

impl RowFilter {
    pub fn new(text: &str) -> Option<RowFilter> {
        let (invert, pattern) = match text.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, text),
        };
        if pattern.is_empty() {
            return None;
        }
        let regex = Regex::new(&format!("(?i){pattern}"))
            .or_else(|_| Regex::new(&format!("(?i){}", regex::escape(pattern))))
            .ok()?;
        Some(RowFilter {
            text: text.to_string(),
            regex,
            invert,
        })
    }

    pub fn keeps(&self, haystack: &str) -> bool {
        self.regex.is_match(haystack) != self.invert
    }
}

pub fn hosts(fleet: &Fleet) -> Vec<HostRow> {
    fleet
        .hosts
        .values()
        .map(|h| {
            let count =
                |f: &dyn Fn(&Container) -> bool| h.containers.values().filter(|c| f(c)).count();
            let (up, link) = match &h.link {
                Link::Up if h.synced => (true, "up".to_string()),
                Link::Up | Link::Connecting => (false, "connecting".to_string()),
                Link::Down { reason, .. } => (false, reason.clone()),
            };
            HostRow {
                name: h.name.clone(),
                endpoint: h.endpoint.clone(),
                up,
                link,
                docker: h
                    .engine
                    .as_ref()
                    .map(|e| {
                        // Docker is the default: Podman is named.
                        let product = if e.product == "docker" { "" } else { "podman " };
                        format!("{product}{} (API {})", e.version, e.api_version)
                    })
                    .unwrap_or_else(|| "-".into()),
                running: count(&|c| c.state == State::Running),
                stopped: count(&|c| {
                    matches!(c.state, State::Exited | State::Dead | State::Created)
                }),
                unhealthy: count(&|c| c.health == Health::Unhealthy),
                total: h.containers.len(),
            }
        })
        .collect()
}

/// One row per app and destination, across every host.
pub fn apps(
    config: &Config,
    report: &status::StatusReport,
    locks: &BTreeMap<(String, String), LockCell>,
    foreign: &BTreeMap<crate::engine::foreign::ForeignKey, LockCell>,
    runs: &[&RunView],
) -> Vec<AppRow> {
    let mut rows: BTreeMap<(bool, String, String, Source), AppRow> = BTreeMap::new();
    for host in &report.hosts {
        for app in &host.apps {
            // Declared apps first, then what berth found.
            let key = (
                !app.declared,
                app.app.clone(),
                app.destination.clone(),
                app.source,
            );
            let lock = match app.source {
                Source::Berth => locks
                    .get(&(app.app.clone(), app.destination.clone()))
                    .cloned()
                    .unwrap_or(LockCell::Unknown),
                source => foreign
                    .get(&(
                        source.as_str().to_string(),
                        app.app.clone(),
                        app.destination.clone(),
                    ))
                    .cloned()
                    .unwrap_or(LockCell::NotBerth),
            };
            let row = rows.entry(key).or_insert_with(|| {
                AppRow::empty(&app.app, &app.destination, app.source, app.declared, lock)
            });
            row.ok &= app.ok && host.reachable;
            row.hosts.push(host.name.clone());
            for r in &app.roles {
                // The report's counts: retained versions are not capacity.
                match row.roles.iter_mut().find(|c| c.role == r.role) {
                    Some(cell) => {
                        cell.serving += r.serving;
                        cell.total += r.total;
                        cell.ok &= r.ok;
                    }
                    None => row.roles.push(RoleCell {
                        role: r.role.clone(),
                        serving: r.serving,
                        total: r.total,
                        ok: r.ok,
                    }),
                }
                for c in r.containers.iter().filter(|c| c.state == "running") {
                    if let Some(v) = &c.version
                        && !row.versions.contains(v)
                    {
                        row.versions.push(v.clone());
                    }
                }
                for v in &r.retained_versions {
                    if !row.retained.contains(v) {
                        row.retained.push(v.clone());
                    }
                }
                if row.problem.is_none()
                    && let Some(reason) = r.containers.iter().find_map(|c| c.reason.clone())
                {
                    row.problem = Some(format!("{}: {reason}", r.role));
                }
            }
        }
    }
    // Declared apps with no container anywhere (or on unreachable hosts only)
    // still get a row: an app that vanished is exactly what to see.
    for name in config.fleet.apps.keys() {
        let key = (false, name.to_string(), String::new(), Source::Berth);
        let lock = locks
            .get(&(name.to_string(), String::new()))
            .cloned()
            .unwrap_or(LockCell::Unknown);
        rows.entry(key).or_insert_with(|| AppRow {
            // Declared, and nothing of it found: not ok.
            ok: false,
            ..AppRow::empty(name.as_str(), "", Source::Berth, true, lock)
        });
    }
    // A Kamal destination whose file berth could not read: a row saying
    // why, named by its file (its service is what failed to read).
    for f in &config.kamal_failed {
        let file = crate::config::kamal::destination_or_base(&f.file, f.destination.as_deref());
        let name = file.file_name().map_or_else(
            || file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let dest = f.destination.clone().unwrap_or_default();
        let key = (false, name.clone(), dest.clone(), Source::Kamal);
        rows.entry(key).or_insert_with(|| AppRow {
            ok: false,
            problem: Some(format!(
                "not read: {}",
                f.error.lines().last().unwrap_or_default()
            )),
            ..AppRow::empty(&name, &dest, Source::Kamal, true, LockCell::NotBerth)
        });
    }
    // Another tool's app known only by its lock (a Dokku app with no
    // container running): its lock is still news.
    for ((tool, app, dest), cell) in foreign {
        let source = match tool.as_str() {
            "kamal" => Source::Kamal,
            "dokku" => Source::Dokku,
            _ => continue,
        };
        if rows
            .keys()
            .any(|(_, a, d, s)| a == app && d == dest && *s == source)
        {
            continue;
        }
        let key = (true, app.clone(), dest.clone(), source);
        // Nothing says it should run: no container is no failure.
        rows.entry(key)
            .or_insert_with(|| AppRow::empty(app, dest, source, false, cell.clone()));
    }
    let mut out: Vec<AppRow> = rows.into_values().collect();
    for row in &mut out {
        row.versions.sort();
        if let Some(run) = runs
            .iter()
            .filter(|r| r.app == row.app && r.destination == row.destination)
            .max_by_key(|r| r.started_at)
        {
            let (word, ok) = match &run.result {
                None => ("running", true),
                // A refusal changed nothing: no failure in LAST.
                Some(res) => (res.word(), res.is_ok() || res.is_refusal()),
            };
            row.last = Some(LastRun {
                verb: run.verb.clone(),
                word,
                ok,
                started_at: run.started_at,
            });
        }
    }
    out
}

/// Every container of every host, what needs eyes first.
pub fn containers(fleet: &Fleet, now: DateTime<Utc>) -> Vec<ContainerRow> {
    let mut rows: Vec<ContainerRow> = Vec::new();
    for h in fleet.hosts.values() {
        // Per app role on this host: which stopped ones are kept for rollback
        // (the report's rule, so the list and the counts agree).
        let mut groups: BTreeMap<(Source, String, String, String), Vec<&Container>> =
            BTreeMap::new();
        for c in h.containers.values() {
            if let (Some(app), None) = (&c.owner.app, &c.owner.phase) {
                let role = c.owner.role.clone().unwrap_or_default();
                let key = (
                    c.owner.source,
                    app.clone(),
                    c.owner.destination.clone(),
                    role,
                );
                groups.entry(key).or_default().push(c);
            }
        }
        let retained: BTreeSet<&str> = groups
            .into_values()
            .flat_map(|g| status::split_retained(g).1)
            .map(|c| c.id.as_str())
            .collect();
        rows.extend(h.containers.values().map(|c| {
            let kept = retained.contains(c.id.as_str());
            ContainerRow {
                host: h.name.clone(),
                id: c.id.clone(),
                name: c.name.clone(),
                app: c.owner.app.clone().unwrap_or_default(),
                role: c
                    .owner
                    .role
                    .clone()
                    .or_else(|| c.owner.phase.clone())
                    .unwrap_or_default(),
                destination: c.owner.destination.clone(),
                source: c.owner.source,
                version: c.owner.version.clone().unwrap_or_default(),
                state: c.state,
                health: c.health,
                started_at: c.started_at,
                restarts: c.restart_count,
                exit_code: c.exit_code,
                ports: c
                    .ports
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                // Kept versions sort with the quiet ones, whatever they exited with.
                rank: if kept { 6 } else { status::triage_rank(c, now) },
                retained: kept,
                oom_killed: c.oom_killed,
                reason: if kept { None } else { c.reason(now) },
            }
        }));
    }
    rows.sort_by(|a, b| (a.rank, &a.name, &a.host).cmp(&(b.rank, &b.name, &b.host)));
    rows
}

/// The text a `/` filter matches against, per row kind.
pub fn host_text(r: &HostRow) -> String {
    format!("{} {} {} {}", r.name, r.endpoint, r.link, r.docker)
}

pub fn app_text(r: &AppRow) -> String {
    let roles: Vec<&str> = r.roles.iter().map(|c| c.role.as_str()).collect();
    format!(
        "{} {} {} {} {} {}",
        r.app,
        r.destination,
        r.source.as_str(),
        roles.join(" "),
        r.versions.join(" "),
        r.hosts.join(" ")
    )
}

pub fn container_text(r: &ContainerRow) -> String {
    format!(
        "{} {} {} {} {} {} {}",
        r.name,
        r.host,
        r.app,
        r.role,
        r.version,
        r.state.as_str(),
        r.health.as_str()
    )
}

/// Distinct app names, for command completion.
pub fn app_names(config: &Config, fleet: &Fleet) -> Vec<String> {
    let mut names: BTreeSet<String> = config.fleet.apps.keys().map(|a| a.to_string()).collect();
    for h in fleet.hosts.values() {
        for c in h.containers.values() {
            if let (Some(app), Source::Berth) = (&c.owner.app, c.owner.source) {
                names.insert(app.clone());
            }
        }
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_is_a_case_insensitive_regex_and_bang_inverts() {
        let f = RowFilter::new("web|WORKER").unwrap();
        assert!(f.keeps("demo-web-v2"));
        assert!(f.keeps("demo-worker-v2"));
        assert!(!f.keeps("demo-release"));
        let f = RowFilter::new("!healthy").unwrap();
        assert!(!f.keeps("demo-web healthy"));
        assert!(f.keeps("demo-web starting"));
        // Not a valid regex: taken as text rather than refused mid-incident.
        let f = RowFilter::new("web[").unwrap();
        assert!(f.keeps("a web[1]"));
        assert!(!f.keeps("web1"));
        assert!(RowFilter::new("").is_none() && RowFilter::new("!").is_none());
    }
}
