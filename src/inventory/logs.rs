//! An app's logs from all its hosts as one stream: every running container
//! of the app (a role's, a host's) read through its host's engine with
//! Docker's timestamps, and, when following, the containers that start
//! meanwhile attached as they start (a restart, a deploy's new version).
//! [`Merge`] puts the lines in time order. `berth logs` and the console's
//! app log both read through here.

use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{AppName, Config, DestinationName, HostName, NotDeclared, RoleName};
use crate::docker::{Client, Gateway, LineSplitter, Listed, LogRange, LogStream, split_timestamp};
use crate::labels::Selector;

/// How long reaching a host's engine may take.
const REACH: Duration = Duration::from_secs(10);

/// One line of one container, cleaned of control sequences.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Docker's timestamp of the line (`None`: the engine gave none).
    pub time: Option<DateTime<Utc>>,
    pub host: String,
    pub container: String,
    pub stderr: bool,
    pub text: String,
    /// Arrival order, to keep lines with equal times as they came.
    seq: u64,
}

impl Ord for Line {
    /// Oldest first (the merge's heap is a max-heap: reversed).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Line {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What the stream carries: lines, and containers joining and leaving it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Line(Line),
    /// A container that started while following is now read.
    Attached {
        host: String,
        container: String,
    },
    /// A followed container's log ended (it stopped).
    Ended {
        host: String,
        container: String,
    },
}

/// Which app's logs, and how much of them.
#[derive(Clone, Debug)]
pub struct Request {
    pub app: AppName,
    pub destination: Option<DestinationName>,
    /// Only this role's containers (default: every role's).
    pub role: Option<RoleName>,
    /// Only this host's containers.
    pub host: Option<HostName>,
    pub range: LogRange,
}

/// Why the logs could not be asked for at all.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    App(#[from] NotDeclared),
    #[error("app `{app}` has no role `{role}`")]
    Role { app: String, role: String },
    #[error("app `{app}` has no container placed on {on}")]
    Nowhere { app: String, on: String },
}

/// The logs being read. Dropping it stops every reader and watcher.
pub struct AppLogs {
    pub rx: mpsc::Receiver<Item>,
    /// Containers read from the start.
    pub found: usize,
    /// Hosts that could not be listed (one line each); the others are read.
    pub problems: Vec<String>,
    stop: CancellationToken,
}

impl Drop for AppLogs {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The containers whose log is being read. A reader takes its id out when
/// its stream ends and says so, so a container started again in place
/// (`docker restart`, same id) is attached again, whichever comes first:
/// the end of its old stream or the engine's `start` event.
struct Readers {
    ids: std::sync::Mutex<HashSet<String>>,
    /// How many streams ended; each watcher sees every change.
    ended: tokio::sync::watch::Sender<u64>,
    seq: std::sync::atomic::AtomicU64,
    stop: CancellationToken,
}

impl Readers {
    /// Marks a container as read; false when it already is.
    fn take(&self, id: &str) -> bool {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_string())
    }
}

/// Starts reading: the app's running containers now, and with
/// `range.follow` those that start later. Hosts that cannot be reached
/// are named in `problems`; the others are read.
pub async fn open(config: &Config, gateway: &Gateway, req: Request) -> Result<AppLogs, OpenError> {
    let app = &req.app;
    let dest = req.destination.as_ref();
    let app_cfg = config.app(app)?;
    let roles: Vec<RoleName> = match &req.role {
        Some(r) if !app_cfg.roles.contains_key(r) => {
            return Err(OpenError::Role {
                app: app.to_string(),
                role: r.to_string(),
            });
        }
        Some(r) => vec![r.clone()],
        None => app_cfg.roles.keys().cloned().collect(),
    };
    // Each (host, role) of the app, as the config places them.
    let mut places: Vec<(HostName, RoleName)> = Vec::new();
    for role in &roles {
        for host in config.role_hosts(app, role, dest) {
            if req.host.as_ref().is_none_or(|h| h == host) {
                places.push((host.clone(), role.clone()));
            }
        }
    }
    if places.is_empty() {
        return Err(OpenError::Nowhere {
            app: app.to_string(),
            on: req
                .host
                .as_ref()
                .map_or("any host".to_string(), |h| format!("host `{h}`")),
        });
    }
    let (tx, rx) = mpsc::channel::<Item>(4096);
    let stop = CancellationToken::new();
    let readers = Arc::new(Readers {
        ids: Default::default(),
        ended: tokio::sync::watch::Sender::new(0),
        seq: Default::default(),
        stop: stop.clone(),
    });
    let mut found = 0;
    let mut problems = Vec::new();
    // Hosts are reached at once, not one after another.
    let reached = futures_util::future::join_all(places.iter().map(|(host, role)| async move {
        let selector = Selector {
            app: app.to_string(),
            destination: dest.map(ToString::to_string).unwrap_or_default(),
            role: Some(role.to_string()),
            version: None,
            host: Some(host.to_string()),
        };
        let listed = async {
            let engine = gateway
                .engine_of(config.host(host).map_err(|e| e.to_string())?, REACH)
                .await
                .map_err(|e| e.to_string())?;
            let list = engine
                .list(&selector, false)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((engine, list))
        }
        .await;
        (host, selector, listed)
    }))
    .await;
    for (host, selector, listed) in reached {
        let (engine, list) = match listed {
            Ok(found) => found,
            Err(e) => {
                problems.push(format!("host {host}: {e}"));
                continue;
            }
        };
        for c in list {
            if readers.take(&c.id) {
                found += 1;
                tokio::spawn(read(
                    host.clone(),
                    engine.clone(),
                    c,
                    req.range,
                    tx.clone(),
                    readers.clone(),
                ));
            }
        }
        if req.range.follow {
            tokio::spawn(attach_new(
                host.clone(),
                engine,
                selector,
                req.range,
                tx.clone(),
                readers.clone(),
            ));
        }
    }
    Ok(AppLogs {
        rx,
        found,
        problems,
        stop,
    })
}

/// Reads one container's log into `tx`, line by line, with Docker's
/// timestamps; says when a followed log ends.
async fn read(
    host: HostName,
    engine: Client,
    container: Listed,
    range: LogRange,
    tx: mpsc::Sender<Item>,
    readers: Arc<Readers>,
) {
    let mut stream = engine.logs(
        &container.id,
        LogRange {
            timestamps: true,
            ..range
        },
    );
    let (mut out, mut err) = (LineSplitter::default(), LineSplitter::default());
    let line = |text: String, stderr: bool| {
        let (time, rest) = split_timestamp(&text);
        Item::Line(Line {
            time,
            host: host.to_string(),
            container: container.name.clone(),
            stderr,
            text: rest.to_string(),
            seq: readers
                .seq
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    };
    loop {
        let chunk = tokio::select! {
            chunk = stream.next() => chunk,
            _ = readers.stop.cancelled() => return,
        };
        let Some(Ok(chunk)) = chunk else { break };
        let stderr = chunk.stream == LogStream::Stderr;
        let split = if stderr { &mut err } else { &mut out };
        for text in split.push(&chunk.bytes) {
            if tx.send(line(text, stderr)).await.is_err() {
                return;
            }
        }
    }
    for (rest, stderr) in [(out.finish(), false), (err.finish(), true)] {
        if let Some(text) = rest {
            let _ = tx.send(line(text, stderr)).await;
        }
    }
    readers
        .ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&container.id);
    readers.ended.send_modify(|n| *n += 1);
    if range.follow {
        let _ = tx
            .send(Item::Ended {
                host: host.to_string(),
                container: container.name.clone(),
            })
            .await;
    }
}

/// While following: on every container event of the host, attaches to the
/// app's containers that run now and are not read (a newly booted one, or
/// one started again in place).
async fn attach_new(
    host: HostName,
    engine: Client,
    selector: Selector,
    range: LogRange,
    tx: mpsc::Sender<Item>,
    readers: Arc<Readers>,
) {
    let mut events = engine.container_events(host.as_str(), Some(Utc::now().timestamp()));
    let mut ended = readers.ended.subscribe();
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(_)) => {}
                _ => return,
            },
            // A stream ended: its container may already run again.
            changed = ended.changed() => if changed.is_err() { return },
            _ = readers.stop.cancelled() => return,
        }
        // What it writes from now (a second early: Docker counts whole
        // seconds), not its `--tail`/`--since`, nor what a container
        // started again in place wrote before.
        let fresh = LogRange {
            tail: None,
            since: Some(Utc::now().timestamp() - 1),
            ..range
        };
        let Ok(list) = engine.list(&selector, false).await else {
            continue;
        };
        for c in list {
            if readers.take(&c.id) {
                let attached = Item::Attached {
                    host: host.to_string(),
                    container: c.name.clone(),
                };
                if tx.send(attached).await.is_err() {
                    return;
                }
                tokio::spawn(read(
                    host.clone(),
                    engine.clone(),
                    c,
                    fresh,
                    tx.clone(),
                    readers.clone(),
                ));
            }
        }
    }
}

/// Lines from several streams put in time order: each waits `window` for
/// older lines from slower streams before it is given out.
#[derive(Debug)]
pub struct Merge {
    heap: BinaryHeap<Line>,
    window: chrono::Duration,
}

impl Merge {
    pub fn new(window: Duration) -> Merge {
        Merge {
            heap: BinaryHeap::new(),
            window: chrono::Duration::from_std(window).unwrap_or_default(),
        }
    }

    pub fn push(&mut self, line: Line) {
        self.heap.push(line);
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The lines whose window has passed at `now`, oldest first (a line
    /// with no time at once).
    pub fn ripe(&mut self, now: DateTime<Utc>) -> Vec<Line> {
        let ripe = now - self.window;
        let mut out = Vec::new();
        while self
            .heap
            .peek()
            .is_some_and(|l| l.time.is_none_or(|t| t <= ripe))
        {
            out.extend(self.heap.pop());
        }
        out
    }

    /// How long until the oldest line held is ripe; `None`: nothing held.
    pub fn next_ripe(&self, now: DateTime<Utc>) -> Option<Duration> {
        let oldest = self.heap.peek()?;
        let at = oldest.time.map_or(now, |t| t + self.window);
        Some((at - now).to_std().unwrap_or_default())
    }

    /// Every line held, oldest first.
    pub fn drain(&mut self) -> Vec<Line> {
        let mut all = std::mem::take(&mut self.heap).into_vec();
        all.sort_by(|a, b| b.cmp(a));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(secs: i64, seq: u64, text: &str) -> Line {
        Line {
            time: DateTime::from_timestamp(secs, 0),
            host: "h".into(),
            container: "c".into(),
            stderr: false,
            text: text.into(),
            seq,
        }
    }

    #[test]
    fn the_merge_gives_lines_out_in_time_order_once_their_window_passed() {
        let mut m = Merge::new(Duration::from_secs(1));
        let now = DateTime::from_timestamp(100, 0).unwrap();
        assert_eq!(m.next_ripe(now), None, "nothing held: no timer");
        m.push(line(100, 0, "late"));
        m.push(line(98, 1, "b"));
        m.push(line(97, 2, "a"));
        m.push(line(98, 3, "b2"));
        let texts = |v: Vec<Line>| v.into_iter().map(|l| l.text).collect::<Vec<_>>();
        assert_eq!(
            texts(m.ripe(now)),
            ["a", "b", "b2"],
            "equal times keep arrival order"
        );
        assert_eq!(m.next_ripe(now), Some(Duration::from_secs(1)));
        assert!(m.ripe(now).is_empty());
        let later = DateTime::from_timestamp(101, 0).unwrap();
        assert_eq!(texts(m.ripe(later)), ["late"]);
        m.push(line(90, 4, "x"));
        m.push(line(80, 5, "w"));
        assert_eq!(texts(m.drain()), ["w", "x"]);
        assert!(m.is_empty());
    }
}
