//! The runner's traffic stages: switch, drain, switch back, remove. The
//! drivers themselves are in `engine::proxy`.

use std::time::Duration;

use futures_util::future::join_all;

use super::{Done, Failure, Runner, StepError};
use crate::config::HostName;
use crate::config::duration::format;
use crate::engine::lock;
use crate::engine::plan::Group;
use crate::engine::proxy::nginx::{self, Nginx};
use crate::engine::proxy::{self, Driver, Route, Target, kamal, probe, routing};

/// A proxy this run switched, and what it served before.
pub(super) struct Switched {
    pub host: HostName,
    pub driver: Driver,
    /// nginx: berth's file as it was (`None`: there was none).
    previous_file: Option<String>,
    /// The targets before the switch (re-resolved on the way back: an old
    /// container started again may have a new address).
    previous: Vec<Target>,
}

impl Runner<'_> {
    fn settings(&self) -> Result<&crate::config::ProxySettings, Failure> {
        self.proxy.as_ref().ok_or_else(|| {
            Failure::from(format!(
                "app `{}` has no `proxy:` for this destination",
                self.plan.app
            ))
        })
    }

    /// The host's nginx: on an SSH host, its files and commands go through
    /// the host's connection.
    async fn nginx(&self, host: &HostName) -> Result<Nginx<'_>, Failure> {
        let cfg = self.ctx.config.host(host).map_err(Failure::on(host))?;
        routing::nginx_of(self.ctx.gateway.hosts(), cfg, lock::REACH_TIMEOUT)
            .await
            .map_err(|e| Failure::at(host, e))
    }

    /// Where the probe reaches the proxy's port on the host.
    async fn proxy_addr(&self, host: &HostName) -> Result<probe::Via, Failure> {
        let listen = self.settings()?.listen;
        routing::via(self.dock(host)?, host, listen)
            .await
            .map_err(|e| Failure::at(host, e))
    }

    pub(super) async fn traffic(
        &mut self,
        i: usize,
        group: &Group,
        hosts: &[HostName],
    ) -> Result<Done, StepError> {
        let results = join_all(hosts.iter().map(|h| self.switch_one(i, group, h))).await;
        let mut first: Option<StepError> = None;
        for (switched, r) in results {
            self.switched.extend(switched);
            if let Err(e) = r {
                // A cancel wins over a failure: the operator asked to stop.
                if first.is_none() || matches!(e, StepError::Cancelled) {
                    first = Some(e);
                }
            }
        }
        first.map_or(Ok(Done::Ok), Err)
    }

    /// The containers traffic should go to on `host`: the one this run
    /// brought up, or (for `proxy sync`) every running healthy one.
    async fn targets(&self, group: &Group, host: &HostName) -> Result<Vec<Target>, Failure> {
        let port = self.settings()?.app_port;
        let docker = self.dock(host)?;
        if let Some(f) = self.fresh.get(&(group.role.clone(), host.clone())) {
            return Ok(vec![
                proxy::target_of(docker, &f.id, port)
                    .await
                    .map_err(Failure::on(host))?,
            ]);
        }
        let selector = self.selector(Some(&group.role), None, Some(host));
        let (out, running) = proxy::healthy_targets(docker, &selector, port)
            .await
            .map_err(Failure::on(host))?;
        if out.is_empty() {
            return Err(Failure::at(
                host,
                format!(
                    "no running healthy container to send traffic to (looked for: {}; found {running} running)",
                    selector.describe(),
                ),
            ));
        }
        // Two versions running (a rollback or deploy killed half-way):
        // syncing would send traffic to both. Refused before the proxy is
        // touched; the operator picks one.
        let mut versions: Vec<&str> = out.iter().map(|t| t.version.as_str()).collect();
        versions.sort_unstable();
        versions.dedup();
        if versions.len() > 1 {
            let names: Vec<&str> = out.iter().map(|t| t.container.as_str()).collect();
            return Err(Failure::OnHost {
                host: host.clone(),
                cause: crate::engine::error::Cause::Refused(format!(
                    "versions {} run at once ({}): a sync would send traffic to all of them; deploy the one to serve (`berth deploy {} -V VERSION`) or stop the others (`berth container stop NAME`)",
                    versions.join(" and "),
                    names.join(", "),
                    self.plan.app
                )),
            });
        }
        Ok(out)
    }

    /// Old running containers of the role on `host`: what served before.
    async fn serving_before(&self, group: &Group, host: &HostName) -> Vec<Target> {
        let Ok(port) = self.settings().map(|s| s.app_port) else {
            return Vec::new();
        };
        let fresh = self
            .fresh
            .get(&(group.role.clone(), host.clone()))
            .map(|f| f.id.clone());
        let Ok(docker) = self.dock(host) else {
            return Vec::new();
        };
        let selector = self.selector(Some(&group.role), None, Some(host));
        let mut out = Vec::new();
        for c in docker.list(&selector, false).await.unwrap_or_default() {
            if Some(&c.id) != fresh.as_ref()
                && let Ok(t) = proxy::target_of(docker, &c.id, port).await
            {
                out.push(t);
            }
        }
        out
    }

    /// Switches one host; returns what to undo (when something changed) and
    /// how it went. A switch whose proof fails is undone here.
    async fn switch_one(
        &self,
        i: usize,
        group: &Group,
        host: &HostName,
    ) -> (Option<Switched>, Result<(), StepError>) {
        let settings = match self.settings() {
            Ok(s) => s,
            Err(e) => return (None, Err(e.into())),
        };
        let docker = match self.dock(host) {
            Ok(d) => d,
            Err(e) => return (None, Err(e.into())),
        };
        let driver = match proxy::driver_for(docker, settings.driver).await {
            Ok(d) => d,
            Err(e) => return (None, Err(Failure::on(host)(e).into())),
        };
        let targets = match self.targets(group, host).await {
            Ok(t) => t,
            Err(e) => return (None, Err(e.into())),
        };
        match driver {
            Driver::Nginx => self.switch_nginx(i, host, targets).await,
            Driver::KamalProxy => {
                let previous = self.serving_before(group, host).await;
                match self.switch_kamal(i, host, &group.role, &targets).await {
                    Ok(()) => (
                        Some(Switched {
                            host: host.clone(),
                            driver,
                            previous_file: None,
                            previous,
                        }),
                        Ok(()),
                    ),
                    // kamal-proxy keeps the old target when a deploy fails.
                    Err(e) => (None, Err(e.into())),
                }
            }
        }
    }

    async fn switch_nginx(
        &self,
        i: usize,
        host: &HostName,
        targets: Vec<Target>,
    ) -> (Option<Switched>, Result<(), StepError>) {
        let work = async {
            let settings = self.settings()?;
            let nginx = self.nginx(host).await?;
            let path = nginx.path(self.plan.app.as_str(), &self.destination);
            let previous_file = nginx.read(&path).await.map_err(Failure::on(host))?;
            let previous = previous_file
                .as_deref()
                .and_then(nginx::parse_route)
                .map(|r| r.targets)
                .unwrap_or_default();
            let route = Route::new(self.plan.app.as_str(), &self.destination, settings, targets);
            let text = nginx::render(&route);
            self.out(
                i,
                Some(host),
                format!("nginx: {path} → {}", route.describe()),
            );
            let log = |l: String| self.out(i, Some(host), l);
            nginx
                .apply(&path, Some(&text), previous_file.as_deref(), &log)
                .await
                .map_err(Failure::on(host))?;
            self.out(i, Some(host), "nginx reloaded");
            Ok::<_, Failure>((path, previous_file, previous, route, text))
        };
        let (path, previous_file, previous, route, text) = match work.await {
            Ok(w) => w,
            Err(e) => return (None, Err(e.into())),
        };
        let switched = Switched {
            host: host.clone(),
            driver: Driver::Nginx,
            previous_file: previous_file.clone(),
            previous,
        };
        match self.prove(i, host, &route).await {
            Ok(()) => (Some(switched), Ok(())),
            // Restore undoes it.
            Err(StepError::Cancelled) => (Some(switched), Err(StepError::Cancelled)),
            Err(StepError::Failed(e)) => {
                let undo = match self.nginx(host).await {
                    Ok(n) => n
                        .apply(&path, previous_file.as_deref(), Some(&text), &|_| {})
                        .await
                        .map(|()| "the previous nginx config is back".to_string())
                        .unwrap_or_else(|e| {
                            format!("putting the previous config back failed: {e}")
                        }),
                    Err(e) => e.to_string(),
                };
                (None, Err(Failure::at(host, format!("{e}; {undo}")).into()))
            }
        }
    }

    /// The switch is real once a request through the proxy is answered from
    /// the new config (its generation) with 2xx/3xx.
    async fn prove(&self, i: usize, host: &HostName, route: &Route) -> Result<(), StepError> {
        self.prove_until(i, host, route, &self.ctx.cancel, "the new config")
            .await
    }

    /// [`Runner::prove`], until `cancel`; `what` names the config in the
    /// stage's output.
    async fn prove_until(
        &self,
        i: usize,
        host: &HostName,
        route: &Route,
        cancel: &tokio_util::sync::CancellationToken,
        what: &str,
    ) -> Result<(), StepError> {
        let settings = self.settings()?;
        let addr = self.proxy_addr(host).await?;
        let host_header = probe::host_header(&settings.domains);
        let proof = probe::Proof {
            addr: &addr,
            host: &host_header,
            path: &settings.health_path,
            interval: settings.health_interval,
            per_try: settings.health_timeout,
            deadline: self.app.deploy_timeout.get(),
        };
        match probe::until_switched(&proof, &route.generation, cancel).await {
            Ok(a) => {
                self.out(
                    i,
                    Some(host),
                    format!(
                        "GET {} (Host: {host_header}) through {addr}: {} from {what}",
                        settings.health_path, a.status
                    ),
                );
                Ok(())
            }
            Err(None) => Err(StepError::Cancelled),
            Err(Some(e)) => Err(StepError::Failed(e.into())),
        }
    }

    async fn switch_kamal(
        &self,
        i: usize,
        host: &HostName,
        role: &crate::config::RoleName,
        targets: &[Target],
    ) -> Result<(), Failure> {
        let settings = self.settings()?;
        let docker = self.dock(host)?;
        let Some(target) = targets.first() else {
            return Err(Failure::at(host, "no container to send traffic to"));
        };
        kamal::ensure_network(docker)
            .await
            .map_err(Failure::on(host))?;
        let service = kamal::service(self.plan.app.as_str(), role.as_str(), &self.destination);
        let timeout = self.app.deploy_timeout.get();
        let args = kamal::deploy_args(&service, target, settings, timeout);
        self.out(i, Some(host), format!("running {}", args.join(" ")));
        let log = |l: String| self.out(i, Some(host), l);
        kamal::exec(docker, &args, timeout + Duration::from_secs(30), &log)
            .await
            .map_err(Failure::on(host))?;
        self.out(
            i,
            Some(host),
            format!("kamal-proxy: {service} → {}", target.container),
        );
        Ok(())
    }

    /// Old containers keep serving what they already accepted for `timeout`.
    pub(super) async fn drain(
        &self,
        i: usize,
        group: &Group,
        hosts: &[HostName],
        timeout: Duration,
    ) -> Result<Done, StepError> {
        if timeout.is_zero() {
            return Ok(Done::Skipped(
                "drain_timeout is 0: old containers stop at once".into(),
            ));
        }
        let mut old = Vec::new();
        for h in hosts {
            old.extend(self.serving_before(group, h).await);
        }
        if old.is_empty() {
            return Ok(Done::Skipped("no old container was serving".into()));
        }
        let names: Vec<&str> = old.iter().map(|t| t.container.as_str()).collect();
        self.out(
            i,
            None,
            format!(
                "{} finish the requests they hold; stopping in {}",
                names.join(", "),
                format(timeout)
            ),
        );
        self.cancellable(tokio::time::sleep(timeout)).await?;
        Ok(Done::Ok)
    }

    /// Points a host's proxy back at what served before this run.
    pub(super) async fn switch_back(&self, i: usize, s: &Switched) -> Result<(), Failure> {
        let settings = self.settings()?;
        let docker = self.dock(&s.host)?;
        let mut targets = Vec::new();
        for t in &s.previous {
            if let Ok(t) = proxy::target_of(docker, &t.id, settings.app_port).await {
                targets.push(t);
            }
        }
        match s.driver {
            Driver::Nginx => {
                let nginx = self.nginx(&s.host).await?;
                let path = nginx.path(self.plan.app.as_str(), &self.destination);
                let current = nginx.read(&path).await.map_err(Failure::on(&s.host))?;
                let text = if targets.is_empty() {
                    s.previous_file.clone()
                } else {
                    Some(nginx::render(&Route::new(
                        self.plan.app.as_str(),
                        &self.destination,
                        settings,
                        targets,
                    )))
                };
                nginx
                    .apply(&path, text.as_deref(), current.as_deref(), &|_| {})
                    .await
                    .map_err(Failure::on(&s.host))?;
                let route = text.as_deref().and_then(nginx::parse_route);
                let what = match &route {
                    Some(r) => r.describe(),
                    None => "no config (as before)".into(),
                };
                self.out(i, Some(&s.host), format!("nginx back to {what}"));
                // Back only once nginx answers from the restored config:
                // until then its workers may still send requests to the
                // new containers, which restore removes next. The run was
                // cancelled already: this wait has its own deadline only.
                if let Some(route) = &route
                    && let Err(e) = self
                        .prove_until(
                            i,
                            &s.host,
                            route,
                            &tokio_util::sync::CancellationToken::new(),
                            "the restored config",
                        )
                        .await
                {
                    return Err(match e {
                        StepError::Failed(f) => f,
                        StepError::Cancelled => {
                            Failure::at(&s.host, "proving the way back was cancelled")
                        }
                    });
                }
            }
            Driver::KamalProxy => {
                let Some(target) = targets.first() else {
                    self.out(
                        i,
                        Some(&s.host),
                        "kamal-proxy: no old container runs to send traffic back to",
                    );
                    return Ok(());
                };
                let service = kamal::service(
                    self.plan.app.as_str(),
                    settings.role.as_str(),
                    &self.destination,
                );
                let timeout = self.app.deploy_timeout.get();
                let args = kamal::deploy_args(&service, target, settings, timeout);
                let log = |l: String| self.out(i, Some(&s.host), l);
                kamal::exec(docker, &args, timeout + Duration::from_secs(30), &log)
                    .await
                    .map_err(Failure::on(&s.host))?;
                self.out(
                    i,
                    Some(&s.host),
                    format!("kamal-proxy back to {}", target.container),
                );
            }
        }
        Ok(())
    }

    /// Destroy: the app's proxy config goes before its containers do.
    pub(super) async fn remove_routes(
        &self,
        i: usize,
        hosts: &[HostName],
    ) -> Result<Done, StepError> {
        let settings = self.settings()?;
        for host in hosts {
            match proxy::driver_for(self.dock(host)?, settings.driver)
                .await
                .map_err(Failure::on(host))?
            {
                Driver::Nginx => {
                    let nginx = self.nginx(host).await?;
                    let path = nginx.path(self.plan.app.as_str(), &self.destination);
                    let Some(current) = nginx.read(&path).await.map_err(Failure::on(host))? else {
                        self.out(i, Some(host), format!("no {path}"));
                        continue;
                    };
                    let log = |l: String| self.out(i, Some(host), l);
                    nginx
                        .apply(&path, None, Some(&current), &log)
                        .await
                        .map_err(Failure::on(host))?;
                    self.out(i, Some(host), format!("removed {path}; nginx reloaded"));
                }
                Driver::KamalProxy => {
                    let service = kamal::service(
                        self.plan.app.as_str(),
                        settings.role.as_str(),
                        &self.destination,
                    );
                    let args = vec!["kamal-proxy".to_string(), "remove".into(), service];
                    let log = |l: String| self.out(i, Some(host), l);
                    kamal::exec(self.dock(host)?, &args, Duration::from_secs(60), &log)
                        .await
                        .map_err(Failure::on(host))?;
                }
            }
        }
        Ok(Done::Ok)
    }
}
