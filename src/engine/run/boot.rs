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
        results: Vec<Result<Fresh, String>>,
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

    pub(super) async fn ensure_image(
        &self,
        i: usize,
        host: &HostName,
        image: &str,
    ) -> Result<(), String> {
        let docker = self.dock(host)?;
        if docker.inspect_image(image).await.is_ok() {
            self.out(i, Some(host), format!("{image} is present"));
            return Ok(());
        }
        if let Some(build) = &self.app.build {
            let dir = self.ctx.config.dir().join(&build.context);
            self.out(
                i,
                Some(host),
                format!("building {image} from {}", dir.display()),
            );
            let tar = tokio::task::spawn_blocking(move || docker::build::context_tar(&dir))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("host {host}: reading build context: {e}"))?;
            let dockerfile = build.dockerfile.as_deref().unwrap_or("Dockerfile");
            return docker::build::build_image(
                docker,
                image,
                tar,
                dockerfile,
                &build.args,
                |line| self.out(i, Some(host), line),
            )
            .await
            .map_err(|e| format!("host {host}: {e}"));
        }
        self.out(
            i,
            Some(host),
            format!("{image} is not on the host; pulling"),
        );
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let opts = CreateImageOptions {
            from_image: Some(repo.into()),
            tag: Some(tag.into()),
            ..Default::default()
        };
        let mut stream = docker.create_image(Some(opts), None, None);
        while let Some(item) = stream.next().await {
            let info =
                item.map_err(|e| format!("host {host}: pulling {image}: {}", describe(&e)))?;
            if let Some(detail) = info.error_detail {
                return Err(format!(
                    "host {host}: pulling {image}: {}",
                    detail.message.unwrap_or_default()
                ));
            }
            if let (Some(status), None) = (info.status, info.progress_detail) {
                self.out(i, Some(host), crate::sanitize::one_line(&status));
            }
        }
        Ok(())
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
    ) -> Result<(), StepError> {
        let docker = self.dock(host)?;
        let version = match &self.plan.action {
            Action::Deploy { version, .. } => version.to_string(),
            _ => unreachable!("release tasks belong to deploys"),
        };
        containers::ensure_network(docker)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
        let spec = ContainerSpec {
            name: format!(
                "{}-release-{version}-{}",
                self.plan.app,
                containers::suffix()
            ),
            image: image.to_string(),
            labels: self.labels("release", &version, host, Some("release")),
            env: self.env(&self.app.primary_role)?,
            cmd: Some(command.to_vec()),
            port: None,
            volumes: self.app.volumes.clone(),
            healthcheck: Some(None),
            stop_timeout: Duration::from_secs(1),
            restart: false,
        };
        let id = containers::create_and_start(docker, &spec)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
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
                Err(_) => Err(StepError::Failed(format!(
                    "host {host}: release task {} did not finish within {}s", spec.name, timeout.as_secs()
                ))),
            },
        };
        // Whatever happened, the task container goes.
        if let Err(e) = containers::remove(docker, &id, true).await {
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
        docker: &Docker,
        id: &str,
    ) -> Result<(), String> {
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: "all".into(),
            ..Default::default()
        };
        let mut logs = docker.logs(id, Some(opts));
        let mut split = containers::LineSplitter::default();
        while let Some(chunk) = logs.next().await {
            let chunk =
                chunk.map_err(|e| format!("host {host}: reading task output: {}", describe(&e)))?;
            for line in split.push(&chunk.into_bytes()) {
                self.out(i, Some(host), line);
            }
        }
        if let Some(line) = split.finish() {
            self.out(i, Some(host), line);
        }
        let mut wait = docker.wait_container(id, None::<WaitContainerOptions>);
        match wait.next().await {
            Some(Ok(r)) if r.status_code == 0 => Ok(()),
            Some(Ok(r)) => Err(format!(
                "host {host}: release task exited with code {}",
                r.status_code
            )),
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
                Err(format!("host {host}: release task exited with code {code}"))
            }
            Some(Err(e)) => Err(format!(
                "host {host}: waiting for the release task: {}",
                describe(&e)
            )),
            None => Err(format!(
                "host {host}: the engine did not report how the release task ended"
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
    ) -> Result<Fresh, String> {
        let docker = self.dock(host)?;
        containers::ensure_network(docker)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
        let role_cfg = self
            .app
            .roles
            .get(role)
            .ok_or_else(|| format!("app {} has no role {role}", self.plan.app))?;
        let spec = ContainerSpec {
            name: containers::container_name(
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
        let id = containers::create_and_start(docker, &spec)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
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
    ) -> Result<Fresh, String> {
        let running = containers::list(
            self.dock(host)?,
            &self.selector(Some(role), None, Some(host)),
            false,
        )
        .await?;
        let Some(current) = running.first() else {
            return Err(format!(
                "host {host}: no running container of role `{role}` to restart (looked for: {}); deploy first",
                self.selector(Some(role), None, Some(host)).describe()
            ));
        };
        let version = containers::summary_label(current, labels::VERSION)
            .unwrap_or_default()
            .to_string();
        let image = current.image.clone().unwrap_or_default();
        self.out(
            i,
            Some(host),
            format!(
                "replacing {} ({version})",
                containers::summary_name(current)
            ),
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
    ) -> Result<Fresh, String> {
        let docker = self.dock(host)?;
        let all =
            containers::list(docker, &self.selector(Some(role), None, Some(host)), true).await?;
        let version_of = |c: &bollard::models::ContainerSummary| {
            containers::summary_label(c, labels::VERSION)
                .unwrap_or("")
                .to_string()
        };
        let running = |c: &&bollard::models::ContainerSummary| {
            c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING)
        };
        let current: Vec<String> = all.iter().filter(running).map(version_of).collect();
        let retained: Vec<&bollard::models::ContainerSummary> =
            all.iter().filter(|c| !running(c)).collect();
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
            return Err(format!(
                "host {host}: no retained container of {what} for role `{role}` (running: {}; retained: {})",
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
            ));
        };
        let id = pick.id.clone().unwrap_or_default();
        let name = containers::summary_name(pick);
        containers::start(docker, &id)
            .await
            .map_err(|e| format!("host {host}: {e}"))?;
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
            return Err(GateError::Failed(format!(
                "host {host}: no new container of role `{}` to check",
                group.role
            )));
        };
        let gate = Gate {
            docker: self.dock(host).map_err(GateError::Failed)?,
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
    ) -> (Vec<(String, String)>, Option<String>) {
        let keep = self
            .fresh
            .get(&(role.clone(), host.clone()))
            .map(|f| f.id.clone());
        let docker = match self.dock(host) {
            Ok(d) => d,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let running =
            match containers::list(docker, &self.selector(Some(role), None, Some(host)), false)
                .await
            {
                Ok(r) => r,
                Err(e) => return (Vec::new(), Some(format!("host {host}: {e}"))),
            };
        let mut stopped = Vec::new();
        for c in running.iter().filter(|c| c.id != keep) {
            let id = c.id.clone().unwrap_or_default();
            let name = containers::summary_name(c);
            if let Err(e) = containers::stop(docker, &id, self.app.stop_timeout.get()).await {
                return (stopped, Some(format!("host {host}: {e}")));
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
    ) -> Result<(), String> {
        let docker = self.dock(host)?;
        for role in self.app.roles.keys() {
            let all = containers::list(docker, &self.selector(Some(role), None, Some(host)), true)
                .await?;
            let stopped = all
                .iter()
                .filter(|c| c.state != Some(bollard::models::ContainerSummaryStateEnum::RUNNING));
            for c in stopped.skip(retain as usize) {
                containers::remove(docker, c.id.as_deref().unwrap_or_default(), true)
                    .await
                    .map_err(|e| format!("host {host}: {e}"))?;
                self.out(
                    i,
                    Some(host),
                    format!(
                        "removed {} (beyond retain: {retain})",
                        containers::summary_name(c)
                    ),
                );
            }
        }
        Ok(())
    }

    pub(super) async fn remove_all_one(
        &self,
        i: usize,
        host: &HostName,
        purge_volumes: bool,
    ) -> Result<(), String> {
        let docker = self.dock(host)?;
        let mut all = containers::list(docker, &self.selector(None, None, None), true).await?;
        // On an engine shared with another of the app's hosts, that host's
        // worker removes its own.
        all.retain(|c| {
            !crate::labels::started_for_another(
                containers::summary_label(c, crate::labels::HOST),
                host.as_str(),
                |h| self.ctx.config.fleet.hosts.contains_key(h),
            )
        });
        let mut volumes: Vec<String> = Vec::new();
        if purge_volumes {
            volumes.extend(
                all.iter()
                    .flat_map(|c| c.mounts.iter().flatten())
                    .filter_map(|m| {
                        (m.typ.as_deref() == Some("volume"))
                            .then(|| m.name.clone())
                            .flatten()
                    }),
            );
        }
        // Graceful stops in parallel: each may take the whole stop timeout.
        let removals = all.iter().map(|c| async move {
            let id = c.id.clone().unwrap_or_default();
            containers::stop(docker, &id, self.app.stop_timeout.get()).await?;
            containers::remove(docker, &id, purge_volumes).await?;
            self.progress(i, host, format!("removed {}", containers::summary_name(c)));
            Ok::<(), String>(())
        });
        first_error(bounded(self.parallel(), removals).await).map_err(|e| match e {
            StepError::Failed(e) => format!("host {host}: {e}"),
            StepError::Cancelled => format!("host {host}: cancelled"),
        })?;
        if all.is_empty() {
            self.out(i, Some(host), "no containers of the app");
        }
        volumes.sort();
        volumes.dedup();
        for v in volumes {
            match docker
                .remove_volume(&v, None::<bollard::query_parameters::RemoveVolumeOptions>)
                .await
            {
                Ok(()) => self.out(i, Some(host), format!("removed volume {v}")),
                Err(e) => self.out(i, Some(host), format!("kept volume {v}: {}", describe(&e))),
            }
        }
        Ok(())
    }
}
