//! What can go wrong reaching a host: one type for the layer, with the
//! host's destination and the failed operation as fields, so a caller can
//! tell a connection that could not be made from a command that failed on
//! a live one, and a message can name both.

use std::time::Duration;

use crate::config::duration;

/// Why a host, or a command on it, could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// No SSH connection: ssh's own words, with what to do where berth
    /// knows (host keys, authentication).
    #[error("{destination}: {reason}")]
    Connect { destination: String, reason: String },
    /// No SSH connection within the deadline.
    #[error("{destination}: no SSH connection within {}", duration::format(*timeout))]
    ConnectTimeout {
        destination: String,
        timeout: Duration,
    },
    /// The connection is up but a socket or port could not be forwarded.
    #[error("{destination}: forwarding {what} to a local socket: {reason}{hint}")]
    Forward {
        destination: String,
        what: String,
        reason: String,
        hint: &'static str,
    },
    /// A command could not run on the host (the connection failed under it).
    #[error("running {program} over ssh: {reason}")]
    Run { program: String, reason: String },
    /// A command on an SSH host did not finish in time (abandoned).
    #[error("{program} over ssh did not finish within {}", duration::format(*timeout))]
    RunTimeout { program: String, timeout: Duration },
    /// A command on this machine did not finish in time.
    #[error("{program} did not finish within {}; killed", duration::format(*timeout))]
    Killed { program: String, timeout: Duration },
    /// A command on this machine could not start.
    #[error("cannot run {program}: {reason}")]
    Spawn { program: String, reason: String },
    /// A flock on a file of the host could not be taken or did not answer.
    #[error("flock {path} over ssh {reason}")]
    Flock { path: String, reason: String },
    /// Something on this machine, needed to reach the host, failed.
    #[error("{0}")]
    Local(String),
}

impl HostError {
    /// True when the failure is the connection itself (not a command's own
    /// failure): the next action reconnects.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            HostError::Connect { .. } | HostError::ConnectTimeout { .. } | HostError::Run { .. }
        )
    }
}
