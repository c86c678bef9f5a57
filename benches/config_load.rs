//! Benchmark (not a test): loading a 5 MB fleet config, the way `berth`
//! does at start (read, parse, validate), and what it costs in memory.
//!
//! Run: `cargo bench --bench config_load`. Targets: under 0.5 s and 50 MB.
//! Prints the median of 5 loads and the peak resident memory the loads
//! added (from /proc/self/status: VmHWM after, less VmRSS before).

use std::time::{Duration, Instant};

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
    let before = status_kb("VmRSS:");
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let config = berth::config::load(&path).expect("the generated config is valid");
            let took = start.elapsed();
            assert!(config.fleet.apps.len() > 1000);
            drop(config);
            took
        })
        .collect();
    let peak = status_kb("VmHWM:").saturating_sub(before);
    // What a loaded config keeps, for comparison with the peak.
    let kept = berth::config::load(&path).expect("the generated config is valid");
    let held = status_kb("VmRSS:").saturating_sub(before);
    drop(kept);
    times.sort();
    println!(
        "config load, {:.1} MB: median {:.3} s (min {:.3}, max {:.3}); peak memory added {:.1} MB, of which the loaded config keeps {:.1} MB",
        yaml.len() as f64 / 1e6,
        times[2].as_secs_f64(),
        times[0].as_secs_f64(),
        times[4].as_secs_f64(),
        peak as f64 / 1024.0,
        held as f64 / 1024.0
    );
}
