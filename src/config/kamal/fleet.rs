//! A config's Kamal apps: the config of no berth.yaml (Kamal apps alone),
//! berth.yaml's `kamal:` entries, and each app's hosts joined to the
//! config's, as berth reaches them.

use std::path::PathBuf;

use super::{DEFAULT_FILE, KamalApp, KamalSource, KamalSsh, load, sources};

/// `e`, saying which destination it is about (when there is one): an
/// error in the base file shows under every destination otherwise alike.
fn named(source: &KamalSource, e: ConfigError) -> ConfigError {
    match &source.destination {
        None => e,
        Some(d) => ConfigError::Several(vec![
            ConfigError::at(
                super::destination_file(&source.file, d),
                None,
                format!("destination `{d}` cannot be read:"),
            ),
            e,
        ]),
    }
}
use crate::config::error::ConfigError;

impl crate::config::Config {
    /// The config of no berth.yaml, for Kamal apps alone (`berth` in a
    /// Kamal app's repository, or `--kamal` with no berth.yaml): no host of
    /// its own, no app of its own.
    pub fn kamal_only(sources: &[KamalSource]) -> Result<crate::config::Config, ConfigError> {
        let path = sources
            .first()
            .map(|s| s.file.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE));
        let mut config = crate::config::parse(&path, "version: 2\n")?;
        config.add_kamal(sources, &|n| std::env::var(n).ok())?;
        Ok(config)
    }

    /// Reads berth.yaml's `kamal:` entries (paths relative to berth.yaml).
    pub(in crate::config) fn with_kamal_entries(
        mut self,
    ) -> Result<crate::config::Config, ConfigError> {
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
    ///
    /// A source named (`-d staging`) that fails to read is an error. Of the
    /// sources listed beside a file (no `-d`), one that is not Kamal's to
    /// deploy is skipped with a note, and one that fails to read is kept as
    /// an error row ([`crate::config::Config::kamal_failed`]) while the
    /// others are read; only when none of a file's sources reads is it an
    /// error.
    pub fn add_kamal(
        &mut self,
        sources: &[KamalSource],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        // One deploy file's sources at a time.
        for file in sources.chunk_by(|a, b| a.file == b.file) {
            self.add_kamal_file(file, env)?;
        }
        Ok(())
    }

    fn add_kamal_file(
        &mut self,
        sources: &[KamalSource],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let Some(first) = sources.first() else {
            return Ok(());
        };
        // The base file as read alone, for what decides which listed
        // sources Kamal would deploy.
        let base = if sources.iter().any(|s| s.listed) {
            let mut vars = super::erb::Vars::new(env, &super::app_root(&first.file));
            super::Doc::read(&first.file, &mut vars)
                .ok()
                .map(|d| d.value)
        } else {
            None
        };
        let destinations = sources.iter().any(|s| s.listed && s.destination.is_some());
        let mut failed: Vec<(KamalSource, ConfigError)> = Vec::new();
        let mut read = 0;
        for source in sources {
            if source.listed
                && let Some((file, note)) = super::skipped(source, base.as_ref(), destinations, env)
            {
                self.warnings.push(crate::config::ConfigWarning {
                    file,
                    pos: None,
                    message: note,
                });
                continue;
            }
            let (mut app, warnings) = match load(source, env) {
                Ok(x) => x,
                Err(e) if source.listed => {
                    failed.push((source.clone(), e));
                    continue;
                }
                Err(e) => return Err(named(source, e)),
            };
            self.warnings.extend(warnings);
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
            read += 1;
        }
        if read == 0 {
            let all: Vec<ConfigError> = failed.into_iter().map(|(s, e)| named(&s, e)).collect();
            return ConfigError::all(all).map_or(Ok(()), Err);
        }
        for (source, e) in failed {
            let e = named(&source, e);
            self.kamal_failed.push(super::KamalFailed {
                file: source.file.clone(),
                destination: source.destination.clone(),
                error: e.to_string(),
            });
        }
        Ok(())
    }

    /// The host reaching `addr` as `ssh` says: a declared one, or a new one
    /// named after the address (`10.0.0.7` → `10-0-0-7`).
    fn kamal_host(&mut self, ssh: &KamalSsh, addr: &str) -> crate::config::HostName {
        let wanted = crate::config::SshConfig {
            host: addr.to_string(),
            user: Some(ssh.user.clone()),
            port: Some(ssh.port),
            identity_file: ssh.keys.first().cloned(),
            identities_only: ssh.keys_only,
            proxy_command: ssh.proxy_command.clone(),
            jump: ssh.jump.clone(),
            known_hosts: None,
            config_file: ssh.config.first().cloned(),
            persist: None,
        };
        let same = |s: &crate::config::SshConfig| {
            s.host == wanted.host
                && s.port.unwrap_or(22) == ssh.port
                && s.user.as_deref().unwrap_or("root") == ssh.user
                && s.jump == wanted.jump
                && s.proxy_command == wanted.proxy_command
        };
        if let Some((name, _)) = self
            .fleet
            .hosts
            .iter()
            .find(|(_, h)| h.ssh.as_ref().is_some_and(same))
        {
            return name.clone();
        }
        let base = if crate::config::names::check_label("host", addr).is_ok() {
            addr.to_string()
        } else {
            crate::config::names::suggest_label(addr).unwrap_or_else(|| "kamal-host".into())
        };
        let mut n = 1;
        let name = loop {
            let candidate = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            if let Ok(name) = crate::config::HostName::new(&candidate)
                && !self.fleet.hosts.contains_key(&name)
            {
                break name;
            }
            n += 1;
        };
        self.fleet.hosts.insert(
            name.clone(),
            crate::config::HostConfig {
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
