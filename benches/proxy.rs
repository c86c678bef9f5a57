//! Benchmark (not a test): requests per second through berth's nginx in
//! steady state and during deploys, and how much the traffic stage adds to
//! a deploy. Prints figures; judges nothing.
//!
//! Run: `cargo bench --bench proxy [-- ROUNDS]` (default 5). Needs what
//! `scripts/test` installs: Docker, Debian's busybox-static and nginx-light.
//!
//! The load is 4 workers sending `GET /version` back to back, each over a
//! fresh connection; deploys use `drain_timeout: 0` so the figures are the
//! switch itself, not the configured wait.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use berth::engine::{EngineEvent, Outcome, RunResult};
use common::Scope;
use common::app::App;
use common::load::{self, Load};
use common::nginx::NginxServer;

const HOST: &str = "bench.test";
const WEB: &str = "      web: {hosts: [a], port: 8080}\n";
const WORKERS: usize = 4;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

async fn deploy(app: &App, v: &str) -> (Duration, Vec<EngineEvent>) {
    let t = Instant::now();
    let (r, events) = app.run(app.deploy(v), None).await;
    assert_eq!(r, RunResult::Ok, "deploy {v} failed");
    (t.elapsed(), events)
}

fn stage_ms(events: &[EngineEvent], stage: &str) -> Option<f64> {
    events.iter().find_map(|e| match e {
        EngineEvent::StageFinished {
            name,
            outcome: Outcome::Ok,
            elapsed_ms,
            ..
        } if name == stage => Some(*elapsed_ms as f64),
        _ => None,
    })
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(rounds));
}

async fn run(rounds: usize) {
    let docker = common::docker().await.expect("the benchmark needs Docker");
    let nginx = NginxServer::start();
    let proxy = format!(
        "    proxy: {{domains: [{HOST}], listen: {}, healthcheck: {{path: /up, interval: 100ms}}, drain_timeout: 0, driver: nginx}}\n",
        nginx.port
    );
    let host_a = format!(", nginx: {}", nginx.host_yaml());
    let proxied =
        App::with_host_a(Scope::new(docker.clone()).await, "bp", &host_a, WEB, &proxy).await;
    let plain = App::new(Scope::new(docker).await, "bn", WEB, "").await;
    let versions: Vec<String> = (0..=rounds).map(|i| format!("v{i}")).collect();
    for v in &versions {
        proxied.image(v, &[]).await;
        plain.image(v, &[]).await;
    }
    deploy(&proxied, "v0").await;
    deploy(&plain, "v0").await;

    // Steady state.
    let window = Duration::from_secs(5);
    let traffic = Load::start(nginx.addr(), HOST, "/version", WORKERS, Duration::ZERO);
    tokio::time::sleep(window).await;
    let steady = traffic.stop().await;
    let steady_rps = steady.len() as f64 / window.as_secs_f64();

    // During deploys.
    let (mut during_rps, mut failed, mut total) = (Vec::new(), 0, 0);
    let (mut with_proxy, mut traffic_ms) = (Vec::new(), Vec::new());
    for v in &versions[1..] {
        let traffic = Load::start(nginx.addr(), HOST, "/version", WORKERS, Duration::ZERO);
        let (took, events) = deploy(&proxied, v).await;
        let samples = traffic.stop().await;
        during_rps.push(samples.len() as f64 / took.as_secs_f64());
        failed += load::failures(&samples).len();
        total += samples.len();
        with_proxy.push(took.as_secs_f64());
        traffic_ms.push(stage_ms(&events, "traffic web [1/1]").expect("a traffic stage"));
    }
    // The same deploys without a proxy (and without load).
    let mut without = Vec::new();
    for v in &versions[1..] {
        without.push(deploy(&plain, v).await.0.as_secs_f64());
    }
    let mut quiet = Vec::new();
    for v in versions[..rounds].iter().rev() {
        quiet.push(deploy(&proxied, v).await.0.as_secs_f64());
    }

    let (with_proxy, quiet, without) = (median(with_proxy), median(quiet), median(without));
    println!(
        "berth traffic benchmark ({rounds} rounds, {WORKERS} workers, a connection per request)"
    );
    println!("  steady state through nginx:   {steady_rps:>8.0} req/s");
    println!(
        "  during a deploy (median):     {:>8.0} req/s  ({:.0}% of steady)",
        median(during_rps.clone()),
        100.0 * median(during_rps) / steady_rps
    );
    println!("  failed requests during deploys: {failed} of {total}");
    println!(
        "  traffic stage (median):       {:>8.0} ms",
        median(traffic_ms)
    );
    println!("  deploy, no proxy, no load:    {without:>8.2} s");
    println!(
        "  deploy, proxy, no load:       {quiet:>8.2} s  (+{:.0} ms)",
        1000.0 * (quiet - without)
    );
    println!("  deploy, proxy, under load:    {with_proxy:>8.2} s");
}
