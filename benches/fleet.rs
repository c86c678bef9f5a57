//! Benchmark (not a test): berth at fleet scale on the fleet rig
//! (`tests/it/common/fleet.rs`): 1, 4, 16 and 50 hosts, each a network
//! namespace with its own sshd behind a link that adds the round-trip
//! time, at 0 ms and 30 ms. Prints one table; judges nothing.
//!
//! Columns, for each size and RTT:
//! - `cmd`: one command on a host over its open connection (`true`),
//!   median; `lock`: a lock acquire + release there, median (the
//!   targets: one command within 1 RTT + 5 ms, the lock within 2 RTT +
//!   10 ms); `read`: reading that lock while held, one command whose
//!   answer has output (what the console's refresh does), median;
//! - `status`: `berth status --json` on every host, the whole command,
//!   median: with new connections (`persist: 0s`: each run makes its SSH
//!   handshakes), and with the masters the run before kept;
//! - `frame`: the console's first frame (its header, hosts still
//!   connecting); `all in`: until the Apps view shows the app's
//!   container on every host;
//! - `idle`: the console's CPU over `BENCH_SECS` (default 10) once all is
//!   in, with its ssh client processes and its share of the hosts' sshd
//!   (every process in the hosts' namespaces), in % of one core;
//! - `deploy`: `berth deploy` of a new version to every host
//!   (`boot.limit` = hosts, `parallel_hosts` = hosts), the whole command,
//!   median, and its ratio to one host at the same RTT.
//!
//! All hosts share this machine's one Docker engine (and its 2 cores,
//! here): a deploy to 50 hosts starts 50 containers on one engine, which a
//! real fleet's 50 engines would do side by side. So the app has no
//! HEALTHCHECK (`healthcheck: false`: the gate waits `min_uptime`, 1 s):
//! 71 containers probed every second by one engine on 2 cores starve
//! everything else here, sshd's keepalives included.
//!
//! A control table follows: the same deploys to N hosts that are not
//! reached over SSH, on the same engine (what the shared engine costs).
//!
//! Run (root): `cargo bench --bench fleet`; `BENCH_SIZES=1,4`
//! `BENCH_RTTS=0,30` `BENCH_ROUNDS=3` `BENCH_SECS=10` change what is run.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/pty.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth::engine::history::Performer;
use berth::engine::lock;
use common::fleet::{Link, Rig};
use support::{Pty, clock_ticks_per_sec, median, ticks};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn list(var: &str, default: &str) -> Vec<u64> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn berth_ok(config: &Path, args: &[&str]) -> Duration {
    let t = Instant::now();
    let out = common::berth_at(config, args);
    let took = t.elapsed();
    assert!(
        out.status.success(),
        "berth {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    took
}

/// Every process that works for the console: itself, its ssh clients
/// (by the rig's addresses on their command line) and every process in
/// the hosts' namespaces (sshd, its sessions, the helpers).
fn console_pids(console: u32, rig: &Rig, hosts: usize) -> Vec<u32> {
    let mut pids = vec![console];
    let net = format!("10.77.{}.", rig.id);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if comm.trim() == "ssh" && String::from_utf8_lossy(&cmdline).contains(&net) {
            pids.push(pid);
        }
    }
    for h in rig.hosts.iter().take(hosts) {
        let out = std::process::Command::new("ip")
            .args(["netns", "pids", &h.netns])
            .output()
            .unwrap();
        pids.extend(
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    pids
}

/// A config of `hosts` (name, YAML) and `app` on all of them, booted on
/// all at once, with no HEALTHCHECK (see above).
fn write_config(path: &Path, app: &str, hosts: &[(String, String)]) {
    let n = hosts.len();
    let mut yaml = format!("version: 2\nparallel_hosts: {n}\nhosts:\n");
    for (name, host) in hosts {
        yaml.push_str(&format!("  {name}: {host}\n"));
    }
    let names: Vec<&str> = hosts.iter().map(|(h, _)| h.as_str()).collect();
    yaml.push_str(&format!(
        "apps:\n  {app}:\n    image: {app}:latest\n    roles:\n      web: {{hosts: [{}], port: 8080, healthcheck: false}}\n    boot: {{limit: {n}}}\n    stop_timeout: 1s\n    deploy_timeout: 120s\n    min_uptime: 1s\n    retain: 1\n",
        names.join(", ")
    ));
    std::fs::write(path, yaml).unwrap();
}

struct Row {
    hosts: usize,
    rtt: u64,
    cmd: f64,
    read: f64,
    lock: f64,
    status_cold: f64,
    status: f64,
    frame: f64,
    all_in: f64,
    idle: f64,
    deploy: f64,
}

async fn command_and_lock(cfg: &berth::config::Config, rounds: usize) -> (f64, f64, f64) {
    let pool = berth::hosts::Pool::default();
    let host = cfg.fleet.hosts.get("h01").unwrap();
    let tunnel = pool
        .tunnel(
            host.ssh.as_ref().unwrap(),
            Path::new(berth::hosts::DEFAULT_SOCKET),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let root = pool.state_dir(host, Duration::from_secs(10)).await.unwrap();
    let me = Performer::current();
    let dir = lock::lock_dir(&root, "bench", "");
    let (mut cmd, mut lk, mut rd) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..rounds + 2 {
        let t = Instant::now();
        let out = tunnel.output(&["true"], Duration::from_secs(10)).await;
        assert!(out.unwrap().success());
        let c = ms(t.elapsed());
        let holder = lock::holder_for(&me, "deploy", Some("v1".into()), None, false);
        let t = Instant::now();
        lock::acquire(&dir, &holder, Duration::MAX).await.unwrap();
        let l = t.elapsed();
        let read = Instant::now();
        assert!(lock::read(&dir, Duration::MAX).await.unwrap().is_some());
        let r = ms(read.elapsed());
        let t = Instant::now() - l;
        lock::release(&dir, &holder.token).await.unwrap();
        // The first rounds start the connection's helpers.
        if i >= 2 {
            cmd.push(c);
            rd.push(r);
            lk.push(ms(t.elapsed()));
        }
    }
    drop((tunnel, root));
    pool.close();
    (median(cmd), median(lk), median(rd))
}

fn console(config: &Path, rig: &Rig, hosts: usize, window: Duration) -> (f64, f64, f64) {
    let header = format!("{hosts} host");
    let all = format!("web {hosts}/{hosts}");
    let argv = vec![
        env!("CARGO_BIN_EXE_berth").to_string(),
        "-c".into(),
        config.display().to_string(),
    ];
    let started = Instant::now();
    let first = Pty::spawn(
        &argv,
        Box::new(move |s: &vt100::Screen| s.contents().contains(&header)),
    );
    let frame = first.wait_ready(Duration::from_secs(30));
    let screen = first.screen.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !screen.lock().unwrap().screen().contents().contains(&all) {
        assert!(
            Instant::now() < deadline,
            "not all in within 60s:\n{}",
            screen.lock().unwrap().screen().contents()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let all_in = ms(started.elapsed());
    // Let start-up work (inspects, the first lock and history reads) end.
    std::thread::sleep(Duration::from_secs(3));
    let pids = console_pids(first.pid(), rig, hosts);
    let sum = || pids.iter().map(|&p| ticks(p)).sum::<u64>();
    let before = sum();
    std::thread::sleep(window);
    let idle = (sum().saturating_sub(before)) as f64 / clock_ticks_per_sec() / window.as_secs_f64()
        * 100.0;
    first.stop();
    (frame, all_in, idle)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sizes: Vec<usize> = list("BENCH_SIZES", "1,4,16,50")
        .into_iter()
        .map(|s| s as usize)
        .collect();
    let rtts = list("BENCH_RTTS", "0,30");
    let rounds = list("BENCH_ROUNDS", "3").first().copied().unwrap_or(3) as usize;
    let window = Duration::from_secs(list("BENCH_SECS", "10").first().copied().unwrap_or(10));
    let scope = common::scope().await.expect("the benchmark needs Docker");
    let max = sizes.iter().copied().max().unwrap_or(1);
    let t = Instant::now();
    let rig = Rig::start(max, Link::default());
    println!(
        "fleet rig: {max} hosts (network namespaces, sshd each, delaying links) up in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().unwrap();
    let versions = rtts.len() * rounds + 1;
    let mut configs: Vec<(usize, String, PathBuf)> = Vec::new();
    for &n in &sizes {
        let app = scope.app(&format!("fleet{n}"));
        for v in 0..versions {
            scope.version_image(&app, &format!("v{v}"), &[]).await;
        }
        let hosts = rig
            .hosts
            .iter()
            .take(n)
            .map(|h| (h.name.clone(), format!("{{ssh: {}}}", rig.ssh_yaml(h))))
            .collect::<Vec<_>>();
        let path = dir.path().join(format!("fleet{n}.yaml"));
        write_config(&path, &app, &hosts);
        // The same, with no master kept for the next berth: each command
        // opens its connections (the SSH handshake included).
        let cold: Vec<(String, String)> = hosts
            .iter()
            .map(|(h, y)| (h.clone(), y.replacen("{ssh: {", "{ssh: {persist: 0s, ", 1)))
            .collect();
        write_config(&path.with_extension("cold.yaml"), &app, &cold);
        berth_ok(&path, &["deploy", &app, "--version", "v0"]);
        configs.push((n, app, path));
    }

    let mut rows = Vec::new();
    let mut next_version = 1;
    for &rtt in &rtts {
        for h in &rig.hosts {
            h.set_link(Link {
                rtt: Duration::from_millis(rtt),
                jitter: Duration::ZERO,
            });
        }
        let first = berth::config::load(&configs[0].2).unwrap();
        let (cmd, lock, read) = command_and_lock(&first, rounds * 5).await;
        for (n, app, path) in &configs {
            let cold = path.with_extension("cold.yaml");
            let status_cold = median(
                (0..rounds)
                    .map(|_| ms(berth_ok(&cold, &["status", "--json"])))
                    .collect(),
            );
            // The first run leaves the masters the next ones use.
            berth_ok(path, &["status", "--json"]);
            let status = median(
                (0..rounds)
                    .map(|_| ms(berth_ok(path, &["status", "--json"])))
                    .collect(),
            );
            let mut deploys = Vec::new();
            for _ in 0..rounds {
                let v = format!("v{next_version}");
                deploys.push(ms(berth_ok(path, &["deploy", app, "--version", &v])));
                next_version += 1;
            }
            next_version -= rounds;
            let (frame, all_in, idle) = console(path, &rig, *n, window);
            rows.push(Row {
                hosts: *n,
                rtt,
                cmd,
                read,
                lock,
                status_cold,
                status,
                frame,
                all_in,
                idle,
                deploy: median(deploys),
            });
        }
        next_version += rounds;
    }

    // The SSH apps go before the control runs, so that neither lists the
    // other's containers.
    for (_, app, path) in &configs {
        berth_ok(path, &["destroy", app, "--confirm", app]);
    }
    // The control: the same app and deploys on N hosts without SSH, all on
    // this machine's one engine: what the shared engine alone costs.
    let mut controls: Vec<(usize, String, PathBuf)> = Vec::new();
    for &n in &sizes {
        let app = scope.app(&format!("ctrl{n}"));
        for v in 0..=rounds {
            scope.version_image(&app, &format!("v{v}"), &[]).await;
        }
        let state = dir.path().join(format!("ctrl{n}"));
        let hosts = (1..=n)
            .map(|i| {
                let h = format!("l{i:02}");
                let yaml = format!("{{state_dir: {}/{h}}}", state.display());
                (h, yaml)
            })
            .collect::<Vec<_>>();
        let path = dir.path().join(format!("ctrl{n}.yaml"));
        write_config(&path, &app, &hosts);
        berth_ok(&path, &["deploy", &app, "--version", "v0"]);
        controls.push((n, app, path));
    }
    let mut control_rows = Vec::new();
    for (n, app, path) in &controls {
        let took: Vec<f64> = (1..=rounds)
            .map(|v| {
                ms(berth_ok(
                    path,
                    &["deploy", app, "--version", &format!("v{v}")],
                ))
            })
            .collect();
        control_rows.push((*n, median(took)));
    }

    for (_, app, path) in &controls {
        berth_ok(path, &["destroy", app, "--confirm", app]);
    }

    println!(
        "\n(medians of {rounds}; idle over {}s; ms unless said)\n",
        window.as_secs()
    );
    println!(
        "| hosts | RTT | one command | lock acquire+release | lock read | status --json (new connections) | status --json (kept connections) | console first frame | all in | idle (% of a core) | deploy | deploy / 1 host |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        let one = rows
            .iter()
            .find(|o| o.rtt == r.rtt && o.hosts == 1)
            .map_or(f64::NAN, |o| o.deploy);
        println!(
            "| {} | {} ms | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.0} | {:.2}x |",
            r.hosts,
            r.rtt,
            r.cmd,
            r.lock,
            r.read,
            r.status_cold,
            r.status,
            r.frame,
            r.all_in,
            r.idle,
            r.deploy,
            r.deploy / one
        );
    }
    println!("\ncontrol: the same deploy to N hosts without SSH, on this one engine\n");
    println!("| hosts | deploy | deploy / 1 host |");
    println!("|---:|---:|---:|");
    let one = control_rows
        .iter()
        .find(|(n, _)| *n == 1)
        .map_or(f64::NAN, |(_, t)| *t);
    for (n, t) in &control_rows {
        println!("| {n} | {t:.0} | {:.2}x |", t / one);
    }
}
