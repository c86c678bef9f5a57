//! Kamal's own config, read the way Kamal reads it, so a Kamal fleet needs
//! no berth.yaml: `config/deploy.yml`, with `config/deploy.<destination>.yml`
//! deep-merged over it (maps merge key by key; any other value, lists
//! included, is replaced), after ERB, as Ruby's YAML reads it (a key
//! written twice: the last one wins).
//!
//! ERB is Ruby, and berth runs no Ruby: `erb.rs` evaluates the idioms
//! files use for values (`ENV[...]`, `ENV.fetch`, `||` defaults,
//! `Dotenv.load`, `if ENV[...]`) and leaves the rest as markers. A marker
//! is refused only where berth needs the value, naming the key and every
//! expression in its way.
//!
//! What berth takes from the file: `service`, `image`, `servers` (a list,
//! or roles with `hosts:` or a list; a host may be `{host: [tags]}`),
//! `primary_role`, `require_destination`, `ssh` (`user`, `port`, `proxy`,
//! `proxy_command`, `keys`, `keys_only`, `config`), `proxy` (`host`, `hosts`),
//! `accessories` (`image`, `host`, `hosts`, `role`, `roles`, `tag`,
//! `tags`), `aliases`. The rest is Kamal's business and is not checked
//! here.

use std::path::PathBuf;

use serde_yaml::Value;

use super::error::ConfigError;

mod dotenv;
mod erb;
mod files;
mod fleet;
mod psych;
mod read;

pub use erb::{Ruby, Why, render_erb};
use files::{Doc, NOT_DESTINATIONS, deep_merge};
pub use files::{destination_file, destination_or_base, destinations_beside, sources};
use read::App;

/// Where berth finds a Kamal app's deploy file by itself: in the
/// directory it was started in, as `kamal` does.
pub const DEFAULT_FILE: &str = "config/deploy.yml";

/// Which Kamal config to read: a deploy file and a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalSource {
    pub file: PathBuf,
    pub destination: Option<String>,
    /// Found by looking beside the file (no `-d` given), rather than
    /// named: one that is not Kamal's to deploy is skipped with a note, and
    /// one that fails to read is an error row beside the others.
    pub listed: bool,
}

/// A Kamal app instance berth could not read: shown as an error row, the
/// others unaffected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalFailed {
    pub file: PathBuf,
    pub destination: Option<String>,
    pub error: String,
}

pub use super::model::KamalEntry;

/// One Kamal app instance (a service, and a destination or none), as its
/// config declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalApp {
    /// The deploy file, as named.
    pub file: PathBuf,
    pub destination: Option<String>,
    pub service: String,
    pub image: Option<String>,
    pub primary_role: String,
    /// By name, as Kamal orders them.
    pub roles: Vec<KamalRole>,
    pub accessories: Vec<KamalAccessory>,
    pub ssh: KamalSsh,
    /// Whether the app declares `proxy:` (kamal-proxy routes to it).
    pub proxied: bool,
    /// `proxy.host`/`proxy.hosts`: the app's public names.
    pub proxy_hosts: Vec<String>,
    /// `aliases`: commands operators run (`console: app exec -i ...`).
    pub aliases: Vec<(String, String)>,
    /// `require_destination: true`: Kamal deploys it only with `-d`.
    pub require_destination: bool,
    /// Each host's address and the fleet host that reaches it (filled in
    /// when the app joins a config).
    pub names: Vec<(String, super::HostName)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalRole {
    pub name: String,
    pub hosts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalAccessory {
    pub name: String,
    pub image: Option<String>,
    pub hosts: Vec<String>,
}

impl KamalAccessory {
    /// Its container's name, as Kamal names it: `<service>-<accessory>`.
    pub fn container(&self, service: &str) -> String {
        format!("{service}-{}", self.name)
    }
}

/// How Kamal reaches its hosts: one user, port, jump host and key set for
/// all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalSsh {
    pub user: String,
    pub port: u16,
    /// `ssh.proxy`: a jump host (`root@` is added when it names no user,
    /// as Kamal does).
    pub jump: Option<String>,
    pub keys: Vec<PathBuf>,
    /// `ssh.config`: OpenSSH config files to read instead of ~/.ssh/config.
    pub config: Vec<PathBuf>,
    /// `ssh.keys_only`: only the keys named (`IdentitiesOnly`).
    pub keys_only: bool,
    /// `ssh.proxy_command`: what ssh runs to reach a host (`ProxyCommand`).
    pub proxy_command: Option<String>,
}

impl KamalApp {
    /// An app of one role (`web`) on one host, reached as root on port 22:
    /// the smallest Kamal config, for tests and fuzzing.
    pub fn on_one_host(service: &str, destination: Option<&str>, host: &str) -> KamalApp {
        KamalApp {
            file: PathBuf::from(DEFAULT_FILE),
            destination: destination.map(str::to_string),
            service: service.to_string(),
            image: None,
            primary_role: "web".into(),
            roles: vec![KamalRole {
                name: "web".into(),
                hosts: vec![host.to_string()],
            }],
            accessories: Vec::new(),
            ssh: KamalSsh {
                user: "root".into(),
                port: 22,
                jump: None,
                keys: Vec::new(),
                config: Vec::new(),
                keys_only: false,
                proxy_command: None,
            },
            proxied: false,
            proxy_hosts: Vec::new(),
            aliases: Vec::new(),
            require_destination: false,
            names: Vec::new(),
        }
    }

    /// `shop` or `shop-staging`: how Kamal names the lock and the audit log.
    pub fn service_and_destination(&self) -> String {
        match &self.destination {
            Some(d) => format!("{}-{d}", self.service),
            None => self.service.clone(),
        }
    }

    /// The first host of the primary role: where Kamal keeps the lock.
    pub fn primary_host(&self) -> Option<&str> {
        self.roles
            .iter()
            .find(|r| r.name == self.primary_role)
            .and_then(|r| r.hosts.first())
            .map(String::as_str)
    }

    /// Every host of the app's roles and accessories, each once, in order.
    pub fn hosts(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        let all = self.roles.iter().flat_map(|r| &r.hosts);
        for h in all.chain(self.accessories.iter().flat_map(|a| &a.hosts)) {
            if !out.contains(&h.as_str()) {
                out.push(h);
            }
        }
        out
    }

    /// The lock directory, relative to the SSH user's home.
    pub fn lock_dir(&self) -> String {
        format!(".kamal/lock-{}", self.service_and_destination())
    }

    /// The audit log on each host, relative to the SSH user's home.
    pub fn audit_log(&self) -> String {
        format!(".kamal/{}-audit.log", self.service_and_destination())
    }

    /// The fleet host that reaches `addr`.
    pub fn host_name(&self, addr: &str) -> Option<&super::HostName> {
        self.names.iter().find(|(a, _)| a == addr).map(|(_, n)| n)
    }

    /// `kamal <args> [-d destination]`: what to run instead of berth.
    pub fn command(&self, args: &str) -> String {
        match &self.destination {
            Some(d) => format!("kamal {args} -d {d}"),
            None => format!("kamal {args}"),
        }
    }
}

/// Reads a Kamal app from its deploy file (and the destination's file
/// beside it), with `env` for ERB's `ENV`; with the notes about it (keys
/// written twice).
pub fn load(
    source: &KamalSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(KamalApp, Vec<crate::config::ConfigWarning>), ConfigError> {
    let mut vars = erb::Vars::new(env, &app_root(&source.file));
    let base = Doc::read(&source.file, &mut vars)?;
    let mut docs = vec![base];
    if let Some(d) = &source.destination {
        let file = destination_file(&source.file, d);
        if !file.is_file() {
            return Err(ConfigError::at(
                &file,
                None,
                format!(
                    "destination `{d}` needs this file beside {} (Kamal reads it for `-d {d}`)",
                    source.file.display()
                ),
            ));
        }
        docs.push(Doc::read(&file, &mut vars)?);
    }
    let mut merged = Value::Mapping(Default::default());
    for doc in &docs {
        deep_merge(&mut merged, doc.value.clone());
    }
    let app = App::new(&docs, &merged).read(source)?;
    let warnings = docs.iter().flat_map(|d| d.warnings.clone()).collect();
    Ok((app, warnings))
}

/// A deploy file's text read as an app with no destination, for the
/// fuzzer: whatever the bytes, an app or an error, never a panic.
#[cfg(any(test, fuzzing))]
pub fn load_text(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KamalApp, ConfigError> {
    let file = std::path::Path::new("config/deploy.yml");
    let mut vars = erb::Vars::new(env, std::path::Path::new("/nonexistent"));
    let docs = vec![Doc::parse(file, text, &mut vars)?];
    let source = KamalSource {
        file: file.to_path_buf(),
        destination: None,
        listed: false,
    };
    App::new(&docs, &docs[0].value).read(&source)
}

/// Why a listed source is not Kamal's to deploy, if it is not: a file kept
/// to copy from, a whole config of its own, or a base file that requires a
/// destination. `base` is the base file's `service`, when it reads.
fn skipped(
    source: &KamalSource,
    base: Option<&Value>,
    destinations: bool,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(PathBuf, String)> {
    let Some(d) = &source.destination else {
        let required = base
            .and_then(|b| b.get("require_destination"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if required {
            return Some((
                source.file.clone(),
                "skipped by itself: it has `require_destination: true`, so Kamal deploys it only with -d (its destinations are read)".into(),
            ));
        }
        // A base file that is only a base (its destinations add the
        // hosts): Kamal cannot deploy it alone either.
        let lacks = base.and_then(incomplete)?;
        return destinations.then(|| {
            (
                source.file.clone(),
                format!(
                    "skipped by itself: alone it has {lacks}, so Kamal deploys it only with -d (its destinations are read)"
                ),
            )
        });
    };
    let file = destination_file(&source.file, d);
    if NOT_DESTINATIONS.contains(&d.to_ascii_lowercase().as_str()) {
        return Some((
            file,
            format!("skipped: an example to copy from, not a destination (read it with -d {d})"),
        ));
    }
    // A file that is a base of its own (used with `-c`): it requires a
    // destination, or has destination files of its own beside it. A
    // destination naming another service (`shop-staging`) is still a
    // destination: Kamal merges it over the base for `-d`.
    let own_destinations = !destinations_beside(&file).is_empty();
    let mut vars = erb::Vars::new(env, &app_root(&source.file));
    let own = Doc::read(&file, &mut vars).ok()?;
    let requires = own
        .value
        .get("require_destination")
        .and_then(Value::as_bool)
        == Some(true);
    let service = own.value.get("service").and_then(Value::as_str)?;
    let base_service = base.and_then(|b| b.get("service")).and_then(Value::as_str);
    (base_service != Some(service) && (requires || own_destinations)).then(|| {
        let note = format!(
            "skipped: a config of its own (service `{}`, with {}); read it with --kamal {}",
            crate::sanitize::one_line(service),
            if requires {
                "`require_destination: true`"
            } else {
                "destination files of its own"
            },
            file.display()
        );
        (file, note)
    })
}

/// What a deploy file alone lacks to be deployed by Kamal, if anything:
/// its service, or hosts for its primary role.
fn incomplete(doc: &Value) -> Option<String> {
    if doc.get("service").is_none_or(Value::is_null) {
        return Some("no `service:`".into());
    }
    let primary = doc
        .get("primary_role")
        .and_then(Value::as_str)
        .unwrap_or("web");
    let hosts = match doc.get("servers") {
        None | Some(Value::Null) => return Some("no `servers:`".into()),
        Some(Value::Sequence(list)) => Some(list),
        Some(Value::Mapping(roles)) => match roles.get(primary) {
            Some(Value::Sequence(list)) => Some(list),
            Some(Value::Mapping(role)) => role.get("hosts").and_then(Value::as_sequence),
            _ => None,
        },
        Some(_) => return None,
    };
    hosts
        .is_none_or(Vec::is_empty)
        .then(|| format!("no hosts for its primary role `{primary}`"))
}

/// The directory Kamal runs in for `file`: the parent of its `config/`.
fn app_root(file: &std::path::Path) -> PathBuf {
    file.parent()
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf)
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod patterns;
#[cfg(test)]
mod tests;
