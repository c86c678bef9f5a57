//! Live feeds from containers: the log of the container being looked at,
//! and the stats of the running containers on screen in the Containers
//! view. The model says what it shows ([`Model::log_target`],
//! [`Model::stats_targets`]); after each frame [`Feeds::sync`] opens the
//! streams it lacks and closes those nobody looks at, so an engine never
//! streams stats for a container off screen.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::logs::{LogLine, LogOf, Source, TAIL};
use super::model::{Model, Msg};
use crate::config::Config;
use crate::domain::Usage;
use crate::ops::{self, LogRange, Session};

/// Log lines are sent to the model at most this often: a chatty container
/// costs a frame per interval, not a frame per line.
const LOG_FLUSH: Duration = Duration::from_millis(50);
/// Lines asked of each container when an app's log opens.
const APP_TAIL: usize = 200;
/// While an app's log opens, its first lines are held until none came for
/// this long (at most [`OPENING_MOST`]), then merged whole.
const OPENING_QUIET: Duration = Duration::from_millis(150);
const OPENING_MOST: Duration = Duration::from_secs(2);
/// A line of an app's log waits this long for older lines from slower
/// hosts: the merge is in time order within it.
const REORDER: Duration = Duration::from_millis(250);
/// How often each container on screen is sampled.
const STATS_EVERY: Duration = Duration::from_secs(2);
/// Samples are gathered for this long and sent as one message, so 40
/// containers on screen cost one frame, not 40.
const STATS_BATCH: Duration = Duration::from_secs(1);

type Key = (String, String);

/// What every feed needs: the config and the console's session.
#[derive(Clone)]
struct Clients {
    config: Arc<Config>,
    session: Session,
}

pub struct Feeds {
    clients: Clients,
    tx: mpsc::UnboundedSender<Msg>,
    log: Option<(LogOf, JoinHandle<()>)>,
    stats: HashMap<Key, JoinHandle<()>>,
    samples: mpsc::UnboundedSender<(String, Usage)>,
    gather: JoinHandle<()>,
}

impl Feeds {
    pub fn new(config: Arc<Config>, session: Session, tx: mpsc::UnboundedSender<Msg>) -> Feeds {
        let (samples, rx) = mpsc::unbounded_channel();
        let gather = tokio::spawn(gather(rx, tx.clone()));
        Feeds {
            clients: Clients { config, session },
            tx,
            log: None,
            stats: HashMap::new(),
            samples,
            gather,
        }
    }

    /// Opens and closes streams to match what the model shows.
    pub fn sync(&mut self, model: &Model) {
        let want = model.log_target();
        if self.log.as_ref().map(|(k, _)| k) != want.as_ref() {
            if let Some((_, task)) = self.log.take() {
                task.abort();
            }
            if let Some(of) = want {
                let (clients, tx) = (self.clients.clone(), self.tx.clone());
                let task = match of.clone() {
                    LogOf::Container { host, id } => {
                        tokio::spawn(follow_log(clients, (host, id), tx))
                    }
                    LogOf::App { app, destination } => {
                        tokio::spawn(follow_app_log(clients, app, destination, tx))
                    }
                };
                self.log = Some((of, task));
            }
        }
        let want: HashSet<Key> = model.stats_targets().into_iter().collect();
        self.stats.retain(|key, task| {
            let keep = want.contains(key) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for key in want {
            if !self.stats.contains_key(&key) {
                let task = tokio::spawn(poll_stats(
                    self.clients.clone(),
                    key.clone(),
                    self.samples.clone(),
                ));
                self.stats.insert(key, task);
            }
        }
    }

    /// Streams open now: (logs, stats).
    pub fn open(&self) -> (usize, usize) {
        (usize::from(self.log.is_some()), self.stats.len())
    }
}

impl Drop for Feeds {
    fn drop(&mut self) {
        if let Some((_, task)) = self.log.take() {
            task.abort();
        }
        for task in self.stats.values() {
            task.abort();
        }
        self.gather.abort();
    }
}

/// Follows one container's log from its last [`TAIL`] lines, sending lines
/// in batches, through the container's restarts (each marked with the exit
/// code and time), until it stops for good or is removed; then says why.
async fn follow_log(clients: Clients, (host, id): Key, tx: mpsc::UnboundedSender<Msg>) {
    use ops::feeds::{AfterEnd, Followed};
    let of = LogOf::Container {
        host: host.clone(),
        id: id.clone(),
    };
    let (feed_tx, mut feed) = mpsc::unbounded_channel();
    let first = LogRange {
        follow: true,
        tail: Some(TAIL),
        timestamps: true,
        ..Default::default()
    };
    let follower = {
        let (clients, host, id) = (clients.clone(), host.clone(), id.clone());
        tokio::spawn(async move {
            ops::feeds::follow_container(
                &clients.config,
                &clients.session,
                &host,
                &id,
                first,
                &feed_tx,
            )
            .await;
        })
    };
    // Ends the follower with this task (the console left the screen).
    let _stop = AbortOnDrop(follower);
    let mut pending: Vec<LogLine> = Vec::new();
    let mut flush_at: Option<Instant> = None;
    let send = |pending: &mut Vec<LogLine>| {
        pending.is_empty()
            || tx
                .send(Msg::LogLines {
                    of: of.clone(),
                    lines: std::mem::take(pending),
                })
                .is_ok()
    };
    let code = |c: Option<i64>| c.map_or_else(|| "an unknown code".to_string(), |c| c.to_string());
    let reason = loop {
        tokio::select! {
            got = feed.recv() => match got {
                Some(Followed::Lines(lines)) => {
                    // Control sequences are stripped as lines are split.
                    pending.extend(lines.into_iter().map(|(_, text, stderr)| LogLine::cleaned(text, stderr)));
                    flush_at.get_or_insert_with(|| Instant::now() + LOG_FLUSH);
                }
                Some(Followed::Restarted { exit_code, restarts }) => {
                    let at = chrono::Local::now().format("%H:%M:%S");
                    pending.push(LogLine::note(&format!(
                        "exited with {} at {at}; restarted (restart {restarts}) ──",
                        code(exit_code)
                    )));
                    if !send(&mut pending) {
                        return;
                    }
                }
                Some(Followed::Ended(end)) => {
                    let at = chrono::Local::now().format("%H:%M:%S");
                    break match end {
                        AfterEnd::Gone => format!("the log stream ended: the container was removed at {at}"),
                        AfterEnd::Stopped { exit_code } | AfterEnd::Restarted { exit_code, .. } => format!(
                            "the log stream ended: the container stopped (exit {}) at {at}",
                            code(exit_code)
                        ),
                    };
                }
                Some(Followed::Failed(why)) => break why,
                None => break "the log stream ended".to_string(),
            },
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                flush_at = None;
                if !send(&mut pending) {
                    return;
                }
            }
        }
    };
    if send(&mut pending) {
        let _ = tx.send(Msg::LogEnded { of, reason });
    }
}

/// Aborts the task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Follows an app's running containers on all its hosts (the last
/// [`APP_TAIL`] lines of each, then new lines), merged by Docker's
/// timestamps, attaching to containers as they start (a restart, a
/// deploy's new version). The first lines are held until the tails
/// stop arriving, so they are merged whole; after that each line waits
/// [`REORDER`] for older lines from slower hosts.
async fn follow_app_log(
    clients: Clients,
    app: String,
    destination: String,
    tx: mpsc::UnboundedSender<Msg>,
) {
    use crate::inventory::logs::{Item, Merge, Request};
    let of = LogOf::App {
        app: app.clone(),
        destination: destination.clone(),
    };
    let request = (|| {
        Ok::<_, String>(Request {
            app: crate::config::AppName::new(&app)?,
            destination: match destination.as_str() {
                "" => None,
                d => Some(crate::config::DestinationName::new(d)?),
            },
            role: None,
            host: None,
            range: LogRange {
                follow: true,
                tail: Some(APP_TAIL),
                since: None,
                timestamps: true,
            },
        })
    })();
    let opened = match request {
        Ok(r) => ops::feeds::app_logs(&clients.config, &clients.session, r)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let mut logs = match opened {
        Ok(l) => l,
        Err(reason) => {
            let _ = tx.send(Msg::LogEnded { of, reason });
            return;
        }
    };
    let note = |text: String| LogLine::note(&text);
    let mut pending: Vec<LogLine> = logs.problems.iter().map(|p| note(p.clone())).collect();
    if logs.found == 0 {
        pending.push(note(
            "no running container yet; waiting for one to start".into(),
        ));
    }
    let mut sources: HashMap<String, Source> = HashMap::new();
    let mut source = |host: &str, container: &str| {
        let label = format!("{host}/{container}");
        let next = sources.len();
        sources
            .entry(label.clone())
            .or_insert_with(|| Source {
                label: label.into(),
                colour: (next % 256) as u8,
            })
            .clone()
    };
    let mut merge = Merge::new(REORDER);
    // The opening hold: until no line came for OPENING_QUIET, or at most
    // OPENING_MOST.
    let opened_at = Instant::now();
    let mut settle_at = Some(opened_at + OPENING_QUIET);
    let mut last_sent = opened_at;
    loop {
        let wake = match settle_at {
            Some(at) => Some(at.min(opened_at + OPENING_MOST)),
            None => merge
                .next_ripe(chrono::Utc::now())
                .map(|d| (Instant::now() + d).max(last_sent + LOG_FLUSH)),
        };
        let wake = match (wake, pending.is_empty()) {
            (Some(w), _) => Some(w),
            (None, false) => Some(last_sent + LOG_FLUSH),
            (None, true) => None,
        };
        tokio::select! {
            item = logs.rx.recv() => match item {
                Some(Item::Line(l)) => {
                    merge.push(l);
                    if settle_at.is_some() {
                        settle_at = Some(Instant::now() + OPENING_QUIET);
                    }
                }
                Some(Item::Attached { host, container }) => {
                    pending.push(note(format!("{host}/{container}: started; following its log")));
                }
                Some(Item::Ended { host, container }) => {
                    pending.push(note(format!("{host}/{container}: its log ended (the container stopped)")));
                }
                None => break,
            },
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                let ripe = if settle_at.take().is_some() {
                    merge.drain()
                } else {
                    merge.ripe(chrono::Utc::now())
                };
                let mut lines: Vec<LogLine> = ripe
                    .into_iter()
                    .map(|l| {
                        let from = source(&l.host, &l.container);
                        LogLine::cleaned(l.text, l.stderr).with_source(from)
                    })
                    .collect();
                lines.append(&mut pending);
                last_sent = Instant::now();
                if !lines.is_empty() && tx.send(Msg::LogLines { of: of.clone(), lines }).is_err() {
                    return;
                }
            }
        }
    }
    let _ = tx.send(Msg::LogEnded {
        of,
        reason: "every container's log ended".into(),
    });
}

/// One container's CPU and memory, sampled every [`STATS_EVERY`].
async fn poll_stats(
    clients: Clients,
    (host, id): Key,
    samples: mpsc::UnboundedSender<(String, Usage)>,
) {
    ops::feeds::stats(
        &clients.config,
        &clients.session,
        &host,
        &id,
        STATS_EVERY,
        samples,
    )
    .await;
}

/// Gathers samples for [`STATS_BATCH`] after the first one arrives, then
/// sends them as one message; sleeps while no stream sends anything.
async fn gather(mut rx: mpsc::UnboundedReceiver<(String, Usage)>, tx: mpsc::UnboundedSender<Msg>) {
    let mut batch: HashMap<String, Usage> = HashMap::new();
    while let Some((id, u)) = rx.recv().await {
        batch.insert(id, u);
        let until = Instant::now() + STATS_BATCH;
        loop {
            tokio::select! {
                more = rx.recv() => match more {
                    Some((id, u)) => { batch.insert(id, u); }
                    None => return,
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        if tx.send(Msg::Stats(batch.drain().collect())).is_err() {
            return;
        }
    }
}
