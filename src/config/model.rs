//! The fleet config schema (version 2). Every struct refuses unknown keys:
//! a typo in a deploy config must fail loudly, not be ignored.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::duration::HumanDuration;
use super::map::Map;
use super::names::{AppName, DestinationName, HostName, RoleName};
pub use super::proxy::*;

/// The schema version this berth writes and reads natively.
pub const CURRENT_VERSION: u32 = 2;

/// The whole fleet: hosts and the apps that run on them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Schema version of this file.
    pub version: u32,
    /// Dotenv-style file (`NAME=value` lines) holding secret values; relative
    /// to the config file. Its contents are never printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_file: Option<PathBuf>,
    /// Refuse every mutating action (deploy, restart, destroy, ...).
    #[serde(default)]
    pub read_only: bool,
    /// Console theme: a name from `themes/` or a path to a YAML theme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// The console takes the mouse (click tabs, rows, stages; the wheel
    /// scrolls), as `--mouse` or `M` does. Off by default, so the terminal's
    /// own selection works.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mouse: bool,
    /// The registry apps are pushed to and pulled from (an app's own
    /// `registry:` replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryConfig>,
    /// Hosts connected to and worked on at once: each stage's per-host
    /// work, the engine's and the inventory's connections, `hosts check`.
    #[serde(default = "default_parallel_hosts", deserialize_with = "at_least_one")]
    pub parallel_hosts: std::num::NonZeroUsize,
    /// Connections being opened at once (the inventory's, a run's, `hosts
    /// check`'s). Opening one is mostly waiting on the network, and a dead
    /// host holds its attempt for the whole connect deadline, so this is
    /// far above `parallel_hosts`: a few dead hosts never queue the rest.
    #[serde(
        default = "default_parallel_connects",
        deserialize_with = "at_least_one"
    )]
    pub parallel_connects: std::num::NonZeroUsize,
    #[serde(default)]
    pub lock: LockConfig,
    #[serde(default)]
    pub hooks: HooksConfig,
    #[serde(default)]
    pub hosts: Map<HostName, HostConfig>,
    #[serde(default)]
    pub apps: Map<AppName, Box<AppConfig>>,
    /// Kamal apps shown beside berth's, read from their own deploy files
    /// (relative to this file), read-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kamal: Vec<KamalEntry>,
}

fn default_parallel_hosts() -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::MIN.saturating_add(7)
}

fn default_parallel_connects() -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::MIN.saturating_add(63)
}

fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<std::num::NonZeroUsize, D::Error> {
    let n = u64::deserialize(d)?;
    usize::try_from(n)
        .ok()
        .and_then(std::num::NonZeroUsize::new)
        .ok_or_else(|| serde::de::Error::custom(format!("{n} must be at least 1")))
}

/// Deploy locks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LockConfig {
    /// A lock whose holder has not refreshed its heartbeat for this long is
    /// shown as stale (never taken over silently).
    #[serde(default = "default_lock_ttl")]
    pub ttl: HumanDuration,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            ttl: default_lock_ttl(),
        }
    }
}

fn default_lock_ttl() -> HumanDuration {
    HumanDuration::secs(60)
}

/// Hooks (`hooks/` next to the config) and plugins (`plugins/`).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HooksConfig {
    /// Deadline for each hook or plugin executable; it is killed after it.
    #[serde(default = "default_hook_timeout")]
    pub timeout: HumanDuration,
}

impl Default for HooksConfig {
    fn default() -> Self {
        HooksConfig {
            timeout: default_hook_timeout(),
        }
    }
}

fn default_hook_timeout() -> HumanDuration {
    HumanDuration::secs(300)
}

/// A Docker host: the local engine, or one reached over SSH.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Reach the host over SSH; absent means the engine on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshConfig>,
    /// Path of the Docker socket on that host. Default for a host with
    /// neither `ssh:`, `docker:` nor `context:`: this machine's engine as the
    /// docker CLI finds it (`DOCKER_HOST`, the Docker context); else
    /// `/var/run/docker.sock`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// The engine's address, as `DOCKER_HOST` takes one: `unix:///path`,
    /// `tcp://host:port` (TLS as `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH` say),
    /// `ssh://user@host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<String>,
    /// A Docker context (`docker context ls`) naming the engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Where berth keeps its state on that host (locks, history).
    /// Default: `~/.berth` of the user berth runs Docker commands as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// The host's nginx, for apps with a `proxy:`.
    #[serde(default)]
    pub nginx: NginxConfig,
    /// Whether the host runs Dokku, whose app locks and builds berth then
    /// reads (never changes). Default: found out, by whether
    /// `/var/lib/dokku/data/apps` is there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dokku: Option<bool>,
}

/// How berth drives the nginx of a host. berth writes only its own files
/// (`berth-<app>.conf`) in `dir`, which nginx must include inside `http {}`
/// (Debian's `/etc/nginx/conf.d` is).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NginxConfig {
    /// The nginx command; berth appends `-t` to validate and `-s reload` to
    /// reload. E.g. `[sudo, -n, nginx]`, or `[nginx, -c, /etc/nginx/nginx.conf]`.
    #[serde(default = "default_nginx_command")]
    pub command: Argv,
    /// Where berth writes its per-app files.
    #[serde(default = "default_nginx_dir")]
    pub dir: PathBuf,
}

impl Default for NginxConfig {
    fn default() -> Self {
        NginxConfig {
            command: default_nginx_command(),
            dir: default_nginx_dir(),
        }
    }
}

fn default_nginx_command() -> Argv {
    Argv(vec!["nginx".into()])
}
fn default_nginx_dir() -> PathBuf {
    PathBuf::from("/etc/nginx/conf.d")
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// Offer only `identity_file`, never every key of the agent (ssh's
    /// `IdentitiesOnly`; Kamal's `ssh.keys_only`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identities_only: bool,
    /// A command ssh runs to reach the host instead of a TCP connection
    /// (ssh's `ProxyCommand`, with `%h` and `%p`; Kamal's
    /// `ssh.proxy_command`), e.g. `aws ssm start-session --target %h ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_command: Option<String>,
    /// A jump host (`user@bastion:22`), as for `ssh -J`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jump: Option<String>,
    /// A known_hosts file to check host keys against (default: the user's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts: Option<PathBuf>,
    /// An OpenSSH config file read instead of `~/.ssh/config` (`ssh -F`):
    /// for what berth has no key of its own (`ProxyCommand`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_file: Option<PathBuf>,
    /// How long the master connection outlives an idle berth, for the
    /// next berth command to use instead of a new SSH handshake (ssh's
    /// `ControlPersist`; default 60s, `0s` closes it at exit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persist: Option<HumanDuration>,
}

/// One app: an image (or how to build it) and the roles that run it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Image reference, e.g. `registry.example.com/shop:latest`; the version
    /// being deployed replaces the tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Build the image on each host from this context instead of pulling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<Box<BuildConfig>>,
    /// The role that boots first and that others may depend on.
    #[serde(default = "default_primary_role")]
    pub primary_role: RoleName,
    pub roles: Map<RoleName, Box<RoleConfig>>,
    #[serde(default, skip_serializing_if = "EnvConfig::is_empty")]
    pub env: EnvConfig,
    /// Volumes and bind mounts for every role, as for `docker run -v`:
    /// `name:/path[:ro]` or `/host/path:/path`. Named volumes survive
    /// `destroy` unless `--purge-volumes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Box<HealthcheckConfig>>,
    /// A task run once per deploy in a throw-away container from the new
    /// image (migrations and the like), before any new container boots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<Box<ReleaseConfig>>,
    #[serde(default)]
    pub boot: BootConfig,
    /// Deadline for each health gate.
    #[serde(default = "default_deploy_timeout")]
    pub deploy_timeout: HumanDuration,
    /// With no healthcheck, how long a new container must stay up.
    #[serde(default = "default_min_uptime")]
    pub min_uptime: HumanDuration,
    /// Grace period for `docker stop` before the container is killed.
    #[serde(default = "default_stop_timeout")]
    pub stop_timeout: HumanDuration,
    /// How many old versions to keep (stopped) for rollback.
    #[serde(default = "default_retain")]
    pub retain: u32,
    /// Its registry, in place of the fleet's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistryConfig>,
    /// The shell `s` and `berth exec -i` open in its containers
    /// [default: `/bin/bash` where the container has it, else `/bin/sh`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Argv>,
    /// A proxy in front of one role: traffic moves to new containers only
    /// after their health gate, and old ones drain before they stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Box<ProxyConfig>>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub destinations: Map<DestinationName, Box<DestinationConfig>>,
}

fn default_primary_role() -> RoleName {
    RoleName::web()
}
fn default_deploy_timeout() -> HumanDuration {
    HumanDuration::secs(60)
}
fn default_min_uptime() -> HumanDuration {
    HumanDuration::secs(10)
}
fn default_stop_timeout() -> HumanDuration {
    HumanDuration::secs(10)
}
fn default_retain() -> u32 {
    3
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// Build context directory, relative to the config file.
    pub context: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub args: Map<String, String>,
    /// With a registry: the host whose engine builds the image once (it is
    /// then pushed, and every host pulls it) [default: this machine's
    /// engine].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builder: Option<HostName>,
}

/// A registry, as Kamal's `registry:` has it: the server, and credentials
/// that are names of secrets in the secrets file (`password:
/// [REGISTRY_PASSWORD]`), never values written here.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// `ghcr.io`, `registry.example.com:5000` [default: Docker Hub].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// A user name, or `[NAME]`: the secret holding it.
    pub username: Credential,
    /// `[NAME]`: the secret holding the password (or token).
    pub password: Credential,
}

/// A credential: written as it is (a user name only), or a secret's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Credential {
    Plain(String),
    Secret(String),
}

impl<'de> Deserialize<'de> for Credential {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secret([String; 1]),
            Plain(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a user name, or `[NAME]`: the name of a secret in the secrets file",
            )
        })? {
            Raw::Secret([name]) => Ok(Credential::Secret(name)),
            Raw::Plain(text) => Ok(Credential::Plain(text)),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoleConfig {
    pub hosts: HostList,
    /// Command to run instead of the image's default: an argument list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Argv>,
    /// The port the app listens on inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Merged over the app's env.
    #[serde(default, skip_serializing_if = "EnvConfig::is_empty")]
    pub env: EnvConfig,
    /// Volumes and bind mounts, as for `docker run -v`: `name:/path[:ro]` or
    /// `/host/path:/path`. Added to the app's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// `false` turns the app's (and the image's) healthcheck off for this
    /// role (its gate then waits `min_uptime`); a map replaces it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Box<RoleHealthcheck>>,
}

/// A role's own healthcheck setting.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum RoleHealthcheck {
    Off(bool),
    Custom(HealthcheckConfig),
}

impl<'de> Deserialize<'de> for RoleHealthcheck {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_yaml::Value::deserialize(d)?;
        match v {
            serde_yaml::Value::Bool(false) => Ok(RoleHealthcheck::Off(false)),
            serde_yaml::Value::Bool(true) => Err(serde::de::Error::custom(
                "`healthcheck: true` is the default; write `false` to turn it off, or a map to replace it",
            )),
            other => HealthcheckConfig::deserialize(other)
                .map(RoleHealthcheck::Custom)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl AppConfig {
    /// Every host any of its roles runs on, once each, sorted.
    pub fn hosts(&self) -> Vec<&HostName> {
        let mut hosts: Vec<&HostName> = self.roles.values().flat_map(|r| r.hosts.iter()).collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The healthcheck a role's containers get: `None` keeps the image's own,
    /// `Some(None)` turns it off, `Some(Some(h))` sets `h`.
    pub fn role_healthcheck(&self, role: &RoleName) -> Option<Option<HealthcheckConfig>> {
        match self.roles.get(role).and_then(|r| r.healthcheck.as_deref()) {
            Some(RoleHealthcheck::Off(_)) => Some(None),
            Some(RoleHealthcheck::Custom(h)) => Some(Some(h.clone())),
            None => self.healthcheck.as_deref().cloned().map(Some),
        }
    }
}

/// Environment: clear values, and names of secrets whose values come from
/// the secrets file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub clear: Map<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret: Vec<String>,
}

impl EnvConfig {
    pub fn is_empty(&self) -> bool {
        self.clear.is_empty() && self.secret.is_empty()
    }
}

/// Docker HEALTHCHECK fields. Unset fields take berth's defaults, which are
/// tighter than Docker's (30 s interval) so deploys do not crawl.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthcheckConfig {
    /// Run directly (CMD), not through a shell.
    pub command: Argv,
    #[serde(default = "default_hc_interval")]
    pub interval: HumanDuration,
    #[serde(default = "default_hc_timeout")]
    pub timeout: HumanDuration,
    #[serde(default = "default_hc_retries")]
    pub retries: u32,
    #[serde(default = "default_hc_start_period")]
    pub start_period: HumanDuration,
}

fn default_hc_interval() -> HumanDuration {
    HumanDuration::secs(2)
}
fn default_hc_timeout() -> HumanDuration {
    HumanDuration::secs(3)
}
fn default_hc_retries() -> u32 {
    3
}
fn default_hc_start_period() -> HumanDuration {
    HumanDuration::secs(0)
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseConfig {
    pub command: Argv,
    #[serde(default = "default_release_timeout")]
    pub timeout: HumanDuration,
}

fn default_release_timeout() -> HumanDuration {
    HumanDuration::secs(600)
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BootConfig {
    /// How many hosts of a role boot at once: a count or a percentage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<BootLimit>,
    /// Pause between boot groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<HumanDuration>,
}

/// Per-destination overrides (staging, production, ...).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Replaces the hosts of the named roles for this destination.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub roles: Map<RoleName, DestinationRole>,
    /// Merged over the app's env.
    #[serde(default, skip_serializing_if = "EnvConfig::is_empty")]
    pub env: EnvConfig,
    /// Fields set here replace the app's `proxy:` fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyOverride>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationRole {
    pub hosts: HostList,
}

/// The hosts of a role: never empty, so every role has a first host (its
/// lock's home, for the primary role). An empty list is refused where it is
/// read, with its place in the file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HostList(Vec<HostName>);

impl HostList {
    /// One host or more; `None` for none.
    pub fn new(hosts: Vec<HostName>) -> Option<Self> {
        (!hosts.is_empty()).then_some(HostList(hosts))
    }

    /// The first host listed.
    pub fn first(&self) -> &HostName {
        match self.0.as_slice() {
            [first, ..] => first,
            [] => unreachable!("HostList::new refuses an empty list"),
        }
    }
}

impl std::ops::Deref for HostList {
    type Target = [HostName];
    fn deref(&self) -> &[HostName] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for HostList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        HostList::new(Vec::<HostName>::deserialize(d)?).ok_or_else(|| {
            serde::de::Error::custom(
                "lists no hosts: name at least one host declared under `hosts:` (or remove the role)",
            )
        })
    }
}

/// A command as an argument vector. A single string is refused: berth never
/// hands data to a shell to split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Argv(pub Vec<String>);

impl<'de> Deserialize<'de> for Argv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            List(Vec<String>),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a command as a list of arguments, e.g. [\"bin/migrate\", \"--yes\"]",
            )
        })? {
            Raw::List(v) if v.is_empty() => Err(serde::de::Error::custom("command is empty")),
            Raw::List(v) => Ok(Argv(v)),
            Raw::Text(t) => {
                let parts: Vec<String> = t.split_whitespace().map(|p| format!("{p:?}")).collect();
                Err(serde::de::Error::custom(format!(
                    "commands are argument lists, not shell strings: write [{}] (berth never runs data through a shell; wrap it in [\"sh\", \"-c\", ...] yourself if you need one)",
                    parts.join(", ")
                )))
            }
        }
    }
}

/// How many hosts boot at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootLimit {
    Count(u32),
    Percent(u8),
}

impl BootLimit {
    /// Group size for `hosts` hosts: never zero, never more than `hosts`.
    pub fn group_size(self, hosts: usize) -> usize {
        let n = match self {
            BootLimit::Count(c) => c as usize,
            BootLimit::Percent(p) => (hosts * p as usize).div_ceil(100),
        };
        n.clamp(1, hosts.max(1))
    }
}

impl fmt::Display for BootLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootLimit::Count(c) => write!(f, "{c}"),
            BootLimit::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for BootLimit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            BootLimit::Count(c) => s.serialize_u32(*c),
            BootLimit::Percent(_) => s.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for BootLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(i64),
            Text(String),
        }
        const HINT: &str =
            "boot limit must be a host count (e.g. 2) or a percentage (e.g. \"25%\")";
        match Raw::deserialize(d).map_err(|_| serde::de::Error::custom(HINT))? {
            Raw::Count(n) if n >= 1 && n <= u32::MAX as i64 => Ok(BootLimit::Count(n as u32)),
            Raw::Count(n) => Err(serde::de::Error::custom(format!(
                "boot limit {n} must be at least 1"
            ))),
            Raw::Text(t) => match t.trim().strip_suffix('%').map(|p| p.trim().parse::<u8>()) {
                Some(Ok(p)) if (1..=100).contains(&p) => Ok(BootLimit::Percent(p)),
                Some(_) => Err(serde::de::Error::custom(format!(
                    "boot limit `{t}`: a percentage must be between 1% and 100%"
                ))),
                None => match t.trim().parse::<u32>() {
                    Ok(n) if n >= 1 => Ok(BootLimit::Count(n)),
                    _ => Err(serde::de::Error::custom(format!(
                        "boot limit `{t}`: {HINT}"
                    ))),
                },
            },
        }
    }
}

/// A `kamal:` entry of berth.yaml: a deploy file, alone or with the
/// destinations to read (each its own app instance, as `kamal -d`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct KamalEntry {
    pub file: PathBuf,
    pub destinations: Vec<String>,
}

impl<'de> Deserialize<'de> for KamalEntry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            File(PathBuf),
            Full(Full),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            file: PathBuf,
            #[serde(default)]
            destinations: Vec<String>,
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "a `kamal:` entry is a deploy file's path, or `{file: PATH, destinations: [NAME, ...]}`",
            )
        })? {
            Raw::File(file) => Ok(KamalEntry {
                file,
                destinations: Vec::new(),
            }),
            Raw::Full(f) => Ok(KamalEntry {
                file: f.file,
                destinations: f.destinations,
            }),
        }
    }
}

#[cfg(test)]
mod tests;
