//! `berth logs APP`: the logs of an app's running containers on all its
//! hosts, merged by Docker's own timestamps into one stream, each line
//! named by its host and container. With `-f` it follows, and attaches to
//! the containers that start meanwhile (a restart, a deploy's new version),
//! so a deploy can be watched in the logs.

use std::io::IsTerminal;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{Config, HostName, HumanDuration, RoleName};
use crate::inventory::logs::{self, Item, Line, Merge};
use crate::ops::{LogRange, Session};

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

pub async fn run(config: &Config, session: &Session, args: Args) -> anyhow::Result<u8> {
    let app = &args.target.app;
    let grep = args
        .grep
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--grep: {e}"))?;
    let range = LogRange {
        follow: args.follow,
        tail: args.tail,
        since: args
            .since
            .map(|d| Utc::now().timestamp() - d.get().as_secs() as i64),
        timestamps: true,
    };
    let mut logs = crate::ops::feeds::app_logs(
        config,
        session,
        logs::Request {
            app: app.clone(),
            destination: args.target.destination.clone(),
            role: args.role.clone(),
            host: args.host.clone(),
            range,
        },
    )
    .await?;
    for p in &logs.problems {
        errln!("berth: {p}");
    }
    if logs.found == 0 && !args.follow {
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
    let mut merge = Merge::new(REORDER);
    if !args.follow {
        // Everything is read, then printed in time order.
        while let Some(item) = logs.rx.recv().await {
            if let Item::Line(l) = item {
                merge.push(l);
            }
        }
        for l in merge.drain() {
            printer.print(&l);
        }
        return Ok(if logs.problems.is_empty() {
            EXIT_OK
        } else {
            EXIT_UNHEALTHY
        });
    }
    // Following: print in time order within the reorder window, until
    // Ctrl-C (or every stream and watcher ended). No timer runs while no
    // line waits.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let wait = merge.next_ripe(Utc::now());
        tokio::select! {
            item = logs.rx.recv() => match item {
                Some(Item::Line(l)) => merge.push(l),
                Some(Item::Attached { host, container }) => {
                    errln!("── {host}/{container}: started; following its log");
                }
                Some(Item::Ended { host, container }) => {
                    errln!("── {host}/{container}: its log ended (the container stopped)");
                }
                None => break,
            },
            _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {
                for l in merge.ripe(Utc::now()) {
                    printer.print(&l);
                }
            }
            _ = &mut interrupted => break,
        }
    }
    for l in merge.drain() {
        printer.print(&l);
    }
    Ok(EXIT_OK)
}

/// While following, a line waits this long for older lines from slower
/// streams before it is printed: the merge is in time order within it.
const REORDER: Duration = Duration::from_millis(250);

/// One line as `--json` prints it.
#[derive(Serialize)]
struct JsonLine<'a> {
    time: Option<DateTime<Utc>>,
    host: &'a str,
    container: &'a str,
    stream: &'static str,
    line: &'a str,
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
        if self.grep.as_ref().is_some_and(|re| !re.is_match(&l.text)) {
            return;
        }
        if self.json {
            let json = JsonLine {
                time: l.time,
                host: &l.host,
                container: &l.container,
                stream: if l.stderr { "stderr" } else { "stdout" },
                line: &l.text,
            };
            if let Ok(text) = serde_json::to_string(&json) {
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
            // Six distinct colours, one per container in turn (the
            // writer makes them ANSI colours on a terminal).
            crate::sanitize::coloured(at, &key)
        } else {
            key
        };
        let mark = if l.stderr { "!" } else { "|" };
        let time = match (self.timestamps, l.time) {
            (true, Some(t)) => format!(
                "{} ",
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            (true, None) => "- ".to_string(),
            _ => String::new(),
        };
        outln!("{time}{prefix} {mark} {}", l.text);
    }
}
