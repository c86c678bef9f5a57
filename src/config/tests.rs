use std::path::Path;

use super::*;

const GOOD: &str = r#"version: 2
hosts:
  local: {}
  edge-1:
    ssh: {host: 10.0.0.5, user: deploy}
apps:
  demo:
    image: berth-demo:v1
    roles:
      web:
        hosts: [local]
        port: 8080
      worker:
        hosts: [local, edge-1]
        command: [sh, -c, "sleep 1000"]
    env:
      clear: {MODE: prod}
      secret: [DB_URL]
    healthcheck:
      command: [wget, -q, -O-, "http://127.0.0.1:8080/up"]
      interval: 1s
    boot: {limit: "50%", wait: 2s}
    deploy_timeout: 2m
"#;

fn parse_err(text: &str) -> String {
    parse(Path::new("fleet.yaml"), text)
        .unwrap_err()
        .to_string()
}

#[test]
fn good_config_loads_with_defaults() {
    let c = parse(Path::new("fleet.yaml"), GOOD).unwrap();
    assert!(c.warnings.is_empty());
    let demo = c.fleet.apps.get(&AppName::new("demo").unwrap()).unwrap();
    assert_eq!(demo.primary_role.as_str(), "web");
    assert_eq!(demo.deploy_timeout, HumanDuration::secs(120));
    assert_eq!(demo.min_uptime, HumanDuration::secs(10));
    assert_eq!(demo.retain, 3);
    assert_eq!(demo.boot.limit, Some(BootLimit::Percent(50)));
    assert_eq!(demo.healthcheck.as_ref().unwrap().retries, 3);
}

#[test]
fn bad_yaml_names_line_and_column() {
    let e = parse_err("version: 2\napps:\n  demo: [unclosed\n");
    assert!(e.starts_with("fleet.yaml:"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");
    // One line, with a position.
    assert_eq!(e.lines().count(), 1, "{e}");
    let pos: Vec<&str> = e.splitn(4, ':').collect();
    assert!(
        pos[1].parse::<usize>().is_ok() && pos[2].parse::<usize>().is_ok(),
        "{e}"
    );
}

#[test]
fn unknown_key_points_at_the_key_and_suggests() {
    let text = GOOD.replace("    deploy_timeout: 2m", "    helthcheck: {}");
    let e = parse_err(&text);
    assert_eq!(
        e,
        "fleet.yaml:23:5: `apps.demo`: unknown key `helthcheck`; did you mean `healthcheck`?"
    );
}

#[test]
fn unknown_top_level_key() {
    let e = parse_err("version: 2\nhsots: {}\n");
    assert_eq!(
        e,
        "fleet.yaml:2:1: unknown key `hsots`; did you mean `hosts`?"
    );
}

#[test]
fn underscore_app_name_suggests_valid_spelling() {
    let text = GOOD.replace("  demo:", "  my_demo:");
    let e = parse_err(&text);
    assert!(e.starts_with("fleet.yaml:7:3: "), "{e}");
    assert!(e.contains("app name `my_demo` contains `_`"), "{e}");
    assert!(e.contains("did you mean `my-demo`?"), "{e}");
}

#[test]
fn undeclared_host_points_at_the_list_item() {
    let text = GOOD.replace("hosts: [local, edge-1]", "hosts: [local, edge-2]");
    let e = parse_err(&text);
    assert_eq!(
        e,
        "fleet.yaml:14:24: host `edge-2` is not declared under `hosts:`; did you mean `edge-1`?"
    );
}

#[test]
fn bad_duration_points_at_the_value() {
    let text = GOOD.replace("interval: 1s", "interval: 5 seconds");
    let e = parse_err(&text);
    assert!(
        e.starts_with("fleet.yaml:21:17: `apps.demo.healthcheck.interval`: "),
        "{e}"
    );
    assert!(e.contains("unknown unit"), "{e}");
    let text = GOOD.replace("deploy_timeout: 2m", "deploy_timeout: 60");
    let e = parse_err(&text);
    assert!(e.starts_with("fleet.yaml:23:21: "), "{e}");
    assert!(e.contains("write `60s`"), "{e}");
}

#[test]
fn shell_string_command_is_refused() {
    let text = GOOD.replace(r#"[sh, -c, "sleep 1000"]"#, "sleep 1000");
    let e = parse_err(&text);
    assert!(e.starts_with("fleet.yaml:15:18: "), "{e}");
    assert!(e.contains("[\"sleep\", \"1000\"]"), "{e}");
}

#[test]
fn version_is_required_and_bounded() {
    assert!(parse_err("hosts: {}\n").contains("missing `version:`"));
    let e = parse_err("version: 9\n");
    assert!(e.starts_with("fleet.yaml:1:10: "), "{e}");
    assert!(e.contains("newer than this berth"), "{e}");
}

#[test]
fn missing_primary_role_and_image() {
    let text = GOOD.replace(
        "      web:\n        hosts: [local]\n        port: 8080\n",
        "",
    );
    assert!(
        parse_err(&text)
            .contains("primary role `web` of app `demo` is not one of its roles (worker)")
    );
    let text = GOOD.replace("    image: berth-demo:v1\n", "");
    let e = parse_err(&text);
    assert!(e.starts_with("fleet.yaml:7:3: "), "{e}");
    assert!(e.contains("needs `image:`"), "{e}");
}

#[test]
fn old_schema_is_migrated_with_a_warning_per_key() {
    let text = "version: 1\nhosts:\n  local: {}\napps:\n  demo:\n    image: x\n    servers:\n      web: {hosts: [local]}\n    release_command: [bin/migrate]\n    healthcheck: {cmd: [\"true\"]}\n";
    let c = parse(Path::new("fleet.yaml"), text).unwrap();
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 3, "{w:#?}");
    assert!(
        w.iter()
            .any(|w| w.starts_with("fleet.yaml:7:5: `apps.demo.servers` is now `apps.demo.roles`")),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|w| w.starts_with(
            "fleet.yaml:9:5: `apps.demo.release_command` is now `apps.demo.release.command`"
        )),
        "{w:#?}"
    );
    let demo = c.fleet.apps.get(&AppName::new("demo").unwrap()).unwrap();
    assert_eq!(
        demo.release.as_ref().unwrap().command.0,
        vec!["bin/migrate"]
    );
    assert_eq!(demo.healthcheck.as_ref().unwrap().command.0, vec!["true"]);
    assert!(demo.roles.contains_key(&RoleName::new("web").unwrap()));
}

#[test]
fn errors_inside_migrated_keys_point_at_the_written_key() {
    let text = "version: 1\nhosts:\n  local: {}\napps:\n  demo:\n    image: x\n    servers:\n      web: {hosts: [nowhere]}\n";
    let e = parse_err(text);
    assert!(e.starts_with("fleet.yaml:8:21: host `nowhere`"), "{e}");
}

#[test]
fn volumes_are_checked() {
    let text = GOOD.replace(
        "    deploy_timeout: 2m",
        "    volumes: [\"data:/data\", \"/srv:/srv:ro\", \"data\"]",
    );
    let e = parse_err(&text);
    assert!(
        e.starts_with("fleet.yaml:23:45: volume `data` should be"),
        "{e}"
    );
}

#[test]
fn x_keys_hold_anchors() {
    let text = "version: 2\nx-hosts: &h [local]\nhosts:\n  local: {}\napps:\n  demo:\n    image: x\n    roles:\n      web: {hosts: *h}\n";
    let c = parse(Path::new("fleet.yaml"), text).unwrap();
    let demo = c.fleet.apps.get(&AppName::new("demo").unwrap()).unwrap();
    assert_eq!(
        demo.roles
            .get(&RoleName::new("web").unwrap())
            .unwrap()
            .hosts[0]
            .as_str(),
        "local"
    );
}

#[test]
fn secrets_resolve_masked_and_missing_ones_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_path = dir.path().join("berth.yaml");
    let text = format!("secrets_file: secrets.env\n{GOOD}");
    std::fs::write(&cfg_path, &text).unwrap();
    std::fs::write(dir.path().join("secrets.env"), "DB_URL=postgres://secret\n").unwrap();
    let c = load(&cfg_path).unwrap();
    let secrets = c.load_secrets().unwrap();
    let demo = AppName::new("demo").unwrap();
    let web = RoleName::new("web").unwrap();
    let env = c.resolve_env(&demo, &web, None, &secrets).unwrap();
    assert_eq!(env["DB_URL"].expose(), "postgres://secret");
    assert_eq!(env["DB_URL"].display(), secrets::MASK);
    assert_eq!(env["MODE"].display(), "prod");
    assert!(!format!("{env:?}").contains("postgres://secret"));

    std::fs::write(dir.path().join("secrets.env"), "OTHER=1\n").unwrap();
    let secrets = c.load_secrets().unwrap();
    let e = c
        .resolve_env(&demo, &web, None, &secrets)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(":19:16: secret `DB_URL` is not in the secrets file"),
        "{e}"
    );
}

#[test]
fn proxy_settings_resolve_with_destination_overrides() {
    let text = GOOD.replace(
        "    deploy_timeout: 2m\n",
        "    deploy_timeout: 2m\n    proxy: {domains: [demo.test], drain_timeout: 0}\n    destinations:\n      staging:\n        proxy: {domains: [staging.demo.test], listen: 8081}\n",
    );
    let c = parse(Path::new("fleet.yaml"), &text).unwrap();
    let app = AppName::new("demo").unwrap();
    let p = c.proxy(&app, None).unwrap();
    assert_eq!(p.role.as_str(), "web", "the primary role by default");
    assert_eq!(p.app_port, 8080, "the role's port");
    assert_eq!((p.listen, p.health_path.as_str()), (80, "/up"));
    assert_eq!(p.drain_timeout, std::time::Duration::ZERO);
    assert_eq!(p.driver, ProxyDriver::Auto);
    let s = c
        .proxy(&app, Some(&DestinationName::new("staging").unwrap()))
        .unwrap();
    assert_eq!(s.domains, ["staging.demo.test"]);
    assert_eq!(s.listen, 8081);
    assert_eq!(
        s.drain_timeout, p.drain_timeout,
        "unset fields keep the app's"
    );
}

#[test]
fn proxy_values_that_could_break_an_nginx_file_are_refused_where_written() {
    let with = |proxy: &str| {
        parse_err(&GOOD.replace(
            "    deploy_timeout: 2m\n",
            &format!("    deploy_timeout: 2m\n    proxy:\n{proxy}"),
        ))
    };
    let e = with("      domains: [ok.test, \"evil.test; include /etc/passwd\"]\n");
    assert!(e.starts_with("fleet.yaml:25:"), "{e}");
    assert!(e.contains("is not a host name"), "{e}");
    let e = with("      healthcheck: {path: \"/up }\"}\n");
    assert!(e.starts_with("fleet.yaml:25:"), "{e}");
    assert!(
        e.contains("must start with `/` and use only URL characters"),
        "{e}"
    );
    let e = with("      role: wbe\n");
    assert_eq!(
        e,
        "fleet.yaml:25:13: proxy role `wbe` is not a role of app `demo` (web, worker)"
    );
    let e = parse_err(&GOOD.replace(
        "    deploy_timeout: 2m\n",
        "    deploy_timeout: 2m\n    destinations:\n      staging:\n        proxy: {listen: 81}\n",
    ));
    assert!(e.starts_with("fleet.yaml:26:9:"), "{e}");
    assert!(e.contains("but app `demo` has none"), "{e}");
    assert!(check_domain("*.shop.test").is_ok());
    assert!(check_domain("a..b").is_err());
    assert!(check_health_path("/healthz?full=1").is_ok());
    assert!(check_health_path("up").is_err());
}

/// A key written twice is refused with its place in every map of the
/// config, in small files and in large ones (read app by app), where serde
/// alone would let the second entry replace the first.
#[test]
fn a_key_written_twice_is_refused_in_every_map() {
    let base = "version: 2\nhosts:\n  a: {}\n  b: {}\napps:\n  shop:\n    build: {context: ., args: {V: '1', W: '2'}}\n    env: {clear: {A: '1', B: '2'}}\n    roles:\n      web: {hosts: [a]}\n      worker: {hosts: [b]}\n    destinations:\n      staging:\n        roles:\n          web: {hosts: [a]}\n          worker: {hosts: [b]}\n      prod: {}\n  blog:\n    image: y:1\n    roles: {web: {hosts: [b]}}\n";
    if let Err(e) = parse(Path::new("fleet.yaml"), base) {
        panic!("{e}");
    }
    // (what is doubled, how; the duplicate's line holds `twice`, and the
    // first is on line `first`)
    let cases = [
        ("hosts", ("  b: {}\n", "  b: {}\n  a: {twice: 1}\n"), 3),
        (
            "apps",
            ("  blog:\n", "  shop: {image: twice}\n  blog:\n"),
            6,
        ),
        (
            "roles",
            (
                "      worker: {hosts: [b]}\n    dest",
                "      worker: {hosts: [b]}\n      web: {hosts: [b], twice: 1}\n    dest",
            ),
            10,
        ),
        ("env", ("B: '2'", "B: '2',\n      A: twice"), 8),
        ("build args", ("W: '2'", "W: '2',\n      V: twice"), 7),
        (
            "destinations",
            (
                "      prod: {}\n",
                "      prod: {}\n      staging: {twice: 1}\n",
            ),
            13,
        ),
        (
            "destination roles",
            (
                "          worker: {hosts: [b]}\n",
                "          worker: {hosts: [b]}\n          web: {twice: 1}\n",
            ),
            15,
        ),
    ];
    // Enough apps ahead of these to take the large-file road.
    let filler: String = (0..6000)
        .map(|i| format!("  f{i}:\n    image: f:1\n    roles: {{web: {{hosts: [a]}}}}\n"))
        .collect();
    let line_of = |text: &str, what: &str| text.lines().position(|l| l.contains(what)).unwrap() + 1;
    for (what, (from, to), first) in cases {
        let small = base.replacen(from, to, 1);
        assert_ne!(small, base, "{what}: the case applies");
        let large = small.replacen("apps:\n", &format!("apps:\n{filler}"), 1);
        assert!(large.len() > split::THRESHOLD);
        let shift = if first > 5 { filler.lines().count() } else { 0 };
        for (text, first) in [(&small, first), (&large, first + shift)] {
            let e = parse_err(text);
            let again = line_of(text, "twice");
            assert!(
                e.starts_with(&format!("fleet.yaml:{again}:")),
                "{what}: placed at the second one, line {again}: {e}"
            );
            assert!(
                e.contains(&format!(
                    "is written twice (first at line {first}); keep one"
                )),
                "{what}: {e}"
            );
        }
    }
}

/// Whatever bytes a config holds, its errors show them inert: a key or a
/// value written with YAML's escapes (`\e`, `\x9b`, `\a`) cannot drive the
/// terminal of whoever runs `config check`.
#[test]
fn errors_quoting_the_file_are_clean() {
    for text in [
        r#"version: 2
hosts: {}
apps:
  demo:
    "imag\e]0;pwned\ae": x
"#,
        r#"version: 2
hosts:
  "a\e[2J": {}
"#,
        r#"version: 2
hosts: {a: {}}
apps:
  demo: {image: x, roles: {web: {hosts: ["b\x9b31m"]}}}
"#,
        r#"version: 2
hosts: {a: {}}
apps:
  demo: {image: x, roles: {web: {hosts: [a]}}, deploy_timeout: "5\e[2Jq"}
"#,
        // An image is checked as a reference, so it never reaches a plan.
        r#"version: 2
hosts: {a: {}}
apps:
  demo: {image: "x\e[2J:1", roles: {web: {hosts: [a]}}}
"#,
    ] {
        let e = parse_err(text);
        assert!(
            e.contains("fleet.yaml:"),
            "the error is the config's own: {e:?}"
        );
        assert!(crate::sanitize::is_clean(&e), "{e:?}");
    }
}

#[test]
fn registries_take_credentials_from_secrets_only_and_build_with_image_needs_one() {
    let with = |top: &str, app: &str| {
        format!(
            "version: 2\nsecrets_file: secrets.env\n{top}hosts:\n  local: {{}}\napps:\n  demo:\n    image: team/demo\n    build: {{context: .}}\n{app}    roles:\n      web: {{hosts: [local]}}\n"
        )
    };
    // Build and image together need a registry.
    let e = parse_err(&with("", ""));
    assert!(
        e.contains("fleet.yaml:8:5:") && e.contains("needs `registry:`"),
        "{e}"
    );
    // A password written in the config is refused where it is written.
    let e = parse_err(&with(
        "registry: {server: ghcr.io, username: me, password: hunter2}\n",
        "",
    ));
    assert!(e.contains("fleet.yaml:3:"), "{e}");
    assert!(e.contains("never written in the config"), "{e}");
    assert!(!e.contains("hunter2"), "the error does not repeat it: {e}");
    // A server that is not one.
    let e = parse_err(&with(
        "",
        "    registry: {server: \"ghcr.io/team\", username: me, password: [TOKEN]}\n",
    ));
    assert!(e.contains("is not a registry server"), "{e}");
    // An unknown builder.
    let e = parse_err(
        &with("registry: {username: me, password: [TOKEN]}\n", "").replace(
            "build: {context: .}",
            "build: {context: ., builder: nowhere}",
        ),
    );
    assert!(e.contains("host `nowhere` is not declared"), "{e}");

    // Resolved from the secrets file; the app's own registry wins; a secret
    // that is missing is located; Debug shows neither value.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("berth.yaml");
    std::fs::write(
        &path,
        with(
            "registry: {server: \"registry.example.com:5000\", username: [REG_USER], password: [REG_PASSWORD]}\n",
            "",
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets.env"),
        "REG_USER=bot\nREG_PASSWORD=s3cret\n",
    )
    .unwrap();
    let c = load(&path).unwrap();
    let demo = AppName::new("demo").unwrap();
    let secrets = c.load_secrets().unwrap();
    let auth = c.registry_auth(&demo, &secrets).unwrap().unwrap();
    assert_eq!(auth.username.expose(), "bot");
    assert_eq!(auth.password.expose(), "s3cret");
    assert_eq!(
        auth.reference("team/demo:v2"),
        "registry.example.com:5000/team/demo:v2"
    );
    assert_eq!(
        auth.reference("registry.example.com:5000/team/demo:v2"),
        "registry.example.com:5000/team/demo:v2"
    );
    assert!(!format!("{auth:?}").contains("s3cret"));
    std::fs::write(dir.path().join("secrets.env"), "REG_USER=bot\n").unwrap();
    let secrets = c.load_secrets().unwrap();
    let e = c.registry_auth(&demo, &secrets).unwrap_err().to_string();
    assert!(
        e.contains(":3:") && e.contains("secret `REG_PASSWORD` is not in the secrets file"),
        "{e}"
    );
}

#[test]
fn strips_serde_yaml_positions_anywhere() {
    assert_eq!(
        strip_location("did not find expected ',' at line 10 column 19, while parsing"),
        "did not find expected ',', while parsing"
    );
    assert_eq!(strip_location("bad at line 3 column 4"), "bad");
    assert_eq!(strip_location("at line nothing"), "at line nothing");
}

#[test]
fn a_host_names_its_engine_one_way_as_docker_takes_addresses() {
    let host = |h: &str| format!("version: 2\nhosts:\n  edge:\n{h}\n");
    let ok = crate::config::parse(
        Path::new("berth.yaml"),
        &host("    docker: tcp://10.0.0.5:2376"),
    );
    assert!(ok.is_ok(), "{ok:?}");
    let e = parse_err(&host(
        "    docker: tcp://10.0.0.5\n    ssh: {host: 10.0.0.5}",
    ));
    assert!(e.contains("names its engine 2 ways (ssh, docker)"), "{e}");
    let e = parse_err(&host("    docker: tcp://x\n    context: prod"));
    assert!(e.contains("(docker, context)"), "{e}");
    let e = parse_err(&host("    docker: npipe:////./pipe/docker_engine"));
    assert!(
        e.contains(":4:13:") && e.contains("not an engine address"),
        "{e}"
    );
    // `socket:` goes with `ssh:`.
    let ok = crate::config::parse(
        Path::new("berth.yaml"),
        &host("    ssh: {host: h}\n    socket: /run/docker.sock"),
    );
    assert!(ok.is_ok(), "{ok:?}");
}
