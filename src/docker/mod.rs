//! Talking to Docker engines through bollard.
//!
//! Engines in the field are often older than bollard's default API version
//! (this project's CI runs 20.10, API 1.41), so every connection negotiates
//! the version down to what the engine speaks.
//!
//! Owns: bollard calls and their conversion to `domain` types. May import
//! `config`, `domain`, `labels`, `sanitize`; must not import `hosts`,
//! `inventory`, `engine` or a front end.
//! The layering is checked by a test (`src/layers.rs`).

pub mod build;
pub mod convert;

use std::path::Path;
use std::time::Duration;

use bollard::Docker;

use crate::domain::EngineInfo;

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

/// Connects to the engine at a unix socket and settles the API version with
/// one cheap `/_ping` (its `Api-Version` header), within `timeout`. For the
/// inventory's watchers, which read the engine's details from `/info`
/// alongside the container list: a console's first frame waits for no
/// other round trip. Falls back to [`connect`] (and its errors) when the
/// ping does not answer with a version.
pub async fn open(socket: &Path, timeout: Duration) -> Result<Docker, DockerError> {
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

/// The engine's clock against this machine's, in milliseconds (positive:
/// the engine is ahead), measured at the middle of one `/info` round trip;
/// `None` when the engine does not say or does not answer in `timeout`.
pub async fn clock_skew_ms(docker: &Docker, timeout: Duration) -> Option<i64> {
    let before = chrono::Utc::now();
    let info = tokio::time::timeout(timeout, docker.info())
        .await
        .ok()?
        .ok()?;
    let after = chrono::Utc::now();
    let middle = before + (after - before) / 2;
    let at = chrono::DateTime::parse_from_rfc3339(info.system_time.as_deref()?).ok()?;
    Some((at.with_timezone(&chrono::Utc) - middle).num_milliseconds())
}

/// Disk an engine uses: its images, and its containers' writable layers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskUse {
    pub images: u64,
    /// At most this much (shared layers are counted once per image).
    pub image_bytes: u64,
    pub containers: u64,
    pub container_bytes: u64,
    pub volumes: u64,
}

/// What the engine uses on disk (one list of images, one of containers with
/// their sizes, one of volumes; Docker's own `system df` sums these too).
/// Every container of the engine, running or not, as berth sees them.
pub async fn list_all(
    docker: &Docker,
    timeout: Duration,
) -> Result<Vec<crate::domain::Container>, String> {
    use bollard::query_parameters::ListContainersOptions;
    let listed = docker.list_containers(Some(ListContainersOptions {
        all: true,
        ..Default::default()
    }));
    match tokio::time::timeout(timeout, listed).await {
        Err(_) => Err("the engine did not answer in time".into()),
        Ok(Err(e)) => Err(describe(&e)),
        Ok(Ok(list)) => Ok(list.into_iter().map(convert::summary).collect()),
    }
}

pub async fn disk_use(docker: &Docker, timeout: Duration) -> Result<DiskUse, String> {
    use bollard::query_parameters::{ListContainersOptions, ListImagesOptions, ListVolumesOptions};
    let work = async {
        let images = docker
            .list_images(Some(ListImagesOptions {
                all: false,
                ..Default::default()
            }))
            .await
            .map_err(|e| describe(&e))?;
        let containers = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                size: true,
                ..Default::default()
            }))
            .await
            .map_err(|e| describe(&e))?;
        let volumes = docker
            .list_volumes(None::<ListVolumesOptions>)
            .await
            .map_err(|e| describe(&e))?;
        let bytes = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(DiskUse {
            images: images.len() as u64,
            // Layers shared between images count once per image: an upper bound.
            image_bytes: images.iter().map(|i| bytes(i.size)).sum(),
            containers: containers.len() as u64,
            container_bytes: containers.iter().filter_map(|c| c.size_rw).map(bytes).sum(),
            volumes: volumes.volumes.map_or(0, |v| v.len() as u64),
        })
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| "the engine did not answer in time".to_string())?
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
}
