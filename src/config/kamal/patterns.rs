//! One fixture per pattern found in Kamal repositories written by other
//! people (the fixtures are berth's own text, written for each pattern):
//! each read through the whole path a config takes (`sources`, then
//! `add_kamal`), with no variable set unless the case says.

use std::path::{Path, PathBuf};

use super::sources;
use crate::config::Config;

struct Repo(tempfile::TempDir);

impl Repo {
    fn new(files: &[(&str, &str)]) -> Repo {
        let t = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = t.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        Repo(t)
    }

    fn deploy(&self) -> PathBuf {
        self.0.path().join("config/deploy.yml")
    }

    /// The config berth makes of the repository (no `-d`, or the ones
    /// given), with `env` for ENV.
    fn read(&self, destinations: &[&str], env: &[(&str, &str)]) -> Result<Config, String> {
        let d: Vec<String> = destinations.iter().map(|s| s.to_string()).collect();
        let mut config = crate::config::parse(Path::new("berth.yaml"), "version: 2\n").unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        config
            .add_kamal(&sources(&self.deploy(), &d), &lookup)
            .map_err(|e| e.to_string())?;
        Ok(config)
    }
}

/// `service[-destination]` of each app read.
fn instances(c: &Config) -> Vec<String> {
    c.kamal
        .iter()
        .map(|a| a.service_and_destination())
        .collect()
}

fn warnings(c: &Config) -> String {
    c.warnings
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `kamal init` writes, with its Ruby in comments, untouched.
const GENERATED: &str = r##"# Name of your application.
service: shop
image: acme/shop

servers:
  web:
    - 192.168.0.1

registry:
  username: acme
  password:
    - KAMAL_REGISTRY_PASSWORD

builder:
  arch: amd64
  # args:
  #   RUBY_VERSION: <%= ENV["RBENV_VERSION"] || ENV["rvm_ruby_string"] || "#{RUBY_ENGINE}-#{RUBY_ENGINE_VERSION}" %>
"##;

#[test]
fn ruby_in_a_comment_of_a_generated_file_is_inert() {
    let c = Repo::new(&[("config/deploy.yml", GENERATED)])
        .read(&[], &[])
        .unwrap();
    assert_eq!(instances(&c), ["shop"]);
    assert_eq!(c.kamal[0].roles[0].hosts, ["192.168.0.1"]);
}

#[test]
fn ruby_in_keys_berth_does_not_need_is_shown_not_refused() {
    let text = r#"service: shop
image: <%= `git config user.name`.strip %>/shop
servers: [10.0.0.1]
registry:
  server: 1234.dkr.ecr.us-east-1.amazonaws.com
  username: AWS
  password: <%= %x(aws ecr get-login-password) %>
builder:
  args:
    RUBY_VERSION: <%= File.read('.ruby-version').strip %>
    GIT_SHA: "<%= `git rev-parse HEAD`.strip %>"
env:
  clear:
    TOKEN: <%= Dotenv.parse(".env")["TOKEN"] %>
proxy:
  host: <%= ENV.fetch("APP_HOST", "shop.example.com") %>
aliases:
  console: app exec -i "bin/rails console"
"#;
    let c = Repo::new(&[("config/deploy.yml", text)])
        .read(&[], &[])
        .unwrap();
    let app = &c.kamal[0];
    assert_eq!(app.roles[0].hosts, ["10.0.0.1"]);
    let image = app.image.as_deref().unwrap();
    assert!(
        image.starts_with("(set by Ruby at ") && image.ends_with("deploy.yml:2:8)/shop"),
        "{image}"
    );
    assert_eq!(app.proxy_hosts, ["shop.example.com"]);
    assert_eq!(
        app.aliases,
        [(
            "console".to_string(),
            "app exec -i \"bin/rails console\"".to_string()
        )]
    );
}

#[test]
fn ruby_in_a_key_berth_needs_is_refused_naming_every_expression() {
    let text = r#"service: shop
servers:
  web:
    - <%= `terraform output -raw web_ip` %>
    - <%= ENV["WEB_2"] %>
  job:
    hosts: [<%= hosts.first %>]
ssh:
  user: <%= ENV.fetch("DEPLOY_USER") %>
"#;
    let e = Repo::new(&[("config/deploy.yml", text)])
        .read(&[], &[])
        .unwrap_err();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 4, "{e}");
    assert!(
        lines[0].contains("deploy.yml:4:7: berth needs `servers.web[0]`"),
        "{e}"
    );
    assert!(
        lines[0].contains("`<%= `terraform output -raw web_ip` %>` at"),
        "{e}"
    );
    assert!(lines[0].contains("deploy.yml:4:7 is Ruby"), "{e}");
    assert!(
        lines[1].contains("`servers.web[1]`") && lines[1].contains("reads WEB_2, which is not set"),
        "{e}"
    );
    assert!(
        lines[2].contains("`servers.job.hosts[0]`") && lines[2].contains("hosts.first"),
        "{e}"
    );
    assert!(
        lines[3].contains("`ssh.user`") && lines[3].contains("needs DEPLOY_USER"),
        "{e}"
    );
    // Set, the same file reads.
    let ok = Repo::new(&[(
        "config/deploy.yml",
        &text
            .replace("<%= `terraform output -raw web_ip` %>", "10.0.0.1")
            .replace("<%= hosts.first %>", "10.0.0.3"),
    )])
    .read(&[], &[("WEB_2", "10.0.0.2"), ("DEPLOY_USER", "deploy")])
    .unwrap();
    assert_eq!(ok.kamal[0].ssh.user, "deploy");
}

#[test]
fn defaults_and_dotenv_files_give_values_without_ruby() {
    let text = r#"<% require "dotenv"; Dotenv.load(".kamal/secrets.staging") %>
service: <%= ENV["SERVICE"] || "shop" %>
servers:
  web:
    - <%= ENV.fetch("WEB_HOST") { "10.0.0.1" } %>
    - <%= ENV["WEB_2"] %>
  job:
    - <%= ENV["JOB_HOST"] %>
ssh:
  user: <%= ENV.fetch("SSH_USER", "deploy") %>
"#;
    let secrets = "# from the vault\nWEB_2=10.0.0.2\nJOB_HOST=$(op read op://vault/job/host)\n";
    let repo = Repo::new(&[
        ("config/deploy.yml", text),
        (".kamal/secrets.staging", secrets),
    ]);
    let e = repo.read(&[], &[]).unwrap_err();
    // The command in the dotenv file is never run: its variable is
    // unknown, and said so with its place.
    assert!(e.contains("`servers.job[0]`"), "{e}");
    assert!(
        e.contains(
            "reads JOB_HOST, which .kamal/secrets.staging:3 sets from a command berth does not run"
        ),
        "{e}"
    );
    assert!(!e.contains("servers.web"), "{e}");
    let c = repo.read(&[], &[("JOB_HOST", "10.0.0.9")]).unwrap();
    let app = &c.kamal[0];
    assert_eq!(app.service, "shop");
    assert_eq!(app.ssh.user, "deploy");
    let hosts: Vec<&str> = app.hosts();
    assert_eq!(hosts, ["10.0.0.9", "10.0.0.1", "10.0.0.2"]);
}

#[test]
fn a_key_written_twice_is_the_last_one_with_a_note_naming_both_lines() {
    let text = "service: shop\nservers: [10.0.0.1]\nssh:\n  user: root\nimage: a/shop\nssh:\n  user: deploy\n";
    let c = Repo::new(&[("config/deploy.yml", text)])
        .read(&[], &[])
        .unwrap();
    assert_eq!(c.kamal[0].ssh.user, "deploy");
    let w = warnings(&c);
    assert!(
        w.contains("`ssh` is written twice (lines 3 and 6): the last one is read"),
        "{w}"
    );
}

#[test]
fn a_byte_order_mark_and_an_uppercase_service_read_as_kamal_reads_them() {
    let text = "\u{feff}service: MyShop\nservers: [10.0.0.1]\n";
    let c = Repo::new(&[("config/deploy.yml", text)])
        .read(&[], &[])
        .unwrap();
    assert_eq!(instances(&c), ["MyShop"]);
    assert_eq!(c.kamal[0].lock_dir(), ".kamal/lock-MyShop");
}

#[test]
fn destinations_are_read_as_kamal_deploys_them() {
    let base = "service: shop\nimage: acme/shop\nservers: [10.0.0.1]\n";
    let repo = Repo::new(&[
        ("config/deploy.yml", base),
        ("config/deploy.staging.yml", "servers: [10.1.0.1]\n"),
        // A destination naming its own service is still a destination.
        (
            "config/deploy.review.yml",
            "service: shop-review\nservers: [10.2.0.1]\n",
        ),
        // Kept to copy from.
        ("config/deploy.example.yml", "servers: [203.0.113.1]\n"),
        // A config of its own, with destinations of its own (`-c`).
        (
            "config/deploy.worker.yml",
            "service: mailer\nrequire_destination: true\n",
        ),
        ("config/deploy.worker.eu.yml", "servers: [10.3.0.1]\n"),
        // A broken destination beside good ones.
        (
            "config/deploy.prod.yml",
            "servers:\n  web:\n    hosts:\n      - <%= `terraform output host` %>\n",
        ),
    ]);
    let c = repo.read(&[], &[]).unwrap();
    // The base alone, as a plain `kamal deploy` deploys it, and each
    // destination.
    assert_eq!(
        instances(&c),
        ["shop", "shop-review-review", "shop-staging"]
    );
    let w = warnings(&c);
    assert!(w.contains("deploy.example.yml: skipped: an example"), "{w}");
    assert!(
        w.contains("deploy.worker.yml: skipped: a config of its own (service `mailer`"),
        "{w}"
    );
    assert_eq!(c.kamal_failed.len(), 1);
    let failed = &c.kamal_failed[0];
    assert_eq!(failed.destination.as_deref(), Some("prod"));
    assert!(
        failed.error.contains("destination `prod` cannot be read"),
        "{}",
        failed.error
    );
    assert!(
        failed
            .error
            .contains("deploy.prod.yml:4:9: berth needs `servers.web.hosts[0]`"),
        "{}",
        failed.error
    );
    // Named, an example is read, and a broken destination is an error.
    let c = repo.read(&["example"], &[]).unwrap();
    assert_eq!(instances(&c), ["shop-example"]);
    let e = repo.read(&["prod"], &[]).unwrap_err();
    assert!(e.contains("destination `prod` cannot be read"), "{e}");
}

#[test]
fn require_destination_and_a_base_of_only_shared_settings_are_not_instances() {
    for base in [
        "service: shop\nrequire_destination: true\nservers: [10.0.0.1]\n",
        "service: shop\nimage: acme/shop\nregistry: {username: a}\n",
        "service: shop\nservers:\n  web:\n    options: {memory: 1g}\n",
    ] {
        let repo = Repo::new(&[
            ("config/deploy.yml", base),
            ("config/deploy.staging.yml", "servers: [10.1.0.1]\n"),
        ]);
        let c = repo.read(&[], &[]).unwrap();
        assert_eq!(instances(&c), ["shop-staging"], "{base}");
        assert!(
            warnings(&c).contains("deploy.yml: skipped by itself"),
            "{base}"
        );
    }
    // With no destination, a base that cannot be deployed is an error.
    let repo = Repo::new(&[("config/deploy.yml", "service: shop\nimage: acme/shop\n")]);
    let e = repo.read(&[], &[]).unwrap_err();
    assert!(e.contains("no `servers:`"), "{e}");
}

#[test]
fn accessories_are_read_with_their_image_and_hosts() {
    let text = r#"service: shop
servers:
  web: [10.0.0.1]
  job:
    hosts: [10.0.0.2]
accessories:
  db:
    image: postgres:16
    host: 10.0.0.5
  redis:
    image: redis:7
    roles: [web, job]
ssh:
  keys_only: true
  keys: [~/.ssh/id_deploy]
  proxy_command: aws ssm start-session --target %h
"#;
    let c = Repo::new(&[("config/deploy.yml", text)])
        .read(&[], &[])
        .unwrap();
    let app = &c.kamal[0];
    let acc: Vec<(String, Option<String>, Vec<String>)> = app
        .accessories
        .iter()
        .map(|a| (a.container(&app.service), a.image.clone(), a.hosts.clone()))
        .collect();
    assert_eq!(
        acc,
        [
            (
                "shop-db".into(),
                Some("postgres:16".into()),
                vec!["10.0.0.5".into()]
            ),
            (
                "shop-redis".into(),
                Some("redis:7".into()),
                vec!["10.0.0.1".into(), "10.0.0.2".into()]
            ),
        ]
    );
    // Each host is reached as Kamal reaches it.
    let host = app.host_name("10.0.0.5").unwrap();
    let ssh = c.fleet.hosts.get(host).unwrap().ssh.as_ref().unwrap();
    assert!(ssh.identities_only);
    assert_eq!(
        ssh.proxy_command.as_deref(),
        Some("aws ssm start-session --target %h")
    );
}

#[test]
fn a_file_that_is_not_a_regular_file_is_refused_at_once() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("deploy.yml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut config = crate::config::parse(Path::new("berth.yaml"), "version: 2\n").unwrap();
    let e = config
        .add_kamal(&sources(&fifo, &[]), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a regular file"), "{e}");
}

/// A repository that keeps one file and points `deploy.yml` at it (a
/// symlink, as git stores one): read through the link, as Kamal reads it,
/// both plain and as its destination; a link to a FIFO is still refused.
#[test]
fn a_deploy_file_that_is_a_symlink_is_read_through_it() {
    let repo = Repo::new(&[(
        "config/deploy.production.yml",
        "service: shop\nservers:\n  web: [10.0.0.1]\n",
    )]);
    std::os::unix::fs::symlink("deploy.production.yml", repo.deploy()).unwrap();
    let c = repo.read(&[], &[]).unwrap();
    assert_eq!(instances(&c), ["shop", "shop-production"]);
    assert_eq!(c.kamal[1].roles[0].hosts, ["10.0.0.1"]);

    let fifo = repo.0.path().join("config/deploy.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::remove_file(repo.deploy()).unwrap();
    std::os::unix::fs::symlink("deploy.fifo", repo.deploy()).unwrap();
    let e = repo.read(&[], &[]).unwrap_err();
    assert!(e.contains("not a regular file"), "{e}");
}
