//! An engine of a test's own: a second `dockerd` beside the machine's, for
//! a test that needs what only one container of an engine may have (a
//! container named `kamal-proxy`) or that must not see the strangers on
//! the machine's engine.
//!
//! It shares nothing with the machine's engine, whose health every other
//! test (and whoever else uses this machine) depends on: its own bridge
//! (never `--bridge=none`, which deletes the machine's `docker0`), data
//! root, exec root (and so its own containerd), socket, pid file and
//! address pools, no iptables rules, and the `vfs` storage driver (no
//! mounts to leak). Dropping it removes its containers, stops the daemon
//! and deletes the bridge and every file; an engine left by a killed test
//! run is swept by the next one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const PREFIX: &str = "/tmp/berth-engine-";
/// Bridge names are at most 15 bytes: `berthe` + 5 hex + ...
const BRIDGE: &str = "berthe";

static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct IsolatedEngine {
    pub dir: PathBuf,
    pub socket: PathBuf,
    bridge: String,
    daemon: Option<Child>,
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl IsolatedEngine {
    /// Starts one and waits (at most 60 s) until it answers.
    pub fn start() -> IsolatedEngine {
        Self::start_with(&[])
    }

    /// As [`IsolatedEngine::start`], with more dockerd arguments (another
    /// `--host`, TLS).
    pub fn start_with(extra: &[String]) -> IsolatedEngine {
        sweep();
        // Unique among this run's engines and every other live run's: the
        // pid and a sequence number, as hex.
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:x}{seq:x}", std::process::id() & 0xfffff);
        let dir = PathBuf::from(format!("{PREFIX}{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("owner"), std::process::id().to_string()).unwrap();
        let bridge = format!("{BRIDGE}{id}");
        assert!(bridge.len() <= 15, "bridge name {bridge} is too long");
        // Addresses for its bridge and networks: a /16 of 10.x picked from
        // the id, apart from the machine engine's 172.17-31 and 192.168.
        let n = 100 + (std::process::id() as usize * 7 + seq as usize) % 100;
        let mut engine = IsolatedEngine {
            socket: dir.join("docker.sock"),
            dir,
            bridge,
            daemon: None,
        };
        let up = || -> Result<(), String> {
            run(Command::new("ip").args(["link", "add", &engine.bridge, "type", "bridge"]))?;
            run(Command::new("ip").args([
                "addr",
                "add",
                &format!("10.{n}.0.1/24"),
                "dev",
                &engine.bridge,
            ]))?;
            run(Command::new("ip").args(["link", "set", &engine.bridge, "up"]))
        };
        if let Err(e) = up() {
            panic!("making the isolated engine's bridge: {e} (berth's tests run as root)");
        }
        std::fs::write(engine.dir.join("daemon.json"), "{}").unwrap();
        let log = std::fs::File::create(engine.dir.join("dockerd.log")).unwrap();
        let d = &engine.dir;
        let daemon = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", engine.socket.display()))
            .args(["--bridge", &engine.bridge])
            .args(["--iptables=false", "--ip-masq=false", "--ip-forward=false"])
            .args(["--storage-driver", "vfs"])
            .args([
                "--default-address-pool",
                &format!("base=10.{n}.128.0/17,size=24"),
            ])
            .args(["--shutdown-timeout", "2"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting dockerd: {e}"));
        engine.daemon = Some(daemon);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !engine.answers() {
            if let Some(status) = engine.daemon.as_mut().unwrap().try_wait().unwrap() {
                panic!("the isolated dockerd exited ({status}):\n{}", engine.log());
            }
            assert!(
                Instant::now() < deadline,
                "the isolated dockerd did not answer on {} within 60s:\n{}",
                engine.socket.display(),
                engine.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        engine
    }

    fn answers(&self) -> bool {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// Its raw client.
    pub async fn docker(&self) -> bollard::Docker {
        self.engine().await.bollard().clone()
    }

    /// It as berth talks to it.
    pub async fn engine(&self) -> berth::docker::Client {
        berth::docker::Client::at_socket(&self.socket, Duration::from_secs(10))
            .await
            .unwrap_or_else(|e| panic!("the isolated engine does not answer: {e}"))
            .0
    }

    /// `, socket: PATH`: a berth host's YAML that reaches this engine.
    pub fn host_yaml(&self) -> String {
        format!(", socket: {}", self.socket.display())
    }
}

impl Drop for IsolatedEngine {
    fn drop(&mut self) {
        let pid = self.daemon.as_ref().map(|d| d.id() as i32);
        teardown(&self.dir, &self.bridge, pid);
        if let Some(mut d) = self.daemon.take() {
            let _ = d.wait();
        }
    }
}

/// Removes its containers, stops the daemon (TERM, then KILL after 20 s),
/// unmounts what it left and deletes its bridge and files.
fn teardown(dir: &Path, bridge: &str, pid: Option<i32>) {
    let host = format!("unix://{}", dir.join("docker.sock").display());
    let pid = pid.or_else(|| {
        std::fs::read_to_string(dir.join("dockerd.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    });
    if let Some(pid) = pid.filter(|p| alive_not_zombie(*p)) {
        if let Ok(out) = Command::new("docker")
            .args(["-H", &host, "ps", "-aq"])
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if !ids.is_empty() {
                let _ = Command::new("docker")
                    .args(["-H", &host, "rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while alive_not_zombie(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive_not_zombie(pid) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
    // Its network namespaces are bind mounts under the exec root.
    if let Ok(mounts) = std::fs::read_to_string("/proc/mounts") {
        let mut under: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter(|m| m.starts_with(&*dir.to_string_lossy()))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in under {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
    }
    let _ = Command::new("ip").args(["link", "del", bridge]).output();
    let _ = std::fs::remove_dir_all(dir);
}

fn alive_not_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// Tears down engines whose test run died without dropping them: the
/// process named in their `owner` file is gone.
fn sweep() {
    let Ok(entries) = std::fs::read_dir("/tmp") else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let Some(id) = path
            .to_string_lossy()
            .strip_prefix(PREFIX)
            .map(str::to_string)
        else {
            continue;
        };
        let owner = std::fs::read_to_string(path.join("owner"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        // One being made this moment has no owner file for an instant.
        let young = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().unwrap_or_default() < Duration::from_secs(60));
        let orphan = match owner {
            Some(pid) => !alive_not_zombie(pid),
            None => !young,
        };
        if orphan {
            teardown(&path, &format!("{BRIDGE}{id}"), None);
        }
    }
}
