//! `berth images|volumes|networks [rm NAME | prune] [--host H] [--json]`:
//! what each engine holds besides containers, who uses it, and removal of
//! what nothing uses (asked first; recorded in the host's history).

use std::sync::Arc;

use super::container::confirmed;
use super::{EXIT_ERROR, EXIT_OK, EXIT_REFUSED, EXIT_UNHEALTHY, EXIT_UNREACHABLE};
use crate::config::{Config, HostName};
use crate::ops::Session;
use crate::ops::resources::{self, NotRemoved, Resource, ResourceKind};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    op: Option<Op>,
    /// Only this host's
    #[arg(long, value_name = "HOST", global = true)]
    host: Option<HostName>,
    /// One JSON object per line
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Op {
    /// Remove one that nothing uses (by name, tag or id prefix)
    Rm {
        name: String,
        /// Do not ask (for scripts); without a terminal, required
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Remove every one nothing uses (images: the dangling ones)
    Prune {
        /// Do not ask (for scripts); without a terminal, required
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

pub async fn run(
    config: &Arc<Config>,
    session: &Session,
    kind: ResourceKind,
    args: &Args,
) -> anyhow::Result<u8> {
    match &args.op {
        None => list(config, session, kind, args).await,
        Some(op) => {
            if let Some(why) = config.read_only() {
                errln!("berth: read-only ({why}): {} removal refused", kind.word());
                return Ok(EXIT_REFUSED);
            }
            let host = match (&args.host, config.fleet.hosts.len()) {
                (Some(h), _) => h.clone(),
                (None, 1) => match config.fleet.hosts.keys().next() {
                    Some(h) => h.clone(),
                    None => return Ok(EXIT_ERROR),
                },
                (None, _) => {
                    errln!("berth: name the host with --host (the config has several)");
                    return Ok(EXIT_ERROR);
                }
            };
            match op {
                Op::Rm { name, yes } => remove(config, session, kind, &host, name, *yes).await,
                Op::Prune { yes } => prune(config, session, kind, &host, *yes).await,
            }
        }
    }
}

async fn remove(
    config: &Config,
    session: &Session,
    kind: ResourceKind,
    host: &HostName,
    name: &str,
    yes: bool,
) -> anyhow::Result<u8> {
    let shown = crate::sanitize::one_line(name);
    if let Some(code) = confirmed(&format!("Remove {} {shown} on {host}", kind.word()), yes)? {
        return Ok(code);
    }
    match resources::remove(config, session, kind, host, name).await {
        Ok(r) => {
            outln!("removed {} {} on {host}", kind.word(), r.name);
            Ok(EXIT_OK)
        }
        Err(NotRemoved::Refused(why)) => {
            errln!("berth: {why}: nothing removed");
            Ok(EXIT_REFUSED)
        }
        Err(NotRemoved::Unknown(why)) => {
            errln!("berth: {why}");
            Ok(EXIT_ERROR)
        }
        Err(NotRemoved::Failed(why)) => {
            errln!("berth: {why}");
            Ok(EXIT_UNHEALTHY)
        }
    }
}

async fn prune(
    config: &Config,
    session: &Session,
    kind: ResourceKind,
    host: &HostName,
    yes: bool,
) -> anyhow::Result<u8> {
    let all = match resources::list(config, session, kind, Some(host))
        .await
        .pop()
    {
        Some((_, Ok(all))) => all,
        Some((_, Err(e))) => {
            errln!("berth: {host}: {e}");
            return Ok(EXIT_UNREACHABLE);
        }
        None => return Ok(EXIT_ERROR),
    };
    let only = resources::prunable(&all);
    if only.is_empty() {
        outln!(
            "nothing to prune on {host}: every {} is in use",
            kind.word()
        );
        return Ok(EXIT_OK);
    }
    let names: Vec<&str> = only.iter().map(|r| r.name.as_str()).collect();
    let question = format!(
        "Remove {} {}{} on {host} ({})",
        only.len(),
        kind.word(),
        if only.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    if let Some(code) = confirmed(&question, yes)? {
        return Ok(code);
    }
    match resources::prune(config, session, kind, host, &only).await {
        Ok((gone, failed)) => {
            for r in &gone {
                outln!("removed {} {} ({})", kind.word(), r.name, short(&r.id));
            }
            for f in &failed {
                errln!("berth: {f}");
            }
            Ok(if failed.is_empty() {
                EXIT_OK
            } else {
                EXIT_UNHEALTHY
            })
        }
        Err(e) => {
            errln!("berth: {e}");
            Ok(EXIT_REFUSED)
        }
    }
}

async fn list(
    config: &Config,
    session: &Session,
    kind: ResourceKind,
    args: &Args,
) -> anyhow::Result<u8> {
    let mut code = EXIT_OK;
    let mut rows = Vec::new();
    for (host, read) in resources::list(config, session, kind, args.host.as_ref()).await {
        let all = match read {
            Ok(a) => a,
            Err(e) => {
                errln!("berth: {host}: {e}");
                code = EXIT_UNREACHABLE;
                continue;
            }
        };
        for r in all {
            if args.json {
                let mut v = serde_json::to_value(&r)?;
                if let Some(m) = v.as_object_mut() {
                    m.insert("host".into(), serde_json::Value::from(host.as_str()));
                }
                outln!("{v}");
            } else {
                rows.push(row(&host, &r));
            }
        }
    }
    if !args.json {
        let mut table = vec![vec![
            "HOST".to_string(),
            kind.word().to_uppercase(),
            "ID".into(),
            "SIZE".into(),
            "USED BY".into(),
        ]];
        table.extend(rows);
        out!("{}", super::table::render(&table, 0));
    }
    Ok(code)
}

fn row(host: &HostName, r: &Resource) -> Vec<String> {
    let mut name = r.name.clone();
    if !r.tags.is_empty() {
        name.push_str(&format!(" (+{})", r.tags.len()));
    }
    let used = if r.builtin {
        "(the engine's own)".to_string()
    } else if r.used_by.is_empty() {
        if r.dangling {
            "nothing (dangling)"
        } else {
            "nothing"
        }
        .to_string()
    } else {
        r.used_by.join(", ")
    };
    vec![
        host.to_string(),
        name,
        short(&r.id),
        r.size
            .map(|b| crate::domain::format::bytes(u64::try_from(b).unwrap_or(0)))
            .unwrap_or_else(|| "-".into()),
        used,
    ]
}

fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}
