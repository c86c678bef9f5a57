//! Kamal and Dokku fleets as those tools leave them, with no berth.yaml
//! for Kamal: real sshd hosts, each in a mount namespace of its own (its
//! own home for `.kamal/`, its own `/var/lib/dokku`), the real engine, and
//! the files laid out byte for byte as Kamal 2 and Dokku 0.38 write them.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use common::sshd::{Opts, Sshd, keygen};
use common::{Scope, Spec};

/// Ruby's `Base64.encode64`: a newline every 60 characters and at the end.
pub fn encode64(text: &str) -> String {
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(text);
    flat.as_bytes()
        .chunks(60)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect()
}

/// The home directory sshd gives this user's sessions.
fn home_of_user() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "getent passwd \"$(id -un)\" | cut -d: -f6"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

fn need_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the Kamal and Dokku host tests give each sshd a mount namespace of its own: run them as root"
    );
}

/// A Kamal 2 app on two hosts: web and an accessory on the first (the
/// primary, holding the lock), job on the second, destination staging.
pub struct KamalFleet {
    /// The app's repository: `config/deploy.yml`, `config/deploy.staging.yml`.
    pub repo: tempfile::TempDir,
    pub service: String,
    /// Kept alive for the test; dropped, they go down.
    pub _hosts: Vec<Sshd>,
    pub homes: Vec<tempfile::TempDir>,
    env: Vec<(String, String)>,
    _keys: tempfile::TempDir,
}

pub const HOLDER: &str = "Ana Líma";
pub const MESSAGE: &str = "Hotfix für die Kasse — bitte warten";
pub const VERSION: &str = "3f2a9c1e5b7d4a6c8e0f1a2b3c4d5e6f7a8b9c0d";

impl KamalFleet {
    pub async fn start(scope: &Scope) -> KamalFleet {
        need_root();
        let service = scope.app("shop");
        let keys = tempfile::tempdir().unwrap();
        let key = keys.path().join("id_ed25519");
        keygen(&key);
        let port = common::nginx::free_port();
        let home = home_of_user();
        let mut hosts = Vec::new();
        let mut homes = Vec::new();
        for addr in ["127.0.0.2", "127.0.0.3"] {
            let h = tempfile::tempdir().unwrap();
            hosts.push(Sshd::start_with(Opts {
                addr: Some(addr.into()),
                port: Some(port),
                client_key: Some(key.clone()),
                binds: vec![(h.path().to_path_buf(), home.clone())],
                ..Default::default()
            }));
            homes.push(h);
        }
        // Both hosts' keys, in the OpenSSH config Kamal's `ssh.config` names.
        let known = keys.path().join("known_hosts");
        let lines: String = hosts
            .iter()
            .map(|s| std::fs::read_to_string(&s.known_hosts).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(&known, lines).unwrap();
        let ssh_config = keys.path().join("ssh_config");
        std::fs::write(
            &ssh_config,
            format!("Host *\n  UserKnownHostsFile {}\n", known.display()),
        )
        .unwrap();

        // What Kamal leaves on the hosts: the lock on the primary host, an
        // audit log on each.
        let now = chrono::Utc::now();
        let at = |mins: i64| {
            (now - chrono::Duration::minutes(mins))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let lock = homes[0]
            .path()
            .join(format!(".kamal/lock-{service}-staging"));
        std::fs::create_dir_all(&lock).unwrap();
        std::fs::write(
            lock.join("details"),
            encode64(&format!(
                "Locked by: {HOLDER} at {}\nVersion: {VERSION}\nMessage: {MESSAGE}",
                at(5)
            )),
        )
        .unwrap();
        let audit = |home: &Path, lines: &[String]| {
            std::fs::write(
                home.join(format!(".kamal/{service}-staging-audit.log")),
                lines.join("\n") + "\n",
            )
            .unwrap();
        };
        std::fs::create_dir_all(homes[1].path().join(".kamal")).unwrap();
        audit(
            homes[0].path(),
            &[
                format!(
                    "[{}] [ana@example.com] [staging] [web] Booted app version {VERSION}",
                    at(12)
                ),
                format!(
                    "[{}] [ana@example.com] [staging] Deployed app version {VERSION}",
                    at(10)
                ),
            ],
        );
        audit(
            homes[1].path(),
            &[format!(
                "[{}] [ana@example.com] [staging] [job] Booted app version {VERSION}",
                at(11)
            )],
        );

        // The containers, named and labelled as Kamal 2 names and labels them.
        let short = &VERSION[..7];
        for (role, name) in [("web", "web"), ("job", "job")] {
            scope
                .start(
                    Spec::named(&format!("{service}-{name}-staging-{short}"))
                        .sleeper()
                        .label("service", &service)
                        .label("role", role)
                        .label("destination", "staging")
                        .env(&format!("KAMAL_VERSION={VERSION}"))
                        .env("KAMAL_DESTINATION=staging"),
                )
                .await;
        }
        scope
            .start(
                Spec::named(&format!("{service}-db"))
                    .sleeper()
                    .label("service", &format!("{service}-db")),
            )
            .await;

        // Kamal's config, written for the test: an ENV value, a destination
        // file that replaces the job role's hosts.
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("config")).unwrap();
        std::fs::write(
            repo.path().join("config/deploy.yml"),
            [
                "# Kamal 2, as `kamal init` starts it".to_string(),
                format!("service: {service}"),
                format!("image: acme/{service}"),
                "servers:".into(),
                "  web:".into(),
                "    hosts:".into(),
                "      - 127.0.0.2".into(),
                "  job:".into(),
                "    hosts: [10.255.0.1]".into(),
                "    cmd: bin/jobs".into(),
                "proxy:".into(),
                "  ssl: false".into(),
                "  host: shop.example.com".into(),
                "ssh:".into(),
                format!("  user: {}", hosts[0].user),
                "  port: <%= ENV.fetch(\"BERTH_TEST_SSH_PORT\") %>".into(),
                format!("  keys: [{}]", key.display()),
                format!("  config: {}", ssh_config.display()),
                "accessories:".into(),
                "  db:".into(),
                "    image: postgres:16".into(),
                "    host: 127.0.0.2".into(),
                "builder:".into(),
                "  arch: amd64".into(),
                "<%# the registry is read by Kamal, not berth %>".into(),
            ]
            .join("\n"),
        )
        .unwrap();
        std::fs::write(
            repo.path().join("config/deploy.staging.yml"),
            "servers:\n  job:\n    hosts:\n      - <%= ENV[\"BERTH_TEST_JOB_HOST\"] %>\n",
        )
        .unwrap();
        KamalFleet {
            repo,
            service,
            _hosts: hosts,
            homes,
            env: vec![
                ("BERTH_TEST_SSH_PORT".into(), port.to_string()),
                ("BERTH_TEST_JOB_HOST".into(), "127.0.0.3".into()),
            ],
            _keys: keys,
        }
    }

    /// The environment berth runs in: the ERB values, and no config of
    /// the machine's own.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.push((
            "XDG_CONFIG_HOME".into(),
            self.repo.path().join("xdg").display().to_string(),
        ));
        env
    }

    /// berth in the app's repository, as a Kamal user starts it.
    pub fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = common::berth();
        cmd.current_dir(self.repo.path()).envs(self.env());
        cmd.args(args).output().unwrap()
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kamal_fleet_with_no_berth_config_shows_its_hosts_lock_and_history() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let fleet = KamalFleet::start(&scope).await;
    let svc = fleet.service.as_str();

    // The fleet: both hosts, found from deploy.yml and its destination file.
    let out = fleet.berth(&[
        "-d",
        "staging",
        "status",
        "--json",
        "--timeout",
        "60s",
        "--app",
        svc,
    ]);
    let status = json(&out);
    let hosts = status["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["127-0-0-2", "127-0-0-3"], "{status:#}");
    for h in hosts {
        assert_eq!(h["reachable"], true, "{status:#}");
        assert!(
            h["endpoint"].as_str().unwrap().starts_with("ssh://"),
            "{h:#}"
        );
    }
    let app_on = |host: usize| {
        hosts[host]["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app"] == svc && a["destination"] == "staging")
            .unwrap_or_else(|| panic!("{svc} on host {host}: {status:#}"))
            .clone()
    };
    let roles = |app: &serde_json::Value| -> Vec<(String, bool)> {
        app["roles"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["role"].as_str().unwrap().to_string(),
                    r["declared"] == true,
                )
            })
            .collect()
    };
    let primary = app_on(0);
    assert_eq!(primary["source"], "kamal");
    assert_eq!(primary["declared"], true);
    let primary_roles = roles(&primary);
    // The primary role first; the accessory is the app's, not an app, and
    // declared where the deploy file puts it.
    assert_eq!(primary_roles[0], ("web".to_string(), true), "{primary:#}");
    assert!(
        primary_roles.contains(&("accessory:db".to_string(), true)),
        "{primary:#}"
    );
    assert!(
        !hosts[0]["apps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["app"] == format!("{svc}-db")),
        "{status:#}"
    );
    // The job role is declared on the second host (the destination's file
    // replaced the base file's list).
    assert!(roles(&app_on(1)).contains(&("job".to_string(), true)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Kamal's lock, where Kamal keeps it: on the primary host.
    let out = fleet.berth(&["-d", "staging", "lock", "status", "--json"]);
    let locks = json(&out);
    let kamal = &locks["kamal"][0];
    assert_eq!(kamal["app"], svc, "{locks:#}");
    assert_eq!(kamal["destination"], "staging");
    assert_eq!(kamal["host"], "127-0-0-2");
    assert_eq!(kamal["held"], true);
    assert_eq!(kamal["lock"]["holder"], HOLDER);
    assert_eq!(kamal["lock"]["message"], MESSAGE);
    assert_eq!(kamal["lock"]["version"], VERSION);
    assert_eq!(kamal["lock"]["tool"], "kamal");
    let out = fleet.berth(&["-d", "staging", "lock", "status", svc]);
    let said = text(&out);
    assert!(
        said.contains(&format!("locked by {HOLDER} 5m ago: \"{MESSAGE}\""))
            && said.contains("`kamal lock release -d staging` clears it"),
        "{said}"
    );

    // Read-only: berth says what to run instead, and leaves the lock.
    let out = fleet.berth(&["-d", "staging", "lock", "release", svc]);
    assert_eq!(out.status.code(), Some(3), "a refusal");
    assert!(
        text(&out).contains("run `kamal lock release -d staging`"),
        "{}",
        text(&out)
    );
    assert!(
        fleet.homes[0]
            .path()
            .join(format!(".kamal/lock-{svc}-staging/details"))
            .exists()
    );

    // The audit logs of both hosts, merged in time order.
    let out = fleet.berth(&["-d", "staging", "history", svc, "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["host"].as_str().unwrap(), l["action"].as_str().unwrap()))
        .collect();
    let booted = format!("Booted app version {VERSION}");
    let deployed = format!("Deployed app version {VERSION}");
    assert_eq!(
        seen,
        vec![
            ("127-0-0-2", booted.as_str()),
            ("127-0-0-3", booted.as_str()),
            ("127-0-0-2", deployed.as_str()),
        ],
        "{}",
        text(&out)
    );
    assert!(lines.iter().all(|l| l["tool"] == "kamal"
        && l["performer"]["user"] == "ana@example.com"
        && l["version"] == VERSION));

    // Between Kamal's `mkdir` and its details: held; once removed: free.
    let lock = fleet.homes[0]
        .path()
        .join(format!(".kamal/lock-{svc}-staging"));
    std::fs::remove_file(lock.join("details")).unwrap();
    let locks = json(&fleet.berth(&["-d", "staging", "lock", "status", "--json"]));
    assert_eq!(locks["kamal"][0]["held"], true, "{locks:#}");
    assert!(
        locks["kamal"][0]["lock"]["message"]
            .as_str()
            .unwrap()
            .contains("not written yet")
    );
    std::fs::remove_dir(&lock).unwrap();
    let locks = json(&fleet.berth(&["-d", "staging", "lock", "status", "--json"]));
    assert_eq!(locks["kamal"][0]["held"], false, "{locks:#}");
    assert!(locks["kamal"][0].get("error").is_none(), "{locks:#}");

    // An accessory declared on a host where nothing of it runs yet: shown
    // there, missing, and the app is not as declared.
    std::fs::write(
        fleet.repo.path().join("config/deploy.staging.yml"),
        "servers:\n  job:\n    hosts:\n      - <%= ENV[\"BERTH_TEST_JOB_HOST\"] %>\naccessories:\n  cache:\n    image: redis:7\n    host: 127.0.0.3\n",
    )
    .unwrap();
    let out = fleet.berth(&[
        "-d",
        "staging",
        "status",
        "--json",
        "--timeout",
        "60s",
        "--app",
        svc,
    ]);
    let status = json(&out);
    let second = status["hosts"][1]["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == svc)
        .unwrap_or_else(|| panic!("{status:#}"))
        .clone();
    let cache = second["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "accessory:cache")
        .unwrap_or_else(|| panic!("{second:#}"));
    assert_eq!(cache["declared"], true, "{cache:#}");
    assert_eq!(cache["serving"], 0, "{cache:#}");
    assert_eq!(cache["ok"], false, "{cache:#}");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    // config check lists it with its image and host.
    let out = fleet.berth(&["-d", "staging", "config", "check"]);
    assert!(
        text(&out)
            .contains("accessories: db (postgres:16) on 127-0-0-2; cache (redis:7) on 127-0-0-3"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ruby_in_a_kamal_file_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/deploy.yml"),
        "service: shop\nimage: acme/shop\nservers:\n  - <%= `hostname`.strip %>\n",
    )
    .unwrap();
    for args in [&["status"][..], &["lock", "status"], &["history", "shop"]] {
        let out = common::berth()
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .args(args)
            .output()
            .unwrap();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{said}");
        assert!(
            said.contains(
                "config/deploy.yml:4:5: berth needs `servers[0]` and cannot read it without running Ruby: `<%= `hostname`.strip %>` at config/deploy.yml:4:5 is Ruby"
            ),
            "{said}"
        );
    }
    // The same file named with --kamal from anywhere, and from berth.yaml.
    let out = common::berth()
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .arg("--kamal")
        .arg(dir.path().join("config/deploy.yml"))
        .arg("status")
        .output()
        .unwrap();
    assert!(
        text(&out).contains("deploy.yml:4:5: berth needs"),
        "{}",
        text(&out)
    );
    let out = common::berth_with_config(
        dir.path(),
        "version: 2\nkamal:\n  - config/deploy.yml\n",
        &["config", "check"],
    );
    assert!(
        text(&out).contains("deploy.yml:4:5: berth needs"),
        "{}",
        text(&out)
    );
    // Beside a destination that reads, one that does not is an error row
    // naming its file; the good one is read; the example is skipped.
    std::fs::write(
        dir.path().join("config/deploy.yml"),
        "service: shop\nimage: acme/shop\nservers: [10.0.0.1]\nregistry:\n  password: <%= %x(aws ecr get-login-password) %>\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config/deploy.staging.yml"),
        "servers: [10.0.1.1]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config/deploy.example.yml"),
        "servers: [192.0.2.1]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("config/deploy.prod.yml"),
        "servers:\n  - <%= `terraform output -raw host` %>\n",
    )
    .unwrap();
    let out = common::berth()
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .args(["config", "check", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let checked: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let read: Vec<String> = checked["kamal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{}:{}", a["service"], a["destination"]))
        .collect();
    assert_eq!(
        read,
        ["\"shop\":null", "\"shop\":\"staging\""],
        "{checked:#}"
    );
    let failed = &checked["kamal_failed"][0];
    assert!(
        failed["file"]
            .as_str()
            .unwrap()
            .ends_with("config/deploy.prod.yml"),
        "{checked:#}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("deploy.prod.yml:2:5: berth needs `servers[0]`"),
        "{checked:#}"
    );
    assert!(
        text(&out).contains("deploy.example.yml: skipped: an example"),
        "{}",
        text(&out)
    );
    for f in ["staging", "example", "prod"] {
        std::fs::remove_file(dir.path().join(format!("config/deploy.{f}.yml"))).unwrap();
    }
    // An unset ENV.fetch says which variable.
    std::fs::write(
        dir.path().join("config/deploy.yml"),
        "service: shop\nservers: [<%= ENV.fetch(\"BERTH_TEST_UNSET_HOST\") %>]\n",
    )
    .unwrap();
    let out = common::berth()
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env_remove("BERTH_TEST_UNSET_HOST")
        .arg("status")
        .output()
        .unwrap();
    assert!(
        text(&out).contains("deploy.yml:2:11:")
            && text(&out).contains("needs BERTH_TEST_UNSET_HOST, which is not set"),
        "{}",
        text(&out)
    );
}

/// A host laid out as Dokku 0.38 leaves it, behind its own sshd: one app
/// whose deploy lock a real `flock` process holds, one whose lock file a
/// dead deploy left, one locked by `apps:lock`, one free; build records.
pub struct DokkuHost {
    pub sshd: Sshd,
    pub data: tempfile::TempDir,
    holder: Child,
}

/// `/var/lib/dokku` as the Dokku hosts' mount point: made for the first
/// host of this process that needs it (when this machine has none), and
/// removed when the last is gone (removing it earlier would unmount it
/// in the other hosts' namespaces too).
static MOUNT_POINT: std::sync::Mutex<(usize, bool)> = std::sync::Mutex::new((0, false));
const DOKKU_DIR: &str = "/var/lib/dokku";

pub const BUILD_ID: &str = "0lsx2k3q9abcde";

impl DokkuHost {
    pub fn start() -> DokkuHost {
        need_root();
        let data = tempfile::tempdir().unwrap();
        let apps = data.path().join("data/apps");
        for app in ["blog", "shop", "wiki", "docs"] {
            std::fs::create_dir_all(apps.join(app)).unwrap();
        }
        let held = apps.join("blog/.deploy.lock");
        std::fs::write(&held, format!("{BUILD_ID}\n")).unwrap();
        std::fs::write(apps.join("shop/.deploy.lock"), "pid-4242").unwrap();
        std::fs::write(apps.join("docs/.deploy.lock"), "").unwrap();
        // A deploy in progress: a real process holds blog's flock.
        let holder = Command::new("flock")
            .arg("-n")
            .arg(&held)
            .args(["sleep", "600"])
            .spawn()
            .expect("flock (util-linux)");
        let ino = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&held).unwrap().ino()
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string("/proc/locks")
            .unwrap()
            .contains(&format!(":{ino} "))
        {
            assert!(Instant::now() < deadline, "flock took no lock");
            std::thread::sleep(Duration::from_millis(20));
        }
        let builds = data.path().join("data/builds/blog");
        std::fs::create_dir_all(&builds).unwrap();
        std::fs::write(
            builds.join("0lsx2k1a0aaaaa.json"),
            r#"{"id":"0lsx2k1a0aaaaa","app":"blog","kind":"build","pid":4100,"started_at":"2026-11-20T10:00:00Z","finished_at":"2026-11-20T10:02:00Z","status":"failed","source":"git-hook","exit_code":1}"#,
        )
        .unwrap();
        std::fs::write(builds.join("0lsx2k1a0aaaaa.log"), "a long build log\n").unwrap();
        std::fs::write(
            builds.join(format!("{BUILD_ID}.json")),
            format!(
                r#"{{"id":"{BUILD_ID}","app":"blog","kind":"build","pid":4242,"started_at":"2026-11-20T11:00:00Z","status":"running","source":"git-hook"}}"#
            ),
        )
        .unwrap();
        let mount_point = Path::new(DOKKU_DIR);
        {
            let mut users = MOUNT_POINT.lock().unwrap_or_else(|e| e.into_inner());
            if users.0 == 0 && !mount_point.exists() {
                std::fs::create_dir_all(mount_point).unwrap();
                users.1 = true;
            }
            users.0 += 1;
        }
        let sshd = Sshd::start_with(Opts {
            binds: vec![(data.path().to_path_buf(), mount_point.to_path_buf())],
            ..Default::default()
        });
        DokkuHost { sshd, data, holder }
    }

    pub fn config(&self, dir: &Path) -> PathBuf {
        let path = dir.join("berth.yaml");
        std::fs::write(
            &path,
            format!(
                "version: 2\nhosts:\n  dokku-1: {{ssh: {}}}\n",
                self.sshd.host_yaml()
            ),
        )
        .unwrap();
        path
    }
}

impl Drop for DokkuHost {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        self.sshd.kill();
        let mut users = MOUNT_POINT.lock().unwrap_or_else(|e| e.into_inner());
        users.0 -= 1;
        if users.0 == 0 && users.1 {
            let _ = std::fs::remove_dir(DOKKU_DIR);
            users.1 = false;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dokku_host_shows_held_left_over_and_manual_locks_and_its_builds() {
    let host = DokkuHost::start();
    let dir = tempfile::tempdir().unwrap();
    let config = host.config(dir.path());
    let berth = |args: &[&str]| common::berth_at(&config, args);

    let out = berth(&["lock", "status", "--json"]);
    let locks = json(&out);
    let dokku = locks["dokku"].as_array().unwrap();
    let find = |app: &str| {
        dokku
            .iter()
            .find(|l| l["app"] == app)
            .unwrap_or_else(|| panic!("{app}: {locks:#}"))
    };
    let blog = find("blog");
    assert_eq!(blog["held"], true);
    assert_eq!(blog["host"], "dokku-1");
    assert_eq!(blog["lock"]["left_over"], false, "{blog:#}");
    assert_eq!(blog["lock"]["holder"], format!("build {BUILD_ID}"));
    let shop = find("shop");
    assert_eq!(shop["lock"]["left_over"], true, "{shop:#}");
    assert_eq!(shop["lock"]["holder"], "pid 4242");
    let docs = find("docs");
    assert_eq!(docs["lock"]["holder"], "dokku apps:lock");
    assert_eq!(docs["lock"]["left_over"], false);
    assert_eq!(find("wiki")["held"], false);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let out = berth(&["lock", "status", "shop"]);
    let said = text(&out);
    assert!(
        said.contains("shop (dokku, read-only, on dokku-1): left over by pid 4242")
            && said.contains("`dokku apps:unlock shop` clears it"),
        "{said}"
    );
    // Nothing was taken or changed: the flock is still the holder's.
    let proc_locks = std::fs::read_to_string("/proc/locks").unwrap();
    let ino = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(host.data.path().join("data/apps/blog/.deploy.lock"))
            .unwrap()
            .ino()
    };
    assert_eq!(
        proc_locks.matches(&format!(":{ino} ")).count(),
        1,
        "{proc_locks}"
    );

    let out = berth(&["history", "blog", "--json"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", text(&out));
    assert_eq!(lines[0]["result"], "failed");
    assert_eq!(lines[0]["error"], "exit 1");
    assert_eq!(lines[1]["result"], "running");
    assert!(
        lines
            .iter()
            .all(|l| l["tool"] == "dokku" && l["host"] == "dokku-1")
    );
    let out = berth(&["history", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no Dokku host has it"),
        "{}",
        text(&out)
    );
    // A berth app named is asked about alone: no other tool's lock.
    let app = format!("t{}-web", std::process::id());
    std::fs::write(
        &config,
        format!(
            "{}apps:\n  {app}:\n    image: x\n    roles: {{web: {{hosts: [dokku-1]}}}}\n",
            std::fs::read_to_string(&config).unwrap()
        ),
    )
    .unwrap();
    let out = berth(&["lock", "status", &app]);
    let said = text(&out);
    assert!(
        said.contains(&format!("{app}: ")) && !said.contains("blog"),
        "{said}"
    );
}
