//! How berth reaches each host's Docker engine.
//!
//! A host is either the engine on this machine (a unix socket) or a machine
//! reached over SSH, whose remote socket is forwarded to a private local one.
//! Either way the rest of berth sees a unix socket path to hand to bollard.

use std::path::{Path, PathBuf};

use crate::config::{HostConfig, SshConfig};

/// The default Docker socket on a host.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Where a host's Docker engine is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The engine on this machine, at a unix socket.
    Local { socket: PathBuf },
    /// An engine on another machine, reached over SSH.
    Ssh {
        ssh: SshConfig,
        remote_socket: PathBuf,
    },
}

impl Endpoint {
    /// The endpoint a host's config describes. For the local engine, an
    /// unset socket follows `DOCKER_HOST` when it names a unix socket, as the
    /// docker CLI does.
    pub fn from_config(host: &HostConfig) -> Self {
        match &host.ssh {
            Some(ssh) => Endpoint::Ssh {
                ssh: ssh.clone(),
                remote_socket: host
                    .socket
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
            },
            None => Endpoint::Local {
                socket: host.socket.clone().unwrap_or_else(default_local_socket),
            },
        }
    }

    /// How the endpoint is shown to people: `unix:///var/run/docker.sock`,
    /// `ssh://deploy@web-1:22`.
    pub fn describe(&self) -> String {
        match self {
            Endpoint::Local { socket } => format!("unix://{}", socket.display()),
            Endpoint::Ssh { ssh, .. } => {
                let user = ssh
                    .user
                    .as_deref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                let port = ssh.port.map(|p| format!(":{p}")).unwrap_or_default();
                format!("ssh://{user}{}{port}", ssh.host)
            }
        }
    }
}

fn default_local_socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// A local socket path bollard can talk to for `endpoint`.
pub fn local_socket(endpoint: &Endpoint) -> Result<&Path, String> {
    match endpoint {
        Endpoint::Local { socket } => Ok(socket),
        Endpoint::Ssh { .. } => Err(
            "SSH hosts are declared but not reachable yet: this build of berth talks to local Docker engines only (SSH transport is tracked as its own issue)"
                .into(),
        ),
    }
}

/// berth's state directory on a host (locks, history), as a local path.
/// `~` expands to the home of the user berth runs as.
pub fn state_dir(host: &HostConfig) -> Result<PathBuf, String> {
    if host.ssh.is_some() {
        return Err(
            "state on SSH hosts needs the SSH transport, which is not in this build".into(),
        );
    }
    let home = || {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or("HOME is not set")
    };
    match &host.state_dir {
        Some(p) => match p.strip_prefix("~") {
            Ok(rest) => Ok(home()?.join(rest)),
            Err(_) => Ok(p.clone()),
        },
        None => Ok(home()?.join(".berth")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                jump: None,
                known_hosts: None,
            }),
            ..Default::default()
        });
        assert_eq!(ssh.describe(), "ssh://deploy@web-1:2222");
        assert!(local_socket(&ssh).is_err());
    }
}
