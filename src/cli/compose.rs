//! `berth compose OP PROJECT`: a Compose project as one, through its
//! engine's API (the host needs no `docker compose`, berth no project
//! files). Asked first, like `berth container`; `down` asks for the
//! project's name typed again. Recorded in the host's history (`berth
//! container history`).

use std::io::IsTerminal;
use std::sync::Arc;

use super::container::{ask, capital, confirmed};
use super::{EXIT_ERROR, EXIT_OK, EXIT_REFUSED, EXIT_UNHEALTHY};
use crate::config::{Config, HostName};
use crate::ops::Session;
use crate::ops::compose::{self, ProjectOp};

#[derive(Debug, clap::Subcommand)]
pub enum ComposeCommand {
    /// Restart every service container, what others depend on first
    Restart(Project),
    /// Stop the running containers, dependents first
    Stop(Project),
    /// Start the stopped service containers, dependencies first
    Start(Project),
    /// Stop and remove every container of the project and the networks
    /// Compose made for it (volumes are kept, as `docker compose down`)
    Down {
        #[command(flatten)]
        project: Project,
        /// The project's name again, to take it down without a terminal to
        /// type it in
        #[arg(long, value_name = "PROJECT")]
        confirm: Option<String>,
    },
}

#[derive(Debug, clap::Args)]
pub struct Project {
    /// The project's name (`com.docker.compose.project`)
    name: String,
    /// The host it is on [default: whichever host has it]
    #[arg(long, value_name = "HOST")]
    host: Option<HostName>,
    /// Do not ask (for scripts); without a terminal to ask on, required
    #[arg(long, short = 'y')]
    yes: bool,
}

pub async fn run(
    config: &Arc<Config>,
    session: &Session,
    command: &ComposeCommand,
) -> anyhow::Result<u8> {
    let (args, op, confirm) = match command {
        ComposeCommand::Restart(p) => (p, ProjectOp::Restart, None),
        ComposeCommand::Stop(p) => (p, ProjectOp::Stop, None),
        ComposeCommand::Start(p) => (p, ProjectOp::Start, None),
        ComposeCommand::Down { project, confirm } => (project, ProjectOp::Down, confirm.as_deref()),
    };
    if let Some(why) = config.read_only() {
        errln!("berth: read-only ({why}): compose {} refused", op.verb());
        return Ok(EXIT_REFUSED);
    }
    let project = match compose::find(config, session, &args.name, args.host.as_ref()).await {
        Ok(p) => p,
        Err(e) => {
            errln!("berth: {e}");
            return Ok(EXIT_ERROR);
        }
    };
    let name = crate::sanitize::one_line(&project.name);
    let what = format!("{name} on {}: {}", project.host, project.summary());
    if op.removes() {
        let typed = match confirm {
            Some(c) => c.to_string(),
            None if std::io::stdin().is_terminal() => ask(&format!(
                "Take down Compose project {what}? Its containers and networks are removed; `docker compose up` makes them again. Type its name to go on: "
            ))?,
            None => {
                errln!(
                    "berth: compose down {what}: give --confirm {name} to do it without a terminal"
                );
                return Ok(EXIT_ERROR);
            }
        };
        if typed.trim() != project.name {
            errln!(
                "berth: `{}` is not {name}: nothing done",
                crate::sanitize::one_line(typed.trim())
            );
            return Ok(EXIT_ERROR);
        }
    } else if let Some(code) = confirmed(
        &format!("{} Compose project {what}", capital(op.verb())),
        args.yes,
    )? {
        return Ok(code);
    }
    match compose::act(config, session, &project, op).await {
        Ok(done) => {
            outln!("{done}: done");
            Ok(EXIT_OK)
        }
        Err(e) => {
            errln!(
                "berth: compose {} {name} on {}: {e}",
                op.verb(),
                project.host
            );
            Ok(EXIT_UNHEALTHY)
        }
    }
}
