//! A real sshd for a test, on 127.0.0.1 and a free port, with a host key,
//! a client key and a known_hosts file made for the run. It lets this
//! machine's user in by key only; berth then reaches this machine's Docker
//! socket through it, exactly as it would a remote host's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub user: String,
    config: PathBuf,
    child: Option<Child>,
}

/// A new ed25519 key pair at `path` and `path.pub`, without a passphrase.
pub fn keygen(path: &std::path::Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("this test needs ssh-keygen ({e}): apt-get install openssh-client")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Sshd {
    pub fn start() -> Sshd {
        let sshd = PathBuf::from("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "this test needs sshd: install Debian's openssh-server (apt-get install openssh-server); `.ci/run` and `scripts/test` do"
        );
        // sshd's privilege separation directory (Debian's packaging makes
        // it at boot; containers may lack it).
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (host_key, client_key) = (d.join("host_key"), d.join("client_key"));
        keygen(&host_key);
        keygen(&client_key);
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys")).unwrap();
        let port = super::nginx::free_port();
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let known_hosts = d.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}")).unwrap();
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}
ListenAddress 127.0.0.1
HostKey {hk}
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowStreamLocalForwarding yes
LogLevel ERROR
",
                hk = host_key.display(),
                d = d.display()
            ),
        )
        .unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let mut s = Sshd {
            dir,
            port,
            client_key,
            known_hosts,
            user,
            config,
            child: None,
        };
        s.restart();
        s
    }

    /// Starts sshd (again, on the same port with the same keys).
    pub fn restart(&mut self) {
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen within 10s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills sshd and every session it started, as a host going down does.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let _ = Command::new("pkill").args(["-KILL", "-P", &pid]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The `ssh:` block of a berth host reaching this sshd.
    pub fn host_yaml(&self) -> String {
        format!(
            "{{host: 127.0.0.1, port: {}, user: {}, identity_file: {}, known_hosts: {}}}",
            self.port,
            self.user,
            self.client_key.display(),
            self.known_hosts.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}
