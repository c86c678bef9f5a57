//! Deploy locks: where an app's lock lives, taking and releasing a manual
//! lock, and Kamal's and Dokku's locks read as those tools leave them.

use serde::Serialize;

use super::Session;
use crate::config::{AppName, Config, DestinationName};
use crate::engine::foreign::{self, ForeignLock, ForeignRead};
use crate::engine::history::Performer;
use crate::engine::lock::{self, Holder, ManualError, Released};
use crate::hosts::HostPath;

/// An app's lock: its checked names, the host it lives on and its directory.
pub async fn target(
    config: &Config,
    session: &Session,
    app: &str,
    dest: Option<&str>,
) -> Result<(AppName, Option<DestinationName>, String, HostPath), TargetError> {
    let app = AppName::new(app).map_err(TargetError::Invalid)?;
    let dest = dest
        .map(DestinationName::new)
        .transpose()
        .map_err(TargetError::Invalid)?;
    let (host, dir) = lock::locate(config, session.gateway.hosts(), &app, dest.as_ref())
        .await
        .map_err(|e| match e {
            lock::LocateError::Unreachable { ref host, .. } => TargetError::Unreachable {
                host: host.to_string(),
                why: e.to_string(),
            },
            other => TargetError::Invalid(other.to_string()),
        })?;
    Ok((app, dest, host.to_string(), dir))
}

/// Why an app's lock could not be found: a name or config that does not
/// hold (exit 2), or its host not reached (exit 4).
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0}")]
    Invalid(String),
    #[error("{why}")]
    Unreachable { host: String, why: String },
}

/// Takes an app's lock by hand, as the operator at this terminal.
pub async fn acquire(
    config: &Config,
    session: &Session,
    app: &AppName,
    destination: Option<&DestinationName>,
    message: &str,
) -> Result<Holder, ManualError> {
    lock::acquire_manual(
        config,
        session.gateway.hosts(),
        app,
        destination,
        message,
        &Performer::current(),
    )
    .await
}

/// Releases an app's lock: the operator's own, or anyone's with `force`
/// (recorded in the history).
pub async fn release(
    config: &Config,
    session: &Session,
    app: &AppName,
    destination: Option<&DestinationName>,
    force: bool,
) -> Result<Released, ManualError> {
    lock::release_manual(
        config,
        session.gateway.hosts(),
        app,
        destination,
        force,
        &Performer::current(),
    )
    .await
}

/// A Kamal or Dokku app's lock, as `lock status` shows it.
#[derive(Serialize)]
pub struct ForeignView {
    pub app: String,
    pub destination: String,
    /// The host it was read on (Dokku: every Dokku host with the app).
    pub host: String,
    pub held: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<ForeignLock>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Kamal's locks (each app's, on its primary host) and Dokku's (on every
/// host that runs Dokku), of `only` app or all; read-only, each host on
/// its own and at once.
pub async fn foreign_locks(
    config: &Config,
    session: &Session,
    only: Option<&str>,
    destination: Option<&str>,
) -> (Vec<ForeignView>, Vec<ForeignView>) {
    use futures_util::future::join_all;
    let hosts = session.gateway.hosts();
    let kamal_apps: Vec<_> = config
        .kamal
        .iter()
        .filter(|a| only.is_none_or(|o| o == a.service))
        .filter(|a| destination.is_none_or(|d| a.destination.as_deref() == Some(d)))
        .collect();
    let kamal = join_all(kamal_apps.iter().map(|app| async move {
        let read = foreign::kamal_lock(config, hosts, app).await;
        let host = app
            .primary_host()
            .and_then(|a| app.host_name(a))
            .map(|h| h.to_string())
            .unwrap_or_default();
        view(
            app.service.clone(),
            app.destination.clone().unwrap_or_default(),
            host,
            read,
        )
    }));
    let dokku_hosts: Vec<_> = config
        .fleet
        .hosts
        .iter()
        .filter(|(_, h)| h.dokku != Some(false))
        .map(|(n, h)| (n, h.dokku == Some(true)))
        .collect();
    let dokku = join_all(dokku_hosts.iter().map(|(name, declared)| async move {
        match foreign::dokku(config, hosts, name).await {
            Ok(Some(state)) => state
                .apps
                .iter()
                .map(|app| {
                    let read = match state.locks.iter().find(|l| &l.app == app) {
                        Some(l) => ForeignRead::Held(Box::new(l.clone())),
                        None => ForeignRead::Free,
                    };
                    view(app.clone(), String::new(), name.to_string(), read)
                })
                .collect(),
            Ok(None) if *declared => vec![view(
                String::new(),
                String::new(),
                name.to_string(),
                ForeignRead::Error(format!(
                    "the host says `dokku: true`, but {} is not there",
                    foreign::DOKKU_DATA
                )),
            )],
            Ok(None) => Vec::new(),
            // A host that cannot be reached is said once, as no app.
            Err(e) => vec![view(
                String::new(),
                String::new(),
                name.to_string(),
                ForeignRead::Error(e),
            )],
        }
    }));
    let (kamal, dokku) = futures_util::join!(kamal, dokku);
    let dokku: Vec<ForeignView> = dokku
        .into_iter()
        .flatten()
        // An unreachable host is only news when no app was asked for, or
        // when it might hold the app asked for.
        .filter(|v| only.is_none_or(|o| v.app == o || v.app.is_empty()))
        .filter(|_| destination.is_none())
        .collect();
    (kamal, dokku)
}

fn view(app: String, destination: String, host: String, read: ForeignRead) -> ForeignView {
    let (held, lock, error) = match read {
        ForeignRead::Free => (false, None, None),
        ForeignRead::Held(l) => (true, Some(*l), None),
        ForeignRead::Error(e) => (false, None, Some(e)),
    };
    ForeignView {
        app,
        destination,
        host,
        held,
        lock,
        error,
    }
}

/// Watches every app's lock (berth's, Kamal's, Dokku's) and the history,
/// sending what changed; `reload` asks for a read now.
pub async fn watch(
    config: std::sync::Arc<Config>,
    session: &Session,
    tx: tokio::sync::mpsc::UnboundedSender<crate::engine::watch::Update>,
    reload: std::sync::Arc<tokio::sync::Notify>,
) {
    crate::engine::watch::run(config, session.gateway.hosts().clone(), tx, reload).await
}
