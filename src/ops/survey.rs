//! What runs on this machine's engine, for `berth init` to propose apps
//! from: every container, berth's or not.

use std::time::Duration;

use super::Session;
use crate::config::{Config, HostName};
use crate::domain::Container;

/// How long the local engine has to answer.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(5);

/// Every container on the local engine (the zero config's `local` host).
pub async fn local_containers(session: &Session) -> Result<Vec<Container>, String> {
    let zero = Config::zero().map_err(|e| e.to_string())?;
    let host = zero
        .host(&HostName::new("local")?)
        .map_err(|e| e.to_string())?;
    let engine = session
        .gateway
        .engine_of(host, ENGINE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    engine
        .list_all(ENGINE_TIMEOUT)
        .await
        .map_err(|e| e.to_string())
}
