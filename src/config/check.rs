//! The checks a config passes after it is read: names declared where they
//! are used, roles and hosts that exist, proxies that can be reached, every
//! structural hole refused with its place in the file.

use super::*;

impl Config {
    pub(super) fn error_at(&self, path: &[Seg], key: bool, message: String) -> ConfigError {
        let written = migrate::original_path(path, &self.moved);
        let pos = if key {
            self.positions.key(&written)
        } else {
            self.positions.value(&written)
        };
        ConfigError::at(&self.path, pos, message)
    }

    /// Cross-references that serde cannot see.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let k = |s: &str| Seg::Key(s.to_string());
        let declared: Vec<&str> = self.fleet.hosts.keys().map(|h| h.as_str()).collect();
        let unknown_host = |host: &HostName| {
            let hint = match names::did_you_mean(host.as_str(), declared.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if declared.is_empty() => {
                    "no hosts are declared; add it under `hosts:`".into()
                }
                None => format!("declared hosts: {}", declared.join(", ")),
            };
            format!("host `{host}` is not declared under `hosts:`; {hint}")
        };
        for (host, h) in &self.fleet.hosts {
            let named: Vec<&str> = [
                ("ssh", h.ssh.is_some()),
                ("socket", h.socket.is_some() && h.ssh.is_none()),
                ("docker", h.docker.is_some()),
                ("context", h.context.is_some()),
            ]
            .into_iter()
            .filter_map(|(k, set)| set.then_some(k))
            .collect();
            if named.len() > 1 {
                return Err(self.error_at(
                    &[k("hosts"), k(host.as_str())],
                    true,
                    format!(
                        "host `{host}` names its engine {} ways ({}): keep one (`socket:` may go with `ssh:`)",
                        named.len(),
                        named.join(", ")
                    ),
                ));
            }
            if let Some(addr) = &h.docker
                && !["unix://", "tcp://", "http://", "https://", "ssh://"]
                    .iter()
                    .any(|s| addr.starts_with(s) && addr.len() > s.len())
            {
                return Err(self.error_at(
                    &[k("hosts"), k(host.as_str()), k("docker")],
                    false,
                    format!(
                        "`docker: {}` is not an engine address berth reaches: unix:///PATH, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]",
                        crate::sanitize::one_line(addr)
                    ),
                ));
            }
            if let Some(c) = h.ssh.as_ref().and_then(|s| s.proxy_command.as_ref())
                && c.chars().any(char::is_control)
            {
                return Err(self.error_at(
                    &[k("hosts"), k(host.as_str()), k("ssh"), k("proxy_command")],
                    false,
                    "`proxy_command` is one command on one line".into(),
                ));
            }
        }
        for (app_name, app) in &self.fleet.apps {
            let app_path = vec![k("apps"), k(app_name.as_str())];
            let at = |rest: &[Seg]| {
                let mut p = app_path.clone();
                p.extend_from_slice(rest);
                p
            };
            if let Some(image) = &app.image
                && let Err(why) = check_image(image)
            {
                return Err(self.error_at(&at(&[k("image")]), false, why));
            }
            match (&app.image, &app.build) {
                (None, None) => {
                    return Err(self.error_at(
                        &app_path,
                        true,
                        format!("app `{app_name}` needs `image:` (to pull or use) or `build:` (to build on each host)"),
                    ));
                }
                (Some(_), Some(_)) if self.registry(app_name).is_none() => {
                    return Err(self.error_at(
                        &at(&[k("build")]),
                        true,
                        format!("app `{app_name}` sets both `image:` and `build:`: that builds once and pushes to a registry, which needs `registry:` (at the top, or in the app); else keep one"),
                    ));
                }
                (None, Some(b)) if b.builder.is_some() => {
                    return Err(self.error_at(
                        &at(&[k("build"), k("builder")]),
                        false,
                        format!("app `{app_name}`: a `builder:` builds once for a registry; it needs `image:` (the repository to push to) and `registry:`"),
                    ));
                }
                _ => {}
            }
            if let Some(b) = app.build.as_ref().and_then(|b| b.builder.as_ref())
                && !self.fleet.hosts.contains_key(b)
            {
                return Err(self.error_at(
                    &at(&[k("build"), k("builder")]),
                    false,
                    unknown_host(b),
                ));
            }
            for (registry, path) in [
                (self.fleet.registry.as_ref(), vec![k("registry")]),
                (app.registry.as_ref(), at(&[k("registry")])),
            ] {
                let Some(r) = registry else { continue };
                if let Credential::Plain(_) = r.password {
                    let mut p = path.clone();
                    p.push(k("password"));
                    return Err(self.error_at(
                        &p,
                        false,
                        "a registry password is never written in the config: name the secret that holds it, `password: [REGISTRY_PASSWORD]`, and put `REGISTRY_PASSWORD=...` in the secrets file".into(),
                    ));
                }
                if let Some(server) = &r.server
                    && (server.contains('/') || check_image(server).is_err())
                {
                    let mut p = path.clone();
                    p.push(k("server"));
                    return Err(self.error_at(
                        &p,
                        false,
                        format!("{server:?} is not a registry server (a host name with an optional port, as in `ghcr.io` or `registry.example.com:5000`)"),
                    ));
                }
            }
            if app.roles.is_empty() {
                return Err(self.error_at(
                    &at(&[k("roles")]),
                    true,
                    format!("app `{app_name}` declares no roles; add e.g. `web: {{hosts: [...]}}`"),
                ));
            }
            if !app.roles.contains_key(&app.primary_role) {
                let roles: Vec<&str> = app.roles.keys().map(|r| r.as_str()).collect();
                let path = if self.positions.key(&at(&[k("primary_role")]))
                    != self.positions.key(&app_path)
                {
                    at(&[k("primary_role")])
                } else {
                    app_path.clone()
                };
                return Err(self.error_at(
                    &path,
                    false,
                    format!(
                        "primary role `{}` of app `{app_name}` is not one of its roles ({}); set `primary_role:`",
                        app.primary_role,
                        roles.join(", ")
                    ),
                ));
            }
            let mut volume_lists = vec![(at(&[k("volumes")]), &app.volumes)];
            for (role_name, role) in &app.roles {
                volume_lists.push((
                    at(&[k("roles"), k(role_name.as_str()), k("volumes")]),
                    &role.volumes,
                ));
            }
            for (path, list) in volume_lists {
                for (i, v) in list.iter().enumerate() {
                    if let Err(m) = check_volume(v) {
                        let mut p = path.clone();
                        p.push(Seg::Index(i));
                        return Err(self.error_at(&p, false, m));
                    }
                }
            }
            for (role_name, role) in &app.roles {
                for (i, host) in role.hosts.iter().enumerate() {
                    if !self.fleet.hosts.contains_key(host) {
                        return Err(self.error_at(
                            &at(&[k("roles"), k(role_name.as_str()), k("hosts"), Seg::Index(i)]),
                            false,
                            unknown_host(host),
                        ));
                    }
                }
            }
            for (dest_name, dest) in &app.destinations {
                for (role_name, role) in &dest.roles {
                    let role_path = at(&[
                        k("destinations"),
                        k(dest_name.as_str()),
                        k("roles"),
                        k(role_name.as_str()),
                    ]);
                    if !app.roles.contains_key(role_name) {
                        return Err(self.error_at(
                            &role_path,
                            true,
                            format!("destination `{dest_name}` overrides role `{role_name}`, which app `{app_name}` does not declare"),
                        ));
                    }
                    for (i, host) in role.hosts.iter().enumerate() {
                        if !self.fleet.hosts.contains_key(host) {
                            let mut p = role_path.clone();
                            p.extend([k("hosts"), Seg::Index(i)]);
                            return Err(self.error_at(&p, false, unknown_host(host)));
                        }
                    }
                }
            }
            self.check_proxy(app_name, app)?;
            for (env_path, env) in app.env_sources() {
                for (i, name) in env.secret.iter().enumerate() {
                    if !secrets::is_env_name(name) {
                        let mut p = at(&env_path);
                        p.extend([k("secret"), Seg::Index(i)]);
                        return Err(self.error_at(
                            &p,
                            false,
                            format!("`{name}` is not a valid environment variable name"),
                        ));
                    }
                }
                for name in env.clear.keys() {
                    if !secrets::is_env_name(name) {
                        let mut p = at(&env_path);
                        p.extend([k("clear"), k(name)]);
                        return Err(self.error_at(
                            &p,
                            true,
                            format!("`{name}` is not a valid environment variable name"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// An app's `proxy:` (and each destination's override): a declared
    /// role, host names and a health path safe to write into nginx files.
    pub(super) fn check_proxy(
        &self,
        app_name: &AppName,
        app: &AppConfig,
    ) -> Result<(), ConfigError> {
        let k = |s: &str| Seg::Key(s.to_string());
        // (where, domains, healthcheck, listen) of the app's block and each override.
        type Block<'a> = (
            Vec<Seg>,
            Option<&'a Vec<String>>,
            Option<&'a ProxyHealthcheck>,
            Option<u16>,
        );
        let mut blocks: Vec<Block> = Vec::new();
        if let Some(p) = &app.proxy {
            let path = vec![k("apps"), k(app_name.as_str()), k("proxy")];
            if let Some(role) = &p.role
                && !app.roles.contains_key(role)
            {
                let roles: Vec<&str> = app.roles.keys().map(|r| r.as_str()).collect();
                let mut at = path.clone();
                at.push(k("role"));
                return Err(self.error_at(
                    &at,
                    false,
                    format!(
                        "proxy role `{role}` is not a role of app `{app_name}` ({})",
                        roles.join(", ")
                    ),
                ));
            }
            blocks.push((path, Some(&p.domains), Some(&p.healthcheck), Some(p.listen)));
        }
        for (dest_name, dest) in &app.destinations {
            let Some(o) = &dest.proxy else { continue };
            let path = vec![
                k("apps"),
                k(app_name.as_str()),
                k("destinations"),
                k(dest_name.as_str()),
                k("proxy"),
            ];
            if app.proxy.is_none() {
                return Err(self.error_at(
                    &path,
                    true,
                    format!("destination `{dest_name}` overrides `proxy:`, but app `{app_name}` has none; declare `proxy:` on the app"),
                ));
            }
            blocks.push((path, o.domains.as_ref(), o.healthcheck.as_ref(), o.listen));
        }
        for (path, domains, health, listen) in blocks {
            for (i, d) in domains.into_iter().flatten().enumerate() {
                if let Err(m) = check_domain(d) {
                    let mut at = path.clone();
                    at.extend([k("domains"), Seg::Index(i)]);
                    return Err(self.error_at(&at, false, m));
                }
            }
            if let Some(h) = health
                && let Err(m) = check_health_path(&h.path)
            {
                let mut at = path.clone();
                at.extend([k("healthcheck"), k("path")]);
                return Err(self.error_at(&at, false, m));
            }
            if listen == Some(0) {
                let mut at = path.clone();
                at.push(k("listen"));
                return Err(self.error_at(&at, false, "`listen: 0` is not a port".into()));
            }
        }
        Ok(())
    }
}

/// `name:/path[:ro|rw]` or `/host:/path[:ro|rw]`, as `docker run -v` takes.
fn check_volume(v: &str) -> Result<(), String> {
    let parts: Vec<&str> = v.split(':').collect();
    let ok = match parts.as_slice() {
        [src, dst] | [src, dst, "ro" | "rw"] => !src.is_empty() && dst.starts_with('/'),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "volume `{v}` should be `name:/path` or `/host/path:/path`, optionally with `:ro` or `:rw`"
        ))
    }
}

/// An image reference as Docker reads one (`registry:5000/team/shop:v1`,
/// `shop@sha256:...`): letters, digits and `._-/:@` only. Anything else
/// (spaces, control characters) is refused here, where the file can be
/// named, and never reaches a pull or a plan's output.
fn check_image(image: &str) -> Result<(), String> {
    let ok = !image.is_empty()
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{image:?} is not an image reference (letters, digits and `._-/:@` only, as in `registry.example.com/shop:v1`)"
        ))
    }
}
