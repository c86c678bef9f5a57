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
