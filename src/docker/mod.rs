//! Talking to Docker engines through bollard.
//!
//! Engines in the field are often older than bollard's default API version
//! (this project's CI runs 20.10, API 1.41), so every connection negotiates
//! the version down to what the engine speaks.

pub mod build;
pub mod convert;

use std::path::Path;
use std::time::Duration;

use bollard::Docker;

use crate::inventory::EngineInfo;

/// Why an engine could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("cannot reach Docker at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("Docker at {endpoint} did not answer within {}s", timeout.as_secs_f32())]
    Timeout { endpoint: String, timeout: Duration },
}

/// How long one API request may take to answer (its headers; streams such as
/// events and logs may then run for as long as they produce data). Waits
/// that can legitimately take longer carry their own deadlines.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Connects to the engine at a unix socket, negotiates the API version and
/// reads the engine's version, all within `timeout`.
pub async fn connect(
    socket: &Path,
    timeout: Duration,
) -> Result<(Docker, EngineInfo), DockerError> {
    let endpoint = format!("unix://{}", socket.display());
    let unreachable = |reason: String| DockerError::Unreachable {
        endpoint: endpoint.clone(),
        reason,
    };
    if !socket.exists() {
        return Err(unreachable(format!(
            "{} does not exist (is the Docker daemon running? is `socket:` right in the config?)",
            socket.display()
        )));
    }
    let work = async {
        let docker = Docker::connect_with_unix(
            &socket.to_string_lossy(),
            REQUEST_TIMEOUT.as_secs(),
            bollard::API_DEFAULT_VERSION,
        )
        .map_err(|e| unreachable(describe(&e)))?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        let v = docker
            .version()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        let negotiated = docker.client_version();
        let info = EngineInfo {
            version: v.version.unwrap_or_else(|| "unknown".into()),
            api_version: format!("{}.{}", negotiated.major_version, negotiated.minor_version),
            os: v.os.unwrap_or_default(),
            arch: v.arch.unwrap_or_default(),
        };
        Ok((docker, info))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| DockerError::Timeout {
            endpoint: endpoint.clone(),
            timeout,
        })?
}

/// A bollard error in words an operator can act on.
pub fn describe(e: &bollard::errors::Error) -> String {
    use bollard::errors::Error as E;
    let text = match e {
        E::DockerResponseServerError {
            status_code,
            message,
        } => {
            format!("engine answered {status_code}: {message}")
        }
        E::IOError { err } if err.kind() == std::io::ErrorKind::PermissionDenied => format!(
            "{err} (add your user to the `docker` group, or run berth as a user that may use the socket)"
        ),
        other => {
            // Hyper's errors hide the useful part in their source chain.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
    };
    crate::sanitize::one_line(&text)
}

/// True when the engine says the container does not exist (any more).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
