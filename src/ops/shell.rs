//! A shell or a command in one of an app's containers, attached to this
//! terminal: pick the container, open the exec, and write the history line
//! when it ends. The terminal itself is the front end's.

use chrono::{DateTime, Utc};

use super::Session;
use crate::config::{Config, HostName, RoleName};
use crate::docker::Attached;
use crate::engine::Failure;
use crate::engine::Performer;
use crate::engine::shell;

pub use crate::engine::shell::{Ended, Owner, Place};

/// The container an exec of `owner` goes to: the role's (or the app's
/// first) running container, on `host` when named.
pub async fn pick(
    config: &Config,
    session: &Session,
    owner: &Owner,
    role: Option<&RoleName>,
    host: Option<&HostName>,
) -> Result<Place, Failure> {
    shell::pick(config, &session.gateway, owner, role, host).await
}

/// Opens the exec: `asked`, else the configured shell, else the first shell
/// the container has. Returns the argv run and the attached streams.
pub async fn open(
    config: &Config,
    session: &Session,
    place: &Place,
    asked: &[String],
    configured: Option<&[String]>,
    tty: Option<(u16, u16)>,
) -> Result<(Vec<String>, Attached), Failure> {
    shell::open(config, &session.gateway, place, asked, configured, tty).await
}

/// Writes the history line of a shell that ended, as the operator here.
pub async fn record(
    config: &Config,
    session: &Session,
    owner: &Owner,
    place: &Place,
    argv: &[String],
    started_at: DateTime<Utc>,
    ended: &Ended,
) -> Result<(), Failure> {
    let performer = Performer::current();
    shell::record(
        config,
        &session.gateway,
        owner,
        place,
        argv,
        started_at,
        ended,
        &performer,
    )
    .await
}
