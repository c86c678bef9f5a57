//! A host's facts: `berth hosts check` (reachable, SSH round trip, Docker
//! version, socket, state directory writable, clock skew, registry logins)
//! and the console's host screen (clock and disk).

use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;

use super::Session;
use crate::config::{Config, HostConfig};
use crate::docker::{DiskUse, Gateway};
use crate::hosts::{self, Endpoint};

/// Skew beyond this is reported as a problem: lock ages and history times
/// compare clocks across machines.
pub const SKEW_LIMIT_MS: i64 = 2_000;

#[derive(Debug, Default, Serialize)]
pub struct HostCheck {
    pub host: String,
    pub endpoint: String,
    pub reachable: bool,
    /// Why the host is not reachable, or what failed.
    pub error: Option<String>,
    /// One no-op command over the SSH master connection.
    pub ssh_round_trip_ms: Option<f64>,
    pub docker_version: Option<String>,
    pub api_version: Option<String>,
    /// The Docker socket on the host.
    pub socket: String,
    pub state_dir: Option<String>,
    /// `None` when it could not be checked.
    pub state_dir_writable: Option<bool>,
    pub state_dir_note: Option<String>,
    /// The engine's clock minus this machine's, at the middle of the request.
    pub clock_skew_ms: Option<i64>,
    /// Its logins to the registries of the apps it runs.
    pub registries: Vec<super::doctor::RegistryLogin>,
    /// Tools berth runs on an SSH host that do not run there, each with
    /// what needs it.
    pub missing_tools: Vec<String>,
}

impl HostCheck {
    pub fn ok(&self) -> bool {
        self.reachable
            && self.error.is_none()
            && self.state_dir_writable != Some(false)
            && self.clock_skew_ms.is_none_or(|s| s.abs() <= SKEW_LIMIT_MS)
            && self.registries.iter().all(|r| r.problem.is_none())
            && self.missing_tools.is_empty()
    }
}

/// Every host of the config, `parallel_connects` at once.
pub async fn check_all(config: &Config, session: &Session, timeout: Duration) -> Vec<HostCheck> {
    let gateway = &session.gateway;
    let mut checks: Vec<HostCheck> = futures_util::stream::iter(&config.fleet.hosts)
        .map(|(name, cfg)| check(gateway, name.as_str(), cfg, timeout))
        .buffered(config.fleet.parallel_connects.get())
        .collect()
        .await;
    // Each host's login to the registries of its apps, from its own engine.
    for login in super::doctor::registry_logins(config, gateway).await {
        if let Some(c) = checks.iter_mut().find(|c| c.host == login.host) {
            c.registries.push(login);
        }
    }
    checks
}

/// A host's clock against this machine's: ms, the engine's minus ours.
pub async fn clock(config: &Config, session: &Session, host: &str) -> Result<i64, String> {
    session
        .client_for(config, host, Duration::from_secs(5))
        .await?
        .clock_skew_ms(Duration::from_secs(5))
        .await
        .ok_or_else(|| "the engine did not say its time".to_string())
}

/// The disk a host's engine uses. Sizing containers makes the engine walk
/// their layers: asked for when the host screen opens, not kept up to date.
pub async fn disk(config: &Config, session: &Session, host: &str) -> Result<DiskUse, String> {
    session
        .client_for(config, host, Duration::from_secs(5))
        .await?
        .disk_use(Duration::from_secs(30))
        .await
        .map_err(|e| e.to_string())
}

async fn check(gateway: &Gateway, host: &str, cfg: &HostConfig, timeout: Duration) -> HostCheck {
    let endpoint = Endpoint::from_config(cfg);
    let mut c = HostCheck {
        host: host.to_string(),
        endpoint: endpoint.describe(),
        ..Default::default()
    };
    c.socket = match &endpoint {
        Endpoint::Local { socket } => socket.display().to_string(),
        Endpoint::Ssh { remote_socket, .. } => remote_socket.display().to_string(),
        Endpoint::Tcp { addr, .. } => addr.clone(),
        Endpoint::Invalid { .. } => "-".into(),
    };
    let reach = match gateway.hosts().reach(&endpoint, timeout).await {
        Ok(r) => r,
        Err(e) => {
            c.error = Some(e.to_string());
            return c;
        }
    };
    if let Some(t) = reach.tunnel() {
        let start = Instant::now();
        match t.output(&["true"], timeout).await.map(|o| o.success()) {
            Ok(true) => c.ssh_round_trip_ms = Some(start.elapsed().as_secs_f64() * 1000.0),
            Ok(false) => c.error = Some("`true` failed over ssh".into()),
            Err(e) => c.error = Some(e.to_string()),
        }
        // The nginx switch holds its file lock with the host's own flock.
        if c.error.is_none()
            && !matches!(
                t.output(&["flock", "--version"], timeout)
                    .await
                    .map(|o| o.success()),
                Ok(true)
            )
        {
            c.missing_tools.push(
                "`flock` does not run (util-linux): the nginx switch on this host needs it".into(),
            );
        }
    }
    let engine = gateway.engine(&endpoint, timeout).await;
    match async { engine?.version(timeout).await }.await {
        Ok(info) => {
            c.reachable = true;
            c.docker_version = Some(info.version);
            c.api_version = Some(info.api_version);
        }
        Err(e) => c.error = Some(e.to_string()),
    }
    if c.reachable
        && let Ok(engine) = gateway.engine(&endpoint, timeout).await
    {
        c.clock_skew_ms = engine.clock_skew_ms(timeout).await;
    }
    let dir = match hosts::state_path(cfg) {
        Ok(d) => d,
        Err(e) => {
            c.state_dir_note = Some(e.to_string());
            return c;
        }
    };
    match reach.tunnel() {
        None => {
            c.state_dir = Some(dir.display().to_string());
            let (writable, note) = local_writable(&dir);
            c.state_dir_writable = Some(writable);
            c.state_dir_note = note;
        }
        Some(t) => {
            // Shown as configured: `~/.berth`, relative to the login directory.
            c.state_dir = Some(match dir.is_relative() {
                true => format!("~/{}", dir.display()),
                false => dir.display().to_string(),
            });
            let (writable, note) = remote_writable(t, &dir, timeout).await;
            c.state_dir_writable = writable;
            c.state_dir_note = note;
        }
    }
    c
}

/// Whether berth can write its state under `dir`, or create it: a probe
/// file made and removed in it, or in its nearest existing parent, which
/// must be a directory.
fn local_writable(dir: &Path) -> (bool, Option<String>) {
    let Some(existing) = dir.ancestors().find(|p| p.exists()) else {
        return (
            false,
            Some(format!("no parent of {} exists", dir.display())),
        );
    };
    if !existing.is_dir() {
        return (
            false,
            Some(format!("{} is not a directory", existing.display())),
        );
    }
    let note = (existing != dir).then(|| {
        format!(
            "{} does not exist yet; berth creates it in {}",
            dir.display(),
            existing.display()
        )
    });
    match tempfile::tempfile_in(existing) {
        Ok(_) => (true, note),
        Err(e) => (
            false,
            Some(format!("cannot write in {}: {e}", existing.display())),
        ),
    }
}

/// The same on an SSH host, with `test` run as an argument vector.
async fn remote_writable(
    t: &hosts::ssh::Tunnel,
    dir: &Path,
    timeout: Duration,
) -> (Option<bool>, Option<String>) {
    let test = |flag: &'static str, p: String| async move {
        t.output(&["test", flag, &p], timeout)
            .await
            .map(|o| o.success())
    };
    for p in dir.ancestors() {
        let p = if p.as_os_str().is_empty() {
            ".".to_string()
        } else {
            p.to_string_lossy().to_string()
        };
        match test("-e", p.clone()).await {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => return (None, Some(e.to_string())),
        }
        let note = (p != dir.to_string_lossy()).then(|| {
            format!(
                "{} does not exist yet on the host; berth creates it in {p}",
                dir.display()
            )
        });
        return match (test("-d", p.clone()).await, test("-w", p.clone()).await) {
            (Ok(false), _) => (
                Some(false),
                Some(format!("{p} is not a directory on the host")),
            ),
            (Ok(true), Ok(true)) => (Some(true), note),
            (Ok(true), Ok(false)) => (
                Some(false),
                Some(format!("{p} is not writable on the host")),
            ),
            (Err(e), _) | (_, Err(e)) => (None, Some(e.to_string())),
        };
    }
    (
        Some(false),
        Some(format!("no parent of {} exists on the host", dir.display())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_state_dir_is_writable_when_its_parent_is() {
        let tmp = tempfile::tempdir().unwrap();
        let (ok, note) = local_writable(tmp.path());
        assert!(ok && note.is_none());
        let (ok, note) = local_writable(&tmp.path().join("a/b"));
        assert!(ok);
        assert!(note.unwrap().contains("does not exist yet"));
        let file = tmp.path().join("f");
        std::fs::write(&file, "").unwrap();
        let (ok, note) = local_writable(&file.join("state"));
        assert!(!ok);
        assert!(note.unwrap().contains("is not a directory"));
    }
}
