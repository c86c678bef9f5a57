//! Reading the merged deploy document into a [`KamalApp`]: service,
//! image, servers and roles, the primary role, ssh, proxy, accessories;
//! every refusal with the file, line and column the value came from.
//!
//! A value ERB left unknown (see `erb.rs`) is refused only where berth
//! needs it, and then every such value is named at once; where berth only
//! shows a value (the image, the proxy's names, aliases) it is shown as
//! `(set by Ruby at file:line:col)`.

use std::cell::RefCell;
use std::path::PathBuf;

use serde_yaml::Value;

use super::erb::Ruby;
use super::files::Doc;
use super::{KamalAccessory, KamalApp, KamalRole, KamalSource, KamalSsh};
use crate::config::error::ConfigError;
use crate::config::locate::Seg;

/// The merged document, and the files it came from (for positions: the
/// last file that writes a path is where its value is).
pub(super) struct App<'a> {
    docs: &'a [Doc],
    root: &'a Value,
    /// Needed values ERB left unknown: where, and why.
    blocked: RefCell<Vec<ConfigError>>,
}

fn key(s: &str) -> Seg {
    Seg::Key(s.to_string())
}

impl<'a> App<'a> {
    pub(super) fn new(docs: &'a [Doc], root: &'a Value) -> Self {
        App {
            docs,
            root,
            blocked: RefCell::new(Vec::new()),
        }
    }

    /// The unknown values in `text` (its markers).
    fn markers(&self, text: &str) -> Vec<&Ruby> {
        if !text.contains('⟦') {
            return Vec::new();
        }
        self.docs
            .iter()
            .flat_map(|d| &d.ruby)
            .filter(|r| text.contains(&r.marker))
            .collect()
    }

    /// A value berth needs, at `path`: recorded as blocked when ERB left it
    /// (or the block it sits in) unknown. True when it is known.
    fn need(&self, path: &[Seg], text: &str) -> bool {
        let mut why: Vec<String> = self.markers(text).iter().map(|r| r.reason()).collect();
        if let Some(d) = self
            .docs
            .iter()
            .rev()
            .find(|d| get(&d.value, path).is_some())
            && let Some(p) = d.positions.value(path)
        {
            why.extend(
                d.blocks
                    .iter()
                    .filter(|b| b.lines.contains(&p.line))
                    .map(|b| b.ruby.reason()),
            );
        }
        if why.is_empty() {
            return true;
        }
        let dotted = crate::config::locate::dotted(path);
        let mut blocked = self.blocked.borrow_mut();
        if !blocked
            .iter()
            .any(|e| e.to_string().contains(&format!("`{dotted}`")))
        {
            blocked.push(self.error(
                path,
                format!(
                    "berth needs `{dotted}` and cannot read it without running Ruby: {}",
                    why.join("; ")
                ),
            ));
        }
        false
    }

    /// A value berth only shows: each unknown part as where it is set.
    fn shown(&self, text: String) -> String {
        let mut out = text;
        for r in self.markers(&out.clone()) {
            out = out.replace(&r.marker, &r.shown());
        }
        out
    }

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

    /// A string berth needs (see [`App::need`]).
    fn string(&self, path: &[Seg]) -> Result<Option<String>, ConfigError> {
        match self.get(path) {
            None => Ok(None),
            Some(v) => match scalar(v) {
                Some(s) => {
                    self.need(path, &s);
                    Ok(Some(s))
                }
                None => Err(self.error(
                    path,
                    format!("`{}` must be a string", crate::config::locate::dotted(path)),
                )),
            },
        }
    }

    fn strings(&self, path: &[Seg]) -> Result<Vec<String>, ConfigError> {
        match self.get(path) {
            None => Ok(Vec::new()),
            Some(Value::Sequence(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut p = path.to_vec();
                    p.push(Seg::Index(i));
                    let s = scalar(v).ok_or_else(|| self.error(&p, "must be a string"))?;
                    self.need(&p, &s);
                    Ok(s)
                })
                .collect(),
            Some(v) => scalar(v)
                .inspect(|s| {
                    self.need(path, s);
                })
                .map(|s| vec![s])
                .ok_or_else(|| {
                    self.error(
                        path,
                        format!(
                            "`{}` must be a list of strings",
                            crate::config::locate::dotted(path)
                        ),
                    )
                }),
        }
    }

    /// The app, or every needed value ERB left unknown (which comes first:
    /// any other error may follow from them).
    pub(super) fn read(&self, source: &KamalSource) -> Result<KamalApp, ConfigError> {
        self.need_all();
        let read = self.read_all(source);
        let mut blocked = self.blocked.take();
        // In the order they are written.
        blocked.sort_by_key(|e| match e {
            ConfigError::At { file, pos, .. } => (file.clone(), pos.map(|p| (p.line, p.column))),
            _ => (PathBuf::new(), None),
        });
        match ConfigError::all(blocked) {
            None => read,
            Some(e) => Err(e),
        }
    }

    fn read_all(&self, source: &KamalSource) -> Result<KamalApp, ConfigError> {
        let service = self
            .string(&[key("service")])?
            .ok_or_else(|| self.error(&[], "missing `service:` (the app's name)"))?;
        // Kamal's own check: letters (either case), digits, `-` and `_`.
        if service.is_empty()
            || !service
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.error(
                &[key("service")],
                format!(
                    "service `{}` is not a Kamal service name (letters, digits, `-` and `_`)",
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
        let proxy_command = self.string(&[key("ssh"), key("proxy_command")])?;
        if let Some(c) = &proxy_command
            && c.chars().any(char::is_control)
        {
            return Err(self.error(
                &[key("ssh"), key("proxy_command")],
                "`ssh.proxy_command` is one command on one line",
            ));
        }
        let config = match self.get(&[key("ssh"), key("config")]) {
            Some(Value::Bool(_)) | None => Vec::new(),
            Some(_) => self.strings(&[key("ssh"), key("config")])?,
        };
        let dir = super::app_root(&source.file);
        let dir = if dir == std::path::Path::new(".") {
            PathBuf::new()
        } else {
            dir
        };
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
            image: self.shown_string(&[key("image")]),
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
                keys_only: self.get(&[key("ssh"), key("keys_only")]) == Some(&Value::Bool(true)),
                proxy_command,
            },
            proxied: self.get(&[key("proxy")]).is_some(),
            proxy_hosts: self.proxy_hosts(),
            aliases: self.aliases(),
            require_destination: self.get(&[key("require_destination")])
                == Some(&Value::Bool(true)),
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
                    self.need(&path, &name);
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
            if let Some(h) = &host
                && !self.need(&at, h)
            {
                continue;
            }
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
            self.need(&[key("accessories"), key(&name)], &name);
            let image = self.shown_string(&at("image"));
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
            if let Some(bad) = hosts
                .iter()
                .find(|h| !valid_host(h) && self.markers(h).is_empty())
            {
                return Err(self.error(
                    &[key("accessories"), key(&name)],
                    format!(
                        "`{}` is not a host name or address",
                        crate::sanitize::one_line(bad)
                    ),
                ));
            }
            out.push(KamalAccessory { name, image, hosts });
        }
        Ok(out)
    }
}

impl App<'_> {
    /// Looks at every value berth needs before reading any, so that a
    /// refusal names all that ERB left unknown, not the first.
    fn need_all(&self) {
        for k in ["service", "primary_role"] {
            self.need_tree(&[key(k)]);
        }
        for k in ["user", "port", "proxy", "proxy_command", "keys", "config"] {
            self.need_tree(&[key("ssh"), key(k)]);
        }
        match self.get(&[key("servers")]) {
            Some(Value::Sequence(_)) => self.need_hosts(&[key("servers")]),
            Some(Value::Mapping(roles)) => {
                for name in roles.keys().filter_map(scalar) {
                    let role = [key("servers"), key(&name)];
                    self.need(&role, &name);
                    match self.get(&role) {
                        Some(Value::Mapping(_)) => {
                            self.need_hosts(&[key("servers"), key(&name), key("hosts")])
                        }
                        _ => self.need_hosts(&role),
                    }
                }
            }
            _ => {}
        }
        if let Some(Value::Mapping(m)) = self.get(&[key("accessories")]) {
            for name in m.keys().filter_map(scalar) {
                self.need(&[key("accessories"), key(&name)], &name);
                for k in ["host", "hosts", "role", "roles", "tag", "tags"] {
                    self.need_tree(&[key("accessories"), key(&name), key(k)]);
                }
            }
        }
    }

    /// Every scalar at or under `path`.
    fn need_tree(&self, path: &[Seg]) {
        match self.get(path) {
            Some(Value::Sequence(items)) => {
                for i in 0..items.len() {
                    let mut p = path.to_vec();
                    p.push(Seg::Index(i));
                    self.need_tree(&p);
                }
            }
            Some(v) => {
                if let Some(s) = scalar(v) {
                    self.need(path, &s);
                }
            }
            None => {}
        }
    }

    /// A list of hosts: each a name, or `{name: tags}`.
    fn need_hosts(&self, path: &[Seg]) {
        let Some(Value::Sequence(items)) = self.get(path) else {
            self.need_tree(path);
            return;
        };
        for (i, item) in items.iter().enumerate() {
            let mut p = path.to_vec();
            p.push(Seg::Index(i));
            match item {
                Value::Mapping(m) => {
                    for h in m.keys().filter_map(scalar) {
                        self.need(&p, &h);
                    }
                }
                v => {
                    if let Some(h) = scalar(v) {
                        self.need(&p, &h);
                    }
                }
            }
        }
    }

    /// A string berth only shows (see [`App::shown`]); `None` when it is
    /// not a string.
    fn shown_string(&self, path: &[Seg]) -> Option<String> {
        self.get(path).and_then(scalar).map(|s| self.shown(s))
    }

    /// `proxy.host` (one name, or several split at commas) and
    /// `proxy.hosts`, as Kamal takes them.
    fn proxy_hosts(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let one = self.shown_string(&[key("proxy"), key("host")]);
        let many = match self.get(&[key("proxy"), key("hosts")]) {
            Some(Value::Sequence(items)) => items
                .iter()
                .filter_map(scalar)
                .map(|s| self.shown(s))
                .collect(),
            _ => Vec::new(),
        };
        for h in one
            .iter()
            .flat_map(|h| h.split(','))
            .map(|h| h.trim().to_string())
            .chain(many)
        {
            if !h.is_empty() && !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }

    /// `aliases`: name and command, in the file's order.
    fn aliases(&self) -> Vec<(String, String)> {
        let Some(Value::Mapping(m)) = self.get(&[key("aliases")]) else {
            return Vec::new();
        };
        m.iter()
            .filter_map(|(k, v)| Some((scalar(k)?, self.shown(scalar(v)?))))
            .collect()
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
