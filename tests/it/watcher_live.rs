//! The inventory watcher against the real engine: events are applied as
//! they happen, and a lost engine is noticed and reconnected.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth::hosts::Endpoint;
use berth::inventory::{Fleet, Inventory, Link, State, WatchOptions};
use bollard::query_parameters::StopContainerOptions;
use common::{Scope, Spec};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;

/// The inventory of this machine's engine, as host `local`.
fn local_inventory(opts: WatchOptions) -> Inventory {
    Inventory::start_hosts(
        vec![(
            "local".into(),
            Endpoint::Local {
                socket: common::socket(),
            },
        )],
        &berth::docker::Gateway::new(),
        opts,
    )
}

fn container_state(f: &Fleet, host: &str, id: &str) -> Option<State> {
    f.hosts[host].containers.get(id).map(|c| c.state)
}

#[tokio::test]
async fn stop_is_reflected_within_a_second() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let scope = Scope::new(docker).await;
    let name = scope.app("stopme");
    let id = scope
        .start(Spec::named("stopme").sleeper().berth(&name, "web", "v1"))
        .await;

    let inv = local_inventory(WatchOptions::default());
    inv.wait_for(Duration::from_secs(10), |f| {
        container_state(f, "local", &id) == Some(State::Running)
    })
    .await
    .expect("the running container appears in the inventory");

    scope
        .docker
        .stop_container(
            &id,
            Some(StopContainerOptions {
                t: Some(0),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let stopped = Instant::now();
    let f = inv
        .wait_for(Duration::from_secs(1), |f| {
            container_state(f, "local", &id) == Some(State::Exited)
        })
        .await
        .unwrap_or_else(|f| {
            panic!(
                "not seen as exited 1 s after the stop returned: {:?}",
                f.hosts["local"].containers.get(&id)
            )
        });
    eprintln!("stop seen after {:?}", stopped.elapsed());
    let c = &f.hosts["local"].containers[&id];
    assert_eq!(c.exit_code, Some(137), "killed by the stop with t=0");
    // The `kill` event's re-read may already show the exit; the `die` event
    // itself follows in the events list.
    let f = inv
        .wait_for(Duration::from_secs(1), |f| {
            f.events
                .iter()
                .any(|e| e.container_id == id && e.action == "die")
        })
        .await
        .expect("the die event is in the events list");
    let die = f
        .events
        .iter()
        .find(|e| e.container_id == id && e.action == "die")
        .unwrap();
    assert_eq!(die.detail.as_deref(), Some("exit code 137"));
    assert_eq!(die.app.as_deref(), Some(name.as_str()));

    // Removal is applied from the destroy event, without a re-list.
    scope.docker.remove_container(&id, None).await.unwrap();
    inv.wait_for(Duration::from_secs(1), |f| {
        container_state(f, "local", &id).is_none()
    })
    .await
    .expect("removed container leaves the inventory");
}

#[tokio::test]
async fn new_container_and_health_changes_arrive_as_events() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let inv = local_inventory(WatchOptions::default());
    inv.wait_for(Duration::from_secs(10), Fleet::settled)
        .await
        .expect("host syncs");
    let name = scope.app("late");
    let id = scope
        .start(Spec::named("late").berth(&name, "web", "v1"))
        .await;
    let f = inv
        .wait_for(Duration::from_secs(30), |f| {
            f.hosts["local"]
                .containers
                .get(&id)
                .is_some_and(|c| c.health == berth::inventory::Health::Healthy)
        })
        .await
        .expect("started container becomes healthy in the inventory");
    assert_eq!(
        f.hosts["local"].containers[&id].owner.app.as_deref(),
        Some(name.as_str())
    );
}

/// A unix-socket relay in front of the real engine, which the test can cut
/// to make the engine "go away" and bring back.
struct Relay {
    path: PathBuf,
    tasks: JoinSet<()>,
}

impl Relay {
    fn start(path: &Path) -> Relay {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                conns.spawn(async move {
                    if let Ok(mut outbound) = UnixStream::connect(common::socket()).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay {
            path: path.to_path_buf(),
            tasks,
        }
    }

    /// Drops every connection and the socket, as a dying daemon does.
    fn cut(mut self) {
        self.tasks.abort_all();
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test]
async fn lost_engine_is_marked_down_and_reconnects() {
    let Some(_docker) = common::docker().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("relay.sock");
    let relay = Relay::start(&sock);
    let inv = Inventory::start_hosts(
        vec![(
            "relayed".into(),
            Endpoint::Local {
                socket: sock.clone(),
            },
        )],
        &berth::docker::Gateway::new(),
        WatchOptions {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_millis(500),
            ..WatchOptions::default()
        },
    );
    inv.wait_for(Duration::from_secs(10), |f| {
        f.hosts["relayed"].link == Link::Up
    })
    .await
    .expect("connects through the relay");

    relay.cut();
    let f = inv
        .wait_for(Duration::from_secs(5), |f| {
            matches!(f.hosts["relayed"].link, Link::Down { .. })
        })
        .await
        .expect("a cut connection marks the host down");
    let Link::Down { reason, .. } = &f.hosts["relayed"].link else {
        unreachable!()
    };
    assert!(!reason.is_empty());
    eprintln!("down: {reason}");

    let _relay = Relay::start(&sock);
    inv.wait_for(Duration::from_secs(10), |f| {
        f.hosts["relayed"].link == Link::Up
    })
    .await
    .expect("reconnects by itself once the engine is back");
}

/// The console's mode: the engine's list is published before the inspects,
/// and the inspected containers then replace it, so nothing stays at the
/// list's partial view (no start time, no restart count).
#[tokio::test]
async fn list_first_is_followed_by_the_inspected_containers() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let scope = Scope::new(docker).await;
    let name = scope.app("lf");
    let id = scope
        .start(Spec::named("lf").sleeper().berth(&name, "web", "v1"))
        .await;
    let inv = local_inventory(WatchOptions {
        list_first: true,
        ..WatchOptions::default()
    });
    let f = inv
        .wait_for(Duration::from_secs(10), |f| {
            f.hosts["local"]
                .containers
                .get(&id)
                .is_some_and(|c| c.started_at.is_some())
        })
        .await
        .unwrap_or_else(|f| {
            panic!(
                "the inspected container never replaced the listed one: {:?}",
                f.hosts["local"].containers.get(&id)
            )
        });
    let c = &f.hosts["local"].containers[&id];
    assert_eq!(c.state, State::Running);
    assert_eq!(c.owner.app.as_deref(), Some(name.as_str()));
    let engine = f.hosts["local"].engine.as_ref().expect("engine info");
    assert!(!engine.version.is_empty() && engine.version != "unknown");
    assert!(
        engine.api_version.starts_with("1."),
        "{}",
        engine.api_version
    );
    assert_ne!(engine.arch, "x86_64", "shown as docker version shows it");
}
