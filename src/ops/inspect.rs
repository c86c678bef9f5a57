//! A container's configuration for its screen, every secret masked: names
//! that are secrets by convention, the names the config fills from the
//! secrets file, and any value equal to one of those secrets. The masking
//! policy lives here so that no front end can show a value unmasked.

use std::time::Duration;

use super::Session;
use crate::config::Config;
use crate::domain::Inspect;

/// `None`: no such container on `host` (it went away).
pub async fn inspect(
    config: &Config,
    session: &Session,
    host: &str,
    id: &str,
) -> Result<Option<Inspect>, String> {
    let engine = session
        .client_for(config, host, Duration::from_secs(5))
        .await?;
    let Some(mut found) = engine
        .inspect_details(id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let names: Vec<String> = config
        .fleet
        .apps
        .values()
        .flat_map(|app| {
            app.env
                .secret
                .iter()
                .chain(app.roles.values().flat_map(|r| r.env.secret.iter()))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    let values: Vec<String> = config
        .read_secrets()
        .await
        .map(|s| s.values().map(|v| v.expose().to_string()).collect())
        .unwrap_or_default();
    found.mask(&names, &values);
    Ok(Some(found))
}
