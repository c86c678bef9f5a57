//! `berth exec -i APP [-- CMD]`: one container of an app attached to this
//! terminal, as `docker exec -it` (or `kamal app exec -i`) does, through
//! the Docker API of the container's host: on an SSH host, the same
//! forwarded socket as everything else.

use chrono::Utc;

use super::EXIT_UNHEALTHY;
use crate::config::{Config, HostName, RoleName};
use crate::ops::Session;
use crate::ops::shell::{self, Ended, Owner};

/// Attaches, waits for the process to end, writes the history line; the
/// process's exit code is berth's.
pub async fn interactive(
    config: &Config,
    session: &Session,
    target: &super::actions::Target,
    role: Option<&RoleName>,
    host: Option<&HostName>,
    command: &[String],
) -> anyhow::Result<u8> {
    let owner = Owner {
        app: target.app.clone(),
        destination: target.destination.clone(),
    };
    let place = shell::pick(config, session, &owner, role, host)
        .await
        .map_err(|e| anyhow::anyhow!("exec -i {}: {e}", owner.app))?;
    let configured = config
        .app(&owner.app)
        .ok()
        .and_then(|a| a.shell.as_ref())
        .map(|s| s.0.as_slice());
    let tty = crate::tui::shell::terminal_size();
    let started_at = Utc::now();
    let opened = shell::open(config, session, &place, command, configured, tty).await;
    let (argv, ended) = match opened {
        Ok((argv, attached)) => {
            errln!(
                "berth: `{}` in {} on {}",
                crate::sanitize::one_line(
                    &shlex::try_join(argv.iter().map(String::as_str))
                        .unwrap_or_else(|_| argv.join(" ")),
                ),
                place.name,
                place.host
            );
            let ended =
                match crate::tui::shell::connect(attached, tty.is_some(), std::future::pending())
                    .await
                {
                    Ok(code) => Ended::Exit(code),
                    Err(e) => Ended::Failed(e.to_string()),
                };
            (argv, ended)
        }
        Err(e) => (command.to_vec(), Ended::Failed(e.to_string())),
    };
    if let Err(e) = shell::record(config, session, &owner, &place, &argv, started_at, &ended).await
    {
        errln!("berth: warning: could not write the history line: {e}");
    }
    match ended {
        Ended::Exit(Some(code)) => Ok(u8::try_from(code).unwrap_or(EXIT_UNHEALTHY)),
        Ended::Exit(None) => {
            errln!("berth: the engine told no exit code for it");
            Ok(EXIT_UNHEALTHY)
        }
        Ended::Failed(e) => Err(anyhow::anyhow!("exec -i {}: {e}", owner.app)),
    }
}
