//! Hooks and plugins, run as stages of a run.

use super::*;

impl Runner<'_> {
    pub(super) async fn run_trigger(
        &self,
        i: usize,
        trigger: &str,
        run: &[Implementation],
        hosts: &[HostName],
    ) -> Result<Done, StepError> {
        if run.is_empty() {
            return Ok(Done::Skipped(format!(
                "no hooks or plugins implement `{trigger}`"
            )));
        }
        for imp in run {
            if let Some(alias) = &imp.alias {
                self.out(
                    i,
                    None,
                    format!("warning: {} is named `{alias}`, an old name of `{trigger}`: rename it to `{trigger}`", imp.path.display()),
                );
            }
            self.out(
                i,
                None,
                format!("running {} ({})", imp.path.display(), imp.source),
            );
            self.run_hook(i, trigger, imp, hosts).await?;
        }
        Ok(Done::Ok)
    }

    /// One hook or plugin executable: its own process, an argument vector
    /// (no shell), a deadline, output streamed into the stage.
    pub(super) async fn run_hook(
        &self,
        i: usize,
        trigger: &str,
        imp: &Implementation,
        hosts: &[HostName],
    ) -> Result<(), StepError> {
        use tokio::io::AsyncReadExt;
        let version = self.version_label().unwrap_or_default();
        let roles: Vec<&str> = self.app.roles.keys().map(|r| r.as_str()).collect();
        let hosts: Vec<&str> = hosts.iter().map(|h| h.as_str()).collect();
        let config_path = std::path::absolute(&self.ctx.config.path)
            .unwrap_or_else(|_| self.ctx.config.path.clone());
        let mut cmd = tokio::process::Command::new(&imp.path);
        cmd.current_dir(self.ctx.config.dir())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .env("BERTH_APP", self.plan.app.as_str())
            .env("BERTH_ACTION", self.plan.action.verb())
            .env("BERTH_VERSION", version)
            .env("BERTH_DESTINATION", &self.destination)
            .env("BERTH_ROLES", roles.join(","))
            .env("BERTH_HOSTS", hosts.join(","))
            .env("BERTH_PERFORMER", self.ctx.performer.to_string())
            .env("BERTH_TRIGGER", trigger)
            .env(
                "BERTH_LOCK_TOKEN",
                self.lock.as_ref().map(|l| l.token.as_str()).unwrap_or(""),
            )
            .env("BERTH_CONFIG", &config_path);
        let name = format!("{} ({})", imp.path.display(), imp.source);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{name}: cannot run: {e}"))?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let pump = |reader: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| async move {
            let Some(mut reader) = reader else { return };
            let mut split = crate::docker::LineSplitter::default();
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                for line in split.push(buf.get(..n).unwrap_or_default()) {
                    self.out(i, None, line);
                }
            }
            if let Some(line) = split.finish() {
                self.out(i, None, line);
            }
        };
        // Dropping `work` (cancel, timeout) drops the child: kill_on_drop.
        let work = async move {
            tokio::join!(
                pump(stdout.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>)),
                pump(stderr.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>))
            );
            child.wait().await
        };
        let timeout = self.ctx.config.fleet.hooks.timeout.get();
        let status = tokio::select! {
            _ = self.ctx.cancel.cancelled() => return Err(StepError::Cancelled),
            r = tokio::time::timeout(timeout, work) => match r {
                Err(_) => return Err(format!("{name} did not finish within {}; killed", crate::config::duration::format(timeout)).into()),
                Ok(r) => r.map_err(|e| format!("{name}: {e}"))?,
            },
        };
        match status.code() {
            Some(0) => Ok(()),
            Some(code) => Err(format!("{name} exited with code {code}").into()),
            None => Err(format!("{name} was killed by a signal").into()),
        }
    }

    /// Runs `work` unless the operator cancels first.
    pub(super) async fn cancellable<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, StepError> {
        tokio::select! {
            _ = self.ctx.cancel.cancelled() => Err(StepError::Cancelled),
            r = work => Ok(r),
        }
    }
}
