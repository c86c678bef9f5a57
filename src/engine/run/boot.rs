//! The per-host container work of a run: images, the release task,
//! booting, gating, stopping and pruning containers.

use super::*;

impl Runner<'_> {
    /// Records the containers a stage brought up (for its gate, and for
    /// restore), then reports the first host that failed.
    pub(super) fn record_fresh(
        &mut self,
        role: &RoleName,
        hosts: &[HostName],
        results: Vec<Result<Fresh, Failure>>,
        origin: Origin,
    ) -> Result<(), StepError> {
        let mut first = None;
        for (host, r) in hosts.iter().zip(results) {
            match r {
                Ok(f) => {
                    let touched = Touched {
                        host: host.clone(),
                        id: f.id.clone(),
                        name: f.name.clone(),
                    };
                    match origin {
                        Origin::Booted => self.booted.push(touched),
                        Origin::Retained => self.started_retained.push(touched),
                    }
                    self.fresh.insert((role.clone(), host.clone()), f);
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), |e| Err(e.into()))
    }

    pub(super) fn env(
        &self,
        role: &RoleName,
    ) -> Result<BTreeMap<String, crate::config::EnvValue>, String> {
        let secrets = self.secrets.as_ref().map_err(|e| e.to_string())?;
        self.ctx
            .config
            .resolve_env(
                &self.plan.app,
                role,
                self.plan.destination.as_ref(),
                secrets,
            )
            .map_err(|e| e.to_string())
    }

    pub(super) fn labels(
        &self,
        role: &str,
        version: &str,
        host: &HostName,
        phase: Option<&str>,
    ) -> BerthLabels {
        BerthLabels {
            app: self.plan.app.to_string(),
            role: role.to_string(),
            version: version.to_string(),
            destination: self.destination.clone(),
            phase: phase.map(str::to_string),
            host: host.to_string(),
            run: self.ctx.run_id.clone(),
        }
    }

    /// The release task: a throw-away container from the new image, with the
    /// primary role's env. Removed whatever happens; a non-zero exit fails
    /// the deploy before any new container boots.
    pub(super) async fn release_task(
        &self,
        i: usize,
        host: &HostName,
        image: &str,
        command: &[String],
        version: &Version,
    ) -> Result<(), StepError> {
        let docker = self.dock(host)?;
        let network = docker.ensure_network().await.map_err(Failure::on(host))?;
        let spec = ContainerSpec {
            network,
            name: format!(
                "{}-release-{version}-{}",
                self.plan.app,
                docker::containers::suffix()
            ),
            image: image.to_string(),
            labels: self.labels("release", version.as_str(), host, Some("release")),
            env: self.env(&self.app.primary_role)?,
            cmd: Some(command.to_vec()),
            port: None,
            volumes: self.app.volumes.clone(),
            healthcheck: Some(None),
            stop_timeout: Duration::from_secs(1),
            restart: false,
        };
        let id = docker
            .create_and_start(&spec)
            .await
            .map_err(Failure::on(host))?;
        self.progress(i, host, format!("started {}", spec.name));
        let timeout = self
            .app
            .release
            .as_ref()
            .map(|r| r.timeout.get())
            .unwrap_or(Duration::from_secs(600));
        let outcome = tokio::select! {
            _ = self.ctx.cancel.cancelled() => Err(StepError::Cancelled),
            r = tokio::time::timeout(timeout, self.follow_task(i, host, docker, &id)) => match r {
                Ok(r) => r.map_err(StepError::Failed),
                Err(_) => Err(StepError::Failed(Failure::at(host, format!("release task {} did not finish within {}s", spec.name, timeout.as_secs()
                )))),
            },
        };
        // Whatever happened, the task container goes.
        if let Err(e) = docker.remove(&id, true).await {
            self.out(
                i,
                Some(host),
                format!("could not remove {}: {e}", spec.name),
            );
        }
        outcome
    }

    /// Streams a task's output until it exits; fails on a non-zero exit.
    pub(super) async fn follow_task(
        &self,
        i: usize,
        host: &HostName,
        docker: &Client,
        id: &str,
    ) -> Result<(), Failure> {
        let mut logs = docker.logs(
            id,
            docker::LogRange {
                follow: true,
                ..Default::default()
            },
        );
        let mut split = docker::LineSplitter::default();
        while let Some(chunk) = logs.next().await {
            let chunk = chunk
                .map_err(|e| Failure::at(host, format!("reading task output: {}", e.reason())))?;
            for line in split.push(&chunk.bytes) {
                self.out(i, Some(host), line);
            }
        }
        if let Some(line) = split.finish() {
            self.out(i, Some(host), line);
        }
        match docker.wait_exit(id).await {
            Ok(0) => Ok(()),
            Ok(code) => Err(Failure::at(
                host,
                format!("release task exited with code {code}"),
            )),
            Err(crate::docker::DockerError::Request { reason, .. })
                if reason.contains("did not report") =>
            {
                Err(Failure::at(
                    host,
                    "the engine did not report how the release task ended",
                ))
            }
            Err(e) => Err(Failure::at(
                host,
                format!("waiting for the release task: {}", e.reason()),
            )),
        }
    }

    pub(super) async fn boot_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
        version: &str,
        image: &str,
    ) -> Result<Fresh, Failure> {
        let docker = self.dock(host)?;
        let network = docker.ensure_network().await.map_err(Failure::on(host))?;
        let role_cfg = self
            .app
            .roles
            .get(role)
            .ok_or_else(|| format!("app {} has no role {role}", self.plan.app))?;
        let spec = ContainerSpec {
            network,
            name: docker::containers::container_name(
                self.plan.app.as_str(),
                role.as_str(),
                &self.destination,
                version,
            ),
            image: image.to_string(),
            labels: self.labels(role.as_str(), version, host, None),
            env: self.env(role)?,
            cmd: role_cfg.command.as_ref().map(|c| c.0.clone()),
            port: role_cfg.port,
            volumes: self
                .app
                .volumes
                .iter()
                .chain(&role_cfg.volumes)
                .cloned()
                .collect(),
            healthcheck: self.app.role_healthcheck(role),
            stop_timeout: self.app.stop_timeout.get(),
            restart: true,
        };
        let id = docker
            .create_and_start(&spec)
            .await
            .map_err(Failure::on(host))?;
        self.progress(i, host, format!("started {}", spec.name));
        Ok(Fresh {
            id,
            name: spec.name,
            version: version.to_string(),
        })
    }

    /// Restart = a fresh container of the version the host runs now.
    pub(super) async fn reboot_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
    ) -> Result<Fresh, Failure> {
        let running = self
            .dock(host)?
            .list(&self.selector(Some(role), None, Some(host)), false)
            .await
            .map_err(Failure::on(host))?;
        let Some(current) = running.first() else {
            return Err(Failure::at(
                host,
                format!(
                    "no running container of role `{role}` to restart (looked for: {}); deploy first",
                    self.selector(Some(role), None, Some(host)).describe()
                ),
            ));
        };
        let version = current
            .label(labels::VERSION)
            .unwrap_or_default()
            .to_string();
        let image = current.image.clone();
        self.out(
            i,
            Some(host),
            format!("replacing {} ({version})", current.name.clone()),
        );
        self.boot_one(i, role, host, &version, &image).await
    }

    /// Rollback: start the newest retained (stopped) container of another
    /// version, or of the version asked for.
    pub(super) async fn start_retained_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
        want: Option<&Version>,
    ) -> Result<Fresh, Failure> {
        let docker = self.dock(host)?;
        let all = docker
            .list(&self.selector(Some(role), None, Some(host)), true)
            .await
            .map_err(Failure::on(host))?;
        let version_of = |c: &docker::Listed| c.label(labels::VERSION).unwrap_or("").to_string();
        let running = |c: &&docker::Listed| c.running;
        let current: Vec<String> = all.iter().filter(running).map(version_of).collect();
        let retained: Vec<&docker::Listed> = all.iter().filter(|c| !running(c)).collect();
        let pick = retained.iter().find(|c| match want {
            Some(v) => version_of(c) == v.as_str(),
            None => !current.contains(&version_of(c)),
        });
        let Some(pick) = pick else {
            let mut have: Vec<String> = retained.iter().map(|c| version_of(c)).collect();
            have.dedup();
            let what = want
                .map(|v| format!("version `{v}`"))
                .unwrap_or_else(|| "an older version".into());
            return Err(Failure::at(
                host,
                format!(
                    "no retained container of {what} for role `{role}` (running: {}; retained: {})",
                    if current.is_empty() {
                        "none".into()
                    } else {
                        current.join(", ")
                    },
                    if have.is_empty() {
                        "none".into()
                    } else {
                        have.join(", ")
                    }
                ),
            ));
        };
        let id = pick.id.clone();
        let name = pick.name.clone();
        docker.start(&id).await.map_err(Failure::on(host))?;
        self.progress(i, host, format!("started retained {name}"));
        Ok(Fresh {
            id,
            name,
            version: version_of(pick),
        })
    }

    pub(super) async fn gate_one(
        &self,
        i: usize,
        group: &Group,
        host: &HostName,
    ) -> Result<(), GateError> {
        let Some(fresh) = self.fresh.get(&(group.role.clone(), host.clone())) else {
            return Err(GateError::Failed(
                Failure::at(
                    host,
                    format!("no new container of role `{}` to check", group.role),
                )
                .to_string(),
            ));
        };
        let gate = Gate {
            docker: self
                .dock(host)
                .map_err(|e| GateError::Failed(e.to_string()))?,
            host: host.as_str(),
            container_id: &fresh.id,
            container_name: &fresh.name,
            selector: self.selector(Some(&group.role), Some(&fresh.version), Some(host)),
            min_uptime: self.app.min_uptime.get(),
            timeout: self.app.deploy_timeout.get(),
        };
        gate.wait(&self.ctx.cancel, |seen| {
            self.emit(EngineEvent::HealthProbe {
                stage: i,
                host: host.to_string(),
                container: fresh.name.clone(),
                health: seen.health.clone(),
                output: seen.last_output.clone(),
            })
        })
        .await?;
        self.progress(i, host, format!("{} passed the health gate", fresh.name));
        Ok(())
    }

    /// Stops every other running container of the role on the host. Returns
    /// what it stopped even when a later stop fails (restore needs it).
    pub(super) async fn stop_old_one(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
    ) -> (Vec<(String, String)>, Option<Failure>) {
        let keep = self
            .fresh
            .get(&(role.clone(), host.clone()))
            .map(|f| f.id.clone());
        let docker = match self.dock(host) {
            Ok(d) => d,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let running = match docker
            .list(&self.selector(Some(role), None, Some(host)), false)
            .await
        {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Some(Failure::on(host)(e))),
        };
        let mut stopped = Vec::new();
        for c in running.iter().filter(|c| Some(&c.id) != keep.as_ref()) {
            let id = c.id.clone();
            let name = c.name.clone();
            if let Err(e) = docker.stop(&id, self.app.stop_timeout.get()).await {
                return (stopped, Some(Failure::on(host)(e)));
            }
            self.progress(i, host, format!("stopped {name}"));
            stopped.push((id, name));
        }
        if stopped.is_empty() {
            self.out(i, Some(host), "no old container was running");
        }
        (stopped, None)
    }

    pub(super) async fn prune_one(
        &self,
        i: usize,
        host: &HostName,
        retain: u32,
    ) -> Result<(), Failure> {
        let docker = self.dock(host)?;
        let mut images: Vec<String> = Vec::new();
        for role in self.app.roles.keys() {
            let all = docker
                .list(&self.selector(Some(role), None, Some(host)), true)
                .await
                .map_err(Failure::on(host))?;
            let stopped = all.iter().filter(|c| !c.running);
            for c in stopped.skip(retain as usize) {
                docker
                    .remove(&c.id, true)
                    .await
                    .map_err(Failure::on(host))?;
                self.out(
                    i,
                    Some(host),
                    format!("removed {} (beyond retain: {retain})", c.name.clone()),
                );
                if !images.contains(&c.image) {
                    images.push(c.image.clone());
                }
            }
        }
        // Their images too, unless a container (running or retained, this
        // app's or any other's) still uses one: the engine refuses those.
        let mut freed = 0;
        for image in &images {
            match docker.remove_unused_image(image).await {
                Ok(Some(0)) => {
                    self.out(
                        i,
                        Some(host),
                        format!("removed image {image} (its layers are another tag's)"),
                    );
                }
                Ok(Some(size)) => {
                    freed += size;
                    self.out(i, Some(host), format!("removed image {image}"));
                }
                Ok(None) => {}
                Err(e) => self.out(i, Some(host), format!("kept image {image}: {}", e.reason())),
            }
        }
        if freed > 0 {
            self.progress(
                i,
                host,
                format!("freed {}", crate::domain::format::bytes(freed)),
            );
        }
        Ok(())
    }

    pub(super) async fn remove_all_one(
        &self,
        i: usize,
        host: &HostName,
        purge_volumes: bool,
    ) -> Result<(), Failure> {
        let docker = self.dock(host)?;
        let mut all = docker
            .list(&self.selector(None, None, None), true)
            .await
            .map_err(Failure::on(host))?;
        // On an engine shared with another of the app's hosts, that host's
        // worker removes its own.
        all.retain(|c| {
            !crate::labels::started_for_another(c.label(crate::labels::HOST), host.as_str(), |h| {
                self.ctx.config.fleet.hosts.contains_key(h)
            })
        });
        let mut volumes: Vec<String> = Vec::new();
        if purge_volumes {
            volumes.extend(all.iter().flat_map(|c| c.volumes.iter().cloned()));
        }
        // Graceful stops in parallel: each may take the whole stop timeout.
        let removals = all.iter().map(|c| async move {
            let id = c.id.clone();
            docker
                .stop(&id, self.app.stop_timeout.get())
                .await
                .map_err(Failure::on(host))?;
            docker
                .remove(&id, purge_volumes)
                .await
                .map_err(Failure::on(host))?;
            self.progress(i, host, format!("removed {}", c.name.clone()));
            Ok::<(), Failure>(())
        });
        first_error(bounded(self.parallel(), removals).await).map_err(|e| match e {
            StepError::Failed(e) => e,
            StepError::Cancelled => Failure::at(host, "cancelled"),
        })?;
        if all.is_empty() {
            self.out(i, Some(host), "no containers of the app");
        }
        volumes.sort();
        volumes.dedup();
        for v in volumes {
            match docker.remove_volume(&v).await {
                Ok(()) => self.out(i, Some(host), format!("removed volume {v}")),
                Err(e) => self.out(i, Some(host), format!("kept volume {v}: {}", e.reason())),
            }
        }
        Ok(())
    }

    /// One container of the app on `host`, by hand: found by its name
    /// among the app's containers there (so no other app's container is
    /// ever touched), then restarted, stopped, started or removed.
    pub(super) async fn container_op(
        &self,
        i: usize,
        host: &HostName,
        name: &str,
        op: crate::engine::ContainerOp,
    ) -> Result<(), Failure> {
        use crate::engine::ContainerOp;
        let docker = self.dock(host)?;
        let selector = self.selector(None, None, Some(host));
        let found = docker
            .list(&selector, true)
            .await
            .map_err(Failure::on(host))?
            .into_iter()
            .find(|c| c.name == name)
            .ok_or_else(|| {
                Failure::at(
                    host,
                    format!(
                        "no container `{name}` of the app here (looked for: {})",
                        selector.describe()
                    ),
                )
            })?;
        let grace = self.app.stop_timeout.get();
        let done = match op {
            ContainerOp::Restart => docker.restart(&found.id, grace).await,
            ContainerOp::Stop => docker.stop(&found.id, grace).await,
            ContainerOp::Start => docker.start(&found.id).await,
            ContainerOp::Remove => docker.remove(&found.id, false).await,
        };
        done.map_err(Failure::on(host))?;
        let past = match op {
            ContainerOp::Restart => "restarted",
            ContainerOp::Stop => "stopped",
            ContainerOp::Start => "started",
            ContainerOp::Remove => "removed",
        };
        self.progress(i, host, format!("{past} {name}"));
        Ok(())
    }

    /// Runs `command` in every running container of `role` on `host`, one
    /// after another, each line of output named by its container; fails
    /// when one exits non-zero (or none runs). Returns where it ran, with
    /// the exit codes, for the history either way.
    pub(super) async fn exec_on(
        &self,
        i: usize,
        role: &RoleName,
        host: &HostName,
        command: &[String],
    ) -> Result<Vec<String>, (Vec<String>, Failure)> {
        let docker = self.dock(host).map_err(|e| (Vec::new(), e))?;
        let selector = self.selector(Some(role), None, Some(host));
        let running = docker
            .list(&selector, false)
            .await
            .map_err(|e| (Vec::new(), Failure::on(host)(e)))?;
        if running.is_empty() {
            return Err((
                Vec::new(),
                Failure::at(
                    host,
                    format!(
                        "no running container of role `{role}` (looked for: {})",
                        selector.describe()
                    ),
                ),
            ));
        }
        let mut ran = Vec::new();
        let mut failed = Vec::new();
        for c in &running {
            let name = &c.name;
            let code = docker
                .exec(&c.id, command, |stream, line| {
                    self.exec_out(i, host, name, stream, line)
                })
                .await;
            match code {
                Ok(Some(0)) => {
                    self.progress(i, host, format!("{name}: exit 0"));
                    ran.push(format!("{host}: {name} (exit 0)"));
                }
                Ok(code) => {
                    let code = code.map_or("no exit code".to_string(), |c| format!("exit {c}"));
                    self.progress(i, host, format!("{name}: {code}"));
                    ran.push(format!("{host}: {name} ({code})"));
                    failed.push(format!("{name}: {code}"));
                }
                Err(e) => {
                    ran.push(format!("{host}: {name} (did not run)"));
                    failed.push(format!("{name}: {}", e.reason()));
                }
            }
        }
        if failed.is_empty() {
            Ok(ran)
        } else {
            Err((ran, Failure::at(host, failed.join("; "))))
        }
    }
}
