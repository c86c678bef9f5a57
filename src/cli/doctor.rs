//! `berth doctor`: prints the findings; exit 1 when one is an error.

use std::time::Duration;

use super::{EXIT_OK, EXIT_UNHEALTHY};
use crate::config::Config;
use crate::docker::Gateway;
use crate::doctor::{self, Severity};
use crate::inventory::{Inventory, WatchOptions};

pub async fn run(config: &Config, gateway: &Gateway, json: bool, fix: bool) -> anyhow::Result<u8> {
    let mut findings = doctor::local_checks(config, gateway).await;
    let inventory = Inventory::start(config, gateway, WatchOptions::default());
    let fleet = match inventory
        .wait_for(Duration::from_secs(10), |f| f.settled())
        .await
    {
        Ok(f) | Err(f) => f,
    };
    drop(inventory);
    let missing = doctor::missing_images(config, gateway, &fleet).await;
    findings.extend(doctor::fleet_checks(config, &fleet, &missing));
    findings.extend(doctor::proxy_checks(config, gateway).await);
    findings.extend(doctor::registry_checks(config, gateway).await);
    findings.extend(doctor::orphan_checks(config, gateway, fix).await);
    findings.sort_by(|a, b| (a.severity, a.check).cmp(&(b.severity, b.check)));
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    if json {
        outln!("{}", serde_json::to_string_pretty(&findings)?);
    } else if findings.is_empty() {
        outln!("no problems found");
    } else {
        for f in &findings {
            let kind = if f.severity == Severity::Error {
                "error"
            } else {
                "warning"
            };
            outln!("{kind} [{}] {}: {}", f.check, f.subject, f.message);
            if let Some(fix) = &f.fix {
                outln!("    fix: {fix}");
            }
        }
        outln!("{errors} error(s), {} warning(s)", findings.len() - errors);
    }
    Ok(if errors > 0 { EXIT_UNHEALTHY } else { EXIT_OK })
}
