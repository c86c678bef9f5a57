//! An engine's images, volumes and networks: each with its size where the
//! engine says it, the containers that use it (stopped ones too: a
//! stopped container still holds its image and volumes), and whether it
//! is dangling (an image no tag names) or built in (the engine's own
//! `bridge`, `host` and `none` networks).

use std::collections::BTreeMap;

use bollard::query_parameters::{
    ListContainersOptions, ListImagesOptions, ListNetworksOptions, ListVolumesOptions,
    RemoveImageOptions, RemoveVolumeOptions,
};
use serde::Serialize;

use super::{Client, DockerError, describe, is_not_found};

/// Which kind of thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    Image,
    Volume,
    Network,
}

impl ResourceKind {
    pub fn word(self) -> &'static str {
        match self {
            ResourceKind::Image => "image",
            ResourceKind::Volume => "volume",
            ResourceKind::Network => "network",
        }
    }
}

/// One image, volume or network of an engine.
#[derive(Clone, Debug, Serialize)]
pub struct Resource {
    pub kind: ResourceKind,
    pub id: String,
    /// An image's first tag (`<none>` when dangling), a volume's or a
    /// network's name.
    pub name: String,
    /// An image's other tags.
    pub tags: Vec<String>,
    /// Bytes, when the engine says (images).
    pub size: Option<i64>,
    /// Unix seconds, when the engine says.
    pub created: Option<i64>,
    /// The containers using it, by name, stopped ones included.
    pub used_by: Vec<String>,
    /// An image no tag names.
    pub dangling: bool,
    /// The engine's own networks, never removed.
    pub builtin: bool,
}

/// Who uses what: each container's image id, volume names and networks.
#[derive(Default)]
struct Users {
    images: BTreeMap<String, Vec<String>>,
    volumes: BTreeMap<String, Vec<String>>,
    networks: BTreeMap<String, Vec<String>>,
}

impl Client {
    async fn users(&self) -> Result<Users, DockerError> {
        let all = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .map_err(|e| DockerError::of("listing containers", &e))?;
        let mut u = Users::default();
        for c in all {
            let name = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| crate::sanitize::one_line(n.trim_start_matches('/')))
                .unwrap_or_default();
            if let Some(image) = &c.image_id {
                u.images
                    .entry(image.clone())
                    .or_default()
                    .push(name.clone());
            }
            for m in c.mounts.iter().flatten() {
                if let Some(v) = &m.name {
                    u.volumes.entry(v.clone()).or_default().push(name.clone());
                }
            }
            let networks = c
                .network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref());
            for (net, end) in networks.into_iter().flatten() {
                let id = end.network_id.clone().unwrap_or_else(|| net.clone());
                u.networks.entry(id).or_default().push(name.clone());
            }
        }
        Ok(u)
    }

    /// Every image, volume or network of `kind` on this engine.
    pub async fn resources(&self, kind: ResourceKind) -> Result<Vec<Resource>, DockerError> {
        let mut users = self.users().await?;
        let mut out = Vec::new();
        match kind {
            ResourceKind::Image => {
                let list = self
                    .docker
                    .list_images(Some(ListImagesOptions::default()))
                    .await
                    .map_err(|e| DockerError::of("listing images", &e))?;
                for i in list {
                    let tags: Vec<String> = i
                        .repo_tags
                        .iter()
                        .filter(|t| *t != "<none>:<none>")
                        .map(|t| crate::sanitize::one_line(t))
                        .collect();
                    out.push(Resource {
                        kind,
                        name: tags.first().cloned().unwrap_or_else(|| "<none>".into()),
                        dangling: tags.is_empty(),
                        tags: tags.iter().skip(1).cloned().collect(),
                        size: Some(i.size),
                        created: Some(i.created),
                        used_by: users.images.remove(&i.id).unwrap_or_default(),
                        id: i.id,
                        builtin: false,
                    });
                }
            }
            ResourceKind::Volume => {
                let list = self
                    .docker
                    .list_volumes(None::<ListVolumesOptions>)
                    .await
                    .map_err(|e| DockerError::of("listing volumes", &e))?;
                for v in list.volumes.unwrap_or_default() {
                    out.push(Resource {
                        kind,
                        id: v.name.clone(),
                        name: crate::sanitize::one_line(&v.name),
                        tags: Vec::new(),
                        size: v.usage_data.map(|u| u.size).filter(|s| *s >= 0),
                        created: v
                            .created_at
                            .as_deref()
                            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                            .map(|c| c.timestamp()),
                        used_by: users.volumes.remove(&v.name).unwrap_or_default(),
                        dangling: false,
                        builtin: false,
                    });
                }
            }
            ResourceKind::Network => {
                let list = self
                    .docker
                    .list_networks(None::<ListNetworksOptions>)
                    .await
                    .map_err(|e| DockerError::of("listing networks", &e))?;
                for n in list {
                    let id = n.id.unwrap_or_default();
                    let name = n.name.unwrap_or_default();
                    out.push(Resource {
                        kind,
                        builtin: matches!(name.as_str(), "bridge" | "host" | "none"),
                        used_by: users.networks.remove(&id).unwrap_or_default(),
                        name: crate::sanitize::one_line(&name),
                        id,
                        tags: Vec::new(),
                        size: None,
                        created: n
                            .created
                            .as_deref()
                            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                            .map(|c| c.timestamp()),
                        dangling: false,
                    });
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Removes one (never forced: the engine refuses what is in use). One
    /// already gone is fine.
    pub async fn remove_resource(&self, kind: ResourceKind, id: &str) -> Result<(), DockerError> {
        let what = format!("removing {} {id}", kind.word());
        let done = match kind {
            ResourceKind::Image => self
                .docker
                .remove_image(id, None::<RemoveImageOptions>, None)
                .await
                .map(|_| ()),
            ResourceKind::Volume => {
                self.docker
                    .remove_volume(id, None::<RemoveVolumeOptions>)
                    .await
            }
            ResourceKind::Network => self.docker.remove_network(id).await,
        };
        match done {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(DockerError::Request {
                what,
                reason: describe(&e),
            }),
        }
    }
}
