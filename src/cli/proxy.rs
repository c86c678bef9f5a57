//! `berth proxy show`: what each host's proxy really has for an app, read
//! from the proxy (berth's nginx file, or `kamal-proxy list`), next to what
//! runs. `berth proxy sync` is an engine action (see `cli::run`).

use super::actions::Target;
use super::{EXIT_ERROR, EXIT_OK, EXIT_UNHEALTHY};
use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum ProxyCommand {
    /// Print the proxy config berth generated on each host, and whether it matches what runs
    Show {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
    /// Point each host's proxy at the role's running healthy containers (takes the app's lock)
    Sync {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        wait: super::LockWait,
    },
}

pub async fn show(
    config: &Config,
    session: &crate::ops::Session,
    target: &Target,
    json: bool,
) -> anyhow::Result<u8> {
    let (app, dest) = (target.app.clone(), target.destination.clone());
    if !config.fleet.apps.contains_key(&app) {
        anyhow::bail!("app `{app}` is not declared in {}", config.path.display());
    }
    let Some(hosts) = crate::ops::status::proxy_routes(config, session, &app, dest.as_ref()).await
    else {
        errln!(
            "berth: app `{app}` has no `proxy:` in {}",
            config.path.display()
        );
        return Ok(EXIT_ERROR);
    };
    let drifted = hosts
        .iter()
        .filter(|h| h.drift(app.as_str()).is_some())
        .count();
    if json {
        outln!("{}", serde_json::to_string_pretty(&hosts)?);
    } else {
        for h in &hosts {
            let driver = h.driver.map_or("?".to_string(), |d| d.to_string());
            outln!("== host {} ({driver})", h.host);
            if let Some(e) = &h.error {
                outln!("unreachable: {e}");
                continue;
            }
            if let Some(r) = &h.route {
                outln!("routes: {}", r.describe());
                outln!("written: {}", r.written_at.format("%Y-%m-%d %H:%M:%S UTC"));
            }
            match (&h.path, &h.text) {
                (Some(p), Some(t)) => outln!("file: {}\n\n{}", p, t.trim_end()),
                (Some(p), None) => outln!("file: {} (missing)", p),
                (None, Some(t)) => outln!("{}", t.trim_end()),
                (None, None) => {}
            }
            match h.drift(app.as_str()) {
                Some(d) => {
                    outln!("\nDRIFT: {}", d.message);
                    if let Some(fix) = d.fix {
                        outln!("fix: {fix}");
                    }
                }
                None => outln!("\nin sync with what runs"),
            }
        }
    }
    Ok(if drifted > 0 { EXIT_UNHEALTHY } else { EXIT_OK })
}
