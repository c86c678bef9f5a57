use super::*;

pub(crate) fn container(id: &str, state: State, health: Health) -> Container {
    Container {
        id: id.into(),
        name: format!("c-{id}"),
        owner: Owner::unmanaged(),
        state,
        health,
        created_at: None,
        started_at: None,
        finished_at: None,
        restart_count: 0,
        exit_code: None,
        oom_killed: false,
        image: "img".into(),
        ports: vec![],
        health_log: vec![],
    }
}

fn engine() -> EngineInfo {
    EngineInfo {
        product: "docker".into(),
        version: "20.10".into(),
        api_version: "1.41".into(),
        os: "linux".into(),
        arch: "amd64".into(),
    }
}

/// A container as Kamal 2 names and labels it.
fn kamal(id: &str, name: &str, labels: &[(&str, &str)]) -> Container {
    let labels: std::collections::HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Container {
        name: name.into(),
        owner: Owner::classify(name, &labels),
        ..container(id, State::Running, Health::None)
    }
}

#[test]
fn kamal_accessories_belong_to_their_service_on_any_host_in_any_order() {
    let app = |f: &Fleet, host: &str, id: &str| {
        let c = &f.hosts[host].containers[id];
        (
            c.owner.app.clone().unwrap_or_default(),
            c.owner.role.clone().unwrap_or_default(),
        )
    };
    // The accessory's host answers before the app's.
    for app_first in [false, true] {
        let mut f = Fleet::new([("a", String::new()), ("b", String::new())]);
        let web = Change::Synced {
            host: "a".into(),
            engine: engine(),
            containers: vec![
                kamal(
                    "w",
                    "shop-web-1a2b",
                    &[("service", "shop"), ("role", "web"), ("destination", "")],
                ),
                // Another app whose name starts like an accessory's.
                kamal(
                    "x",
                    "shop-api-web-9f",
                    &[
                        ("service", "shop-api"),
                        ("role", "web"),
                        ("destination", ""),
                    ],
                ),
            ],
        };
        let db = Change::Synced {
            host: "b".into(),
            engine: engine(),
            containers: vec![
                kamal("d", "shop-db", &[("service", "shop-db")]),
                kamal("r", "shop-api-redis", &[("service", "shop-api-redis")]),
                kamal("o", "blog-db", &[("service", "blog-db")]),
            ],
        };
        if app_first {
            f.apply(web);
            f.apply(db);
        } else {
            f.apply(db);
            f.apply(web);
        }
        assert_eq!(app(&f, "b", "d"), ("shop".into(), "accessory:db".into()));
        assert_eq!(
            app(&f, "b", "r"),
            ("shop-api".into(), "accessory:redis".into()),
            "the longest service wins"
        );
        assert_eq!(
            app(&f, "b", "o"),
            ("blog-db".into(), String::new()),
            "no app blog"
        );
        assert_eq!(app(&f, "a", "x"), ("shop-api".into(), "web".into()));
        // Seen again (an event): adopted, and no change.
        let again = kamal("d", "shop-db", &[("service", "shop-db")]);
        assert!(!f.apply(Change::Upsert {
            host: "b".into(),
            container: Box::new(again),
        }));
        assert_eq!(app(&f, "b", "d"), ("shop".into(), "accessory:db".into()));
    }
}

#[test]
fn sync_upsert_remove_and_revision() {
    let mut f = Fleet::new([("a", "unix:///s".to_string())]);
    assert!(!f.settled());
    assert!(f.apply(Change::Synced {
        host: "a".into(),
        engine: engine(),
        containers: vec![container("1", State::Running, Health::Healthy)],
    }));
    assert!(f.settled());
    let rev = f.revision;
    // The same container again is no change: no wake-up, no redraw.
    assert!(!f.apply(Change::Upsert {
        host: "a".into(),
        container: Box::new(container("1", State::Running, Health::Healthy)),
    }));
    assert_eq!(f.revision, rev);
    assert!(f.apply(Change::Upsert {
        host: "a".into(),
        container: Box::new(container("1", State::Exited, Health::Unhealthy)),
    }));
    assert_eq!(f.hosts["a"].containers["1"].state, State::Exited);
    assert!(f.apply(Change::Remove {
        host: "a".into(),
        id: "1".into()
    }));
    assert!(!f.apply(Change::Remove {
        host: "a".into(),
        id: "1".into()
    }));
    assert!(!f.apply(Change::Upsert {
        host: "nope".into(),
        container: Box::new(container("1", State::Running, Health::None)),
    }));
}

#[test]
fn resync_drops_containers_removed_while_away() {
    let mut f = Fleet::new([("a", String::new())]);
    f.apply(Change::Synced {
        host: "a".into(),
        engine: engine(),
        containers: vec![
            container("1", State::Running, Health::None),
            container("2", State::Running, Health::None),
        ],
    });
    f.apply(Change::Link {
        host: "a".into(),
        link: Link::Down {
            reason: "gone".into(),
            since: Utc::now(),
            retry_at: None,
        },
    });
    assert!(f.settled(), "a down host counts as settled");
    f.apply(Change::Synced {
        host: "a".into(),
        engine: engine(),
        containers: vec![container("2", State::Running, Health::None)],
    });
    assert_eq!(
        f.hosts["a"].containers.keys().collect::<Vec<_>>(),
        vec!["2"]
    );
}

#[test]
fn two_hosts_on_one_engine_each_show_their_own_containers() {
    let mut f = Fleet::new([("a", String::new()), ("b", String::new())]);
    let started_for = |id: &str, host: Option<&str>| {
        let mut c = container(id, State::Running, Health::None);
        c.owner.host = host.map(str::to_string);
        c
    };
    let everything = vec![
        started_for("1", Some("a")),
        started_for("2", Some("b")),
        started_for("3", None),
        started_for("4", Some("renamed-away")),
    ];
    for host in ["a", "b"] {
        f.apply(Change::Synced {
            host: host.into(),
            engine: engine(),
            containers: everything.clone(),
        });
    }
    let ids = |f: &Fleet, h: &str| f.hosts[h].containers.keys().cloned().collect::<Vec<_>>();
    assert_eq!(ids(&f, "a"), ["1", "3", "4"]);
    assert_eq!(ids(&f, "b"), ["2", "3", "4"]);
    // An event for b's container, seen by a's watcher, changes nothing
    // on a.
    assert!(!f.apply(Change::Upsert {
        host: "a".into(),
        container: Box::new(started_for("2", Some("b"))),
    }));
    assert_eq!(ids(&f, "a"), ["1", "3", "4"]);
}

#[test]
fn event_history_is_bounded() {
    let mut f = Fleet::new([("a", String::new())]);
    for i in 0..EVENT_HISTORY + 10 {
        f.apply(Change::Event(EventRecord {
            at: Utc::now(),
            host: "a".into(),
            container_id: i.to_string(),
            container_name: String::new(),
            app: None,
            action: "die".into(),
            detail: None,
        }));
    }
    assert_eq!(f.events.len(), EVENT_HISTORY);
    assert_eq!(
        f.events.back().unwrap().container_id,
        (EVENT_HISTORY + 9).to_string()
    );
}

#[test]
fn uptime_only_when_running() {
    let mut c = container("1", State::Running, Health::None);
    let now = Utc::now();
    c.started_at = Some(now - chrono::Duration::seconds(90));
    assert_eq!(c.uptime(now).unwrap().num_seconds(), 90);
    c.state = State::Exited;
    assert!(c.uptime(now).is_none());
}
