//! The gateway: every host's engine, reached once and shared. One per
//! process, made by the front end and passed down; cloning shares it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Client, DockerError};
use crate::config::HostConfig;
use crate::hosts::{Endpoint, Pool};

/// The engines of the fleet and the SSH connections under them.
#[derive(Clone, Default)]
pub struct Gateway {
    pool: Pool,
    engines: Arc<Mutex<HashMap<Endpoint, Client>>>,
}

impl Gateway {
    pub fn new() -> Self {
        Self::default()
    }

    /// The hosts' connections, for their files and commands.
    pub fn hosts(&self) -> &Pool {
        &self.pool
    }

    /// The engine of a configured host.
    pub async fn engine_of(
        &self,
        host: &HostConfig,
        timeout: Duration,
    ) -> Result<Client, DockerError> {
        self.engine(&Endpoint::from_config(host), timeout).await
    }

    /// The engine at `endpoint`, reached within `timeout`. The client is
    /// kept and shared; an SSH host's connection is checked on each call
    /// and re-opened (with a new client) when it died.
    pub async fn engine(
        &self,
        endpoint: &Endpoint,
        timeout: Duration,
    ) -> Result<Client, DockerError> {
        let reach = self.pool.reach(endpoint, timeout).await?;
        if let Some(e) = self.cached(endpoint)
            && *e.target() == reach.target
        {
            return Ok(e);
        }
        let docker =
            super::open_target(&reach.target, timeout)
                .await
                .map_err(|e| match endpoint {
                    Endpoint::Local { .. } | Endpoint::Tcp { .. } | Endpoint::Invalid { .. } => e,
                    Endpoint::Ssh { remote_socket, .. } => DockerError::Tunnel {
                        endpoint: endpoint.describe(),
                        socket: remote_socket.display().to_string(),
                        source: Box::new(e),
                    },
                })?;
        let engine = Client::new(docker, reach, endpoint.describe());
        self.engines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(endpoint.clone(), engine.clone());
        Ok(engine)
    }

    fn cached(&self, endpoint: &Endpoint) -> Option<Client> {
        self.engines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(endpoint)
            .cloned()
    }

    /// Forgets an engine's client after its connection failed, so the next
    /// call connects afresh (those still holding it keep theirs).
    pub fn forget(&self, endpoint: &Endpoint) {
        self.engines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(endpoint);
    }

    /// Drops every client and closes the SSH connections nothing else
    /// holds (at exit: ssh would keep idle masters for a while).
    pub fn close(&self) {
        self.engines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
        self.pool.close();
    }
}
