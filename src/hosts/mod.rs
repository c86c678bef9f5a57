//! How berth reaches each host's Docker engine.
//!
//! A host is either the engine on this machine (a unix socket) or a machine
//! reached over SSH, whose remote socket is forwarded to a private local one.
//! Either way the rest of berth sees a unix socket path to hand to bollard.
//!
//! Owns: reaching hosts (local socket, SSH with multiplexing and forwarded
//! sockets, the [`Pool`] of master connections) and their files. May
//! import `config`, `domain`, `sanitize`; must not import `docker`,
//! `inventory`, `engine` or a front end: the Docker API over a reached
//! host is `docker`'s, a layer above.
//! The layering is checked by a test (`src/layers.rs`).

pub mod address;
mod error;
pub mod files;
mod scripts;
pub mod ssh;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{HostConfig, SshConfig};
pub use error::HostError;
pub use files::{Files, FilesError, HostPath, Kind, Removed};
pub use ssh::Pool;

/// The default Docker socket on a host.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where a host's Docker engine is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// An engine at a unix socket on this machine.
    Local { socket: PathBuf },
    /// An engine on another machine, reached over SSH.
    Ssh {
        ssh: SshConfig,
        remote_socket: PathBuf,
    },
    /// An engine at a TCP address (`tcp://`), with TLS when it asks.
    Tcp { addr: String, tls: Option<Tls> },
    /// An address berth cannot use (an unknown scheme, a context that is
    /// not there, TLS files missing): reaching it is an error naming it.
    Invalid { given: String, why: String },
}

/// The client certificate and the CA a TLS engine is checked against
/// (`ca.pem`, `cert.pem`, `key.pem`, as `DOCKER_CERT_PATH` holds them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl Endpoint {
    /// The endpoint a host's config describes: `ssh:` (with `socket:`),
    /// `socket:`, `docker:` (an address as `DOCKER_HOST` takes it) or
    /// `context:`; a host with none of them is this machine's engine as the
    /// docker CLI finds it (`--context`, `DOCKER_HOST`, `DOCKER_CONTEXT`,
    /// the current context, the default socket).
    pub fn from_config(host: &HostConfig) -> Self {
        let env = address::Process;
        if let Some(ssh) = &host.ssh {
            return Endpoint::Ssh {
                ssh: ssh.clone(),
                remote_socket: host
                    .socket
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
            };
        }
        if let Some(socket) = &host.socket {
            return Endpoint::Local {
                socket: socket.clone(),
            };
        }
        if let Some(addr) = &host.docker {
            return address::parse(addr, &env);
        }
        if let Some(name) = &host.context {
            return address::context(name, &env);
        }
        local().0
    }

    /// How the host's engine is found (for the header and `status`):
    /// `berth.yaml`, `DOCKER_HOST`, `docker context prod`, `the default
    /// socket`; without finding it (no file is read:
    /// a status report asks on every change the console sees).
    pub fn origin(host: &HostConfig) -> String {
        match (&host.ssh, &host.socket, &host.docker, &host.context) {
            (None, None, None, Some(name)) => format!("berth.yaml (docker context {name})"),
            (None, None, None, None) => local().1,
            _ => "berth.yaml".into(),
        }
    }

    /// How the endpoint is shown to people: `unix:///var/run/docker.sock`,
    /// `ssh://deploy@web-1:22`, `tcp://10.0.0.5:2376`.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Local { socket } => format!("unix://{}", socket.display()),
            Endpoint::Ssh { ssh, .. } => ssh::destination(ssh),
            Endpoint::Tcp { addr, .. } => format!("tcp://{addr}"),
            Endpoint::Invalid { given, .. } => given.clone(),
        }
    }
}

/// This machine's engine, found once a process: the environment and the
/// docker config do not change under a running berth.
fn local() -> (Endpoint, String) {
    static LOCAL: std::sync::OnceLock<(Endpoint, String)> = std::sync::OnceLock::new();
    LOCAL
        .get_or_init(|| address::local(&address::Process))
        .clone()
}

/// What berth talks to for a reached engine: a unix socket (this
/// machine's, or an SSH host's forwarded here), or a TCP address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Unix(PathBuf),
    Tcp { addr: String, tls: Option<Tls> },
}

/// A host's engine as bollard can talk to it, and what keeps it open (the
/// SSH tunnel, for SSH hosts).
pub struct Reach {
    pub target: Target,
    tunnel: Option<Arc<ssh::Tunnel>>,
}

impl Reach {
    /// The engine on this machine at `socket`.
    pub fn local(socket: PathBuf) -> Self {
        Reach {
            target: Target::Unix(socket),
            tunnel: None,
        }
    }

    /// The SSH connection behind the socket, for an SSH host.
    pub fn tunnel(&self) -> Option<&ssh::Tunnel> {
        self.tunnel.as_deref()
    }
}

/// Where berth's state directory (locks, history) is on a host. On this
/// machine `~` expands to the home of the user berth runs as; on an SSH host
/// the path is relative to the login directory unless absolute (`~/x` is
/// `x`), since no remote shell expands it.
pub fn state_path(host: &HostConfig) -> Result<PathBuf, HostError> {
    let dir = host
        .state_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("~/.berth"));
    let Ok(rest) = dir.strip_prefix("~") else {
        return Ok(dir);
    };
    if host.ssh.is_some() {
        return Ok(if rest.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rest.to_path_buf()
        });
    }
    let home = std::env::var_os("HOME").ok_or_else(|| {
        HostError::Local("HOME is not set (berth's state directory is ~/.berth)".into())
    })?;
    Ok(PathBuf::from(home).join(rest))
}

impl Pool {
    /// Reaches `endpoint` within `timeout`: the local socket as it is, or
    /// the SSH host's socket forwarded over its (shared) master connection.
    pub async fn reach(&self, endpoint: &Endpoint, timeout: Duration) -> Result<Reach, HostError> {
        match endpoint {
            Endpoint::Local { socket } => Ok(Reach::local(socket.clone())),
            Endpoint::Tcp { addr, tls } => Ok(Reach {
                target: Target::Tcp {
                    addr: addr.clone(),
                    tls: tls.clone(),
                },
                tunnel: None,
            }),
            Endpoint::Invalid { given, why } => {
                Err(HostError::Local(format!("the engine {given}: {why}")))
            }
            Endpoint::Ssh { ssh, remote_socket } => {
                let t = self.tunnel(ssh, remote_socket, timeout).await?;
                Ok(Reach {
                    target: Target::Unix(t.socket.clone()),
                    tunnel: Some(t),
                })
            }
        }
    }

    /// berth's state directory on a host, ready for file operations: on an
    /// SSH host through its master connection (opened within `timeout` if
    /// no part of berth holds it yet).
    pub async fn state_dir(
        &self,
        host: &HostConfig,
        timeout: Duration,
    ) -> Result<HostPath, HostError> {
        self.on_host(host, state_path(host)?, timeout).await
    }

    /// `path` on a host, ready for file operations and commands (through
    /// the host's shared SSH connection, for an SSH host).
    pub async fn on_host(
        &self,
        host: &HostConfig,
        path: PathBuf,
        timeout: Duration,
    ) -> Result<HostPath, HostError> {
        // Files are where the host's config says: over SSH for an `ssh:`
        // host; on this machine otherwise, whichever engine it talks to.
        match (&host.ssh, Endpoint::from_config(host)) {
            (Some(_), Endpoint::Ssh { ssh, remote_socket }) => {
                let tunnel = self.tunnel(&ssh, &remote_socket, timeout).await?;
                Ok(HostPath {
                    files: Files::Ssh(tunnel, ssh::destination(&ssh)),
                    path,
                })
            }
            _ => Ok(HostPath::local(path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_paths_on_this_machine_and_over_ssh() {
        let host = |dir: Option<&str>, ssh: bool| HostConfig {
            state_dir: dir.map(PathBuf::from),
            ssh: ssh.then(|| SshConfig {
                host: "web-1".into(),
                user: None,
                port: None,
                identity_file: None,
                identities_only: false,
                proxy_command: None,
                jump: None,
                known_hosts: None,
                config_file: None,
                persist: None,
            }),
            ..Default::default()
        };
        let home = PathBuf::from(std::env::var_os("HOME").expect("tests run with HOME"));
        assert_eq!(state_path(&host(None, false)).unwrap(), home.join(".berth"));
        assert_eq!(
            state_path(&host(Some("~/s"), false)).unwrap(),
            home.join("s")
        );
        assert_eq!(
            state_path(&host(Some("/srv/b"), false)).unwrap(),
            PathBuf::from("/srv/b")
        );
        // Over SSH, relative to the login directory: no remote shell expands `~`.
        assert_eq!(
            state_path(&host(None, true)).unwrap(),
            PathBuf::from(".berth")
        );
        assert_eq!(
            state_path(&host(Some("~"), true)).unwrap(),
            PathBuf::from(".")
        );
        assert_eq!(
            state_path(&host(Some("/srv/b"), true)).unwrap(),
            PathBuf::from("/srv/b")
        );
    }

    #[test]
    fn describes_endpoints() {
        let local = Endpoint::from_config(&HostConfig {
            socket: Some("/run/d.sock".into()),
            ..Default::default()
        });
        assert_eq!(local.describe(), "unix:///run/d.sock");
        let ssh = Endpoint::from_config(&HostConfig {
            ssh: Some(SshConfig {
                host: "web-1".into(),
                user: Some("deploy".into()),
                port: Some(2222),
                identity_file: None,
                identities_only: false,
                proxy_command: None,
                jump: None,
                known_hosts: None,
                config_file: None,
                persist: None,
            }),
            ..Default::default()
        });
        assert_eq!(ssh.describe(), "ssh://deploy@web-1:2222");
    }
}
