//! A real sshd for a test, on 127.0.0.1 and a free port, with a host key,
//! a client key and a known_hosts file made for the run. It lets this
//! machine's user in by key only; berth then reaches this machine's Docker
//! socket through it, exactly as it would a remote host's.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    /// The address it listens on.
    pub addr: String,
    pub port: u16,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    pub user: String,
    config: PathBuf,
    /// Bind mounts its sessions see (a host of its own: its own home,
    /// its own `/var/lib/dokku`), made in a mount namespace of its own.
    binds: Vec<(PathBuf, PathBuf)>,
    /// The network namespace it runs in (a host of the fleet rig).
    netns: Option<String>,
    child: Option<Child>,
}

/// How to start an sshd: where it listens, whose key it lets in, and what
/// its sessions see in place of this machine's directories.
#[derive(Default)]
pub struct Opts {
    /// Default 127.0.0.1 (any 127.0.0.0/8 address is this machine's).
    pub addr: Option<String>,
    /// Default a free one.
    pub port: Option<u16>,
    /// A client key (its `.pub` beside it) to let in, shared by several
    /// hosts; default one made for this sshd.
    pub client_key: Option<PathBuf>,
    /// (directory, where its sessions see it): needs root (a mount
    /// namespace).
    pub binds: Vec<(PathBuf, PathBuf)>,
    /// A network namespace to run in (`ip netns`): needs root.
    pub netns: Option<String>,
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
        Sshd::start_with(Opts::default())
    }

    pub fn start_with(opts: Opts) -> Sshd {
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
        let host_key = d.join("host_key");
        keygen(&host_key);
        let client_key = match opts.client_key {
            Some(k) => k,
            None => {
                let k = d.join("client_key");
                keygen(&k);
                k
            }
        };
        std::fs::copy(client_key.with_extension("pub"), d.join("authorized_keys")).unwrap();
        let addr = opts.addr.unwrap_or_else(|| "127.0.0.1".into());
        let port = opts.port.unwrap_or_else(super::nginx::free_port);
        let host_pub = std::fs::read_to_string(d.join("host_key.pub")).unwrap();
        let known_hosts = d.join("known_hosts");
        std::fs::write(&known_hosts, format!("[{addr}]:{port} {host_pub}")).unwrap();
        let config = d.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}
ListenAddress {addr}
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
            addr,
            port,
            client_key,
            known_hosts,
            user,
            config,
            binds: opts.binds,
            netns: opts.netns,
            child: None,
        };
        s.restart();
        s
    }

    /// Starts sshd (again, on the same port with the same keys).
    pub fn restart(&mut self) {
        // `ip netns exec` and unshare exec what follows, and sh execs sshd:
        // the child is sshd itself, whatever wraps it.
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]);
                c
            }
            None => Command::new("env"),
        };
        if self.binds.is_empty() {
            cmd.arg("/usr/sbin/sshd");
        } else {
            let c = &mut cmd;
            c.args([
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
            ]);
            c.arg(
                "set -e; while [ \"$1\" != -- ]; do mount --bind \"$1\" \"$2\"; shift 2; done; shift; exec \"$@\"",
            );
            c.arg("sh");
            for (from, to) in &self.binds {
                c.arg(from).arg(to);
            }
            c.args(["--", "/usr/sbin/sshd"]);
        }
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect((self.addr.as_str(), self.port)).is_err() {
            assert!(Instant::now() < deadline, "sshd did not listen within 10s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The pid of the sshd listening (stop it to make a host that accepts
    /// connections and never answers).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
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
            "{{host: {}, port: {}, user: {}, identity_file: {}, known_hosts: {}}}",
            self.addr,
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
