//! One test app for engine tests: its config on disk, and how to run
//! actions on it and look at what they left.

use berth::config::{AppName, Config};
use berth::engine::{self, Action, EngineEvent, Outcome, RunResult, Version};
use berth::labels::Selector;
use bollard::models::{ContainerSummary, ContainerSummaryStateEnum};
use tokio_util::sync::CancellationToken;

use super::Scope;

/// One test app: its config on disk, and how to run actions on it.
pub struct App {
    pub scope: Scope,
    pub name: String,
    pub dir: tempfile::TempDir,
    pub config: Config,
}

impl App {
    /// `roles` is the YAML of the `roles:` map; `extra` more app keys.
    pub async fn new(scope: Scope, base: &str, roles: &str, extra: &str) -> App {
        App::with_host_a(scope, base, "", roles, extra).await
    }

    /// [`App::new`] with more keys for host `a` (`, nginx: {...}`).
    pub async fn with_host_a(
        scope: Scope,
        base: &str,
        host_a: &str,
        roles: &str,
        extra: &str,
    ) -> App {
        App::with_hosts(scope, base, [host_a, ""], roles, extra).await
    }

    /// [`App::new`] with more keys for hosts `a` and `b` (`, ssh: {...}`).
    pub async fn with_hosts(
        scope: Scope,
        base: &str,
        [host_a, host_b]: [&str; 2],
        roles: &str,
        extra: &str,
    ) -> App {
        let name = scope.app(base);
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "version: 2\nhosts:\n  a: {{state_dir: {d}/a{host_a}}}\n  b: {{state_dir: {d}/b{host_b}}}\napps:\n  {name}:\n    image: {name}:latest\n    roles:\n{roles}    stop_timeout: 1s\n    deploy_timeout: 20s\n    min_uptime: 1s\n{extra}",
            d = dir.path().display()
        );
        let path = dir.path().join("berth.yaml");
        std::fs::write(&path, yaml).unwrap();
        let config = berth::config::load(&path).unwrap();
        App {
            scope,
            name,
            dir,
            config,
        }
    }

    pub fn app(&self) -> AppName {
        AppName::new(&self.name).unwrap()
    }

    pub fn deploy(&self, v: &str) -> Action {
        Action::Deploy {
            app: self.app(),
            version: Version::new(v).unwrap(),
            destination: None,
        }
    }

    pub fn restart(&self, role: Option<&str>) -> Action {
        Action::Restart {
            app: self.app(),
            role: role.map(|r| berth::config::RoleName::new(r).unwrap()),
            destination: None,
        }
    }

    /// Destroy, confirmed with the app's name.
    pub fn destroy(&self, purge_volumes: bool) -> Action {
        Action::Destroy {
            app: self.app(),
            destination: None,
            confirm: self.name.clone(),
            purge_volumes,
        }
    }

    /// Back to `v`, or (`None`) to the newest retained version not running.
    pub fn rollback(&self, v: Option<&str>) -> Action {
        Action::Rollback {
            app: self.app(),
            version: v.map(|v| Version::new(v).unwrap()),
            destination: None,
        }
    }

    pub async fn image(&self, v: &str, env: &[&str]) {
        self.scope.version_image(&self.name, v, env).await;
    }

    /// Runs an action; `cancel_at` cancels when a stage of that name starts.
    pub async fn run(
        &self,
        action: Action,
        cancel_at: Option<&str>,
    ) -> (RunResult, Vec<EngineEvent>) {
        let cancel = CancellationToken::new();
        let cancel_at = cancel_at.map(str::to_string);
        let on_event = {
            let cancel = cancel.clone();
            move |e: &EngineEvent| {
                if let (Some(at), EngineEvent::StageStarted { name, .. }) = (&cancel_at, e)
                    && name == at
                {
                    cancel.cancel();
                }
            }
        };
        self.run_observed(action, cancel, on_event).await
    }

    /// Runs an action, showing each event to `on_event` as it comes.
    pub async fn run_observed(
        &self,
        action: Action,
        cancel: CancellationToken,
        mut on_event: impl FnMut(&EngineEvent) + Send + 'static,
    ) -> (RunResult, Vec<EngineEvent>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let plan = engine::plan(&self.config, &action).unwrap();
        let ctx = engine::RunContext::new(&self.config, self.scope.gateway.clone(), tx, cancel);
        let collect = tokio::spawn(async move {
            let mut events = Vec::new();
            while let Some(e) = rx.recv().await {
                on_event(&e);
                events.push(e);
            }
            events
        });
        let result = engine::run(ctx, &plan).await;
        (result, collect.await.unwrap())
    }

    /// [`App::new`] with v1 built and deployed (the deploy must succeed).
    pub async fn with_v1(scope: Scope, base: &str, roles: &str) -> App {
        let app = App::new(scope, base, roles, "").await;
        app.image("v1", &[]).await;
        let (r, events) = app.run(app.deploy("v1"), None).await;
        assert_eq!(r, RunResult::Ok, "deploying v1: {events:#?}");
        app
    }

    /// A manual lock on the app, as `berth lock acquire` takes it.
    pub async fn lock_by_hand(&self, message: &str) {
        engine::lock::acquire_manual(
            &self.config,
            self.scope.gateway.hosts(),
            &AppName::new(&self.name).unwrap(),
            None,
            message,
            &engine::Performer::current(),
        )
        .await
        .unwrap();
    }

    /// Releases [`App::lock_by_hand`]'s lock.
    pub async fn unlock_by_hand(&self) {
        engine::lock::release_manual(
            &self.config,
            self.scope.gateway.hosts(),
            &AppName::new(&self.name).unwrap(),
            None,
            false,
            &engine::Performer::current(),
        )
        .await
        .unwrap();
    }

    pub async fn containers(
        &self,
        role: Option<&str>,
        version: Option<&str>,
    ) -> Vec<ContainerSummary> {
        let sel = Selector {
            app: self.name.clone(),
            role: role.map(str::to_string),
            version: version.map(str::to_string),
            ..Default::default()
        };
        let mut list = self
            .scope
            .docker
            .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                filters: Some(sel.filters()),
                ..Default::default()
            }))
            .await
            .unwrap();
        list.sort_by_key(|c| std::cmp::Reverse(c.created.unwrap_or(0)));
        list
    }

    pub async fn running(&self, role: &str) -> Vec<ContainerSummary> {
        self.containers(Some(role), None)
            .await
            .into_iter()
            .filter(|c| c.state == Some(ContainerSummaryStateEnum::RUNNING))
            .collect()
    }
}

pub fn version_of(c: &ContainerSummary) -> &str {
    super::label(c, berth::labels::VERSION).unwrap_or("")
}

pub fn outcome<'a>(events: &'a [EngineEvent], stage: &str) -> Option<&'a Outcome> {
    events.iter().find_map(|e| match e {
        EngineEvent::StageFinished { name, outcome, .. } if name == stage => Some(outcome),
        _ => None,
    })
}

pub fn output(events: &[EngineEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::Output { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect()
}
