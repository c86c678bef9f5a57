//! `berth config check`: validate, then print the config as berth reads it
//! (defaults filled in, old keys migrated). Secret values never appear: only
//! their names and whether the secrets file has them.

use super::{EXIT_ERROR, EXIT_OK};
use crate::config::Config;

pub fn check(config: &Config) -> anyhow::Result<u8> {
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
            let roles: Vec<String> = app
                .roles
                .iter()
                .map(|r| {
                    let hosts: Vec<String> = r
                        .hosts
                        .iter()
                        .map(|a| {
                            app.host_name(a)
                                .map_or_else(|| a.clone(), |n| n.to_string())
                        })
                        .collect();
                    format!("{} on {}", r.name, hosts.join(", "))
                })
                .collect();
            effective.push_str(&format!(
                "#   {} from {}: {}; lock on {}\n",
                app.service_and_destination(),
                app.file.display(),
                roles.join("; "),
                app.primary_host()
                    .and_then(|a| app.host_name(a))
                    .map_or_else(|| "-".to_string(), |n| n.to_string()),
            ));
        }
    }
    out!("{effective}");
    if code == EXIT_OK {
        errln!("berth: {} is valid", config.path.display());
    }
    Ok(code)
}
