//! Benchmark (not a test): the console's merged app log (`o` on an app)
//! following 20 containers on two hosts that write 1,000 lines a second in
//! total. Prints figures; judges nothing.
//!
//! Run: `cargo bench --bench app_log` (`BENCH_SECS` sets the window,
//! default 30). Needs what `scripts/test` installs (Docker, Debian's
//! busybox-static).
//!
//! Each container writes 25 lines every 0.5 s (50 lines/s; a burst, then a
//! pause, as a busy web app does), so the engine forks 40 `sleep`s a second
//! rather than 1,000 `echo`s. Measured in a 120x40 pseudo-terminal, after
//! 5 s to settle:
//! - berth's own CPU on the Apps view (the same fleet, no log open), then
//!   while following the merged log, in percent of one core;
//! - peak RSS (VmHWM) at the end of following;
//! - lines received per second: the view keeps 5,000 lines and counts the
//!   ones it dropped, so (kept + dropped) over the time it was open.

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/pty.rs"]
mod support;

use std::time::{Duration, Instant};

use common::{Scope, Spec};
use futures_util::StreamExt;
use support::{Pty, cpu_over, peak_rss_mib};

const CONTAINERS: usize = 20;
const BURST: usize = 25;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let window = support::window();
    let Some(docker) = common::docker().await else {
        eprintln!("app_log: Docker is not reachable; nothing measured");
        return;
    };
    let scope = Scope::new(docker).await;
    let app = scope.app("blog");
    let script = format!(
        "i=0; while :; do j=0; while [ $j -lt {BURST} ]; do i=$((i+1)); j=$((j+1)); echo \"req $i GET /api/items/$j 200 12ms\"; done; sleep 0.5; done"
    );
    println!("starting {CONTAINERS} containers writing 1,000 lines/s in total…");
    let specs: Vec<Spec> = (0..CONTAINERS)
        .map(|i| {
            let mut s = Spec::named(&format!("blog-{i:02}"))
                .berth(&app, "web", "v1")
                .label(berth::labels::HOST, if i % 2 == 0 { "a" } else { "b" });
            s.cmd = Some(vec!["sh".into(), "-c".into(), script.clone()]);
            s.no_healthcheck = true;
            s
        })
        .collect();
    let scope_ref = &scope;
    futures_util::stream::iter(specs)
        .map(|s| async move { scope_ref.start(s).await })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let yaml = format!(
        "version: 2\nhosts:\n  a: {{state_dir: {d}/a}}\n  b: {{state_dir: {d}/b}}\napps:\n  {app}:\n    image: {app}:v1\n    roles:\n      web: {{hosts: [a, b]}}\n"
    );
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, yaml).unwrap();
    let argv = vec![
        env!("CARGO_BIN_EXE_berth").to_string(),
        "-c".into(),
        config.display().to_string(),
    ];
    let serving = format!("web {CONTAINERS}/{CONTAINERS}");
    let needle = app.clone();
    let mut pty = Pty::spawn(
        &argv,
        Box::new(move |s| {
            s.contents()
                .lines()
                .any(|l| l.contains(&needle) && l.contains(&serving))
        }),
    );
    pty.wait_ready(Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(5));
    let (idle, _) = cpu_over(Some(pty.pid()), window);

    pty.keys("2/");
    pty.keys(&app);
    pty.keys("\ro");
    let opened = Instant::now();
    let following = format!("logs · {CONTAINERS} running · following");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !pty
        .screen
        .lock()
        .unwrap()
        .screen()
        .contents()
        .contains(&following)
    {
        assert!(
            Instant::now() < deadline,
            "the merged log did not open; the screen:\n{}",
            pty.screen.lock().unwrap().screen().contents()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(5));
    let (own, _) = cpu_over(Some(pty.pid()), window);
    let rss = peak_rss_mib(pty.pid());
    let screen = pty.screen.lock().unwrap().screen().contents();
    let open_for = opened.elapsed().as_secs_f64();
    pty.stop();
    let dropped: u64 = screen
        .split(" older lines dropped")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let received = dropped + 5_000;
    println!(
        "berth, Apps view (no log open)      {:>2}s: {idle:.2}% of a core",
        window.as_secs()
    );
    println!(
        "berth, merged log of {CONTAINERS} containers {:>2}s: {own:.2}% of a core; peak RSS {rss:.1} MiB",
        window.as_secs()
    );
    // The opening tails: the last 200 lines of each container (they ran
    // long enough to have written that many).
    let tails = (CONTAINERS * 200) as u64;
    println!(
        "lines received: {received} in {open_for:.0}s, {tails} of them the opening tails: {:.0}/s following (written: 1,000/s); {dropped} dropped from the 5,000-line view",
        received.saturating_sub(tails) as f64 / open_for
    );
    drop(scope);
}
