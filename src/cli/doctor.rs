//! `berth doctor`: prints the findings; exit 1 when one is an error.

use super::{EXIT_OK, EXIT_UNHEALTHY};
use crate::config::Config;
use crate::ops::Session;
use crate::ops::doctor::{self, Severity};

pub async fn run(config: &Config, session: &Session, json: bool, fix: bool) -> anyhow::Result<u8> {
    let findings = doctor::run(config, session, fix).await;
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
