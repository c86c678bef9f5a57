//! Where this invocation logs: stderr (`BERTH_LOG` filters), and the log
//! file for the console and for commands that change something.

use super::{Cli, Command, lock, proxy};

/// Logs go to stderr; `BERTH_LOG` sets the filter (e.g. `debug`,
/// `berth=trace`). Quiet by default so that `--json` output stays clean.
pub(super) fn init_logging(log: Option<crate::ops::logfile::LogFile>) {
    use tracing_subscriber::prelude::*;
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(log.map(crate::ops::logfile::layer))
        .try_init();
}

/// The log file this invocation writes: the one named (an error when it
/// cannot be opened: the operator asked for it), else the default one for
/// the console and for commands that change something (a warning when it
/// cannot be opened: the log never stops the work).
pub(super) fn log_file(cli: &Cli) -> anyhow::Result<Option<crate::ops::logfile::LogFile>> {
    use crate::ops::logfile::{LogFile, default_path};
    if let Some(path) = &cli.log_file {
        return Ok(Some(LogFile::open(path).map_err(anyhow::Error::msg)?));
    }
    let changes = match &cli.command {
        None => true,
        Some(
            Command::Deploy { .. }
            | Command::Restart { .. }
            | Command::Rollback { .. }
            | Command::Destroy { .. }
            | Command::Exec { .. }
            | Command::Proxy(proxy::ProxyCommand::Sync { .. }),
        ) => true,
        Some(Command::Lock(l)) => !matches!(l, lock::LockCommand::Status { .. }),
        Some(Command::Doctor { fix, .. }) => *fix,
        Some(_) => false,
    };
    if !changes {
        return Ok(None);
    }
    let Some(path) = default_path() else {
        return Ok(None);
    };
    match LogFile::open(&path) {
        Ok(log) => Ok(Some(log)),
        Err(e) => {
            errln!("berth: warning: {e}; going on without it (--log-file PATH names another)");
            Ok(None)
        }
    }
}
