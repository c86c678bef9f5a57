//! `berth container ...` on containers berth did not start: a stray and
//! a Compose service are acted on through the engine once confirmed (the
//! refusal without a terminal names the owner and what it will do), each
//! recorded in the host's history; a berth app's container runs as an
//! action of its app, refused behind its manual lock.

use crate::common::{self, Spec};
use std::path::Path;
use std::process::Output;

fn berth(dir: &Path, args: &[&str]) -> Output {
    common::berth()
        .arg("-c")
        .arg(dir.join("berth.yaml"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// A config of the local engine alone, declaring no app, with its state
/// directory beside it.
fn local_only() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        format!(
            "version: 2\nhosts:\n  local: {{state_dir: {}}}\napps: {{}}\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    dir
}

fn said(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_container_is_restarted_stopped_and_removed_once_confirmed_and_recorded() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let docker = common::docker().await.unwrap();
    let stray_id = scope.start(Spec::named("stray").sleeper()).await;
    let stray = format!("berth-t{}-stray", scope.id);
    let project = scope.app("cproj");
    scope
        .start(
            Spec::named("cweb")
                .sleeper()
                .label("com.docker.compose.project", &project)
                .label("com.docker.compose.service", "web"),
        )
        .await;
    let compose = format!("berth-t{}-cweb", scope.id);
    let dir = local_only();
    let started = |id: String| {
        let docker = docker.clone();
        async move {
            let c = docker.inspect_container(&id, None).await.unwrap();
            let s = c.state.unwrap();
            (s.running.unwrap_or(false), s.started_at.unwrap_or_default())
        }
    };

    // Without a terminal and without --yes: nothing done, and it says whose
    // the container is and what that owner will do.
    let out = berth(dir.path(), &["container", "stop", &compose]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains(&format!("Compose project {project}"))
            && said(&out).contains("`docker compose up` starts the service again")
            && said(&out).contains("give --yes"),
        "{}",
        said(&out)
    );

    // Restart of the stray: a new start time.
    let (_, before) = started(stray_id.clone()).await;
    let out = berth(dir.path(), &["container", "restart", &stray, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let (running, after) = started(stray_id.clone()).await;
    assert!(running && after != before, "{before} → {after}");
    // The Compose service stopped.
    let out = berth(dir.path(), &["container", "stop", &compose, "-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let c = docker.inspect_container(&compose, None).await.unwrap();
    assert_eq!(c.state.unwrap().running, Some(false));
    // A running container is removed only with --force and its name.
    let out = berth(dir.path(), &["container", "rm", &stray, "-y"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let out = berth(
        dir.path(),
        &["container", "rm", &stray, "--force", "--confirm", "nope"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(docker.inspect_container(&stray, None).await.is_ok());
    let out = berth(
        dir.path(),
        &["container", "rm", &stray, "--force", "--confirm", &stray],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        docker.inspect_container(&stray, None).await.is_err(),
        "removed"
    );
    // A name no host has.
    let out = berth(
        dir.path(),
        &["container", "restart", "berth-no-such-container", "-y"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        said(&out).contains("no container `berth-no-such-container`"),
        "{}",
        said(&out)
    );

    // Each is in the host's history, with who did it and the owner.
    let out = berth(dir.path(), &["container", "history", "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(String, String)> = lines
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_string(),
                l["note"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(seen[0].0, "container-restart");
    assert!(
        seen[0].1.contains(&stray) && seen[0].1.contains("nobody berth knows"),
        "{seen:?}"
    );
    assert_eq!(seen[1].0, "container-stop");
    assert!(
        seen[1].1.contains(&format!("Compose project {project}")),
        "{seen:?}"
    );
    assert_eq!(seen[2].0, "container-remove");
    assert!(
        lines
            .iter()
            .all(|l| l["result"] == "ok" && l["host"] == "local")
    );

    // Read-only refuses them all.
    let out = common::berth()
        .arg("-c")
        .arg(dir.path().join("berth.yaml"))
        .args(["--read-only", "container", "start", &compose, "-y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "refused: {}", said(&out));
    assert!(said(&out).contains("read-only"), "{}", said(&out));
}

/// A berth app's container: an action of its app (stages, its lock),
/// refused while a manual lock holds the app.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_berth_apps_container_goes_through_its_app_and_its_lock() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app =
        common::app::App::with_v1(scope, "cnt", "      web: {hosts: [a], port: 8080}\n").await;
    let name = app.running("web").await[0].names.as_ref().unwrap()[0]
        .trim_start_matches('/')
        .to_string();
    let restart = || {
        common::berth()
            .arg("-c")
            .arg(&app.config.path)
            .args(["container", "restart", &name, "-y"])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    app.lock_by_hand("maintenance").await;
    let out = restart();
    assert_ne!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("maintenance"), "{}", said(&out));
    app.unlock_by_hand().await;
    let out = restart();
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(
        said(&out).contains("lock"),
        "the app's stages ran: {}",
        said(&out)
    );
}

/// `berth container logs` on a container berth did not start: its stdout
/// on stdout, its stderr on stderr, an unknown name is exit 2; with `-f`
/// the log is followed through the container's restarts, each told with
/// the code it exited with, and Ctrl-C ends it with exit 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_containers_log_is_read_and_followed_through_its_restarts() {
    use std::io::{BufRead, BufReader};
    let Some(scope) = common::scope().await else {
        return;
    };
    scope
        .start(Spec {
            cmd: Some(vec![
                "sh".into(),
                "-c".into(),
                "echo \"out $(cat /proc/uptime)\"; echo \"err $(cat /proc/uptime)\" >&2; sleep 1; exit 3".into(),
            ]),
            no_healthcheck: true,
            restart_always: true,
            ..Spec::named("looper")
        })
        .await;
    let name = format!("berth-t{}-looper", scope.id);
    let dir = local_only();
    let out = berth(dir.path(), &["container", "logs", "nosuch-at-all"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));

    let mut child = common::berth()
        .arg("-c")
        .arg(dir.path().join("berth.yaml"))
        .args(["container", "logs", &name, "-f"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let collect = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let mut told = Vec::new();
    let mut errs = Vec::new();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in stderr.by_ref().map_while(Result::ok) {
        if line.starts_with("── ") {
            assert!(
                line.contains(&format!("── {name}: exited with 3; restarted")),
                "{line}"
            );
            told.push(line);
            if told.len() == 2 {
                break;
            }
        } else {
            errs.push(line);
        }
    }
    // stderr stays open and read until berth ends: a pipe closed under it
    // is exit 141 (a reader gone), not what this test asks about.
    let rest = std::thread::spawn(move || stderr.map_while(Result::ok).collect::<Vec<String>>());
    // Ctrl-C: the end of following, exit 0.
    let rc = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let outs = collect.join().unwrap();
    errs.extend(
        rest.join()
            .unwrap()
            .into_iter()
            .filter(|l| !l.starts_with("── ")),
    );
    assert!(
        outs.iter().all(|l| l.starts_with("out ")) && outs.len() >= 2,
        "stdout has the container's stdout: {outs:?}"
    );
    assert!(
        errs.iter().all(|l| l.starts_with("err ")) && errs.len() >= 2,
        "stderr has its stderr: {errs:?}"
    );
    // Each run's line once: a restart does not repeat the log.
    let mut unique = outs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), outs.len(), "{outs:?}");
}

/// Removes a test's Compose project (its containers, then its network)
/// however the test ends.
struct ProjectGuard {
    project: String,
    network: String,
}

impl Drop for ProjectGuard {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            std::process::Command::new("docker")
                .args(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let filter = format!("label=com.docker.compose.project={}", self.project);
        for id in quiet(&["ps", "-aq", "--filter", &filter]).split_whitespace() {
            quiet(&["rm", "-f", id]);
        }
        quiet(&["network", "rm", &self.network]);
    }
}

/// `berth compose` on a project Compose started (its labels, its network;
/// no compose binary): restart restarts every service container, stop
/// stops them, start starts them, down removes them and the project's
/// network, each asked first and recorded once in the host's history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compose_project_is_restarted_stopped_started_and_taken_down_as_one() {
    use bollard::query_parameters::InspectContainerOptions;
    let Some(scope) = common::scope().await else {
        return;
    };
    let docker = common::docker().await.unwrap();
    let project = scope.app("proj");
    let network = format!("{project}_default");
    let created = docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: network.clone(),
            labels: Some(std::collections::HashMap::from([
                ("com.docker.compose.project".to_string(), project.clone()),
                (
                    "com.docker.compose.network".to_string(),
                    "default".to_string(),
                ),
            ])),
            ..Default::default()
        })
        .await
        .unwrap();
    let _guard = ProjectGuard {
        project: project.clone(),
        network: created.id.clone(),
    };
    let mut ids = Vec::new();
    for (service, depends) in [("db", ""), ("web", "db:service_started:false")] {
        // Ends at once on SIGTERM (a plain `sleep` as pid 1 ignores it).
        let mut spec = Spec::named(&format!("proj-{service}"))
            .sleeper()
            .label("com.docker.compose.project", &project)
            .label("com.docker.compose.service", service);
        spec.cmd = Some(
            ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
                .map(String::from)
                .to_vec(),
        );
        if !depends.is_empty() {
            spec = spec.label("com.docker.compose.depends_on", depends);
        }
        let id = scope.start(spec).await;
        docker
            .connect_network(
                &network,
                bollard::models::NetworkConnectRequest {
                    container: id.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        ids.push(id);
    }
    // A stranger of another project is never touched.
    let other = scope
        .start(
            Spec::named("other-web")
                .sleeper()
                .label("com.docker.compose.project", &scope.app("other"))
                .label("com.docker.compose.service", "web"),
        )
        .await;
    let state = |id: String| {
        let docker = docker.clone();
        async move {
            let c = docker
                .inspect_container(&id, None::<InspectContainerOptions>)
                .await
                .ok()?;
            let s = c.state?;
            Some((s.running.unwrap_or(false), s.started_at.unwrap_or_default()))
        }
    };
    let dir = local_only();

    // No terminal, no --yes: nothing done, and it says what it would do.
    let out = berth(dir.path(), &["compose", "stop", &project]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(
        said(&out).contains("2 containers (db, web)") && said(&out).contains("--yes"),
        "{}",
        said(&out)
    );
    assert_eq!(state(ids[0].clone()).await.map(|s| s.0), Some(true));

    let before = (state(ids[0].clone()).await, state(ids[1].clone()).await);
    let out = berth(dir.path(), &["compose", "restart", &project, "-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    for (id, was) in ids.iter().zip([before.0, before.1]) {
        let now = state(id.clone()).await.unwrap();
        assert!(
            now.0 && Some(&now.1) != was.as_ref().map(|w| &w.1),
            "{now:?} {was:?}"
        );
    }
    let out = berth(dir.path(), &["compose", "stop", &project, "-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    for id in &ids {
        assert_eq!(state(id.clone()).await.map(|s| s.0), Some(false));
    }
    let out = berth(dir.path(), &["compose", "start", &project, "-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    for id in &ids {
        assert_eq!(state(id.clone()).await.map(|s| s.0), Some(true));
    }
    // down: its name typed again, or nothing.
    let out = berth(dir.path(), &["compose", "down", &project, "-y"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let out = berth(
        dir.path(),
        &["compose", "down", &project, "--confirm", "nope"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(state(ids[0].clone()).await.is_some());
    let out = berth(
        dir.path(),
        &["compose", "down", &project, "--confirm", &project],
    );
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    for id in &ids {
        assert!(state(id.clone()).await.is_none(), "{id} removed");
    }
    assert!(
        docker
            .inspect_network(
                &created.id,
                None::<bollard::query_parameters::InspectNetworkOptions>
            )
            .await
            .is_err(),
        "the project's network is removed"
    );
    assert_eq!(
        state(other).await.map(|s| s.0),
        Some(true),
        "the other project runs on"
    );
    // Gone now: a clear error.
    let out = berth(dir.path(), &["compose", "restart", &project, "-y"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    assert!(said(&out).contains("no Compose project"), "{}", said(&out));

    let out = berth(dir.path(), &["container", "history", "--json"]);
    let actions: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["app"] == project.as_str())
        .map(|l| {
            format!(
                "{} {}",
                l["action"].as_str().unwrap(),
                l["result"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            "compose-restart ok",
            "compose-stop ok",
            "compose-start ok",
            "compose-down ok"
        ]
    );
    // Read-only refuses.
    let out = common::berth()
        .arg("-c")
        .arg(dir.path().join("berth.yaml"))
        .args(["--read-only", "compose", "restart", &project, "-y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
}
