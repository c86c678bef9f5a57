//! SSH hosts: one master connection per host (OpenSSH through the `openssh`
//! crate, native multiplexing), shared by everything berth does there. The
//! host's Docker socket is forwarded to a private local unix socket, in a
//! 0700 directory of its own, which bollard talks to as if it were local.
//!
//! Host keys are checked strictly (`StrictHostKeyChecking=yes`) against the
//! user's known_hosts or the file named in config; authentication is by key
//! or agent only (`BatchMode=yes`): ssh never prompts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssh::{ControlPersist, ForwardType, KnownHosts, Session, SessionBuilder, Socket};

use super::HostError;
use super::scripts::Script;
use crate::config::SshConfig;

mod helper;
mod persisted;

/// A live connection to a host and its forwarded Docker socket. Dropping
/// the last reference closes the master connection and removes the socket,
/// unless the master is kept for the next berth (`persist`, `persisted.rs`):
/// then both stay until it has been idle that long.
pub struct Tunnel {
    session: Arc<Session>,
    /// Commands running at once on the connection: sshd refuses sessions
    /// beyond its MaxSessions (10 by default) on one connection.
    sessions: Arc<tokio::sync::Semaphore>,
    /// Long-lived shells that run commands without a login shell's start.
    helpers: helper::Helpers,
    /// Remote TCP ports forwarded to local sockets (for proxy probes).
    forwarded: Mutex<std::collections::HashSet<u16>>,
    /// The local end of the forwarded Docker socket.
    pub socket: PathBuf,
    /// `ssh://user@host:port`, for messages.
    pub destination: String,
    /// The private directory of a master that ends with this berth.
    _dir: Option<tempfile::TempDir>,
}

impl Tunnel {
    /// Whether the master connection still answers.
    pub async fn alive(&self) -> bool {
        self.session.check().await.is_ok()
    }

    /// Runs `argv` on the host within `timeout` and collects what it
    /// wrote: through one of the connection's helpers (a round trip), or,
    /// where none can start, as a command of its own (a login shell's
    /// start too). Either way each argument reaches the remote program as
    /// one argument, whatever it holds; nothing is ever joined into
    /// command text.
    pub async fn output(&self, argv: &[&str], timeout: Duration) -> Result<Output, HostError> {
        self.run(helper::Request::Command(argv), timeout).await
    }

    /// Runs one of berth's file scripts with `args` as its positional
    /// arguments, as [`Tunnel::output`] runs a command: in a helper it is a
    /// function already there, else `sh -c BODY berth ARGS…`.
    pub(in crate::hosts) async fn script(
        &self,
        script: &Script,
        args: &[&str],
        timeout: Duration,
    ) -> Result<Output, HostError> {
        self.run(helper::Request::Script(script, args), timeout)
            .await
    }

    async fn run(
        &self,
        request: helper::Request<'_>,
        timeout: Duration,
    ) -> Result<Output, HostError> {
        let program = request
            .program()
            .ok_or_else(|| HostError::Local("an empty command".into()))?;
        match self
            .helpers
            .run(&self.session, &self.sessions, &request, timeout)
            .await
        {
            Ok(out) => return Ok(out),
            Err(helper::Failure::TimedOut) => {
                return Err(HostError::RunTimeout {
                    program: program.to_string(),
                    timeout,
                });
            }
            Err(helper::Failure::Broken(reason)) => {
                return Err(HostError::Run {
                    program: program.to_string(),
                    reason: format!("{}: {reason}", self.destination),
                });
            }
            Err(helper::Failure::NoHelper(why)) => {
                tracing::debug!(host = %self.destination, why, "no helper; running the command on its own");
            }
        }
        // Built only now: a helper needs none of it.
        let argv = request.argv();
        let mut command = self.session.command(program);
        command.args(argv.iter().skip(1).copied());
        let run = async {
            // The semaphore is never closed; if it were, run without it.
            let _session = self.sessions.acquire().await.ok();
            command.output().await
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(o)) => Ok(Output {
                // ssh reports a remote death by signal as no code.
                code: o.status.code(),
                stdout: o.stdout,
                stderr: o.stderr,
            }),
            Ok(Err(e)) => Err(HostError::Run {
                program: program.to_string(),
                reason: chain(&e),
            }),
            Err(_) => Err(HostError::RunTimeout {
                program: program.to_string(),
                timeout,
            }),
        }
    }
}

/// What a remote command left: its exit code and its output, as it came
/// (untrusted: strip it before showing it).
pub struct Output {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// An exclusive flock(2) on a file of the host, held by a remote `flock`
/// process for as long as this value lives. Dropping it closes that
/// process's input, and it exits, releasing the lock; if berth dies, the
/// connection goes and sshd ends the process, releasing it too.
pub struct RemoteLock {
    _child: openssh::Child<Arc<Session>>,
    _session: tokio::sync::OwnedSemaphorePermit,
}

impl Tunnel {
    /// Takes an exclusive flock on `path` on the host (with `flock` from
    /// util-linux or BusyBox, the same lock a local berth on that host
    /// takes), waiting at most `wait`. `Ok(None)`: still held by another
    /// after `wait`.
    pub async fn flock(&self, path: &str, wait: Duration) -> Result<Option<RemoteLock>, HostError> {
        use tokio::io::AsyncReadExt;
        let permit = self
            .sessions
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HostError::Local("the host's session limit was closed".into()))?;
        let secs = wait.as_secs().max(1).to_string();
        let mut child = self
            .session
            .clone()
            .arc_command("flock")
            .args([
                "-w",
                &secs,
                "--",
                path,
                "sh",
                "-c",
                "echo locked; exec cat >/dev/null",
            ])
            .stdin(openssh::Stdio::piped())
            .stdout(openssh::Stdio::piped())
            .stderr(openssh::Stdio::piped())
            .spawn()
            .await
            .map_err(|e| HostError::Run {
                program: "flock".into(),
                reason: chain(&e),
            })?;
        let mut stdout = child.stdout().take().ok_or_else(|| HostError::Flock {
            path: path.to_string(),
            reason: "gave no output pipe".into(),
        })?;
        let mut said = Vec::new();
        let read = async {
            let mut buf = [0u8; 64];
            while !said.ends_with(b"locked\n") {
                match stdout.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => said.extend_from_slice(buf.get(..n).unwrap_or_default()),
                }
            }
        };
        if tokio::time::timeout(wait + Duration::from_secs(10), read)
            .await
            .is_err()
        {
            return Err(HostError::Flock {
                path: path.to_string(),
                reason: format!(
                    "did not answer within {}",
                    crate::config::duration::format(wait + Duration::from_secs(10))
                ),
            });
        }
        if said.ends_with(b"locked\n") {
            return Ok(Some(RemoteLock {
                _child: child,
                _session: permit,
            }));
        }
        // flock gave up (exit 1) or could not run at all.
        let mut err = Vec::new();
        if let Some(mut e) = child.stderr().take() {
            let _ = tokio::time::timeout(Duration::from_secs(2), e.read_to_end(&mut err)).await;
        }
        let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
        match status {
            Ok(Ok(s)) if s.code() == Some(1) && err.is_empty() => Ok(None),
            _ => Err(HostError::Flock {
                path: path.to_string(),
                reason: format!(
                    "failed: {} (does the host have flock, from util-linux?)",
                    crate::sanitize::one_line(&String::from_utf8_lossy(&err))
                ),
            }),
        }
    }

    /// A local socket forwarded to `127.0.0.1:port` on the host (once per
    /// port, kept with the connection): how berth reaches a host's proxy.
    pub async fn forward_tcp(&self, port: u16) -> Result<PathBuf, HostError> {
        let socket = self.socket.with_file_name(format!("tcp-{port}.sock"));
        // A kept master keeps its forwards: an earlier berth's is there.
        if socket.exists()
            || self
                .forwarded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .contains(&port)
        {
            return Ok(socket);
        }
        self.session
            .request_port_forward(
                ForwardType::Local,
                Socket::UnixSocket {
                    path: socket.as_path().into(),
                },
                Socket::TcpSocket {
                    host: "127.0.0.1".into(),
                    port,
                },
            )
            .await
            .map_err(|e| HostError::Forward {
                destination: self.destination.clone(),
                what: format!("127.0.0.1:{port}"),
                reason: chain(&e),
                hint: "",
            })?;
        self.forwarded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(port);
        Ok(socket)
    }
}

/// Below sshd's default MaxSessions (10), with room for an operator's own
/// `ssh -O` checks.
const MAX_SESSIONS: usize = 8;

type Slot = Arc<tokio::sync::Mutex<Option<Arc<Tunnel>>>>;

/// One slot per SSH destination (everything that shapes the connection,
/// and the remote socket): a slow host only holds up its own slot.
type Key = (SshConfig, std::path::PathBuf);

/// The master connections of one berth process, one per SSH destination,
/// shared by everything that reaches the host. Made once at start and
/// passed down (inside [`crate::docker::Gateway`]); cloning shares it.
#[derive(Clone, Default)]
pub struct Pool {
    slots: Arc<Mutex<HashMap<Key, Slot>>>,
}

impl Pool {
    /// The live tunnel to a host, opened (or re-opened, when the last one
    /// died) within `timeout`.
    pub async fn tunnel(
        &self,
        ssh: &SshConfig,
        remote_socket: &Path,
        timeout: Duration,
    ) -> Result<Arc<Tunnel>, HostError> {
        let key = (ssh.clone(), remote_socket.to_path_buf());
        let slot = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(key)
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(t) = slot.as_ref()
            && t.alive().await
        {
            return Ok(t.clone());
        }
        *slot = None;
        let t = Arc::new(
            tokio::time::timeout(timeout, open(ssh, remote_socket, timeout))
                .await
                .unwrap_or_else(|_| {
                    Err(HostError::ConnectTimeout {
                        destination: destination(ssh),
                        timeout,
                    })
                })?,
        );
        *slot = Some(t.clone());
        Ok(t)
    }

    /// Closes every master connection of the pool that nothing else holds
    /// (at exit: ssh would keep idle masters for a while).
    pub fn close(&self) {
        let slots: Vec<Slot> = self
            .slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
            .map(|(_, s)| s)
            .collect();
        for slot in slots {
            if let Ok(mut s) = slot.try_lock() {
                s.take();
            }
        }
    }
}

/// `ssh://user@host:port` for messages.
pub fn destination(ssh: &SshConfig) -> String {
    let user = ssh
        .user
        .as_deref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let port = ssh.port.map(|p| format!(":{p}")).unwrap_or_default();
    format!("ssh://{user}{}{port}", ssh.host)
}

/// `~/x` → `$HOME/x`.
fn expand(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// How long a master outlives its berth when the config does not say.
const PERSIST: Duration = Duration::from_secs(60);

async fn open(
    ssh: &SshConfig,
    remote_socket: &Path,
    timeout: Duration,
) -> Result<Tunnel, HostError> {
    let persist = ssh.persist.map_or(PERSIST, |p| p.get());
    if persist >= Duration::from_secs(1) {
        match persisted::dir() {
            Ok(dir) => return open_persisted(ssh, remote_socket, timeout, &dir, persist).await,
            Err(why) => tracing::warn!(
                host = %destination(ssh),
                why,
                "not keeping the connection for the next berth"
            ),
        }
    }
    // 0700 (tempfile's default): the forwarded socket gives whoever can
    // reach it the remote Docker engine.
    let dir = tempfile::Builder::new()
        .prefix("berth-ssh-")
        .tempdir()
        .map_err(|e| {
            HostError::Local(format!(
                "{}: creating a private socket directory: {e}",
                destination(ssh)
            ))
        })?;
    // A master orphaned by a killed berth goes away by itself.
    let session = connect(ssh, timeout, dir.path(), Duration::from_secs(120)).await?;
    let socket = dir.path().join("docker.sock");
    forward(ssh, &session, &socket, remote_socket).await?;
    Ok(Tunnel::new(ssh, session, socket, Some(dir)))
}

/// A master kept for the next berth (ssh's `ControlPersist`), found by a
/// name made of everything that shaped it: the next berth with the same
/// host config and known_hosts uses it, and skips the SSH handshake (a
/// dozen round trips: 600 ms at 30 ms RTT). Anything else gets a master of
/// its own, whose host key ssh checks strictly as always.
async fn open_persisted(
    ssh: &SshConfig,
    remote_socket: &Path,
    timeout: Duration,
    dir: &Path,
    persist: Duration,
) -> Result<Tunnel, HostError> {
    let name = dir.join(persisted::name(ssh, remote_socket));
    if let Ok(ctl) = std::fs::read_link(&name) {
        let session = Session::resume_mux(ctl.clone().into_boxed_path(), None);
        let socket = ctl.with_file_name("docker.sock");
        let alive = tokio::time::timeout(Duration::from_secs(2), session.check())
            .await
            .is_ok_and(|r| r.is_ok());
        if alive && socket.exists() {
            tracing::debug!(host = %destination(ssh), "using the kept connection");
            return Ok(Tunnel::new(ssh, session, socket, None));
        }
        // Its master has ended (idle, or its host went away).
        let _ = std::fs::remove_file(&name);
    }
    persisted::sweep(dir);
    let session = connect(ssh, timeout, dir, persist).await?;
    // The crate's own directory for this master: its socket, and the
    // forwarded Docker socket beside it. Detached, the master outlives
    // this berth; resumed, dropping the session leaves it running.
    let (ctl, _) = session.detach();
    let session = Session::resume_mux(ctl.clone(), None);
    let socket = ctl.with_file_name("docker.sock");
    if let Err(e) = forward(ssh, &session, &socket, remote_socket).await {
        let _ = session.close().await;
        return Err(e);
    }
    persisted::publish(&name, &ctl);
    Ok(Tunnel::new(ssh, session, socket, None))
}

async fn connect(
    ssh: &SshConfig,
    timeout: Duration,
    control_dir: &Path,
    persist: Duration,
) -> Result<Session, HostError> {
    let mut b = SessionBuilder::default();
    let idle = usize::try_from(persist.as_secs())
        .ok()
        .and_then(std::num::NonZeroUsize::new)
        .unwrap_or(std::num::NonZeroUsize::MIN);
    b.known_hosts_check(KnownHosts::Strict)
        .connect_timeout(timeout)
        .server_alive_interval(Duration::from_secs(5))
        .control_directory(control_dir)
        .control_persist(ControlPersist::IdleFor(idle));
    if let Some(u) = &ssh.user {
        b.user(u.clone());
    }
    if let Some(p) = ssh.port {
        b.port(p);
    }
    if let Some(k) = &ssh.identity_file {
        b.keyfile(expand(k));
    }
    if let Some(kh) = &ssh.known_hosts {
        b.user_known_hosts_file(expand(kh));
    }
    if let Some(j) = &ssh.jump {
        b.jump_hosts([j]);
    }
    if ssh.identities_only || ssh.proxy_command.is_some() {
        let file = own_config(control_dir, ssh).map_err(|reason| HostError::Connect {
            destination: destination(ssh),
            reason,
        })?;
        b.config_file(file);
    } else if let Some(c) = &ssh.config_file {
        b.config_file(expand(c));
    }
    b.connect_mux(&ssh.host).await.map_err(|e| explain(ssh, &e))
}

/// An OpenSSH config for what berth's ssh options cannot say: `IdentitiesOnly
/// yes` (only the keys named are offered, Kamal's `ssh.keys_only`) and a
/// `ProxyCommand` (Kamal's `ssh.proxy_command`), then the configs ssh would
/// have read (`config_file`, else `~/.ssh/config`; then the system's, which
/// `-F` would otherwise skip). Written in the control directory, which only
/// this user can read, under a name made of its text.
fn own_config(control_dir: &Path, ssh: &SshConfig) -> Result<PathBuf, String> {
    use sha2::{Digest, Sha256};
    let mut text = String::new();
    if ssh.identities_only {
        text.push_str("IdentitiesOnly yes\n");
    }
    if let Some(command) = &ssh.proxy_command {
        // One line: a line break would start a directive of its own.
        if command.chars().any(char::is_control) {
            return Err("ssh proxy_command holds a control character or line break".into());
        }
        text.push_str(&format!("ProxyCommand {command}\n"));
    }
    let user = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ssh/config"));
    let own = ssh.config_file.as_deref().map(expand).or(user);
    for p in [own, Some(PathBuf::from("/etc/ssh/ssh_config"))]
        .into_iter()
        .flatten()
        .filter(|p| p.is_file())
    {
        // OpenSSH reads an `Include` path with spaces only quoted.
        text.push_str(&format!("Include \"{}\"\n", p.display()));
    }
    let digest: String = Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    let file = control_dir.join(format!("ssh-config-{digest}"));
    if std::fs::read_to_string(&file).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&file, &text).map_err(|e| format!("writing {}: {e}", file.display()))?;
    }
    Ok(file)
}

/// The host's Docker socket forwarded to `socket` here.
async fn forward(
    ssh: &SshConfig,
    session: &Session,
    socket: &Path,
    remote_socket: &Path,
) -> Result<(), HostError> {
    session
        .request_port_forward(
            ForwardType::Local,
            Socket::UnixSocket {
                path: socket.into(),
            },
            Socket::UnixSocket {
                path: remote_socket.into(),
            },
        )
        .await
        .map_err(|e| HostError::Forward {
            destination: destination(ssh),
            what: remote_socket.display().to_string(),
            reason: chain(&e),
            hint: " (does sshd allow AllowStreamLocalForwarding?)",
        })
}

impl Tunnel {
    fn new(
        ssh: &SshConfig,
        session: Session,
        socket: PathBuf,
        dir: Option<tempfile::TempDir>,
    ) -> Tunnel {
        Tunnel {
            session: Arc::new(session),
            sessions: Arc::new(tokio::sync::Semaphore::new(MAX_SESSIONS)),
            helpers: helper::Helpers::default(),
            forwarded: Mutex::default(),
            socket,
            destination: destination(ssh),
            _dir: dir,
        }
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_text = crate::sanitize::one_line(&s.to_string());
        if !s_text.is_empty() && !out.contains(&s_text) {
            out.push_str(": ");
            out.push_str(&s_text);
        }
        src = s.source();
    }
    out
}

/// ssh's own words, with what to do for the failures operators meet.
fn explain(ssh: &SshConfig, e: &openssh::Error) -> HostError {
    let dest = destination(ssh);
    let text = chain(e);
    let known = ssh
        .known_hosts
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "~/.ssh/known_hosts".into());
    let port = ssh.port.map(|p| format!("-p {p} ")).unwrap_or_default();
    let hint = if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        format!(
            "the host key of {} CHANGED since it was recorded in {known}; berth refuses to connect. If the change is expected (reinstalled host), remove the old key with `ssh-keygen -R {}` and add the new one after checking its fingerprint",
            ssh.host, ssh.host
        )
    } else if text.contains("Host key verification failed")
        || text.contains("No ED25519 host key is known")
        || text.contains("host key is known")
    {
        format!(
            "the host key of {} is not in {known}; berth checks host keys strictly and never accepts an unknown one. Check the key's fingerprint out of band, then add it: `ssh-keyscan {port}{} >> {known}`",
            ssh.host, ssh.host
        )
    } else if text.contains("Permission denied") {
        "berth authenticates with keys only (no passwords): set `identity_file`, or load the key into ssh-agent".to_string()
    } else {
        return HostError::Connect {
            destination: dest,
            reason: text,
        };
    };
    HostError::Connect {
        destination: dest,
        reason: format!("{hint} ({text})"),
    }
}
