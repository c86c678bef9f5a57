//! Why a step of a run failed: one type for the engine, with the host as a
//! field and the lower layer's error kept as it came, so a caller can tell
//! a host whose connection dropped from a lock held by someone else or an
//! image the registry refused, and every message still names the host.

use crate::config::HostName;
use crate::docker::DockerError;
use crate::hosts::{FilesError, HostError};

/// A step's failure, and where.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// On one host of the stage.
    #[error("host {host}: {cause}")]
    OnHost { host: HostName, cause: Cause },
    /// Not tied to one host (the plan, the secrets, a hook on this machine).
    #[error("{0}")]
    Run(Cause),
    /// Several hosts failed: one line each.
    #[error("{}", lines(.0))]
    Several(Vec<Failure>),
}

/// What went wrong, as the layer below said it.
#[derive(Debug, thiserror::Error)]
pub enum Cause {
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error(transparent)]
    Lock(#[from] super::lock::LockError),
    #[error(transparent)]
    Nginx(#[from] super::proxy::nginx::NginxError),
    #[error(transparent)]
    Config(#[from] crate::config::NotDeclared),
    #[error(transparent)]
    Proxy(#[from] super::proxy::ProxyError),
    /// What berth found wrong itself (a health gate, a task's exit code,
    /// a proxy's answer), in words.
    #[error("{0}")]
    Said(String),
    /// Something that stops the action before it changes anything, in
    /// words: the app's lock held by someone else (a refusal, not a
    /// failure).
    #[error("{0}")]
    Refused(String),
}

fn lines(all: &[Failure]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl From<String> for Cause {
    fn from(s: String) -> Self {
        Cause::Said(s)
    }
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Run(Cause::Said(s))
    }
}

impl Failure {
    /// Maps a lower layer's error to a failure on `host`.
    pub fn on<E: Into<Cause>>(host: &HostName) -> impl Fn(E) -> Failure + use<E> {
        let host = host.clone();
        move |e| Failure::OnHost {
            host: host.clone(),
            cause: e.into(),
        }
    }

    /// A failure on `host` in berth's own words.
    pub fn at(host: &HostName, said: impl Into<String>) -> Failure {
        Failure::OnHost {
            host: host.clone(),
            cause: Cause::Said(said.into()),
        }
    }

    /// The hosts it names.
    pub fn hosts(&self) -> Vec<&HostName> {
        match self {
            Failure::OnHost { host, .. } => vec![host],
            Failure::Run(_) => Vec::new(),
            Failure::Several(all) => all.iter().flat_map(Failure::hosts).collect(),
        }
    }

    /// What kind of failure this is, for the run's result.
    pub fn kind(&self) -> super::event::FailureKind {
        use super::event::FailureKind;
        let held = |c: &Cause| {
            matches!(
                c,
                Cause::Lock(super::lock::LockError::Held(_)) | Cause::Refused(_)
            )
        };
        if self.is_connection() {
            FailureKind::Unreachable
        } else if match self {
            Failure::OnHost { cause, .. } | Failure::Run(cause) => held(cause),
            Failure::Several(all) => all.iter().all(|f| f.kind() == FailureKind::Refused),
        } {
            FailureKind::Refused
        } else {
            FailureKind::Failed
        }
    }

    /// True when a host's connection failed under the step (the next
    /// action reconnects), as opposed to something the host answered.
    pub fn is_connection(&self) -> bool {
        match self {
            Failure::OnHost { cause, .. } | Failure::Run(cause) => match cause {
                Cause::Host(e) => e.is_connection(),
                Cause::Docker(DockerError::Host(e)) => e.is_connection(),
                Cause::Docker(
                    DockerError::Unreachable { .. }
                    | DockerError::Timeout { .. }
                    | DockerError::Tunnel { .. },
                ) => true,
                _ => false,
            },
            Failure::Several(all) => all.iter().any(Failure::is_connection),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_its_host_and_keeps_its_kind() {
        let web = HostName::new("web-1").unwrap();
        let lost = Failure::on(&web)(HostError::ConnectTimeout {
            destination: "ssh://deploy@web-1".into(),
            timeout: std::time::Duration::from_secs(10),
        });
        assert_eq!(
            lost.to_string(),
            "host web-1: ssh://deploy@web-1: no SSH connection within 10s"
        );
        assert!(lost.is_connection());
        assert_eq!(lost.kind(), crate::engine::FailureKind::Unreachable);
        assert_eq!(lost.hosts(), [&web]);
        let refused = Failure::on(&web)(DockerError::Api {
            what: "creating shop-web-v2".into(),
            status: 409,
            message: "Conflict".into(),
        });
        assert!(!refused.is_connection());
        assert_eq!(refused.kind(), crate::engine::FailureKind::Failed);
        assert_eq!(
            refused.to_string(),
            "host web-1: creating shop-web-v2: engine answered 409: Conflict"
        );
        let both = Failure::Several(vec![
            lost,
            Failure::at(&web, "release task exited with code 3"),
        ]);
        assert!(both.is_connection());
        assert_eq!(both.to_string().lines().count(), 2);
    }

    #[test]
    fn a_lock_held_by_someone_else_is_a_refusal_alone_or_on_every_host() {
        use crate::engine::FailureKind;
        let a = HostName::new("a").unwrap();
        let held = || Failure::Run(Cause::Refused("shop is locked by ann".into()));
        assert_eq!(held().kind(), FailureKind::Refused);
        assert_eq!(held().to_string(), "shop is locked by ann");
        assert_eq!(
            Failure::Several(vec![held(), held()]).kind(),
            FailureKind::Refused
        );
        // One host refusing while another failed is a failure.
        let mixed = Failure::Several(vec![held(), Failure::at(&a, "exited 1")]);
        assert_eq!(mixed.kind(), FailureKind::Failed);
    }
}
