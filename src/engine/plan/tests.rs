use crate::domain::reference::split_tag;
use std::path::Path;

use super::*;

const CFG: &str = "version: 2
hosts: {a: {}, b: {}, c: {}, d: {}}
apps:
  demo:
    image: reg:5000/demo:latest
    roles:
      worker: {hosts: [a, b]}
      web: {hosts: [a, b, c, d]}
    boot: {limit: 50%}
    release: {command: [migrate]}
    proxy: {domains: [demo.test], drain_timeout: 5s}
";

fn cfg() -> Config {
    crate::config::parse(Path::new("f.yaml"), CFG).unwrap()
}

fn names(p: &Plan) -> Vec<String> {
    p.stages
        .iter()
        .map(|s| {
            format!(
                "{} @ {}",
                s.name,
                s.hosts
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect()
}

fn deploy(v: &str) -> Action {
    Action::Deploy {
        app: AppName::new("demo").unwrap(),
        version: Version::new(v).unwrap(),
        destination: None,
    }
}

#[test]
fn deploy_boots_primary_first_in_groups() {
    let p = plan(&cfg(), &deploy("v2")).unwrap();
    let mut want = vec![
        "lock @ a",
        "pre-deploy @ a,b,c,d",
        "image @ a,b,c,d",
        "release task @ a",
    ];
    let rollout = [
        ("web [1/2]", "a,b"),
        ("web [2/2]", "c,d"),
        ("worker [1/2]", "a"),
        ("worker [2/2]", "b"),
    ];
    // Traffic moves and drains for the proxied role (web) only.
    let steps: Vec<String> = rollout
        .iter()
        .flat_map(|(g, h)| {
            let steps: &[&str] = if g.starts_with("web") {
                &["boot", "health gate", "traffic", "drain", "stop old"]
            } else {
                &["boot", "health gate", "stop old"]
            };
            steps.iter().map(move |s| format!("{s} {g} @ {h}"))
        })
        .collect();
    want.extend(steps.iter().map(String::as_str));
    want.extend([
        "prune @ a,b,c,d",
        "post-deploy @ a,b,c,d",
        "restore @ a,b,c,d",
        "unlock @ a",
    ]);
    assert_eq!(names(&p), want);
    assert_eq!(p.stages.last().unwrap().step, Step::Unlock);
    assert!(matches!(&p.stages[2].step, Step::Image { image } if image == "reg:5000/demo:v2"));
}

#[test]
fn boot_limit_one_never_waits_on_a_later_group() {
    // Kamal 2.6.0: the first group held only non-primary hosts, which
    // waited on a primary container from a later group. Here every gate
    // comes after the boot of exactly the containers it waits on, and the
    // primary role's groups all come first.
    let text = CFG.replace("limit: 50%", "limit: 1");
    let c = crate::config::parse(Path::new("f.yaml"), &text).unwrap();
    let p = plan(&c, &deploy("v2")).unwrap();
    let groups: Vec<(&Group, &Step)> = p
        .stages
        .iter()
        .filter_map(|s| match &s.step {
            Step::Boot { group, .. } | Step::HealthGate { group } => Some((group, &s.step)),
            _ => None,
        })
        .collect();
    let first_worker = groups
        .iter()
        .position(|(g, _)| g.role.as_str() == "worker")
        .unwrap();
    assert!(
        groups[..first_worker]
            .iter()
            .all(|(g, _)| g.role.as_str() == "web")
    );
    assert_eq!(
        groups[..first_worker].len(),
        8,
        "4 web groups of 1 host, boot + gate each"
    );
    for pair in groups.chunks(2) {
        assert!(
            matches!(pair[0].1, Step::Boot { .. }) && matches!(pair[1].1, Step::HealthGate { .. })
        );
        assert_eq!(pair[0].0, pair[1].0, "a gate waits on its own group only");
    }
    for s in p
        .stages
        .iter()
        .filter(|s| matches!(s.step, Step::Boot { .. } | Step::HealthGate { .. }))
    {
        assert_eq!(s.hosts.len(), 1);
    }
}

/// Read-only is the engine's rule, not only the front ends': with the
/// file's `read_only: true` or a front end's `--read-only`, no action
/// of any kind is planned, and the refusal says which.
#[test]
fn nothing_is_planned_in_read_only_mode() {
    let app = AppName::new("demo").unwrap();
    let actions = [
        deploy("v2"),
        Action::Restart {
            app: app.clone(),
            role: None,
            destination: None,
        },
        Action::Rollback {
            app: app.clone(),
            version: Some(Version::new("v1").unwrap()),
            destination: None,
        },
        Action::Destroy {
            app: app.clone(),
            destination: None,
            confirm: "demo".into(),
            purge_volumes: false,
        },
        Action::ProxySync {
            app: app.clone(),
            destination: None,
        },
    ];
    let mut flagged = cfg();
    flagged.set_read_only();
    let in_file = crate::config::parse(
        Path::new("f.yaml"),
        &CFG.replacen("version: 2\n", "version: 2\nread_only: true\n", 1),
    )
    .unwrap();
    assert!(in_file.fleet.read_only);
    for a in &actions {
        assert!(
            !matches!(plan(&cfg(), a), Err(PlanError::ReadOnly { .. })),
            "{a:?}"
        );
        let e = plan(&flagged, a).unwrap_err();
        assert_eq!(e.to_string(), format!("--read-only: {} refused", a.verb()));
        let e = plan(&in_file, a).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("f.yaml sets `read_only: true`: {} refused", a.verb())
        );
    }
}

#[test]
fn restart_rollback_destroy_plans() {
    let c = cfg();
    let app = AppName::new("demo").unwrap();
    let p = plan(
        &c,
        &Action::Restart {
            app: app.clone(),
            role: Some(RoleName::new("worker").unwrap()),
            destination: None,
        },
    )
    .unwrap();
    assert_eq!(
        names(&p)[..4],
        [
            "lock @ a",
            "pre-restart @ a,b",
            "reboot worker [1/2] @ a",
            "health gate worker [1/2] @ a"
        ]
    );
    let e = plan(
        &c,
        &Action::Restart {
            app: app.clone(),
            role: Some(RoleName::new("cron").unwrap()),
            destination: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "app `demo` has no role `cron` (roles: web, worker)"
    );
    let p = plan(
        &c,
        &Action::Rollback {
            app: app.clone(),
            version: None,
            destination: None,
        },
    )
    .unwrap();
    assert!(names(&p).contains(&"start retained web [1/2] @ a,b".to_string()));
    let e = plan(
        &c,
        &Action::Destroy {
            app: app.clone(),
            destination: None,
            confirm: "dem".into(),
            purge_volumes: false,
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "destroy needs the app's name typed as confirmation: pass --confirm demo"
    );
    let p = plan(
        &c,
        &Action::Destroy {
            app,
            destination: None,
            confirm: "demo".into(),
            purge_volumes: false,
        },
    )
    .unwrap();
    assert_eq!(
        names(&p),
        [
            "lock @ a",
            "pre-destroy @ a,b,c,d",
            "remove proxy config @ a,b,c,d",
            "remove containers @ a,b,c,d",
            "remove state @ a,b,c,d",
            "post-destroy @ a,b,c,d",
            "unlock @ a"
        ]
    );
}

#[test]
fn proxy_sync_plan_and_drain_setting() {
    let c = cfg();
    let app = AppName::new("demo").unwrap();
    let p = plan(
        &c,
        &Action::ProxySync {
            app: app.clone(),
            destination: None,
        },
    )
    .unwrap();
    assert_eq!(
        names(&p),
        [
            "lock @ a",
            "traffic web [1/1] @ a,b,c,d",
            "restore @ a,b,c,d",
            "unlock @ a"
        ]
    );
    let d = plan(&c, &deploy("v2")).unwrap();
    assert!(d.stages.iter().any(|s| matches!(
        &s.step,
        Step::Drain { timeout, .. } if timeout.get() == std::time::Duration::from_secs(5)
    )));
    let no_proxy = crate::config::parse(
        Path::new("f.yaml"),
        &CFG.replace("    proxy: {domains: [demo.test], drain_timeout: 5s}\n", ""),
    )
    .unwrap();
    let e = plan(
        &no_proxy,
        &Action::ProxySync {
            app,
            destination: None,
        },
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "app `demo` has no `proxy:` in f.yaml; add one to route traffic through nginx or kamal-proxy"
    );
    let p = plan(&no_proxy, &deploy("v2")).unwrap();
    assert!(
        !p.stages
            .iter()
            .any(|s| matches!(s.step, Step::Traffic { .. } | Step::Drain { .. })),
        "no proxy, no traffic stage"
    );
}

#[test]
fn unknown_app_suggests() {
    let a = Action::Restart {
        app: AppName::new("dmeo").unwrap(),
        role: None,
        destination: None,
    };
    assert_eq!(
        plan(&cfg(), &a).unwrap_err().to_string(),
        "app `dmeo` is not declared in f.yaml; did you mean `demo`?"
    );
}

#[test]
fn image_tags() {
    assert_eq!(
        split_tag("reg:5000/demo:latest"),
        ("reg:5000/demo", Some("latest"))
    );
    assert_eq!(split_tag("reg:5000/demo"), ("reg:5000/demo", None));
    assert_eq!(split_tag("demo"), ("demo", None));
    assert_eq!(split_tag("demo@sha256:abc"), ("demo", None));
}

/// The image stage says what the run will do for each config shape.
#[test]
fn the_image_stage_says_which_path_the_run_takes() {
    let shapes = [
        (
            "registry: {server: reg:5000, username: u, password: [P]}\n    image: reg:5000/demo\n    build: {context: ., builder: b}\n",
            "built once on builder b, pushed to reg:5000, then pulled on every host (always) and checked to be one digest",
        ),
        (
            "registry: {server: reg:5000, username: u, password: [P]}\n    image: reg:5000/demo\n",
            "pulled from reg:5000 on every host (always) and checked to be one digest",
        ),
        (
            "build: {context: app}\n",
            "each host uses its copy, else builds it from /srv/app",
        ),
        ("image: demo\n", "each host uses its copy, else pulls it"),
        // A registry with no `image:`: the app builds on each host.
        (
            "registry: {server: reg:5000, username: u, password: [P]}\n    build: {context: app}\n",
            "each host uses its copy, else builds it from /srv/app",
        ),
    ];
    for (shape, says) in shapes {
        let yaml = format!(
            "version: 2\nhosts: {{a: {{}}, b: {{}}}}\napps:\n  demo:\n    {shape}    roles:\n      web: {{hosts: [a]}}\n"
        );
        let c = crate::config::parse(Path::new("/srv/berth.yaml"), &yaml)
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        let app = AppName::new("demo").unwrap();
        assert_eq!(image_path(&c, &app), says, "{shape}");
    }
}
