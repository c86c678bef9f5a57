//! Benchmark (not a test): deploy wall time with each host building the
//! image itself, against building once, pushing to a registry and every
//! host pulling, for 2 and 4 hosts. Prints figures; judges nothing.
//!
//! Each host is an engine of its own: a separate `dockerd` (own data root,
//! socket and containerd namespace) started by the bench on this machine,
//! so a build on one host is no cache for another, as on a real fleet. The
//! registry is Debian's `docker-registry` with htpasswd authentication.
//! The app's build context is the test image's recipe (`FROM scratch`,
//! Debian's static busybox, a healthcheck), so "build on each host" builds
//! it on every host, and "through the registry" builds it once on the
//! first host (`build.builder`, so that build is cold too), pushes it, and
//! each host pulls it. Every engine is emptied before each deploy.
//!
//! Run: `cargo bench --bench registry` (as root: it starts dockerd; needs
//! `docker-registry`, `apache2-utils`, `busybox-static`).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::registry::Registry;

/// An engine of its own: a dockerd the bench started.
struct Engine {
    dir: PathBuf,
    child: Child,
}

impl Engine {
    fn start(root: &Path, n: usize) -> Engine {
        let dir = root.join(format!("e{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        // A default bridge of its own. Not `--bridge none`: a dockerd
        // started so deletes the kernel's `docker0`, which this machine's
        // own engine uses.
        let bridge = Engine::bridge(n);
        let ip = |args: &[&str]| {
            let ok = Command::new("ip").args(args).status().unwrap().success();
            assert!(ok, "ip {}", args.join(" "));
        };
        let _ = Command::new("ip").args(["link", "del", &bridge]).output();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("10.201.{n}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        std::fs::write(dir.join("daemon.json"), "{}").unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("sock").display()))
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .args(["--containerd-namespace", &format!("berth-bench-{n}")])
            .args([
                "--containerd-plugins-namespace",
                &format!("berth-bench-{n}p"),
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("dockerd.log")).unwrap())
            .spawn()
            .expect("starting dockerd (the bench runs as root)");
        let engine = Engine { dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !engine.docker(&["version"]).status.success() {
            assert!(Instant::now() < deadline, "dockerd {n} did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        engine
    }

    fn bridge(n: usize) -> String {
        format!("berthbench{n}")
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket().display()))
            .args(args)
            .output()
            .unwrap()
    }

    /// Removes every container, image and network, so the next round
    /// starts cold (and no bridge of theirs is left behind).
    fn wipe(&self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            self.docker(&["rm", "-f", id]);
        }
        self.docker(&["image", "prune", "-af"]);
        self.docker(&["network", "prune", "-f"]);
    }

    fn stop(mut self, n: usize) {
        self.wipe();
        terminate(&self.child);
        let _ = self.child.wait();
        let _ = Command::new("ip")
            .args(["link", "del", &Engine::bridge(n)])
            .output();
    }
}

/// SIGTERM: dockerd shuts down cleanly (unmounting its layers).
fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// One deploy with the CLI; (wall seconds, image stage seconds).
fn deploy(config: &Path, app: &str, version: &str) -> (f64, f64) {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "-c",
            config.to_str().unwrap(),
            "deploy",
            app,
            "-V",
            version,
            "--json",
        ])
        .output()
        .unwrap();
    let wall = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "deploy failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let image_ms = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "stage_finished" && v["name"] == "image")
        .and_then(|v| v["elapsed_ms"].as_u64())
        .unwrap_or(0);
    (wall, image_ms as f64 / 1000.0)
}

fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments.
    let root = tempfile::tempdir().unwrap();
    let registry = Registry::start();
    let ctx = root.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(here.join("tests/image/Dockerfile"), ctx.join("Dockerfile")).unwrap();
    std::fs::copy(here.join("tests/image/start"), ctx.join("start")).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).expect("busybox-static");
    std::fs::write(
        root.path().join("secrets.env"),
        format!("REGISTRY_PASSWORD={}\n", registry.password),
    )
    .unwrap();
    println!("starting 4 engines (a dockerd each)…");
    let engines: Vec<Engine> = (1..=4).map(|n| Engine::start(root.path(), n)).collect();
    for hosts in [2usize, 4] {
        let host_yaml: String = (1..=hosts)
            .map(|n| {
                format!(
                    "  h{n}: {{socket: {}, state_dir: {}/state{n}}}\n",
                    engines[n - 1].socket().display(),
                    root.path().display()
                )
            })
            .collect();
        let list: Vec<String> = (1..=hosts).map(|n| format!("h{n}")).collect();
        let app_tail = format!(
            "    roles:\n      web: {{hosts: [{}], port: 8080}}\n    boot: {{limit: 100%}}\n    stop_timeout: 1s\n    deploy_timeout: 30s\n    min_uptime: 1s\n",
            list.join(", ")
        );
        for (mode, app_head) in [
            (
                "build on each host",
                "    build: {context: ctx}\n".to_string(),
            ),
            (
                "build once, push, pull",
                "    image: shop\n    build: {context: ctx, builder: h1}\n".to_string(),
            ),
        ] {
            let app = format!(
                "shop{hosts}{}",
                if mode.starts_with("build once") {
                    "r"
                } else {
                    "b"
                }
            );
            let yaml = format!(
                "version: 2\nsecrets_file: secrets.env\nregistry: {{server: \"{}\", username: {}, password: [REGISTRY_PASSWORD]}}\nhosts:\n{host_yaml}apps:\n  {app}:\n{}{app_tail}",
                registry.server(),
                registry.user,
                app_head.replace("image: shop", &format!("image: {app}"))
            );
            let config = root.path().join(format!("{app}.yaml"));
            std::fs::write(&config, yaml).unwrap();
            for e in &engines {
                e.wipe();
            }
            let (wall, image) = deploy(&config, &app, "v1");
            println!("{hosts} hosts, {mode:<24} deploy {wall:>5.1} s (image stage {image:>5.1} s)");
        }
    }
    for (i, e) in engines.into_iter().enumerate() {
        e.stop(i + 1);
    }
    drop(registry);
}
