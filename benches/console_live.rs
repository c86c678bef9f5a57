//! Benchmark (not a test): the console against the real Docker engine with
//! 200 running containers, side by side with oxker (a Rust Docker TUI) when
//! `OXKER` names its binary (`cargo install oxker`). Prints figures; judges
//! nothing.
//!
//! Run: `OXKER=$(command -v oxker) cargo bench --bench console_live`
//! (`BENCH_SECS` sets the idle window, default 30; `BENCH_ONLY=oxker`
//! measures only the subjects whose name has that text). Needs what
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

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Scope, Spec};
use futures_util::StreamExt;
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

const APPS: usize = 20;
const PER_APP: usize = 10;
const LAUNCHES: usize = 5;
const COLS: u16 = 120;
const ROWS: u16 = 40;

type Ready = Box<dyn Fn(&vt100::Screen) -> bool + Send>;

/// A program in a pty; the reader notes when the screen first satisfies
/// `ready`, checked after every chunk of output.
struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    started: Instant,
    ready_at: Arc<Mutex<Option<Instant>>>,
    screen: Arc<Mutex<vt100::Parser>>,
}

impl Pty {
    fn spawn(argv: &[String], ready: Ready) -> Pty {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows: ROWS,
                cols: COLS,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut cmd = CommandBuilder::new(&argv[0]);
        cmd.args(&argv[1..]);
        cmd.env("TERM", "xterm-256color");
        let started = Instant::now();
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let writer = pty.master.take_writer().unwrap();
        let ready_at = Arc::new(Mutex::new(None));
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            ROWS.try_into().unwrap(),
            COLS.try_into().unwrap(),
            0,
        )));
        let (at, parser) = (ready_at.clone(), screen.clone());
        std::thread::spawn(move || {
            let _master = pty.master;
            let mut buf = [0u8; 65536];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut p = parser.lock().unwrap();
                p.process(&buf[..n]);
                let mut at = at.lock().unwrap();
                if at.is_none() && ready(p.screen()) {
                    *at = Some(Instant::now());
                }
            }
        });
        Pty {
            child,
            writer,
            started,
            ready_at,
            screen,
        }
    }

    /// Milliseconds from spawn to the first ready frame.
    fn wait_ready(&self, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = *self.ready_at.lock().unwrap() {
                return (at - self.started).as_secs_f64() * 1000.0;
            }
            if Instant::now() > deadline {
                panic!(
                    "no ready frame within {timeout:?}; the screen:\n{}",
                    self.screen.lock().unwrap().screen().contents()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    fn pid(&self) -> u32 {
        self.child.process_id().unwrap()
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks (user + system) a process has used.
fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command may hold spaces; fields resume after its closing paren.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after `)`.
    num(11) + num(12)
}

/// The engine's processes: dockerd, containerd and the container shims.
fn engine_pids() -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let comm = comm.trim();
        if comm == "dockerd" || comm == "containerd" || comm.starts_with("containerd-shim") {
            pids.push(pid);
        }
    }
    pids
}

fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Percent of one core used by `pids` (engine) and `own` over `window`.
fn cpu_over(own: Option<u32>, window: Duration) -> (f64, f64) {
    let hz = clock_ticks_per_sec();
    let engine = engine_pids();
    let sum = |pids: &[u32]| pids.iter().map(|&p| ticks(p)).sum::<u64>();
    let (e0, o0) = (sum(&engine), own.map_or(0, ticks));
    std::thread::sleep(window);
    let (e1, o1) = (sum(&engine), own.map_or(0, ticks));
    let pct = |d: u64| d as f64 / hz / window.as_secs_f64() * 100.0;
    (pct(o1.saturating_sub(o0)), pct(e1.saturating_sub(e0)))
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let window = Duration::from_secs(
        std::env::var("BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    );
    let Some(docker) = common::docker().await else {
        eprintln!("console_live: Docker is not reachable; nothing measured");
        return;
    };
    let scope = Scope::new(docker).await;
    let apps: Vec<String> = (0..APPS).map(|a| scope.app(&format!("b{a:02}"))).collect();
    println!(
        "starting {} sleep containers (no health check)…",
        APPS * PER_APP
    );
    let specs: Vec<Spec> = apps
        .iter()
        .enumerate()
        .flat_map(|(a, app)| {
            (0..PER_APP).map(move |i| {
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
    // berth is ready when every app's row shows its 10 containers serving
    // (app rows exist from the config before any data); oxker when its
    // table (5 rows at this size, above its log pane) shows them.
    let all_apps: fn(&str) -> Ready = |needle| {
        let needle = needle.to_string();
        Box::new(move |s| {
            s.contents()
                .lines()
                .filter(|l| l.contains(&needle) && l.contains("web 10/10"))
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
