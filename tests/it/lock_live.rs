//! Deploy locks and hooks with real processes: concurrent acquires, a
//! killed holder, nested berth calls from hooks, and bad hook layouts.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A config directory with one app on host `a`, state in the tempdir.
struct Project {
    dir: tempfile::TempDir,
    app: String,
}

impl Project {
    fn new(app: &str, image: &str, extra: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let yaml = format!(
            "version: 2\nlock: {{ttl: 2s}}\nhosts:\n  a: {{state_dir: {d}/state}}\napps:\n  {app}:\n    image: {image}\n    roles:\n      web: {{hosts: [a], port: 8080}}\n    stop_timeout: 1s\n    deploy_timeout: 20s\n{extra}",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("berth.yaml"), yaml).unwrap();
        Project {
            dir,
            app: app.to_string(),
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("berth.yaml")
    }

    fn lock_dir(&self) -> PathBuf {
        self.dir.path().join("state/locks").join(&self.app)
    }

    fn berth(&self) -> Command {
        let mut c = common::berth();
        c.arg("-c").arg(self.config());
        // Hooks call `berth` by name.
        let bin = Path::new(env!("CARGO_BIN_EXE_berth"))
            .parent()
            .unwrap()
            .to_path_buf();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path).env_remove("BERTH_LOCK_TOKEN");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.berth().args(args).output().unwrap()
    }

    fn hook(&self, rel: &str, body: &str) {
        let path = self.dir.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn fifty_concurrent_acquires_have_exactly_one_winner_in_every_trial() {
    let p = Project::new("race", "x:latest", "");
    for trial in 0..20 {
        let children: Vec<_> = (0..50)
            .map(|i| {
                p.berth()
                    .args([
                        "lock",
                        "acquire",
                        &p.app,
                        "-m",
                        &format!("trial {trial} contender {i}"),
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let winners: Vec<usize> = outs
            .iter()
            .enumerate()
            .filter(|(_, o)| o.status.success())
            .map(|(i, _)| i)
            .collect();
        assert_eq!(winners.len(), 1, "trial {trial}: winners {winners:?}");
        let winner = format!("manual lock: \"trial {trial} contender {}\"", winners[0]);
        for (i, o) in outs.iter().enumerate().filter(|(i, _)| *i != winners[0]) {
            assert_eq!(
                o.status.code(),
                Some(3),
                "trial {trial} contender {i}, refused: {}",
                text(o)
            );
            let msg = String::from_utf8_lossy(&o.stderr);
            assert!(
                msg.contains(&winner),
                "trial {trial} contender {i} does not name the winner: {msg}"
            );
            assert_eq!(msg.lines().count(), 1, "one line: {msg}");
        }
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(p.lock_dir().join("holder.json")).unwrap())
                .expect("the holder record is whole");
        assert_eq!(
            record["message"],
            format!("trial {trial} contender {}", winners[0])
        );
        let out = p.run(&["lock", "release", &p.app]);
        assert!(out.status.success(), "{}", text(&out));
    }
    // Nothing left behind by losers.
    let leftovers: Vec<_> = std::fs::read_dir(p.dir.path().join("state/locks"))
        .unwrap()
        .flatten()
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_killed_deploy_leaves_a_stale_lock_that_force_release_clears_and_records() {
    let p = Project::new("killed", "x:latest", "");
    // The deploy holds the lock while its pre-deploy hook sleeps.
    p.hook("hooks/pre-deploy", "exec sleep 5");
    let mut child = p
        .berth()
        .args(["deploy", &p.app, "-V", "v1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.lock_dir().join("holder.json").exists() {
        assert!(Instant::now() < deadline, "the deploy never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = text(&p.run(&["lock", "status", &p.app]));
    assert!(
        status.contains("for deploy v1") && !status.contains("STALE"),
        "{status}"
    );
    child.kill().unwrap(); // SIGKILL: no cleanup runs
    child.wait().unwrap();

    // Stale at once, before its 2s TTL: its process is gone from this
    // machine, and berth checks the pid.
    let status = text(&p.run(&["lock", "status", &p.app]));
    assert!(
        status.contains(&format!(
            "STALE: its process (pid {}) is not running on this machine",
            child.id()
        )),
        "{status}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&p.run(&["lock", "status", &p.app, "--json"]).stdout).unwrap();
    assert_eq!(json["berth"][0]["stale"], true);
    assert_eq!(json["berth"][0]["holder"]["action"], "deploy");

    // A stale lock is shown, never taken over silently.
    let out = p.run(&["lock", "acquire", &p.app, "-m", "mine now"]);
    assert_eq!(out.status.code(), Some(3), "refused: {}", text(&out));

    let out = p.run(&["lock", "release", &p.app, "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("forced release of: locked by "),
        "{}",
        text(&out)
    );
    assert_eq!(
        text(&p.run(&["lock", "status", &p.app])).trim(),
        format!("{}: free", p.app)
    );
    let history = std::fs::read_to_string(
        p.dir
            .path()
            .join(format!("state/apps/{}/history.jsonl", p.app)),
    )
    .unwrap();
    let last: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    assert_eq!(last["action"], "lock release --force");
    assert!(
        last["note"].as_str().unwrap().contains("for deploy v1"),
        "{last}"
    );
    assert!(last["performer"]["user"].is_string());
}

#[test]
fn manual_lock_refuses_actions_and_lock_wait_will_not_wait_behind_it() {
    let p = Project::new("manual", "x:latest", "");
    assert!(
        p.run(&["lock", "acquire", &p.app, "-m", "db migration"])
            .status
            .success()
    );
    let out = p.run(&["deploy", &p.app, "-V", "v1", "--lock-wait", "5s"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(3), "refused: {t}");
    assert!(t.contains("for manual lock: \"db migration\""), "{t}");
    assert!(
        t.contains("--lock-wait does not wait behind a manual lock"),
        "{t}"
    );
    assert!(t.contains("REFUSED at `lock`: nothing was changed"), "{t}");
    // One line, not a list of the stages it skipped.
    assert!(!t.contains("skipped"), "{t}");
    // Someone else's manual lock is not released without --force.
    let out = p
        .berth()
        .env("USER", "someone-else")
        .args(["lock", "release", &p.app])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "refused: {}", text(&out));
    assert!(text(&out).contains("it is not yours"), "{}", text(&out));
    assert!(p.run(&["lock", "release", &p.app]).status.success());
    // The lock taken and given back by hand, and the refused deploy
    // between, are in the history, in order.
    let out = p.run(&["history", &p.app, "--json"]);
    let records: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, &str)> = records
        .iter()
        .map(|r| (r["action"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("lock acquire", "ok"),
            ("deploy", "refused"),
            ("lock release", "ok")
        ],
        "{records:#?}"
    );
    assert_eq!(records[0]["note"], "\"db migration\"");
}

#[test]
fn bad_hook_layouts_stop_every_action_naming_the_files() {
    let p = Project::new("layout", "x:latest", "");
    p.hook("hooks/pre-deplyo", "true");
    p.hook("plugins/core/post-deploy", "true");
    p.hook("plugins/core/pre-deploy", "true");
    std::fs::write(
        p.dir.path().join("plugins/core/plugin.yaml"),
        "name: core\ntriggers: [post-deploy]\n",
    )
    .unwrap();
    for args in [
        vec!["plan", "deploy", &p.app, "-V", "v1"],
        vec!["deploy", &p.app, "-V", "v1"],
        vec!["restart", &p.app],
    ] {
        let out = p.run(&args);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {t}");
        assert!(
            t.contains("hooks and plugins need fixing before any action runs"),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "{}: `pre-deplyo` is not a trigger berth knows; did you mean `pre-deploy`?",
                p.dir.path().join("hooks/pre-deplyo").display()
            )),
            "{t}"
        );
        assert!(
            t.contains(&format!(
                "{}: no plugin declares this file",
                p.dir.path().join("plugins/core/pre-deploy").display()
            )),
            "{t}"
        );
    }
    assert!(!p.lock_dir().exists(), "nothing ran, not even the lock");
}

#[test]
fn plan_lists_the_hook_and_plugin_files_of_each_stage() {
    let p = Project::new("planned", "x:latest", "");
    p.hook("hooks/pre-deploy", "true");
    p.hook("hooks/pre-app-boot", "true");
    p.hook("plugins/notify/post-deploy", "true");
    p.hook("plugins/notify/deploy-failed", "true");
    std::fs::write(
        p.dir.path().join("plugins/notify/plugin.yaml"),
        "name: notify\ntriggers: [post-deploy, deploy-failed]\n",
    )
    .unwrap();
    let out = p.run(&["plan", "deploy", &p.app, "-V", "v1"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let d = p.dir.path().display();
    assert!(
        t.contains(&format!(
            "pre-deploy                   on a  (runs {d}/hooks/pre-deploy (hooks))"
        )),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "pre-boot                     on a  (runs {d}/hooks/pre-app-boot (hooks))"
        )),
        "{t}"
    );
    assert!(t.contains(&format!("post-deploy                  on a  (runs {d}/plugins/notify/post-deploy (plugin notify))")), "{t}");
    assert!(t.contains(&format!("deploy-failed                on a  (only if the action fails; runs {d}/plugins/notify/deploy-failed (plugin notify))")), "{t}");
    assert!(
        t.contains("`pre-app-boot` is an old name of `pre-boot`"),
        "the alias warning: {t}"
    );
}

#[tokio::test]
async fn nested_berth_calls_from_hooks_reenter_the_lock_for_deploy_restart_and_destroy() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = scope.app("nest");
    scope.version_image(&app, "v1", &[]).await;
    let p = Project::new(&app, &format!("{app}:latest"), "");
    let out_dir = p.dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let o = out_dir.display();
    // deploy: post-deploy runs a nested restart, then lock status.
    p.hook("hooks/post-deploy", &format!("berth restart \"$BERTH_APP\" > {o}/nested-restart.txt 2>&1\nberth lock status \"$BERTH_APP\" > {o}/after-nested.txt"));
    // every restart (nested or not) reports the lock it runs under.
    p.hook(
        "hooks/post-restart",
        &format!("berth lock status \"$BERTH_APP\" >> {o}/in-restart.txt"),
    );
    // destroy: pre-destroy runs a nested restart and lock status.
    p.hook("hooks/pre-destroy", &format!("berth restart \"$BERTH_APP\" > {o}/destroy-nested.txt 2>&1\nberth lock status \"$BERTH_APP\" > {o}/in-destroy.txt"));
    let read =
        |f: &str| std::fs::read_to_string(out_dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));

    let out = p.run(&["deploy", &app, "-V", "v1"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(
        t.matches("│ released ").count(),
        1,
        "released once, by the outer deploy: {t}"
    );
    let nested = read("nested-restart.txt");
    assert!(
        nested.contains("re-entered the lock held by the calling deploy"),
        "{nested}"
    );
    assert!(
        nested.contains("left the calling action's lock"),
        "{nested}"
    );
    assert!(!nested.contains("│ released "), "{nested}");
    let in_restart = read("in-restart.txt");
    assert!(
        in_restart.contains("for deploy v1") && in_restart.contains("nested: restart (pid "),
        "{in_restart}"
    );
    let after = read("after-nested.txt");
    assert!(
        after.contains("for deploy v1") && !after.contains("nested:"),
        "still held after the nested call: {after}"
    );
    assert_eq!(
        text(&p.run(&["lock", "status", &app])).trim(),
        format!("{app}: free")
    );

    // restart: its hook sees the restart's own lock.
    std::fs::remove_file(out_dir.join("in-restart.txt")).unwrap();
    let out = p.run(&["restart", &app]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        read("in-restart.txt").contains("for restart since"),
        "{}",
        read("in-restart.txt")
    );
    assert_eq!(text(&out).matches("│ released ").count(), 1);

    // destroy: a nested restart inside pre-destroy, then the destroy.
    let out = p.run(&["destroy", &app, "--confirm", &app]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        read("destroy-nested.txt").contains("re-entered the lock held by the calling destroy"),
        "{}",
        read("destroy-nested.txt")
    );
    assert!(
        read("in-destroy.txt").contains("for destroy since"),
        "{}",
        read("in-destroy.txt")
    );
    assert_eq!(t.matches("│ released ").count(), 1, "{t}");
    assert_eq!(
        text(&p.run(&["lock", "status", &app])).trim(),
        format!("{app}: free")
    );
}

#[tokio::test]
async fn lock_wait_waits_for_a_running_action_then_proceeds() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = scope.app("wait");
    scope.version_image(&app, "v1", &[]).await;
    let p = Project::new(&app, &format!("{app}:latest"), "");
    p.hook(
        "hooks/pre-deploy",
        "[ \"$BERTH_VERSION\" = slow ] && exec sleep 3 || true",
    );
    scope.version_image(&app, "slow", &[]).await;
    let mut first = p
        .berth()
        .args(["deploy", &app, "-V", "slow"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.lock_dir().join("holder.json").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = p.run(&["deploy", &app, "-V", "v1"]);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(3),
        "refused at once without --lock-wait: {t}"
    );
    assert!(
        t.contains(&format!("{app} is locked by ")) && t.contains("for deploy slow"),
        "{t}"
    );

    let out = p.run(&["deploy", &app, "-V", "v1", "--lock-wait", "30s"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("waiting for the lock: "), "{t}");
    assert!(first.wait().unwrap().success());
}

#[tokio::test]
async fn doctor_reports_each_problem_with_a_fix() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = scope.app("doc");
    let p = Project::new(&app, "x:latest", "");
    // A stale lock: a deploy killed while its pre-deploy hook sleeps.
    p.hook("hooks/pre-deploy", "exec sleep 5");
    let mut child = p
        .berth()
        .args(["deploy", &app, "-V", "v1"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.lock_dir().join("holder.json").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // An orphaned lock: of an app the config no longer declares.
    let gone = format!("{app}-old");
    std::fs::rename(p.lock_dir(), p.dir.path().join("state/locks").join(&gone)).unwrap();
    std::thread::sleep(Duration::from_millis(2600));
    let mut child = p
        .berth()
        .args(["deploy", &app, "-V", "v1"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while !p.lock_dir().join("holder.json").exists() {
        assert!(Instant::now() < deadline + Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(2600));
    // A bad hook, and a container of an app nobody declares.
    p.hook("hooks/post-deplyo", "true");
    scope
        .start(
            common::Spec::named("stray")
                .sleeper()
                .berth(&format!("{app}-gone"), "web", "v0"),
        )
        .await;

    let out = p.run(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let findings: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let find = |check: &str, needle: &str| {
        findings
            .iter()
            .find(|f| {
                f["check"] == check
                    && (f["message"].as_str().unwrap().contains(needle)
                        || f["subject"].as_str().unwrap().contains(needle))
            })
            .unwrap_or_else(|| panic!("no {check} finding with {needle}: {findings:#?}"))
            .clone()
    };
    let stale = find("locks", "STALE");
    assert_eq!(stale["severity"], "error");
    assert!(
        stale["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("berth lock release {app} --force"))
    );
    let orphan = find("locks", "not declared (orphaned)");
    assert!(
        orphan["subject"]
            .as_str()
            .unwrap()
            .ends_with(&format!("locks/{gone}"))
    );
    let hook = find("hooks", "post-deplyo");
    assert!(
        hook["message"]
            .as_str()
            .unwrap()
            .contains("did you mean `post-deploy`?")
    );
    let role = find("roles", &format!("{app}/web on a"));
    assert!(
        role["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("berth deploy {app} -V <version>"))
    );
    let container = find("containers", &format!("berth-t{}-stray", scope.id));
    assert!(
        container["message"]
            .as_str()
            .unwrap()
            .contains(&format!("app `{app}-gone`, which is not declared"))
    );

    let human = text(&p.run(&["doctor"]));
    assert!(
        human.contains("error [locks]") && human.contains("    fix: `berth lock release"),
        "{human}"
    );
}

/// What an attacker with write access to a state directory (or a user name,
/// or a lock message) would plant: a title change, a screen clear, a
/// clipboard write, a C1 CSI, a carriage return and a backspace.
const HOSTILE: &str =
    "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]52;c;ZXZpbA==\u{7}\u{9b}31m\r\u{8}evil\u{1b}";

/// The first byte a terminal would act on, if any: C0 controls but newline
/// and tab, DEL, and C1 controls (UTF-8 `C2 80`–`C2 9F`).
fn control_byte(bytes: &[u8]) -> Option<(usize, u8)> {
    bytes
        .windows(2)
        .enumerate()
        .find_map(|(i, w)| {
            let c0 = (w[0] < 0x20 && w[0] != b'\n' && w[0] != b'\t') || w[0] == 0x7f;
            let c1 = w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]);
            (c0 || c1).then_some((i, w[0]))
        })
        .or_else(|| {
            let last = *bytes.last()?;
            (last < 0x20 && last != b'\n' && last != b'\t').then_some((bytes.len() - 1, last))
        })
}

fn assert_clean(what: &str, o: &Output) {
    for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        if let Some((at, b)) = control_byte(bytes) {
            panic!(
                "`{what}` wrote control byte {b:#04x} at {at} of its {stream}: {:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}

#[test]
fn hostile_text_in_every_lock_and_history_field_never_reaches_the_terminal() {
    let p = Project::new("hostile", "x:latest", "");
    let h = HOSTILE;
    let lock = p.lock_dir();
    std::fs::create_dir_all(&lock).unwrap();
    let now = chrono::Utc::now();
    let holder = serde_json::json!({
        "user": h, "machine": h, "pid": 1, "action": h, "version": h, "message": h,
        "acquired_at": now, "token": "0123456789abcdef", "manual": false,
    });
    std::fs::write(lock.join("holder.json"), holder.to_string()).unwrap();
    std::fs::write(lock.join("heartbeat"), serde_json::json!(now).to_string()).unwrap();
    let nested = serde_json::json!({"action": h, "pid": 7, "since": now});
    std::fs::write(lock.join("nested-7.json"), nested.to_string()).unwrap();
    let record = serde_json::json!({
        "started_at": now, "finished_at": now,
        "performer": {"user": h, "machine": h},
        "action": h, "app": h, "destination": h, "version": h, "result": h,
        "failed_stage": h, "error": format!("{h}\n{h}"), "note": h,
    });
    let history = p.dir.path().join("state/apps/hostile/history.jsonl");
    std::fs::create_dir_all(history.parent().unwrap()).unwrap();
    // A line that does not parse is reported: its text must not leak either.
    std::fs::write(&history, format!("{record}\n{{{h}\n")).unwrap();

    let app = p.app.as_str();
    let runs: Vec<(&str, Vec<&str>)> = vec![
        ("lock status", vec!["lock", "status"]),
        ("lock status --json", vec!["lock", "status", "--json"]),
        (
            "lock acquire (refused)",
            vec!["lock", "acquire", app, "-m", "x"],
        ),
        ("lock release (refused)", vec!["lock", "release", app]),
        ("deploy (refused at lock)", vec!["deploy", app, "-V", "v2"]),
        ("restart (refused at lock)", vec!["restart", app]),
        ("history", vec!["history", app]),
        ("history --json", vec!["history", app, "--json"]),
        ("doctor", vec!["doctor"]),
        ("doctor --json", vec!["doctor", "--json"]),
        (
            "lock release --force",
            vec!["lock", "release", app, "--force"],
        ),
        ("history after --force", vec!["history", app]),
    ];
    for (what, args) in &runs {
        let o = p.run(args);
        assert_clean(what, &o);
        // The holder's token lets a nested call re-enter: never shown.
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("0123456789abcdef"),
            "`{what}` showed the lock token"
        );
    }
    // The refusal still names the holder, cleaned.
    assert!(
        text(&p.run(&["history", app])).contains("evil"),
        "the cleaned text is still shown"
    );

    // A hostile user name and message, taken through the CLI.
    let o = p
        .berth()
        .env("USER", h)
        .args(["lock", "acquire", app, "-m", h])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_clean("lock acquire with a hostile $USER and message", &o);
    let raw = std::fs::read(lock.join("holder.json")).unwrap();
    assert!(
        !raw.windows(6).any(|w| w == b"\\u001b"),
        "the record is written clean: {}",
        String::from_utf8_lossy(&raw)
    );
    for (what, args) in &runs[..7] {
        assert_clean(what, &p.run(args));
    }
}

#[test]
fn broken_locks_are_shown_as_what_they_are_and_force_clears_each() {
    let p = Project::new(
        "broken",
        "x:latest",
        "  other:\n    image: x:latest\n    roles:\n      web: {hosts: [a]}\n",
    );
    let lock = p.lock_dir();
    let app = p.app.as_str();
    let future = serde_json::json!(chrono::Utc::now() + chrono::Duration::hours(1)).to_string();
    let holder = |hb: Option<&str>| {
        let now = chrono::Utc::now();
        std::fs::create_dir_all(&lock).unwrap();
        let h = serde_json::json!({
            "user": "ana", "machine": "laptop", "pid": 1, "action": "deploy", "version": "v9",
            "message": null, "acquired_at": now, "token": "0123456789abcdef", "manual": false,
        });
        std::fs::write(lock.join("holder.json"), h.to_string()).unwrap();
        if let Some(hb) = hb {
            std::fs::write(lock.join("heartbeat"), hb).unwrap();
        }
    };
    type Plant<'a> = (&'a str, &'a str, Box<dyn Fn() + 'a>);
    let cases: Vec<Plant> = vec![
        (
            "no holder record",
            "BROKEN lock",
            Box::new(|| {
                std::fs::create_dir_all(&lock).unwrap();
                std::fs::write(lock.join("heartbeat"), "\"2026-01-01T00:00:00Z\"").unwrap();
            }),
        ),
        (
            "empty holder record",
            "is empty",
            Box::new(|| {
                std::fs::create_dir_all(&lock).unwrap();
                std::fs::write(lock.join("holder.json"), "").unwrap();
            }),
        ),
        (
            "corrupt holder record",
            "is unreadable",
            Box::new(|| {
                std::fs::create_dir_all(&lock).unwrap();
                std::fs::write(lock.join("holder.json"), "{\"user\": 1").unwrap();
            }),
        ),
        (
            "a file where the lock goes",
            "it is a file",
            Box::new(|| {
                std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
                std::fs::write(&lock, "junk").unwrap();
            }),
        ),
        (
            "a heartbeat an hour ahead",
            "in the future",
            Box::new(|| holder(Some(&future))),
        ),
        (
            "a huge message",
            "…",
            Box::new(|| {
                holder(None);
                let mut h: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(lock.join("holder.json")).unwrap())
                        .unwrap();
                h["action"] = "manual".into();
                h["manual"] = true.into();
                h["message"] = "m".repeat(1_000_000).into();
                std::fs::write(lock.join("holder.json"), h.to_string()).unwrap();
            }),
        ),
    ];
    let clear = format!("berth lock release {app} --force");
    for (case, says, plant) in &cases {
        plant();
        let o = p.run(&["lock", "status"]);
        let t = text(&o);
        assert!(t.contains(says), "{case}: lock status: {t}");
        assert!(
            t.contains("other: free"),
            "{case}: other apps still listed: {t}"
        );
        assert!(
            t.lines().all(|l| l.len() < 2000),
            "{case}: lines are bounded: {t}"
        );
        let raw = p.run(&["lock", "status", "--json"]).stdout;
        // However big the record, the answer is not (the message is kept
        // to 1,000 characters, every field bounded as it is read).
        assert!(raw.len() < 16 * 1024, "{case}: {} bytes of JSON", raw.len());
        let json: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(json["berth"][0]["held"], true, "{case}: {json}");
        // A broken lock is not ok (exit 1); a held one is an answer (0).
        let want = if json["berth"][0]["broken"].is_null() {
            0
        } else {
            1
        };
        assert_eq!(o.status.code(), Some(want), "{case}: {t}");
        if *case != "a huge message" {
            assert!(t.contains(&clear), "{case}: names the fix: {t}");
            let d = text(&p.run(&["doctor"]));
            assert!(d.contains(&clear), "{case}: doctor: {d}");
        }
        // No action takes it, and each refusal says what it is.
        let o = p.run(&["deploy", app, "-V", "v2"]);
        let t = text(&o);
        assert_ne!(o.status.code(), Some(0), "{case}: {t}");
        assert!(t.contains(says), "{case}: the refusal says what it is: {t}");
        // --force clears it and records who did.
        let o = p.run(&["lock", "release", app, "--force"]);
        assert!(o.status.success(), "{case}: {}", text(&o));
        assert_eq!(
            text(&p.run(&["lock", "status", app])).trim(),
            format!("{app}: free"),
            "{case}"
        );
        let history = text(&p.run(&["history", app, "--json"]));
        assert!(
            history.contains("lock release --force"),
            "{case}: {history}"
        );
        assert!(
            p.run(&["lock", "acquire", app, "-m", "ok"])
                .status
                .success(),
            "{case}: the lock can be taken again"
        );
        assert!(p.run(&["lock", "release", app]).status.success());
    }
}

#[test]
fn hooks_run_from_any_working_directory_and_any_spelling_of_the_config_path() {
    // <top>/proj/config/berth.yaml with its hooks beside it.
    let top = tempfile::tempdir().unwrap();
    let proj = top.path().join("proj");
    let conf_dir = proj.join("config");
    std::fs::create_dir_all(conf_dir.join("hooks")).unwrap();
    let yaml = format!(
        "version: 2\nhosts:\n  a: {{state_dir: {}}}\napps:\n  hooked:\n    image: x:latest\n    roles:\n      web: {{hosts: [a]}}\n",
        top.path().join("state").display()
    );
    std::fs::write(conf_dir.join("berth.yaml"), yaml).unwrap();
    let hook = conf_dir.join("hooks/pre-deploy");
    // Ends the deploy at pre-deploy on purpose: the hook's own words prove it ran.
    std::fs::write(&hook, "#!/bin/sh\necho \"hook ran in $(pwd)\"\nexit 3\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let abs = conf_dir.join("berth.yaml");
    let spellings: Vec<(&Path, Option<String>)> = vec![
        (&conf_dir, Some("berth.yaml".into())),
        (&conf_dir, Some("./berth.yaml".into())),
        (&proj, Some("config/berth.yaml".into())),
        (top.path(), Some("proj/config/berth.yaml".into())),
        (top.path(), Some("proj/../proj/config/berth.yaml".into())),
        (top.path(), Some(abs.display().to_string())),
        // Default discovery: ./config/berth.yaml.
        (&proj, None),
    ];
    for (cwd, config) in spellings {
        let mut c = common::berth();
        c.current_dir(cwd).env_remove("BERTH_CONFIG");
        if let Some(config) = &config {
            c.arg("-c").arg(config);
        }
        let o = c.args(["deploy", "hooked", "-V", "v1"]).output().unwrap();
        let t = text(&o);
        let case = format!("cwd {} with {config:?}", cwd.display());
        assert!(!t.contains("cannot run"), "{case}: {t}");
        assert!(
            t.contains(&format!("hook ran in {}", conf_dir.display())),
            "{case}: the hook ran, in the config's directory: {t}"
        );
        assert!(t.contains("FAILED at `pre-deploy`"), "{case}: {t}");
    }
}

#[test]
fn destroy_keeps_the_history_and_records_itself_in_it() {
    let p = Project::new("audited", "x:latest", "");
    let history = p.dir.path().join("state/apps/audited/history.jsonl");
    std::fs::create_dir_all(history.parent().unwrap()).unwrap();
    let line = |days: i64, version: &str| {
        let at = chrono::Utc::now() - chrono::Duration::days(days);
        serde_json::json!({
            "started_at": at, "finished_at": at,
            "performer": {"user": "ana", "machine": "laptop"},
            "action": "deploy", "app": "audited", "destination": "", "version": version,
            "result": "ok", "failed_stage": null, "error": null,
        })
        .to_string()
    };
    std::fs::write(&history, format!("{}\n{}\n", line(2, "v1"), line(1, "v2"))).unwrap();
    std::fs::write(history.with_file_name("other-state"), "x").unwrap();

    let out = p.run(&["destroy", "audited", "--confirm", "audited"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("kept the history"), "{}", text(&out));
    assert!(
        !history.with_file_name("other-state").exists(),
        "the rest of the app's state goes"
    );

    let all = text(&p.run(&["history", "audited"]));
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 3, "{all}");
    assert!(
        lines[0].contains("deploy") && lines[0].contains("v1"),
        "{all}"
    );
    assert!(
        lines[2].contains("destroy") && lines[2].contains(" ok "),
        "{all}"
    );
    let last = text(&p.run(&["history", "audited", "--limit", "1"]));
    assert_eq!(last.lines().count(), 1, "{last}");
    assert!(last.contains("destroy"), "{last}");
    let recent = text(&p.run(&["history", "audited", "--since", "36h"]));
    assert_eq!(
        recent.lines().count(),
        2,
        "the 2-day-old line is left out: {recent}"
    );
    assert!(recent.contains("v2") && !recent.contains("v1"), "{recent}");
}

#[test]
fn an_action_that_lacks_what_it_needs_is_refused_before_the_lock_naming_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    // A port nothing listens on, so the preflight finds it free.
    let free = common::nginx::free_port();
    let yaml = format!(
        "version: 2\nsecrets_file: secrets.env\nhosts:\n  a: {{state_dir: {s}, nginx: {{command: [/nonexistent/nginx], dir: {n}}}}}\napps:\n  needy:\n    image: x:latest\n    roles:\n      web: {{hosts: [a], port: 8080}}\n    env: {{secret: [API_TOKEN]}}\n    proxy: {{domains: [needy.test], listen: {free}, driver: nginx}}\n",
        s = state.display(),
        n = dir.path().join("conf.d").display()
    );
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, yaml).unwrap();
    let run = |args: &[&str]| common::berth_at(&config, args);
    for args in [
        &["plan", "deploy", "needy", "-V", "v1"][..],
        &["deploy", "needy", "-V", "v1"],
        &["restart", "needy"],
    ] {
        let o = run(args);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(3), "refused: {args:?}: {t}");
        assert!(t.contains("cannot run; it lacks:"), "{args:?}: {t}");
        assert!(
            t.contains("the secrets file cannot be read"),
            "{args:?}: {t}"
        );
        assert!(
            t.contains("/nonexistent/nginx -v` cannot run"),
            "{args:?}: {t}"
        );
        assert!(t.contains("nginx's directory"), "{args:?}: {t}");
    }
    assert!(
        !state.join("locks/needy").exists() && !state.join("apps/needy").exists(),
        "refused before the lock: nothing taken, nothing recorded"
    );
    // With the secret there, only nginx is missing.
    std::fs::write(dir.path().join("secrets.env"), "API_TOKEN=x\n").unwrap();
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    let t = text(&run(&["plan", "deploy", "needy", "-V", "v1"]));
    assert!(
        !t.contains("secrets") && !t.contains("nginx's directory"),
        "{t}"
    );
    assert!(t.contains("/nonexistent/nginx -v` cannot run"), "{t}");
    assert!(
        !t.contains(&format!("port {free}")),
        "nothing listens there: free: {t}"
    );

    // nginx's port held by another server: said, with what answers there.
    let impostor = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = impostor.local_addr().unwrap().port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in impostor.incoming().flatten() {
            let _ = s.read(&mut [0u8; 1024]);
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\nServer: impostor/1.0\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let yaml = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        yaml.replace(&format!("listen: {free}"), &format!("listen: {port}")),
    )
    .unwrap();
    let t = text(&run(&["plan", "deploy", "needy", "-V", "v1"]));
    assert!(
        t.contains(&format!(
            "port {port} is answered by `impostor/1.0`, not nginx"
        )),
        "{t}"
    );
}
