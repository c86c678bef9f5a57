//! The proxy part of the config schema: an app's `proxy:` section, a
//! destination's overrides of it, and the checks on names and paths that
//! reach a generated proxy config.

use serde::{Deserialize, Serialize};

use super::duration::HumanDuration;
use super::names::RoleName;

/// An app's proxy: which role it fronts, the names it answers for, and how
/// the switch is checked and drained.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// The role behind the proxy. Default: the primary role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleName>,
    /// Host names it answers for (nginx `server_name`, kamal-proxy
    /// `--host`). Empty: any name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// The port the app listens on in its container. Default: the role's
    /// `port`, else 80.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_port: Option<u16>,
    /// The port nginx listens on.
    #[serde(default = "default_listen")]
    pub listen: u16,
    #[serde(default)]
    pub healthcheck: ProxyHealthcheck,
    /// After the switch, old containers keep running this long so requests
    /// in flight finish; `0` stops them at once.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout: HumanDuration,
    #[serde(default)]
    pub driver: ProxyDriver,
}

fn default_listen() -> u16 {
    80
}
fn default_drain_timeout() -> HumanDuration {
    HumanDuration::secs(30)
}

/// The request that proves the switch: sent through the proxy after it
/// reloads, it must answer 2xx or 3xx from the new config.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyHealthcheck {
    #[serde(default = "default_health_path")]
    pub path: String,
    /// Between attempts.
    #[serde(default = "default_health_interval")]
    pub interval: HumanDuration,
    /// Per attempt; the whole check is bounded by the app's `deploy_timeout`.
    #[serde(default = "default_health_timeout")]
    pub timeout: HumanDuration,
}

impl Default for ProxyHealthcheck {
    fn default() -> Self {
        ProxyHealthcheck {
            path: default_health_path(),
            interval: default_health_interval(),
            timeout: default_health_timeout(),
        }
    }
}

fn default_health_path() -> String {
    "/up".into()
}
fn default_health_interval() -> HumanDuration {
    HumanDuration::secs(1)
}
fn default_health_timeout() -> HumanDuration {
    HumanDuration::secs(5)
}

/// Which proxy a host uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyDriver {
    /// kamal-proxy when a `kamal-proxy` container runs on the host, else nginx.
    #[default]
    Auto,
    Nginx,
    KamalProxy,
}

/// An app's proxy for one destination, overrides and defaults applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxySettings {
    pub role: RoleName,
    pub domains: Vec<String>,
    pub app_port: u16,
    pub listen: u16,
    pub health_path: String,
    pub health_interval: std::time::Duration,
    pub health_timeout: std::time::Duration,
    pub drain_timeout: std::time::Duration,
    pub driver: ProxyDriver,
}

/// A host name nginx and kamal-proxy can take as written: DNS labels of
/// letters, digits and `-`, dot-separated, optionally starting with `*.`.
/// Anything else could break out of the generated nginx file.
pub fn check_domain(d: &str) -> Result<(), String> {
    let body = d.strip_prefix("*.").unwrap_or(d);
    let ok = !body.is_empty()
        && d.len() <= 253
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{d}` is not a host name (letters, digits, `-` and dots; `*.` allowed in front)"
        ))
    }
}

/// A URL path for the proxy's health request: `/` then URL-safe
/// characters only (it is written into the nginx file and sent raw).
pub fn check_health_path(p: &str) -> Result<(), String> {
    let ok = p.starts_with('/')
        && p.len() <= 1024
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%!&()*+,=:@?".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "health check path `{p}` must start with `/` and use only URL characters (no spaces, quotes, `;`, `{{`, `}}`, `$`)"
        ))
    }
}

/// A destination's proxy fields; unset ones keep the app's.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<ProxyHealthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<ProxyDriver>,
}
