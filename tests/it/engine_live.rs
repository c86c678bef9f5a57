//! The engine against the real Docker engine: deploy, failed deploys that
//! leave the old version serving, release tasks, boot order, cancel,
//! restart, rollback and destroy.

use crate::common;

use std::time::{Duration, Instant};

use berth::engine::{self, Action, EngineEvent, Outcome, Performer, RunResult};
use berth::inventory::{Health, Inventory, State, WatchOptions};
use bollard::models::ContainerSummaryStateEnum;
use common::Scope;
use common::app::{App, outcome, output, version_of};

const WEB: &str = "      web: {hosts: [a], port: 8080}\n";

#[tokio::test]
async fn deploy_v1_then_v2_keeps_v1_retained() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "dep", WEB, "").await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;

    let (r, _) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok);
    let (r, events) = app.run(app.deploy("v2"), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    assert_eq!(
        outcome(&events, "health gate web [1/1]"),
        Some(&Outcome::Ok)
    );

    let running = app.running("web").await;
    assert_eq!(running.len(), 1);
    assert_eq!(version_of(&running[0]), "v2");
    let id = running[0].id.clone().unwrap();
    assert_eq!(
        app.scope
            .exec(&id, &["wget", "-q", "-O-", "http://127.0.0.1:8080/version"])
            .await
            .trim(),
        "v2"
    );
    let all = app.containers(Some("web"), None).await;
    let v1: Vec<_> = all.iter().filter(|c| version_of(c) == "v1").collect();
    assert_eq!(v1.len(), 1, "v1 is retained");
    assert_eq!(v1[0].state, Some(ContainerSummaryStateEnum::EXITED));

    // status shows v2 serving.
    let out = common::berth()
        .args([
            "-c",
            app.config.path.to_str().unwrap(),
            "status",
            "--json",
            "--timeout",
            "60s",
            "--app",
            &app.name,
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let role = &json["hosts"][0]["apps"][0]["roles"][0];
    assert_eq!(role["serving"], 1, "{json:#}");
    let serving: Vec<_> = role["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["state"] == "running")
        .collect();
    assert_eq!(serving[0]["version"], "v2");

    // Both deploys are in the history, with who ran them.
    let state = berth::hosts::HostPath::local(app.dir.path().join("a"));
    let (records, _) = engine::history::read(&state, &app.name).await.unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| (r.version.clone().unwrap(), r.result.as_str()))
            .collect::<Vec<_>>(),
        [("v1".into(), "ok"), ("v2".into(), "ok")]
    );
    assert_eq!(records[0].performer, Performer::current());
}

/// `--log-file` keeps what a run did, line by line, each in its run's
/// span (id, app, action) and its stage's (name, hosts); with no flag a
/// deploy writes `$XDG_STATE_HOME/berth/berth.log` and `status` writes
/// nothing; a log path that cannot be opened is refused before anything
/// runs.
#[tokio::test]
async fn a_runs_log_says_each_stage_in_its_span_and_a_bad_log_path_is_refused() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "logf", WEB, "").await;
    app.image("v1", &[]).await;
    let config = app.config.path.to_str().unwrap().to_string();
    let log = app.dir.path().join("logs/berth.log");
    let out = common::berth()
        .arg("--log-file")
        .arg(&log)
        .args(["-c", &config, "deploy", &app.name, "-V", "v1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let run = format!("app={} action=deploy", app.name);
    for want in [
        format!("deploy {} v1 started", app.name),
        "stage{n=1 name=lock hosts=a}".to_string(),
        "name=boot web [1/1] hosts=a}".to_string(),
        "name=health gate web [1/1]".to_string(),
    ] {
        assert!(text.contains(&want), "{want} not in:\n{text}");
    }
    // Every line of the run is in its span; none carries a terminal escape.
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&run)).collect();
    assert!(lines.len() >= 10, "{text}");
    assert!(lines.iter().any(|l| l.contains("run{id=")), "{text}");
    assert!(!text.contains('\x1b'), "{text:?}");

    // No flag: a deploy writes the default log; status writes none.
    let state = app.dir.path().join("state-home");
    let default = |args: &[&str]| {
        common::berth()
            .env_remove("BERTH_LOG_FILE")
            .env("XDG_STATE_HOME", &state)
            .args(["-c", &config])
            .args(args)
            .output()
            .unwrap()
    };
    let out = default(&["status", "--timeout", "60s", "--app", &app.name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!state.exists(), "status wrote a log");
    let out = default(&["restart", &app.name]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(state.join("berth/berth.log")).unwrap();
    assert!(
        text.contains(&format!("app={} action=restart", app.name)),
        "{text}"
    );

    // A log that cannot be opened: said, and nothing runs.
    let file = app.dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let bad = file.join("berth.log");
    let out = common::berth()
        .arg("--log-file")
        .arg(&bad)
        .args(["-c", &config, "destroy", &app.name, "--confirm", &app.name])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains(&format!("the log file {}", bad.display())),
        "{said}"
    );
    assert_eq!(app.running("web").await.len(), 1, "the destroy never ran");
}

#[tokio::test]
async fn failing_health_gate_leaves_the_old_version_serving() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let app = App::new(Scope::new(docker).await, "bad", WEB, "").await;
    app.image("v2", &[]).await;
    app.image("v3", &["HEALTH=fail"]).await;
    assert_eq!(app.run(app.deploy("v2"), None).await.0, RunResult::Ok);
    let v2 = app.running("web").await[0].id.clone().unwrap();

    let (r, events) = app.run(app.deploy("v3"), None).await;
    let RunResult::Failed { stage, error, kind } = &r else {
        panic!("v3 should fail: {r:?}")
    };
    assert_eq!(stage, "health gate web [1/1]");
    assert_eq!(*kind, berth::engine::FailureKind::Failed);
    assert!(error.starts_with("host a: "), "{error}");
    assert!(error.contains("is unhealthy"), "{error}");
    assert!(error.contains(&format!("looked for: berth.managed=true berth.app={} berth.destination= berth.role=web berth.version=v3 berth.host=a", app.name)), "{error}");
    assert!(
        error.contains("found: ") && error.contains("unhealthy"),
        "{error}"
    );
    assert!(error.contains("last checks (newest first): exit 1: wget: server returned error: HTTP/1.1 404 Not Found"), "{error}");
    assert_eq!(outcome(&events, "restore"), Some(&Outcome::Ok));
    assert!(matches!(
        outcome(&events, "stop old web [1/1]"),
        Some(Outcome::Skipped { .. })
    ));

    // v2 still runs, healthy; no v3 container remains.
    let running = app.running("web").await;
    assert_eq!(running.len(), 1);
    assert_eq!(running[0].id.as_deref(), Some(v2.as_str()));
    let inspect = app.scope.docker.inspect_container(&v2, None).await.unwrap();
    assert_eq!(
        inspect.state.unwrap().health.unwrap().status,
        Some(bollard::models::HealthStatusEnum::HEALTHY)
    );
    assert!(app.containers(None, Some("v3")).await.is_empty());
}

#[tokio::test]
async fn failing_release_task_starts_nothing_and_leaves_no_task() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let extra =
        "    release: {command: [sh, -c, \"echo migrating; echo 'no such table' >&2; exit 3\"]}\n";
    let app = App::new(scope, "rel", WEB, extra).await;
    app.image("v1", &[]).await;
    let (r, events) = app.run(app.deploy("v1"), None).await;
    assert_eq!(
        r,
        RunResult::Failed {
            stage: "release task".into(),
            error: "host a: release task exited with code 3".into(),
            kind: berth::engine::FailureKind::Failed,
        }
    );
    let out = output(&events);
    assert!(
        out.contains(&"migrating".to_string()) && out.contains(&"no such table".to_string()),
        "{out:?}"
    );
    assert!(
        !events.iter().any(
            |e| matches!(e, EngineEvent::StageStarted { name, .. } if name.starts_with("boot"))
        )
    );
    assert!(
        app.containers(None, None).await.is_empty(),
        "no app or task container remains"
    );
    assert_eq!(
        outcome(&events, "restore"),
        Some(&Outcome::Skipped {
            reason: "nothing was changed".into()
        })
    );
}

#[tokio::test]
async fn boot_limit_one_two_roles_two_hosts_boots_web_first() {
    let Some(scope) = common::scope().await else {
        return;
    };
    // Hosts a and b are two configured hosts on the same engine: the
    // berth.host label keeps each gate on its own host's container.
    let roles = "      web: {hosts: [a, b], port: 8080}\n      worker: {hosts: [a, b], command: [sleep, \"3600\"], healthcheck: false}\n";
    let app = App::new(scope, "lim", roles, "    boot: {limit: 1}\n").await;
    app.image("v1", &[]).await;
    let (r, events) =
        tokio::time::timeout(Duration::from_secs(90), app.run(app.deploy("v1"), None))
            .await
            .expect("no deadlock: the deploy ends");
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    let boots: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::StageStarted { name, .. } if name.starts_with("boot") => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        boots,
        [
            "boot web [1/2]",
            "boot web [2/2]",
            "boot worker [1/2]",
            "boot worker [2/2]"
        ]
    );
    for role in ["web", "worker"] {
        let running = app.running(role).await;
        let mut hosts: Vec<&str> = running
            .iter()
            .map(|c| common::label(c, "berth.host").unwrap())
            .collect();
        hosts.sort();
        assert_eq!(hosts, ["a", "b"], "{role}");
    }
    // Each gate probed the container of its own host.
    for e in &events {
        if let EngineEvent::HealthProbe {
            host, container, ..
        } = e
        {
            let c = app
                .containers(None, None)
                .await
                .into_iter()
                .find(|c| &common::name(c) == container)
                .unwrap();
            assert_eq!(common::label(&c, "berth.host"), Some(host.as_str()));
        }
    }
}

#[tokio::test]
async fn cancel_mid_deploy_restores_the_old_version() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "can", WEB, "").await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    assert_eq!(app.run(app.deploy("v1"), None).await.0, RunResult::Ok);
    let v1 = app.running("web").await[0].id.clone().unwrap();

    let (r, events) = app
        .run(app.deploy("v2"), Some("health gate web [1/1]"))
        .await;
    assert_eq!(
        r,
        RunResult::Cancelled {
            stage: Some("health gate web [1/1]".into())
        },
        "{events:#?}"
    );
    assert_eq!(outcome(&events, "restore"), Some(&Outcome::Ok));
    let running = app.running("web").await;
    assert_eq!(
        running
            .iter()
            .map(|c| c.id.clone().unwrap())
            .collect::<Vec<_>>(),
        [v1]
    );
    assert!(
        app.containers(None, Some("v2")).await.is_empty(),
        "no v2 container is left"
    );
}

#[tokio::test]
async fn cancel_after_old_was_stopped_starts_it_again() {
    let Some(scope) = common::scope().await else {
        return;
    };
    // Two boot groups: cancel during the second, after group 1 stopped its
    // old container. Restore must start it again.
    let roles = "      web: {hosts: [a, b], port: 8080}\n";
    let app = App::new(scope, "can2", roles, "    boot: {limit: 1}\n").await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    assert_eq!(app.run(app.deploy("v1"), None).await.0, RunResult::Ok);
    let mut before: Vec<String> = app
        .running("web")
        .await
        .iter()
        .map(|c| c.id.clone().unwrap())
        .collect();
    before.sort();
    let (r, events) = app
        .run(app.deploy("v2"), Some("health gate web [2/2]"))
        .await;
    assert!(matches!(r, RunResult::Cancelled { .. }), "{r:?}");
    assert_eq!(outcome(&events, "stop old web [1/2]"), Some(&Outcome::Ok));
    let mut after: Vec<String> = app
        .running("web")
        .await
        .iter()
        .map(|c| c.id.clone().unwrap())
        .collect();
    after.sort();
    assert_eq!(after, before, "both v1 containers run again");
    assert!(app.containers(None, Some("v2")).await.is_empty());
}

#[tokio::test]
async fn restart_keeps_a_healthy_container_at_every_moment() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "rst", WEB, "").await;
    app.image("v1", &[]).await;
    assert_eq!(app.run(app.deploy("v1"), None).await.0, RunResult::Ok);
    let old = app.running("web").await[0].id.clone().unwrap();

    let inv = Inventory::start_hosts(
        vec![(
            "local".into(),
            berth::hosts::Endpoint::Local {
                socket: common::socket(),
            },
        )],
        &berth::docker::Gateway::new(),
        WatchOptions::default(),
    );
    let name = app.name.clone();
    let healthy = move |f: &berth::inventory::Fleet| {
        f.hosts["local"]
            .containers
            .values()
            .filter(|c| {
                c.owner.app.as_deref() == Some(name.as_str())
                    && c.owner.role.as_deref() == Some("web")
            })
            .filter(|c| c.state == State::Running && c.health == Health::Healthy)
            .count()
    };
    inv.wait_for(Duration::from_secs(10), |f| healthy(f) == 1)
        .await
        .expect("inventory sees v1 healthy");
    let healthy_now = healthy.clone();
    let mut rx = inv.subscribe();
    let watcher = tokio::spawn(async move {
        let mut min = usize::MAX;
        let mut changes = 0;
        while rx.changed().await.is_ok() {
            let n = healthy(&rx.borrow_and_update());
            min = min.min(n);
            changes += 1;
        }
        (min, changes)
    });
    let (r, events) = app.run(app.restart(Some("web")), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    // Until the model has seen the whole restart (the old container down,
    // the new one healthy), then stop watching.
    let done = {
        let old = old.clone();
        move |f: &berth::inventory::Fleet| {
            healthy_now(f) == 1
                && f.hosts["local"]
                    .containers
                    .get(&old)
                    .is_none_or(|c| c.state != State::Running)
        }
    };
    if let Err(f) = inv.wait_for(Duration::from_secs(30), done).await {
        panic!(
            "the model never showed the restart done within 30s: {:#?}",
            f.hosts["local"].containers.get(&old)
        );
    }
    drop(inv);
    let (min, changes) = watcher.await.unwrap();
    assert!(
        changes >= 3,
        "the watcher saw the restart ({changes} changes)"
    );
    assert!(min >= 1, "a moment with no healthy web container was seen");
    let now = app.running("web").await;
    assert_eq!(now.len(), 1);
    assert_ne!(
        now[0].id.as_deref(),
        Some(old.as_str()),
        "a fresh container serves"
    );
    assert_eq!(version_of(&now[0]), "v1");
}

#[tokio::test]
async fn rollback_brings_back_v1_through_the_gate() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "rb", WEB, "").await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    assert_eq!(app.run(app.deploy("v1"), None).await.0, RunResult::Ok);
    let v1 = app.running("web").await[0].id.clone().unwrap();
    assert_eq!(app.run(app.deploy("v2"), None).await.0, RunResult::Ok);

    let (r, events) = app.run(app.rollback(None), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    assert_eq!(
        outcome(&events, "health gate web [1/1]"),
        Some(&Outcome::Ok)
    );
    let running = app.running("web").await;
    assert_eq!(
        running
            .iter()
            .map(|c| c.id.clone().unwrap())
            .collect::<Vec<_>>(),
        [v1]
    );
    assert_eq!(version_of(&running[0]), "v1");

    // Nothing older than v1 is retained: a second rollback says so.
    let (r, _) = app.run(app.rollback(Some("v0")), None).await;
    let RunResult::Failed { error, .. } = r else {
        panic!("{r:?}")
    };
    assert!(
        error.contains("no retained container of version `v0`"),
        "{error}"
    );
    assert!(error.contains("running: v1; retained: v2"), "{error}");
}

#[tokio::test]
async fn destroy_needs_confirmation_and_keeps_volumes() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let scope = Scope::new(docker).await;
    let volume = format!("t{}-data", scope.id);
    let extra = format!("    volumes: [\"{volume}:/data\"]\n");
    let app = App::new(scope, "des", WEB, &extra).await;
    app.image("v1", &[]).await;
    assert_eq!(app.run(app.deploy("v1"), None).await.0, RunResult::Ok);
    assert_eq!(app.running("web").await.len(), 1);

    let wrong = Action::Destroy {
        app: app.app(),
        destination: None,
        confirm: "nope".into(),
        purge_volumes: false,
    };
    let e = engine::plan(&app.config, &wrong).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "destroy needs the app's name typed as confirmation: pass --confirm {}",
            app.name
        )
    );
    let out = common::berth()
        .args([
            "-c",
            app.config.path.to_str().unwrap(),
            "destroy",
            &app.name,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        app.running("web").await.len(),
        1,
        "a refused destroy changes nothing"
    );

    let out = common::berth()
        .args([
            "-c",
            app.config.path.to_str().unwrap(),
            "destroy",
            &app.name,
            "--confirm",
            &app.name,
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(app.containers(None, None).await.is_empty());
    app.scope
        .docker
        .inspect_volume(&volume)
        .await
        .expect("the named volume is kept");
}

#[tokio::test]
async fn cli_deploy_streams_json_events_and_sets_exit_codes() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "cli", WEB, "").await;
    app.image("v1", &[]).await;
    app.image("v2", &["HEALTH=fail"]).await;
    let cfg = app.config.path.to_str().unwrap().to_string();
    let out = common::berth()
        .args(["-c", &cfg, "deploy", &app.name, "-V", "v1", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert_eq!(lines[0]["event"], "plan_ready");
    assert_eq!(lines.last().unwrap()["event"], "finished");
    assert_eq!(lines.last().unwrap()["result"]["status"], "ok");

    let out = common::berth()
        .args(["-c", &cfg, "deploy", &app.name, "-V", "v2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("✗ [ 5/10] health gate web [1/1]"), "{text}");
    assert!(text.contains("FAILED at `health gate web [1/1]`"), "{text}");

    let out = common::berth()
        .args(["-c", &cfg, "history", &app.name])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" deploy  v1  ok "), "{text}");
    assert!(
        text.contains(" deploy  v2  failed ") && text.contains("at `health gate web [1/1]`"),
        "{text}"
    );
}

#[test]
fn plan_lists_stages_without_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "version: 2\nhosts: {a: {}}\napps:\n  demo:\n    image: demo:latest\n    roles: {web: {hosts: [a]}}\n    release: {command: [migrate]}\n";
    let out = common::berth_with_config(dir.path(), yaml, &["plan", "deploy", "demo", "-V", "v2"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("plan: deploy demo v2 (11 stages)"),
        "{text}"
    );
    assert!(text.contains(" 3. image"), "{text}");
    assert!(
        text.contains("(demo:v2: each host uses its copy, else pulls it)"),
        "{text}"
    );
    assert!(text.contains(" 4. release task"), "{text}");
}

#[tokio::test]
async fn ctrl_c_in_the_cli_cancels_safely() {
    use std::io::{BufRead, BufReader};
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "sig", WEB, "").await;
    app.image("v1", &[]).await;
    app.image("v2", &["HEALTH=fail"]).await;
    assert_eq!(app.run(app.deploy("v1"), None).await.0, RunResult::Ok);
    let v1 = app.running("web").await[0].id.clone().unwrap();

    let cfg = app.config.path.to_str().unwrap().to_string();
    let name = app.name.clone();
    let (code, text) = tokio::task::spawn_blocking(move || {
        let mut child = common::berth()
            .args(["-c", &cfg, "deploy", &name, "-V", "v2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut text = String::new();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            text.push_str(&line);
            text.push('\n');
            if line.contains("▶ [ 5/10] health gate web [1/1]") {
                let pid = child.id().to_string();
                assert!(
                    std::process::Command::new("kill")
                        .args(["-INT", &pid])
                        .status()
                        .unwrap()
                        .success()
                );
            }
        }
        (child.wait().unwrap().code(), text)
    })
    .await
    .unwrap();
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("CANCELLED after"), "{text}");
    assert!(text.contains("removed new"), "{text}");
    let running = app.running("web").await;
    assert_eq!(
        running
            .iter()
            .map(|c| c.id.clone().unwrap())
            .collect::<Vec<_>>(),
        [v1]
    );
    assert!(app.containers(None, Some("v2")).await.is_empty());
}

#[tokio::test]
async fn build_on_host_streams_output_and_prune_keeps_retain() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let name = scope.app("bld");
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    // The app's own build context, built on the host through the engine API.
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nLABEL berth.test={}\nARG GREETING\nRUN echo \"building with $GREETING\"\n",
            scope.image, scope.id
        ),
    )
    .unwrap();
    let yaml = format!(
        "version: 2\nhosts:\n  a: {{state_dir: {d}/a}}\napps:\n  {name}:\n    build: {{context: ctx, args: {{GREETING: hello}}}}\n    roles:\n{WEB}    stop_timeout: 1s\n    retain: 1\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("berth.yaml"), yaml).unwrap();
    let config = berth::config::load(&dir.path().join("berth.yaml")).unwrap();
    let app = App {
        scope,
        name,
        dir,
        config,
    };

    let (r, events) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    let out = output(&events);
    assert!(
        out.iter()
            .any(|l| l.starts_with("building ") && l.contains(&format!("{}:v1", app.name))),
        "{out:?}"
    );
    assert!(
        out.iter().any(|l| l.contains("building with hello")),
        "build output is streamed: {out:?}"
    );
    for v in ["v2", "v3"] {
        assert_eq!(app.run(app.deploy(v), None).await.0, RunResult::Ok);
    }
    let all = app.containers(Some("web"), None).await;
    let versions: Vec<(&str, bool)> = all
        .iter()
        .map(|c| {
            (
                version_of(c),
                c.state == Some(ContainerSummaryStateEnum::RUNNING),
            )
        })
        .collect();
    assert_eq!(
        versions,
        [("v3", true), ("v2", false)],
        "retain: 1 keeps one stopped version"
    );
}

#[tokio::test]
async fn destroy_with_purge_removes_named_volumes() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let scope = Scope::new(docker).await;
    let volume = format!("t{}-purge", scope.id);
    let extra = format!("    volumes: [\"{volume}:/data\"]\n");
    let app = App::new(scope, "pur", WEB, &extra).await;
    app.image("v1", &[]).await;
    assert_eq!(app.run(app.deploy("v1"), None).await.0, RunResult::Ok);
    app.scope
        .docker
        .inspect_volume(&volume)
        .await
        .expect("the deploy created the volume");
    let action = app.destroy(true);
    let (r, events) = app.run(action, None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    assert!(output(&events).contains(&format!("removed volume {volume}")));
    assert!(
        app.scope.docker.inspect_volume(&volume).await.is_err(),
        "purged"
    );
    assert!(app.containers(None, None).await.is_empty());
}

/// Engines before API 1.44 let two creates of one network name both
/// succeed; every later start on that name then fails as "ambiguous".
/// Concurrent callers must converge on a single network.
#[tokio::test]
async fn duplicate_networks_converge_to_one() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let scope = Scope::new(docker.clone()).await;
    let name = format!("{}-net", scope.app("dup"));
    let req = || bollard::models::NetworkCreateRequest {
        name: name.clone(),
        driver: Some("bridge".into()),
        ..Default::default()
    };
    docker.create_network(req()).await.unwrap();
    if docker.create_network(req()).await.is_err() {
        // This engine refuses duplicate names itself: nothing to converge.
        let _ = docker.remove_network(&name).await;
        return;
    }
    let racers = (0..4).map(|_| scope.engine.ensure_named_network(&name));
    let chosen: Vec<String> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let left: Vec<_> = docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.name.as_deref() == Some(name.as_str()))
        .collect();
    assert_eq!(left.len(), 1, "exactly one network named {name} is left");
    // Every racer joins its containers to that one, by id.
    let kept = left[0].id.clone().unwrap();
    assert!(chosen.iter().all(|id| *id == kept), "{chosen:?} vs {kept}");
    docker.remove_network(&name).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_names_the_version_it_starts_before_it_runs() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "rbn", "      web: {hosts: [a], port: 8080}\n", "").await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    for v in ["v1", "v2"] {
        let (r, events) = app.run(app.deploy(v), None).await;
        assert_eq!(
            r,
            RunResult::Ok,
            "{}",
            common::app::output(&events).join("\n")
        );
    }
    let cli = |args: &[&str]| {
        let o = common::berth()
            .arg("-c")
            .arg(&app.config.path)
            .args(args)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let plan = cli(&["plan", "rollback", &app.name]);
    assert!(
        plan.starts_with(&format!("plan: rollback {} v1 (", app.name)),
        "{plan}"
    );
    let run = cli(&["rollback", &app.name]);
    assert!(
        run.contains(&format!("rollback {} v1:", app.name)),
        "the run's header names it: {run}"
    );
    let running = app.running("web").await;
    assert_eq!(running.len(), 1);
    assert_eq!(common::app::version_of(&running[0]), "v1");
}

/// One container by hand: restart, stop, start and remove act on that
/// container alone, under the app's lock (a manual lock refuses them), and
/// each is a line in the app's history; a container of another app on the
/// same host is never found by name.
#[tokio::test]
async fn one_container_restarts_stops_starts_and_goes_under_the_lock() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::with_v1(
        scope,
        "one",
        "      web: {hosts: [a], port: 8080}\n      worker: {hosts: [a], port: 8080}\n",
    )
    .await;
    let web = app.running("web").await.remove(0);
    let (name, id) = (common::name(&web), web.id.clone().unwrap());
    let worker_id = app.running("worker").await[0].id.clone().unwrap();
    let act = |op: engine::ContainerOp| engine::Action::Container {
        app: berth::config::AppName::new(&app.name).unwrap(),
        destination: None,
        host: berth::config::HostName::new("a").unwrap(),
        container: name.clone(),
        op,
    };
    let started_at = |id: String| {
        let docker = app.scope.docker.clone();
        async move {
            let c = docker.inspect_container(&id, None).await.unwrap();
            let s = c.state.unwrap();
            (s.running.unwrap_or(false), s.started_at.unwrap_or_default())
        }
    };
    let (_, before) = started_at(id.clone()).await;
    let worker_before = started_at(worker_id.clone()).await;

    let (r, events) = app.run(act(engine::ContainerOp::Restart), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    let (running, after) = started_at(id.clone()).await;
    assert!(running && after != before, "restarted: {before} → {after}");
    assert_eq!(
        started_at(worker_id.clone()).await,
        worker_before,
        "the other role's container is untouched"
    );

    assert_eq!(
        app.run(act(engine::ContainerOp::Stop), None).await.0,
        RunResult::Ok
    );
    assert!(!started_at(id.clone()).await.0, "stopped");
    assert_eq!(
        app.run(act(engine::ContainerOp::Start), None).await.0,
        RunResult::Ok
    );
    assert!(started_at(id.clone()).await.0, "started");

    // Behind a manual lock: refused at the lock stage, nothing done.
    let app_name = berth::config::AppName::new(&app.name).unwrap();
    app.lock_by_hand("maintenance").await;
    let (r, _) = app.run(act(engine::ContainerOp::Remove), None).await;
    assert!(
        matches!(&r, RunResult::Failed { stage, kind: engine::FailureKind::Refused, .. } if stage == "lock"),
        "a refusal, as data: {r:?}"
    );
    assert!(started_at(id.clone()).await.0, "still there and running");
    app.unlock_by_hand().await;

    assert_eq!(
        app.run(act(engine::ContainerOp::Remove), None).await.0,
        RunResult::Ok
    );
    assert!(
        app.scope.docker.inspect_container(&id, None).await.is_err(),
        "removed"
    );
    // A name that is not one of the app's containers is not found.
    let (r, _) = app
        .run(
            engine::Action::Container {
                app: app_name.clone(),
                destination: None,
                host: berth::config::HostName::new("a").unwrap(),
                container: "not-an-app-container".into(),
                op: engine::ContainerOp::Stop,
            },
            None,
        )
        .await;
    assert!(
        matches!(&r, RunResult::Failed { error, .. } if error.contains("no container `not-an-app-container`")),
        "{r:?}"
    );

    let state = berth::hosts::HostPath::local(app.dir.path().join("a"));
    let (records, _) = engine::history::read(&state, &app.name).await.unwrap();
    let lines: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r.action.as_str(), r.result.as_str()))
        .collect();
    assert_eq!(
        lines,
        [
            ("deploy", "ok"),
            ("container-restart", "ok"),
            ("container-stop", "ok"),
            ("container-start", "ok"),
            // Behind the manual lock: refused, not failed; the lock taken
            // and given back by hand are records too.
            ("lock acquire", "ok"),
            ("container-remove", "refused"),
            ("lock release", "ok"),
            ("container-remove", "ok"),
            ("container-stop", "failed"),
        ],
        "{records:#?}"
    );
}

/// `berth exec` runs the command in each running container of the role
/// on every host, prints each one's output under its name and its exit
/// code, exits 1 when one fails, never takes the lock, and records the
/// command and where it ran in the app's history.
#[tokio::test]
async fn exec_runs_in_each_container_of_the_role_and_says_each_exit() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::with_v1(scope, "exe", "      web: {hosts: [a, b], port: 8080}\n").await;
    let names: Vec<String> = app.running("web").await.iter().map(common::name).collect();
    assert_eq!(names.len(), 2);
    let exec = |args: &[&str]| {
        let out = common::berth()
            .args(["-c", app.config.path.to_str().unwrap(), "exec", &app.name])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // A manual lock does not stop an exec: it changes no container.
    app.lock_by_hand("hands off").await;

    // To a pipe: stdout is what the commands printed to theirs, nothing
    // else (a line written in two pieces is one line); their stderr is on
    // stderr with berth's own lines.
    let (code, out, err) = exec(&[
        "--",
        "sh",
        "-c",
        "echo said-$0-hi; echo oops >&2; printf par; sleep 0.3; echo tial",
        "x",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    // (Hosts run at once: their lines may interleave.)
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["partial", "partial", "said-x-hi", "said-x-hi"],
        "stdout: {out}\nstderr: {err}"
    );
    assert_eq!(err.lines().filter(|l| *l == "oops").count(), 2, "{err}");
    for name in &names {
        assert!(err.contains(&format!("{name}: exit 0")), "{name}: {err}");
    }
    // --prefix: each line after its host and container.
    let (code, out, err) = exec(&["--prefix", "--", "sh", "-c", "echo said-$0-hi", "x"]);
    assert_eq!(code, Some(0), "{out}{err}");
    for name in &names {
        assert!(out.contains(&format!("/{name} | said-x-hi")), "{out}");
    }
    assert!(out.contains("a/") && out.contains("b/"), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");

    let (code, out, err) = exec(&["--host", "b", "--", "sh", "-c", "echo failing; exit 3"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(out, "failing\n", "only host b's: {out}");
    assert!(err.contains("exit 3"), "{err}");

    let (code, _, err) = exec(&["--role", "nope", "--", "true"]);
    assert_eq!(code, Some(2), "an unknown role is an error: {err}");
    assert!(err.contains("nope"), "{err}");

    app.unlock_by_hand().await;
    // Each line is on the hosts the exec ran on (as `berth history` merges them).
    let mut records = Vec::new();
    for h in ["a", "b"] {
        let state = berth::hosts::HostPath::local(app.dir.path().join(h));
        records.extend(engine::history::read(&state, &app.name).await.unwrap().0);
    }
    records.sort_by_key(|r| r.started_at);
    records.dedup_by(|x, y| x.run == y.run);
    let execs: Vec<&engine::history::Record> =
        records.iter().filter(|r| r.action == "exec").collect();
    assert_eq!(execs.len(), 3, "{records:#?}");
    let first = execs[0].note.as_deref().unwrap_or_default();
    assert!(
        first.contains(
            "`sh -c 'echo said-$0-hi; echo oops >&2; printf par; sleep 0.3; echo tial' x`"
        ),
        "{first}"
    );
    for name in &names {
        assert!(first.contains(&format!("{name} (exit 0)")), "{first}");
    }
    assert_eq!(execs[2].result, "failed");
    assert!(
        execs[2]
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("(exit 3)"),
        "{:?}",
        execs[2].note
    );
    // The text history says what was run, too.
    let out = common::berth()
        .args([
            "-c",
            app.config.path.to_str().unwrap(),
            "history",
            &app.name,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("echo failing; exit 3"), "{text}");
}

/// `berth logs APP` merges the containers of a role on two hosts in
/// Docker's timestamp order, each line named by host and container;
/// `--tail`, `--grep`, `--since`, `--json` give the right lines; `-f`
/// follows and attaches to the container a restart brings up.
#[tokio::test]
async fn logs_of_an_app_merge_its_hosts_in_time_order_and_follow_a_restart() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let roles = "      web: {hosts: [a, b], healthcheck: false, command: [sh, -c, 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']}\n";
    let app = App::with_v1(scope, "logs", roles).await;
    let names: Vec<String> = app.running("web").await.iter().map(common::name).collect();
    assert_eq!(names.len(), 2);
    let logs = |args: &[&str]| {
        let out = common::berth()
            .args(["-c", app.config.path.to_str().unwrap(), "logs", &app.name])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    // Until each has written lines over 3 s or more (one each 0.2 s), so
    // that the last second's are fewer than all.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = logs(&[]);
        if out.matches("| tick 15\n").count() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the containers never wrote 16 lines each within 60s:\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Merged: both containers, named by host, in time order.
    let out = logs(&["--timestamps"]);
    for (host, name) in [("a", &names), ("b", &names)] {
        assert!(
            name.iter()
                .any(|n| out.contains(&format!("{host}/{n} | tick 0"))),
            "{host}: {out}"
        );
    }
    let times: Vec<&str> = out.lines().map(|l| l.split(' ').next().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "time order: {out}");
    assert!(out.lines().count() >= 8, "{out}");

    // --tail N: N lines of each container.
    assert_eq!(logs(&["--tail", "2"]).lines().count(), 4);
    // --grep: only matching lines, from both.
    let ticks = logs(&["--grep", "^tick 1$"]);
    assert_eq!(ticks.lines().count(), 2, "{ticks}");
    assert!(ticks.lines().all(|l| l.ends_with("| tick 1")), "{ticks}");
    // --since: the lines of the last second are fewer than all of them.
    let recent = logs(&["--since", "1s"]).lines().count();
    let all = logs(&[]).lines().count();
    assert!(recent > 0 && recent < all, "{recent} of {all}");
    // --json: one object per line.
    let json = logs(&["--tail", "1", "--json"]);
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(v["time"].is_string() && v["host"].is_string(), "{l}");
        assert_eq!(v["stream"], "stdout");
    }

    // -f: follows, and a restart's new container is attached.
    let mut follow = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "-c",
            app.config.path.to_str().unwrap(),
            "logs",
            &app.name,
            "-f",
            "--tail",
            "0",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // What it prints, read as it comes; each step waits for what it needs.
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let out = out.clone();
        let stdout = follow.stdout.take().unwrap();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut out = out.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        })
    };
    let wait_out = |what: &str, ready: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let seen = out.lock().unwrap().clone();
            if ready(&seen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "`logs -f` never printed {what} within 60s; it printed:\n{seen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let ticks_of = |n: &str| format!("/{n} | tick");
    wait_out("the first containers' lines", &|o: &str| {
        names.iter().all(|n| o.contains(&ticks_of(n)))
    });
    assert_eq!(
        app.run(
            engine::Action::Restart {
                app: berth::config::AppName::new(&app.name).unwrap(),
                role: None,
                destination: None,
            },
            None
        )
        .await
        .0,
        RunResult::Ok
    );
    let fresh: Vec<String> = app
        .running("web")
        .await
        .iter()
        .map(common::name)
        .filter(|n| !names.contains(n))
        .collect();
    assert_eq!(fresh.len(), 2, "a restart boots new containers");
    wait_out("the new containers' lines", &|o: &str| {
        fresh.iter().all(|n| o.contains(&ticks_of(n)))
    });
    // Started again in place (same id, as `docker restart` does): attached
    // again, its loop beginning again at tick 0.
    let zero = format!("/{} | tick 0\n", fresh[0]);
    let again = app.running("web").await;
    let again = again.iter().find(|c| common::name(c) == fresh[0]).unwrap();
    app.scope
        .docker
        .restart_container(
            again.id.as_deref().unwrap(),
            Some(bollard::query_parameters::RestartContainerOptions {
                t: Some(1),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    wait_out(
        "the restarted container's log from its start again",
        &|o: &str| o.matches(&zero).count() >= 2,
    );
    // SIGINT, as Ctrl-C: the stream ends and berth exits 0.
    let sent = std::process::Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = follow.wait().unwrap();
    reader.join().unwrap();
    let mut err = String::new();
    use std::io::Read;
    follow
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(
        err.contains(&format!("/{}: started; following its log", fresh[1])),
        "{err}"
    );
}
