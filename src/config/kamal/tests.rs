use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "WEB_HOST" => Some("10.0.0.7".into()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

fn load_dest(file: &Path, d: Option<&str>) -> Result<KamalApp, ConfigError> {
    load(
        &KamalSource {
            file: file.to_path_buf(),
            destination: d.map(str::to_string),
        },
        &env,
    )
}

#[test]
fn erb_reads_env_and_refuses_ruby() {
    let f = Path::new("deploy.yml");
    let r = |t: &str| render_erb(f, t, &env);
    assert_eq!(r("a: <%= ENV[\"WEB_HOST\"] %>").unwrap(), "a: 10.0.0.7");
    assert_eq!(r("a: <%= ENV['WEB_HOST'] %>").unwrap(), "a: 10.0.0.7");
    assert_eq!(
        r("a: <%= ENV.fetch(\"WEB_HOST\") %>").unwrap(),
        "a: 10.0.0.7"
    );
    assert_eq!(r("a: <%= ENV.fetch('NOPE', 'x1') %>").unwrap(), "a: x1");
    assert_eq!(r("a: '<%= ENV[\"NOPE\"] %>'").unwrap(), "a: ''");
    assert_eq!(r("a: <%# a note %>1").unwrap(), "a: 1");
    assert_eq!(r("a: <%%= b %>").unwrap(), "a: <%= b %>");
    assert_eq!(r("  <%- # x -%>\nb: 1").unwrap(), "b: 1");
    // No ERB at all: the text as it is.
    assert_eq!(r("plain: yes\n").unwrap(), "plain: yes\n");

    let e = r("a: 1\nb: <%= `whoami` %>").unwrap_err().to_string();
    assert!(
        e.starts_with("deploy.yml:2:4: ERB `<%= `whoami` %>`"),
        "{e}"
    );
    assert!(e.contains("berth does not run"), "{e}");
    let e = r("x: 1\n<% if true %>\ny: 2\n<% end %>")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("deploy.yml:2:1:"), "{e}");
    let e = r("a: <%= ENV.fetch(\"NOPE\") %>").unwrap_err().to_string();
    assert!(e.contains("NOPE is not set"), "{e}");
    let e = r("a: <%= ENV[\"A#{1}\"] %>").unwrap_err().to_string();
    assert!(e.contains("berth does not run"), "{e}");
    let e = r("a: <%= ENV[\"A\"].upcase %>").unwrap_err().to_string();
    assert!(e.contains("berth does not run"), "{e}");
    let e = r("a: <%= ENV[\"A\"] ").unwrap_err().to_string();
    assert!(e.contains("not closed"), "{e}");
    // Terminal escapes in the refused text are not echoed.
    let e = r("a: <%= \u{1b}[31m %>").unwrap_err().to_string();
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn reads_roles_accessories_ssh_and_merges_the_destination() {
    let t = tempfile::tempdir().unwrap();
    let base = write(
        t.path(),
        "config/deploy.yml",
        r#"
service: shop
image: acme/shop
servers:
  web:
    hosts:
      - <%= ENV["WEB_HOST"] %>
      - 10.0.0.8: [edge]
  job:
    - 10.0.0.9
ssh:
  user: deploy
  port: "2222"
  proxy: bastion.example.com
  keys: [keys/id_ed25519]
proxy:
  host: shop.example.com
accessories:
  db:
    host: 10.0.0.20
  cache:
    role: job
  edge-log:
    tag: edge
x-anchor: &a 1
"#,
    );
    let app = load_dest(&base, None).unwrap();
    assert_eq!(app.service, "shop");
    assert_eq!(app.image.as_deref(), Some("acme/shop"));
    assert_eq!(app.primary_role, "web");
    assert_eq!(
        app.roles,
        vec![
            KamalRole {
                name: "job".into(),
                hosts: vec!["10.0.0.9".into()]
            },
            KamalRole {
                name: "web".into(),
                hosts: vec!["10.0.0.7".into(), "10.0.0.8".into()]
            },
        ]
    );
    assert_eq!(app.primary_host(), Some("10.0.0.7"));
    let acc: Vec<(&str, Vec<&str>)> = app
        .accessories
        .iter()
        .map(|a| {
            (
                a.name.as_str(),
                a.hosts.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        acc,
        vec![
            ("db", vec!["10.0.0.20"]),
            ("cache", vec!["10.0.0.9"]),
            ("edge-log", vec!["10.0.0.8"])
        ]
    );
    assert_eq!(app.ssh.user, "deploy");
    assert_eq!(app.ssh.port, 2222);
    assert_eq!(app.ssh.jump.as_deref(), Some("root@bastion.example.com"));
    assert_eq!(app.ssh.keys, vec![t.path().join("keys/id_ed25519")]);
    assert!(app.proxied);
    assert_eq!(app.lock_dir(), ".kamal/lock-shop");
    assert_eq!(app.audit_log(), ".kamal/shop-audit.log");
    assert_eq!(
        app.hosts(),
        vec!["10.0.0.9", "10.0.0.7", "10.0.0.8", "10.0.0.20"]
    );

    // The destination's file: maps merge, lists are replaced.
    write(
        t.path(),
        "config/deploy.staging.yml",
        "servers:\n  web:\n    hosts: [10.1.0.1]\nssh:\n  user: stage\n",
    );
    assert_eq!(destinations_beside(&base), vec!["staging".to_string()]);
    let app = load_dest(&base, Some("staging")).unwrap();
    assert_eq!(app.destination.as_deref(), Some("staging"));
    let web = app.roles.iter().find(|r| r.name == "web").unwrap();
    assert_eq!(web.hosts, vec!["10.1.0.1"]);
    assert_eq!(app.ssh.user, "stage");
    assert_eq!(app.ssh.port, 2222, "kept from the base file");
    assert_eq!(app.lock_dir(), ".kamal/lock-shop-staging");
    assert_eq!(app.audit_log(), ".kamal/shop-staging-audit.log");
    assert_eq!(app.command("deploy"), "kamal deploy -d staging");

    // A destination with no file.
    let e = load_dest(&base, Some("prod")).unwrap_err().to_string();
    assert!(e.contains("deploy.prod.yml"), "{e}");
}

#[test]
fn a_plain_server_list_is_the_web_role() {
    let t = tempfile::tempdir().unwrap();
    let f = write(
        t.path(),
        "config/deploy.yml",
        "service: blog\nimage: blog\nservers:\n  - a.example.com\n  - b.example.com\n",
    );
    let app = load_dest(&f, None).unwrap();
    assert_eq!(app.roles.len(), 1);
    assert_eq!(app.roles[0].name, "web");
    assert_eq!(app.primary_host(), Some("a.example.com"));
    assert_eq!(app.ssh.user, "root");
    assert_eq!(app.ssh.port, 22);
}

#[test]
fn errors_name_the_file_line_and_column() {
    let t = tempfile::tempdir().unwrap();
    let case = |name: &str, text: &str| {
        let f = write(t.path(), name, text);
        load_dest(&f, None).unwrap_err().to_string()
    };
    let e = case("a.yml", "image: x\nservers: [h]\n");
    assert!(e.contains("missing `service:`"), "{e}");
    let e = case(
        "b.yml",
        "service: shop\nservers:\n  - h1\n  - -oProxyCommand=x\n",
    );
    assert!(
        e.starts_with(&format!("{}:4:5:", t.path().join("b.yml").display())),
        "{e}"
    );
    let e = case(
        "c.yml",
        "service: shop\nprimary_role: api\nservers:\n  web: [h]\n",
    );
    assert!(
        e.contains(":2:15:") && e.contains("`api` is not under `servers:`"),
        "{e}"
    );
    let e = case(
        "d.yml",
        "service: shop\nservers:\n  web: [h]\nssh:\n  port: many\n",
    );
    assert!(e.contains(":5:9:") && e.contains("port number"), "{e}");
    let e = case("e.yml", "service: Shop!\nservers: [h]\n");
    assert!(
        e.contains(":1:10:") && e.contains("not a Kamal service name"),
        "{e}"
    );
    let e = case(
        "f.yml",
        "service: shop\nservers: [h]\naccessories:\n  db:\n    role: nope\n",
    );
    assert!(e.contains(":5:11:") && e.contains("role `nope`"), "{e}");
    let e = case(
        "g.yml",
        "service: shop\nservers: [h]\nssh:\n  proxy_command: nc %h %p\n",
    );
    assert!(e.contains("proxy_command"), "{e}");
    let e = case("h.yml", "- just\n- a list\n");
    assert!(e.contains(":1:1:"), "{e}");
    let e = case("i.yml", "service: shop\nservers: [h\n");
    assert!(e.contains("invalid YAML"), "{e}");

    // An error in the destination's file names that file.
    let base = write(
        t.path(),
        "config/deploy.yml",
        "service: shop\nservers: [h]\n",
    );
    write(
        t.path(),
        "config/deploy.bad.yml",
        "servers:\n  web:\n    hosts: 7\n",
    );
    let e = load_dest(&base, Some("bad")).unwrap_err().to_string();
    assert!(e.contains("deploy.bad.yml:3:12:"), "{e}");
}

#[test]
fn no_panic_on_any_bytes() {
    let f = Path::new("deploy.yml");
    for text in [
        "<%",
        "<%=",
        "%>",
        "<%%",
        "<%-",
        "<%= ENV[ %>",
        "<%= ENV.fetch('a', %>",
        "é<%= ENV['é'] %>",
        "<%= ENV.fetch(\"a\"\u{0}) %>",
        "<%-%>",
        "<%--%>",
    ] {
        let _ = render_erb(f, text, &env);
    }
}
