//! An app's history: berth's audit lines on each of its hosts, Kamal's
//! audit logs and Dokku's build records, read as those tools leave them.

use super::Session;
use crate::config::{Config, HostName};
use crate::engine::{self, history::Record};

/// What one place's history read gave: its records with their host, or why
/// it could not be read.
pub type Read = Result<Vec<(String, Record)>, String>;

/// Kamal's audit log of `app` on each of its hosts (every destination
/// read), and Dokku's build records of `app` on each Dokku host: per
/// place, its records with their host, or why it could not be read; and
/// whether any Kamal app or Dokku host has the app.
pub async fn theirs(
    config: &Config,
    session: &Session,
    app: &str,
    declared_dokku_only: bool,
) -> (Vec<(String, Read)>, bool) {
    use futures_util::future::join_all;
    let hosts = session.gateway.hosts();
    let kamal: Vec<_> = config
        .kamal
        .iter()
        .filter(|k| k.service == app)
        .flat_map(|k| k.names.iter().map(move |(_, h)| (k, h)))
        .collect();
    let mut found = !kamal.is_empty();
    let kamal_reads = join_all(kamal.iter().map(|(k, h)| async move {
        let place = format!("{}'s audit log on {h}", k.service_and_destination());
        let read = engine::foreign::kamal_audit(config, hosts, k, h)
            .await
            .map(|rs| rs.into_iter().map(|r| (h.to_string(), r)).collect());
        (place, read)
    }));
    let dokku_hosts: Vec<_> = config
        .fleet
        .hosts
        .iter()
        .filter(|(_, h)| match h.dokku {
            Some(d) => d,
            None => !declared_dokku_only,
        })
        .map(|(n, _)| n)
        .collect();
    let dokku_reads = join_all(
        dokku_hosts
            .iter()
            .map(|h| async move { (h, engine::foreign::dokku(config, hosts, h).await) }),
    );
    let (mut out, dokku): (Vec<_>, Vec<_>) = futures_util::join!(kamal_reads, dokku_reads);
    for (h, read) in dokku {
        match read {
            Ok(Some(state)) if state.apps.iter().any(|a| a == app) => {
                found = true;
                let records = state
                    .builds
                    .into_iter()
                    .filter(|r| r.app == app)
                    .map(|r| (h.to_string(), r))
                    .collect();
                out.push((format!("Dokku's builds on {h}"), Ok(records)));
            }
            Ok(_) => {}
            // Said only when nothing else has the app: it may be there.
            Err(e) => out.push((format!("Dokku host {h}"), Err(e))),
        }
    }
    if found {
        // A Dokku host that cannot be read matters only when nothing else
        // has the app.
        out.retain(|(place, r)| r.is_ok() || !place.starts_with("Dokku host "));
    }
    (out, found)
}

/// berth's own audit lines of `app` on each of `hosts`: per host, the
/// records and the lines that could not be read, or why the host could not
/// be read.
pub async fn berth(
    config: &Config,
    session: &Session,
    app: &str,
    hosts: Vec<&HostName>,
) -> Vec<(String, Result<(Vec<Record>, Vec<String>), String>)> {
    let mut out = Vec::new();
    for host in hosts {
        let read = match config.host(host) {
            Err(e) => Err(e.to_string()),
            Ok(cfg) => match session
                .gateway
                .hosts()
                .state_dir(cfg, engine::lock::REACH_TIMEOUT)
                .await
            {
                Ok(dir) => engine::history::read(&dir, app)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            },
        };
        out.push((host.to_string(), read));
    }
    out
}
