//! The traffic stage against a real nginx and the real Docker engine:
//! a load generator runs through nginx during deploy, restart and rollback
//! and must see no failed request; a failed gate, a broken nginx config and
//! a deleted berth file each leave traffic on a version that runs.

use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth::engine::proxy::nginx;
use berth::engine::{EngineEvent, Outcome, RunResult};
use common::Scope;
use common::app::{App, outcome, output, version_of};
use common::load::{self, Load};
use common::nginx::NginxServer;

const HOST: &str = "app.test";
const WEB: &str = "      web: {hosts: [a], port: 8080}\n";

/// An app on host `a` behind `nginx`, images v1 and v2 built; `extra`
/// holds more app keys.
async fn proxied_app(
    scope: Scope,
    base: &str,
    nginx: &NginxServer,
    drain: &str,
    extra: &str,
) -> App {
    let proxy = format!(
        "    proxy:\n      domains: [{HOST}]\n      listen: {}\n      healthcheck: {{path: /up, interval: 100ms}}\n      drain_timeout: {drain}\n      driver: nginx\n{extra}",
        nginx.port
    );
    let app = App::with_host_a(
        scope,
        base,
        &format!(", nginx: {}", nginx.host_yaml()),
        WEB,
        &proxy,
    )
    .await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    app
}

fn berth_file(app: &App, nginx: &NginxServer) -> PathBuf {
    nginx.confd.join(nginx::file_name(&app.name, ""))
}

fn route_versions(app: &App, nginx: &NginxServer) -> String {
    let text = std::fs::read_to_string(berth_file(app, nginx)).unwrap();
    nginx::parse_route(&text).unwrap().versions()
}

async fn deploy_ok(app: &App, v: &str) -> Vec<EngineEvent> {
    let (r, events) = app.run(app.deploy(v), None).await;
    assert_eq!(
        r,
        RunResult::Ok,
        "deploy {v}:\n{}",
        output(&events).join("\n")
    );
    events
}

/// `n` requests one after another; all their answers.
async fn answers(nginx: &NginxServer, n: usize) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(load::get(nginx.addr(), HOST, "/version").await);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_request_fails_through_deploy_restart_and_rollback() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(scope, "zd", &nginx, "2s", "").await;

    let events = deploy_ok(&app, "v1").await;
    assert_eq!(outcome(&events, "traffic web [1/1]"), Some(&Outcome::Ok));
    assert_eq!(
        outcome(&events, "drain web [1/1]"),
        Some(&Outcome::Skipped {
            reason: "no old container was serving".into()
        })
    );
    assert_eq!(
        load::get(nginx.addr(), HOST, "/version").await,
        Ok("v1".into())
    );

    let started = Instant::now();
    let traffic = Load::start(nginx.addr(), HOST, "/version", 4, Duration::from_millis(5));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let events = deploy_ok(&app, "v2").await;
    let out = output(&events);
    assert!(
        out.iter().any(|l| l.contains("from the new config")),
        "the switch was proven through nginx: {out:#?}"
    );
    let deployed = Instant::now();
    assert_eq!(route_versions(&app, &nginx), "v2");
    let after: Vec<_> = answers(&nginx, 20).await;
    assert!(
        after.iter().all(|a| a.as_deref() == Ok("v2")),
        "after the deploy nginx routes to v2 only: {after:?}"
    );

    let (r, events) = app.run(app.restart(None), None).await;
    assert_eq!(r, RunResult::Ok, "{}", output(&events).join("\n"));
    let restarted = Instant::now();

    let (r, events) = app.run(app.rollback(None), None).await;
    assert_eq!(r, RunResult::Ok, "{}", output(&events).join("\n"));
    let rolled_back = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let samples = traffic.stop().await;

    eprintln!(
        "load through nginx: {} requests, {} failed, over {:.1}s",
        samples.len(),
        load::failures(&samples).len(),
        started.elapsed().as_secs_f64()
    );
    load::assert_no_failures(&samples, "deploy v2, restart, rollback");
    let during =
        |from: Instant, to: Instant| samples.iter().filter(|s| s.at >= from && s.at < to).count();
    for (what, n) in [
        ("deploy", during(started, deployed)),
        ("restart", during(deployed, restarted)),
        ("rollback", during(restarted, rolled_back)),
    ] {
        assert!(
            n >= 100,
            "the load ran through the {what}: only {n} requests"
        );
    }
    let v: Vec<String> = samples
        .iter()
        .filter(|s| s.at >= deployed && s.at < restarted)
        .filter_map(|s| s.result.clone().ok())
        .collect();
    assert!(
        v.iter().all(|v| v == "v2"),
        "between deploy and rollback only v2 answers"
    );
    assert_eq!(load::versions_since(&samples, rolled_back), ["v1"]);
    assert_eq!(route_versions(&app, &nginx), "v1");
    let running = app.running("web").await;
    assert_eq!(running.len(), 1);
    assert_eq!(version_of(&running[0]), "v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_health_gate_leaves_nginx_on_the_old_version() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(scope, "gate", &nginx, "1s", "").await;
    app.image("v3", &["HEALTH=fail"]).await;
    deploy_ok(&app, "v1").await;
    let before = std::fs::read_to_string(berth_file(&app, &nginx)).unwrap();

    let traffic = Load::start(nginx.addr(), HOST, "/version", 2, Duration::from_millis(5));
    let (r, events) = app.run(app.deploy("v3"), None).await;
    let samples = traffic.stop().await;

    assert!(
        matches!(&r, RunResult::Failed { stage, .. } if stage == "health gate web [1/1]"),
        "{r:?}"
    );
    assert!(matches!(
        outcome(&events, "traffic web [1/1]"),
        Some(Outcome::Skipped { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(berth_file(&app, &nginx)).unwrap(),
        before,
        "berth's nginx file is untouched"
    );
    load::assert_no_failures(&samples, "a deploy failing its gate");
    assert!(
        samples.len() >= 50,
        "the load ran: {} requests",
        samples.len()
    );
    assert_eq!(load::versions_since(&samples, samples[0].at), ["v1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_test_failure_aborts_the_switch_with_nginx_own_message() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(scope, "ngt", &nginx, "1s", "").await;
    deploy_ok(&app, "v1").await;
    let ours = std::fs::read_to_string(berth_file(&app, &nginx)).unwrap();

    // Another tool drops a broken file into the same include directory.
    let broken = nginx.confd.join("other-tool.conf");
    std::fs::write(&broken, "this_is_not_a_directive on;\n").unwrap();
    let (r, events) = app.run(app.deploy("v2"), None).await;
    let RunResult::Failed { stage, error, .. } = &r else {
        panic!("deploy must fail: {r:?}");
    };
    assert_eq!(stage, "traffic web [1/1]");
    assert!(
        error.contains("unknown directive \"this_is_not_a_directive\"")
            && error.contains(&broken.display().to_string()),
        "nginx's own message, naming the broken file: {error}"
    );
    assert!(
        error.contains("restored; nginx still runs its previous config"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(berth_file(&app, &nginx)).unwrap(),
        ours,
        "berth's file is back as it was"
    );
    assert!(matches!(outcome(&events, "restore"), Some(Outcome::Ok)));
    // The running nginx never left v1, and v2 is gone.
    assert_eq!(
        load::get(nginx.addr(), HOST, "/version").await,
        Ok("v1".into())
    );
    let running = app.running("web").await;
    assert_eq!(running.iter().map(version_of).collect::<Vec<_>>(), ["v1"]);

    // A file berth does not own is never overwritten.
    std::fs::remove_file(&broken).unwrap();
    std::fs::write(berth_file(&app, &nginx), "# someone's own file\n").unwrap();
    let (r, _) = app.run(app.deploy("v2"), None).await;
    assert!(
        matches!(&r, RunResult::Failed { error, .. } if error.contains("was not written by berth")),
        "{r:?}"
    );
    assert_eq!(
        std::fs::read_to_string(berth_file(&app, &nginx)).unwrap(),
        "# someone's own file\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_a_deleted_file_and_sync_or_deploy_puts_it_back() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(scope, "doc", &nginx, "0", "").await;
    deploy_ok(&app, "v1").await;
    let cli = |args: &[&str]| {
        common::berth()
            .arg("-c")
            .arg(&app.config.path)
            .args(args)
            .output()
            .unwrap()
    };
    let proxy_findings = || -> Vec<serde_json::Value> {
        let out = cli(&["doctor", "--json"]);
        let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        all.into_iter().filter(|f| f["check"] == "proxy").collect()
    };
    assert_eq!(proxy_findings(), Vec::<serde_json::Value>::new());

    std::fs::remove_file(berth_file(&app, &nginx)).unwrap();
    let found = proxy_findings();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]["message"]
            .as_str()
            .unwrap()
            .contains("is missing on host a"),
        "{found:#?}"
    );
    assert_eq!(found[0]["fix"], format!("berth proxy sync {}", app.name));
    assert_eq!(found[0]["severity"], "error");

    let out = cli(&["proxy", "sync", &app.name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(route_versions(&app, &nginx), "v1");
    let out = cli(&["proxy", "show", &app.name]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("in sync with what runs") && shown.contains("upstream berth_"),
        "{shown}"
    );
    assert_eq!(proxy_findings(), Vec::<serde_json::Value>::new());
    assert_eq!(
        load::get(nginx.addr(), HOST, "/version").await,
        Ok("v1".into())
    );

    // The next deploy writes it too; drain_timeout 0 skips the drain.
    std::fs::remove_file(berth_file(&app, &nginx)).unwrap();
    let events = deploy_ok(&app, "v2").await;
    assert!(matches!(
        outcome(&events, "drain web [1/1]"),
        Some(Outcome::Skipped { reason }) if reason.contains("drain_timeout is 0")
    ));
    assert_eq!(route_versions(&app, &nginx), "v2");
    assert_eq!(
        load::get(nginx.addr(), HOST, "/version").await,
        Ok("v2".into())
    );

    // Destroy removes the route before the containers.
    let (r, _) = app.run(app.destroy(false), None).await;
    assert_eq!(r, RunResult::Ok);
    assert!(!berth_file(&app, &nginx).exists());
}

/// A stand-in `kamal-proxy` container (the real image cannot be pulled
/// here): its `kamal-proxy` executable records each call's arguments, so
/// the test sees exactly what berth ran through `docker exec`, and its
/// `list` prints the routes as kamal-proxy does (a header, then `SERVICE
/// HOST PATH TARGET STATE TLS` per service, from its last deploy).
async fn fake_kamal_proxy(scope: &Scope) -> String {
    let script = "#!/bin/sh\necho \"$*\" >> /tmp/calls\nif [ \"$1\" = deploy ]; then echo \"$2 * / ${3#--target=} running no\" > \"/tmp/route-$2\"; fi\nif [ \"$1\" = list ]; then echo \"Service Host Path Target State TLS\"; cat /tmp/route-* 2>/dev/null; fi\necho \"fake kamal-proxy: $1 done\"\n";
    let tag = scope
        .derived_image(
            &format!("t{}-kamal-proxy:fake", scope.id),
            "COPY kamal-proxy /bin/kamal-proxy\nRUN [\"chmod\", \"755\", \"/bin/kamal-proxy\"]\n",
            &[("kamal-proxy", script)],
        )
        .await;
    let created = scope
        .docker
        .create_container(
            Some(bollard::query_parameters::CreateContainerOptions {
                name: Some("kamal-proxy".into()),
                ..Default::default()
            }),
            bollard::models::ContainerCreateBody {
                image: Some(tag),
                cmd: Some(vec!["sleep".into(), "3600".into()]),
                labels: Some([(common::TEST_LABEL.to_string(), scope.id.clone())].into()),
                healthcheck: Some(bollard::models::HealthConfig {
                    test: Some(vec!["NONE".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .expect("no other `kamal-proxy` container may run on this engine during the tests");
    scope
        .docker
        .start_container(&created.id, None)
        .await
        .unwrap();
    created.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamal_proxy_is_driven_through_docker_exec_when_it_runs() {
    if common::docker().await.is_none() {
        return;
    }
    // An engine has one container named `kamal-proxy`, and the machine's
    // may have its own (driving strangers' apps): this test owns an engine.
    let isolated = common::isolated::IsolatedEngine::start();
    let scope = Scope::isolated(&isolated).await;
    let kamal = fake_kamal_proxy(&scope).await;
    // `driver` is left at `auto`: a running kamal-proxy container wins.
    let app = App::with_host_a(
        scope,
        "kp",
        &isolated.host_yaml(),
        WEB,
        "    proxy: {domains: [shop.test], healthcheck: {path: /up, interval: 1s, timeout: 2s}, drain_timeout: 0}\n",
    )
    .await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    deploy_ok(&app, "v1").await;
    let events = deploy_ok(&app, "v2").await;
    let calls = app.scope.exec(&kamal, &["cat", "/tmp/calls"]).await;
    // Only the calls for this app's service, should anything else share it.
    let service = format!("{}-web", app.name);
    let calls: Vec<&str> = calls
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(service.as_str()))
        .collect();
    let running = app.running("web").await;
    let v2 = common::name(&running[0]);
    let want = format!(
        "deploy {service} --target={v2}:8080 --host=shop.test --health-check-path=/up --health-check-interval=1s --health-check-timeout=2s --deploy-timeout=20s --drain-timeout=0s",
    );
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert_eq!(calls.last(), Some(&want.as_str()), "{calls:#?}");
    assert!(
        output(&events)
            .iter()
            .any(|l| l == "kamal-proxy: fake kamal-proxy: deploy done"),
        "its output is in the stage: {:#?}",
        output(&events)
    );
    // berth joined it to the `berth` network so it can reach the targets.
    let c = app
        .scope
        .docker
        .inspect_container(&kamal, None)
        .await
        .unwrap();
    assert!(
        c.network_settings
            .and_then(|n| n.networks)
            .is_some_and(|n| n.contains_key("berth"))
    );
    let out = common::berth()
        .arg("-c")
        .arg(&app.config.path)
        .args(["proxy", "show", &app.name])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("(kamal-proxy)") && shown.contains("in sync with what runs"),
        "{shown}"
    );
    // What recovery reads: kamal-proxy's own list names v2 for the service.
    let routing = berth::engine::proxy::routing::kamal_routing(&app.scope.engine, &service).await;
    assert_eq!(
        routing,
        berth::engine::orphans::Routing::To([v2.clone()].into()),
        "{shown}"
    );
}

/// Starts `berth deploy APP -V version --json` and SIGKILLs it as soon as
/// `when` says so of an event (given the name of the stage running then);
/// returns the lines seen (the kill's moment last).
fn deploy_killed_at(
    config: &std::path::Path,
    app: &str,
    version: &str,
    when: &dyn Fn(&str, &serde_json::Value) -> bool,
) -> Vec<String> {
    use std::io::{BufRead, BufReader};
    let mut child = common::berth()
        .arg("-c")
        .arg(config)
        .args(["deploy", app, "-V", version, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut stage = String::new();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["event"] == "stage_started" {
            stage = event["name"].as_str().unwrap_or_default().to_string();
        }
        seen.push(line);
        if when(&stage, &event) {
            child.kill().unwrap(); // SIGKILL: no cleanup of any kind runs
            break;
        }
    }
    child.wait().unwrap();
    seen
}

fn findings(config: &std::path::Path, check: &str) -> Vec<serde_json::Value> {
    let out = common::berth()
        .arg("-c")
        .arg(config)
        .args(["doctor", "--json"])
        .output()
        .unwrap();
    let all: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor --json: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    all.into_iter().filter(|f| f["check"] == check).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_in_any_stage_leaves_the_old_version_serving_and_a_rerun_converges() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(
        scope,
        "kill",
        &nginx,
        "1s",
        "    release: {command: [sh, -c, 'sleep 1']}\n",
    )
    .await;
    // The CLI's config: the same, with a lock that goes stale in 1s.
    let config = app.dir.path().join("kill.yaml");
    let yaml = std::fs::read_to_string(app.dir.path().join("berth.yaml")).unwrap();
    std::fs::write(
        &config,
        yaml.replacen("version: 2\n", "version: 2\nlock: {ttl: 1s}\n", 1),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let o = common::berth()
            .arg("-c")
            .arg(&config)
            .args(args)
            .output()
            .unwrap();
        let t = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "berth {args:?}: {t}");
        t
    };
    deploy_ok(&app, "v1").await;

    // (where, whether traffic still goes to the old version, whether the
    // dead run must have left a container, when to kill)
    type When = Box<dyn Fn(&str, &serde_json::Value) -> bool>;
    fn started(at: &'static str) -> When {
        Box::new(move |_, e| e["event"] == "stage_started" && e["name"] == at)
    }
    fn progress_in(at: &'static str) -> When {
        Box::new(move |stage, e| e["event"] == "host_progress" && stage == at)
    }
    fn said_in(at: &'static str, what: &'static str) -> When {
        Box::new(move |stage, e| {
            e["event"] == "output"
                && stage == at
                && e["line"].as_str().is_some_and(|l| l.contains(what))
        })
    }
    let kills: Vec<(&str, bool, bool, When)> = vec![
        ("lock", true, false, started("lock")),
        ("image", true, false, started("image")),
        ("release task", true, false, started("release task")),
        // Its container exists: it must not outlive the kill.
        (
            "release task (running)",
            true,
            true,
            progress_in("release task"),
        ),
        ("boot", true, false, started("boot web [1/1]")),
        // The new container runs beside the old one.
        ("boot (started)", true, true, progress_in("boot web [1/1]")),
        ("health gate", true, true, started("health gate web [1/1]")),
        ("traffic", false, true, started("traffic web [1/1]")),
        // nginx already sends traffic to the dead run's container, and the
        // old one still runs: the recovery must not remove what serves.
        (
            "traffic (nginx reloaded)",
            false,
            true,
            said_in("traffic web [1/1]", "nginx reloaded"),
        ),
        ("drain", false, true, started("drain web [1/1]")),
        ("stop old", false, true, started("stop old web [1/1]")),
    ];
    let (mut old, mut new) = ("v1", "v2");
    for (n, (stage, before_traffic, leaves_one, when)) in kills.into_iter().enumerate() {
        // Requests all along, from the kill through the recovery.
        let load = load::Load::start(nginx.addr(), HOST, "/version", 2, Duration::from_millis(20));
        let before: Vec<Option<String>> = app
            .containers(None, None)
            .await
            .into_iter()
            .map(|c| c.id)
            .collect();
        let seen = deploy_killed_at(&config, &app.name, new, &when);
        assert!(
            seen.last().is_some_and(|l| !l.contains("\"finished\"")),
            "{stage}: killed before it finished: {seen:#?}"
        );
        // Something serves, through nginx: the old version until traffic moved.
        let got = answers(&nginx, 10).await;
        assert!(
            got.iter().all(|a| a.is_ok()),
            "{stage}: every request answered: {got:?}"
        );
        if before_traffic {
            assert!(
                got.iter().all(|a| a.as_deref() == Ok(old)),
                "{stage}: the old version {old} serves: {got:?}"
            );
        }
        // doctor names what the dead run left: its lock (stale at once:
        // its process is gone from this machine, no TTL to wait for), and
        // every container it made.
        let locks = findings(&config, "locks");
        let left_locked = app
            .dir
            .path()
            .join("a/locks")
            .join(&app.name)
            .join("holder.json")
            .exists();
        assert_eq!(
            locks
                .iter()
                .any(|f| f["message"].as_str().is_some_and(|m| m.contains("STALE"))),
            left_locked,
            "{stage}: doctor reports the stale lock exactly when one was left: {locks:#?}"
        );
        let made: Vec<String> = app
            .containers(None, None)
            .await
            .iter()
            .filter(|c| !before.contains(&c.id))
            .map(common::name)
            .collect();
        assert!(
            !leaves_one || !made.is_empty(),
            "{stage}: the kill came after a container was made: {seen:#?}"
        );
        let orphans = findings(&config, "orphans");
        for name in &made {
            assert!(
                orphans.iter().any(|f| f["subject"]
                    .as_str()
                    .is_some_and(|s| s.starts_with(name.as_str()))),
                "{stage}: doctor names {name}: {orphans:#?}"
            );
        }
        // The recovery an operator takes: clear the dead run's lock, then
        // (every other time) `doctor --fix` first, then deploy again.
        cli(&["lock", "release", &app.name, "--force"]);
        if n % 2 == 1 {
            // It fixes what it can (the orphans it may remove) and exits 1
            // while it still names a problem (a route to sync).
            let fixed = common::berth()
                .arg("-c")
                .arg(&config)
                .args(["doctor", "--fix"])
                .output()
                .unwrap();
            assert!(
                matches!(fixed.status.code(), Some(0 | 1)),
                "{stage}: doctor --fix: {}",
                String::from_utf8_lossy(&fixed.stderr)
            );
        }
        let out = cli(&["deploy", &app.name, "-V", new]);
        for name in &made {
            assert!(
                out.contains(&format!("removed orphan {name}"))
                    || out.contains(&format!("orphan {name}"))
                    || n % 2 == 1,
                "{stage}: the rerun removes (or names, while it serves) {name}: {out}"
            );
        }
        if stage == "traffic (nginx reloaded)" {
            // Read from nginx itself (its generation matched its file),
            // not kept for want of knowing.
            assert!(
                out.contains("the proxy sends the app's traffic to it"),
                "{stage}: the rerun adopts what nginx routes to: {out}"
            );
        }
        load::assert_no_failures(
            &load.stop().await,
            &format!("{stage}: from the kill through the recovery"),
        );
        let got = answers(&nginx, 5).await;
        assert!(
            got.iter().all(|a| a.as_deref() == Ok(new)),
            "{stage}: the rerun serves {new}: {got:?}"
        );
        assert!(
            findings(&config, "orphans").is_empty(),
            "{stage}: nothing left over"
        );
        let tasks: Vec<String> = app
            .containers(None, None)
            .await
            .iter()
            .filter(|c| common::label(c, berth::labels::PHASE).is_some())
            .map(common::name)
            .collect();
        assert!(
            tasks.is_empty(),
            "{stage}: no task container left: {tasks:?}"
        );
        assert_eq!(
            app.running("web").await.len(),
            1,
            "{stage}: one web container runs"
        );
        // The next kill deploys the other version over this one.
        (old, new) = (new, old);
    }
}

/// Repair works on a broken proxy: with the serving container gone from
/// under nginx (its upstream dead, so requests hang and fail), nginx still
/// says what it runs at once, preflight still knows it for nginx, and a
/// deploy puts a healthy upstream back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_whose_upstream_died_is_still_known_and_repaired() {
    use berth::engine::proxy::probe;
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(scope, "dead", &nginx, "1s", "").await;
    deploy_ok(&app, "v1").await;
    let text = std::fs::read_to_string(berth_file(&app, &nginx)).unwrap();
    let route = nginx::parse_route(&text).unwrap();
    for c in app.running("web").await {
        app.scope
            .docker
            .remove_container(
                c.id.as_deref().unwrap(),
                Some(bollard::query_parameters::RemoveContainerOptions {
                    force: true,
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
    }
    // Requests through nginx now fail (or, on a busy engine that gave the
    // address to another container, reach a stranger): not asserted, it is
    // the engine's doing; what berth reads of nginx is.
    let via = probe::Via::Tcp(nginx.addr());
    // nginx answers these itself, whatever its upstream does.
    let asked = probe::generation(&via, HOST, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        (asked.status, asked.generation.as_deref()),
        (204, Some(route.generation.as_str()))
    );
    let who = probe::identify(&via, Duration::from_secs(2)).await.unwrap();
    assert!(
        who.server
            .as_deref()
            .is_some_and(|s| s.starts_with("nginx")),
        "{who:?}"
    );
    // The repair: a deploy (its preflight asks who holds the port).
    deploy_ok(&app, "v2").await;
    let got = answers(&nginx, 5).await;
    assert!(
        got.iter().all(|a| a.as_deref() == Ok("v2")),
        "v2 serves again: {got:?}"
    );
}

/// A rollback killed right after it started the retained version leaves
/// that version running beside what nginx serves: doctor names it, with a
/// fix that stops it (never `proxy sync`, which would send traffic to both
/// versions), and the requests keep going to the serving version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retained_version_started_again_beside_the_serving_one_is_named() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(scope, "beside", &nginx, "0s", "").await;
    deploy_ok(&app, "v1").await;
    deploy_ok(&app, "v2").await;
    // What the killed rollback did: the retained v1 started again.
    let retained = app.containers(Some("web"), Some("v1")).await;
    let v1 = retained.first().expect("v1 is retained");
    app.scope
        .docker
        .start_container(v1.id.as_deref().unwrap(), None)
        .await
        .unwrap();
    let name = common::name(v1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let finding = loop {
        let found = findings(&app.dir.path().join("berth.yaml"), "proxy");
        if let Some(f) = found.into_iter().find(|f| {
            f["message"]
                .as_str()
                .is_some_and(|m| m.contains("v1 and v2 run at once"))
        }) {
            break f;
        }
        // v1 is named once its health check passes (a healthy container
        // nginx does not send to).
        assert!(
            std::time::Instant::now() < deadline,
            "doctor never named {name}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains(&format!("and {name} also run beside it")),
        "{finding:#}"
    );
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("`berth container stop {name}`")),
        "{finding:#}"
    );
    let got = answers(&nginx, 5).await;
    assert!(got.iter().all(|a| a.as_deref() == Ok("v2")), "{got:?}");
    // `proxy sync` would send traffic to both: refused, nothing changed.
    let out = common::berth()
        .arg("-c")
        .arg(app.dir.path().join("berth.yaml"))
        .args(["proxy", "sync", &app.name])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("versions v1 and v2 run at once") && said.contains("REFUSED"),
        "{said}"
    );
    let got = answers(&nginx, 5).await;
    assert!(got.iter().all(|a| a.as_deref() == Ok("v2")), "{got:?}");
}

/// Ctrl-C right after nginx was reloaded onto the new version: the run is
/// cancelled, nginx goes back to the old one, proven by a request through
/// it, and the new containers are removed only after the drain, so no
/// request fails, from the cancel through the way back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_in_the_traffic_stage_loses_no_request() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let nginx = NginxServer::start();
    let app = proxied_app(scope, "cnl", &nginx, "1s", "").await;
    deploy_ok(&app, "v1").await;
    let load = Load::start(nginx.addr(), HOST, "/version", 4, Duration::from_millis(5));
    let cancel = tokio_util::sync::CancellationToken::new();
    let on_event = {
        let cancel = cancel.clone();
        move |e: &EngineEvent| {
            if let EngineEvent::Output { line, .. } = e
                && line == "nginx reloaded"
            {
                cancel.cancel();
            }
        }
    };
    let (r, events) = app.run_observed(app.deploy("v2"), cancel, on_event).await;
    let samples = load.stop().await;
    assert!(
        matches!(r, RunResult::Cancelled { .. }),
        "{r:?}: {:#?}",
        output(&events)
    );
    load::assert_no_failures(&samples, "a cancel in the traffic stage");
    assert!(samples.len() >= 50, "the load ran: {}", samples.len());
    let said = output(&events);
    assert!(
        said.iter().any(|l| l.contains("from the restored config")),
        "{said:#?}"
    );
    assert_eq!(route_versions(&app, &nginx), "v1");
    let got = answers(&nginx, 5).await;
    assert!(got.iter().all(|a| a.as_deref() == Ok("v1")), "{got:?}");
    assert!(
        app.containers(None, Some("v2")).await.is_empty(),
        "no v2 container is left"
    );
}
