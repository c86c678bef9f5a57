//! The run's lock stages: taking the app's lock (and what an old run left
//! behind it: orphans), and giving it back.

use super::*;

impl Runner<'_> {
    pub(super) async fn take_lock(&mut self, i: usize, host: &HostName) -> Result<Done, StepError> {
        let app = self.plan.app.to_string();
        let state = self.state_dir(host).await?;
        let dir = lock::lock_dir(&state, &app, &self.destination);
        let verb = self.plan.action.verb();
        if let Some(token) = &self.ctx.lock_token
            && let Ok(Some(held)) = lock::read(&dir, Duration::MAX).await
            && held.holder.token == *token
        {
            let nested = Nested {
                action: verb.to_string(),
                pid: std::process::id(),
                since: Utc::now(),
                run: self.ctx.run_id.clone(),
            };
            lock::enter_nested(&dir, token, &nested)
                .await
                .map_err(Failure::on(host))?;
            self.out(
                i,
                Some(host),
                format!(
                    "re-entered the lock held by the calling {} (pid {}) as a nested {verb}",
                    held.holder.action, held.holder.pid
                ),
            );
            self.lock = Some(HeldLock {
                dir,
                token: token.clone(),
                nested: true,
                heartbeat: None,
            });
            return Ok(Done::Ok);
        }
        let version = match &self.plan.action {
            Action::Deploy { version, .. } => Some(version.to_string()),
            Action::Rollback { version, .. } => version.as_ref().map(|v| v.to_string()),
            _ => None,
        };
        let mut holder = lock::holder_for(&self.ctx.performer, verb, version, None, false);
        holder.run = self.ctx.run_id.clone();
        let deadline = self.ctx.lock_wait.map(|w| Instant::now() + w);
        let mut noted: Option<Instant> = None;
        loop {
            match lock::acquire(&dir, &holder, self.ctx.config.fleet.lock.ttl.get()).await {
                Ok(()) => break,
                Err(LockError::Held(held)) => {
                    let line = format!("{app} is {}", held.describe(Utc::now()));
                    let refused = |why: String| {
                        StepError::Failed(Failure::Run(super::super::error::Cause::Refused(why)))
                    };
                    let Some(deadline) = deadline else {
                        return Err(refused(line));
                    };
                    if held.holder.manual {
                        return Err(refused(format!(
                            "{line}; --lock-wait does not wait behind a manual lock: ask its holder, or release it if it is yours"
                        )));
                    }
                    if Instant::now() >= deadline {
                        return Err(refused(format!("gave up waiting for the lock: {line}")));
                    }
                    if noted.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                        self.out(i, Some(host), format!("waiting for the lock: {line}"));
                        noted = Some(Instant::now());
                    }
                    tokio::select! {
                        _ = self.ctx.cancel.cancelled() => return Err(StepError::Cancelled),
                        _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                    }
                }
                Err(e) => return Err(Failure::at(host, format!("{e}")).into()),
            }
        }
        let every = (self.ctx.config.fleet.lock.ttl.get() / 4)
            .clamp(Duration::from_millis(200), Duration::from_secs(5));
        let (hb_dir, token, events) = (dir.clone(), holder.token.clone(), self.ctx.events.clone());
        let heartbeat = tokio::spawn(async move {
            let mut warned = false;
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = lock::heartbeat(&hb_dir, &token).await
                    && !std::mem::replace(&mut warned, true)
                {
                    let _ = events.send(EngineEvent::Warning {
                        message: format!("lock heartbeat: {e}"),
                    });
                }
            }
        });
        self.out(i, Some(host), format!("locked {app} ({dir})"));
        self.lock = Some(HeldLock {
            dir,
            token: holder.token,
            nested: false,
            heartbeat: Some(heartbeat),
        });
        // With the lock held no other run of the app is alive: what a dead
        // one left can go before this one adds its own.
        self.sweep_orphans(i).await;
        Ok(Done::Ok)
    }

    pub(super) async fn scan_orphans(
        &self,
        host: &HostName,
        selector: &Selector,
        state: &hosts::HostPath,
        live: &std::collections::HashSet<String>,
    ) -> Result<Vec<orphans::Orphan>, String> {
        orphans::scan(
            self.dock(host).map_err(|e| e.to_string())?,
            selector,
            state,
            live,
        )
        .await
    }

    /// Decides the running orphans of the proxied role by where the host's
    /// proxy sends the app's traffic now (read only when one is there).
    async fn judge_by_proxy(&self, host: &HostName, found: &mut [orphans::Orphan]) {
        let Some(settings) = self.proxy.as_ref() else {
            return;
        };
        // Both are there for a host whose orphans were just listed.
        let (Ok(docker), Ok(cfg)) = (self.dock(host), self.ctx.config.host(host)) else {
            return;
        };
        let of = routing::Orphans {
            hosts: self.ctx.gateway.hosts(),
            cfg,
            docker,
            host,
            app: self.plan.app.as_str(),
            destination: &self.destination,
        };
        routing::judge(&of, settings, found).await;
    }

    /// Removes what runs of this app that died left on the plan's hosts
    /// (see `orphans`); a serving one is named and kept. Never fails the
    /// stage: a host that cannot be read here fails the stage that needs it.
    pub(super) async fn sweep_orphans(&mut self, i: usize) {
        let mut hosts: Vec<HostName> = self
            .plan
            .stages
            .iter()
            .flat_map(|s| s.hosts.iter().cloned())
            .collect();
        hosts.sort();
        hosts.dedup();
        let mut live: std::collections::HashSet<String> = [self.ctx.run_id.clone()].into();
        if let Some(held) = &self.lock
            && let Ok(Some(s)) = lock::read(&held.dir, Duration::MAX).await
        {
            live.extend(s.runs().map(str::to_string));
        }
        for host in hosts {
            if self.connect(std::slice::from_ref(&host)).await.is_err() {
                continue;
            }
            let Ok(state) = self.state_dir(&host).await else {
                continue;
            };
            let selector = self.selector(None, None, Some(&host));
            let mut found = match self.scan_orphans(&host, &selector, &state, &live).await {
                Ok(found) => found,
                Err(e) => {
                    self.out(i, Some(&host), format!("could not look for orphans: {e}"));
                    continue;
                }
            };
            self.judge_by_proxy(&host, &mut found).await;
            for o in found.iter().filter(|o| o.serving()) {
                self.out(i, Some(&host), format!("orphan {}", o.describe()));
            }
            let removed = match self.dock(&host) {
                Ok(docker) => orphans::remove(docker, &found).await,
                Err(e) => Err(e.to_string()),
            };
            match removed {
                Ok(removed) => {
                    for name in removed {
                        self.out(
                            i,
                            Some(&host),
                            format!("removed orphan {name} (left by a run that died)"),
                        );
                    }
                }
                Err(e) => self.out(i, Some(&host), format!("could not remove an orphan: {e}")),
            }
        }
    }

    pub(super) async fn unlock(&mut self, i: usize) -> Result<Done, StepError> {
        let Some(held) = self.lock.take() else {
            return Ok(Done::Skipped("the lock was not taken".into()));
        };
        if let Some(h) = held.heartbeat {
            h.abort();
        }
        if held.nested {
            lock::leave_nested(&held.dir, std::process::id())
                .await
                .map_err(|e| format!("leaving the caller's lock: {e}"))?;
            self.out(
                i,
                None,
                "left the calling action's lock (it stays held by the caller)",
            );
        } else {
            lock::release(&held.dir, &held.token)
                .await
                .map_err(|e| format!("releasing the lock: {e}"))?;
            self.out(i, None, format!("released {}", held.dir));
        }
        Ok(Done::Ok)
    }
}
