//! Actions become plans: an ordered list of named stages, each a trigger
//! (where hooks and plugins run) or a built-in step, with the hosts it
//! touches. A plan is made from the config alone, so `berth plan` shows
//! exactly what a run will do before anything changes.
//!
//! Boot order is fixed by construction: the primary role's groups first,
//! then the other roles', each group waiting only on its own containers.
//! Nothing ever waits on a container a later group would start (the Kamal
//! 2.6.0 boot deadlock in field-notes.md cannot be expressed).

use std::fmt;

use serde::Serialize;

use super::action::{Action, Version};
use super::trigger::{self, Implementation, Problem, Triggers};
use crate::config::{
    AppConfig, AppName, BootLimit, Config, DestinationName, HostName, HumanDuration, RoleName,
};

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub action: Action,
    pub app: AppName,
    pub destination: Option<DestinationName>,
    pub stages: Vec<Stage>,
    /// Non-fatal layout notes (a hook under an old trigger name, ...).
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// What the stage list shows: `boot web [1/2]`.
    pub name: String,
    pub step: Step,
    pub hosts: Vec<HostName>,
}

/// Where a role's boot group sits among the role's groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    pub role: RoleName,
    /// 1-based.
    pub index: usize,
    pub of: usize,
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}/{}]", self.role, self.index, self.of)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Take the app's deploy lock (or re-enter it from a nested call).
    Lock,
    /// Hooks and plugins implementing this trigger run here, in this order.
    Trigger {
        trigger: String,
        run: Vec<Implementation>,
        /// Runs only when the action failed or was cancelled.
        on_failure: bool,
    },
    /// Make the image present on each host: use it, pull it, or build it.
    Image { image: String },
    /// A throw-away container from the new image runs the release command.
    ReleaseTask {
        image: String,
        command: Vec<String>,
        /// The version deployed: the task's container is named for it.
        version: Version,
    },
    /// Start one new container of the role on each host of the group.
    Boot {
        group: Group,
        image: String,
        /// The version it boots, labelled on each container.
        version: Version,
    },
    /// Re-create each running container of the group with its own version.
    Reboot { group: Group },
    /// Start the retained container of the wanted version on each host.
    StartRetained {
        group: Group,
        version: Option<Version>,
    },
    /// Wait for the group's new containers to be healthy.
    HealthGate { group: Group },
    /// Point the proxy on each host at the group's new containers (or, for
    /// `proxy sync`, at the running healthy ones) and prove it with a
    /// request through the proxy.
    Traffic { group: Group },
    /// Old containers keep serving requests in flight this long after the
    /// switch, before they are stopped.
    Drain {
        group: Group,
        timeout: HumanDuration,
    },
    /// Remove the app's proxy config (before its containers go).
    RemoveRoute,
    /// Stop the role's other running containers on the group's hosts.
    StopOld { group: Group },
    /// Remove stopped versions beyond `retain`.
    Prune { retain: u32 },
    /// Stop and remove every container of the app.
    RemoveContainers { purge_volumes: bool },
    /// Remove berth's state for the app on its hosts.
    RemoveState,
    /// Runs only when a stage failed or the run was cancelled: restarts the
    /// old containers that were stopped and removes the new ones.
    Restore,
    /// Run a command in every running container of the role on each host.
    Exec {
        role: RoleName,
        command: Vec<String>,
    },
    /// Restart, stop, start or remove one container of the app.
    Container {
        container: String,
        op: super::action::ContainerOp,
    },
    /// Release the lock: always, after everything else.
    Unlock,
}

impl Step {
    /// Stages that run after a failure or cancel too (the "finally" part).
    pub fn is_finally(&self) -> bool {
        matches!(
            self,
            Step::Restore
                | Step::Unlock
                | Step::Trigger {
                    on_failure: true,
                    ..
                }
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("app `{app}` is not declared in {file}{hint}")]
    UnknownApp {
        app: String,
        file: String,
        hint: String,
    },
    #[error("app `{app}` has no destination `{destination}` (declared: {declared})")]
    UnknownDestination {
        app: String,
        destination: String,
        declared: String,
    },
    #[error("app `{app}` has no role `{role}` (roles: {roles})")]
    UnknownRole {
        app: String,
        role: String,
        roles: String,
    },
    #[error(
        "app `{app}` has no `proxy:` in {file}; add one to route traffic through nginx or kamal-proxy"
    )]
    NoProxy { app: String, file: String },
    #[error("destroy needs the app's name typed as confirmation: pass --confirm {app}")]
    NotConfirmed { app: String },
    #[error("app `{app}` does not run on host `{host}`")]
    NotOnHost { app: String, host: String },
    #[error("exec needs a command: `berth exec APP -- CMD...`")]
    NoCommand,
    #[error("{why}: {verb} refused")]
    ReadOnly { why: String, verb: String },
    #[error("hooks and plugins need fixing before any action runs:\n{}", problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Layout { problems: Vec<Problem> },
}

/// Splits `hosts` into boot groups of `limit` (all at once when unset).
pub fn boot_groups(hosts: &[HostName], limit: Option<BootLimit>) -> Vec<Vec<HostName>> {
    if hosts.is_empty() {
        return Vec::new();
    }
    let size = limit.map_or(hosts.len(), |l| l.group_size(hosts.len()));
    hosts.chunks(size).map(<[HostName]>::to_vec).collect()
}

/// The app's roles, primary first, then by name.
pub fn role_order(app: &AppConfig) -> Vec<RoleName> {
    let mut roles: Vec<RoleName> = app.roles.keys().cloned().collect();
    roles.sort_by_key(|r| (r != &app.primary_role, r.clone()));
    roles
}

/// The image reference for a version: the configured image with its tag
/// replaced (`registry:5000/shop:latest` → `registry:5000/shop:v2`), or
/// `<app>:<version>` for apps built on the hosts.
pub fn image_for(app_name: &AppName, app: &AppConfig, version: &Version) -> String {
    match &app.image {
        Some(image) => {
            let (repo, _tag) = crate::domain::reference::split_tag(image);
            format!("{repo}:{version}")
        }
        None => format!("{app_name}:{version}"),
    }
}

/// What the image stage does for `app`, in the words the plan and the run
/// both say: with a registry (`image:` and `registry:`), built once and
/// pushed (with `build:`) and pulled on every host, always; without one,
/// each host uses its copy, else builds or pulls it.
pub fn image_path(config: &Config, app_name: &AppName) -> String {
    let Some(app) = config.fleet.apps.get(app_name) else {
        return String::new();
    };
    let registry = app
        .image
        .as_ref()
        .and(config.registry(app_name))
        .map(|r| r.server.clone().unwrap_or_else(|| "Docker Hub".into()));
    match (registry, &app.build) {
        (Some(server), Some(build)) => format!(
            "built once on {}, pushed to {server}, then pulled on every host (always) and checked to be one digest",
            build.builder.as_ref().map_or_else(
                || "this machine's engine".to_string(),
                |h| format!("builder {h}")
            )
        ),
        (Some(server), None) => {
            format!("pulled from {server} on every host (always) and checked to be one digest")
        }
        (None, Some(build)) => format!(
            "each host uses its copy, else builds it from {}",
            config.dir().join(&build.context).display()
        ),
        (None, None) => "each host uses its copy, else pulls it".into(),
    }
}

pub fn plan(config: &Config, action: &Action) -> Result<Plan, PlanError> {
    let triggers = trigger::discover(&config.hooks_dir(), &config.plugins_dir());
    if triggers.errors().next().is_some() {
        return Err(PlanError::Layout {
            problems: triggers.problems,
        });
    }
    plan_with(config, action, &triggers)
}

/// [`plan`] with the hooks and plugins already discovered.
pub fn plan_with(config: &Config, action: &Action, triggers: &Triggers) -> Result<Plan, PlanError> {
    let mut p = Planner::new(config, action, triggers)?;
    let lock_host = vec![p.primary.clone()];
    // Exec changes no container: it never waits on, or blocks, a deploy.
    let locked = !matches!(action, Action::Exec { .. });
    if locked {
        p.stages.push(stage("lock", Step::Lock, &lock_host));
    }
    match action {
        Action::Deploy { version, .. } => p.deploy(version),
        Action::Restart { role, .. } => p.restart(role.as_ref())?,
        Action::Rollback { version, .. } => p.rollback(version.as_ref()),
        Action::Destroy {
            confirm,
            purge_volumes,
            ..
        } => p.destroy(confirm, *purge_volumes)?,
        Action::ProxySync { .. } => p.proxy_sync()?,
        Action::Container {
            host,
            container,
            op,
            ..
        } => p.container(host, container, *op)?,
        Action::Exec {
            role,
            host,
            command,
            ..
        } => p.exec(role.as_ref(), host.as_ref(), command)?,
    }
    if locked {
        p.stages.push(stage("unlock", Step::Unlock, &lock_host));
    }
    // Warnings only for implementations this plan runs.
    let warnings = triggers
        .problems
        .iter()
        .filter(|w| !w.error)
        .filter(|w| {
            p.stages
                .iter()
                .any(|s| matches!(&s.step, Step::Trigger { run, .. } if run.iter().any(|i| i.path == w.path)))
        })
        .map(ToString::to_string)
        .collect();
    Ok(Plan {
        action: action.clone(),
        app: p.app_name.clone(),
        destination: p.dest.cloned(),
        stages: p.stages,
        warnings,
    })
}

/// Where an interactive exec may go (`berth exec -i`, the console's `s`),
/// checked as an exec's plan is: not read-only, the app, destination,
/// role and host declared. The role (the primary one unless named) and
/// its hosts, or the one host named.
pub fn exec_hosts(
    config: &Config,
    app: &AppName,
    destination: Option<&DestinationName>,
    role: Option<&RoleName>,
    host: Option<&HostName>,
) -> Result<(RoleName, Vec<HostName>), PlanError> {
    let action = Action::Exec {
        app: app.clone(),
        destination: destination.cloned(),
        role: role.cloned(),
        host: host.cloned(),
        command: Vec::new(),
    };
    // An exec runs no hook.
    let triggers = Triggers::default();
    Planner::new(config, &action, &triggers)?.exec_hosts(role, host)
}

fn stage(name: &str, step: Step, hosts: &[HostName]) -> Stage {
    Stage {
        name: name.into(),
        step,
        hosts: hosts.to_vec(),
    }
}

/// What every action's plan is built from: the app, where it runs, its
/// hooks and plugins, and the stages so far. One method per action.
struct Planner<'a> {
    config: &'a Config,
    triggers: &'a Triggers,
    app_name: &'a AppName,
    app: &'a AppConfig,
    dest: Option<&'a DestinationName>,
    /// The primary role's first host: the lock's home, the release task's.
    primary: HostName,
    /// The app's roles, primary first.
    roles: Vec<RoleName>,
    proxy: Option<crate::config::ProxySettings>,
    stages: Vec<Stage>,
}

impl<'a> Planner<'a> {
    /// Checks what every action needs: not read-only, the app and the
    /// destination declared, a primary host.
    fn new(
        config: &'a Config,
        action: &'a Action,
        triggers: &'a Triggers,
    ) -> Result<Self, PlanError> {
        // Every action changes the fleet: none is planned in read-only
        // mode, whichever front end asked.
        if let Some(why) = config.read_only() {
            return Err(PlanError::ReadOnly {
                why,
                verb: action.verb().to_string(),
            });
        }
        let app_name = action.app();
        let Some(app) = config.fleet.apps.get(app_name) else {
            let declared: Vec<&str> = config.fleet.apps.keys().map(|a| a.as_str()).collect();
            let hint = match crate::config::names::did_you_mean(
                app_name.as_str(),
                declared.iter().copied(),
            ) {
                Some(s) => format!("; did you mean `{s}`?"),
                None => String::new(),
            };
            return Err(PlanError::UnknownApp {
                app: app_name.to_string(),
                file: config.path.display().to_string(),
                hint,
            });
        };
        let dest = action.destination();
        if let Some(d) = dest
            && !app.destinations.contains_key(d)
        {
            let declared: Vec<&str> = app.destinations.keys().map(|d| d.as_str()).collect();
            return Err(PlanError::UnknownDestination {
                app: app_name.to_string(),
                destination: d.to_string(),
                declared: if declared.is_empty() {
                    "none".into()
                } else {
                    declared.join(", ")
                },
            });
        }
        let roles = role_order(app);
        // Declared apps' primary roles always have a first host (config check).
        let Some(primary) = config.primary_host(app_name, dest) else {
            return Err(unknown_role(app_name, &app.primary_role, &roles));
        };
        Ok(Planner {
            config,
            triggers,
            app_name,
            app,
            dest,
            primary: primary.clone(),
            roles,
            proxy: config.proxy(app_name, dest),
            stages: Vec::new(),
        })
    }

    /// Every host of `roles`, once each, in order.
    fn all_hosts(&self, roles: &[RoleName]) -> Vec<HostName> {
        let mut hosts: Vec<HostName> = Vec::new();
        for r in roles {
            for h in self.config.role_hosts(self.app_name, r, self.dest) {
                if !hosts.contains(h) {
                    hosts.push(h.clone());
                }
            }
        }
        hosts
    }

    fn trigger_stage(&self, t: &str, hosts: &[HostName], on_failure: bool) -> Stage {
        Stage {
            name: t.to_string(),
            step: Step::Trigger {
                trigger: t.to_string(),
                run: self.triggers.for_trigger(t).to_vec(),
                on_failure,
            },
            hosts: hosts.to_vec(),
        }
    }

    /// The action's own pre-/post- triggers are always listed.
    fn trigger(&mut self, t: &str, hosts: &[HostName]) {
        let s = self.trigger_stage(t, hosts, false);
        self.stages.push(s);
    }

    /// The finer ones (pre-build, pre-boot, ...) only when something
    /// implements them.
    fn optional(&mut self, t: &str, hosts: &[HostName], on_failure: bool) {
        if !self.triggers.for_trigger(t).is_empty() {
            let s = self.trigger_stage(t, hosts, on_failure);
            self.stages.push(s);
        }
    }

    /// Per group of `roles`: pre-boot, bring up (boot, reboot or start
    /// retained), health gate, traffic, stop old, post-boot.
    fn rollout(&mut self, roles: &[RoleName], bring_up: &dyn Fn(Group) -> (String, Step)) {
        for role in roles {
            let groups = boot_groups(
                self.config.role_hosts(self.app_name, role, self.dest),
                self.app.boot.limit,
            );
            let of = groups.len();
            for (i, hosts) in groups.into_iter().enumerate() {
                let group = Group {
                    role: role.clone(),
                    index: i + 1,
                    of,
                };
                let (verb, step) = bring_up(group.clone());
                self.optional("pre-boot", &hosts, false);
                self.stages
                    .push(stage(&format!("{verb} {group}"), step, &hosts));
                self.stages.push(stage(
                    &format!("health gate {group}"),
                    Step::HealthGate {
                        group: group.clone(),
                    },
                    &hosts,
                ));
                // Only the proxied role has traffic to move and drain.
                if let Some(p) = self.proxy.as_ref().filter(|p| &p.role == role) {
                    let drain = HumanDuration(p.drain_timeout);
                    self.stages.push(stage(
                        &format!("traffic {group}"),
                        Step::Traffic {
                            group: group.clone(),
                        },
                        &hosts,
                    ));
                    self.stages.push(stage(
                        &format!("drain {group}"),
                        Step::Drain {
                            group: group.clone(),
                            timeout: drain,
                        },
                        &hosts,
                    ));
                }
                self.stages.push(stage(
                    &format!("stop old {group}"),
                    Step::StopOld {
                        group: group.clone(),
                    },
                    &hosts,
                ));
                self.optional("post-boot", &hosts, false);
            }
        }
    }

    /// What every action but destroy ends with.
    fn finish(&mut self, post: &str, hosts: &[HostName]) {
        self.trigger(post, hosts);
        self.stages.push(stage("restore", Step::Restore, hosts));
        self.optional("deploy-failed", hosts, true);
    }

    fn deploy(&mut self, version: &Version) {
        let roles = self.roles.clone();
        let hosts = self.all_hosts(&roles);
        let image = image_for(self.app_name, self.app, version);
        // Through a registry: its server in front (`ghcr.io/team/shop:v2`).
        let image = match self.config.registry(self.app_name) {
            Some(r) if self.app.image.is_some() => {
                crate::config::in_registry(r.server.as_deref(), &image)
            }
            _ => image,
        };
        self.trigger("pre-deploy", &hosts);
        self.optional("pre-build", &hosts, false);
        self.stages.push(stage(
            "image",
            Step::Image {
                image: image.clone(),
            },
            &hosts,
        ));
        self.optional("post-build", &hosts, false);
        if let Some(release) = &self.app.release {
            self.optional("pre-release", &hosts, false);
            let step = Step::ReleaseTask {
                image: image.clone(),
                command: release.command.0.clone(),
                version: version.clone(),
            };
            self.stages.push(stage(
                "release task",
                step,
                std::slice::from_ref(&self.primary),
            ));
            self.optional("post-release", &hosts, false);
        }
        self.rollout(&roles, &|group| {
            (
                "boot".into(),
                Step::Boot {
                    group,
                    image: image.clone(),
                    version: version.clone(),
                },
            )
        });
        let retain = self.app.retain;
        self.stages
            .push(stage("prune", Step::Prune { retain }, &hosts));
        self.finish("post-deploy", &hosts);
    }

    fn restart(&mut self, role: Option<&RoleName>) -> Result<(), PlanError> {
        let roles = match role {
            Some(r) if !self.app.roles.contains_key(r) => {
                return Err(unknown_role(self.app_name, r, &self.roles));
            }
            Some(r) => vec![r.clone()],
            None => self.roles.clone(),
        };
        let hosts = self.all_hosts(&roles);
        self.trigger("pre-restart", &hosts);
        self.rollout(&roles, &|group| ("reboot".into(), Step::Reboot { group }));
        self.finish("post-restart", &hosts);
        Ok(())
    }

    fn rollback(&mut self, version: Option<&Version>) {
        let roles = self.roles.clone();
        let hosts = self.all_hosts(&roles);
        self.trigger("pre-deploy", &hosts);
        self.rollout(&roles, &|group| {
            (
                "start retained".into(),
                Step::StartRetained {
                    group,
                    version: version.cloned(),
                },
            )
        });
        self.finish("post-deploy", &hosts);
    }

    fn destroy(&mut self, confirm: &str, purge_volumes: bool) -> Result<(), PlanError> {
        if confirm != self.app_name.as_str() {
            return Err(PlanError::NotConfirmed {
                app: self.app_name.to_string(),
            });
        }
        let hosts = self.all_hosts(&self.roles.clone());
        self.trigger("pre-destroy", &hosts);
        if let Some(p) = &self.proxy {
            let proxied = self.config.role_hosts(self.app_name, &p.role, self.dest);
            self.stages
                .push(stage("remove proxy config", Step::RemoveRoute, proxied));
        }
        self.stages.push(stage(
            "remove containers",
            Step::RemoveContainers { purge_volumes },
            &hosts,
        ));
        self.stages
            .push(stage("remove state", Step::RemoveState, &hosts));
        self.trigger("post-destroy", &hosts);
        Ok(())
    }

    fn proxy_sync(&mut self) -> Result<(), PlanError> {
        let Some(p) = &self.proxy else {
            return Err(PlanError::NoProxy {
                app: self.app_name.to_string(),
                file: self.config.path.display().to_string(),
            });
        };
        let hosts = self
            .config
            .role_hosts(self.app_name, &p.role, self.dest)
            .to_vec();
        let group = Group {
            role: p.role.clone(),
            index: 1,
            of: 1,
        };
        self.stages.push(stage(
            &format!("traffic {group}"),
            Step::Traffic { group },
            &hosts,
        ));
        self.stages.push(stage("restore", Step::Restore, &hosts));
        Ok(())
    }
}

/// A role the app does not have (or a primary role with no host).
fn unknown_role(app: &AppName, role: &RoleName, roles: &[RoleName]) -> PlanError {
    PlanError::UnknownRole {
        app: app.to_string(),
        role: role.to_string(),
        roles: roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

mod one;

#[cfg(test)]
mod tests;
