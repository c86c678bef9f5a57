//! `berth logs APP`: the logs of an app's running containers on all its
//! hosts, merged by Docker's own timestamps into one stream, each line
//! named by its host and container. With `-f` it follows, and attaches to
//! the containers that start meanwhile (a restart, a deploy's new version),
//! so a deploy can be watched in the logs.

use std::collections::{BinaryHeap, HashSet};
use std::io::IsTerminal;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc;

use super::{EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{Config, HostName, HumanDuration, RoleName};
use crate::docker::{Engine, Gateway, LineSplitter, Listed, LogRange, LogStream, split_timestamp};
use crate::labels::Selector;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: super::actions::Target,
    /// Only this role's containers [default: every role]
    #[arg(long, short = 'r', value_name = "ROLE")]
    role: Option<RoleName>,
    /// Only this host's containers
    #[arg(long, value_name = "HOST")]
    host: Option<HostName>,
    /// Keep following, and attach to containers that start meanwhile
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only lines written within this long (e.g. 10m, 1h)
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    since: Option<HumanDuration>,
    /// The last N lines of each container
    #[arg(long, short = 'n', value_name = "N")]
    tail: Option<usize>,
    /// Only lines matching this regular expression
    #[arg(long, value_name = "REGEX")]
    grep: Option<String>,
    /// Show Docker's timestamp in front of each line
    #[arg(long, short = 't')]
    timestamps: bool,
    /// One JSON object per line: time, host, container, stream, line
    #[arg(long)]
    json: bool,
}

/// One line of one container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
struct Line {
    time: Option<DateTime<Utc>>,
    host: String,
    container: String,
    stream: &'static str,
    line: String,
    /// Arrival order, to keep lines with equal times as they came.
    #[serde(skip)]
    seq: u64,
}

impl Ord for Line {
    /// Oldest first (the heap is a max-heap: reversed).
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

impl PartialOrd for Line {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// While following, a line waits this long for older lines from slower
/// streams before it is printed: the merge is in time order within it.
const REORDER: Duration = Duration::from_millis(250);

/// A container whose log is read.
#[derive(Clone)]
struct Source {
    host: HostName,
    engine: Engine,
    container: Listed,
}

/// The containers whose log is being read. A reader takes its id out when
/// its stream ends and says so, so a container started again in place
/// (`docker restart`, same id) is attached again, whichever comes first:
/// the end of its old stream or the engine's `start` event.
struct Readers {
    ids: std::sync::Mutex<HashSet<String>>,
    /// How many streams ended; each watcher sees every change.
    ended: tokio::sync::watch::Sender<u64>,
}

impl Default for Readers {
    fn default() -> Self {
        Readers {
            ids: Default::default(),
            ended: tokio::sync::watch::Sender::new(0),
        }
    }
}

type Reading = std::sync::Arc<Readers>;

pub async fn run(config: &Config, gateway: &Gateway, args: Args) -> anyhow::Result<u8> {
    let app = &args.target.app;
    let dest = args.target.destination.as_ref();
    let app_cfg = config.app(app)?;
    let grep = args
        .grep
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--grep: {e}"))?;
    let roles: Vec<RoleName> = match &args.role {
        Some(r) if !app_cfg.roles.contains_key(r) => {
            anyhow::bail!("app `{app}` has no role `{r}`");
        }
        Some(r) => vec![r.clone()],
        None => app_cfg.roles.keys().cloned().collect(),
    };
    // Each (host, role) of the app, as the config places them.
    let mut places: Vec<(HostName, RoleName)> = Vec::new();
    for role in &roles {
        for host in config.role_hosts(app, role, dest) {
            if args.host.as_ref().is_none_or(|h| h == host) {
                places.push((host.clone(), role.clone()));
            }
        }
    }
    if places.is_empty() {
        anyhow::bail!(
            "app `{app}` has no container placed on {}",
            args.host
                .as_ref()
                .map_or("any host".to_string(), |h| format!("host `{h}`"))
        );
    }
    let selector = |host: &HostName, role: &RoleName| Selector {
        app: app.to_string(),
        destination: dest.map(|d| d.to_string()).unwrap_or_default(),
        role: Some(role.to_string()),
        version: None,
        host: Some(host.to_string()),
    };
    let range = LogRange {
        follow: args.follow,
        tail: args.tail,
        since: args
            .since
            .map(|d| Utc::now().timestamp() - d.get().as_secs() as i64),
        timestamps: true,
    };
    let (tx, mut rx) = mpsc::channel::<Line>(4096);
    let reading: Reading = Default::default();
    let mut found = 0usize;
    let mut problems = 0usize;
    let mut watchers = Vec::new();
    for (host, role) in &places {
        let engine = match gateway
            .engine_of(config.host(host)?, Duration::from_secs(10))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                errln!("berth: host {host}: {e}");
                problems += 1;
                continue;
            }
        };
        let sel = selector(host, role);
        match engine.list(&sel, false).await {
            Ok(list) => {
                for c in list {
                    if take(&reading, &c.id) {
                        found += 1;
                        tokio::spawn(read(
                            Source {
                                host: host.clone(),
                                engine: engine.clone(),
                                container: c,
                            },
                            range,
                            tx.clone(),
                            reading.clone(),
                        ));
                    }
                }
            }
            Err(e) => {
                errln!("berth: host {host}: {e}");
                problems += 1;
            }
        }
        if args.follow {
            watchers.push(tokio::spawn(attach_new(
                host.clone(),
                engine,
                sel,
                range,
                tx.clone(),
                reading.clone(),
            )));
        }
    }
    drop(tx);
    if found == 0 && !args.follow {
        errln!("berth: no running container of `{app}` to read logs from");
        return Ok(EXIT_UNHEALTHY);
    }
    let colour =
        !args.json && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let mut printer = Printer {
        grep,
        json: args.json,
        timestamps: args.timestamps,
        colour,
        colours: Vec::new(),
    };
    if !args.follow {
        // Everything is read, then printed in time order.
        let mut all = Vec::new();
        while let Some(l) = rx.recv().await {
            all.push(l);
        }
        all.sort_by(|a, b| b.cmp(a));
        for l in &all {
            printer.print(l);
        }
        return Ok(if problems == 0 {
            EXIT_OK
        } else {
            EXIT_UNHEALTHY
        });
    }
    // Following: print in time order within the reorder window, until
    // Ctrl-C (or every stream and watcher ended).
    let mut heap: BinaryHeap<Line> = BinaryHeap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            line = rx.recv() => match line {
                Some(l) => heap.push(l),
                None => break,
            },
            _ = tick.tick() => {
                let ripe = Utc::now() - chrono::Duration::from_std(REORDER).unwrap_or_default();
                while heap.peek().is_some_and(|l| l.time.is_none_or(|t| t <= ripe)) {
                    if let Some(l) = heap.pop() {
                        printer.print(&l);
                    }
                }
            }
            _ = &mut interrupted => break,
        }
    }
    while let Some(l) = heap.pop() {
        printer.print(&l);
    }
    for w in watchers {
        w.abort();
    }
    Ok(EXIT_OK)
}

/// Reads one container's log into `tx`, line by line, with Docker's
/// timestamps; says on stderr when a followed log ends.
async fn read(src: Source, range: LogRange, tx: mpsc::Sender<Line>, reading: Reading) {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut stream = src.engine.logs(&src.container.id, range);
    let (mut out, mut err) = (LineSplitter::default(), LineSplitter::default());
    let send = |text: String, stderr: bool| {
        let (time, rest) = split_timestamp(&text);
        Line {
            time,
            host: src.host.to_string(),
            container: src.container.name.clone(),
            stream: if stderr { "stderr" } else { "stdout" },
            line: rest.to_string(),
            seq: SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    };
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else { break };
        let stderr = chunk.stream == LogStream::Stderr;
        let split = if stderr { &mut err } else { &mut out };
        for text in split.push(&chunk.bytes) {
            if tx.send(send(text, stderr)).await.is_err() {
                return;
            }
        }
    }
    for (rest, stderr) in [(out.finish(), false), (err.finish(), true)] {
        if let Some(text) = rest {
            let _ = tx.send(send(text, stderr)).await;
        }
    }
    reading
        .ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&src.container.id);
    reading.ended.send_modify(|n| *n += 1);
    if range.follow {
        errln!(
            "── {}/{}: its log ended (the container stopped)",
            src.host,
            src.container.name
        );
    }
}

/// Marks a container as read; false when it already is.
fn take(reading: &Reading, id: &str) -> bool {
    reading
        .ids
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(id.to_string())
}

/// While following: on every container event of the host, attaches to the
/// app's containers that run now and are not read (a newly booted one, or
/// one started again in place).
async fn attach_new(
    host: HostName,
    engine: Engine,
    selector: Selector,
    range: LogRange,
    tx: mpsc::Sender<Line>,
    reading: Reading,
) {
    let mut events = engine.container_events(host.as_str(), Some(Utc::now().timestamp()));
    let mut ended = reading.ended.subscribe();
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(_)) => {}
                _ => return,
            },
            // A stream ended: its container may already run again.
            changed = ended.changed() => if changed.is_err() { return },
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
            if take(&reading, &c.id) {
                errln!("── {host}/{}: started; following its log", c.name);
                tokio::spawn(read(
                    Source {
                        host: host.clone(),
                        engine: engine.clone(),
                        container: c,
                    },
                    fresh,
                    tx.clone(),
                    reading.clone(),
                ));
            }
        }
    }
}

/// Writes lines as asked: plain, coloured by container, or JSON.
struct Printer {
    grep: Option<regex::Regex>,
    json: bool,
    timestamps: bool,
    colour: bool,
    /// Containers in the order they were first printed (their colour).
    colours: Vec<String>,
}

impl Printer {
    fn print(&mut self, l: &Line) {
        if self.grep.as_ref().is_some_and(|re| !re.is_match(&l.line)) {
            return;
        }
        if self.json {
            if let Ok(text) = serde_json::to_string(l) {
                outln!("{text}");
            }
            return;
        }
        let key = format!("{}/{}", l.host, l.container);
        let at = match self.colours.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.colours.push(key.clone());
                self.colours.len() - 1
            }
        };
        let prefix = if self.colour {
            // Six distinct ANSI colours, one per container in turn.
            format!("\x1b[{}m{key}\x1b[0m", 31 + (at % 6))
        } else {
            key
        };
        let mark = if l.stream == "stderr" { "!" } else { "|" };
        let time = match (self.timestamps, l.time) {
            (true, Some(t)) => format!(
                "{} ",
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            (true, None) => "- ".to_string(),
            _ => String::new(),
        };
        outln!("{time}{prefix} {mark} {}", l.line);
    }
}
