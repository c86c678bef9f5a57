//! Benchmark (not a test): loading a 5 MB fleet config, the way `berth`
//! does at start (read, parse, validate), and what it costs in memory.
//!
//! Run: `cargo bench --bench config_load`. Targets: under 0.5 s and 50 MB.
//! Prints the median of 5 loads, and for the first load of the process the
//! peak resident memory it added (from /proc/self/status: VmHWM after, less
//! VmRSS before) and what the loaded config keeps, with the heap's own
//! figures (a counting allocator) beside them.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts the heap in use and its high-water mark: the figures that the
/// loader itself owns, apart from what the allocator keeps back.
/// Off while the loads are timed: counting from two threads at once costs
/// time of its own.
struct Counting;
static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    if ON.load(Ordering::Relaxed) {
        let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(now, Ordering::Relaxed);
    }
}

fn shrank(by: usize) {
    if ON.load(Ordering::Relaxed) {
        LIVE.fetch_sub(by, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to the system allocator unchanged; the
// counting around it allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grew(l.size());
        // SAFETY: the caller's layout, as GlobalAlloc::alloc requires.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        shrank(l.size());
        // SAFETY: `p` came from System.alloc with layout `l`.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() {
            grew(new - l.size());
        } else {
            shrank(l.size() - new);
        }
        // SAFETY: `p` came from System.alloc with layout `l`.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A valid config of about `bytes` bytes: one small app after another.
fn config(bytes: usize) -> String {
    let mut yaml = String::from("version: 2\nhosts:\n  local: {}\n  edge: {}\napps:\n");
    let mut i = 0;
    while yaml.len() < bytes {
        yaml.push_str(&format!(
            "  app-{i}:\n    image: registry.example/app-{i}:v1\n    roles:\n      web: {{hosts: [local, edge], port: 8080}}\n      worker: {{hosts: [local], command: [bin/worker, --queue, q{i}]}}\n    env:\n      clear: {{RAILS_ENV: production, QUEUE: q{i}}}\n    deploy_timeout: 30s\n"
        ));
        i += 1;
    }
    yaml
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    // `cargo bench` passes `--bench`; a plain run is fine too.
    let yaml = config(5_000_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("berth.yaml");
    std::fs::write(&path, &yaml).expect("the config is written");

    // Memory: the first load in this process, counted. (Frees of what was
    // allocated before are counted too, so the count starts high.)
    let before = status_kb("VmRSS:");
    const BASE: usize = 1 << 40;
    LIVE.store(BASE, Ordering::Relaxed);
    PEAK.store(BASE, Ordering::Relaxed);
    ON.store(true, Ordering::Relaxed);
    let kept = berth::config::load(&path).expect("the generated config is valid");
    let heap_held = LIVE.load(Ordering::Relaxed).saturating_sub(BASE);
    let heap_peak = PEAK.load(Ordering::Relaxed).saturating_sub(BASE);
    ON.store(false, Ordering::Relaxed);
    let peak = status_kb("VmHWM:").saturating_sub(before);
    let held = status_kb("VmRSS:").saturating_sub(before);
    let apps = kept.fleet.apps.len();
    drop(kept);

    // Time: five loads, uncounted.
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let config = berth::config::load(&path).expect("the generated config is valid");
            let took = start.elapsed();
            assert_eq!(config.fleet.apps.len(), apps);
            drop(config);
            took
        })
        .collect();
    times.sort();
    println!(
        "config load, {:.1} MB ({apps} apps): median {:.3} s (min {:.3}, max {:.3}); peak memory added {:.1} MB (heap {:.1} MB), of which the loaded config keeps {:.1} MB (heap {:.1} MB)",
        yaml.len() as f64 / 1e6,
        times[2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[4].as_secs_f64(),
        peak as f64 / 1024.0,
        heap_peak as f64 / 1048576.0,
        held as f64 / 1024.0,
        heap_held as f64 / 1048576.0,
    );
}
