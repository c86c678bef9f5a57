//! A Compose project as its engine knows it: its containers and networks
//! found by Compose's labels, never through a `docker compose` binary
//! (which the host may not have, and which needs the project's files).

use bollard::query_parameters::{ListContainersOptions, ListNetworksOptions};

use super::{Client, DockerError, describe, is_not_found};
use crate::labels::{ComposePlace, compose_project_filter};

/// One container of the project.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: String,
    /// Without Docker's leading `/`.
    pub name: String,
    pub place: ComposePlace,
    pub running: bool,
}

impl Client {
    /// Every container of Compose project `project`, stopped ones too.
    pub async fn compose_members(&self, project: &str) -> Result<Vec<Member>, DockerError> {
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(compose_project_filter(project)),
                ..Default::default()
            }))
            .await
            .map_err(|e| DockerError::of(format!("listing Compose project {project}"), &e))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                Member {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default(),
                    place: ComposePlace::of(&labels),
                    running: c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING),
                }
            })
            .collect())
    }

    /// The networks Compose made for `project`: (id, name).
    pub async fn compose_networks(
        &self,
        project: &str,
    ) -> Result<Vec<(String, String)>, DockerError> {
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(compose_project_filter(project)),
            }))
            .await
            .map_err(|e| {
                DockerError::of(format!("listing Compose project {project}'s networks"), &e)
            })?;
        Ok(list
            .into_iter()
            .map(|n| (n.id.unwrap_or_default(), n.name.unwrap_or_default()))
            .collect())
    }

    /// Removes a network; one already gone is fine. The engine refuses
    /// while a container is on it, and says so.
    pub async fn remove_network(&self, id: &str) -> Result<(), DockerError> {
        match self.docker.remove_network(id).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::Request {
                what: format!("removing network {id}"),
                reason: describe(&e),
            }),
        }
    }
}
