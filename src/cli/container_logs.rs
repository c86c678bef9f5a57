//! `berth container logs NAME`: one container's log, whoever started it (a
//! berth app's, another tool's, a stranger's), as `docker logs` gives it:
//! its stdout on stdout and its stderr on stderr. With `-f` it follows
//! through the container's restarts, each told on stderr with the code it
//! exited with, as the console's container screen does.

use std::sync::Arc;

use chrono::Utc;

use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{Config, HostName, HumanDuration};
use crate::ops::feeds::{AfterEnd, Followed};
use crate::ops::{LogRange, Session};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The container's name (or an id prefix of 4 or more characters)
    name: String,
    /// The host it is on [default: whichever host has it]
    #[arg(long, value_name = "HOST")]
    host: Option<HostName>,
    /// Keep following, through the container's restarts
    #[arg(long, short = 'f')]
    follow: bool,
    /// The last N lines [default: all]
    #[arg(long, short = 'n', value_name = "N")]
    tail: Option<usize>,
    /// Only lines written within this long (e.g. 10m, 1h)
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    since: Option<HumanDuration>,
    /// Show Docker's timestamp in front of each line
    #[arg(long, short = 't')]
    timestamps: bool,
}

pub async fn run(config: &Arc<Config>, session: &Session, args: &Args) -> anyhow::Result<u8> {
    let found =
        match crate::ops::container::find(config, session, &args.name, args.host.as_ref()).await {
            Ok(f) => f,
            Err(e) => {
                errln!("berth: {e}");
                return Ok(EXIT_ERROR);
            }
        };
    let name = crate::sanitize::one_line(&found.container.name);
    let first = LogRange {
        follow: args.follow,
        tail: args.tail,
        since: args
            .since
            .map(|d| Utc::now().timestamp() - i64::try_from(d.get().as_secs()).unwrap_or(i64::MAX)),
        timestamps: true,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (config_c, session_c) = (config.clone(), session.clone());
    let (host, id) = (found.host.to_string(), found.container.id.clone());
    let follower = tokio::spawn(async move {
        crate::ops::feeds::follow_container(&config_c, &session_c, &host, &id, first, &tx).await;
    });
    let code = |c: Option<i64>| c.map_or_else(|| "an unknown code".to_string(), |c| c.to_string());
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut exit = EXIT_OK;
    loop {
        tokio::select! {
            got = rx.recv() => match got {
                Some(Followed::Lines(lines)) => {
                    for (at, text, stderr) in lines {
                        let time = match (args.timestamps, at) {
                            (true, Some(t)) => format!("{} ", t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                            (true, None) => "- ".to_string(),
                            _ => String::new(),
                        };
                        if stderr {
                            errln!("{time}{text}");
                        } else {
                            outln!("{time}{text}");
                        }
                    }
                }
                Some(Followed::Restarted { exit_code, restarts }) => {
                    errln!("── {name}: exited with {}; restarted (restart {restarts}), following its log", code(exit_code));
                }
                Some(Followed::Ended(AfterEnd::Gone)) => {
                    errln!("── {name}: removed");
                    break;
                }
                Some(Followed::Ended(AfterEnd::Stopped { exit_code } | AfterEnd::Restarted { exit_code, .. })) => {
                    errln!("── {name}: stopped (exit {})", code(exit_code));
                    break;
                }
                Some(Followed::Failed(why)) => {
                    errln!("berth: {name}: {why}");
                    exit = EXIT_UNHEALTHY;
                    break;
                }
                None => break,
            },
            _ = &mut interrupted => break,
        }
    }
    follower.abort();
    Ok(exit)
}
