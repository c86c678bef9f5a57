//! The fleet config: loading, validation and migration.
//!
//! Loading goes text → `serde_yaml::Value` (syntax errors, with positions) →
//! migration to the current schema (warnings) → typed structs through
//! `serde_path_to_error` (errors carry the path of the bad value) → cross
//! checks (undeclared hosts, missing primary role, ...). Every error is mapped
//! back to `file:line:column` through [`locate::Positions`].
//!
//! Owns: the config file and its model. May import `sanitize` only: every
//! other layer reads the config.
//! The layering is checked by a test (`src/layers.rs`).

mod check;
pub mod duration;
pub mod error;
pub mod kamal;
pub mod locate;
pub mod map;
pub mod migrate;
pub mod model;
pub mod names;
mod proxy;
mod resolve;
pub mod secrets;
pub(crate) mod split;

use std::path::{Path, PathBuf};

use serde_yaml::Value;

pub use duration::HumanDuration;
pub use error::{ConfigError, ConfigWarning, NotDeclared};
pub use map::Map;
pub use model::*;
pub use names::{AppName, DestinationName, HostName, RoleName};
pub use resolve::{EnvValue, RegistryAuth, in_registry};
pub use secrets::Secret;

use locate::{Positions, Seg};
use migrate::Moved;

/// Where berth looks for its config when neither `-c` nor `BERTH_CONFIG` says.
pub const DEFAULT_PATHS: &[&str] = &["berth.yaml", "config/berth.yaml"];

/// A loaded, validated fleet config.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from, as it was named (for messages).
    pub path: PathBuf,
    /// The directory it is in, absolute: hooks, plugins, secrets and build
    /// contexts resolve against it from any working directory, and hooks
    /// run in it.
    dir: PathBuf,
    pub fleet: FleetFile,
    /// Notes about the file (old keys migrated); shown, never fatal.
    pub warnings: Vec<ConfigWarning>,
    positions: Positions,
    moved: Vec<Moved>,
    /// Made read-only by the front end (`--read-only`), beside the file's
    /// own `read_only: true`.
    read_only_flag: bool,
    /// No file was found: this is [`Config::zero`].
    zero: bool,
    /// Kamal apps, read from their own deploy files (berth.yaml's `kamal:`,
    /// `--kamal`, or `config/deploy.yml` where berth was started); their
    /// hosts are in `fleet.hosts`.
    pub kamal: Vec<kamal::KamalApp>,
    /// Kamal app instances that failed to read (a broken destination file
    /// beside good ones): error rows, the others unaffected.
    pub kamal_failed: Vec<kamal::KamalFailed>,
}

/// Finds the config file: the explicit path, else the first default that exists.
pub fn discover(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let mut candidates: Vec<PathBuf> = DEFAULT_PATHS.iter().map(PathBuf::from).collect();
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
    {
        candidates.push(dir.join("berth").join("berth.yaml"));
    }
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            ConfigError::at(
                tried.first().cloned().unwrap_or_default(),
                None,
                format!(
                    "no config file found (tried {}); pass one with -c/--config or BERTH_CONFIG",
                    tried.join(", ")
                ),
            )
        })
}

/// What `berth` shows with no config anywhere: the local engine (the
/// default socket, or `DOCKER_HOST`) as host `local`, and no app of its
/// own; every app it runs (Compose, Kamal, Dokku, unmanaged) is shown
/// read-only, as found.
pub const ZERO: &str = "version: 2\nhosts:\n  local: {}\n";

/// The most berth reads of a config file (a deploy file, a dotenv file):
/// far past any real one, so a wrong path (`/dev/zero`) is an error, not a
/// read that never ends.
pub const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Reads a file berth takes text from: a regular file (a FIFO, a device or
/// a directory is refused at once, never waited on) of at most
/// [`MAX_FILE`] bytes.
pub fn read_bounded(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file (a FIFO, socket or device)"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what}; berth reads configs from regular files"),
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(MAX_FILE + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {} MiB", MAX_FILE / 1024 / 1024),
        ));
    }
    Ok(text)
}

/// Reads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = read_bounded(path).map_err(|error| ConfigError::Read {
        file: path.to_path_buf(),
        error,
    })?;
    parse_owned(path, text)
}

/// Validates `text` as if read from `path`.
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    parse_owned(path, text.to_string())
}

/// As [`parse`], keeping `text` as the config's one copy of the file.
fn parse_owned(path: &Path, mut text: String) -> Result<Config, ConfigError> {
    // Editors on Windows start UTF-8 files with a byte order mark.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    let shared = std::sync::Arc::new(text);
    let positions = Positions::of(shared.clone());
    let text = shared.as_str();
    // The common case, a current file with no `x-` keys or merge keys,
    // reads straight into the model: no `Value` tree of the whole file (a
    // 5 MB config costs a fraction of the time and memory). Anything else,
    // a serde error included, takes the full road below, which explains it.
    // A `<<` anywhere may be a merge key, which only the full road applies
    // (a map of free-form keys would otherwise take it literally).
    // A large one is read an app at a time (see `split`), so its memory is
    // the model's and not the whole file's parse.
    if !text.contains("<<")
        && let Some(fleet) = (text.len() >= split::THRESHOLD)
            .then(|| split::read(text))
            .flatten()
            .or_else(|| serde_yaml::from_str::<FleetFile>(text).ok())
        && fleet.version == CURRENT_VERSION
    {
        let config = Config {
            path: path.to_path_buf(),
            dir: absolute_dir(path),
            fleet,
            warnings: Vec::new(),
            positions,
            moved: Vec::new(),
            read_only_flag: false,
            zero: false,
            kamal: Vec::new(),
            kamal_failed: Vec::new(),
        };
        config.check()?;
        return config.with_kamal_entries();
    }
    parse_full(path, text, positions)
}

/// Text → `Value` (`x-` keys dropped, merge keys applied, old schemas
/// migrated) → the model, explaining every error with its position.
fn parse_full(path: &Path, text: &str, positions: Positions) -> Result<Config, ConfigError> {
    let err = |pos, msg: String| ConfigError::at(path, pos, msg);

    let mut doc: Value = serde_yaml::from_str(text).map_err(|e| {
        let pos = e.location().map(|l| locate::Pos {
            line: l.line(),
            column: l.column(),
        });
        let message = strip_location(&e.to_string());
        if let Some((pos, message)) = written_twice(&positions, &message) {
            return err(Some(pos), message);
        }
        err(pos, format!("invalid YAML: {message}"))
    })?;
    let Some(top) = doc.as_mapping_mut() else {
        return Err(err(
            Some(locate::Pos { line: 1, column: 1 }),
            "the config must be a map with `version:`, `hosts:` and `apps:`".into(),
        ));
    };
    // `x-` keys hold YAML anchors for reuse, as in Kamal and Compose files.
    top.retain(|k, _| !k.as_str().is_some_and(|k| k.starts_with("x-")));
    doc.apply_merge()
        .map_err(|e| err(None, format!("invalid YAML merge key: {e}")))?;

    let version =
        schema_version(&doc).map_err(|m| err(positions.value(&[Seg::Key("version".into())]), m))?;
    let moved =
        migrate::to_current(version, &mut doc).map_err(|c| err(positions.key(&c.at), c.message))?;
    let warnings = moved
        .iter()
        .map(|m| ConfigWarning {
            file: path.to_path_buf(),
            pos: positions.key(&m.from),
            message: format!(
                "`{}` is now `{}` (schema version {}); read it as the new key, nothing was dropped. Rename it and set `version: {}` to silence this",
                migrate::dotted(&m.from),
                migrate::dotted(&m.to),
                m.since,
                CURRENT_VERSION
            ),
        })
        .collect();
    if let Some(map) = doc.as_mapping_mut() {
        map.insert("version".into(), Value::from(CURRENT_VERSION));
    }

    let fleet: FleetFile = serde_path_to_error::deserialize(doc).map_err(|e| {
        let path_in_doc = locate::parse_path(&e.path().to_string());
        let (message, key) = explain(e.inner());
        let mut written = migrate::original_path(&path_in_doc, &moved);
        let last_key = match written.last() {
            Some(Seg::Key(k)) => Some(k.clone()),
            _ => None,
        };
        // Point at the key itself for an unknown key, and for a bad name used
        // as a map key (`apps: {my_app: ...}`); at the value otherwise.
        let on_key = match (&key, &last_key) {
            (Some(k), Some(last)) if k == last => true,
            (Some(k), _) => {
                written.push(Seg::Key(k.clone()));
                true
            }
            (None, Some(last)) => message.contains(&format!("name `{last}` ")),
            (None, None) => false,
        };
        let pos = if on_key {
            positions.key(&written)
        } else {
            positions.value(&written)
        };
        // For an unknown key, name the map it sits in; else the value's path.
        let shown = match (&key, written.split_last()) {
            (Some(_), Some((_, parents))) => parents,
            _ => &written[..],
        };
        let at = migrate::dotted(shown);
        err(
            pos,
            if at.is_empty() {
                message
            } else {
                format!("`{at}`: {message}")
            },
        )
    })?;

    let config = Config {
        path: path.to_path_buf(),
        dir: absolute_dir(path),
        fleet,
        warnings,
        positions,
        moved,
        read_only_flag: false,
        zero: false,
        kamal: Vec::new(),
        kamal_failed: Vec::new(),
    };
    config.check()?;
    config.with_kamal_entries()
}

fn schema_version(doc: &Value) -> Result<u32, String> {
    match doc.get("version") {
        None => Err(format!(
            "missing `version:`: add `version: {CURRENT_VERSION}` at the top (the current config schema)"
        )),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=CURRENT_VERSION as u64).contains(&n) => Ok(n as u32),
            Some(n) if n > CURRENT_VERSION as u64 => Err(format!(
                "config schema version {n} is newer than this berth understands (up to {CURRENT_VERSION}): upgrade berth"
            )),
            _ => Err(format!(
                "`version` must be a schema number from 1 to {CURRENT_VERSION}"
            )),
        },
    }
}

/// Rewrites serde's messages into operator language. Returns the message and,
/// for an unknown or misplaced key, the key itself (to point at it).
fn explain(e: &serde_yaml::Error) -> (String, Option<String>) {
    let msg = strip_location(&e.to_string());
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let (key, tail) = rest.split_once('`').unwrap_or((rest, ""));
        let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
        let hint = match names::did_you_mean(key, expected.iter().copied()) {
            Some(s) => format!("; did you mean `{s}`?"),
            None if expected.is_empty() => String::new(),
            None => format!(" (expected one of: {})", expected.join(", ")),
        };
        return (format!("unknown key `{key}`{hint}"), Some(key.to_string()));
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let key = rest.split('`').next().unwrap_or(rest);
        return (format!("missing required key `{key}`"), None);
    }
    (msg, None)
}

/// serde_yaml puts " at line L column C" into its messages; we print
/// positions our way, in front, so it is removed wherever it stands.
/// serde_yaml's "`path`: duplicate entry with key "k"" (placed at the
/// map), placed instead where the key is written the second time, with
/// where the first is.
fn written_twice(positions: &Positions, message: &str) -> Option<(locate::Pos, String)> {
    const SAID: &str = "duplicate entry with key \"";
    let (map, key) = match message.split_once(": ") {
        Some((map, rest)) if rest.starts_with(SAID) => (map, rest),
        _ => ("", message),
    };
    let key = key.strip_prefix(SAID)?.strip_suffix('"')?;
    let mut path = if map.is_empty() {
        Vec::new()
    } else {
        locate::parse_path(map)
    };
    path.push(Seg::Key(key.to_string()));
    let again = positions.again(&path)?;
    let first = positions.key(&path)?;
    let dotted = migrate::dotted(&path);
    Some((
        again,
        format!(
            "`{dotted}` is written twice (first at line {}); keep one: YAML would let this one replace the first",
            first.line
        ),
    ))
}

pub(super) fn strip_location(msg: &str) -> String {
    let mut out = msg.to_string();
    while let Some(i) = out.find(" at line ") {
        let rest = &out[i + " at line ".len()..];
        let line_digits = rest.chars().take_while(char::is_ascii_digit).count();
        let Some(after) = rest[line_digits..].strip_prefix(" column ") else {
            break;
        };
        let col_digits = after.chars().take_while(char::is_ascii_digit).count();
        if line_digits == 0 || col_digits == 0 {
            break;
        }
        let end = i + " at line ".len() + line_digits + " column ".len() + col_digits;
        out.replace_range(i..end, "");
    }
    out
}

/// The absolute directory of a config file named `berth.yaml`,
/// `dir/berth.yaml` or `/abs/berth.yaml` (a bare name's parent is "").
fn absolute_dir(path: &Path) -> PathBuf {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
    // `./x` and `a/../b` read better without the dots.
    dir.components().collect()
}

impl Config {
    /// The config of no file: see [`ZERO`].
    pub fn zero() -> Result<Config, ConfigError> {
        let mut config = parse(Path::new("(no config file)"), ZERO)?;
        config.zero = true;
        Ok(config)
    }

    /// True when no config file was found (see [`Config::zero`]).
    pub fn is_zero(&self) -> bool {
        self.zero
    }

    /// Why no action may change the fleet, if none may: the file's
    /// `read_only: true`, or the front end's `--read-only`. The engine
    /// refuses to plan a mutating action while this is set.
    pub fn read_only(&self) -> Option<String> {
        if self.read_only_flag {
            Some("--read-only".into())
        } else if self.fleet.read_only {
            Some(format!("{} sets `read_only: true`", self.path.display()))
        } else {
            None
        }
    }

    /// Makes this config read-only (`--read-only`).
    pub fn set_read_only(&mut self) {
        self.read_only_flag = true;
    }

    /// The directory relative paths in the config are resolved against:
    /// absolute, so it means the same from any working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An app's proxy for a destination, with the destination's overrides
    /// and the defaults applied; `None` when the app has no `proxy:`.
    pub fn proxy(
        &self,
        app: &AppName,
        destination: Option<&DestinationName>,
    ) -> Option<ProxySettings> {
        let cfg = self.fleet.apps.get(app)?;
        let p = cfg.proxy.as_ref()?;
        let o = destination
            .and_then(|d| cfg.destinations.get(d))
            .and_then(|d| d.proxy.clone())
            .unwrap_or_default();
        let role = p.role.clone().unwrap_or_else(|| cfg.primary_role.clone());
        let health = o.healthcheck.unwrap_or_else(|| p.healthcheck.clone());
        Some(ProxySettings {
            app_port: o
                .app_port
                .or(p.app_port)
                .or(cfg.roles.get(&role).and_then(|r| r.port))
                .unwrap_or(80),
            role,
            domains: o.domains.unwrap_or_else(|| p.domains.clone()),
            listen: o.listen.unwrap_or(p.listen),
            health_path: health.path,
            health_interval: health.interval.get(),
            health_timeout: health.timeout.get(),
            drain_timeout: o.drain_timeout.unwrap_or(p.drain_timeout).get(),
            driver: o.driver.unwrap_or(p.driver),
        })
    }

    /// Project hooks: `hooks/` next to the config file.
    pub fn hooks_dir(&self) -> PathBuf {
        self.dir().join("hooks")
    }

    /// Plugins: `plugins/` next to the config file.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir().join("plugins")
    }

    /// A declared host's settings. A checked config and its plans only
    /// name declared hosts: `Err` guards against a bug, and says so.
    pub fn host(&self, name: &HostName) -> Result<&HostConfig, NotDeclared> {
        self.fleet.hosts.get(name).ok_or_else(|| NotDeclared {
            kind: "host",
            name: name.to_string(),
            file: self.path.clone(),
        })
    }

    /// A declared app's settings; `Err` names the file it is not in.
    pub fn app(&self, name: &AppName) -> Result<&AppConfig, NotDeclared> {
        self.fleet
            .apps
            .get(name)
            .map(|a| &**a)
            .ok_or_else(|| NotDeclared {
                kind: "app",
                name: name.to_string(),
                file: self.path.clone(),
            })
    }

    /// The host an app's lock lives on: the first host of its primary role
    /// (`None` for an app that is not declared).
    pub fn primary_host(
        &self,
        app: &AppName,
        destination: Option<&DestinationName>,
    ) -> Option<&HostName> {
        let cfg = self.fleet.apps.get(app)?;
        Some(
            self.role_host_list(app, &cfg.primary_role, destination)?
                .first(),
        )
    }

    /// Hosts of a role, with a destination's override applied.
    pub fn role_hosts<'a>(
        &'a self,
        app: &AppName,
        role: &RoleName,
        destination: Option<&DestinationName>,
    ) -> &'a [HostName] {
        self.role_host_list(app, role, destination)
            .map_or(&[], |h| h)
    }

    fn role_host_list<'a>(
        &'a self,
        app: &AppName,
        role: &RoleName,
        destination: Option<&DestinationName>,
    ) -> Option<&'a HostList> {
        let cfg = self.fleet.apps.get(app)?;
        match destination
            .and_then(|d| cfg.destinations.get(d))
            .and_then(|d| d.roles.get(role))
        {
            Some(over) => Some(&over.hosts),
            None => cfg.roles.get(role).map(|r| &r.hosts),
        }
    }
}

#[cfg(test)]
mod tests;
