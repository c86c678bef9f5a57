//! SSH hosts against a real sshd on 127.0.0.1 and the real Docker engine
//! behind it: the host's socket is forwarded over one master connection,
//! host keys are checked strictly, and a host that drops is seen down and
//! comes back without restarting berth.

use crate::common;

use std::time::Duration;

use berth::engine::{EngineEvent, RunResult};
use berth::inventory::{Inventory, Link, WatchOptions};
use common::app::{App, output};
use common::sshd::Sshd;
use common::{Scope, Spec};

fn config(dir: &std::path::Path, hosts: &str, apps: &str) -> std::path::PathBuf {
    let path = dir.join("berth.yaml");
    std::fs::write(&path, format!("version: 2\nhosts:\n{hosts}apps:\n{apps}")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reaches_docker_through_ssh() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = scope.app("ssh");
    let id = scope
        .start(
            Spec::named("web")
                .berth(&app, "web", "v1")
                .label("berth.host", "edge"),
        )
        .await;
    scope
        .wait_health(
            &id,
            bollard::models::HealthStatusEnum::HEALTHY,
            Duration::from_secs(20),
        )
        .await;
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        &format!("  edge: {{ssh: {}}}\n", sshd.host_yaml()),
        &format!("  {app}:\n    image: x\n    roles: {{web: {{hosts: [edge]}}}}\n"),
    );
    let out = common::berth()
        .arg("-c")
        .arg(&path)
        .args(["status", "--json", "--app", &app])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let host = &json["hosts"][0];
    assert_eq!(host["reachable"], true, "{json:#}");
    assert_eq!(
        host["endpoint"],
        format!("ssh://{}@127.0.0.1:{}", sshd.user, sshd.port)
    );
    assert!(
        host["docker_version"]
            .as_str()
            .is_some_and(|v| !v.is_empty())
    );
    let c = &host["apps"][0]["roles"][0]["containers"][0];
    assert_eq!(c["name"], format!("berth-t{}-web", scope.id), "{json:#}");
    assert_eq!(c["health"], "healthy", "{json:#}");
    assert_eq!(out.status.code(), Some(0), "{json:#}");
}

/// A host reached through a `proxy_command` (Kamal's `ssh.proxy_command`,
/// e.g. AWS SSM) offering only its own key (`identities_only`, Kamal's
/// `ssh.keys_only`): ssh runs the command, and still checks the host key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_behind_a_proxy_command_is_reached_through_it() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("proxied");
    let proxy = dir.path().join("proxy.sh");
    std::fs::write(
        &proxy,
        format!(
            "#!/bin/sh\necho \"$1 $2\" >> {}\nexec busybox nc \"$1\" \"$2\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&proxy, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let host = sshd.host_yaml().replace(
        "}",
        &format!(
            ", identities_only: true, proxy_command: {} %h %p}}",
            proxy.display()
        ),
    );
    let path = config(dir.path(), &format!("  edge: {{ssh: {host}}}\n"), "  {}\n");
    let out = common::berth()
        .arg("-c")
        .arg(&path)
        .env("XDG_RUNTIME_DIR", dir.path())
        .args(["hosts", "check", "--json"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let proxied = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        proxied.contains(&format!("{} {}", sshd.addr, sshd.port)),
        "the proxy command carried the connection: {proxied:?}\n{said}"
    );
    // A proxy command over two lines would be a directive of its own.
    let bad = config(
        dir.path(),
        &format!(
            "  edge: {{ssh: {}}}\n",
            sshd.host_yaml()
                .replace("}", ", proxy_command: \"nc %h\\nProxyJump evil\"}")
        ),
        "  {}\n",
    );
    let out = common::berth()
        .arg("-c")
        .arg(&bad)
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("one command on one line"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_host_key_is_refused_with_what_to_do() {
    let sshd = Sshd::start();
    // A known_hosts that does not know this host.
    let other = tempfile::tempdir().unwrap();
    let wrong = other.path().join("known_hosts");
    std::fs::write(&wrong, "").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ssh = sshd.host_yaml().replace(
        &sshd.known_hosts.display().to_string(),
        &wrong.display().to_string(),
    );
    let path = config(dir.path(), &format!("  edge: {{ssh: {ssh}}}\n"), "");
    let out = common::berth()
        .arg("-c")
        .arg(&path)
        .args(["status", "--timeout", "10s"])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(4), "not reached: {text}");
    assert!(
        text.contains("the host key of 127.0.0.1 is not in")
            && text.contains(&wrong.display().to_string())
            && text.contains("ssh-keyscan -p "),
        "names the host, the file and what to do: {text}"
    );
    // The key was never added behind the operator's back.
    assert_eq!(std::fs::read_to_string(&wrong).unwrap(), "");
}

/// A key the host does not accept: berth never falls back to a password
/// prompt, and says how it authenticates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_the_host_refuses_is_a_clear_error_never_a_prompt() {
    let sshd = Sshd::start();
    let other = tempfile::tempdir().unwrap();
    let key = other.path().join("not_authorized");
    common::sshd::keygen(&key);
    let ssh = sshd.host_yaml().replace(
        &sshd.client_key.display().to_string(),
        &key.display().to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), &format!("  edge: {{ssh: {ssh}}}\n"), "");
    let out = common::berth()
        .arg("-c")
        .arg(&path)
        .args(["hosts", "check", "--json", "--timeout", "10s"])
        // No terminal to prompt on, and no agent to fall back to.
        .stdin(std::process::Stdio::null())
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let error = json[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("berth authenticates with keys only (no passwords)")
            && error.contains("Permission denied"),
        "{json:#}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_host_is_seen_down_and_recovers_without_restarting() {
    let Some(_docker) = common::docker().await else {
        return;
    };
    let mut sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        &format!("  edge: {{ssh: {}}}\n  local: {{}}\n", sshd.host_yaml()),
        "",
    );
    let cfg = berth::config::load(&path).unwrap();
    let opts = WatchOptions {
        backoff_max: Duration::from_secs(1),
        ..Default::default()
    };
    let inventory = Inventory::start(&cfg, &berth::docker::Gateway::new(), opts);
    let up =
        |f: &berth::inventory::Fleet, h: &str| f.hosts.get(h).is_some_and(|h| h.link == Link::Up);
    inventory
        .wait_for(Duration::from_secs(20), |f| up(f, "edge") && up(f, "local"))
        .await
        .expect("both hosts come up");

    sshd.kill();
    let t = std::time::Instant::now();
    let fleet = inventory
        .wait_for(Duration::from_secs(5), |f| {
            matches!(
                f.hosts.get("edge").map(|h| &h.link),
                Some(Link::Down { .. })
            )
        })
        .await
        .expect("edge is seen down within 5s");
    eprintln!("edge seen down {:?} after sshd was killed", t.elapsed());
    assert!(up(&fleet, "local"), "the other host is unaffected");

    sshd.restart();
    let t = std::time::Instant::now();
    inventory
        .wait_for(Duration::from_secs(15), |f| up(f, "edge"))
        .await
        .expect("edge comes back without restarting berth");
    eprintln!("edge back {:?} after sshd restarted", t.elapsed());
}

/// `berth hosts check` against the local engine, a real sshd, and a host
/// whose key is unknown: each says what works, the SSH one through its
/// master connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_check_reports_each_host() {
    let Some(_docker) = common::docker().await else {
        return;
    };
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    // On the SSH host (this machine, reached over ssh), a state directory
    // blocked by a file: the check must say it is not writable.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let empty_known_hosts = dir.path().join("known_hosts_empty");
    std::fs::write(&empty_known_hosts, "").unwrap();
    let stranger = sshd.host_yaml().replace(
        &sshd.known_hosts.display().to_string(),
        &empty_known_hosts.display().to_string(),
    );
    let path = config(
        dir.path(),
        &format!(
            "  local: {{state_dir: {d}/local}}\n  edge: {{ssh: {ssh}, state_dir: {b}/state}}\n  stranger: {{ssh: {stranger}}}\n",
            d = dir.path().display(),
            ssh = sshd.host_yaml(),
            b = blocker.display(),
        ),
        "",
    );
    let out = common::berth()
        .arg("-c")
        .arg(&path)
        .args(["hosts", "check", "--json", "--timeout", "10s"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let host = |name: &str| {
        json.as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == name)
            .unwrap_or_else(|| panic!("{name} in {json:#}"))
    };
    let local = host("local");
    assert_eq!(local["reachable"], true, "{json:#}");
    assert_eq!(local["state_dir_writable"], true, "{json:#}");
    assert!(local["ssh_round_trip_ms"].is_null());
    assert!(
        local["clock_skew_ms"].as_i64().unwrap().abs() < 2_000,
        "same machine, same clock: {json:#}"
    );
    let edge = host("edge");
    assert_eq!(edge["reachable"], true, "{json:#}");
    assert!(
        edge["ssh_round_trip_ms"].as_f64().unwrap() > 0.0,
        "{json:#}"
    );
    assert_eq!(edge["docker_version"], local["docker_version"]);
    assert_eq!(edge["socket"], "/var/run/docker.sock");
    assert_eq!(edge["state_dir_writable"], false, "{json:#}");
    assert!(
        edge["state_dir_note"]
            .as_str()
            .unwrap()
            .contains("is not a directory on the host"),
        "{json:#}"
    );
    let stranger = host("stranger");
    assert_eq!(stranger["reachable"], false, "{json:#}");
    assert!(
        stranger["error"]
            .as_str()
            .unwrap()
            .contains("the host key of 127.0.0.1 is not in"),
        "{json:#}"
    );
    assert_eq!(out.status.code(), Some(1), "a host failed the check");
    assert_eq!(std::fs::read_to_string(&empty_known_hosts).unwrap(), "");
}

/// The lock and history operations on an SSH host (this machine through a
/// real sshd, so what they left can be read on the local disk): same rules
/// as on the local filesystem, one winner among concurrent acquirers, and
/// hostile text in a holder's message reaches the file as data, never as
/// shell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locks_and_history_on_an_ssh_host_follow_the_local_rules() {
    use berth::engine::history::{self, Performer, Record};
    use berth::engine::lock::{self, LockError};
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state with space");
    let path = config(
        dir.path(),
        &format!(
            "  edge: {{ssh: {}, state_dir: \"{}\"}}\n",
            sshd.host_yaml(),
            state.display()
        ),
        "",
    );
    let cfg = berth::config::load(&path).unwrap();
    let host = cfg.fleet.hosts.get("edge").unwrap();
    let root = berth::hosts::Pool::default()
        .state_dir(host, Duration::from_secs(10))
        .await
        .unwrap();
    let shown = root.to_string();
    assert!(
        shown.starts_with(&format!("ssh://{}@127.0.0.1:{}:", sshd.user, sshd.port)),
        "{shown}"
    );
    let me = Performer {
        user: "ana".into(),
        machine: "laptop".into(),
    };
    let canary = dir.path().join("pwned");
    let hostile = format!(
        "it's $(touch {c}) `touch {c}` \"quoted\" ; touch {c} 'x' ünïcode",
        c = canary.display()
    );
    let mut holder = lock::holder_for(&me, "manual", None, Some(hostile.clone()), true);
    let lock_dir = lock::lock_dir(&root, "demo", "");
    lock::acquire(&lock_dir, &holder, Duration::MAX)
        .await
        .unwrap();
    // The record is on disk exactly as written.
    let on_disk: lock::Holder = serde_json::from_slice(
        &std::fs::read(state.join("locks/demo").join(lock::HOLDER)).unwrap(),
    )
    .unwrap();
    assert_eq!(on_disk, holder);
    assert!(!canary.exists(), "no part of the message ran as shell");
    let read = lock::read(&lock_dir, Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.holder.message.as_deref(), Some(hostile.as_str()));

    // Another contender sees the holder.
    let other = lock::holder_for(&me, "deploy", Some("v2".into()), None, false);
    let Err(LockError::Held(s)) = lock::acquire(&lock_dir, &other, Duration::MAX).await else {
        panic!("a held lock was taken twice")
    };
    assert_eq!(s.holder, holder);
    // Nobody releases a lock that is not theirs: the one-command release
    // removes it only when its record names the token.
    let Err(LockError::Held(s)) = lock::release(&lock_dir, &other.token).await else {
        panic!("another's token released the lock")
    };
    assert_eq!(s.holder, holder);
    assert!(state.join("locks/demo/holder.json").exists());
    lock::release(&lock_dir, &holder.token).await.unwrap();
    assert!(!state.join("locks/demo").exists());

    // Concurrent acquirers over the one master connection: one winner.
    let contenders = (0..16).map(|i| {
        let (dir, mut h) = (lock_dir.clone(), other.clone());
        h.token = format!("{i:016}{}", h.token);
        async move {
            match lock::acquire(&dir, &h, Duration::MAX).await {
                Ok(()) => Ok(true),
                Err(LockError::Held(_)) => Ok(false),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    // More at once than sshd's default MaxSessions (10).
    let wins: Result<Vec<bool>, String> = futures_util::future::join_all(contenders)
        .await
        .into_iter()
        .collect();
    let wins = wins.expect("every loser is told who holds the lock");
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "{wins:?}");
    let leftovers: Vec<_> = std::fs::read_dir(state.join("locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["demo"], "no staging directory is left behind");
    let winner = lock::read(&lock_dir, Duration::MAX)
        .await
        .unwrap()
        .unwrap()
        .holder;
    lock::heartbeat(&lock_dir, &winner.token).await.unwrap();
    assert!(lock::heartbeat(&lock_dir, "not the token").await.is_err());
    holder.token = winner.token.clone();
    let nested = lock::Nested {
        action: "restart".into(),
        pid: 4242,
        since: chrono::Utc::now(),
        run: String::new(),
    };
    lock::enter_nested(&lock_dir, &winner.token, &nested)
        .await
        .unwrap();
    let s = lock::read(&lock_dir, Duration::MAX).await.unwrap().unwrap();
    assert_eq!(s.nested, [nested]);
    assert_eq!(root.join("locks").subdirs().await.unwrap(), ["demo"]);
    lock::leave_nested(&lock_dir, 4242).await.unwrap();
    let forced = lock::force_release(&lock_dir)
        .await
        .unwrap()
        .held()
        .unwrap();
    assert_eq!(forced.holder.token, winner.token);
    assert!(
        lock::read(&lock_dir, Duration::MAX)
            .await
            .unwrap()
            .is_none()
    );

    // History: appended as lines, read back, on the host's disk.
    let record = Record {
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        performer: me,
        action: "deploy".into(),
        app: "demo".into(),
        destination: String::new(),
        version: Some("v2".into()),
        digest: None,
        result: "failed".into(),
        failed_stage: Some("boot web [1/1]".into()),
        error: Some(format!("line one\nline two {hostile}")),
        note: None,
        run: String::new(),
        tool: String::new(),
    };
    history::append(&root, &record).await.unwrap();
    history::append(&root, &record).await.unwrap();
    let (records, problems) = history::read(&root, "demo").await.unwrap();
    assert_eq!(records, [record.clone(), record]);
    assert!(problems.is_empty());
    let text = std::fs::read_to_string(state.join("apps/demo/history.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 2);
    let file = history::path(&root, "demo");
    assert_eq!(
        file.stamp().await.unwrap().unwrap().0,
        text.len() as u64,
        "the stamp is the file's size"
    );
    assert!(!canary.exists());
}

/// An app on hosts `a` and `b`, each reached through its own sshd (the
/// `ssh:` blocks of [`Sshd::host_yaml`]).
async fn app_on_two_ssh_hosts(docker: bollard::Docker, [a, b]: [String; 2], base: &str) -> App {
    App::with_hosts(
        Scope::new(docker).await,
        base,
        [&format!(", ssh: {a}"), &format!(", ssh: {b}")],
        "      web: {hosts: [a, b], port: 8080}\n",
        "    boot: {limit: 1}\n",
    )
    .await
}

fn stages_started(events: &[EngineEvent], prefix: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            EngineEvent::StageStarted { name, .. } if name.starts_with(prefix) => {
                Some(name.clone())
            }
            _ => None,
        })
        .collect()
}

/// Each health probe looked at the container of its own host.
async fn probes_stay_on_their_host(app: &App, events: &[EngineEvent]) -> usize {
    let containers = app.containers(None, None).await;
    let mut probes = 0;
    for e in events {
        if let EngineEvent::HealthProbe {
            host, container, ..
        } = e
        {
            let c = containers
                .iter()
                .find(|c| &common::name(c) == container)
                .unwrap_or_else(|| panic!("probed {container}, which does not exist"));
            assert_eq!(
                common::label(c, "berth.host"),
                Some(host.as_str()),
                "{container}"
            );
            probes += 1;
        }
    }
    probes
}

fn running_hosts(containers: &[bollard::models::ContainerSummary]) -> Vec<String> {
    let mut hosts: Vec<String> = containers
        .iter()
        .map(|c| common::label(c, "berth.host").unwrap().to_string())
        .collect();
    hosts.sort();
    hosts
}

/// The engine through two sshd hosts: a deploy with boot limit 1 (one
/// host at a time, each gate on its own host's container), the lock and
/// history kept on the hosts, a manual lock taken with the CLI refusing a
/// restart, `status` through both tunnels, restart, and destroy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ssh_hosts_deploy_restart_and_destroy_with_boot_limit_one() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let (a, b) = (Sshd::start(), Sshd::start());
    let app = app_on_two_ssh_hosts(docker, [a.host_yaml(), b.host_yaml()], "sshe").await;
    app.image("v1", &[]).await;
    let (r, events) =
        tokio::time::timeout(Duration::from_secs(120), app.run(app.deploy("v1"), None))
            .await
            .expect("the deploy ends");
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    assert_eq!(
        stages_started(&events, "boot"),
        ["boot web [1/2]", "boot web [2/2]"]
    );
    assert!(probes_stay_on_their_host(&app, &events).await >= 2);
    assert_eq!(running_hosts(&app.running("web").await), ["a", "b"]);
    // The lock was taken on the primary host through its SSH connection.
    let state = app.dir.path();
    let locked = format!(
        "locked {} (ssh://{}@127.0.0.1:{}:{}/a/locks/{})",
        app.name,
        a.user,
        a.port,
        state.display(),
        app.name
    );
    assert!(output(&events).contains(&locked), "{:#?}", output(&events));
    assert!(!state.join("a/locks").join(&app.name).exists(), "released");
    // Both hosts have the deploy in their history, written over ssh.
    for host in ["a", "b"] {
        let text = std::fs::read_to_string(
            state
                .join(host)
                .join("apps")
                .join(&app.name)
                .join("history.jsonl"),
        )
        .unwrap_or_else(|e| panic!("history on {host}: {e}"));
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["action"], "deploy");
        assert_eq!(line["result"], "ok");
        assert_eq!(line["version"], "v1");
    }

    // `status` sees both hosts through their tunnels.
    let config_path = state.join("berth.yaml");
    let out = common::berth()
        .arg("-c")
        .arg(&config_path)
        .args(["status", "--json", "--app", &app.name])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    for (i, sshd) in [&a, &b].into_iter().enumerate() {
        let host = &json["hosts"][i];
        assert_eq!(host["reachable"], true, "{json:#}");
        assert_eq!(
            host["endpoint"],
            format!("ssh://{}@127.0.0.1:{}", sshd.user, sshd.port)
        );
        let web = &host["apps"][0]["roles"][0]["containers"];
        assert_eq!(web.as_array().unwrap().len(), 1, "{json:#}");
        assert_eq!(web[0]["health"], "healthy", "{json:#}");
        assert_eq!(web[0]["version"], "v1", "{json:#}");
    }

    // A manual lock taken with the CLI, on the SSH host, refuses a restart.
    let berth = |args: &[&str]| {
        common::berth()
            .arg("-c")
            .arg(&config_path)
            .args(args)
            .output()
            .unwrap()
    };
    let out = berth(&["lock", "acquire", &app.name, "-m", "db migration"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = berth(&["lock", "status", &app.name, "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let held = &json["berth"][0];
    assert_eq!(held["held"], true, "{json:#}");
    assert!(
        held["path"].as_str().unwrap().starts_with("ssh://"),
        "{json:#}"
    );
    let (r, _) = app.run(app.restart(None), None).await;
    let RunResult::Failed { stage, error, kind } = &r else {
        panic!("a restart behind a manual lock: {r:?}")
    };
    assert_eq!(stage, "lock");
    assert_eq!(*kind, berth::engine::FailureKind::Refused);
    assert!(error.contains("manual lock: \"db migration\""), "{error}");
    let out = berth(&["lock", "release", &app.name]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    let (r, events) = app.run(app.restart(None), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    assert!(probes_stay_on_their_host(&app, &events).await >= 2);
    assert_eq!(running_hosts(&app.running("web").await), ["a", "b"]);

    let (r, events) = app.run(app.destroy(false), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    assert!(app.containers(None, None).await.is_empty());
}

/// A host that drops in the middle of a deploy fails the stage at work on
/// it, naming the host; the other host keeps a version serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_dropped_mid_deploy_fails_its_stage_naming_the_host() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let a = Sshd::start();
    let b = std::sync::Arc::new(std::sync::Mutex::new(Sshd::start()));
    let b_yaml = b.lock().unwrap().host_yaml();
    let app = app_on_two_ssh_hosts(docker, [a.host_yaml(), b_yaml], "sshd").await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    let (r, events) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");

    // Host b goes down as its boot starts.
    let on_event = {
        let b = b.clone();
        move |e: &EngineEvent| {
            if let EngineEvent::StageStarted { name, .. } = e
                && name == "boot web [2/2]"
            {
                b.lock().unwrap().kill();
            }
        }
    };
    let (r, events) = tokio::time::timeout(
        Duration::from_secs(120),
        app.run_observed(
            app.deploy("v2"),
            tokio_util::sync::CancellationToken::new(),
            on_event,
        ),
    )
    .await
    .expect("a dead host does not hang the deploy");
    let RunResult::Failed { stage, error, .. } = &r else {
        panic!("the deploy cannot succeed without host b: {r:?}")
    };
    assert!(stage.ends_with("web [2/2]"), "{stage}: {error}");
    assert!(error.starts_with("host b: "), "{error}");
    let port = b.lock().unwrap().port;
    assert!(
        error.contains(&format!(
            "host b: its SSH connection (ssh://{}@127.0.0.1:{port}) dropped",
            a.user
        )),
        "says the host dropped, not only what Docker said: {error}"
    );
    // Host a serves: a healthy web container (v1 restored, or v2 that
    // passed its gate there) is running.
    let on_a: Vec<_> = app
        .running("web")
        .await
        .into_iter()
        .filter(|c| common::label(c, "berth.host") == Some("a"))
        .collect();
    assert_eq!(on_a.len(), 1, "{events:#?}");
    let id = on_a[0].id.clone().unwrap();
    app.scope
        .wait_health(
            &id,
            bollard::models::HealthStatusEnum::HEALTHY,
            Duration::from_secs(20),
        )
        .await;
    eprintln!("failed at `{stage}`: {error}");
    // The lock on host a was released even so.
    assert!(!app.dir.path().join("a/locks").join(&app.name).exists());
}

/// The nginx lock on an SSH host is the host's own flock: a berth on the
/// host and a berth over SSH exclude each other, and dropping the remote
/// lock frees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_lock_on_an_ssh_host_is_the_hosts_own_flock() {
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        dir.path(),
        &format!("  edge: {{ssh: {}}}\n", sshd.host_yaml()),
        "",
    );
    let cfg = berth::config::load(&path).unwrap();
    let file = dir.path().join(".berth-nginx.lock");
    let remote = berth::hosts::Pool::default()
        .on_host(
            cfg.fleet.hosts.get("edge").unwrap(),
            file.clone(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();

    // Held here: the remote attempt gives up after its wait.
    let local = std::fs::File::create(&file).unwrap();
    local.lock().unwrap();
    let busy = remote.lock_file(Duration::from_secs(1)).await.unwrap();
    assert!(busy.is_none(), "the remote flock waited, then gave up");
    local.unlock().unwrap();

    // Held over ssh: the local lock is refused until it is dropped.
    let held = remote
        .lock_file(Duration::from_secs(5))
        .await
        .unwrap()
        .expect("free now");
    assert!(matches!(
        local.try_lock(),
        Err(std::fs::TryLockError::WouldBlock)
    ));
    drop(held);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match local.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the remote flock was released when dropped"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// nginx on an SSH host: berth writes its file, validates and reloads
/// through the host's connection, proves the switch through the host's
/// port forwarded over that connection, and no request through nginx
/// fails across a deploy; destroy takes the file away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_on_an_ssh_host_switches_with_no_failed_request() {
    use common::load::{self, Load};
    use common::nginx::NginxServer;
    let Some(scope) = common::scope().await else {
        return;
    };
    let sshd = Sshd::start();
    let nginx = NginxServer::start();
    let host = "app.test";
    let proxy = format!(
        "    proxy:\n      domains: [{host}]\n      listen: {}\n      healthcheck: {{path: /up, interval: 100ms}}\n      drain_timeout: 1s\n      driver: nginx\n",
        nginx.port
    );
    let app = App::with_host_a(
        scope,
        "sshn",
        &format!(", ssh: {}, nginx: {}", sshd.host_yaml(), nginx.host_yaml()),
        "      web: {hosts: [a], port: 8080}\n",
        &proxy,
    )
    .await;
    app.image("v1", &[]).await;
    app.image("v2", &[]).await;
    let (r, events) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok, "{:#?}", output(&events));
    let file = nginx
        .confd
        .join(berth::engine::proxy::nginx::file_name(&app.name, ""));
    let proof = format!(
        "GET /up (Host: {host}) through 127.0.0.1:{} on host a (through ssh): 200 from the new config",
        nginx.port
    );
    assert!(output(&events).contains(&proof), "{:#?}", output(&events));

    let traffic = Load::start(nginx.addr(), host, "/version", 2, Duration::from_millis(5));
    let (r, events) = app.run(app.deploy("v2"), None).await;
    let samples = traffic.stop().await;
    assert_eq!(r, RunResult::Ok, "{:#?}", output(&events));
    load::assert_no_failures(&samples, "a deploy through nginx on an SSH host");
    assert!(samples.len() >= 50, "the load ran: {}", samples.len());
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        berth::engine::proxy::nginx::parse_route(&text)
            .unwrap()
            .versions(),
        "v2"
    );
    assert!(
        output(&events).iter().any(|l| l.starts_with(&format!(
            "nginx: ssh://{}@127.0.0.1:{}:",
            sshd.user, sshd.port
        ))),
        "{:#?}",
        output(&events)
    );

    let (r, events) = app.run(app.destroy(false), None).await;
    assert_eq!(r, RunResult::Ok, "{:#?}", output(&events));
    assert!(!file.exists(), "destroy removed berth's nginx file");
}

/// A host whose sshd accepts and then says nothing (hung) holds back only
/// its own apps' locks: the other hosts' locks and history are sent within
/// the watch's first flush, and the hung host's lock says why once its
/// deadline passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_host_never_holds_back_the_other_hosts_locks() {
    use berth::engine::watch::{self, LockRead, Update};
    let sshd = Sshd::start();
    // Accepts connections (the kernel does, into the backlog) and never
    // answers: ssh waits for a banner that does not come.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung_port = hung.local_addr().unwrap().port();
    let hung_yaml = sshd.host_yaml().replace(
        &format!("port: {}", sshd.port),
        &format!("port: {hung_port}"),
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let path = config(
        dir.path(),
        &format!("  a: {{state_dir: {d}/a}}\n  hung: {{ssh: {hung_yaml}}}\n"),
        "  fast:\n    image: x:v1\n    roles:\n      web: {hosts: [a]}\n  slow:\n    image: x:v1\n    roles:\n      web: {hosts: [hung]}\n",
    );
    let config = std::sync::Arc::new(berth::config::load(&path).unwrap());
    let gateway = berth::docker::Gateway::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let reload = std::sync::Arc::new(tokio::sync::Notify::new());
    let started = std::time::Instant::now();
    let task = tokio::spawn(watch::run(
        config.clone(),
        gateway.hosts().clone(),
        tx,
        reload.clone(),
    ));
    let key = |app: &str| (app.to_string(), String::new());
    // The first locks: the fast host's, long before the hung one's 10 s.
    let first = loop {
        match tokio::time::timeout(Duration::from_secs(20), rx.recv()).await {
            Ok(Some(Update::Locks(locks))) => break locks,
            Ok(Some(Update::History(_))) => continue,
            other => panic!("no locks: {other:?}"),
        }
    };
    let took = started.elapsed();
    assert_eq!(first.get(&key("fast")), Some(&LockRead::Free), "{first:?}");
    assert!(
        !first.contains_key(&key("slow")),
        "the hung host is not waited for: {first:?}"
    );
    assert!(
        took < watch::FIRST_FLUSH + Duration::from_secs(3),
        "sent after {took:?}, not after the hung host's deadline"
    );
    // A lock taken on the fast app while the hung host is still being
    // waited for: a reload shows it at once, not after that round.
    let fast = berth::config::AppName::new("fast").unwrap();
    berth::engine::lock::acquire_manual(
        &config,
        gateway.hosts(),
        &fast,
        None,
        "db migration",
        &berth::engine::Performer::current(),
    )
    .await
    .unwrap();
    let asked = std::time::Instant::now();
    reload.notify_one();
    let held = loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(Update::Locks(locks)))
                if matches!(locks.get(&key("fast")), Some(LockRead::Held(_))) =>
            {
                break locks;
            }
            Ok(Some(_)) => continue,
            other => panic!("the fast app's lock never showed: {other:?}"),
        }
    };
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "shown after {:?}, not after the hung host's round",
        asked.elapsed()
    );
    assert!(!held.contains_key(&key("slow")) || started.elapsed() > Duration::from_secs(9));
    // Then the hung host's lock, with why, once its deadline passed.
    let later = loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(Update::Locks(locks))) if locks.contains_key(&key("slow")) => break locks,
            Ok(Some(_)) => continue,
            other => panic!("the hung host's lock never came: {other:?}"),
        }
    };
    match later.get(&key("slow")) {
        Some(LockRead::Error(why)) => assert!(why.contains("hung"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(later.get(&key("fast")), Some(LockRead::Held(_))));
    task.abort();
    drop(hung);
}

/// The pids of ssh masters checking host keys against `known_hosts`.
fn masters(known_hosts: &std::path::Path) -> Vec<u32> {
    let want = format!("UserKnownHostsFile={}", known_hosts.display());
    let mut pids = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmd
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.first().is_some_and(|a| a.ends_with("ssh"))
            && args.iter().any(|a| a == "-M")
            && args.contains(&want)
        {
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids
}

/// Ends the masters of `known_hosts` and waits until they are gone.
async fn end_masters(known_hosts: &std::path::Path) {
    for pid in masters(known_hosts) {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !masters(known_hosts).is_empty() {
        assert!(std::time::Instant::now() < deadline, "masters did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A master outlives its berth and serves the next one with the same host
/// config; a changed list of trusted host keys never reuses it (ssh checks
/// the key again on a master of its own); one that ended is replaced; and
/// `persist: 0s` leaves nothing running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_master_serves_the_next_berth_until_what_shaped_it_changes() {
    let Some(_docker) = common::docker().await else {
        return;
    };
    let sshd = Sshd::start();
    let dir = tempfile::tempdir().unwrap();
    let kh = sshd.known_hosts.clone();
    let write = |extra: &str| {
        config(
            dir.path(),
            &format!("  edge: {{ssh: {{{extra}{}}}\n", &sshd.host_yaml()[1..]),
            "",
        )
    };
    let check = |path: &std::path::Path| {
        let out = common::berth()
            .arg("-c")
            .arg(path)
            .args(["hosts", "check", "--timeout", "10s"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let kept = write("");
    check(&kept);
    let first = masters(&kh);
    assert_eq!(first.len(), 1, "the master outlives berth: {first:?}");
    check(&kept);
    assert_eq!(masters(&kh), first, "the next berth used the same master");

    // A host key list that changed gets a new master: the old one was
    // verified against the old list.
    let mut text = std::fs::read_to_string(&kh).unwrap();
    text.push_str("# a key was added or removed\n");
    std::fs::write(&kh, text).unwrap();
    check(&kept);
    let after = masters(&kh);
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(after.contains(&first[0]));

    // Masters that ended (idle, or killed) are replaced, and their names
    // no longer lead anywhere.
    end_masters(&kh).await;
    check(&kept);
    let fresh = masters(&kh);
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert!(!after.contains(&fresh[0]));

    // Not kept: berth closes its master as it exits.
    end_masters(&kh).await;
    check(&write("persist: 0s, "));
    assert_eq!(masters(&kh), Vec::<u32>::new());
}

/// An SSH host where `flock` does not run (util-linux not installed: here a
/// stand-in bound over the host's /usr/bin/flock that fails as a missing
/// command does): the deploy is refused before its lock, naming the host,
/// the tool and what to install, instead of failing at its traffic stage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_host_without_flock_is_named_by_preflight() {
    use common::nginx::NginxServer;
    let Some(scope) = common::scope().await else {
        return;
    };
    let tools = tempfile::tempdir().unwrap();
    let missing = tools.path().join("flock");
    std::fs::write(
        &missing,
        "#!/bin/sh\necho \"sh: 1: flock: not found\" >&2\nexit 127\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &missing,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let sshd = Sshd::start_with(common::sshd::Opts {
        binds: vec![(missing, "/usr/bin/flock".into())],
        ..Default::default()
    });
    let nginx = NginxServer::start();
    let proxy = format!(
        "    proxy:\n      domains: [app.test]\n      listen: {}\n      driver: nginx\n",
        nginx.port
    );
    let app = App::with_host_a(
        scope,
        "nofl",
        &format!(", ssh: {}, nginx: {}", sshd.host_yaml(), nginx.host_yaml()),
        "      web: {hosts: [a], port: 8080}\n",
        &proxy,
    )
    .await;
    app.image("v1", &[]).await;
    let out = common::berth()
        .arg("-c")
        .arg(&app.config.path)
        .args(["deploy", &app.name, "-V", "v1"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(3), "refused: {said}");
    assert!(
        said.contains("host a: `flock --version` fails")
            && said.contains("install util-linux's flock on the host"),
        "{said}"
    );
    assert!(app.running("web").await.is_empty(), "nothing started");
    // `hosts check` says so too, and fails.
    let out = common::berth()
        .arg("-c")
        .arg(&app.config.path)
        .args(["hosts", "check"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("a: ✗ `flock` does not run (util-linux)"),
        "{said}"
    );
}
