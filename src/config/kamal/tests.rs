use std::path::Path;

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
            listed: false,
        },
        &env,
    )
    .map(|(app, _)| app)
}

#[test]
fn erb_reads_env_and_leaves_other_ruby_as_markers() {
    let f = Path::new("deploy.yml");
    let r = |t: &str| render_erb(f, t, &env).unwrap();
    let text = |t: &str| r(t).text;
    assert_eq!(text("a: <%= ENV[\"WEB_HOST\"] %>"), "a: 10.0.0.7");
    assert_eq!(text("a: <%= ENV['WEB_HOST'] %>"), "a: 10.0.0.7");
    assert_eq!(text("a: <%= ENV.fetch(\"WEB_HOST\") %>"), "a: 10.0.0.7");
    assert_eq!(text("a: <%= ENV.fetch('NOPE', 'x1') %>"), "a: x1");
    assert_eq!(text("a: <%= ENV.fetch('NOPE') { 'x2' } %>"), "a: x2");
    assert_eq!(text("a: <%= ENV['NOPE'] || ENV['EMPTY'] || 'd' %>"), "a: ");
    assert_eq!(text("a: <%= ENV['NOPE'] || 'd' %>"), "a: d");
    assert_eq!(text("a: <%= ENV['NOPE'].presence || \"d\" %>"), "a: d");
    assert_eq!(text("a: <%# a note %>1"), "a: 1");
    assert_eq!(text("a: <%%= b %>"), "a: <%= b %>");
    assert_eq!(text("  <%- # x -%>\nb: 1"), "b: 1");
    assert_eq!(text("\u{feff}plain: yes\n"), "plain: yes\n");
    // ERB in a YAML comment is inert, whatever it holds.
    assert_eq!(
        text(
            "a: 1 # <%= `whoami` %>\n#   RUBY: <%= ENV[\"X\"] || RUBY_VERSION %>\nb: '#<%= ENV[\"WEB_HOST\"] %>'"
        ),
        "a: 1 # \n#   RUBY: \nb: '#10.0.0.7'"
    );
    // An unset variable renders as nothing, and is remembered.
    let got = r("a: '<%= ENV[\"NOPE\"] %>'");
    assert_eq!(got.ruby.len(), 1);
    assert_eq!(got.ruby[0].why, Why::Unset("NOPE".into()));
    assert_eq!(got.ruby[0].shown(), "");
    // Ruby berth does not run: a marker, with where it is written.
    for code in [
        "`whoami`",
        "%x(aws ecr get-login-password)",
        "File.read('.ruby-version').strip",
        "ENV[\"A#{1}\"]",
        "ENV[\"A\"].upcase",
        "ENV.fetch(\"NOPE\")",
    ] {
        let got = r(&format!("a: 1\nb: <%= {code} %>"));
        assert_eq!(got.ruby.len(), 1, "{code}");
        let ruby = &got.ruby[0];
        assert_eq!(got.text, format!("a: 1\nb: {}", ruby.marker), "{code}");
        assert_eq!(ruby.place(), "deploy.yml:2:4", "{code}");
        assert_eq!(ruby.shown(), "(set by Ruby at deploy.yml:2:4)");
    }
    // `if` on what berth can read picks the branch; on what it cannot,
    // the first branch is shown and its lines marked.
    assert_eq!(
        text("<% if ENV['WEB_HOST'] %>\nx: 1\n<% else %>\nx: 2\n<% end %>\n"),
        "\nx: 1\n\n"
    );
    assert_eq!(
        text("<% unless ENV['NOPE'] == 'y' %>x: 1<% else %>x: 2<% end %>"),
        "x: 1"
    );
    let got = r("a: 1\n<% if local %>\nb: 2\n<% else %>\nb: 3\n<% end %>\nc: 4");
    assert_eq!(got.text, "a: 1\n\nb: 2\n\nc: 4");
    assert_eq!(got.blocks.len(), 1);
    assert_eq!(got.blocks[0].lines, 2..=4);
    // Dotenv.load and ENV assignments set what later tags read.
    let t = tempfile::tempdir().unwrap();
    std::fs::write(
        t.path().join(".env.prod"),
        "HOST_X=10.9.9.9\nTOKEN=$(op read x)\n",
    )
    .unwrap();
    let mut vars = erb::Vars::new(&env, t.path());
    let got = erb::render(
        f,
        "<% require 'dotenv'; Dotenv.load('.env.prod') %>\n<% ENV['Y'] = 'y1' %>\nh: <%= ENV['HOST_X'] %>\ny: <%= ENV['Y'] %>\nt: <%= ENV['TOKEN'] %>",
        &mut vars,
    )
    .unwrap();
    assert!(
        got.text.contains("h: 10.9.9.9\ny: y1\nt: ⟦"),
        "{}",
        got.text
    );
    assert!(
        matches!(&got.ruby[0].why, Why::Command { var, at } if var == "TOKEN" && at == ".env.prod:2")
    );
    // Only an open tag is an error.
    let e = render_erb(f, "a: <%= ENV[\"A\"] ", &env)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not closed"), "{e}");
    // Terminal escapes in the code are not kept.
    let got = r("a: <%= \u{1b}[31m %>");
    assert!(
        !got.ruby[0].code.contains('\u{1b}'),
        "{:?}",
        got.ruby[0].code
    );
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
    let e = case("e.yml", "service: shop!\nservers: [h]\n");
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
        "service: shop\nservers: [h]\nssh:\n  proxy_command: \"nc %h\\n%p\"\n",
    );
    assert!(
        e.contains(":4:18:") && e.contains("one command on one line"),
        "{e}"
    );
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
