//! What an app's settings resolve to when it runs: the secrets file, each
//! role's environment (plain values and secrets), and the registry and the
//! credentials to log in to it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::locate::Seg;
use super::*;

impl Config {
    /// The secrets file, resolved against the config's directory.
    pub fn secrets_path(&self) -> Option<PathBuf> {
        self.fleet.secrets_file.as_ref().map(|p| self.dir().join(p))
    }

    /// Reads the secrets file. Absent file with no `secrets_file:` set means
    /// no secrets.
    pub fn load_secrets(&self) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let Some(path) = self.secrets_path() else {
            return Ok(BTreeMap::new());
        };
        let text = super::read_bounded(&path);
        Self::secrets_from(&path, text)
    }

    /// [`Config::load_secrets`] for async code: the file is read without
    /// blocking the runtime's thread.
    pub async fn read_secrets(&self) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let Some(path) = self.secrets_path() else {
            return Ok(BTreeMap::new());
        };
        let read = path.clone();
        let text = tokio::task::spawn_blocking(move || super::read_bounded(&read))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        Self::secrets_from(&path, text)
    }

    fn secrets_from(
        path: &Path,
        text: std::io::Result<String>,
    ) -> Result<BTreeMap<String, Secret>, ConfigError> {
        let text = text.map_err(|error| ConfigError::Read {
            file: path.to_path_buf(),
            error,
        })?;
        secrets::parse(path, &text).map_err(|m| ConfigError::at(path, None, m))
    }

    /// The environment of one role of an app (for a destination), with secret
    /// values filled in. A secret named but absent from the file is an error
    /// pointing at where it is named.
    pub fn resolve_env(
        &self,
        app: &AppName,
        role: &RoleName,
        destination: Option<&DestinationName>,
        secrets: &BTreeMap<String, Secret>,
    ) -> Result<BTreeMap<String, EnvValue>, ConfigError> {
        let k = |s: &str| Seg::Key(s.to_string());
        let cfg = self
            .fleet
            .apps
            .get(app)
            .ok_or_else(|| self.error_at(&[], false, format!("app `{app}` is not declared")))?;
        let mut out = BTreeMap::new();
        for (rel, env) in cfg.env_sources() {
            let applies = match rel.get(1).zip(rel.first()) {
                Some((Seg::Key(name), Seg::Key(kind))) if kind == "roles" => name == role.as_str(),
                Some((Seg::Key(name), Seg::Key(kind))) if kind == "destinations" => {
                    destination.is_some_and(|d| d.as_str() == name)
                }
                _ => true,
            };
            if !applies {
                continue;
            }
            for (name, value) in &env.clear {
                out.insert(name.clone(), EnvValue::Clear(value.clone()));
            }
            for (i, name) in env.secret.iter().enumerate() {
                let Some(secret) = secrets.get(name) else {
                    let mut p = vec![k("apps"), k(app.as_str())];
                    p.extend(rel.iter().cloned());
                    p.extend([k("secret"), Seg::Index(i)]);
                    let file = self
                        .secrets_path()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "no `secrets_file:` is set".into());
                    return Err(self.error_at(
                        &p,
                        false,
                        format!("secret `{name}` is not in the secrets file ({file})"),
                    ));
                };
                out.insert(name.clone(), EnvValue::Secret(secret.clone()));
            }
        }
        Ok(out)
    }

    /// The registry an app is pushed to and pulled from: its own
    /// `registry:`, else the fleet's.
    pub fn registry(&self, app: &AppName) -> Option<&RegistryConfig> {
        self.fleet
            .apps
            .get(app)
            .and_then(|a| a.registry.as_ref())
            .or(self.fleet.registry.as_ref())
    }

    /// An app's registry with its credentials read from the secrets file;
    /// `None` when it has no registry. A secret named but absent is an
    /// error pointing at where it is named.
    pub fn registry_auth(
        &self,
        app: &AppName,
        secrets: &BTreeMap<String, Secret>,
    ) -> Result<Option<RegistryAuth>, ConfigError> {
        let k = |s: &str| Seg::Key(s.to_string());
        let own = self.fleet.apps.get(app).and_then(|a| a.registry.as_ref());
        let (r, mut path) = match (own, &self.fleet.registry) {
            (Some(r), _) => (r, vec![k("apps"), k(app.as_str()), k("registry")]),
            (None, Some(r)) => (r, vec![k("registry")]),
            (None, None) => return Ok(None),
        };
        let mut value = |field: &str, c: &Credential| match c {
            Credential::Plain(v) => Ok(Secret::new(v.clone())),
            Credential::Secret(name) => secrets.get(name).cloned().ok_or_else(|| {
                path.push(k(field));
                let file = self
                    .secrets_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "no `secrets_file:` is set".into());
                self.error_at(
                    &path,
                    false,
                    format!("secret `{name}` is not in the secrets file ({file})"),
                )
            }),
        };
        let username = value("username", &r.username)?;
        let password = value("password", &r.password)?;
        Ok(Some(RegistryAuth {
            server: r.server.clone(),
            username,
            password,
        }))
    }
}

/// A registry and the credentials to log in to it, read from the secrets
/// file. Its `Debug` masks both.
#[derive(Clone, Debug)]
pub struct RegistryAuth {
    /// `None`: Docker Hub.
    pub server: Option<String>,
    pub username: Secret,
    pub password: Secret,
}

impl RegistryAuth {
    /// The full reference of `image` in this registry: prefixed with the
    /// server unless it already names it.
    pub fn reference(&self, image: &str) -> String {
        in_registry(self.server.as_deref(), image)
    }

    /// Where it is, in words (`registry 127.0.0.1:5000`, `Docker Hub`).
    pub fn name(&self) -> String {
        self.server
            .as_ref()
            .map_or("Docker Hub".to_string(), |s| format!("registry {s}"))
    }
}

/// `image` in the registry at `server`: prefixed with the server unless
/// it already names it (Docker Hub, `None`: as it is).
pub fn in_registry(server: Option<&str>, image: &str) -> String {
    match server {
        Some(server) if !image.starts_with(&format!("{server}/")) => format!("{server}/{image}"),
        _ => image.to_string(),
    }
}

/// An environment value: shown as is, or masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    Clear(String),
    Secret(Secret),
}

impl EnvValue {
    /// The value for the container. Never display it.
    pub fn expose(&self) -> &str {
        match self {
            EnvValue::Clear(v) => v,
            EnvValue::Secret(s) => s.expose(),
        }
    }

    /// The value as it may be shown to a person.
    pub fn display(&self) -> &str {
        match self {
            EnvValue::Clear(v) => v,
            EnvValue::Secret(_) => secrets::MASK,
        }
    }
}

impl AppConfig {
    /// Every env block of the app with its path relative to the app, in the
    /// order they apply: app, role, destination.
    pub(super) fn env_sources(&self) -> Vec<(Vec<Seg>, &EnvConfig)> {
        let k = |s: &str| Seg::Key(s.to_string());
        let mut out = vec![(vec![k("env")], &self.env)];
        for (name, role) in &self.roles {
            out.push((vec![k("roles"), k(name.as_str()), k("env")], &role.env));
        }
        for (name, dest) in &self.destinations {
            out.push((
                vec![k("destinations"), k(name.as_str()), k("env")],
                &dest.env,
            ));
        }
        out
    }
}
