//! Putting the old version back after a failed or cancelled run, and the
//! run's history line.

use super::*;

impl Runner<'_> {
    /// Puts the old version back: stopped old containers are started, the
    /// proxy points at them again (before the new ones go, so something keeps
    /// serving), retained containers started by a rollback are stopped again,
    /// and new containers are removed.
    pub(super) async fn restore(&mut self, i: usize) -> Result<(), StepError> {
        let mut errors = Vec::new();
        for t in std::mem::take(&mut self.stopped_old) {
            let started = match self.dock(&t.host) {
                Ok(docker) => docker.start(&t.id).await.map_err(Failure::on(&t.host)),
                Err(e) => Err(e),
            };
            match started {
                Ok(()) => self.out(i, Some(&t.host), format!("started old {} again", t.name)),
                Err(e) => errors.push(e),
            }
        }
        // Traffic goes back before the new containers go away.
        let mut back = false;
        for s in std::mem::take(&mut self.switched) {
            match self.switch_back(i, &s).await {
                Ok(()) => back |= s.driver == crate::engine::proxy::Driver::Nginx,
                Err(e) => errors.push(e),
            }
        }
        // Requests nginx sent to the new containers before it went back
        // finish first: the drain a switch gives the old ones (kamal-proxy
        // drains by itself).
        if back
            && !self.booted.is_empty()
            && let Some(drain) = self.proxy.as_ref().map(|p| p.drain_timeout)
            && !drain.is_zero()
        {
            self.out(
                i,
                None,
                format!(
                    "the new containers finish the requests they hold; removed in {}",
                    crate::config::duration::format(drain)
                ),
            );
            tokio::time::sleep(drain).await;
        }
        for t in std::mem::take(&mut self.started_retained) {
            let stopped = match self.dock(&t.host) {
                Ok(docker) => docker
                    .stop(&t.id, self.app.stop_timeout.get())
                    .await
                    .map_err(Failure::on(&t.host)),
                Err(e) => Err(e),
            };
            match stopped {
                Ok(()) => self.out(
                    i,
                    Some(&t.host),
                    format!("stopped retained {} again", t.name),
                ),
                Err(e) => errors.push(e),
            }
        }
        for t in std::mem::take(&mut self.booted) {
            let removed = match self.dock(&t.host) {
                Ok(docker) => docker
                    .remove(&t.id, true)
                    .await
                    .map_err(Failure::on(&t.host)),
                Err(e) => Err(e),
            };
            match removed {
                Ok(()) => self.out(i, Some(&t.host), format!("removed new {}", t.name)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(StepError::Failed(Failure::Several(errors)))
        }
    }

    /// The version an action is about, for hooks and history: the deployed
    /// one, else the versions this run brought up (`v1` or `v1,v2`).
    pub(super) fn version_label(&self) -> Option<String> {
        if let Action::Deploy { version, .. } = &self.plan.action {
            return Some(version.to_string());
        }
        let mut v: Vec<&str> = self.fresh.values().map(|f| f.version.as_str()).collect();
        v.sort();
        v.dedup();
        (!v.is_empty()).then(|| v.join(","))
    }

    pub(super) async fn write_history(
        &self,
        started_at: chrono::DateTime<Utc>,
        result: &RunResult,
    ) {
        let version = self.version_label();
        let (failed_stage, error) = match result {
            RunResult::Ok => (None, None),
            RunResult::Failed { stage, error, .. } => (Some(stage.clone()), Some(error.clone())),
            RunResult::Cancelled { stage } => {
                (stage.clone(), Some("cancelled by the operator".into()))
            }
        };
        let record = Record {
            started_at,
            finished_at: Utc::now(),
            performer: self.ctx.performer.clone(),
            action: self.plan.action.verb().into(),
            app: self.plan.app.to_string(),
            destination: self.destination.clone(),
            version,
            digest: self.digest.clone(),
            result: result.word().into(),
            failed_stage,
            error,
            note: self.note(),
            run: self.ctx.run_id.clone(),
            tool: String::new(),
        };
        let mut hosts: Vec<&HostName> = self.plan.stages.iter().flat_map(|s| &s.hosts).collect();
        hosts.sort();
        hosts.dedup();
        let record = &record;
        let writes = hosts.into_iter().map(|host| async move {
            let written = match self.ctx.config.host(host) {
                Ok(cfg) => match self
                    .ctx
                    .gateway
                    .hosts()
                    .state_dir(cfg, lock::REACH_TIMEOUT)
                    .await
                {
                    Ok(dir) => history::append(&dir, record)
                        .await
                        .map_err(crate::engine::Cause::from),
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(e.into()),
            };
            (host, written)
        });
        for (host, written) in bounded(self.parallel(), writes).await {
            if let Err(e) = written {
                self.emit(EngineEvent::Warning {
                    message: Failure::at(host, format!("could not write history: {e}")).to_string(),
                });
            }
        }
    }

    /// What the history line says besides the action: the container a
    /// container action was for; the command of an exec and where it ran.
    fn note(&self) -> Option<String> {
        match &self.plan.action {
            Action::Container { .. } => Some(self.plan.action.describe()),
            Action::Exec { command, .. } => Some(format!(
                "`{}` in {}",
                shlex::try_join(command.iter().map(String::as_str))
                    .unwrap_or_else(|_| command.join(" ")),
                if self.exec_ran.is_empty() {
                    "no container".to_string()
                } else {
                    self.exec_ran.join(", ")
                }
            )),
            _ => None,
        }
    }
}
