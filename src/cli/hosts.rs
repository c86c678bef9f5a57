//! `berth hosts check`: the table of [`crate::ops::host::check_all`]: reachable (or why not), SSH round trip,
//! Docker version, socket, state directory writable, clock skew against
//! this machine.

use super::table::render;
use super::{EXIT_OK, EXIT_UNHEALTHY};
use crate::config::{Config, HumanDuration};
use crate::ops::Session;
use crate::ops::host::{HostCheck, SKEW_LIMIT_MS};

#[derive(Debug, clap::Subcommand)]
pub enum HostsCommand {
    /// Connect to every host; report reachability, SSH round trip, Docker version, socket, state directory and clock skew
    Check {
        /// Print JSON
        #[arg(long)]
        json: bool,
        /// How long each host may take to answer
        #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = super::parse_duration)]
        timeout: HumanDuration,
    },
}

pub async fn run(config: &Config, session: &Session, command: HostsCommand) -> anyhow::Result<u8> {
    let HostsCommand::Check { json, timeout } = command;
    let checks = crate::ops::host::check_all(config, session, timeout.get()).await;
    session.close();
    if json {
        outln!("{}", serde_json::to_string_pretty(&checks)?);
    } else {
        out!("{}", table(&checks));
    }
    Ok(if checks.iter().all(HostCheck::ok) {
        EXIT_OK
    } else {
        EXIT_UNHEALTHY
    })
}

fn table(checks: &[HostCheck]) -> String {
    let mut rows = vec![
        [
            "HOST",
            "REACH",
            "SSH",
            "DOCKER",
            "SOCKET",
            "STATE DIR",
            "CLOCK",
            "REGISTRY",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>(),
    ];
    let mut notes = Vec::new();
    for c in checks {
        rows.push(vec![
            c.host.clone(),
            if c.reachable { "✓ up" } else { "✗ down" }.into(),
            c.ssh_round_trip_ms
                .map_or("-".into(), |ms| format!("{ms:.1} ms")),
            match (&c.docker_version, &c.api_version) {
                (Some(v), Some(a)) => format!("{v} (API {a})"),
                _ => "-".into(),
            },
            c.socket.clone(),
            match (c.state_dir_writable, &c.state_dir) {
                (Some(true), Some(d)) => format!("✓ {d}"),
                (Some(false), Some(d)) => format!("✗ {d}"),
                (None, Some(d)) => format!("? {d}"),
                _ => "-".into(),
            },
            c.clock_skew_ms.map_or("-".into(), |s| {
                let mark = if s.abs() > SKEW_LIMIT_MS { "✗ " } else { "" };
                format!("{mark}{s:+} ms")
            }),
            match c.registries.iter().filter(|r| r.problem.is_some()).count() {
                _ if c.registries.is_empty() => "-".into(),
                0 => format!("✓ {} login(s)", c.registries.len()),
                n => format!("✗ {n} of {} refused or failed", c.registries.len()),
            },
        ]);
        for r in &c.registries {
            if let Some(p) = &r.problem {
                notes.push(format!("{} ({}): {p}", c.host, r.app));
            }
        }
        if let Some(e) = &c.error {
            notes.push(format!("{}: {e}", c.host));
        }
        if let Some(n) = &c.state_dir_note {
            notes.push(format!("{}: {n}", c.host));
        }
        for t in &c.missing_tools {
            notes.push(format!("{}: ✗ {t}", c.host));
        }
    }
    let mut out = render(&rows, 0);
    for n in notes {
        out.push_str(&crate::sanitize::one_line(&n));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skew_and_unwritable_state_fail_the_check() {
        let good = HostCheck {
            reachable: true,
            state_dir_writable: Some(true),
            clock_skew_ms: Some(-40),
            ..Default::default()
        };
        assert!(good.ok());
        let skewed = HostCheck {
            clock_skew_ms: Some(5_000),
            ..good
        };
        assert!(!skewed.ok());
        let shown = table(&[skewed]);
        assert!(shown.contains("✗ +5000 ms"), "{shown}");
        let down = HostCheck {
            host: "edge".into(),
            error: Some("ssh://edge: Connection refused".into()),
            ..Default::default()
        };
        assert!(!down.ok());
        assert!(table(&[down]).contains("edge: ssh://edge: Connection refused"));
    }
}
