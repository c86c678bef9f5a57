//! A CLI action that loses its stdout (`berth deploy ... | head -2`) runs
//! to its end and is recorded; one that gets SIGTERM or SIGHUP (a service
//! manager, a dropped SSH session) is cancelled like Ctrl-C: the previous
//! version keeps serving, the lock is free, the history says so.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{self, app::App};

const WEB: &str = "      web: {hosts: [a], port: 8080}\n";

fn deploy(app: &App, version: &str) -> Child {
    common::berth()
        .arg("-c")
        .arg(&app.config.path)
        .args(["deploy", &app.name, "-V", version])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for the child within `limit`: its exit code.
fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        assert!(Instant::now() < end, "berth did not end within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn berth(app: &App, args: &[&str]) -> std::process::Output {
    common::berth()
        .arg("-c")
        .arg(&app.config.path)
        .args(args)
        .output()
        .unwrap()
}

/// The app's last history record (from `berth history --json`).
fn last_record(app: &App) -> serde_json::Value {
    let out = berth(app, &["history", &app.name, "--json"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .next_back()
        .unwrap_or_else(|| panic!("no history: {out:?}"))
}

fn lock_is_free(app: &App) -> bool {
    let out = berth(app, &["lock", "acquire", &app.name, "-m", "probe"]);
    let free = out.status.code() == Some(0);
    if free {
        berth(app, &["lock", "release", &app.name]);
    }
    free
}

async fn versions(app: &App) -> Vec<String> {
    let mut v: Vec<String> = app
        .running("web")
        .await
        .iter()
        .map(|c| common::app::version_of(c).to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_loses_output_never_the_deploy() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::with_v1(scope, "pipe", WEB).await;
    app.image("v2", &[]).await;
    let mut child = deploy(&app, "v2");
    // `| head -1`: one line read, then the pipe closed.
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    drop(out);
    let code = tokio::task::spawn_blocking(move || wait(&mut child, Duration::from_secs(180)))
        .await
        .unwrap();
    assert_eq!(code, Some(0), "the deploy ran to its end: {first}");
    assert_eq!(versions(&app).await, ["v2"]);
    let r = last_record(&app);
    assert_eq!(
        (r["action"].as_str(), r["result"].as_str()),
        (Some("deploy"), Some("ok")),
        "{r}"
    );
    assert!(lock_is_free(&app));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_and_sighup_cancel_a_deploy_safely() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::with_v1(scope, "sig", WEB).await;
    for (signal, version) in [("-TERM", "v2"), ("-HUP", "v3")] {
        app.image(version, &[]).await;
        let mut child = deploy(&app, version);
        // Once the run holds the lock and works, the signal.
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap() == 0 {
                panic!("the deploy ended before its image stage: {seen}");
            }
            seen.push_str(&line);
            if line.contains("▶") && line.contains("image") {
                break;
            }
        }
        let pid = child.id().to_string();
        assert!(
            Command::new("kill")
                .args([signal, &pid])
                .status()
                .unwrap()
                .success()
        );
        let (code, rest) = tokio::task::spawn_blocking(move || {
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut out, &mut rest);
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err);
            (wait(&mut child, Duration::from_secs(120)), rest + &err)
        })
        .await
        .unwrap();
        assert_ne!(code, Some(0), "{signal}: {seen}{rest}");
        let name = if signal == "-TERM" {
            "SIGTERM"
        } else {
            "SIGHUP"
        };
        assert!(
            rest.contains(&format!("{name}: cancelling")),
            "{signal}: {rest}"
        );
        assert_eq!(
            versions(&app).await,
            ["v1"],
            "{signal}: the previous version serves"
        );
        let r = last_record(&app);
        assert_eq!(r["result"], "cancelled", "{signal}: {r}");
        assert!(lock_is_free(&app), "{signal}: the lock was given back");
    }
}
