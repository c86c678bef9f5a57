//! Talking to Docker engines through bollard.
//!
//! Engines in the field are often older than bollard's default API version
//! (this project's CI runs 20.10, API 1.41), so every connection negotiates
//! the version down to what the engine speaks.
//!
//! The one door to Docker: every bollard call in berth is in this module.
//! A [`Gateway`] (made once per process and passed down) reaches each
//! host through `hosts` and keeps one client per engine; a [`Client`] is
//! one engine's client with an operation per thing berth asks of Docker,
//! answering in `domain` types and [`DockerError`].
//!
//! Owns: bollard calls, the client pool, and conversion to `domain` types.
//! May import `config`, `domain`, `hosts`, `labels`, `sanitize`; must not
//! import `inventory`, `engine` or a front end.
//! The layering is checked by a test (`src/layers.rs`).

pub mod build;
mod client;
mod compose;
pub mod containers;
pub mod convert;
mod exec;
mod gateway;
mod image;
mod logs;
mod resources;

pub use client::{Client, ProxyFacts, Sampler, Snapshot};
pub use compose::Member as ComposeMember;
pub use containers::{ContainerSpec, Listed, NETWORK};
pub use exec::Attached;
pub use gateway::Gateway;
pub use image::Login;
pub use logs::{LineSplitter, LogChunk, LogRange, Stream as LogStream, split_timestamp};
pub use resources::{Resource, ResourceKind};

use std::path::Path;
use std::time::Duration;

use bollard::Docker;

use crate::domain::EngineInfo;
pub use client::DiskUse;

/// Why an engine, or one request to it, failed: one type for the layer,
/// with the operation and the engine's own answer as fields.
#[derive(Clone, Debug, thiserror::Error)]
pub enum DockerError {
    /// The host could not be reached (its SSH connection, a missing HOME).
    #[error(transparent)]
    Host(#[from] crate::hosts::HostError),
    #[error("cannot reach Docker at {endpoint}: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("Docker at {endpoint} did not answer within {}s", timeout.as_secs_f32())]
    Timeout { endpoint: String, timeout: Duration },
    /// An SSH host was reached but its engine did not answer through the
    /// forwarded socket.
    #[error("{endpoint}: the Docker socket {socket} did not answer through the tunnel: {source}")]
    Tunnel {
        endpoint: String,
        socket: String,
        source: Box<DockerError>,
    },
    /// The engine answered a request with an error status.
    #[error("{what}: engine answered {status}: {message}")]
    Api {
        what: String,
        status: u16,
        message: String,
    },
    /// A request failed on the way (connection, stream, decoding).
    #[error("{what}: {reason}")]
    Request { what: String, reason: String },
    /// A request got no answer within its deadline.
    #[error("{what}: the engine did not answer in time")]
    NoAnswer { what: String },
}

impl DockerError {
    /// The error of `what` (an operation, in words: `creating web-1`).
    pub(crate) fn of(what: impl Into<String>, e: &bollard::errors::Error) -> Self {
        let what = what.into();
        match e {
            bollard::errors::Error::DockerResponseServerError {
                status_code,
                message,
            } => DockerError::Api {
                what,
                status: *status_code,
                message: crate::sanitize::one_line(message),
            },
            other => DockerError::Request {
                what,
                reason: describe(other),
            },
        }
    }

    /// The engine said the thing asked for does not exist (any more).
    pub fn is_not_found(&self) -> bool {
        matches!(self, DockerError::Api { status: 404, .. })
    }

    /// The engine's own words for an API error, without the operation.
    pub fn reason(&self) -> String {
        match self {
            DockerError::Api {
                status, message, ..
            } => {
                format!("engine answered {status}: {message}")
            }
            DockerError::Request { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}

/// How long one API request may take to answer (its headers; streams such as
/// events and logs may then run for as long as they produce data). Waits
/// that can legitimately take longer carry their own deadlines.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Connects to the engine at a unix socket, negotiates the API version and
/// reads the engine's version, all within `timeout`.
pub(crate) async fn connect(
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
        let (docker, _) = speaking(socket, None).map_err(|e| unreachable(describe(&e)))?;
        // One round trip: the engine's version answer also says which API
        // version to speak (bollard's negotiate_version would ask twice).
        let v = docker
            .version()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        let theirs = v.api_version.as_deref().and_then(parse_api_version);
        let (docker, negotiated) =
            speaking(socket, theirs).map_err(|e| unreachable(describe(&e)))?;
        // What an engine says of itself is outside text like any other.
        let clean = crate::sanitize::one_line;
        let info = EngineInfo {
            product: product_of(&v).into(),
            version: clean(v.version.as_deref().unwrap_or("unknown")),
            api_version: format!("{}.{}", negotiated.major_version, negotiated.minor_version),
            os: clean(v.os.as_deref().unwrap_or_default()),
            arch: clean(v.arch.as_deref().unwrap_or_default()),
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

/// Opens a client for a reached engine: a unix socket (see [`open`]) or a
/// TCP address, plain or TLS (the API version negotiated with one
/// `/version`), within `timeout`.
pub(crate) async fn open_target(
    target: &crate::hosts::Target,
    timeout: Duration,
) -> Result<Docker, DockerError> {
    use crate::hosts::Target;
    let (addr, tls) = match target {
        Target::Unix(socket) => return open(socket, timeout).await,
        Target::Tcp { addr, tls } => (addr, tls),
    };
    let endpoint = format!("tcp://{addr}");
    let unreachable = |reason: String| DockerError::Unreachable {
        endpoint: endpoint.clone(),
        reason,
    };
    let client = |version: &bollard::ClientVersion| match tls {
        None => Docker::connect_with_http(addr, REQUEST_TIMEOUT.as_secs(), version),
        Some(t) => Docker::connect_with_ssl(
            addr,
            &t.key,
            &t.cert,
            &t.ca,
            REQUEST_TIMEOUT.as_secs(),
            version,
        ),
    };
    let work = async {
        let ours = *bollard::API_DEFAULT_VERSION;
        let docker = client(&ours).map_err(|e| unreachable(describe(&e)))?;
        let v = docker
            .version()
            .await
            .map_err(|e| unreachable(describe(&e)))?;
        let theirs = v
            .api_version
            .as_deref()
            .and_then(parse_api_version)
            .filter(|t| *t < ours)
            .unwrap_or(ours);
        client(&theirs).map_err(|e| unreachable(describe(&e)))
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| DockerError::Timeout { endpoint, timeout })?
}

/// Connects to the engine at a unix socket and settles the API version with
/// one cheap `/_ping` (its `Api-Version` header), within `timeout`. For the
/// inventory's watchers, which read the engine's details from `/info`
/// alongside the container list: a console's first frame waits for no
/// other round trip. Falls back to [`connect`] (and its errors) when the
/// ping does not answer with a version.
pub(crate) async fn open(socket: &Path, timeout: Duration) -> Result<Docker, DockerError> {
    let ping = tokio::time::timeout(timeout, ping_api_version(socket))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    if ping.is_none() {
        return connect(socket, timeout).await.map(|(d, _)| d);
    }
    speaking(socket, ping)
        .map(|(d, _)| d)
        .map_err(|e| DockerError::Unreachable {
            endpoint: format!("unix://{}", socket.display()),
            reason: describe(&e),
        })
}

/// A client for the socket speaking the lower of the engine's API version
/// (`theirs`, when known) and bollard's own.
fn speaking(
    socket: &Path,
    theirs: Option<bollard::ClientVersion>,
) -> Result<(Docker, bollard::ClientVersion), bollard::errors::Error> {
    let ours = *bollard::API_DEFAULT_VERSION;
    let version = theirs.filter(|t| *t < ours).unwrap_or(ours);
    let docker = Docker::connect_with_unix(
        &socket.to_string_lossy(),
        REQUEST_TIMEOUT.as_secs(),
        &version,
    )?;
    Ok((docker, version))
}

/// `GET /_ping` on the socket; the engine's API version from its headers.
async fn ping_api_version(socket: &Path) -> std::io::Result<Option<bollard::ClientVersion>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::UnixStream::connect(socket).await?;
    stream
        .write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
        .await?;
    let mut head = Vec::with_capacity(512);
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        if stream.read_buf(&mut head).await? == 0 {
            break;
        }
    }
    Ok(api_version_header(&String::from_utf8_lossy(&head)))
}

fn api_version_header(head: &str) -> Option<bollard::ClientVersion> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("api-version")
            .then(|| parse_api_version(v))
            .flatten()
    })
}

/// `1.41` as a client version.
fn parse_api_version(v: &str) -> Option<bollard::ClientVersion> {
    let (major, minor) = v.trim().split_once('.')?;
    Some(bollard::ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// A bollard error in words an operator can act on.
pub(crate) fn describe(e: &bollard::errors::Error) -> String {
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
            // What the operator acts on is the last cause (`tcp connect
            // error: Connection refused`), not hyper's wrappers around it.
            for wrapper in [
                "Error in the hyper legacy client: ",
                "client error (Connect): ",
            ] {
                text = text.replace(wrapper, "");
            }
            text
        }
    };
    crate::sanitize::one_line(&text)
}

/// True when the engine says the container does not exist (any more).
/// What answers: Podman's service names a component `Podman Engine` in
/// its version answer; anything else is Docker.
pub(crate) fn product_of(v: &bollard::models::SystemVersion) -> &'static str {
    let podman = v
        .components
        .iter()
        .flatten()
        .any(|c| c.name.to_ascii_lowercase().contains("podman"));
    if podman { "podman" } else { "docker" }
}

pub(crate) fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_version_comes_from_the_ping_headers() {
        let head = "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nDocker-Experimental: false\r\n\r\n";
        let v = api_version_header(head).unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
        assert!(api_version_header("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n").is_none());
        assert!(api_version_header("HTTP/1.1 200 OK\r\napi-version: one\r\n\r\n").is_none());
    }

    #[test]
    fn podman_is_told_from_docker_by_its_version_answer() {
        // As Podman 4.3.1's service and Docker 20.10 answer `/version`.
        let podman: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Components":[{"Name":"Podman Engine","Version":"4.3.1"},{"Name":"Conmon","Version":"2.1.6"}],"Version":"4.3.1","ApiVersion":"1.41"}"#,
        )
        .unwrap();
        let docker: bollard::models::SystemVersion = serde_json::from_str(
            r#"{"Components":[{"Name":"Engine","Version":"20.10.24"},{"Name":"containerd","Version":"1.6.20"}],"Version":"20.10.24","ApiVersion":"1.41"}"#,
        )
        .unwrap();
        assert_eq!(product_of(&podman), "podman");
        assert_eq!(product_of(&docker), "docker");
        assert_eq!(product_of(&Default::default()), "docker");
    }
}
