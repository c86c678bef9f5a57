//! The container label convention, in one place.
//!
//! Everything that creates or filters containers goes through here, so the
//! engine, the inventory and the tests cannot drift apart. Containers of
//! other tools are recognised read-only from their own conventions (see
//! `../shared/field-notes.md`): Kamal (`service`, `role`, `destination`),
//! Dokku (`com.dokku.*`) and Docker Compose (`com.docker.compose.project`
//! and `.service`: the project is the app, the service the role).
//!
//! Owns: label names and parsing. Must not import anything of berth.
//! The layering is checked by a test (`src/layers.rs`).

use std::collections::HashMap;

use serde::Serialize;

pub const APP: &str = "berth.app";
pub const ROLE: &str = "berth.role";
pub const VERSION: &str = "berth.version";
/// May be empty: the app's default destination.
pub const DESTINATION: &str = "berth.destination";
pub const MANAGED: &str = "berth.managed";
/// Set on task containers (release tasks and the like) only.
pub const PHASE: &str = "berth.phase";
/// The configured host a container was started for. Two configured hosts
/// may share one engine (a test rig, two SSH routes to one machine); this
/// keeps "the web container on host b" exact.
pub const HOST: &str = "berth.host";
/// The run that created a container: a container whose run left no record
/// and holds no lock was left by a run that died (an orphan).
pub const RUN: &str = "berth.run";

const KAMAL_SERVICE: &str = "service";
const KAMAL_ROLE: &str = "role";
const KAMAL_DESTINATION: &str = "destination";
const KAMAL_PROXY_NAME: &str = "kamal-proxy";
const DOKKU_APP: &str = "com.dokku.app-name";
const DOKKU_PROCESS: &str = "com.dokku.process-type";
const DOKKU_CONTAINER_TYPE: &str = "com.dokku.container-type";
const DOKKU_PHASE: &str = "dokku_phase_script";
pub const COMPOSE_PROJECT: &str = "com.docker.compose.project";
const COMPOSE_SERVICE: &str = "com.docker.compose.service";
/// Set on the one-off containers of `docker compose run`.
const COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
/// `db:service_started:false,redis:service_healthy:true`: the services a
/// service waits for, as Compose writes them.
const COMPOSE_DEPENDS_ON: &str = "com.docker.compose.depends_on";

/// Where a container sits in its Compose project, by Compose's labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComposePlace {
    pub service: String,
    /// The services it depends on, by name.
    pub depends_on: Vec<String>,
    /// Started by `docker compose run`, not by `up`.
    pub oneoff: bool,
}

impl ComposePlace {
    pub fn of(labels: &HashMap<String, String>) -> ComposePlace {
        ComposePlace {
            service: labels.get(COMPOSE_SERVICE).cloned().unwrap_or_default(),
            depends_on: labels
                .get(COMPOSE_DEPENDS_ON)
                .map(|d| {
                    d.split(',')
                        .filter_map(|e| e.split(':').next())
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default(),
            oneoff: labels
                .get(COMPOSE_ONEOFF)
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }
}

/// The engine's filter for everything of Compose project `project`.
pub fn compose_project_filter(project: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{COMPOSE_PROJECT}={project}")],
    )])
}

/// The labels berth puts on a container it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BerthLabels {
    pub app: String,
    pub role: String,
    pub version: String,
    pub destination: String,
    pub phase: Option<String>,
    /// The configured host name; empty when not started by the engine.
    pub host: String,
    /// The run that created it; empty when not started by the engine.
    pub run: String,
}

impl BerthLabels {
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut m = HashMap::from([
            (APP.to_string(), self.app.clone()),
            (ROLE.to_string(), self.role.clone()),
            (VERSION.to_string(), self.version.clone()),
            (DESTINATION.to_string(), self.destination.clone()),
            (MANAGED.to_string(), "true".to_string()),
        ]);
        if let Some(phase) = &self.phase {
            m.insert(PHASE.to_string(), phase.clone());
        }
        if !self.host.is_empty() {
            m.insert(HOST.to_string(), self.host.clone());
        }
        if !self.run.is_empty() {
            m.insert(RUN.to_string(), self.run.clone());
        }
        m
    }
}

/// Whether a container berth started for `started_for` (its `berth.host`)
/// belongs to another configured host than `host`: two configured hosts
/// may share one engine, and each shows and removes only its own. A label
/// naming no configured host (one renamed away) does not hide it.
pub fn started_for_another(
    started_for: Option<&str>,
    host: &str,
    configured: impl Fn(&str) -> bool,
) -> bool {
    started_for.is_some_and(|h| h != host && configured(h))
}

/// Selects berth containers by label. Destination is always exact (empty
/// included), so a staging container never passes a production gate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    pub app: String,
    pub destination: String,
    pub role: Option<String>,
    pub version: Option<String>,
    pub host: Option<String>,
}

impl Selector {
    pub fn labels(&self) -> Vec<String> {
        let mut labels = vec![
            format!("{MANAGED}=true"),
            format!("{APP}={}", self.app),
            format!("{DESTINATION}={}", self.destination),
        ];
        for (key, value) in [
            (ROLE, &self.role),
            (VERSION, &self.version),
            (HOST, &self.host),
        ] {
            if let Some(v) = value {
                labels.push(format!("{key}={v}"));
            }
        }
        labels
    }

    /// The filter map for Docker's list and events calls.
    pub fn filters(&self) -> HashMap<String, Vec<String>> {
        HashMap::from([("label".to_string(), self.labels())])
    }

    /// `berth.app=demo berth.destination= ...`, for error messages.
    pub fn describe(&self) -> String {
        self.labels().join(" ")
    }
}

/// Which tool runs a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Berth,
    Kamal,
    Dokku,
    Compose,
    Unmanaged,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Berth => "berth",
            Source::Kamal => "kamal",
            Source::Dokku => "dokku",
            Source::Compose => "compose",
            Source::Unmanaged => "unmanaged",
        }
    }

    /// Containers of other tools are shown, never changed.
    pub fn read_only(self) -> bool {
        !matches!(self, Source::Berth)
    }
}

/// What a container's labels say about who runs it and as what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Owner {
    pub source: Source,
    /// App (Kamal: service); `None` for unmanaged containers.
    pub app: Option<String>,
    pub role: Option<String>,
    pub version: Option<String>,
    /// Empty for the default destination.
    pub destination: String,
    /// Set for task containers (release task, Dokku run/cron, ...).
    pub phase: Option<String>,
    /// The configured host berth started it for (`berth.host`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The berth run that created it (`berth.run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

impl Owner {
    pub fn unmanaged() -> Self {
        Owner {
            source: Source::Unmanaged,
            app: None,
            role: None,
            version: None,
            destination: String::new(),
            phase: None,
            host: None,
            run: None,
        }
    }

    /// Recognises a container from its name (without the leading `/`) and labels.
    pub fn classify(name: &str, labels: &HashMap<String, String>) -> Owner {
        let get = |k: &str| labels.get(k).filter(|v| !v.is_empty()).cloned();
        if labels.get(MANAGED).is_some_and(|v| v == "true")
            && let Some(app) = get(APP)
        {
            return Owner {
                source: Source::Berth,
                app: Some(app),
                role: get(ROLE),
                version: get(VERSION),
                destination: get(DESTINATION).unwrap_or_default(),
                phase: get(PHASE),
                host: get(HOST),
                run: get(RUN),
            };
        }
        if let Some(app) = get(DOKKU_APP) {
            let container_type = get(DOKKU_CONTAINER_TYPE);
            let phase = get(DOKKU_PHASE).or(container_type.filter(|t| t != "deploy"));
            return Owner {
                source: Source::Dokku,
                app: Some(app),
                role: get(DOKKU_PROCESS),
                version: None,
                destination: String::new(),
                phase,
                host: None,
                run: None,
            };
        }
        // Before Kamal's plain `service` label, which a Compose file may
        // also set: Compose's own labels are the sure sign.
        if let Some(project) = get(COMPOSE_PROJECT) {
            return Owner {
                source: Source::Compose,
                app: Some(project),
                role: get(COMPOSE_SERVICE),
                version: None,
                destination: String::new(),
                phase: labels
                    .get(COMPOSE_ONEOFF)
                    .is_some_and(|v| v == "True")
                    .then(|| "run".to_string()),
                host: None,
                run: None,
            };
        }
        if let Some(service) = get(KAMAL_SERVICE) {
            let role = get(KAMAL_ROLE);
            let destination = get(KAMAL_DESTINATION).unwrap_or_default();
            // App containers: `<service>-<role>[-<destination>]-<version>`.
            // Accessories: `<service>-<accessory>`, labelled with service only.
            let (role, version) = match role {
                Some(role) => {
                    let mut prefix = format!("{service}-{role}-");
                    if !destination.is_empty() {
                        prefix.push_str(&destination);
                        prefix.push('-');
                    }
                    let version = name.strip_prefix(&prefix).filter(|v| !v.is_empty());
                    (Some(role), version.map(str::to_string))
                }
                None => (
                    name.strip_prefix(&format!("{service}-"))
                        .map(|a| format!("accessory:{a}")),
                    None,
                ),
            };
            return Owner {
                source: Source::Kamal,
                app: Some(service),
                role,
                version,
                destination,
                phase: None,
                host: None,
                run: None,
            };
        }
        if name == KAMAL_PROXY_NAME {
            return Owner {
                source: Source::Kamal,
                app: Some(KAMAL_PROXY_NAME.to_string()),
                role: Some("proxy".into()),
                version: None,
                destination: String::new(),
                phase: None,
                host: None,
                run: None,
            };
        }
        Owner::unmanaged()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn berth_labels_round_trip() {
        let l = BerthLabels {
            app: "demo".into(),
            role: "web".into(),
            version: "v2".into(),
            destination: String::new(),
            phase: None,
            host: "a".into(),
            run: String::new(),
        };
        assert_eq!(l.to_map()[HOST], "a");
        let o = Owner::classify("demo-web-v2", &l.to_map());
        assert_eq!(o.source, Source::Berth);
        assert_eq!(o.app.as_deref(), Some("demo"));
        assert_eq!(o.role.as_deref(), Some("web"));
        assert_eq!(o.version.as_deref(), Some("v2"));
        assert_eq!(o.destination, "");
        assert_eq!(o.phase, None);
        let task = BerthLabels {
            phase: Some("release".into()),
            ..l
        };
        assert_eq!(
            Owner::classify("x", &task.to_map()).phase.as_deref(),
            Some("release")
        );
    }

    #[test]
    fn selector_is_exact_on_destination() {
        let s = Selector {
            app: "demo".into(),
            role: Some("web".into()),
            version: Some("v2".into()),
            host: Some("a".into()),
            ..Default::default()
        };
        let l = &s.filters()["label"];
        assert!(l.contains(&"berth.destination=".to_string()));
        assert!(l.contains(&"berth.version=v2".to_string()));
        assert!(l.contains(&"berth.managed=true".to_string()));
        assert_eq!(
            s.describe(),
            "berth.managed=true berth.app=demo berth.destination= berth.role=web berth.version=v2 berth.host=a"
        );
    }

    #[test]
    fn kamal_app_accessory_and_proxy() {
        let o = Owner::classify(
            "shop-web-staging-abc123",
            &labels(&[
                ("service", "shop"),
                ("role", "web"),
                ("destination", "staging"),
            ]),
        );
        assert_eq!(o.source, Source::Kamal);
        assert_eq!(o.app.as_deref(), Some("shop"));
        assert_eq!(o.role.as_deref(), Some("web"));
        assert_eq!(o.destination, "staging");
        assert_eq!(o.version.as_deref(), Some("abc123"));
        let o = Owner::classify(
            "shop-web-abc123",
            &labels(&[("service", "shop"), ("role", "web"), ("destination", "")]),
        );
        assert_eq!(o.version.as_deref(), Some("abc123"));
        let o = Owner::classify("shop-db", &labels(&[("service", "shop")]));
        assert_eq!(o.role.as_deref(), Some("accessory:db"));
        let o = Owner::classify("kamal-proxy", &HashMap::new());
        assert_eq!(
            (o.source, o.role.as_deref()),
            (Source::Kamal, Some("proxy"))
        );
    }

    #[test]
    fn dokku_deploy_and_run_containers() {
        let o = Owner::classify(
            "blog.web.1",
            &labels(&[
                ("com.dokku.app-name", "blog"),
                ("com.dokku.process-type", "web"),
                ("com.dokku.container-type", "deploy"),
            ]),
        );
        assert_eq!(
            (o.source, o.app.as_deref(), o.role.as_deref()),
            (Source::Dokku, Some("blog"), Some("web"))
        );
        assert_eq!(o.phase, None);
        let o = Owner::classify(
            "blog.run.1",
            &labels(&[
                ("com.dokku.app-name", "blog"),
                ("com.dokku.container-type", "run"),
            ]),
        );
        assert_eq!(o.phase.as_deref(), Some("run"));
    }

    #[test]
    fn compose_projects_are_apps_and_services_roles() {
        let labels = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        let o = Owner::classify(
            "shop-web-1",
            &labels(&[
                ("com.docker.compose.project", "shop"),
                ("com.docker.compose.service", "web"),
                // A Compose file's own `service` label does not make it Kamal's.
                ("service", "something"),
            ]),
        );
        assert_eq!(o.source, Source::Compose);
        assert_eq!(
            (o.app.as_deref(), o.role.as_deref()),
            (Some("shop"), Some("web"))
        );
        assert_eq!(o.phase, None);
        assert!(o.source.read_only());
        let run = Owner::classify(
            "shop-web-run-1",
            &labels(&[
                ("com.docker.compose.project", "shop"),
                ("com.docker.compose.service", "web"),
                ("com.docker.compose.oneoff", "True"),
            ]),
        );
        assert_eq!(run.phase.as_deref(), Some("run"));
    }

    #[test]
    fn anything_else_is_unmanaged() {
        assert_eq!(
            Owner::classify("postgres", &labels(&[("maintainer", "x")])),
            Owner::unmanaged()
        );
        // A berth.app label without berth.managed is not ours.
        assert_eq!(
            Owner::classify("x", &labels(&[("berth.app", "demo")])).source,
            Source::Unmanaged
        );
    }
}
