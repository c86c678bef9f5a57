//! Images through a registry: pulls and pushes with the registry's
//! credentials (sent to the engine in the `X-Registry-Auth` header of the
//! one request, never written anywhere), the digest a host holds, and
//! removing images no container uses.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use futures_util::StreamExt;

use super::client::failed;
use super::{Client, DockerError, describe};
use crate::config::RegistryAuth;

/// The engine's credentials for one request.
fn credentials(auth: Option<&RegistryAuth>) -> Option<DockerCredentials> {
    auth.map(|a| DockerCredentials {
        username: Some(a.username.expose().to_string()),
        password: Some(a.password.expose().to_string()),
        serveraddress: a.server.clone(),
        ..Default::default()
    })
}

/// `repo:tag` → (`repo`, `tag`), `latest` when it names none.
fn split(image: &str) -> (&str, &str) {
    let (repo, tag) = crate::domain::reference::split_tag(image);
    (repo, tag.unwrap_or("latest"))
}

/// Layer by layer progress of a pull or a push: a line when a layer is
/// done, with the bytes moved so far.
#[derive(Debug, Default)]
pub struct Layers {
    /// Each layer seen: (done, bytes total as the engine said it).
    layers: HashMap<String, (bool, u64)>,
}

impl Layers {
    /// Takes one message of the engine's stream; a line to show when a
    /// layer finished (or the message is not about a layer).
    pub fn update(&mut self, id: Option<&str>, status: &str, total: Option<i64>) -> Option<String> {
        let status = crate::sanitize::one_line(status);
        let Some(id) = id.filter(|id| !id.is_empty() && !status.starts_with("Pulling from")) else {
            return (!status.is_empty()).then_some(status);
        };
        let entry = self.layers.entry(id.to_string()).or_default();
        if let Some(t) = total.filter(|&t| t > 0) {
            entry.1 = entry.1.max(t as u64);
        }
        let done = matches!(
            status.as_str(),
            "Pull complete" | "Already exists" | "Pushed" | "Layer already exists"
        ) || status.starts_with("Mounted from");
        if done && !entry.0 {
            entry.0 = true;
            let finished = self.layers.values().filter(|l| l.0).count();
            let bytes: u64 = self.layers.values().filter(|l| l.0).map(|l| l.1).sum();
            return Some(format!(
                "layers {finished}/{} ({})",
                self.layers.len(),
                crate::domain::format::bytes(bytes)
            ));
        }
        None
    }
}

/// What a registry told a host's engine when it logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Login {
    /// It took the credentials.
    Ok,
    /// It refused them: its own words.
    Refused(String),
    /// The host could not reach it, or it answered something else.
    Failed(String),
}

impl Client {
    /// Logs in to the registry of `repo` from this engine (so through the
    /// host's own network path), as a pull would: by asking for a tag
    /// that does not exist. "Not found" means the credentials were taken.
    pub async fn registry_login(&self, repo: &str, auth: &RegistryAuth) -> Login {
        let probe = format!("{repo}:berth-login-check");
        match self.pull(&probe, Some(auth), |_| {}).await {
            Ok(()) => Login::Ok,
            Err(e) => {
                let reason = e.reason();
                let said = reason.to_ascii_lowercase();
                if said.contains("unauthorized")
                    || said.contains("authentication required")
                    || said.contains("denied")
                {
                    Login::Refused(reason)
                } else if said.contains("manifest unknown") || said.contains("not found") {
                    Login::Ok
                } else {
                    Login::Failed(reason)
                }
            }
        }
    }

    /// Whether the engine has `image`.
    pub async fn has_image(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }

    /// Pulls `image` (with a registry's credentials, if any), calling
    /// `on_status` with the engine's status lines and a line per layer
    /// done; fails with the registry's own error.
    pub async fn pull(
        &self,
        image: &str,
        auth: Option<&RegistryAuth>,
        mut on_status: impl FnMut(String),
    ) -> Result<(), DockerError> {
        use bollard::query_parameters::CreateImageOptions;
        let (repo, tag) = split(image);
        let opts = CreateImageOptions {
            from_image: Some(repo.into()),
            tag: Some(tag.into()),
            ..Default::default()
        };
        let what = || format!("pulling {image}");
        let mut stream = self
            .docker
            .create_image(Some(opts), None, credentials(auth));
        let mut layers = Layers::default();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(what(), &describe(&e)))?;
            if let Some(detail) = info.error_detail {
                return Err(failed(what(), &detail.message.unwrap_or_default()));
            }
            let total = info.progress_detail.as_ref().and_then(|p| p.total);
            if let Some(line) = layers.update(
                info.id.as_deref(),
                info.status.as_deref().unwrap_or_default(),
                total,
            ) {
                on_status(line);
            }
        }
        Ok(())
    }

    /// Pushes `image` to its registry with the credentials; its digest as
    /// the registry reports it.
    pub async fn push(
        &self,
        image: &str,
        auth: &RegistryAuth,
        mut on_status: impl FnMut(String),
    ) -> Result<Option<String>, DockerError> {
        use bollard::query_parameters::PushImageOptions;
        let (repo, tag) = split(image);
        let what = || format!("pushing {image} to {}", auth.name());
        let mut stream = self.docker.push_image(
            repo,
            Some(PushImageOptions {
                tag: Some(tag.to_string()),
                ..Default::default()
            }),
            credentials(Some(auth)),
        );
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(what(), &describe(&e)))?;
            if let Some(detail) = info.error_detail {
                return Err(failed(what(), &detail.message.unwrap_or_default()));
            }
            let status = info.status.unwrap_or_default();
            // The last message: `v2: digest: sha256:... size: 528`.
            if let Some(d) = status
                .split_whitespace()
                .find(|w| w.starts_with("sha256:"))
                .filter(|_| status.contains("digest:"))
            {
                digest = Some(crate::sanitize::one_line(d));
            }
            // Per layer: `Pushed`, `Layer already exists` (bollard's type
            // carries no layer id); the rest as it comes, without the
            // byte-by-byte progress.
            if info.progress_detail.is_none() && !status.is_empty() {
                on_status(crate::sanitize::one_line(&status));
            }
        }
        Ok(digest)
    }

    /// The registry digest `image` has on this engine (`sha256:...`), as
    /// the registry named in it knows it; `None` if it has none.
    pub async fn image_digest(&self, image: &str) -> Result<Option<String>, DockerError> {
        let (repo, _) = split(image);
        let found = self
            .docker
            .inspect_image(image)
            .await
            .map_err(|e| DockerError::of(format!("inspecting image {image}"), &e))?;
        Ok(found.repo_digests.unwrap_or_default().iter().find_map(|d| {
            d.split_once('@')
                .filter(|(r, _)| *r == repo)
                .map(|(_, digest)| crate::sanitize::one_line(digest))
        }))
    }

    /// Removes `image` unless a container (running or not) uses it: the
    /// bytes that freed (0 when only the tag went: another tag holds the
    /// same image); `None` when it was in use or is gone.
    pub async fn remove_unused_image(&self, image: &str) -> Result<Option<u64>, DockerError> {
        use bollard::query_parameters::RemoveImageOptions;
        let size = match self.docker.inspect_image(image).await {
            Ok(i) => i.size.unwrap_or(0).max(0) as u64,
            Err(e) if super::is_not_found(&e) => return Ok(None),
            Err(e) => return Err(DockerError::of(format!("inspecting image {image}"), &e)),
        };
        match self
            .docker
            .remove_image(
                image,
                Some(RemoveImageOptions {
                    force: false,
                    noprune: false,
                    ..Default::default()
                }),
                None,
            )
            .await
        {
            // Layers went only if the engine says it deleted the image.
            Ok(items) => Ok(Some(if items.iter().any(|i| i.deleted.is_some()) {
                size
            } else {
                0
            })),
            // 409: a container uses it; 404: gone meanwhile.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409 | 404,
                ..
            }) => Ok(None),
            Err(e) => Err(DockerError::of(format!("removing image {image}"), &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_count_what_is_done_and_the_bytes() {
        let mut l = Layers::default();
        assert_eq!(l.update(Some("a"), "Pulling fs layer", None), None);
        assert_eq!(l.update(Some("b"), "Pulling fs layer", None), None);
        assert_eq!(l.update(Some("a"), "Downloading", Some(2048)), None);
        assert_eq!(
            l.update(Some("a"), "Pull complete", None).as_deref(),
            Some("layers 1/2 (2 kB)")
        );
        assert_eq!(
            l.update(Some("a"), "Pull complete", None),
            None,
            "once per layer"
        );
        assert_eq!(
            l.update(Some("b"), "Already exists", None).as_deref(),
            Some("layers 2/2 (2 kB)")
        );
        assert_eq!(
            l.update(None, "Status: Downloaded newer image for x:v1", None)
                .as_deref(),
            Some("Status: Downloaded newer image for x:v1")
        );
    }
}
