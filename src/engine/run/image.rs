//! The `image` stage: the version's image on every host of the plan
//! before anything boots.
//!
//! Without a registry, each host uses the image it has, builds it from the
//! context, or pulls it. With one (`registry:`), the image is built once
//! (with `build:`, on the builder's engine) and pushed, then every host
//! pulls it with the registry's credentials, always (so a host never runs
//! a stale tag), and every host must hold the same digest.

use super::*;
use crate::config::RegistryAuth;

/// How long reaching the builder's engine may take.
const BUILDER_REACH: Duration = Duration::from_secs(30);

impl Runner<'_> {
    pub(super) async fn image(
        &mut self,
        i: usize,
        hosts: &[HostName],
        image: &str,
    ) -> Result<Done, StepError> {
        // What the plan said this stage does, said again as it starts.
        self.out(
            i,
            None,
            format!(
                "{image}: {}",
                crate::engine::plan::image_path(self.ctx.config, &self.plan.app)
            ),
        );
        // A registry is for apps that name their repository (`image:`);
        // an app that only builds builds on each host.
        let registry = self.app.image.is_some();
        let auth = match &self.secrets {
            _ if !registry => None,
            Ok(secrets) => self
                .ctx
                .config
                .registry_auth(&self.plan.app, secrets)
                .map_err(|e| Failure::from(e.to_string()))?,
            Err(e) if self.ctx.config.registry(&self.plan.app).is_some() => {
                return Err(Failure::from(e.to_string()).into());
            }
            Err(_) => None,
        };
        let Some(auth) = auth else {
            let work = bounded(
                self.parallel(),
                hosts.iter().map(|h| self.ensure_image(i, h, image)),
            );
            let results = self.cancellable(work).await?;
            first_error(results)?;
            return Ok(Done::Ok);
        };
        let pushed = match &self.app.build {
            Some(build) => {
                let build = build.clone();
                let work = self.build_and_push(i, &build, image, &auth);
                Some(self.cancellable(work).await??)
            }
            None => None,
        };
        let work = bounded(
            self.parallel(),
            hosts.iter().map(|h| self.pull_from(i, h, image, &auth)),
        );
        let digests = first_error(self.cancellable(work).await?)?;
        // One version, one image: every host holds what was pushed.
        let want = pushed
            .flatten()
            .or_else(|| digests.iter().flatten().next().cloned());
        let mut differ = Vec::new();
        for (host, got) in hosts.iter().zip(&digests) {
            if got.is_some() && got.as_ref() != want.as_ref() {
                differ.push(Failure::at(
                    host,
                    format!(
                        "pulled {image} as {}, not {}",
                        got.as_deref().unwrap_or("-"),
                        want.as_deref().unwrap_or("-")
                    ),
                ));
            }
        }
        match differ.len() {
            0 => {}
            1 => return Err(StepError::Failed(differ.remove(0))),
            _ => return Err(StepError::Failed(Failure::Several(differ))),
        }
        if let Some(d) = &want {
            self.out(i, None, format!("every host holds {image} as {d}"));
        }
        self.digest = want;
        Ok(Done::Ok)
    }

    /// Builds the version once on the builder's engine (a named host, or
    /// this machine's) and pushes it; the digest the registry reported.
    async fn build_and_push(
        &self,
        i: usize,
        build: &crate::config::BuildConfig,
        image: &str,
        auth: &RegistryAuth,
    ) -> Result<Option<String>, StepError> {
        let (engine, place) = match &build.builder {
            Some(host) => {
                let cfg = self.ctx.config.host(host).map_err(Failure::on(host))?;
                let engine = self
                    .ctx
                    .gateway
                    .engine_of(cfg, BUILDER_REACH)
                    .await
                    .map_err(Failure::on(host))?;
                (engine, format!("builder {host}"))
            }
            None => {
                let endpoint = Endpoint::from_config(&crate::config::HostConfig::default());
                let engine = self
                    .ctx
                    .gateway
                    .engine(&endpoint, BUILDER_REACH)
                    .await
                    .map_err(|e| Failure::from(format!("this machine's engine: {e}")))?;
                (engine, "this machine".to_string())
            }
        };
        let dir = self.ctx.config.dir().join(&build.context);
        self.out(
            i,
            None,
            format!("building {image} once, on {place}, from {}", dir.display()),
        );
        let tar = tokio::task::spawn_blocking(move || docker::build::context_tar(&dir))
            .await
            .map_err(|e| Failure::from(e.to_string()))?
            .map_err(|e| Failure::from(format!("reading build context: {e}")))?;
        let dockerfile = build.dockerfile.as_deref().unwrap_or("Dockerfile");
        engine
            .build(image, tar, dockerfile, &build.args, |line| {
                self.out(i, None, line)
            })
            .await
            .map_err(|e| Failure::from(format!("{place}: {e}")))?;
        self.out(i, None, format!("pushing {image} to {}", auth.name()));
        let digest = engine
            .push(image, auth, |line| self.out(i, None, line))
            .await
            .map_err(|e| Failure::from(format!("{place}: {e}")))?;
        if let Some(d) = &digest {
            self.out(i, None, format!("pushed {image}: {d}"));
        }
        Ok(digest)
    }

    /// Pulls the image on one host with the registry's credentials; the
    /// digest the host then holds.
    async fn pull_from(
        &self,
        i: usize,
        host: &HostName,
        image: &str,
        auth: &RegistryAuth,
    ) -> Result<Option<String>, Failure> {
        let docker = self.dock(host)?;
        self.out(
            i,
            Some(host),
            format!("pulling {image} from {}", auth.name()),
        );
        docker
            .pull(image, Some(auth), |status| self.progress(i, host, status))
            .await
            .map_err(Failure::on(host))?;
        let digest = docker
            .image_digest(image)
            .await
            .map_err(Failure::on(host))?;
        self.out(
            i,
            Some(host),
            format!(
                "pulled {image} ({})",
                digest.as_deref().unwrap_or("no digest")
            ),
        );
        Ok(digest)
    }

    /// Without a registry: the image the host has, else built there from
    /// the context, else pulled.
    pub(super) async fn ensure_image(
        &self,
        i: usize,
        host: &HostName,
        image: &str,
    ) -> Result<(), Failure> {
        let docker = self.dock(host)?;
        if docker.has_image(image).await {
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
                .map_err(|e| Failure::at(host, format!("reading build context: {e}")))?;
            let dockerfile = build.dockerfile.as_deref().unwrap_or("Dockerfile");
            return docker
                .build(image, tar, dockerfile, &build.args, |line| {
                    self.out(i, Some(host), line)
                })
                .await
                .map_err(Failure::on(host));
        }
        self.out(
            i,
            Some(host),
            format!("{image} is not on the host; pulling"),
        );
        docker
            .pull(image, None, |status| self.out(i, Some(host), status))
            .await
            .map_err(Failure::on(host))
    }
}
