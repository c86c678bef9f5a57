//! The request that proves a switch: `GET <health path>` through the proxy,
//! with the `X-Berth-Probe` header, which berth's nginx config answers with
//! the route's generation in `X-Berth-Generation`. Plain HTTP/1.1 over TCP,
//! one connection per attempt, every read and write under a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;

pub const PROBE_HEADER: &str = "X-Berth-Probe";
pub const GENERATION_HEADER: &str = "X-Berth-Generation";

/// What the proxy answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub generation: Option<String>,
    /// The `Server` header (`nginx/1.22.1`), cleaned.
    pub server: Option<String>,
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..400).contains(&self.status)
    }
}

/// The Host header for a route's names: its first name, with a wildcard's
/// `*` replaced; `localhost` when it answers any name.
pub fn host_header(domains: &[String]) -> String {
    match domains.first() {
        Some(d) => match d.strip_prefix("*.") {
            Some(rest) => format!("berth-probe.{rest}"),
            None => d.clone(),
        },
        None => "localhost".into(),
    }
}

/// Where the probe connects: the proxy's port on this machine, or a local
/// socket forwarded to it through an SSH host's connection.
#[derive(Clone, Debug)]
pub enum Via {
    Tcp(SocketAddr),
    Unix {
        socket: std::path::PathBuf,
        /// What to call it in messages: the host's port, not the socket.
        shown: String,
    },
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Tcp(a) => write!(f, "{a}"),
            Via::Unix { shown, .. } => f.write_str(shown),
        }
    }
}

/// Why a probe got no HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Nothing accepted the connection.
    #[error("connecting to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    /// The connection broke while sending or reading.
    #[error("{doing} {addr}: {source}")]
    Io {
        doing: &'static str,
        addr: String,
        source: std::io::Error,
    },
    /// Something answered, but not HTTP (`said`: the first bytes, cleaned;
    /// empty when it closed at once).
    #[error("{addr} did not answer HTTP: {said:?}")]
    NotHttp { addr: String, said: String },
    #[error("{addr} did not answer within {}", crate::config::duration::format(*deadline))]
    Timeout { addr: String, deadline: Duration },
}

impl ProbeError {
    /// Nothing listens there: refused, or (through an SSH forward, which
    /// accepts first) a channel closed at once with no word.
    pub fn nothing_listens(&self) -> bool {
        match self {
            ProbeError::Connect { source, .. } | ProbeError::Io { source, .. } => {
                source.kind() == std::io::ErrorKind::ConnectionRefused
            }
            ProbeError::NotHttp { said, .. } => said.is_empty(),
            _ => false,
        }
    }
}

/// One request through the proxy to the app (`GET path` with the probe
/// header); fails on a connection error, a timeout or a response that is
/// not HTTP.
pub async fn once(
    addr: &Via,
    host: &str,
    path: &str,
    deadline: Duration,
) -> Result<Answer, ProbeError> {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\n{PROBE_HEADER}: 1\r\nUser-Agent: berth\r\nConnection: close\r\n\r\n"
    );
    ask(addr, &req, deadline).await
}

/// The generation the proxy runs for the names `host` answers, asked of
/// nginx itself: berth's config answers `X-Berth-Probe: generation` with
/// 204 and the generation without asking the app, so a dead upstream does
/// not slow the answer (a config written before that passes the request on
/// and still says its generation).
pub async fn generation(addr: &Via, host: &str, deadline: Duration) -> Result<Answer, ProbeError> {
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\n{PROBE_HEADER}: {GENERATION_ASK}\r\nUser-Agent: berth\r\nConnection: close\r\n\r\n"
    );
    ask(addr, &req, deadline).await
}

/// What server holds the port, asked with a request no HTTP server passes
/// on (HTTP/1.1 without a Host): it answers 400 itself, with its name,
/// however slow or dead whatever it fronts is.
pub async fn identify(addr: &Via, deadline: Duration) -> Result<Answer, ProbeError> {
    ask(
        addr,
        "GET / HTTP/1.1\r\nUser-Agent: berth\r\nConnection: close\r\n\r\n",
        deadline,
    )
    .await
}

/// The probe header's value that asks for the generation alone.
pub const GENERATION_ASK: &str = "generation";

async fn ask(addr: &Via, req: &str, deadline: Duration) -> Result<Answer, ProbeError> {
    let work = async {
        let connecting = |source: std::io::Error| ProbeError::Connect {
            addr: addr.to_string(),
            source,
        };
        match addr {
            Via::Tcp(a) => {
                exchange(TcpStream::connect(a).await.map_err(connecting)?, addr, req).await
            }
            Via::Unix { socket, .. } => {
                let s = tokio::net::UnixStream::connect(socket)
                    .await
                    .map_err(connecting)?;
                exchange(s, addr, req).await
            }
        }
    };
    match timeout(deadline, work).await {
        Ok(r) => r,
        Err(_) => Err(ProbeError::Timeout {
            addr: addr.to_string(),
            deadline,
        }),
    }
}

/// The request and the response's head, over a connected stream.
async fn exchange(
    mut s: impl AsyncReadExt + AsyncWriteExt + Unpin,
    addr: &Via,
    req: &str,
) -> Result<Answer, ProbeError> {
    s.write_all(req.as_bytes())
        .await
        .map_err(|source| ProbeError::Io {
            doing: "sending to",
            addr: addr.to_string(),
            source,
        })?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    // The head is all we need; bodies are not read.
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        let n = s.read(&mut buf).await.map_err(|source| ProbeError::Io {
            doing: "reading from",
            addr: addr.to_string(),
            source,
        })?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    parse_head(&head).ok_or_else(|| ProbeError::NotHttp {
        addr: addr.to_string(),
        said: crate::sanitize::one_line(&String::from_utf8_lossy(head.get(..80).unwrap_or(&head))),
    })
}

fn parse_head(head: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next()?;
    let mut parts = status_line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let headers: Vec<(&str, &str)> = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| crate::sanitize::one_line(v.trim()))
    };
    Some(Answer {
        status,
        generation: header(GENERATION_HEADER),
        server: header("Server"),
    })
}

/// How to prove a switch: where to send the request and how long to try.
pub struct Proof<'a> {
    pub addr: &'a Via,
    pub host: &'a str,
    pub path: &'a str,
    pub interval: Duration,
    pub per_try: Duration,
    pub deadline: Duration,
}

/// Repeats the probe every `interval` until the proxy answers 2xx/3xx with
/// `generation`, or `deadline` passes (the error then says what it last
/// saw), or `cancel` fires (`Err(None)`).
pub async fn until_switched(
    proof: &Proof<'_>,
    generation: &str,
    cancel: &CancellationToken,
) -> Result<Answer, Option<String>> {
    let Proof {
        addr,
        host,
        path,
        interval,
        per_try,
        deadline,
    } = *proof;
    let end = Instant::now() + deadline;
    let last = loop {
        let seen = match once(addr, host, path, per_try).await {
            Ok(a) if a.ok() && a.generation.as_deref() == Some(generation) => return Ok(a),
            Ok(a) if a.ok() => format!(
                "answered {} from another config (generation {})",
                a.status,
                a.generation.as_deref().unwrap_or("none")
            ),
            Ok(a) => format!("answered {}", a.status),
            Err(e) => e.to_string(),
        };
        if Instant::now() + interval >= end {
            break seen;
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(None),
            _ = tokio::time::sleep(interval) => {}
        }
    };
    Err(Some(format!(
        "GET {path} (Host: {host}) through {addr} never answered from the new config within {}; last: {last}",
        crate::config::duration::format(deadline)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_generation() {
        let a = parse_head(
            b"HTTP/1.1 200 OK\r\nServer: nginx\r\nx-berth-generation: v2.17\r\n\r\nbody",
        )
        .unwrap();
        assert_eq!(
            a,
            Answer {
                status: 200,
                generation: Some("v2.17".into()),
                server: Some("nginx".into()),
            }
        );
        assert!(a.ok());
        let a = parse_head(b"HTTP/1.0 502 Bad Gateway\r\n\r\n").unwrap();
        assert_eq!(a.generation, None);
        assert!(!a.ok());
        assert_eq!(parse_head(b"SSH-2.0-OpenSSH\r\n"), None);
    }

    #[test]
    fn host_header_for_names() {
        assert_eq!(host_header(&[]), "localhost");
        assert_eq!(host_header(&["a.test".into(), "b.test".into()]), "a.test");
        assert_eq!(
            host_header(&["*.shop.test".into()]),
            "berth-probe.shop.test"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_a_clear_error() {
        // A socket bound but not listening: the port refuses connections,
        // and stays ours, so no other test can start listening on it (a
        // listener bound and dropped freed its port for another test, which
        // then answered this probe).
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = s.local_addr().unwrap();
        let e = once(&Via::Tcp(addr), "x", "/up", Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("connecting to {addr}")),
            "{e}"
        );
        assert!(e.nothing_listens(), "{e:?}");
        drop(s);
    }
}
