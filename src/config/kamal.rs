//! Kamal's own config, read the way Kamal reads it, so a Kamal fleet needs
//! no berth.yaml: `config/deploy.yml`, with `config/deploy.<destination>.yml`
//! deep-merged over it (maps merge key by key; any other value, lists
//! included, is replaced), after ERB.
//!
//! ERB is Ruby, and berth runs no Ruby: `<%= ENV["NAME"] %>`,
//! `<%= ENV['NAME'] %>`, `<%= ENV.fetch("NAME") %>` and
//! `<%= ENV.fetch("NAME", "default") %>` are evaluated from the
//! environment, `<%# comments %>` and `<%%` are as in ERB, and anything
//! else is refused with its file, line and column.
//!
//! What berth takes from the file: `service`, `image`, `servers` (a list,
//! or roles with `hosts:` or a list; a host may be `{host: [tags]}`),
//! `primary_role`, `ssh` (`user`, `port`, `proxy`, `keys`, `config`),
//! `proxy`, `accessories` (`host`, `hosts`, `role`, `roles`, `tag`,
//! `tags`). The rest is Kamal's business and is not checked here.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_yaml::Value;

use super::error::ConfigError;
use super::locate::{Pos, Positions, Seg};

/// Which Kamal config to read: a deploy file and a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KamalSource {
    pub file: PathBuf,
    pub destination: Option<String>,
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
    pub hosts: Vec<String>,
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
            },
            proxied: false,
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
/// beside it), with `env` for ERB's `ENV`.
pub fn load(
    source: &KamalSource,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KamalApp, ConfigError> {
    let base = Doc::read(&source.file, env)?;
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
        docs.push(Doc::read(&file, env)?);
    }
    let mut merged = Value::Mapping(Default::default());
    for doc in &docs {
        deep_merge(&mut merged, doc.value.clone());
    }
    App {
        docs: &docs,
        root: &merged,
    }
    .read(source)
}

/// `config/deploy.yml` → `config/deploy.staging.yml`.
pub fn destination_file(base: &Path, destination: &str) -> PathBuf {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "deploy".into());
    base.with_file_name(format!("{stem}.{destination}.yml"))
}

/// The destinations that have a file beside `base` (`deploy.<d>.yml`),
/// sorted.
pub fn destinations_beside(base: &Path) -> Vec<String> {
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match base.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let d = name
                .strip_prefix(&format!("{stem}."))?
                .strip_suffix(".yml")?
                .to_string();
            (!d.is_empty() && !d.contains('.')).then_some(d)
        })
        .collect();
    out.sort();
    out
}

/// Maps merge key by key, as ActiveSupport's `deep_merge`; anything else
/// (lists included) is replaced.
fn deep_merge(into: &mut Value, over: Value) {
    match (into, over) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => deep_merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// One file, rendered and parsed, with where its values are written.
struct Doc {
    file: PathBuf,
    value: Value,
    positions: Positions,
}

impl Doc {
    fn read(file: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Doc, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|error| ConfigError::Read {
            file: file.to_path_buf(),
            error,
        })?;
        let rendered = render_erb(file, &text, env)?;
        let mut value: Value = serde_yaml::from_str(&rendered).map_err(|e| {
            let pos = e.location().map(|l| Pos {
                line: l.line(),
                column: l.column(),
            });
            ConfigError::at(
                file,
                pos,
                format!("invalid YAML: {}", super::strip_location(&e.to_string())),
            )
        })?;
        if value.is_null() {
            value = Value::Mapping(Default::default());
        }
        value
            .apply_merge()
            .map_err(|e| ConfigError::at(file, None, format!("invalid YAML merge key: {e}")))?;
        if !value.is_mapping() {
            return Err(ConfigError::at(
                file,
                Some(Pos { line: 1, column: 1 }),
                "a Kamal deploy file is a map (`service:`, `image:`, `servers:`, ...)",
            ));
        }
        Ok(Doc {
            file: file.to_path_buf(),
            value,
            positions: Positions::index(&rendered),
        })
    }
}

/// The merged document, and the files it came from (for positions: the
/// last file that writes a path is where its value is).
struct App<'a> {
    docs: &'a [Doc],
    root: &'a Value,
}

fn key(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

impl App<'_> {
    fn error(&self, path: &[Seg], message: impl Into<String>) -> ConfigError {
        let doc = self
            .docs
            .iter()
            .rev()
            .find(|d| get(&d.value, path).is_some())
            .or_else(|| self.docs.first());
        match doc {
            Some(d) => ConfigError::at(&d.file, d.positions.value(path), message),
            None => ConfigError::at("(kamal)", None, message),
        }
    }

    fn get(&self, path: &[Seg]) -> Option<&Value> {
        get(self.root, path).filter(|v| !v.is_null())
    }

    fn string(&self, path: &[Seg]) -> Result<Option<String>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(v) => scalar(v).map(Some).ok_or_else(|| {
                self.error(
                    path,
                    format!("`{}` must be a string", super::migrate::dotted(path)),
                )
            }),
        }
    }

    fn strings(&self, path: &[Seg]) -> Result<Vec<String>, ConfigError> {
        match self.get(path) {
            None => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    scalar(v).ok_or_else(|| {
                        let mut p = path.to_vec();
                        p.push(Seg::Index(i));
                        self.error(&p, "must be a string")
                    })
                })
                .collect(),
            Some(v) => scalar(v).map(|s| vec![s]).ok_or_else(|| {
                self.error(
                    path,
                    format!(
                        "`{}` must be a list of strings",
                        super::migrate::dotted(path)
                    ),
                )
            }),
        }
    }

    fn read(&self, source: &KamalSource) -> Result<KamalApp, ConfigError> {
        let service = self
            .string(&[key("service")])?
            .ok_or_else(|| self.error(&[], "missing `service:` (the app's name)"))?;
        if service.is_empty()
            || !service
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(self.error(
                &[key("service")],
                format!(
                    "service `{}` is not a Kamal service name (lowercase letters, digits, `-` and `_`)",
                    crate::sanitize::one_line(&service)
                ),
            ));
        }
        let (roles, tagged) = self.roles()?;
        let primary_role = self
            .string(&[key("primary_role")])?
            .unwrap_or_else(|| "web".into());
        match roles.iter().find(|r| r.name == primary_role) {
            None if roles.is_empty() => {
                return Err(self.error(
                    &[key("servers")],
                    "no `servers:`: Kamal needs at least the primary role's hosts",
                ));
            }
            None => {
                return Err(self.error(
                    &[key("primary_role")],
                    format!(
                        "the primary role `{primary_role}` is not under `servers:` (roles: {}); Kamal refuses this file too",
                        roles.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
            Some(r) if r.hosts.is_empty() => {
                return Err(self.error(
                    &[key("servers"), key(&primary_role)],
                    format!("the primary role `{primary_role}` has no hosts"),
                ));
            }
            Some(_) => {}
        }
        let accessories = self.accessories(&roles, &tagged)?;
        let port = match self.get(&[key("ssh"), key("port")]) {
            None => 22,
            Some(v) => scalar(v)
                .and_then(|s| s.parse::<u16>().ok())
                .ok_or_else(|| {
                    self.error(
                        &[key("ssh"), key("port")],
                        "`ssh.port` must be a port number",
                    )
                })?,
        };
        if self.get(&[key("ssh"), key("proxy_command")]).is_some() {
            return Err(self.error(
                &[key("ssh"), key("proxy_command")],
                "berth cannot use `ssh.proxy_command`: put a `ProxyCommand` in an OpenSSH config file and name it under `ssh.config`, or use `ssh.proxy` (a jump host)",
            ));
        }
        let config = match self.get(&[key("ssh"), key("config")]) {
            Some(Value::Bool(_)) | None => Vec::new(),
            Some(_) => self.strings(&[key("ssh"), key("config")])?,
        };
        let dir = source
            .file
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .unwrap_or_default();
        // Kamal runs from the app's repository (the parent of `config/`):
        // relative key and config paths are relative to it.
        let resolve = |p: String| {
            let p = PathBuf::from(p);
            if p.is_relative() && !p.starts_with("~") {
                dir.join(p)
            } else {
                p
            }
        };
        Ok(KamalApp {
            file: source.file.clone(),
            destination: source.destination.clone(),
            image: self.string(&[key("image")])?,
            primary_role,
            roles,
            accessories,
            ssh: KamalSsh {
                user: self
                    .string(&[key("ssh"), key("user")])?
                    .unwrap_or_else(|| "root".into()),
                port,
                jump: self.string(&[key("ssh"), key("proxy")])?.map(|p| {
                    if p.contains('@') {
                        p
                    } else {
                        format!("root@{p}")
                    }
                }),
                keys: self
                    .strings(&[key("ssh"), key("keys")])?
                    .into_iter()
                    .map(resolve)
                    .collect(),
                config: config.into_iter().map(resolve).collect(),
            },
            proxied: self.get(&[key("proxy")]).is_some(),
            names: Vec::new(),
            service,
        })
    }

    /// The roles, by name, and each host's tags.
    #[allow(clippy::type_complexity)]
    fn roles(&self) -> Result<(Vec<KamalRole>, Vec<(String, Vec<String>)>), ConfigError> {
        let mut tagged = Vec::new();
        let servers = [key("servers")];
        let mut roles = match self.get(&servers) {
            None => Vec::new(),
            Some(Value::Sequence(_)) => vec![KamalRole {
                name: "web".into(),
                hosts: self.hosts(&servers, &mut tagged)?,
            }],
            Some(Value::Mapping(m)) => {
                let mut roles = Vec::new();
                for (name, spec) in m {
                    let Some(name) = scalar(name) else {
                        return Err(self.error(&servers, "role names must be strings"));
                    };
                    let path = [key("servers"), key(&name)];
                    let hosts = match spec {
                        Value::Sequence(_) => self.hosts(&path, &mut tagged)?,
                        Value::Mapping(_) => {
                            let mut p = path.to_vec();
                            p.push(key("hosts"));
                            self.hosts(&p, &mut tagged)?
                        }
                        Value::Null => Vec::new(),
                        _ => {
                            return Err(self.error(
                                &path,
                                format!(
                                    "role `{name}` must be a list of hosts, or a map with `hosts:`"
                                ),
                            ));
                        }
                    };
                    roles.push(KamalRole { name, hosts });
                }
                roles
            }
            Some(_) => {
                return Err(self.error(
                    &servers,
                    "`servers` must be a list of hosts, or roles (`web: [host, ...]`)",
                ));
            }
        };
        roles.sort_by(|a, b| a.name.cmp(&b.name));
        Ok((roles, tagged))
    }

    /// A role's hosts: strings, or `{host: tag}` / `{host: [tags]}`.
    fn hosts(
        &self,
        path: &[Seg],
        tagged: &mut Vec<(String, Vec<String>)>,
    ) -> Result<Vec<String>, ConfigError> {
        let items = match self.get(path) {
            None => return Ok(Vec::new()),
            Some(Value::Sequence(items)) => items,
            Some(_) => return Err(self.error(path, "must be a list of hosts")),
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let mut at = path.to_vec();
            at.push(Seg::Index(i));
            let (host, tags) = match item {
                Value::Mapping(m) if m.len() == 1 => {
                    let (h, t) = m.iter().next().ok_or_else(|| self.error(&at, "empty"))?;
                    let tags = match t {
                        Value::Sequence(ts) => ts.iter().filter_map(scalar).collect(),
                        v => scalar(v).into_iter().collect(),
                    };
                    (scalar(h), tags)
                }
                v => (scalar(v), Vec::new()),
            };
            let host = host
                .filter(|h| valid_host(h))
                .ok_or_else(|| self.error(&at, "a host is a name or an address (`192.168.0.1`, `web-1.example.com`), or `{host: [tags]}`"))?;
            tagged.push((host.clone(), tags));
            if !out.contains(&host) {
                out.push(host);
            }
        }
        Ok(out)
    }

    fn accessories(
        &self,
        roles: &[KamalRole],
        tagged: &[(String, Vec<String>)],
    ) -> Result<Vec<KamalAccessory>, ConfigError> {
        let Some(Value::Mapping(m)) = self.get(&[key("accessories")]) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in m.keys() {
            let Some(name) = scalar(name) else { continue };
            let at = |k: &str| [key("accessories"), key(&name), key(k)];
            let mut hosts = Vec::new();
            if let Some(h) = self.string(&at("host"))? {
                hosts.push(h);
            } else if self.get(&at("hosts")).is_some() {
                hosts = self.strings(&at("hosts"))?;
            } else if self.get(&at("role")).is_some() || self.get(&at("roles")).is_some() {
                let names = [self.strings(&at("role"))?, self.strings(&at("roles"))?].concat();
                for n in names {
                    let role = roles.iter().find(|r| r.name == n).ok_or_else(|| {
                        self.error(
                            &at(if self.get(&at("role")).is_some() {
                                "role"
                            } else {
                                "roles"
                            }),
                            format!(
                                "accessory `{name}` names role `{n}`, which is not under `servers:`"
                            ),
                        )
                    })?;
                    hosts.extend(role.hosts.iter().cloned());
                }
            } else {
                let wanted = [self.strings(&at("tag"))?, self.strings(&at("tags"))?].concat();
                for (h, tags) in tagged {
                    if tags.iter().any(|t| wanted.contains(t)) && !hosts.contains(h) {
                        hosts.push(h.clone());
                    }
                }
            }
            if let Some(bad) = hosts.iter().find(|h| !valid_host(h)) {
                return Err(self.error(
                    &[key("accessories"), key(&name)],
                    format!(
                        "`{}` is not a host name or address",
                        crate::sanitize::one_line(bad)
                    ),
                ));
            }
            out.push(KamalAccessory { name, hosts });
        }
        Ok(out)
    }
}

fn get<'v>(root: &'v Value, path: &[Seg]) -> Option<&'v Value> {
    let mut v = root;
    for seg in path {
        v = match seg {
            Seg::Key(k) => v.as_mapping()?.get(k.as_str())?,
            Seg::Index(i) => v.as_sequence()?.get(*i)?,
        };
    }
    Some(v)
}

/// A YAML scalar as text (`port: 22` and `port: "22"` alike).
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A host berth can hand to ssh as one argument: a name or an address,
/// never an option (`-oProxyCommand=…`) or anything with spaces.
fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && !h.starts_with('-')
        && h.len() <= 253
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '[' | ']'))
}

/// ERB, as far as a deploy file may use it without running Ruby: see the
/// module's opening comment. `file` is for messages.
pub fn render_erb(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find("<%") {
        let (before, tag) = rest.split_at(i);
        let start = offset + i;
        let at = |msg: String| ConfigError::at(file, Some(pos_of(text, start)), msg);
        // `<%%` is a literal `<%`.
        if let Some(after) = tag.strip_prefix("<%%") {
            out.push_str(before);
            out.push_str("<%");
            offset += i + 3;
            rest = after;
            continue;
        }
        let Some(end) = tag.find("%>") else {
            return Err(at("an ERB tag `<%` is not closed with `%>`".into()));
        };
        let inner = &tag[2..end];
        let mut consumed = end + 2;
        // `<%-` drops the indentation before the tag; `-%>` the newline after.
        let (inner, before) = match inner.strip_prefix('-') {
            Some(i) => (i, before.trim_end_matches([' ', '\t'])),
            None => (inner, before),
        };
        let (inner, trim_after) = match inner.strip_suffix('-') {
            Some(i) => (i, true),
            None => (inner, false),
        };
        out.push_str(before);
        if let Some(expr) = inner.strip_prefix('=') {
            out.push_str(&evaluate(expr.trim(), env).map_err(&at)?);
        } else if inner.starts_with('#')
            || (inner.trim_start().starts_with('#') && !inner.contains('\n'))
        {
            // An ERB comment, or a tag holding only a Ruby comment: nothing.
        } else {
            return Err(at(format!(
                "ERB `<%{}%>` runs Ruby, which berth does not: only `<%= ENV[\"NAME\"] %>` and `<%= ENV.fetch(\"NAME\") %>` are read. Write the value into the file, or take it from the environment that way",
                crate::sanitize::one_line(inner.trim_end())
            )));
        }
        if trim_after && tag[consumed..].starts_with('\n') {
            consumed += 1;
        }
        offset += i + consumed;
        rest = &tag[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `ENV["N"]`, `ENV['N']`, `ENV.fetch("N")`, `ENV.fetch("N", "default")`.
fn evaluate(expr: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let refuse = || {
        format!(
            "ERB `<%= {} %>` is Ruby berth does not run: only `<%= ENV[\"NAME\"] %>`, `<%= ENV.fetch(\"NAME\") %>` and `<%= ENV.fetch(\"NAME\", \"default\") %>` are read. Write the value into the file, or take it from the environment that way",
            crate::sanitize::one_line(expr)
        )
    };
    if let Some(inside) = expr.strip_prefix("ENV[").and_then(|r| r.strip_suffix(']')) {
        let (name, tail) = string_literal(inside.trim()).ok_or_else(refuse)?;
        if !tail.trim().is_empty() {
            return Err(refuse());
        }
        // Ruby's `ENV["X"]` is nil when unset, and nil renders as "".
        return Ok(env(&name).unwrap_or_default());
    }
    if let Some(inside) = expr
        .strip_prefix("ENV.fetch(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (name, tail) = string_literal(inside.trim()).ok_or_else(refuse)?;
        let tail = tail.trim();
        let default = if tail.is_empty() {
            None
        } else {
            let (d, rest) = tail
                .strip_prefix(',')
                .and_then(|t| string_literal(t.trim()))
                .ok_or_else(refuse)?;
            if !rest.trim().is_empty() {
                return Err(refuse());
            }
            Some(d)
        };
        return match (env(&name), default) {
            (Some(v), _) => Ok(v),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(format!(
                "`ENV.fetch(\"{}\")`: {} is not set in the environment (Kamal would stop here too); set it, or give a default: `ENV.fetch(\"{0}\", \"value\")`",
                crate::sanitize::one_line(&name),
                crate::sanitize::one_line(&name)
            )),
        };
    }
    Err(refuse())
}

/// A Ruby string literal at the start of `s` ("…" or '…', without
/// interpolation): its text and what follows it.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &s[1..];
    let end = body.find(quote)?;
    let text = &body[..end];
    if text.contains('\\') || (quote == '"' && text.contains("#{")) {
        return None;
    }
    Some((text.to_string(), &body[end + 1..]))
}

/// The 1-based line and column of byte `offset` in `text`.
fn pos_of(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Pos { line, column }
}

/// Where berth finds a Kamal app's deploy file by itself: in the
/// directory it was started in, as `kamal` does.
pub const DEFAULT_FILE: &str = "config/deploy.yml";

/// What to read of one deploy file: the destinations named, or with none
/// named, each destination that has a file beside it (every destination
/// of the app, each its own instance), or the file alone when none has.
pub fn sources(file: &Path, destinations: &[String]) -> Vec<KamalSource> {
    let named: Vec<String> = if destinations.is_empty() {
        destinations_beside(file)
    } else {
        destinations.to_vec()
    };
    if named.is_empty() {
        return vec![KamalSource {
            file: file.to_path_buf(),
            destination: None,
        }];
    }
    named
        .into_iter()
        .map(|d| KamalSource {
            file: file.to_path_buf(),
            destination: Some(d),
        })
        .collect()
}

impl super::Config {
    /// The config of no berth.yaml, for Kamal apps alone (`berth` in a
    /// Kamal app's repository, or `--kamal` with no berth.yaml): no host of
    /// its own, no app of its own.
    pub fn kamal_only(sources: &[KamalSource]) -> Result<super::Config, ConfigError> {
        let path = sources
            .first()
            .map(|s| s.file.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
        let mut config = super::parse(&path, "version: 2\n")?;
        config.add_kamal(sources, &|n| std::env::var(n).ok())?;
        Ok(config)
    }

    /// Reads berth.yaml's `kamal:` entries (paths relative to berth.yaml).
    pub(super) fn with_kamal_entries(mut self) -> Result<super::Config, ConfigError> {
        let sources: Vec<KamalSource> = self
            .fleet
            .kamal
            .iter()
            .flat_map(|e| sources(&self.dir.join(&e.file), &e.destinations))
            .collect();
        if !sources.is_empty() {
            self.add_kamal(&sources, &|n| std::env::var(n).ok())?;
        }
        Ok(self)
    }

    /// Adds Kamal apps and their hosts: each host as Kamal reaches it (its
    /// `ssh:` user, port, jump host, first key and config file), or the
    /// berth host already reaching that address the same way.
    pub fn add_kamal(
        &mut self,
        sources: &[KamalSource],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for source in sources {
            let mut app = load(source, env)?;
            if let Some(same) = self
                .kamal
                .iter()
                .find(|a| a.service == app.service && a.destination == app.destination)
            {
                return Err(ConfigError::at(
                    &source.file,
                    None,
                    format!(
                        "Kamal app `{}` is read twice (also from {}); name each deploy file and destination once",
                        app.service_and_destination(),
                        same.file.display()
                    ),
                ));
            }
            let addrs: Vec<String> = app.hosts().into_iter().map(str::to_string).collect();
            for addr in addrs {
                let name = self.kamal_host(&app.ssh, &addr);
                app.names.push((addr, name));
            }
            self.kamal.push(app);
        }
        Ok(())
    }

    /// The host reaching `addr` as `ssh` says: a declared one, or a new one
    /// named after the address (`10.0.0.7` → `10-0-0-7`).
    fn kamal_host(&mut self, ssh: &KamalSsh, addr: &str) -> super::HostName {
        let wanted = super::SshConfig {
            host: addr.to_string(),
            user: Some(ssh.user.clone()),
            port: Some(ssh.port),
            identity_file: ssh.keys.first().cloned(),
            jump: ssh.jump.clone(),
            known_hosts: None,
            config_file: ssh.config.first().cloned(),
            persist: None,
        };
        let same = |s: &super::SshConfig| {
            s.host == wanted.host
                && s.port.unwrap_or(22) == ssh.port
                && s.user.as_deref().unwrap_or("root") == ssh.user
                && s.jump == wanted.jump
        };
        if let Some((name, _)) = self
            .fleet
            .hosts
            .iter()
            .find(|(_, h)| h.ssh.as_ref().is_some_and(same))
        {
            return name.clone();
        }
        let base = if super::names::check_label("host", addr).is_ok() {
            addr.to_string()
        } else {
            super::names::suggest_label(addr).unwrap_or_else(|| "kamal-host".into())
        };
        let mut n = 1;
        let name = loop {
            let candidate = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            if let Ok(name) = super::HostName::new(&candidate)
                && !self.fleet.hosts.contains_key(&name)
            {
                break name;
            }
            n += 1;
        };
        self.fleet.hosts.insert(
            name.clone(),
            super::HostConfig {
                ssh: Some(wanted),
                // A Kamal host is not a Dokku host: not asked.
                dokku: Some(false),
                ..Default::default()
            },
        );
        name
    }

    /// Each Kamal app's service and destination (`""` for none).
    pub fn kamal_services(&self) -> Vec<(String, String)> {
        self.kamal
            .iter()
            .map(|a| (a.service.clone(), a.destination.clone().unwrap_or_default()))
            .collect()
    }

    /// The Kamal app shown as `service` (and `destination`, `""` for none).
    pub fn kamal_app(&self, service: &str, destination: &str) -> Option<&KamalApp> {
        self.kamal
            .iter()
            .find(|a| a.service == service && a.destination.as_deref().unwrap_or("") == destination)
    }
}

#[cfg(test)]
mod tests;
