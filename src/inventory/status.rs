//! The status report: the fleet grouped as hosts → apps → roles →
//! containers, checked against what the config declares. Pure data; `berth
//! status` prints it as a table or as JSON (field names are a stable
//! interface, documented in docs/commands.md).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::{Config, DestinationName};
use crate::domain::model::{Container, Fleet, HostView, Link, Probe};
use crate::labels::Source;

/// Bumped when a field is removed or changes meaning (adding is compatible).
pub const SCHEMA: u32 = 2;

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub schema: u32,
    pub generated_at: DateTime<Utc>,
    /// Every app found is ok (whoever runs it), and every host was
    /// reachable.
    pub ok: bool,
    /// Every app the config declares (berth's, and Kamal's read from its
    /// deploy files) is ok: what `berth status` exits 1 for. Other tools'
    /// and strangers' containers on the same engine never change it.
    pub declared_ok: bool,
    pub hosts: Vec<HostStatus>,
    /// Kamal app instances whose deploy files berth could not read (the
    /// others are reported as usual).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kamal_failed: Vec<KamalFailedRow>,
}

/// A Kamal instance that could not be read: an error row.
#[derive(Debug, Serialize)]
pub struct KamalFailedRow {
    pub file: String,
    pub destination: Option<String>,
    pub error: String,
}

#[derive(Debug, Serialize)]
pub struct HostStatus {
    pub name: String,
    pub endpoint: String,
    /// How berth found the engine: `berth.yaml`, `DOCKER_HOST`, `docker
    /// context prod`, `the default socket`.
    pub engine_from: String,
    pub reachable: bool,
    /// Why the host is unreachable.
    pub error: Option<String>,
    /// `docker` or `podman`.
    pub engine: Option<String>,
    pub docker_version: Option<String>,
    pub api_version: Option<String>,
    pub apps: Vec<AppStatus>,
    /// Containers no known tool claims.
    pub unmanaged: Vec<ContainerStatus>,
}

#[derive(Debug, Serialize)]
pub struct AppStatus {
    pub app: String,
    /// `berth`, `kamal` or `dokku`.
    pub source: Source,
    /// Empty for the default destination.
    pub destination: String,
    /// Declared in the config (for this host and destination).
    pub declared: bool,
    pub ok: bool,
    pub roles: Vec<RoleStatus>,
    /// Task containers (release tasks, one-off runs).
    pub tasks: Vec<ContainerStatus>,
}

#[derive(Debug, Serialize)]
pub struct RoleStatus {
    pub role: String,
    /// The config expects this role on this host.
    pub declared: bool,
    /// Running and healthy (or running with no healthcheck).
    pub serving: usize,
    /// The containers that count: every one running, restarting or paused;
    /// with none of those, the newest version's stopped ones (what failed).
    pub total: usize,
    /// At least one serving container. A role the config does not declare
    /// (another tool's app, or an undeclared one) is also ok when nothing of
    /// it runs and nothing of it failed.
    pub ok: bool,
    /// The containers that count (see `total`), what needs eyes first.
    pub containers: Vec<ContainerStatus>,
    /// Stopped containers kept for rollback: never counted, never a failure.
    pub retained: Vec<ContainerStatus>,
    /// Their versions, newest first.
    pub retained_versions: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ContainerStatus {
    pub id: String,
    pub name: String,
    pub version: Option<String>,
    pub state: &'static str,
    pub health: &'static str,
    pub uptime_seconds: Option<i64>,
    /// When it was created (retained versions sort by it).
    pub created_at: Option<DateTime<Utc>>,
    pub restart_count: i64,
    /// The code it last exited with (also while it restarts, and once it
    /// is up again after a restart).
    pub exit_code: Option<i64>,
    /// Why `exit_code` is null for a crash loop: the engine forgot it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code_unknown: Option<&'static str>,
    pub oom_killed: bool,
    /// Restarting, or restarted twice or more and up under two minutes.
    pub crash_loop: bool,
    /// Why it needs eyes ("8 restarts in 2m, last exit 1, OOM killed",
    /// "unhealthy: <last check output>", "exit 1"); absent when nothing is wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub image: String,
    /// The registry digest of its image on its host (`status --digests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    pub ports: Vec<String>,
    /// The last health-check results, oldest first.
    pub health_log: Vec<Probe>,
}

impl ContainerStatus {
    fn new(c: &Container, now: DateTime<Utc>) -> Self {
        ContainerStatus {
            id: c.short_id().to_string(),
            name: c.name.clone(),
            version: c.owner.version.clone(),
            state: c.state.as_str(),
            health: c.health.as_str(),
            uptime_seconds: c.uptime(now).map(|d| d.num_seconds()),
            created_at: c.created_at,
            restart_count: c.restart_count,
            exit_code: c.exit_code,
            exit_code_unknown: c.exit_unknown(now).then_some(EXIT_UNKNOWN),
            oom_killed: c.oom_killed,
            crash_loop: c.crash_loop(now),
            reason: c.reason(now),
            image: c.image.clone(),
            digest: None,
            ports: c.ports.iter().map(ToString::to_string).collect(),
            health_log: c.health_log.clone(),
        }
    }
}

/// Said of a crash loop caught while up whose last exit nobody told.
pub const EXIT_UNKNOWN: &str = "the engine resets a restarted container's exit code and its event history (its last 256 events) no longer holds the last exit; its next exit will tell (status waits for it, within --timeout, for the apps the config declares, the --app named, or all with --all)";

/// What to report on.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only this app (of any source).
    pub app: Option<String>,
    /// The destination whose declared roles are checked (default: none).
    pub destination: Option<DestinationName>,
}

type AppKey = (String, Source, String);

pub fn report(config: &Config, fleet: &Fleet, filter: &Filter, now: DateTime<Utc>) -> StatusReport {
    let dest = filter.destination.as_ref();
    let dest_label = dest.map(|d| d.to_string()).unwrap_or_default();
    let wanted = |app: &str| filter.app.as_deref().is_none_or(|a| a == app);

    let mut hosts = Vec::new();
    let mut all_ok = true;
    let mut declared_ok = true;
    for host in fleet.hosts.values() {
        // (app, source, destination) -> role -> (declared, containers)
        let mut apps: BTreeMap<AppKey, BTreeMap<String, (bool, Vec<&Container>)>> = BTreeMap::new();
        let mut tasks: BTreeMap<AppKey, Vec<&Container>> = BTreeMap::new();
        let mut unmanaged = Vec::new();

        for (app_name, app) in &config.fleet.apps {
            if !wanted(app_name.as_str()) {
                continue;
            }
            for role in app.roles.keys() {
                if config
                    .role_hosts(app_name, role, dest)
                    .iter()
                    .any(|h| h.as_str() == host.name)
                {
                    apps.entry((app_name.to_string(), Source::Berth, dest_label.clone()))
                        .or_default()
                        .insert(role.to_string(), (true, Vec::new()));
                }
            }
        }
        // Kamal apps read from their deploy files: each role and accessory
        // on its hosts (an accessory as role `accessory:<name>`, as its
        // container is shown).
        let here = |app: &crate::config::kamal::KamalApp, hosts: &[String]| {
            hosts
                .iter()
                .any(|a| app.host_name(a).is_some_and(|n| n.as_str() == host.name))
        };
        for app in &config.kamal {
            if !wanted(&app.service) {
                continue;
            }
            let dest = app.destination.clone().unwrap_or_default();
            let roles = app.roles.iter().map(|r| (r.name.clone(), &r.hosts));
            let accessories = app
                .accessories
                .iter()
                .map(|a| (format!("accessory:{}", a.name), &a.hosts));
            for (role, hosts) in roles.chain(accessories) {
                if here(app, hosts) {
                    apps.entry((app.service.clone(), Source::Kamal, dest.clone()))
                        .or_default()
                        .insert(role, (true, Vec::new()));
                }
            }
        }
        // An accessory is labelled with no destination: on this host it is
        // the one instance's that declares it here, when only one does.
        let accessory_of = |app: &str, role: &str| -> Option<String> {
            let name = role.strip_prefix("accessory:")?;
            let mut of = config.kamal.iter().filter(|k| {
                k.service == app
                    && k.accessories
                        .iter()
                        .any(|a| a.name == name && here(k, &a.hosts))
            });
            let one = of.next()?;
            of.next()
                .is_none()
                .then(|| one.destination.clone().unwrap_or_default())
        };
        for c in host.containers.values() {
            let Some(app) = c.owner.app.clone() else {
                if filter.app.is_none() {
                    unmanaged.push(c);
                }
                continue;
            };
            if !wanted(&app) {
                continue;
            }
            let mut dest = c.owner.destination.clone();
            if dest.is_empty()
                && c.owner.source == Source::Kamal
                && let Some(d) = c.owner.role.as_deref().and_then(|r| accessory_of(&app, r))
            {
                dest = d;
            }
            let key = (app, c.owner.source, dest);
            if c.owner.phase.is_some() {
                tasks.entry(key).or_default().push(c);
                continue;
            }
            let role = c.owner.role.clone().unwrap_or_else(|| "-".into());
            apps.entry(key)
                .or_default()
                .entry(role)
                .or_default()
                .1
                .push(c);
        }
        for key in tasks.keys() {
            apps.entry(key.clone()).or_default();
        }

        let mut app_reports = Vec::new();
        for (key, roles) in apps {
            let declared_app = (key.1 != Source::Berth || key.2 == dest_label)
                && roles.values().any(|(declared, _)| *declared);
            let primary = match key.1 {
                Source::Kamal => config
                    .kamal_app(&key.0, &key.2)
                    .map(|a| a.primary_role.clone()),
                _ => config
                    .fleet
                    .apps
                    .get(key.0.as_str())
                    .map(|a| a.primary_role.to_string()),
            };
            let mut role_reports: Vec<RoleStatus> = roles
                .into_iter()
                .map(|(role, (declared, containers))| {
                    let (mut counted, retained) = split_retained(containers);
                    counted.sort_by_key(|c| (triage_rank(c, now), c.name.clone()));
                    let serving = counted.iter().filter(|c| c.is_serving(now)).count();
                    let idle = counted.iter().all(|c| !c.is_active() && !c.failed(now));
                    let mut retained_versions: Vec<String> = Vec::new();
                    for v in retained.iter().filter_map(|c| c.owner.version.clone()) {
                        if !retained_versions.contains(&v) {
                            retained_versions.push(v);
                        }
                    }
                    RoleStatus {
                        ok: serving > 0 || (!declared && idle),
                        role,
                        declared,
                        serving,
                        total: counted.len(),
                        containers: counted
                            .iter()
                            .map(|c| ContainerStatus::new(c, now))
                            .collect(),
                        // Kept for rollback: whatever they exited with
                        // when replaced is no failure.
                        retained: retained
                            .iter()
                            .map(|c| ContainerStatus {
                                reason: None,
                                crash_loop: false,
                                ..ContainerStatus::new(c, now)
                            })
                            .collect(),
                        retained_versions,
                    }
                })
                .collect();
            role_reports.sort_by_key(|r| (Some(&r.role) != primary.as_ref(), r.role.clone()));
            let ok = role_reports.iter().all(|r| r.ok);
            all_ok &= ok;
            declared_ok &= ok || !declared_app;
            let mut task_list = tasks.remove(&key).unwrap_or_default();
            task_list.sort_by_key(|c| c.name.clone());
            app_reports.push(AppStatus {
                app: key.0,
                source: key.1,
                destination: key.2,
                declared: declared_app,
                ok,
                roles: role_reports,
                tasks: task_list
                    .iter()
                    .map(|c| ContainerStatus::new(c, now))
                    .collect(),
            });
        }
        unmanaged.sort_by_key(|c| (triage_rank(c, now), c.name.clone()));
        let (reachable, error) = reachability(host);
        all_ok &= reachable;
        declared_ok &= reachable;
        let engine_from = crate::config::HostName::new(&host.name)
            .ok()
            .and_then(|n| config.fleet.hosts.get(&n))
            .map(crate::hosts::Endpoint::origin)
            .unwrap_or_default();
        hosts.push(HostStatus {
            name: host.name.clone(),
            endpoint: host.endpoint.clone(),
            engine_from,
            reachable,
            error,
            engine: host.engine.as_ref().map(|e| e.product.clone()),
            docker_version: host.engine.as_ref().map(|e| e.version.clone()),
            api_version: host.engine.as_ref().map(|e| e.api_version.clone()),
            apps: app_reports,
            unmanaged: unmanaged
                .iter()
                .map(|c| ContainerStatus::new(c, now))
                .collect(),
        });
    }
    StatusReport {
        schema: SCHEMA,
        generated_at: now,
        ok: all_ok,
        declared_ok,
        hosts,
        kamal_failed: config
            .kamal_failed
            .iter()
            .filter(|f| {
                filter
                    .destination
                    .as_ref()
                    .is_none_or(|d| f.destination.as_deref() == Some(d.as_str()))
            })
            .map(|f| KamalFailedRow {
                file: crate::config::kamal::destination_or_base(&f.file, f.destination.as_deref())
                    .display()
                    .to_string(),
                destination: f.destination.clone(),
                error: f.error.clone(),
            })
            .collect(),
    }
}

/// The host has answered, but a crash loop `wanted` picks is up with its
/// last exit code untold: its next exit, soon, will tell it.
pub fn exit_pending(
    host: &HostView,
    now: DateTime<Utc>,
    wanted: impl Fn(&Container) -> bool,
) -> bool {
    host.containers
        .values()
        .any(|c| c.exit_unknown(now) && wanted(c))
}

fn reachability(host: &HostView) -> (bool, Option<String>) {
    match &host.link {
        Link::Up if host.synced => (true, None),
        Link::Up | Link::Connecting => (false, Some("no answer yet (still connecting)".into())),
        Link::Down { reason, .. } => (false, Some(reason.clone())),
    }
}

/// A role's containers: those that count (serving/total) and those kept
/// for rollback. With anything of the role running, restarting or paused,
/// every stopped container is kept for rollback (an old version, or the
/// one a restart replaced). With nothing running, the newest version's
/// stopped containers count (they are what failed) and older versions'
/// are kept for rollback. Retained ones come newest first.
pub fn split_retained(mut containers: Vec<&Container>) -> (Vec<&Container>, Vec<&Container>) {
    containers.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.name.clone())));
    let current = if containers.iter().any(|c| c.is_active()) {
        None
    } else {
        containers.first().map(|c| c.owner.version.clone())
    };
    containers
        .into_iter()
        .partition(|c| c.is_active() || current.as_ref().is_some_and(|v| *v == c.owner.version))
}

/// The version a rollback with none named goes to: the newest retained one
/// that is not running (`retained` newest first). The console's `R` and
/// `berth rollback` name it before anything runs, and ask for that one.
pub fn rollback_version(retained: &[String], running: &[String]) -> Option<String> {
    retained.iter().find(|v| !running.contains(v)).cloned()
}

/// [`rollback_version`] for an app (and destination) across the report.
pub fn rollback_version_of(report: &StatusReport, app: &str, destination: &str) -> Option<String> {
    let mut retained: Vec<(Option<DateTime<Utc>>, String)> = Vec::new();
    let mut running: Vec<String> = Vec::new();
    for a in report
        .hosts
        .iter()
        .flat_map(|h| &h.apps)
        .filter(|a| a.app == app && a.destination == destination && a.source == Source::Berth)
    {
        for r in &a.roles {
            running.extend(
                r.containers
                    .iter()
                    .filter(|c| c.state == "running")
                    .filter_map(|c| c.version.clone()),
            );
            retained.extend(
                r.retained
                    .iter()
                    .filter_map(|c| Some((c.created_at, c.version.clone()?))),
            );
        }
    }
    retained.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
    let retained: Vec<String> = retained.into_iter().map(|(_, v)| v).collect();
    rollback_version(&retained, &running)
}

/// Incident triage: what needs eyes sorts first.
pub fn triage_rank(c: &Container, now: DateTime<Utc>) -> u8 {
    use crate::domain::model::{Health, State};
    match (c.state, c.health) {
        _ if c.oom_killed => 0,
        (_, Health::Unhealthy) => 0,
        _ if c.crash_loop(now) => 1,
        (State::Restarting, _) | (State::Dead, _) => 1,
        (State::Exited, _) if c.exit_code.is_some_and(|e| e != 0) => 2,
        (_, Health::Starting) => 3,
        (State::Running, _) => 4,
        _ => 5,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::domain::{Change, EngineInfo, Health, State};
    use crate::labels::{BerthLabels, Owner};

    const CFG: &str = "version: 2\nhosts:\n  a: {}\n  b: {}\napps:\n  demo:\n    image: demo\n    roles:\n      web: {hosts: [a, b]}\n      worker: {hosts: [b]}\n";

    fn c(id: &str, role: &str, state: State, health: Health) -> Container {
        let labels = BerthLabels {
            app: "demo".into(),
            role: role.into(),
            version: "v1".into(),
            destination: String::new(),
            phase: None,
            host: String::new(),
            run: String::new(),
        };
        Container {
            id: id.into(),
            name: format!("demo-{role}-{id}"),
            owner: Owner::classify("x", &labels.to_map()),
            state,
            health,
            created_at: None,
            started_at: None,
            finished_at: None,
            restart_count: 0,
            exit_code: None,
            oom_killed: false,
            image: "demo".into(),
            ports: vec![],
            health_log: vec![],
        }
    }

    fn fleet(a: Vec<Container>, b: Vec<Container>) -> Fleet {
        let mut f = Fleet::new([("a", String::new()), ("b", String::new())]);
        let engine = EngineInfo {
            product: "docker".into(),
            version: "20.10".into(),
            api_version: "1.41".into(),
            os: String::new(),
            arch: String::new(),
        };
        f.apply(Change::Synced {
            host: "a".into(),
            engine: engine.clone(),
            containers: a,
        });
        f.apply(Change::Synced {
            host: "b".into(),
            engine,
            containers: b,
        });
        f
    }

    #[test]
    fn ok_only_when_every_declared_role_serves_on_every_host() {
        let cfg = crate::config::parse(Path::new("f.yaml"), CFG).unwrap();
        let now = Utc::now();
        let f = fleet(
            vec![c("1", "web", State::Running, Health::Healthy)],
            vec![
                c("2", "web", State::Running, Health::Healthy),
                c("3", "worker", State::Running, Health::None),
            ],
        );
        assert!(report(&cfg, &f, &Filter::default(), now).ok);

        let f = fleet(
            vec![c("1", "web", State::Running, Health::Healthy)],
            vec![
                c("2", "web", State::Running, Health::Unhealthy),
                c("3", "worker", State::Running, Health::None),
            ],
        );
        let r = report(&cfg, &f, &Filter::default(), now);
        assert!(!r.ok);
        let web_b = &r.hosts[1].apps[0].roles[0];
        assert_eq!(
            (web_b.role.as_str(), web_b.serving, web_b.total, web_b.ok),
            ("web", 0, 1, false)
        );

        // A declared role with no container at all is listed, and not ok.
        let f = fleet(
            vec![c("1", "web", State::Running, Health::Healthy)],
            vec![c("2", "web", State::Running, Health::Healthy)],
        );
        let r = report(&cfg, &f, &Filter::default(), now);
        assert!(!r.ok);
        let worker = r.hosts[1].apps[0]
            .roles
            .iter()
            .find(|r| r.role == "worker")
            .unwrap();
        assert_eq!((worker.total, worker.declared), (0, true));
    }

    #[test]
    fn primary_role_first_and_triage_order() {
        let cfg = crate::config::parse(Path::new("f.yaml"), CFG).unwrap();
        let f = fleet(
            vec![],
            vec![
                c("3", "worker", State::Running, Health::None),
                c("1", "web", State::Running, Health::Healthy),
                c("2", "web", State::Running, Health::Unhealthy),
            ],
        );
        let r = report(&cfg, &f, &Filter::default(), Utc::now());
        let roles = &r.hosts[1].apps[0].roles;
        assert_eq!(roles[0].role, "web");
        assert_eq!(roles[0].containers[0].health, "unhealthy");
    }

    #[test]
    fn app_filter_and_unmanaged() {
        let cfg = crate::config::parse(Path::new("f.yaml"), CFG).unwrap();
        let mut stray = c("9", "web", State::Running, Health::None);
        stray.owner = Owner::unmanaged();
        let f = fleet(
            vec![stray, c("1", "web", State::Running, Health::Healthy)],
            vec![],
        );
        let all = report(&cfg, &f, &Filter::default(), Utc::now());
        assert_eq!(all.hosts[0].unmanaged.len(), 1);
        let only = report(
            &cfg,
            &f,
            &Filter {
                app: Some("demo".into()),
                destination: None,
            },
            Utc::now(),
        );
        assert!(only.hosts[0].unmanaged.is_empty());
        let none = report(
            &cfg,
            &f,
            &Filter {
                app: Some("other".into()),
                destination: None,
            },
            Utc::now(),
        );
        assert!(none.hosts[0].apps.is_empty());
    }

    #[test]
    fn a_rollback_goes_to_the_newest_retained_version_not_running() {
        let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        // v7's old container (replaced by a restart) is retained too.
        assert_eq!(
            rollback_version(&v(&["v7", "v6", "v5"]), &v(&["v7"])),
            Some("v6".into())
        );
        assert_eq!(rollback_version(&v(&["v7"]), &v(&["v7"])), None);
        assert_eq!(rollback_version(&v(&[]), &v(&[])), None);
    }
}
