//! `berth status`: connect to every host, wait for each to answer (or fail),
//! and print the report.

use std::time::Duration;

use chrono::Utc;

use super::table::{age, render, render_groups};
use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY, EXIT_UNREACHABLE};
use crate::config::{Config, DestinationName, HumanDuration};
use crate::domain::Link;
use crate::inventory::WatchOptions;
use crate::inventory::status::{
    self, AppStatus, ContainerStatus, Filter, HostStatus, StatusReport,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (stable field names; see docs/commands.md)
    #[arg(long)]
    json: bool,
    /// Only this app
    #[arg(long, value_name = "NAME")]
    app: Option<String>,
    /// Check the roles declared for this destination
    #[arg(long, short = 'd', value_name = "NAME", value_parser = |s: &str| DestinationName::new(s))]
    destination: Option<DestinationName>,
    /// How long to wait for each host to answer
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = super::parse_duration)]
    timeout: HumanDuration,
    /// Also ask each host for the registry digest of each container's
    /// image (one request per image and host)
    #[arg(long)]
    digests: bool,
    /// Exit 1 when any app found is not ok, not only those the config
    /// declares (other tools' and strangers' apps included)
    #[arg(long)]
    all: bool,
}

/// Said when no config file was found.
pub const ZERO_NOTE: &str = "berth: no config file found (./berth.yaml, ./config/berth.yaml, ~/.config/berth/berth.yaml): showing the local engine and what it runs, read-only; `berth init` writes a starter berth.yaml for your own apps";

pub async fn run(config: &Config, session: &crate::ops::Session, args: Args) -> anyhow::Result<u8> {
    if config.is_zero() && !args.json {
        errln!("{ZERO_NOTE}");
    }
    if let Some(app) = &args.app
        && !config.fleet.apps.contains_key(app.as_str())
    {
        // Not an error: the app may be a Kamal or Dokku app found on a host.
        tracing::info!(
            app,
            "app is not declared in the config; looking for it on the hosts"
        );
    }
    let opts = WatchOptions {
        connect_timeout: args.timeout.get(),
        ..WatchOptions::default()
    };
    let inventory = session.inventory(config, opts);
    let filter = Filter {
        app: args.app.clone(),
        destination: args.destination.clone(),
    };
    // Every host either answers with its containers or fails once; status
    // reports the first attempt and does not wait for reconnects. Without
    // --json each host is printed as soon as it has answered: a dead or
    // hung host costs its own deadline, never the others' lines.
    let deadline = tokio::time::Instant::now() + args.timeout.get() + Duration::from_secs(1);
    let mut shown = std::collections::HashSet::new();
    // --digests asks the hosts again once all have answered: it prints at
    // the end, as --json does.
    let whole = args.json || args.digests;
    // A host has answered when it has synced (or failed), and no crash
    // loop the operator asked about (an app the config declares, or the
    // --app named; with --all any) is up with its last exit code untold:
    // that code is what they need, so status waits for its next exit,
    // within the same deadline. Others' untold codes are said to be
    // unknown, and why, without holding the report.
    let asked = |c: &crate::domain::Container| match (&filter.app, c.owner.app.as_deref()) {
        (Some(f), a) => a == Some(f.as_str()),
        (None, a) => args.all || a.is_some_and(|a| declares(config, a)),
    };
    let answered = |h: &crate::domain::HostView| {
        h.settled() && !(h.link == Link::Up && status::exit_pending(h, Utc::now(), asked))
    };
    let fleet = loop {
        let fresh = |f: &crate::domain::Fleet| {
            f.hosts.values().all(answered)
                || (!whole
                    && f.hosts
                        .values()
                        .any(|h| answered(h) && h.link == Link::Up && !shown.contains(&h.name)))
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (fleet, done) = match inventory.wait_for(left, fresh).await {
            Ok(f) => {
                let done = f.hosts.values().all(answered);
                (f, done)
            }
            Err(f) => (f, true),
        };
        if done || whole {
            break fleet;
        }
        // The hosts that answered since the last look, in config order;
        // the rest (still connecting, or failed) come at the end.
        let mut report = status::report(config, &fleet, &filter, Utc::now());
        report.hosts.retain(|h| {
            fleet
                .hosts
                .values()
                .any(|v| v.name == h.name && answered(v) && v.link == Link::Up)
                && shown.insert(h.name.clone())
        });
        out!("{}", human(&report.hosts, &filter));
    };
    drop(inventory);
    let mut report = status::report(config, &fleet, &filter, Utc::now());
    if args.digests {
        crate::ops::status::fill_digests(config, session, &mut report).await;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let rest = report.hosts.iter().filter(|h| !shown.contains(&h.name));
        out!("{}", human(rest, &filter));
        for f in &report.kamal_failed {
            outln!(
                "✗ Kamal {} not read: {}",
                f.destination
                    .as_deref()
                    .map_or_else(|| f.file.clone(), |d| format!("-d {d} ({})", f.file)),
                f.error.lines().last().unwrap_or_default()
            );
        }
    }
    if let Some(app) = &args.app
        && let Some(said) = unknown_app(config, &fleet, &report, app)
    {
        errln!("{said}");
        return Ok(EXIT_ERROR);
    }
    let unreachable: Vec<&str> = report
        .hosts
        .iter()
        .filter(|h| !h.reachable)
        .map(|h| h.name.as_str())
        .collect();
    // What the exit code counts: the apps the config declares, or all.
    let counted_ok = if args.all {
        report.ok
    } else {
        report.declared_ok
    };
    Ok(if !unreachable.is_empty() {
        if !args.json {
            errln!("berth: unreachable: {}", unreachable.join(", "));
        }
        // An address berth cannot use is the config's fault (2); a host
        // that did not answer is the network's or the engine's (4).
        let misaddressed = crate::ops::status::misaddressed(config);
        if unreachable
            .iter()
            .any(|h| misaddressed.iter().any(|m| m == h))
        {
            EXIT_ERROR
        } else {
            EXIT_UNREACHABLE
        }
    } else if counted_ok {
        EXIT_OK
    } else {
        EXIT_UNHEALTHY
    })
}

/// The app is berth's, declared in the config, or a Kamal app read from
/// a deploy file the config (or the working directory) names.
fn declares(config: &Config, app: &str) -> bool {
    config.fleet.apps.contains_key(app) || config.kamal.iter().any(|k| k.service == app)
}

/// What to say of `--app APP` when nothing has that name: not declared (by
/// berth's config or a Kamal deploy file), and no host that answered runs
/// it. `None` when it is known, or when a host that did not answer might.
fn unknown_app(
    config: &Config,
    fleet: &crate::domain::Fleet,
    report: &StatusReport,
    app: &str,
) -> Option<String> {
    let found = report
        .hosts
        .iter()
        .any(|h| h.apps.iter().any(|a| a.app == app));
    if declares(config, app) || found || report.hosts.iter().any(|h| !h.reachable) {
        return None;
    }
    let running = fleet
        .hosts
        .values()
        .flat_map(|h| h.containers.values())
        .filter_map(|c| c.owner.app.as_deref());
    let known = config
        .fleet
        .apps
        .keys()
        .map(|a| a.as_str())
        .chain(config.kamal.iter().map(|k| k.service.as_str()))
        .chain(running);
    let hint = crate::config::names::did_you_mean(app, known)
        .map(|m| format!("; did you mean `{m}`?"))
        .unwrap_or_default();
    Some(format!(
        "berth: no app `{}`: not declared in {}, and no host runs it{hint}",
        crate::sanitize::one_line(app),
        crate::sanitize::one_line(&config.path.display().to_string())
    ))
}

fn human<'a>(hosts: impl IntoIterator<Item = &'a HostStatus>, filter: &Filter) -> String {
    let mut out = String::new();
    for host in hosts {
        let engine = match (&host.docker_version, &host.api_version) {
            (Some(v), Some(api)) => format!(
                "{} {v} (API {api})",
                host.engine.as_deref().unwrap_or("docker")
            ),
            _ => String::new(),
        };
        // How the engine was found, when the config did not name it.
        let from = match host.engine_from.as_str() {
            "" | "berth.yaml" => String::new(),
            f => format!("(from {f})"),
        };
        out.push_str(
            &format!("{}  {} {}  {}\n", host.name, host.endpoint, from, engine)
                .replace("    ", "  ")
                .replace("   ", "  "),
        );
        if let Some(e) = &host.error {
            out.push_str(&format!("  ✗ unreachable: {e}\n"));
            continue;
        }
        if host.apps.is_empty() && host.unmanaged.is_empty() {
            let what = match &filter.app {
                Some(a) => format!("no containers of app `{a}`"),
                None => "no containers".into(),
            };
            out.push_str(&format!("  ({what})\n"));
        }
        for app in &host.apps {
            out.push_str(&app_heading(app));
            let width = app.roles.iter().map(|r| r.role.len()).max().unwrap_or(0);
            let mut groups: Vec<Vec<Vec<String>>> =
                app.roles.iter().map(|r| rows(&r.containers)).collect();
            groups.push(rows(&app.tasks));
            let mut tables = render_groups(&groups, 8).into_iter();
            for role in &app.roles {
                let mark = if !role.ok {
                    "✗"
                } else if role.total > 0 {
                    "✓"
                } else {
                    "-"
                };
                let expected = if role.declared || app.source.read_only() {
                    ""
                } else {
                    "  (not declared)"
                };
                let retained = if role.retained_versions.is_empty() {
                    String::new()
                } else {
                    format!("  retained {}", role.retained_versions.join(" "))
                };
                out.push_str(&format!(
                    "    {mark} {:width$}  {}/{} serving{expected}{retained}\n",
                    role.role, role.serving, role.total
                ));
                out.push_str(&tables.next().unwrap_or_default());
                out.push_str(&why_unhealthy(&role.containers, 8));
            }
            if !app.tasks.is_empty() {
                out.push_str("    tasks\n");
                out.push_str(&tables.next().unwrap_or_default());
                out.push_str(&why_unhealthy(&app.tasks, 6));
            }
        }
        if !host.unmanaged.is_empty() {
            out.push_str("  unmanaged\n");
            out.push_str(&render(&rows(&host.unmanaged), 6));
            // The same reason the JSON gives, for every container in trouble.
            out.push_str(&why_unhealthy(&host.unmanaged, 6));
        }
    }
    out
}

fn app_heading(app: &AppStatus) -> String {
    let dest = if app.destination.is_empty() {
        String::new()
    } else {
        format!(" [{}]", app.destination)
    };
    let source = if app.source.read_only() {
        format!(" ({}, read-only)", app.source.as_str())
    } else {
        String::new()
    };
    let verdict = if app.ok { "ok" } else { "NOT OK" };
    format!("  {}{dest}{source}  {verdict}\n", app.app)
}

/// For each container in trouble, why: the last failed check's output,
/// the crash loop, the OOM kill, the exit code. In an incident the reason
/// matters more than the verdict.
fn why_unhealthy(list: &[ContainerStatus], indent: usize) -> String {
    let mut out = String::new();
    for c in list {
        let probe = (c.health == "unhealthy")
            .then(|| c.health_log.iter().rev().find(|p| p.exit_code != Some(0)))
            .flatten();
        let line = match (probe, &c.reason) {
            (Some(probe), _) => {
                let text = probe.output.lines().next().unwrap_or("").trim();
                let code = probe
                    .exit_code
                    .map(|e| format!("exit {e}"))
                    .unwrap_or_else(|| "no exit code".into());
                format!("last check {code}: {text}")
            }
            (None, Some(reason)) => reason.clone(),
            (None, None) => continue,
        };
        out.push_str(&format!("{}└ {}: {line}\n", " ".repeat(indent), c.name));
    }
    out
}

/// A symbol per container that reads without colour.
fn symbol(c: &ContainerStatus) -> &'static str {
    match (c.state, c.health) {
        _ if c.oom_killed || c.crash_loop => "✗",
        (_, "unhealthy") => "✗",
        ("restarting", _) => "↻",
        ("running", "starting") => "…",
        ("running", _) => "✓",
        ("exited", _) if c.exit_code.is_some_and(|e| e != 0) => "✗",
        _ => "○",
    }
}

fn rows(list: &[ContainerStatus]) -> Vec<Vec<String>> {
    list.iter()
        .map(|c| {
            let state = match (c.state, c.exit_code) {
                ("exited", Some(code)) => format!("exited ({code})"),
                (s, _) => s.to_string(),
            };
            let up = c
                .uptime_seconds
                .map(|s| format!("up {}", age(s)))
                .unwrap_or_default();
            let restarts = if c.restart_count > 0 {
                format!("restarts {}", c.restart_count)
            } else {
                String::new()
            };
            vec![
                format!("{} {}", symbol(c), c.name),
                match &c.digest {
                    Some(d) => format!(
                        "{} {}",
                        c.version.as_deref().unwrap_or("-"),
                        d.get(..19).unwrap_or(d)
                    ),
                    None => c.version.clone().unwrap_or_else(|| "-".into()),
                },
                state,
                c.health.to_string(),
                up,
                restarts,
                c.ports.join(","),
            ]
        })
        .collect()
}
