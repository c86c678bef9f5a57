//! What `berth status` and `berth proxy show` add to the inventory's
//! report: image digests, and the routes each proxy really has.

use std::time::Duration;

use super::Session;
use crate::config::Config;
use crate::inventory::status::StatusReport;

/// Each app container's image digest, asked of its host's engine once per
/// image (`-` when the image has none: built there, never pulled).
pub async fn fill_digests(config: &Config, session: &Session, report: &mut StatusReport) {
    for host in report.hosts.iter_mut().filter(|h| h.reachable) {
        let Some(cfg) = config
            .fleet
            .hosts
            .iter()
            .find(|(n, _)| n.as_str() == host.name)
            .map(|(_, c)| c)
        else {
            continue;
        };
        let Ok(engine) = session
            .gateway
            .engine_of(cfg, Duration::from_secs(10))
            .await
        else {
            continue;
        };
        let mut known: std::collections::HashMap<String, Option<String>> = Default::default();
        for app in &mut host.apps {
            for role in &mut app.roles {
                for c in role.containers.iter_mut().chain(role.retained.iter_mut()) {
                    if !known.contains_key(&c.image) {
                        let d = engine.image_digest(&c.image).await.ok().flatten();
                        known.insert(c.image.clone(), d);
                    }
                    c.digest = known.get(&c.image).cloned().flatten();
                }
            }
        }
    }
}

/// What each host's proxy really has for an app, next to what runs;
/// `None` when the app has no `proxy:`.
pub async fn proxy_routes(
    config: &Config,
    session: &Session,
    app: &crate::config::AppName,
    destination: Option<&crate::config::DestinationName>,
) -> Option<Vec<crate::engine::proxy::live::HostRoute>> {
    crate::engine::proxy::live::read(config, &session.gateway, app, destination).await
}

/// The hosts whose engine address berth cannot use (a `DOCKER_HOST`, a
/// context or a `docker:` it refuses): a config error, not a host that
/// could not be reached.
pub fn misaddressed(config: &Config) -> Vec<String> {
    config
        .fleet
        .hosts
        .iter()
        .filter(|(_, h)| {
            matches!(
                crate::hosts::Endpoint::from_config(h),
                crate::hosts::Endpoint::Invalid { .. }
            )
        })
        .map(|(n, _)| n.to_string())
        .collect()
}
