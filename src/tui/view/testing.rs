//! Fixtures for the views' snapshot tests: a fleet config, a model at a
//! fixed time, containers in every state, and a frame rendered to text.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::super::model::{Model, Msg};
use super::super::theme::{Palette, Theme};
use crate::domain::{
    Change as FleetMsg, Container, EngineInfo, EventRecord, Fleet, Health, Link, Port, Probe, State,
};
use crate::labels::{BerthLabels, Owner};

pub const CONFIG: &str = "\
version: 2
hosts:
  edge-1: {}
  edge-2: {}
  db-1: {}
apps:
  demo:
    image: demo
    roles:
      web: {hosts: [edge-1, edge-2], port: 8080}
      worker: {hosts: [edge-2], command: [sleep, '1000']}
  shop:
    image: shop
    roles:
      web: {hosts: [edge-1]}
";

pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 14, 30, 0).unwrap()
}

pub fn model() -> Model {
    let config = crate::config::parse(std::path::Path::new("berth.yaml"), CONFIG).unwrap();
    let mut m = Model::new(
        Arc::new(config),
        Theme::built_in("default", Palette::Ansi16),
        Palette::Ansi16,
        false,
    );
    m.performer = "ana@laptop".into();
    m.update(Msg::Tick(now()));
    m
}

pub fn container(
    name: &str,
    app: &str,
    role: &str,
    version: &str,
    state: State,
    health: Health,
) -> Container {
    let owner = if app.is_empty() {
        Owner::unmanaged()
    } else {
        let labels = BerthLabels {
            app: app.into(),
            role: role.into(),
            version: version.into(),
            destination: String::new(),
            phase: None,
            host: String::new(),
            run: String::new(),
        };
        Owner::classify(name, &labels.to_map())
    };
    Container {
        id: format!(
            "{:0>64}",
            name.len() * 7919 + name.bytes().map(|b| b as usize).sum::<usize>()
        ),
        name: name.into(),
        owner,
        state,
        health,
        created_at: Some(now() - chrono::Duration::hours(3)),
        started_at: Some(now() - chrono::Duration::minutes(42)),
        finished_at: None,
        restart_count: 0,
        exit_code: (state == State::Exited).then_some(1),
        oom_killed: false,
        image: format!("{app}:{version}"),
        ports: vec![Port {
            container_port: 8080,
            protocol: "tcp".into(),
            host_ip: None,
            host_port: None,
        }],
        health_log: vec![],
    }
}

pub fn engine() -> EngineInfo {
    EngineInfo {
        product: "docker".into(),
        version: "20.10.24".into(),
        api_version: "1.41".into(),
        os: "linux".into(),
        arch: "amd64".into(),
    }
}

/// Two hosts up with the demo app (one web container unhealthy), one down.
pub fn fleet() -> Fleet {
    let mut f = Fleet::new([
        ("db-1", "ssh://deploy@db-1:22".to_string()),
        ("edge-1", "unix:///var/run/docker.sock".to_string()),
        ("edge-2", "ssh://deploy@edge-2:22".to_string()),
    ]);
    let mut sick = container(
        "demo-web-v7-b2",
        "demo",
        "web",
        "v7",
        State::Running,
        Health::Unhealthy,
    );
    sick.restart_count = 2;
    sick.health_log = vec![Probe {
        at: Some(now() - chrono::Duration::seconds(4)),
        exit_code: Some(1),
        output: "wget: server returned error: HTTP/1.1 503 Service Unavailable".into(),
    }];
    f.apply(FleetMsg::Synced {
        host: "edge-1".into(),
        engine: engine(),
        containers: vec![
            container(
                "demo-web-v7-a1",
                "demo",
                "web",
                "v7",
                State::Running,
                Health::Healthy,
            ),
            container(
                "shop-web-v3-c4",
                "shop",
                "web",
                "v3",
                State::Running,
                Health::None,
            ),
            container(
                "demo-web-v6-9f",
                "demo",
                "web",
                "v6",
                State::Exited,
                Health::None,
            ),
            container("stray-redis", "", "", "", State::Running, Health::None),
        ],
    });
    f.apply(FleetMsg::Synced {
        host: "edge-2".into(),
        engine: engine(),
        containers: vec![
            sick,
            container(
                "demo-worker-v7-d3",
                "demo",
                "worker",
                "v7",
                State::Running,
                Health::None,
            ),
        ],
    });
    f.apply(FleetMsg::Link {
        host: "db-1".into(),
        link: Link::Down {
            reason: "ssh: connect to host db-1 port 22: Connection refused".into(),
            since: now() - chrono::Duration::minutes(3),
            retry_at: None,
        },
    });
    for (i, (action, name, detail)) in [
        ("start", "demo-web-v7-a1", None),
        ("health_status", "demo-web-v7-a1", Some("healthy")),
        ("die", "demo-web-v6-9f", Some("exit 1")),
        ("health_status", "demo-web-v7-b2", Some("unhealthy")),
    ]
    .into_iter()
    .enumerate()
    {
        f.apply(FleetMsg::Event(EventRecord {
            at: now() - chrono::Duration::seconds(60 - 10 * i as i64),
            host: if name.ends_with("b2") {
                "edge-2"
            } else {
                "edge-1"
            }
            .into(),
            container_id: String::new(),
            container_name: name.into(),
            app: Some("demo".into()),
            action: action.into(),
            detail: detail.map(String::from),
        }));
    }
    f
}

/// The model with the fleet loaded.
pub fn loaded() -> Model {
    let mut m = model();
    m.update(Msg::Fleet(fleet()));
    m
}

/// The screen as text, one line per row (colours are not in it: the
/// themes have their own snapshots).
pub fn render(model: &Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| super::draw(f, model)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The frame's buffer, colours included, for theme snapshots.
pub fn buffer(model: &Model, width: u16, height: u16) -> ratatui::buffer::Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| super::draw(f, model)).unwrap();
    terminal.backend().buffer().clone()
}

/// The loaded model after the operator typed `keys` (`\n` is Enter).
pub fn after(keys: &str) -> Model {
    typed(loaded(), keys)
}

/// `m` after the operator typed `keys` (`\n` is Enter).
pub fn typed(mut m: Model, keys: &str) -> Model {
    for c in keys.chars() {
        m.update(match c {
            '\n' => code(crossterm::event::KeyCode::Enter),
            c => key(c),
        });
    }
    m
}

pub fn key(c: char) -> Msg {
    Msg::Key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Char(c),
    ))
}

pub fn code(c: crossterm::event::KeyCode) -> Msg {
    Msg::Key(crossterm::event::KeyEvent::from(c))
}

/// Starts `deploy demo v8` from the keyboard, as an operator would, and
/// feeds the engine's `PlanReady` for it. Returns the run's id and plan.
pub fn deploy_run(m: &mut Model) -> (u64, crate::engine::Plan) {
    use super::super::model::Effect;
    m.update(key('2'));
    m.update(key('g'));
    m.update(key('d'));
    for c in "v8".chars() {
        m.update(key(c));
    }
    m.update(code(crossterm::event::KeyCode::Enter));
    let effects = m.take_effects();
    let Some(Effect::Start { run, action }) = effects.into_iter().next() else {
        panic!("deploy from the keyboard did not start a run");
    };
    let plan = crate::engine::plan(&m.config, &action).unwrap();
    m.update(Msg::Engine {
        run,
        event: crate::engine::EngineEvent::PlanReady { plan: plan.clone() },
    });
    (run, plan)
}

/// Feeds a stage's start and (optionally) its end.
pub fn stage(
    m: &mut Model,
    run: u64,
    plan: &crate::engine::Plan,
    i: usize,
    end: Option<crate::engine::Outcome>,
) {
    use crate::engine::EngineEvent;
    let name = plan.stages[i].name.clone();
    m.update(Msg::Engine {
        run,
        event: EngineEvent::StageStarted {
            stage: i,
            name: name.clone(),
            at: now() - chrono::Duration::seconds(3),
        },
    });
    if let Some(outcome) = end {
        m.update(Msg::Engine {
            run,
            event: EngineEvent::StageFinished {
                stage: i,
                name,
                outcome,
                elapsed_ms: 1200 + 100 * i as u64,
            },
        });
    }
}

/// A lock held by bo@ci-7 for `action`, taken `secs` ago.
pub fn held(
    action: &str,
    message: Option<&str>,
    stale: bool,
    secs: i64,
) -> super::super::rows::LockCell {
    use crate::engine::lock::{Holder, Status};
    let at = now() - chrono::Duration::seconds(secs);
    super::super::rows::LockCell::Held(Box::new(Status {
        holder: Holder {
            user: "bo".into(),
            machine: "ci-7".into(),
            pid: 4242,
            action: action.into(),
            version: (action == "deploy").then(|| "v8".into()),
            message: message.map(String::from),
            acquired_at: at,
            token: "t".into(),
            manual: action == "manual",
            run: String::new(),
        },
        heartbeat_at: at,
        stale,
        skew_secs: None,
        nested: vec![],
        clear_with: "berth lock release demo --force".into(),
    }))
}

/// The loaded model with demo's deploy lock held and shop's manual one,
/// as an incident looks.
pub fn locked() -> Model {
    let mut m = loaded();
    m.update(Msg::Locks(std::collections::BTreeMap::from([
        (
            ("demo".into(), String::new()),
            held("deploy", None, false, 75),
        ),
        (
            ("shop".into(), String::new()),
            held("manual", Some("db migration"), true, 3 * 3600),
        ),
    ])));
    m
}
