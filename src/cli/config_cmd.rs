//! `berth config check`: validate, then print the config as berth reads it
//! (defaults filled in, old keys migrated). Secret values never appear: only
//! their names and whether the secrets file has them.

use super::{EXIT_ERROR, EXIT_OK};
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and print it as berth reads it (secrets masked)
    Check {
        /// Print what berth read as JSON (hosts, apps, Kamal apps with their
        /// roles, accessories and proxy names, Kamal files that failed, notes)
        #[arg(long)]
        json: bool,
    },
}

pub fn check(config: &Config, json: bool) -> anyhow::Result<u8> {
    let mut effective = serde_yaml::to_string(&config.fleet)?;
    let mut code = EXIT_OK;
    let secrets = match config.load_secrets() {
        Ok(s) => Some(s),
        Err(e) => {
            errln!("berth: {e}");
            code = EXIT_ERROR;
            None
        }
    };
    let mut lines = Vec::new();
    if let Some(secrets) = &secrets {
        for (app_name, app) in &config.fleet.apps {
            for role in app.roles.keys() {
                let destinations = std::iter::once(None).chain(app.destinations.keys().map(Some));
                for dest in destinations {
                    match config.resolve_env(app_name, role, dest, secrets) {
                        Ok(env) => {
                            for (name, value) in env {
                                if matches!(value, crate::config::EnvValue::Secret(_)) {
                                    lines.push(format!(
                                        "#   {app_name}: {name}={} (set)",
                                        value.display()
                                    ));
                                }
                            }
                        }
                        Err(e) => {
                            errln!("berth: {e}");
                            code = EXIT_ERROR;
                        }
                    }
                }
            }
        }
    }
    // The console's keymap beside the config: what the console would refuse.
    if let Err(e) = crate::tui::keymap_for(config) {
        errln!("berth: {e}");
        code = EXIT_ERROR;
    }
    lines.sort();
    lines.dedup();
    if !lines.is_empty() {
        effective.push_str("# secrets (values masked):\n");
        effective.push_str(&lines.join("\n"));
        effective.push('\n');
    }
    if !config.kamal.is_empty() {
        // Their hosts are in `hosts:` above, as berth reaches them.
        effective.push_str("# Kamal apps (read-only, from their deploy files):\n");
        for app in &config.kamal {
            effective.push_str(&kamal_lines(app));
        }
    }
    if !config.kamal_failed.is_empty() {
        code = EXIT_ERROR;
        for f in &config.kamal_failed {
            errln!("berth: {}", f.error);
        }
    }
    if json {
        let value = serde_json::json!({
            "config": config.path.display().to_string(),
            "valid": code == EXIT_OK,
            "hosts": config.fleet.hosts.keys().map(ToString::to_string).collect::<Vec<_>>(),
            "apps": config.fleet.apps.keys().map(ToString::to_string).collect::<Vec<_>>(),
            "kamal": config.kamal.iter().map(kamal_json).collect::<Vec<_>>(),
            "kamal_failed": config.kamal_failed.iter().map(|f| serde_json::json!({
                "file": crate::config::kamal::destination_or_base(&f.file, f.destination.as_deref()).display().to_string(),
                "destination": f.destination,
                "error": f.error,
            })).collect::<Vec<_>>(),
            "warnings": config.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        });
        out!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(code);
    }
    out!("{effective}");
    if code == EXIT_OK {
        errln!("berth: {} is valid", config.path.display());
    }
    Ok(code)
}

/// A Kamal app as `config check` prints it: where it is read from, then
/// one line each for its roles, accessories, proxy names and aliases.
fn kamal_lines(app: &crate::config::kamal::KamalApp) -> String {
    let host = |a: &String| {
        app.host_name(a)
            .map_or_else(|| a.clone(), |n| n.to_string())
    };
    let on = |hosts: &[String]| match hosts.len() {
        0 => "no host".to_string(),
        _ => hosts.iter().map(host).collect::<Vec<_>>().join(", "),
    };
    let mut out = format!(
        "#   {} from {} (`{}`)\n",
        app.service_and_destination(),
        crate::config::kamal::destination_or_base(&app.file, app.destination.as_deref()).display(),
        app.command("deploy"),
    );
    if let Some(image) = &app.image {
        out.push_str(&format!("#     image: {image}\n"));
    }
    let roles: Vec<String> = app
        .roles
        .iter()
        .map(|r| format!("{} on {}", r.name, on(&r.hosts)))
        .collect();
    out.push_str(&format!(
        "#     roles: {} (primary {}; lock on {})\n",
        roles.join("; "),
        app.primary_role,
        app.primary_host()
            .and_then(|a| app.host_name(a))
            .map_or_else(|| "-".to_string(), |n| n.to_string()),
    ));
    if !app.accessories.is_empty() {
        let acc: Vec<String> = app
            .accessories
            .iter()
            .map(|a| {
                let image = a
                    .image
                    .as_deref()
                    .map(|i| format!(" ({i})"))
                    .unwrap_or_default();
                format!("{}{image} on {}", a.name, on(&a.hosts))
            })
            .collect();
        out.push_str(&format!("#     accessories: {}\n", acc.join("; ")));
    }
    if !app.proxy_hosts.is_empty() {
        out.push_str(&format!("#     proxy: {}\n", app.proxy_hosts.join(", ")));
    }
    for (name, command) in &app.aliases {
        out.push_str(&format!("#     alias {name}: kamal {command}\n"));
    }
    crate::sanitize::strip_controls(&out)
}

/// A Kamal app for `config check --json` (and `status --json`).
pub(super) fn kamal_json(app: &crate::config::kamal::KamalApp) -> serde_json::Value {
    let hosts = |hs: &[String]| -> Vec<serde_json::Value> {
        hs.iter()
            .map(|a| {
                serde_json::json!({
                    "address": a,
                    "host": app.host_name(a).map(ToString::to_string),
                })
            })
            .collect()
    };
    serde_json::json!({
        "service": app.service,
        "destination": app.destination,
        "file": app.file.display().to_string(),
        "image": app.image,
        "primary_role": app.primary_role,
        "roles": app.roles.iter().map(|r| serde_json::json!({"name": r.name, "hosts": hosts(&r.hosts)})).collect::<Vec<_>>(),
        "accessories": app.accessories.iter().map(|a| serde_json::json!({
            "name": a.name,
            "container": a.container(&app.service),
            "image": a.image,
            "hosts": hosts(&a.hosts),
        })).collect::<Vec<_>>(),
        "proxy_hosts": app.proxy_hosts,
        "aliases": app.aliases.iter().map(|(n, c)| serde_json::json!({"name": n, "command": c})).collect::<Vec<_>>(),
        "require_destination": app.require_destination,
        "ssh": {
            "user": app.ssh.user,
            "port": app.ssh.port,
            "proxy": app.ssh.jump,
            "keys_only": app.ssh.keys_only,
        },
    })
}
