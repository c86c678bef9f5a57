//! Benchmark (not a test): what SSH hosts cost. Prints figures; judges
//! nothing.
//!
//! - a lock acquire + release round trip on an SSH host (its connection
//!   already open, as in a running berth) beside the same on local disk;
//! - `berth status --json` through SSH to 1 and to 4 hosts, wall time of
//!   the whole command (connecting included), beside the local engine;
//! - `berth deploy` to 1 host and to 4 hosts (boot all at once), wall time
//!   of the whole command, and the ratio (the target is 4 hosts within
//!   1.3x of 1).
//!
//! Every host is this machine through its own real sshd on 127.0.0.1 (as
//! the tests do), so the network is loopback: the figures are berth's and
//! ssh's own overhead, not a WAN's.
//!
//! Run: `cargo bench --bench ssh [-- ROUNDS]` (default 5). Needs what
//! `scripts/test` installs: Docker, busybox-static, openssh-server/client.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use berth::engine::history::Performer;
use berth::engine::lock;
use common::Scope;
use common::sshd::Sshd;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the berth binary; its wall time. Panics with its output if it fails.
fn berth(config: &Path, args: &[&str]) -> Duration {
    run(config, args).0
}

fn run(config: &Path, args: &[&str]) -> (Duration, Vec<u8>) {
    let t = Instant::now();
    let out = common::berth()
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "berth {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (took, out.stdout)
}

/// A `--json` deploy: its wall time, and each stage's time by name.
fn deploy(config: &Path, app: &str, version: &str) -> (f64, Vec<(String, f64)>) {
    let (took, out) = run(config, &["deploy", app, "--version", version, "--json"]);
    let stages = String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "stage_finished")
        .map(|e| {
            (
                e["name"].as_str().unwrap_or_default().to_string(),
                e["elapsed_ms"].as_f64().unwrap_or_default(),
            )
        })
        .collect();
    (ms(took), stages)
}

async fn lock_round_trips(root: &berth::hosts::HostPath, n: usize) -> Vec<f64> {
    let me = Performer::current();
    let dir = lock::lock_dir(root, "bench", "");
    let mut out = Vec::new();
    for _ in 0..n {
        let holder = lock::holder_for(&me, "deploy", Some("v1".into()), None, false);
        let t = Instant::now();
        lock::acquire(&dir, &holder, Duration::MAX).await.unwrap();
        lock::release(&dir, &holder.token).await.unwrap();
        out.push(ms(t.elapsed()));
    }
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    let docker = common::docker()
        .await
        .expect("the benchmark needs the Docker engine");
    let scope = Scope::new(docker).await;
    let sshds: Vec<Sshd> = (0..4).map(|_| Sshd::start()).collect();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let one = scope.app("one");
    let four = scope.app("four");
    // The control: the same two apps on hosts without SSH. All hosts here
    // share one engine on one machine, which alone makes 4 boots slower
    // than 1; the control shows how much.
    let one_local = scope.app("onel");
    let four_local = scope.app("fourl");
    let mut yaml = "version: 2\nhosts:\n".to_string();
    yaml.push_str(&format!("  local: {{state_dir: {d}/local}}\n"));
    for name in ["l1", "l2", "l3", "l4"] {
        yaml.push_str(&format!("  {name}: {{state_dir: {d}/{name}}}\n"));
    }
    for (name, s) in ["a", "b", "c", "d"].iter().zip(&sshds) {
        yaml.push_str(&format!(
            "  {name}: {{ssh: {}, state_dir: {d}/{name}}}\n",
            s.host_yaml()
        ));
    }
    yaml.push_str("apps:\n");
    for (app, hosts) in [
        (&one, "[a]"),
        (&four, "[a, b, c, d]"),
        (&one_local, "[l1]"),
        (&four_local, "[l1, l2, l3, l4]"),
    ] {
        yaml.push_str(&format!(
            "  {app}:\n    image: {app}:latest\n    roles:\n      web: {{hosts: {hosts}, port: 8080}}\n    stop_timeout: 1s\n    deploy_timeout: 60s\n    min_uptime: 1s\n    retain: 1\n"
        ));
    }
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let cfg = berth::config::load(&config).unwrap();

    println!("berth over SSH: every host is this machine through its own sshd on 127.0.0.1");
    println!("rounds: {rounds}\n");

    // Lock round trips, the connection already open.
    let n = rounds * 10;
    let pool = berth::hosts::Pool::default();
    let local = pool
        .state_dir(
            cfg.fleet.hosts.get("local").unwrap(),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let remote = pool
        .state_dir(cfg.fleet.hosts.get("a").unwrap(), Duration::from_secs(10))
        .await
        .unwrap();
    lock_round_trips(&remote, 2).await; // warm up
    let l = lock_round_trips(&local, n).await;
    let r = lock_round_trips(&remote, n).await;
    // One command over the same connection: what each of the lock's
    // commands costs before berth does anything (sshd's session set-up and
    // the login shell's start-up, which reads the user's rc files).
    let tunnel = pool
        .tunnel(
            cfg.fleet.hosts.get("a").unwrap().ssh.as_ref().unwrap(),
            Path::new(berth::hosts::DEFAULT_SOCKET),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let mut t = Vec::new();
    for _ in 0..n {
        let start = Instant::now();
        assert!(
            tunnel
                .output(&["true"], Duration::from_secs(10))
                .await
                .unwrap()
                .success()
        );
        t.push(ms(start.elapsed()));
    }
    drop(tunnel);
    println!("one command over an open SSH connection (`true`, {n} times):");
    println!(
        "  SSH host     median {:7.2} ms   p90 {:7.2} ms",
        median(t.clone()),
        pct(t, 0.9)
    );
    println!("lock acquire + release ({n} round trips; 3 commands on an SSH host):");
    println!(
        "  local disk   median {:7.2} ms   p90 {:7.2} ms",
        median(l.clone()),
        pct(l, 0.9)
    );
    println!(
        "  SSH host     median {:7.2} ms   p90 {:7.2} ms",
        median(r.clone()),
        pct(r, 0.9)
    );
    drop((local, remote));
    pool.close();

    // Images for every deploy round: v1..vN of each app.
    for app in [&one, &four, &one_local, &four_local] {
        for v in 0..=rounds {
            scope.version_image(app, &format!("v{v}"), &[]).await;
        }
    }

    for app in [&one, &four, &one_local, &four_local] {
        berth(&config, &["deploy", app, "--version", "v0"]);
    }

    // status, whole command; configs holding only the hosts measured
    // (status connects to every configured host).
    println!("\n`berth status --json` (whole command, connecting included):");
    for (label, hosts) in [("1 SSH host ", &sshds[..1]), ("4 SSH hosts", &sshds[..])] {
        let mut yaml = "version: 2\nhosts:\n".to_string();
        for (name, s) in ["a", "b", "c", "d"].iter().zip(hosts) {
            yaml.push_str(&format!(
                "  {name}: {{ssh: {}, state_dir: {d}/{name}}}\n",
                s.host_yaml()
            ));
        }
        yaml.push_str("apps: {}\n");
        let status_cfg = dir.path().join("status.yaml");
        std::fs::write(&status_cfg, yaml).unwrap();
        berth(&status_cfg, &["status", "--json"]);
        let t: Vec<f64> = (0..rounds)
            .map(|_| ms(berth(&status_cfg, &["status", "--json"])))
            .collect();
        println!(
            "  {label}  median {:7.1} ms   p90 {:7.1} ms",
            median(t.clone()),
            pct(t, 0.9)
        );
    }
    let local_cfg = dir.path().join("local.yaml");
    std::fs::write(
        &local_cfg,
        format!("version: 2\nhosts:\n  local: {{state_dir: {d}/local}}\napps: {{}}\n"),
    )
    .unwrap();
    berth(&local_cfg, &["status", "--json"]);
    let t: Vec<f64> = (0..rounds)
        .map(|_| ms(berth(&local_cfg, &["status", "--json"])))
        .collect();
    println!(
        "  local engine median {:7.1} ms   p90 {:7.1} ms",
        median(t.clone()),
        pct(t, 0.9)
    );

    // Deploys, whole command, alternating so each app's round runs on an
    // engine equally busy.
    println!(
        "\n`berth deploy` (whole command: connect, lock, boot, health gate, stop old; target: 4 hosts within 1.3x of 1):"
    );
    let ssh = deploys(&config, [&one, &four], rounds);
    let local = deploys(&config, [&one_local, &four_local], rounds);
    let (r_ssh, r_local) = (
        ssh.report("SSH hosts"),
        local.report("local hosts (control)"),
    );
    println!(
        "  4/1 over SSH, with the shared engine's own 4/1 taken out: {:.2}x",
        r_ssh / r_local
    );
    // The scope removes every container it started; the apps' containers
    // carry its label through their images.
    for app in [&one, &four, &one_local, &four_local] {
        berth_destroy(&config, app);
    }
}

/// Deploy rounds of a 1-host and a 4-host app, alternating so each runs
/// on an engine equally busy: wall times and stage times.
struct Deploys {
    t: [Vec<f64>; 2],
    stages: [Vec<Vec<(String, f64)>>; 2],
}

fn deploys(config: &Path, apps: [&str; 2], rounds: usize) -> Deploys {
    let mut out = Deploys {
        t: [Vec::new(), Vec::new()],
        stages: [Vec::new(), Vec::new()],
    };
    for v in 1..=rounds {
        for (i, app) in apps.iter().enumerate() {
            let (t, stages) = deploy(config, app, &format!("v{v}"));
            out.t[i].push(t);
            out.stages[i].push(stages);
        }
    }
    out
}

impl Deploys {
    /// Prints the figures; returns the 4/1 ratio of the medians.
    fn report(&self, what: &str) -> f64 {
        let (m1, m4) = (median(self.t[0].clone()), median(self.t[1].clone()));
        println!("  {what}:");
        for (label, t, m) in [("1 host ", &self.t[0], m1), ("4 hosts", &self.t[1], m4)] {
            println!(
                "    {label}  median {m:7.0} ms   (min {:.0}, max {:.0})",
                pct(t.clone(), 0.0),
                pct(t.clone(), 1.0)
            );
        }
        println!("    ratio 4/1  {:.2}x", m4 / m1);
        println!("    median ms per stage, 1 host / 4 hosts:");
        let stage_median = |runs: &[Vec<(String, f64)>], name: &str| {
            let found: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.iter().find(|(n, _)| n == name).map(|(_, t)| *t))
                .collect();
            (!found.is_empty()).then(|| median(found))
        };
        for (name, _) in &self.stages[1][0] {
            // Stage names carry no host count, so they match across apps.
            let one = stage_median(&self.stages[0], name);
            let four = stage_median(&self.stages[1], name).unwrap_or_default();
            println!(
                "      {name:<26} {:>7} / {four:>7.0}",
                one.map_or("-".to_string(), |a| format!("{a:.0}")),
            );
        }
        m4 / m1
    }
}

fn berth_destroy(config: &Path, app: &str) {
    let out = common::berth()
        .arg("-c")
        .arg(config)
        .args(["destroy", app, "--confirm", app])
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "cleanup: destroy {app}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
