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
    ReleaseTask { image: String, command: Vec<String> },
    /// Start one new container of the role on each host of the group.
    Boot { group: Group, image: String },
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
            let (repo, _tag) = split_tag(image);
            format!("{repo}:{version}")
        }
        None => format!("{app_name}:{version}"),
    }
}

/// Splits `repo[:tag]`, minding registry ports (`host:5000/repo`) and digests.
fn split_tag(image: &str) -> (&str, Option<&str>) {
    let image = image.split('@').next().unwrap_or(image);
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => (&image[..last_slash + i], Some(&image[last_slash + i + 1..])),
        None => (image, None),
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
    // Every action changes the fleet: none is planned in read-only mode,
    // whichever front end asked.
    if let Some(why) = config.read_only() {
        return Err(PlanError::ReadOnly {
            why,
            verb: action.verb().to_string(),
        });
    }
    let app_name = action.app();
    let Some(app) = config.fleet.apps.get(app_name) else {
        let declared: Vec<&str> = config.fleet.apps.keys().map(|a| a.as_str()).collect();
        let hint =
            match crate::config::names::did_you_mean(app_name.as_str(), declared.iter().copied()) {
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
    let all_hosts = |roles: &[RoleName]| {
        let mut hosts: Vec<HostName> = Vec::new();
        for r in roles {
            for h in config.role_hosts(app_name, r, dest) {
                if !hosts.contains(h) {
                    hosts.push(h.clone());
                }
            }
        }
        hosts
    };
    // The action's own pre-/post- triggers are always listed; the finer ones
    // (pre-build, pre-boot, ...) only when something implements them.
    let trigger_stage = |t: &str, hosts: &[HostName], on_failure: bool| Stage {
        name: t.to_string(),
        step: Step::Trigger {
            trigger: t.to_string(),
            run: triggers.for_trigger(t).to_vec(),
            on_failure,
        },
        hosts: hosts.to_vec(),
    };
    let trigger = |t: &str, hosts: &[HostName]| trigger_stage(t, hosts, false);
    let optional = |stages: &mut Vec<Stage>, t: &str, hosts: &[HostName], on_failure: bool| {
        if !triggers.for_trigger(t).is_empty() {
            stages.push(trigger_stage(t, hosts, on_failure));
        }
    };
    let stage = |name: &str, step: Step, hosts: &[HostName]| Stage {
        name: name.into(),
        step,
        hosts: hosts.to_vec(),
    };
    // Declared apps' primary roles always have a first host (config check).
    let Some(primary) = config.primary_host(app_name, dest) else {
        return Err(PlanError::UnknownRole {
            app: app_name.to_string(),
            role: app.primary_role.to_string(),
            roles: app
                .roles
                .keys()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let lock_host = vec![primary.clone()];
    let roles = role_order(app);
    let proxy = config.proxy(app_name, dest);
    let mut stages = vec![stage("lock", Step::Lock, &lock_host)];

    // Per group of `roles`: pre-boot, bring up (boot, reboot or start
    // retained), health gate, traffic, stop old, post-boot.
    let rollout = |roles: &[RoleName],
                   stages: &mut Vec<Stage>,
                   bring_up: &dyn Fn(Group) -> (String, Step)| {
        for role in roles {
            let groups = boot_groups(config.role_hosts(app_name, role, dest), app.boot.limit);
            let of = groups.len();
            for (i, hosts) in groups.into_iter().enumerate() {
                let group = Group {
                    role: role.clone(),
                    index: i + 1,
                    of,
                };
                let (verb, step) = bring_up(group.clone());
                optional(stages, "pre-boot", &hosts, false);
                stages.push(stage(&format!("{verb} {group}"), step, &hosts));
                stages.push(stage(
                    &format!("health gate {group}"),
                    Step::HealthGate {
                        group: group.clone(),
                    },
                    &hosts,
                ));
                // Only the proxied role has traffic to move and drain.
                if let Some(p) = proxy.as_ref().filter(|p| &p.role == role) {
                    stages.push(stage(
                        &format!("traffic {group}"),
                        Step::Traffic {
                            group: group.clone(),
                        },
                        &hosts,
                    ));
                    stages.push(stage(
                        &format!("drain {group}"),
                        Step::Drain {
                            group: group.clone(),
                            timeout: HumanDuration(p.drain_timeout),
                        },
                        &hosts,
                    ));
                }
                stages.push(stage(
                    &format!("stop old {group}"),
                    Step::StopOld {
                        group: group.clone(),
                    },
                    &hosts,
                ));
                optional(stages, "post-boot", &hosts, false);
            }
        }
    };
    // What every action but destroy ends with.
    let finish = |stages: &mut Vec<Stage>, post: &str, hosts: &[HostName]| {
        stages.push(trigger(post, hosts));
        stages.push(stage("restore", Step::Restore, hosts));
        optional(stages, "deploy-failed", hosts, true);
    };

    match action {
        Action::Deploy { version, .. } => {
            let hosts = all_hosts(&roles);
            let image = image_for(app_name, app, version);
            stages.push(trigger("pre-deploy", &hosts));
            optional(&mut stages, "pre-build", &hosts, false);
            stages.push(stage(
                "image",
                Step::Image {
                    image: image.clone(),
                },
                &hosts,
            ));
            optional(&mut stages, "post-build", &hosts, false);
            if let Some(release) = &app.release {
                let primary_host = primary.clone();
                optional(&mut stages, "pre-release", &hosts, false);
                let step = Step::ReleaseTask {
                    image: image.clone(),
                    command: release.command.0.clone(),
                };
                stages.push(stage("release task", step, &[primary_host]));
                optional(&mut stages, "post-release", &hosts, false);
            }
            rollout(&roles, &mut stages, &|group| {
                (
                    "boot".into(),
                    Step::Boot {
                        group,
                        image: image.clone(),
                    },
                )
            });
            stages.push(stage("prune", Step::Prune { retain: app.retain }, &hosts));
            finish(&mut stages, "post-deploy", &hosts);
        }
        Action::Restart { role, .. } => {
            let roles = match role {
                Some(r) if !app.roles.contains_key(r) => {
                    return Err(PlanError::UnknownRole {
                        app: app_name.to_string(),
                        role: r.to_string(),
                        roles: roles
                            .iter()
                            .map(|r| r.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
                Some(r) => vec![r.clone()],
                None => roles,
            };
            let hosts = all_hosts(&roles);
            stages.push(trigger("pre-restart", &hosts));
            rollout(&roles, &mut stages, &|group| {
                ("reboot".into(), Step::Reboot { group })
            });
            finish(&mut stages, "post-restart", &hosts);
        }
        Action::Rollback { version, .. } => {
            let hosts = all_hosts(&roles);
            stages.push(trigger("pre-deploy", &hosts));
            rollout(&roles, &mut stages, &|group| {
                (
                    "start retained".into(),
                    Step::StartRetained {
                        group,
                        version: version.clone(),
                    },
                )
            });
            finish(&mut stages, "post-deploy", &hosts);
        }
        Action::Destroy {
            confirm,
            purge_volumes,
            ..
        } => {
            if confirm != app_name.as_str() {
                return Err(PlanError::NotConfirmed {
                    app: app_name.to_string(),
                });
            }
            let hosts = all_hosts(&roles);
            stages.push(trigger("pre-destroy", &hosts));
            if let Some(p) = &proxy {
                let proxied = config.role_hosts(app_name, &p.role, dest);
                stages.push(stage("remove proxy config", Step::RemoveRoute, proxied));
            }
            stages.push(stage(
                "remove containers",
                Step::RemoveContainers {
                    purge_volumes: *purge_volumes,
                },
                &hosts,
            ));
            stages.push(stage("remove state", Step::RemoveState, &hosts));
            stages.push(trigger("post-destroy", &hosts));
        }
        Action::ProxySync { .. } => {
            let Some(p) = &proxy else {
                return Err(PlanError::NoProxy {
                    app: app_name.to_string(),
                    file: config.path.display().to_string(),
                });
            };
            let hosts = config.role_hosts(app_name, &p.role, dest).to_vec();
            let group = Group {
                role: p.role.clone(),
                index: 1,
                of: 1,
            };
            stages.push(stage(
                &format!("traffic {group}"),
                Step::Traffic { group },
                &hosts,
            ));
            stages.push(stage("restore", Step::Restore, &hosts));
        }
    }
    stages.push(stage("unlock", Step::Unlock, &lock_host));
    // Warnings only for implementations this plan runs.
    let warnings = triggers
        .problems
        .iter()
        .filter(|p| !p.error)
        .filter(|p| {
            stages
                .iter()
                .any(|s| matches!(&s.step, Step::Trigger { run, .. } if run.iter().any(|i| i.path == p.path)))
        })
        .map(ToString::to_string)
        .collect();
    Ok(Plan {
        action: action.clone(),
        app: app_name.clone(),
        destination: dest.cloned(),
        stages,
        warnings,
    })
}

#[cfg(test)]
mod tests;
