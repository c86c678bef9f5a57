//! A real registry for a test: Debian's `docker-registry` (the distribution
//! registry 2.8) on a free loopback port, storing under a temporary
//! directory, with htpasswd (bcrypt) authentication for one user. The
//! engine reaches 127.0.0.1 registries over plain HTTP, as Docker allows
//! for loopback. Stopped when dropped.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub user: String,
    pub password: String,
    child: Child,
}

impl Registry {
    pub fn start() -> Registry {
        for (bin, package) in [
            ("/usr/bin/docker-registry", "docker-registry"),
            ("/usr/bin/htpasswd", "apache2-utils"),
        ] {
            assert!(
                std::path::Path::new(bin).exists(),
                "this test needs {bin}: apt-get install {package} (`.ci/run` and `scripts/test` do)"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = super::nginx::free_port();
        let user = "deployer".to_string();
        // Unique per run, and long enough to be found by a grep.
        let password = format!("pw-{}-{}", std::process::id(), fastrand::u64(..));
        let out = Command::new("htpasswd")
            .args(["-Bbn", &user, &password])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(d.join("htpasswd"), &out.stdout).unwrap();
        std::fs::write(
            d.join("config.yml"),
            format!(
                "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {root}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:{port}, secret: berth-test}}\nauth: {{htpasswd: {{realm: berth-test, path: {htpasswd}}}}}\n",
                root = d.join("data").display(),
                htpasswd = d.join("htpasswd").display(),
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("registry.log")).unwrap())
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry {
            dir,
            port,
            user,
            password,
            child,
        };
        // Up once it answers /v2/ (401 without credentials).
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not listen on {port}: {}",
                std::fs::read_to_string(registry.dir.path().join("registry.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:PORT`, as images and `registry.server` name it.
    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
