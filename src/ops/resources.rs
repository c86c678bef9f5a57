//! Images, volumes and networks on each host: listed with who uses them,
//! removed one by one or pruned, never what a container uses (a stopped
//! one included) nor the engine's own networks. Each removal is recorded
//! in the host's history of hand operations.

use std::time::Duration;

use chrono::Utc;

use super::Session;
use crate::config::{Config, HostName};
use crate::engine::history::{Performer, Record};

pub use crate::docker::{Resource, ResourceKind};

const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a removal did not happen.
#[derive(Debug)]
pub enum NotRemoved {
    /// Nothing was changed: in use, built in, read-only (exit 3).
    Refused(String),
    /// No such thing, or several (exit 2).
    Unknown(String),
    /// The engine failed or was not reached.
    Failed(String),
}

/// Each host's (or one host's) images, volumes or networks.
pub async fn list(
    config: &Config,
    session: &Session,
    kind: ResourceKind,
    host: Option<&HostName>,
) -> Vec<(HostName, Result<Vec<Resource>, String>)> {
    let hosts: Vec<HostName> = match host {
        Some(h) => vec![h.clone()],
        None => config.fleet.hosts.keys().cloned().collect(),
    };
    let reads = hosts.into_iter().map(|h| async move {
        let read = match session.client_for(config, h.as_str(), TIMEOUT).await {
            Ok(c) => c.resources(kind).await.map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        (h, read)
    });
    futures_util::future::join_all(reads).await
}

/// Why `r` must stay, if it must.
pub fn kept(r: &Resource) -> Option<String> {
    if r.builtin {
        return Some(format!("{} is the engine's own network", r.name));
    }
    (!r.used_by.is_empty()).then(|| {
        format!(
            "{} {} is used by {}",
            r.kind.word(),
            r.name,
            r.used_by.join(", ")
        )
    })
}

/// Removes the one named `name` (its name or tag, or an id prefix of 4 or
/// more) on `host`, refusing what is in use; recorded in the host's
/// history.
pub async fn remove(
    config: &Config,
    session: &Session,
    kind: ResourceKind,
    host: &HostName,
    name: &str,
) -> Result<Resource, NotRemoved> {
    if let Some(why) = config.read_only() {
        return Err(NotRemoved::Refused(format!("read-only ({why})")));
    }
    let client = session
        .client_for(config, host.as_str(), TIMEOUT)
        .await
        .map_err(NotRemoved::Failed)?;
    let all = client
        .resources(kind)
        .await
        .map_err(|e| NotRemoved::Failed(e.to_string()))?;
    let bare = name.trim_start_matches("sha256:");
    let found: Vec<&Resource> = all
        .iter()
        .filter(|r| {
            r.name == name
                || r.tags.iter().any(|t| t == name)
                || r.id == name
                || (bare.len() >= 4 && r.id.trim_start_matches("sha256:").starts_with(bare))
        })
        .collect();
    let shown = crate::sanitize::one_line(name);
    let r = match found.as_slice() {
        [one] => (*one).clone(),
        [] => {
            return Err(NotRemoved::Unknown(format!(
                "no {} `{shown}` on {host}",
                kind.word()
            )));
        }
        _ => {
            return Err(NotRemoved::Unknown(format!(
                "`{shown}` names {} {}s on {host}: give more of the id",
                found.len(),
                kind.word()
            )));
        }
    };
    if let Some(why) = kept(&r) {
        return Err(NotRemoved::Refused(why));
    }
    // A tag given removes that tag (the image goes with its last one).
    let target = if r.name == name || r.tags.iter().any(|t| t == name) {
        name.to_string()
    } else {
        r.id.clone()
    };
    let started_at = Utc::now();
    let done = client
        .remove_resource(kind, &target)
        .await
        .map_err(|e| e.to_string());
    record(
        config, session, host, kind, "remove", &r.name, started_at, &done,
    )
    .await;
    done.map(|()| r).map_err(NotRemoved::Failed)
}

/// What `prune` would take on `host`: dangling images, and volumes and
/// networks nothing uses (stopped containers count as users; the
/// engine's own networks are kept).
pub fn prunable(all: &[Resource]) -> Vec<Resource> {
    all.iter()
        .filter(|r| kept(r).is_none())
        .filter(|r| r.kind != ResourceKind::Image || r.dangling)
        .cloned()
        .collect()
}

/// Removes every prunable one on `host`, going on past failures; returns
/// what went and what failed. Recorded as one line.
pub async fn prune(
    config: &Config,
    session: &Session,
    kind: ResourceKind,
    host: &HostName,
    only: &[Resource],
) -> Result<(Vec<Resource>, Vec<String>), String> {
    if let Some(why) = config.read_only() {
        return Err(format!("read-only ({why})"));
    }
    let client = session.client_for(config, host.as_str(), TIMEOUT).await?;
    let started_at = Utc::now();
    let (mut gone, mut failed) = (Vec::new(), Vec::new());
    for r in only {
        match client.remove_resource(kind, &r.id).await {
            Ok(()) => gone.push(r.clone()),
            Err(e) => failed.push(format!("{}: {}", r.name, e.reason())),
        }
    }
    let what = format!(
        "{} {}{}",
        gone.len(),
        kind.word(),
        if gone.len() == 1 { "" } else { "s" }
    );
    let result = if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    };
    record(
        config, session, host, kind, "prune", &what, started_at, &result,
    )
    .await;
    Ok((gone, failed))
}

#[allow(clippy::too_many_arguments)]
async fn record(
    config: &Config,
    session: &Session,
    host: &HostName,
    kind: ResourceKind,
    verb: &str,
    what: &str,
    started_at: chrono::DateTime<Utc>,
    done: &Result<(), String>,
) {
    let record = Record {
        started_at,
        finished_at: Utc::now(),
        performer: Performer::current(),
        action: format!("{}-{verb}", kind.word()),
        app: String::new(),
        destination: String::new(),
        version: None,
        digest: None,
        result: if done.is_ok() { "ok" } else { "failed" }.into(),
        failed_stage: None,
        error: done.as_ref().err().cloned(),
        note: Some(crate::sanitize::one_line(&format!(
            "{verb} {} {what} on {host}",
            kind.word()
        ))),
        run: String::new(),
        tool: String::new(),
    };
    if let Err(e) = super::container::append(config, session, host, &record).await {
        tracing::warn!("{} {verb} on {host} not recorded: {e}", kind.word());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: ResourceKind, name: &str, used: &[&str], dangling: bool, builtin: bool) -> Resource {
        Resource {
            kind,
            id: format!("sha256:{name}"),
            name: name.into(),
            tags: vec![],
            size: None,
            created: None,
            used_by: used.iter().map(|s| s.to_string()).collect(),
            dangling,
            builtin,
        }
    }

    #[test]
    fn prune_takes_only_what_nothing_uses_and_only_dangling_images() {
        use ResourceKind::*;
        let all = [
            r(Image, "<none>", &[], true, false),
            r(Image, "<none>", &["old-job"], true, false),
            r(Image, "shop:v1", &[], false, false),
            r(Volume, "data", &["db-1"], false, false),
            r(Volume, "left", &[], false, false),
            r(Network, "bridge", &[], false, true),
            r(Network, "shop_default", &[], false, false),
        ];
        let names: Vec<(ResourceKind, String, usize)> = prunable(&all)
            .into_iter()
            .map(|r| (r.kind, r.name, r.used_by.len()))
            .collect();
        assert_eq!(
            names,
            [
                (Image, "<none>".to_string(), 0),
                (Volume, "left".to_string(), 0),
                (Network, "shop_default".to_string(), 0)
            ]
        );
        assert!(kept(&all[3]).unwrap().contains("used by db-1"));
        assert!(kept(&all[5]).unwrap().contains("engine's own"));
    }
}
