//! Benchmark (not a test): the console against the real Docker engine with
//! 200 running containers, side by side with oxker (a Rust Docker TUI) when
//! `OXKER` names its binary (`cargo install oxker`). Prints figures; judges
//! nothing.
//!
//! Run: `OXKER=$(command -v oxker) cargo bench --bench console_live`
//! (`BENCH_SECS` sets the idle window, default 30; `BENCH_ONLY=oxker`
//! measures only the subjects whose name has that text;
//! `BENCH_CONTAINERS=1000` runs that many, 20 apps of an equal share).
//! First, `berth status --json` on the same fleet: wall time (median of 5)
//! and peak RSS. Needs what
//! `scripts/test` installs (Docker, Debian's busybox-static).
//!
//! For each program, in a 120x40 pseudo-terminal:
//! - launch to first full frame with data: from spawn to the first output
//!   after which the screen shows the containers (median of 5 launches);
//! - idle cost over the window: the program's CPU, and the extra CPU of the
//!   engine (dockerd, containerd and the shims) over its baseline (the mean
//!   of a window with no console right before and one right after), in
//!   percent of one core;
//! - peak RSS (VmHWM) at the end.
//!
//! The 200 containers are `sleep` containers of the test image without a
//! health check, so that 200 checks a second do not dominate the engine's
//! own CPU; they carry berth labels for 20 apps of 10 containers.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/pty.rs"]
mod support;

use std::time::Duration;

use common::{Scope, Spec};
use futures_util::StreamExt;
use support::{Pty, Ready, cpu_over, median, peak_rss_mib};

const APPS: usize = 20;
const LAUNCHES: usize = 5;

/// Containers per app (`BENCH_CONTAINERS` / 20; default 10).
static PER_APP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(10);

fn per_app() -> usize {
    PER_APP.load(std::sync::atomic::Ordering::Relaxed)
}

/// Lines of the screen that show one of the bench's containers or apps.
fn rows_with(screen: &vt100::Screen, needle: &str) -> usize {
    screen
        .contents()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

struct Subject {
    name: &'static str,
    argv: Vec<String>,
    /// Keys that bring up the view measured (after the first frame).
    keys: &'static str,
    ready: fn(&str) -> Ready,
}

fn measure(s: &Subject, needle: &str, window: Duration) {
    let mut launches = Vec::new();
    for _ in 0..LAUNCHES {
        let pty = Pty::spawn(&s.argv, (s.ready)(needle));
        launches.push(pty.wait_ready(Duration::from_secs(30)));
        pty.stop();
        std::thread::sleep(Duration::from_millis(300));
    }
    // The engine's own idle cost drifts by a few tenths of a percent over
    // minutes: its baseline is measured right before and right after.
    let (_, before) = cpu_over(None, window);
    let mut pty = Pty::spawn(&s.argv, (s.ready)(needle));
    pty.wait_ready(Duration::from_secs(30));
    pty.keys(s.keys);
    // Let start-up work (lists, inspects, first stats) settle.
    std::thread::sleep(Duration::from_secs(5));
    let (own, engine) = cpu_over(Some(pty.pid()), window);
    let rss = peak_rss_mib(pty.pid());
    pty.stop();
    std::thread::sleep(Duration::from_secs(2));
    let (_, after) = cpu_over(None, window);
    let baseline = (before + after) / 2.0;
    let extra = (engine - baseline).max(0.0);
    println!(
        "{:<28} first frame {:>6.1} ms (median of {LAUNCHES}; {})",
        s.name,
        median(launches.clone()),
        launches
            .iter()
            .map(|l| format!("{l:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "{:<28} idle {:>2}s: own {:.2}% + engine extra {:.2}% = {:.2}% of a core; peak RSS {:.1} MiB",
        "",
        window.as_secs(),
        own,
        extra,
        own + extra,
        rss
    );
    println!(
        "{:<28} (engine {engine:.2}% against its baseline {before:.2}% before, {after:.2}% after)",
        ""
    );
}

/// The engine's own answer to one full container list (what any client's
/// first frame waits for): median of 5.
async fn engine_list_figure(docker: &bollard::Docker) {
    let mut took = Vec::new();
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let list = docker
            .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .unwrap();
        took.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(!list.is_empty());
    }
    println!(
        "the engine's container list alone: median {:.0} ms",
        median(took)
    );
}

/// `berth status --json` on the bench's fleet: wall time (median of 5)
/// and the peak RSS of the largest run (measured before any console runs,
/// so the children's peak is status's own).
fn status_figures(berth: &str, cfg: &str) {
    let mut took = Vec::new();
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let out = std::process::Command::new(berth)
            .args(["-c", cfg, "status", "--json"])
            .output()
            .unwrap();
        took.push(start.elapsed().as_secs_f64() * 1000.0);
        assert!(
            !out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rss_kib = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss())
        .unwrap_or_default();
    println!(
        "status --json: median {:.0} ms (min {:.0}, max {:.0}), peak RSS {:.1} MiB",
        median(took.clone()),
        took.iter().copied().fold(f64::MAX, f64::min),
        took.iter().copied().fold(0.0, f64::max),
        rss_kib as f64 / 1024.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let window = support::window();
    let Some(docker) = common::docker().await else {
        eprintln!("console_live: Docker is not reachable; nothing measured");
        return;
    };
    let scope = Scope::new(docker).await;
    if let Some(n) = std::env::var("BENCH_CONTAINERS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        PER_APP.store((n / APPS).max(1), std::sync::atomic::Ordering::Relaxed);
    }
    let apps: Vec<String> = (0..APPS).map(|a| scope.app(&format!("b{a:02}"))).collect();
    println!(
        "starting {} sleep containers (no health check)…",
        APPS * per_app()
    );
    let specs: Vec<Spec> = apps
        .iter()
        .enumerate()
        .flat_map(|(a, app)| {
            (0..per_app()).map(move |i| {
                Spec::named(&format!("b{a:02}-{i}"))
                    .sleeper()
                    .berth(app, "web", "v1")
            })
        })
        .collect();
    let scope_ref = &scope;
    futures_util::stream::iter(specs)
        .map(|s| async move { scope_ref.start(s).await })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;

    let dir = tempfile::tempdir().unwrap();
    let mut yaml = format!(
        "version: 2\nhosts:\n  a: {{state_dir: {}}}\napps:\n",
        dir.path().display()
    );
    for app in &apps {
        yaml.push_str(&format!(
            "  {app}:\n    image: {app}:v1\n    roles:\n      web: {{hosts: [a]}}\n"
        ));
    }
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, yaml).unwrap();
    let needle = format!("t{}-b", scope.id);

    std::thread::sleep(Duration::from_secs(5));

    let berth = env!("CARGO_BIN_EXE_berth").to_string();
    let cfg = config.display().to_string();
    engine_list_figure(&scope.docker).await;
    status_figures(&berth, &cfg);
    // berth is ready when every app's row shows its containers serving
    // (app rows exist from the config before any data); oxker when its
    // table (5 rows at this size, above its log pane) shows them.
    let all_apps: fn(&str) -> Ready = |needle| {
        let needle = needle.to_string();
        Box::new(move |s| {
            s.contents()
                .lines()
                .filter(|l| l.contains(&needle) && l.contains(&format!("web {0}/{0}", per_app())))
                .count()
                >= APPS
        })
    };
    let full_table: fn(&str) -> Ready = |needle| {
        let needle = needle.to_string();
        Box::new(move |s| rows_with(s, &needle) >= 5)
    };
    let mut subjects = vec![
        Subject {
            name: "berth (Apps view)",
            argv: vec![berth.clone(), "-c".into(), cfg.clone()],
            keys: "",
            ready: all_apps,
        },
        Subject {
            name: "berth (Containers + stats)",
            argv: vec![berth.clone(), "-c".into(), cfg.clone()],
            keys: "3",
            ready: all_apps,
        },
    ];
    match std::env::var("OXKER") {
        Ok(oxker) if !oxker.is_empty() => subjects.push(Subject {
            name: "oxker (containers + stats)",
            argv: vec![oxker],
            keys: "",
            ready: full_table,
        }),
        _ => println!("OXKER not set: oxker is not measured (cargo install oxker)"),
    }
    // BENCH_ONLY=oxker (a part of a name) measures only what matches.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for s in subjects.iter().filter(|s| s.name.contains(&only)) {
        measure(s, &needle, window);
    }
    drop(scope);
}
