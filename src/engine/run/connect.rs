//! Reaching a run's hosts: connecting each once (`parallel_connects` at a
//! time), warming SSH masters ahead of need, naming the hosts whose
//! connection dropped under a failed stage, and each host's state directory.

use super::*;

impl Runner<'_> {
    /// Connects to each host of a stage (once per run).
    /// Connects to the hosts not yet connected, `parallel_connects` at
    /// once: one slow host delays only its own connection.
    pub(super) async fn connect(&mut self, hosts: &[HostName]) -> Result<(), StepError> {
        let config = self.ctx.config;
        let gateway = &self.ctx.gateway;
        let missing = hosts.iter().filter(|h| !self.docker.contains_key(*h));
        let connected = bounded(
            config.fleet.parallel_connects.get(),
            missing.map(|host| async move {
                let r = match config.host(host) {
                    Ok(cfg) => gateway
                        .engine_of(cfg, Duration::from_secs(10))
                        .await
                        .map_err(Failure::on(host)),
                    Err(e) => Err(Failure::on(host)(e)),
                };
                (host, r)
            }),
        )
        .await;
        for (host, r) in connected {
            self.docker.insert(host.clone(), r?);
        }
        Ok(())
    }

    /// Opens the connections of every SSH host of the plan at once, in the
    /// background, while the first stages (the lock, on the primary host
    /// alone) run: each later stage then finds its hosts' connections open
    /// in the shared pool instead of opening them one stage at a time.
    /// Failures are left for the stage that needs the host to report.
    pub(super) fn warm_up_ssh_hosts(&self) -> tokio::task::JoinHandle<()> {
        let mut hosts: Vec<&HostName> = self.plan.stages.iter().flat_map(|s| &s.hosts).collect();
        hosts.sort();
        hosts.dedup();
        let endpoints: Vec<Endpoint> = hosts
            .into_iter()
            .filter_map(|h| self.ctx.config.host(h).ok())
            .map(Endpoint::from_config)
            .filter(|e| matches!(e, Endpoint::Ssh { .. }))
            .collect();
        let limit = self.ctx.config.fleet.parallel_connects.get();
        let pool = self.ctx.gateway.hosts().clone();
        tokio::spawn(async move {
            let reach = endpoints.iter().map(|e| pool.reach(e, lock::REACH_TIMEOUT));
            bounded(limit, reach).await;
        })
    }

    /// A failed stage's error, with a line for each of its SSH hosts whose
    /// connection is gone: "connection closed" from Docker alone does not
    /// say that the host dropped.
    pub(super) async fn with_dropped_hosts(
        &self,
        stage_hosts: &[HostName],
        mut error: String,
    ) -> String {
        for host in stage_hosts {
            let Some(tunnel) = self.docker.get(host).and_then(|e| e.tunnel()) else {
                continue;
            };
            let Ok(cfg) = self.ctx.config.host(host) else {
                continue;
            };
            if !tunnel.alive().await {
                error.push_str(&format!(
                    "\nhost {host}: its SSH connection ({}) dropped; berth did not finish its work there, and reconnects on the next action",
                    Endpoint::from_config(cfg).describe()
                ));
            }
        }
        error
    }

    /// berth's state directory on a host (through its SSH connection).
    pub(super) async fn state_dir(&self, host: &HostName) -> Result<hosts::HostPath, StepError> {
        self.ctx
            .gateway
            .hosts()
            .state_dir(
                self.ctx.config.host(host).map_err(Failure::on(host))?,
                lock::REACH_TIMEOUT,
            )
            .await
            .map_err(|e| Failure::on(host)(e).into())
    }
}
