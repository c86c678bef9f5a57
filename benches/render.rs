//! Benchmark (not a test): what one console frame costs with a big fleet.
//! 10,000 containers on 10 hosts, 200 apps, drawn into a 200x50 TestBackend
//! (no terminal I/O), for the Containers, Apps and Hosts views; and what
//! re-deriving every row costs when the fleet changes.
//!
//! Run: `cargo bench --bench render`. Target: a frame under 2 ms median.

use std::hint::black_box;
use std::sync::Arc;

use berth::domain::{Change as FleetMsg, Container, EngineInfo, Fleet, Health, Port, State};
use berth::labels::{BerthLabels, Owner};
use berth::tui::model::{Model, Msg};
use berth::tui::theme::{Palette, Theme};
use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const HOSTS: usize = 10;
const APPS: usize = 200;
const CONTAINERS: usize = 10_000;

fn config() -> berth::config::Config {
    let mut yaml = String::from("version: 2\nhosts:\n");
    for h in 0..HOSTS {
        yaml.push_str(&format!("  host-{h}: {{}}\n"));
    }
    yaml.push_str("apps:\n");
    for a in 0..APPS {
        let h = a % HOSTS;
        yaml.push_str(&format!(
            "  app-{a}:\n    image: app-{a}\n    roles:\n      web: {{hosts: [host-{h}]}}\n"
        ));
    }
    berth::config::parse(std::path::Path::new("berth.yaml"), &yaml).unwrap()
}

fn fleet() -> Fleet {
    let names: Vec<String> = (0..HOSTS).map(|h| format!("host-{h}")).collect();
    let mut fleet = Fleet::new(names.iter().map(|n| (n.as_str(), String::new())));
    let now = Utc::now();
    let mut per_host: Vec<Vec<Container>> = vec![Vec::new(); HOSTS];
    for i in 0..CONTAINERS {
        let app = i % APPS;
        let name = format!("app-{app}-web-v3-{i:05}");
        let labels = BerthLabels {
            app: format!("app-{app}"),
            role: "web".into(),
            version: "v3".into(),
            destination: String::new(),
            phase: None,
            host: String::new(),
            run: String::new(),
        };
        // A few sick ones, so triage ordering has work to do.
        let (state, health) = match i % 97 {
            0 => (State::Running, Health::Unhealthy),
            1 => (State::Restarting, Health::None),
            2 => (State::Exited, Health::None),
            _ => (State::Running, Health::Healthy),
        };
        per_host[app % HOSTS].push(Container {
            id: format!("{i:064x}"),
            owner: Owner::classify(&name, &labels.to_map()),
            name,
            state,
            health,
            created_at: Some(now - chrono::Duration::hours(2)),
            started_at: Some(now - chrono::Duration::minutes(90)),
            finished_at: None,
            restart_count: (i % 5) as i64,
            exit_code: (state == State::Exited).then_some(137),
            oom_killed: false,
            image: format!("app-{app}:v3"),
            ports: vec![Port {
                container_port: 8080,
                protocol: "tcp".into(),
                host_ip: None,
                host_port: None,
            }],
            health_log: vec![],
        });
    }
    for (h, containers) in per_host.into_iter().enumerate() {
        fleet.apply(FleetMsg::Synced {
            host: format!("host-{h}"),
            engine: EngineInfo {
                product: "docker".into(),
                version: "28.2.2".into(),
                api_version: "1.50".into(),
                os: "linux".into(),
                arch: "amd64".into(),
            },
            containers,
        });
    }
    fleet
}

fn model() -> Model {
    let mut m = Model::new(
        Arc::new(config()),
        Theme::built_in("default", Palette::TrueColor),
        Palette::TrueColor,
        false,
    );
    m.update(Msg::Fleet(fleet()));
    m
}

fn key(c: char) -> Msg {
    Msg::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char(c),
    ))
}

fn bench(c: &mut Criterion) {
    let mut m = model();
    assert_eq!(m.container_rows.len(), CONTAINERS);
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    let mut group = c.benchmark_group("frame 200x50, 10k containers");
    for (view, k) in [("containers", '3'), ("apps", '2'), ("hosts", '1')] {
        m.update(key(k));
        group.bench_function(view, |b| {
            b.iter(|| {
                terminal
                    .draw(|f| berth::tui::view::draw(f, black_box(&m)))
                    .unwrap();
            })
        });
    }
    // The selection deep in the list: only the rows on screen are built.
    m.update(key('3'));
    m.update(key('G'));
    group.bench_function("containers, selection at the end", |b| {
        b.iter(|| {
            terminal
                .draw(|f| berth::tui::view::draw(f, black_box(&m)))
                .unwrap();
        })
    });
    group.finish();

    // A fleet change: every row derived, sorted and filtered again.
    let f = fleet();
    c.bench_function("fleet change, 10k containers: derive rows", |b| {
        b.iter_batched(
            || {
                let mut next = f.clone();
                next.revision += 1;
                next
            },
            |next| m.update(Msg::Fleet(next)),
            criterion::BatchSize::LargeInput,
        )
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
