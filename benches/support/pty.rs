//! What the console benchmarks share: a program in a pseudo-terminal read
//! through a terminal emulator, and the CPU and memory figures of
//! processes from /proc.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

pub const COLS: u16 = 120;
pub const ROWS: u16 = 40;

pub type Ready = Box<dyn Fn(&vt100::Screen) -> bool + Send>;

/// A program in a pty; the reader notes when the screen first satisfies
/// `ready`, checked after every chunk of output.
pub struct Pty {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    started: Instant,
    ready_at: Arc<Mutex<Option<Instant>>>,
    pub screen: Arc<Mutex<vt100::Parser>>,
}

impl Pty {
    pub fn spawn(argv: &[String], ready: Ready) -> Pty {
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
    pub fn wait_ready(&self, timeout: Duration) -> f64 {
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

    pub fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.process_id().unwrap()
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Clock ticks (user + system) a process has used.
pub fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command may hold spaces; fields resume after its closing paren.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after `)`.
    num(11) + num(12)
}

/// The engine's processes: dockerd, containerd and the container shims.
pub fn engine_pids() -> Vec<u32> {
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

pub fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Percent of one core used by `pids` (engine) and `own` over `window`.
pub fn cpu_over(own: Option<u32>, window: Duration) -> (f64, f64) {
    let hz = clock_ticks_per_sec();
    let engine = engine_pids();
    let sum = |pids: &[u32]| pids.iter().map(|&p| ticks(p)).sum::<u64>();
    let (e0, o0) = (sum(&engine), own.map_or(0, ticks));
    std::thread::sleep(window);
    let (e1, o1) = (sum(&engine), own.map_or(0, ticks));
    let pct = |d: u64| d as f64 / hz / window.as_secs_f64() * 100.0;
    (pct(o1.saturating_sub(o0)), pct(e1.saturating_sub(e0)))
}

pub fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The measuring window: `BENCH_SECS` seconds, default 30.
pub fn window() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(30),
    )
}
