//! What `docker inspect` says of a container beyond its state: how it was
//! started (command, environment, mounts, networks, limits), for the
//! container screen's inspect section. Secret values never reach it
//! unmasked: see [`Inspect::mask`].

/// A container's configuration, its text already cleaned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inspect {
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
    pub user: String,
    pub workdir: String,
    /// `NAME=value` pairs as the container has them, in its order.
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub labels: Vec<(String, String)>,
    /// Network name and the container's address on it.
    pub networks: Vec<(String, String)>,
    /// `unless-stopped`, `on-failure:5`, `no`.
    pub restart_policy: String,
    /// Bytes; `None`: unlimited.
    pub memory_limit: Option<u64>,
    /// CPUs; `None`: unlimited.
    pub cpus: Option<f64>,
    /// The image reference it was created from, its id, and the registry
    /// digests of that image (none for an image built on the host).
    pub image: String,
    pub image_id: String,
    pub digests: Vec<String>,
    /// Published ports: `0.0.0.0:8080->80/tcp`, or `80/tcp` exposed only.
    pub ports: Vec<String>,
    /// As the engine says them (RFC 3339); empty when it says none.
    pub created: String,
    pub started: String,
    pub finished: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`.
    pub kind: String,
    /// The host path, or the volume's name.
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

/// What a masked value is shown as.
pub const MASK: &str = "********";

/// Variable names whose values are secrets by convention.
const SECRET_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "PRIVATE",
    "CREDENTIAL",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "AUTH",
    "DSN",
    "DATABASE_URL",
    "SESSION_KEY",
    "MASTER_KEY",
    "ENCRYPTION_KEY",
    "SIGNING_KEY",
];

/// True when a variable of this name holds a secret by convention
/// (`DB_PASSWORD`, `GITHUB_TOKEN`, `RAILS_MASTER_KEY`, `SECRET_KEY_BASE`).
pub fn secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_WORDS.iter().any(|w| upper.contains(w)) || upper.ends_with("_KEY")
}

impl Inspect {
    /// Masks every env value whose name is a secret by convention or is in
    /// `secrets` (the names berth itself fills from the secrets file), and
    /// any value equal to one of `secret_values`.
    pub fn mask(&mut self, secrets: &[String], secret_values: &[String]) {
        for (name, value) in &mut self.env {
            if secret_name(name)
                || secrets.iter().any(|s| s == name)
                || (!value.is_empty() && secret_values.iter().any(|v| v == value))
            {
                *value = MASK.to_string();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_by_name_by_berths_own_list_and_by_value() {
        let mut i = Inspect {
            env: [
                ("DB_PASSWORD", "hunter2"),
                ("GITHUB_TOKEN", "ghp_x"),
                ("RAILS_MASTER_KEY", "abc"),
                ("SECRET_KEY_BASE", "def"),
                ("STRIPE", "sk_live_1"),
                ("MIRROR", "same-as-a-secret"),
                ("PATH", "/usr/bin"),
                ("PORT", "8080"),
                ("KEYBOARD", "us"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        };
        i.mask(&["STRIPE".into()], &["same-as-a-secret".into()]);
        let shown: Vec<(&str, &str)> = i
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            shown,
            [
                ("DB_PASSWORD", MASK),
                ("GITHUB_TOKEN", MASK),
                ("RAILS_MASTER_KEY", MASK),
                ("SECRET_KEY_BASE", MASK),
                ("STRIPE", MASK),
                ("MIRROR", MASK),
                ("PATH", "/usr/bin"),
                ("PORT", "8080"),
                ("KEYBOARD", "us"),
            ]
        );
    }
}
