//! `berth status` against the real Docker engine.

use crate::common;

use std::time::Duration;

use bollard::models::HealthStatusEnum;
use common::{Scope, Spec, berth_with_config, config};
use serde_json::Value;

fn status_json(dir: &std::path::Path, yaml: &str, app: Option<&str>) -> (i32, Value, String) {
    // A deadline for hosts that do not answer, not for a busy engine.
    let mut args = vec!["status", "--json", "--timeout", "30s"];
    if let Some(a) = app {
        args.extend(["--app", a]);
    }
    let out = berth_with_config(dir, yaml, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json printed no JSON ({e}); stderr: {stderr}"));
    (out.status.code().unwrap(), json, stderr)
}

fn app<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["hosts"][0]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == name)
        .unwrap_or_else(|| panic!("app {name} not in {json:#}"))
}

#[tokio::test]
async fn labelled_container_shows_with_health_and_exit_codes_follow() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let name = scope.app("web");
    let id = scope
        .start(
            Spec::named("web")
                .berth(&name, "web", "v1")
                .env("APP_VERSION=v1"),
        )
        .await;
    scope
        .wait_health(&id, HealthStatusEnum::HEALTHY, Duration::from_secs(30))
        .await;

    let dir = tempfile::tempdir().unwrap();
    let apps = format!("  {name}:\n    image: x\n    roles:\n      web: {{hosts: [local]}}\n");
    let (code, json, stderr) = status_json(dir.path(), &config(None, &apps), Some(&name));
    assert_eq!(code, 0, "{stderr}\n{json:#}");
    assert_eq!(json["schema"], 2);
    assert_eq!(json["ok"], true);
    let host = &json["hosts"][0];
    assert_eq!(host["reachable"], true);
    assert!(host["api_version"].as_str().unwrap().starts_with("1."));
    let a = app(&json, &name);
    assert_eq!(
        (a["source"].as_str(), a["declared"].as_bool()),
        (Some("berth"), Some(true))
    );
    let web = &a["roles"][0];
    assert_eq!(
        (
            web["role"].as_str(),
            web["serving"].as_u64(),
            web["total"].as_u64()
        ),
        (Some("web"), Some(1), Some(1))
    );
    let c = &web["containers"][0];
    assert_eq!(c["health"], "healthy");
    assert_eq!(c["state"], "running");
    assert_eq!(c["version"], "v1");
    assert_eq!(c["id"], id[..12]);
    assert!(
        c["health_log"].as_array().is_some_and(|l| !l.is_empty()),
        "{c:#}"
    );
    assert_eq!(c["ports"][0], "8080/tcp");

    // A declared role with no container: exit 1, and the role is listed.
    let apps = format!("{apps}      worker: {{hosts: [local]}}\n");
    let (code, json, _) = status_json(dir.path(), &config(None, &apps), Some(&name));
    assert_eq!(code, 1, "{json:#}");
    let worker = &app(&json, &name)["roles"][1];
    assert_eq!(
        (
            worker["role"].as_str(),
            worker["total"].as_u64(),
            worker["ok"].as_bool()
        ),
        (Some("worker"), Some(0), Some(false))
    );

    // The human table says the same.
    let out = berth_with_config(
        dir.path(),
        &config(None, &apps),
        &["status", "--app", &name],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("  {name}  NOT OK")), "{text}");
    assert!(text.contains("✓ web     1/1 serving"), "{text}");
    assert!(
        text.contains("✗ worker  0/1 serving") || text.contains("✗ worker  0/0 serving"),
        "{text}"
    );
}

#[tokio::test]
async fn unhealthy_container_fails_status() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let name = scope.app("sick");
    let id = scope
        .start(
            Spec::named("sick")
                .berth(&name, "web", "v1")
                .env("HEALTH=fail"),
        )
        .await;
    scope
        .wait_health(&id, HealthStatusEnum::UNHEALTHY, Duration::from_secs(30))
        .await;
    let dir = tempfile::tempdir().unwrap();
    let apps = format!("  {name}:\n    image: x\n    roles:\n      web: {{hosts: [local]}}\n");
    let (code, json, _) = status_json(dir.path(), &config(None, &apps), Some(&name));
    assert_eq!(code, 1, "{json:#}");
    let c = &app(&json, &name)["roles"][0]["containers"][0];
    assert_eq!(c["health"], "unhealthy");
    let last = c["health_log"].as_array().unwrap().last().unwrap();
    assert_ne!(last["exit_code"], 0, "{c:#}");
    assert!(last["output"].as_str().unwrap().contains("404"), "{c:#}");

    // The table says why, under the container's role.
    let out = berth_with_config(
        dir.path(),
        &config(None, &apps),
        &["status", "--app", &name],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("✗ web  0/1 serving"), "{text}");
    assert!(
        text.contains(&format!("└ berth-t{}-sick: last check exit 1: wget: server returned error: HTTP/1.1 404 Not Found", scope.id)),
        "{text}"
    );
}

#[tokio::test]
async fn other_tools_are_grouped_and_strangers_are_unmanaged() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let kamal = scope.app("shop");
    let dokku = scope.app("blog");
    let kamal_name = format!("{kamal}-web-abc123");
    scope
        .start(
            Spec::named("kamal")
                .sleeper()
                .label("service", &kamal)
                .label("role", "web")
                .label("destination", ""),
        )
        .await;
    scope
        .start(
            Spec::named("dokku")
                .sleeper()
                .label("com.dokku.app-name", &dokku)
                .label("com.dokku.process-type", "web")
                .label("com.dokku.container-type", "deploy"),
        )
        .await;
    let stranger = scope.start(Spec::named("stranger").sleeper()).await;
    // A stranger in trouble: the text says why, as the JSON does.
    let quitter = scope
        .start(Spec {
            cmd: Some(vec!["sh".into(), "-c".into(), "exit 3".into()]),
            no_healthcheck: true,
            ..Spec::named("quitter")
        })
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while scope
        .docker
        .inspect_container(&quitter, None)
        .await
        .ok()
        .and_then(|c| c.state?.running)
        != Some(false)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the quitter never exited"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Kamal labels an accessory with `service=<service>-<name>` only.
    scope
        .start(
            Spec::named("kamal-db")
                .sleeper()
                .label("service", &format!("{kamal}-db")),
        )
        .await;

    let dir = tempfile::tempdir().unwrap();
    let (_, json, _) = status_json(dir.path(), &config(None, ""), None);
    // Nothing is declared, so nothing is missing: these two serve (the
    // engine may run other, sick containers: the whole report's verdict
    // is theirs too).
    let k = app(&json, &kamal);
    assert_eq!(k["ok"], true, "{k:#}");
    assert_eq!(app(&json, &dokku)["ok"], true);
    let (code, _, stderr) = status_json(dir.path(), &config(None, ""), Some(&kamal));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(k["source"], "kamal");
    assert_eq!(k["declared"], false);
    let roles: Vec<&str> = k["roles"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["role"].as_str())
        .collect();
    assert!(roles.contains(&"web"), "{k:#}");
    assert!(roles.contains(&"accessory:db"), "its accessory: {k:#}");
    let web = k["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "web")
        .unwrap();
    assert_eq!(web["total"], 1);
    let apps_named = json["hosts"][0]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["app"] == format!("{kamal}-db"))
        .count();
    assert_eq!(apps_named, 0, "no app of its own");
    let d = app(&json, &dokku);
    assert_eq!(d["source"], "dokku");
    assert_eq!(d["roles"][0]["role"], "web");
    let unmanaged = json["hosts"][0]["unmanaged"].as_array().unwrap();
    assert!(
        unmanaged.iter().any(|c| c["id"] == stranger[..12]),
        "{unmanaged:#?}"
    );
    assert!(!unmanaged.iter().any(|c| c["name"] == kamal_name));
    let quit = unmanaged
        .iter()
        .find(|c| c["id"] == quitter[..12])
        .unwrap_or_else(|| panic!("{unmanaged:#?}"));
    assert_eq!(quit["reason"], "exit 3", "{quit:#}");
    let out = berth_with_config(
        dir.path(),
        &config(None, ""),
        &["status", "--timeout", "30s"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let name = quit["name"].as_str().unwrap();
    assert!(
        text.lines()
            .any(|l| l.trim() == format!("└ {name}: exit 3")),
        "{text}"
    );
}

#[tokio::test]
async fn kamal_version_comes_from_the_container_name() {
    let Some(scope) = common::scope().await else {
        return;
    };
    // Kamal names app containers <service>-<role>-<version>; the harness
    // prefixes names, so give the service that prefix.
    let service = format!("berth-t{}", scope.id);
    scope
        .start(
            Spec::named("web-abc123")
                .sleeper()
                .label("service", &service)
                .label("role", "web"),
        )
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (_, json, _) = status_json(dir.path(), &config(None, ""), Some(&service));
    assert_eq!(
        app(&json, &service)["roles"][0]["containers"][0]["version"],
        "abc123"
    );
}

#[test]
fn missing_socket_is_exit_4_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("no-docker.sock");
    let out = berth_with_config(dir.path(), &config(Some(&socket), ""), &["status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!(
            "✗ unreachable: cannot reach Docker at unix://{}: {} does not exist",
            socket.display(),
            socket.display()
        )),
        "{stdout}"
    );
    assert!(stderr.contains("berth: unreachable: local"), "{stderr}");

    let out = berth_with_config(
        dir.path(),
        &config(Some(&socket), ""),
        &["status", "--json"],
    );
    assert_eq!(out.status.code(), Some(4));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["hosts"][0]["reachable"], false);
    assert!(
        json["hosts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("does not exist")
    );
}

/// Everything `berth status --json` says of `name`'s first role, from the
/// whole report (other containers may be on the engine).
fn role_of<'a>(json: &'a Value, name: &str) -> &'a Value {
    &app(json, name)["roles"][0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_is_reported_as_it_is() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let scope = Scope::new(docker).await;
    let incident = common::Incident::start(&scope).await;
    let common::Incident {
        good,
        sick,
        looping,
        oom,
        kamal,
    } = &incident;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(None, &incident.apps_yaml());
    // What the host screen shows of the engine: its disk use and clock.
    let disk = scope
        .engine
        .disk_use(Duration::from_secs(60))
        .await
        .unwrap();
    assert!(disk.images >= 1 && disk.image_bytes > 0, "{disk:?}");
    assert!(disk.containers >= 6, "at least this test's: {disk:?}");
    let skew = scope.engine.clock_skew_ms(Duration::from_secs(10)).await;
    assert!(
        skew.is_some_and(|s| s.abs() < 2000),
        "one machine: {skew:?}"
    );
    // Health checks fail after their retries; Docker restarts with a backoff.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let json = loop {
        let (_, json, stderr) = status_json(dir.path(), &yaml, None);
        let ready = |name: &str, check: &dyn Fn(&Value) -> bool| {
            json["hosts"][0]["apps"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["app"] == name)
                .is_some_and(|a| check(&a["roles"][0]["containers"][0]))
        };
        if ready(sick, &|c| c["health"] == "unhealthy")
            && ready(kamal, &|c| c["health"] == "unhealthy")
            // Caught while it is up between two crashes: the engine then
            // says exit code 0; berth must still tell the code it keeps
            // dying with (from its last `die` event).
            && ready(looping, &|c| {
                c["restart_count"].as_i64() >= Some(2) && c["state"] == "running"
            })
            && ready(oom, &|c| c["oom_killed"] == true)
        {
            break json;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the incident never showed in full within 60s: {stderr}\n{json:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    // The healthy app with a retained version: ok, 1/1, v1 kept apart.
    let web = role_of(&json, good);
    assert_eq!(app(&json, good)["ok"], true, "{web:#}");
    assert_eq!(
        (web["serving"].as_u64(), web["total"].as_u64()),
        (Some(1), Some(1)),
        "{web:#}"
    );
    assert_eq!(
        web["retained_versions"],
        serde_json::json!(["v1"]),
        "{web:#}"
    );
    assert_eq!(web["retained"][0]["state"], "exited", "{web:#}");
    assert!(
        web["retained"][0]["reason"].is_null(),
        "a kept version is no failure: {web:#}"
    );

    // Each sick app: not ok, with the reason where it is read.
    let reason = |name: &str| {
        let c = &role_of(&json, name)["containers"][0];
        assert_eq!(app(&json, name)["ok"], false, "{name}: {c:#}");
        c["reason"].as_str().unwrap_or_default().to_string()
    };
    assert!(reason(sick).starts_with("unhealthy: "), "{}", reason(sick));
    assert!(reason(sick).contains("404"), "{}", reason(sick));
    let l = &role_of(&json, looping)["containers"][0];
    assert_eq!(
        (l["crash_loop"].as_bool(), l["exit_code"].as_i64()),
        (Some(true), Some(1)),
        "{l:#}"
    );
    assert!(
        reason(looping).contains("restarts in") && reason(looping).contains("last exit 1"),
        "{l:#}"
    );
    let o = &role_of(&json, oom)["containers"][0];
    assert_eq!(o["oom_killed"], true, "{o:#}");
    assert!(reason(oom).contains("OOM killed"), "{o:#}");
    assert_eq!(
        role_of(&json, oom)["total"],
        1,
        "a role whose container died counts it"
    );
    let k = app(&json, kamal);
    assert_eq!(
        (k["source"].as_str(), k["ok"].as_bool()),
        (Some("kamal"), Some(false)),
        "{k:#}"
    );
    assert_eq!(json["ok"], false);

    // The human table: the reasons under their roles, the retained version
    // beside its role, no failure mark on it.
    let out = berth_with_config(dir.path(), &yaml, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1/1 serving  retained v1"), "{text}");
    assert!(
        !text.contains(&format!("✗ berth-t{}-good-v1", scope.id)),
        "{text}"
    );
    assert!(text.contains("last exit 1"), "{text}");
    assert!(text.contains("OOM killed"), "{text}");
}

/// The container screen's inspect section reads what the container was
/// started with from the real engine: command, env, restart policy, the
/// memory limit, networks and labels; secrets are masked by name.
#[tokio::test]
async fn inspect_reads_how_a_container_was_started_and_masks_secrets() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let id = scope
        .start(Spec {
            memory: Some(64 * 1024 * 1024),
            restart_always: true,
            ..Spec::named("insp")
                .sleeper()
                .env("DB_PASSWORD=hunter2")
                .env("GREETING=hello")
                .label("team", "payments")
        })
        .await;
    let mut i = scope
        .engine
        .inspect_details(&id)
        .await
        .unwrap()
        .expect("the container exists");
    assert_eq!(i.command, ["sleep", "3600"]);
    assert_eq!(i.restart_policy, "always");
    assert_eq!(i.memory_limit, Some(64 * 1024 * 1024));
    assert!(
        i.labels.iter().any(|(k, v)| k == "team" && v == "payments"),
        "{:?}",
        i.labels
    );
    assert!(!i.networks.is_empty(), "{:?}", i.networks);
    // The image it came from, its registry digests as the engine has them
    // (none for an image only built here; on a shared machine the same
    // image may have been pushed by someone), and when it was created and
    // started.
    assert!(
        !i.image.is_empty() && i.image_id.starts_with("sha256:"),
        "{i:?}"
    );
    let mut engine_digests = scope
        .docker
        .inspect_image(&i.image_id)
        .await
        .unwrap()
        .repo_digests
        .unwrap_or_default();
    engine_digests.sort();
    let mut digests = i.digests.clone();
    digests.sort();
    assert_eq!(digests, engine_digests);
    assert!(
        i.created.starts_with("20") && i.started.starts_with("20"),
        "{i:?}"
    );
    i.mask(&[], &[]);
    let env = |name: &str| {
        i.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        env("DB_PASSWORD").as_deref(),
        Some(berth::domain::inspect::MASK)
    );
    assert_eq!(env("GREETING").as_deref(), Some("hello"));
    assert_eq!(
        scope
            .engine
            .inspect_details("berth-no-such-container")
            .await
            .unwrap(),
        None
    );
}

/// The exit code follows what the config declares: a failing app of
/// another project on the same engine is shown, not ok, and leaves the
/// exit 0; `--all` counts it; an `--app` nobody has is a usage error with
/// the likely name.
#[tokio::test]
async fn status_exits_for_what_the_config_declares_and_names_an_unknown_app() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let good = scope.app("good");
    let other = scope.app("other");
    scope
        .start(Spec::named("good").sleeper().berth(&good, "web", "v1"))
        .await;
    // Another project's service that exited 2 (not in this config).
    scope
        .start(Spec {
            cmd: Some(vec!["sh".into(), "-c".into(), "exit 2".into()]),
            no_healthcheck: true,
            ..Spec::named("other")
                .label("com.docker.compose.project", &other)
                .label("com.docker.compose.service", "web")
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(
        None,
        &format!("  {good}:\n    image: x\n    roles:\n      web: {{hosts: [local]}}\n"),
    );
    // Until the other project's container has exited.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let json = loop {
        let (code, json, stderr) = status_json(dir.path(), &yaml, None);
        let done = json["hosts"][0]["apps"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["app"] == other.as_str() && a["ok"] == false);
        if done {
            assert_eq!(code, 0, "only what the config declares counts: {json:#}");
            break json;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{other} never showed as not ok: {stderr}\n{json:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(app(&json, &good)["ok"], true, "{json:#}");
    assert_eq!(json["declared_ok"], true, "{json:#}");
    assert_eq!(json["ok"], false, "{json:#}");

    let code = |args: &[&str]| {
        let out = berth_with_config(dir.path(), &yaml, args);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    assert_eq!(code(&["status"]).0, Some(0));
    assert_eq!(code(&["status", "--all"]).0, Some(1));
    assert_eq!(code(&["status", "--app", &other]).0, Some(0));
    assert_eq!(code(&["status", "--app", &other, "--all"]).0, Some(1));
    let typo = good.replace("good", "goood");
    let (exit, said) = code(&["status", "--app", &typo]);
    assert_eq!(exit, Some(2), "{said}");
    assert!(
        said.contains(&format!("no app `{typo}`"))
            && said.contains(&format!("did you mean `{good}`?")),
        "{said}"
    );
}
