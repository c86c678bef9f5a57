//! What the front ends follow live: one container's log, an app's logs
//! merged across its hosts, and a container's CPU and memory.

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::Session;
use crate::config::{Config, HostConfig};
use crate::docker::{DockerError, LineSplitter, LogChunk, LogRange, LogStream};
use crate::domain::Usage;
use crate::inventory::logs::{self, AppLogs, OpenError, Request};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A log line's Docker timestamp (when read with timestamps) and its text.
pub use crate::docker::split_timestamp;

/// An app's running containers on all its hosts, merged by time.
pub async fn app_logs(
    config: &Config,
    session: &Session,
    req: Request,
) -> Result<AppLogs, OpenError> {
    logs::open(config, &session.gateway, req).await
}

/// One container's log, as cleaned lines.
pub struct ContainerLog {
    stream: Box<dyn Stream<Item = Result<LogChunk, DockerError>> + Send + Unpin>,
    out: LineSplitter,
    err: LineSplitter,
    forget: Box<dyn FnOnce() + Send>,
}

/// A line of a container's log, control sequences stripped, and whether it
/// came from stderr.
pub type LogLine = (String, bool);

impl ContainerLog {
    /// The next whole lines (possibly none, when a chunk ended mid-line);
    /// `None` when the log ended (the container stopped), or why reading
    /// failed.
    pub async fn next(&mut self) -> Option<Result<Vec<LogLine>, String>> {
        match self.stream.next().await? {
            Ok(chunk) => {
                let stderr = chunk.stream == LogStream::Stderr;
                let split = if stderr { &mut self.err } else { &mut self.out };
                Some(Ok(split
                    .push(&chunk.bytes)
                    .into_iter()
                    .map(|l| (l, stderr))
                    .collect()))
            }
            Err(e) => {
                // The next feed reconnects rather than reuse a broken client.
                (std::mem::replace(&mut self.forget, Box::new(|| ())))();
                Some(Err(format!("reading the log failed: {}", e.reason())))
            }
        }
    }

    /// What was left after the last newline, when the log ends.
    pub fn finish(mut self) -> Vec<LogLine> {
        let out = self.out.finish().map(|l| (l, false));
        let err = self.err.finish().map(|l| (l, true));
        out.into_iter().chain(err).collect()
    }
}

/// Opens one container's log on `host` from `range`.
pub async fn container_log(
    config: &Config,
    session: &Session,
    host: &str,
    id: &str,
    range: LogRange,
) -> Result<ContainerLog, String> {
    let cfg = host_config(config, host)?.clone();
    let engine = session
        .gateway
        .engine_of(&cfg, CONNECT_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let session = session.clone();
    Ok(ContainerLog {
        stream: Box::new(engine.logs(id, range)),
        out: LineSplitter::default(),
        err: LineSplitter::default(),
        forget: Box::new(move || session.forget(&cfg)),
    })
}

/// What became of a container whose followed log ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterEnd {
    /// It is running again (its restart policy restarted it): its exit
    /// code, when the engine still tells it, and its restart count.
    Restarted {
        exit_code: Option<i64>,
        restarts: i64,
    },
    /// It stopped and stays stopped.
    Stopped { exit_code: Option<i64> },
    /// It was removed.
    Gone,
}

/// After a followed log ended at `ended` (this machine's clock): whether
/// the container is running again, stays stopped, or is gone. Waits while
/// the engine restarts it (its `restarting` state, however long its back
/// off), and up to 3 s for an exited container to be restarted.
pub async fn after_log_end(
    config: &Config,
    session: &Session,
    host: &str,
    id: &str,
    ended: chrono::DateTime<chrono::Utc>,
) -> Result<AfterEnd, String> {
    use crate::domain::State;
    let engine = session.client_for(config, host, CONNECT_TIMEOUT).await?;
    let mut exit_code: Option<i64> = None;
    let settle = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        let Some(c) = engine.inspect(id).await.map_err(|e| e.to_string())? else {
            return Ok(AfterEnd::Gone);
        };
        match c.state {
            State::Running | State::Paused => {
                // Up again: an inspect now says 0; the die event says the
                // code it died with.
                if exit_code.is_none() {
                    let since = ended.timestamp() - 5;
                    exit_code = engine
                        .recent_exits(since, chrono::Utc::now().timestamp() + 1, CONNECT_TIMEOUT)
                        .await
                        .ok()
                        .and_then(|e| {
                            e.iter()
                                .find(|(k, _)| k.starts_with(id) || id.starts_with(k.as_str()))
                                .map(|(_, v)| *v)
                        });
                }
                return Ok(AfterEnd::Restarted {
                    exit_code,
                    restarts: c.restart_count,
                });
            }
            State::Restarting => {
                exit_code = exit_code.or(c.exit_code);
            }
            _ => {
                exit_code = exit_code.or(c.exit_code);
                if tokio::time::Instant::now() >= settle {
                    return Ok(AfterEnd::Stopped { exit_code });
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What following one container's log yields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Followed {
    /// Lines with Docker's timestamp (when it gave one), control sequences
    /// stripped, and whether from stderr; never a line already yielded.
    Lines(Vec<(Option<chrono::DateTime<chrono::Utc>>, String, bool)>),
    /// It exited and its restart policy started it again (its exit code
    /// when the engine still tells it, its restart count): following goes
    /// on from where it was.
    Restarted {
        exit_code: Option<i64>,
        restarts: i64,
    },
    /// The end: it stopped and stays stopped, or was removed.
    Ended(AfterEnd),
    /// The end: the log could not be read (why).
    Failed(String),
}

/// Follows one container's log from `first` through the container's
/// restarts (each told as [`Followed::Restarted`], the log read again from
/// the last line yielded, none repeated), until it stops for good, is
/// removed, or its log fails; or until the receiver is gone. The console's
/// container screen and `berth container logs -f` both follow this way.
pub async fn follow_container(
    config: &Config,
    session: &Session,
    host: &str,
    id: &str,
    first: LogRange,
    tx: &mpsc::UnboundedSender<Followed>,
) {
    let mut last: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut range = first;
    loop {
        let mut log = match container_log(config, session, host, id, range).await {
            Ok(log) => log,
            Err(why) => {
                let _ = tx.send(Followed::Failed(why));
                return;
            }
        };
        let seen = last;
        let mut keep = |lines: Vec<(String, bool)>| -> bool {
            let mut out = Vec::new();
            for (l, stderr) in lines {
                let (at, text) = split_timestamp(&l);
                if let (Some(at), Some(seen)) = (at, seen)
                    && at <= seen
                {
                    continue;
                }
                if at.is_some() {
                    last = at;
                }
                out.push((at, text.to_string(), stderr));
            }
            out.is_empty() || tx.send(Followed::Lines(out)).is_ok()
        };
        let failed = loop {
            match log.next().await {
                Some(Ok(lines)) => {
                    if !keep(lines) {
                        return;
                    }
                }
                Some(Err(why)) => break Some(why),
                None => break None,
            }
        };
        if !keep(log.finish()) {
            return;
        }
        if let Some(why) = failed {
            let _ = tx.send(Followed::Failed(why));
            return;
        }
        if !range.follow {
            return;
        }
        // The stream ended: was the container restarted?
        let ended_at = chrono::Utc::now();
        match after_log_end(config, session, host, id, ended_at).await {
            Ok(AfterEnd::Restarted {
                exit_code,
                restarts,
            }) => {
                if tx
                    .send(Followed::Restarted {
                        exit_code,
                        restarts,
                    })
                    .is_err()
                {
                    return;
                }
                range = LogRange {
                    follow: true,
                    tail: None,
                    // From the last line yielded (its second again: the
                    // lines already yielded are skipped by their time).
                    since: Some(last.map_or(ended_at.timestamp(), |t| t.timestamp())),
                    timestamps: true,
                };
            }
            Ok(end) => {
                let _ = tx.send(Followed::Ended(end));
                return;
            }
            Err(why) => {
                let _ = tx.send(Followed::Failed(why));
                return;
            }
        }
    }
}

/// Samples a container's CPU and memory every `every`, sending
/// `(id, usage)`, until the receiver is gone or the container is.
pub async fn stats(
    config: &Config,
    session: &Session,
    host: &str,
    id: &str,
    every: Duration,
    samples: mpsc::UnboundedSender<(String, Usage)>,
) {
    let Ok(cfg) = host_config(config, host) else {
        return;
    };
    let Ok(engine) = session.gateway.engine_of(cfg, CONNECT_TIMEOUT).await else {
        return;
    };
    crate::inventory::stats::poll(engine, host.to_string(), id.to_string(), every, samples).await;
}

fn host_config<'a>(config: &'a Config, host: &str) -> Result<&'a HostConfig, String> {
    config
        .fleet
        .hosts
        .iter()
        .find(|(name, _)| name.as_str() == host)
        .map(|(_, c)| c)
        .ok_or_else(|| format!("host {host} is not in the config"))
}
