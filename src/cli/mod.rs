//! The headless command line: `berth status`, `berth config check`, ...
//! A renderer of library results; it decides wording and exit codes only.
//!
//! Exit codes: 0 fine, 1 the fleet is not as declared (unhealthy) or an
//! action failed, 2 berth could not do what was asked (bad config, bad
//! usage, an unknown name), 3 refused before changing anything (a lock
//! held, read-only, preflight), 4 a host or its engine could not be
//! reached.
//!
//! Owns: argument parsing, wording and exit codes. The top: may import any
//! layer (it starts the console).
//! The layering is checked by a test (`src/layers.rs`).

#[macro_use]
mod term;

mod actions;
mod compose;
mod config_cmd;
mod container;
mod container_logs;
mod doctor;
mod exec;
mod hosts;
mod init;
mod keys;
pub(crate) mod lock;
mod logging;
mod logs;
mod man;
mod proxy;
mod resources;
mod status;
mod table;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use config_cmd::ConfigCommand;
use logging::{init_logging, log_file};

use crate::config::{self, Config, HumanDuration};
use crate::ops::resources::ResourceKind;

pub use crate::domain::exit::{
    EXIT_ERROR, EXIT_OK, EXIT_PIPE, EXIT_REFUSED, EXIT_UNHEALTHY, EXIT_UNREACHABLE,
};

pub(crate) use term::acting;
pub use term::output_failed;

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    version,
    about = "A terminal operations console for fleets of Docker hosts",
    long_about = "berth shows every host, app and container of a Docker fleet with live health, \
and runs deploy, restart, destroy and rollback through one staged engine.\n\n\
With no command it opens the console; the commands below are for scripts, CI and hooks.",
    after_help = "Exit codes: 0 ok; 1 unhealthy (the fleet is not as declared), or an action failed; 2 error (config, usage, unknown name); 3 refused before anything changed (lock held, read-only, something an action needs missing, a Kamal app's lock); 4 a host or its engine could not be reached (an action, status)."
)]
pub struct Cli {
    /// Fleet config file [default: ./berth.yaml, ./config/berth.yaml, ~/.config/berth/berth.yaml]
    #[arg(short, long, env = "BERTH_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Console theme: default, light, high-contrast, monochrome, or a path to a YAML theme
    #[arg(long, global = true, value_name = "NAME|PATH")]
    pub theme: Option<String>,

    /// Refuse every mutating action (deploy, restart, destroy, locks); the console says so in its header
    #[arg(long, global = true)]
    pub read_only: bool,

    /// The console takes the mouse: click tabs, rows and stages, the wheel
    /// scrolls (`M` in the console toggles it; also `mouse: true`)
    #[arg(long)]
    pub mouse: bool,

    /// Where berth's log goes [default: $XDG_STATE_HOME/berth/berth.log, for
    /// the console and every command that changes something]
    #[arg(long, env = "BERTH_LOG_FILE", global = true, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// A Kamal app's deploy file to show beside berth's apps (repeatable);
    /// with no berth.yaml, `config/deploy.yml` here is read by itself
    #[arg(long, value_name = "FILE")]
    pub kamal: Vec<PathBuf>,

    /// The Kamal destination to read (`config/deploy.<NAME>.yml` merged
    /// over the file) [default: the file alone and every destination with a
    /// file, as Kamal deploys them]
    #[arg(short = 'd', long = "destination", value_name = "NAME")]
    pub kamal_destination: Option<String>,

    /// The Docker context this machine's engine is (`docker context ls`)
    /// [default: DOCKER_HOST, then DOCKER_CONTEXT, then the current context]
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show hosts, apps, roles and containers with their health
    Status(status::Args),
    /// Write a commented starter config for this machine (./berth.yaml, or
    /// -c FILE), proposing what runs here; never overwrites a file
    Init,
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell
    /// (e.g. `berth completions bash > ~/.local/share/bash-completion/completions/berth`)
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print berth's man page, in roff (e.g. `berth man > ~/.local/share/man/man1/berth.1`)
    Man,
    /// Print the console's keys, with keys.yaml's rebindings (beside the config; BERTH_KEYS names another)
    Keys {
        /// As docs/keys.md writes them
        #[arg(long)]
        markdown: bool,
    },
    /// Print what an action would do, stage by stage, without doing it
    Plan {
        /// Print the plan as JSON
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: actions::PlanCommand,
    },
    /// Deploy a version: image, release task, then boot groups through the health gate
    Deploy {
        #[command(flatten)]
        target: actions::Target,
        /// The version (image tag) to deploy
        #[arg(long, short = 'V', value_name = "VERSION")]
        version: crate::engine::Version,
        /// Print engine events as JSON lines
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Replace each container with a fresh one of its version, one boot group at a time
    Restart {
        #[command(flatten)]
        target: actions::Target,
        /// Only this role
        #[arg(long, value_name = "ROLE")]
        role: Option<crate::config::RoleName>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Run a command in every running container of a role (the primary role
    /// unless --role): their stdout on stdout, their stderr on stderr,
    /// berth's own lines on stderr; exit 1 if any exits non-zero. With -i: in one container, attached to this terminal
    /// (a shell when no command is given), exiting with its exit code.
    /// Recorded in the app's history
    Exec {
        #[command(flatten)]
        target: actions::Target,
        /// The role whose containers run it [default: the primary role]
        #[arg(long, short = 'r', value_name = "ROLE")]
        role: Option<crate::config::RoleName>,
        /// Only this host's containers
        #[arg(long, value_name = "HOST")]
        host: Option<crate::config::HostName>,
        /// Print engine events as JSON lines
        #[arg(long, conflicts_with = "interactive")]
        json: bool,
        /// Each output line after `HOST/CONTAINER | ` [default: when
        /// stdout is a terminal]
        #[arg(long, conflicts_with = "interactive")]
        prefix: bool,
        /// Interactive, in one container (a healthy one first): this
        /// terminal's input goes to it, with a TTY when this is a terminal
        #[arg(long, short = 'i')]
        interactive: bool,
        /// The command and its arguments, after `--` (run as given, never
        /// through a shell unless you name one: `-- sh -c '...'`); with -i
        /// and none, the app's `shell:` or /bin/bash, else /bin/sh
        #[arg(
            last = true,
            required_unless_present = "interactive",
            value_name = "CMD"
        )]
        command: Vec<String>,
    },
    /// An app's logs from all its hosts, merged by Docker's timestamps
    /// (`-f` follows, and attaches to containers that start meanwhile)
    Logs(logs::Args),
    /// Start a retained older version again through the health gate
    Rollback {
        #[command(flatten)]
        target: actions::Target,
        /// The version to go back to [default: the newest retained one not running]
        #[arg(long, short = 'V', value_name = "VERSION")]
        version: Option<crate::engine::Version>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Stop and remove every container of an app (needs --confirm <app>)
    Destroy {
        #[command(flatten)]
        target: actions::Target,
        /// The app's name again, to confirm
        #[arg(long, value_name = "APP")]
        confirm: Option<String>,
        /// Also remove the named volumes its containers use
        #[arg(long)]
        purge_volumes: bool,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Deploy locks: who holds them; take or release one by hand
    #[command(subcommand)]
    Lock(lock::LockCommand),
    /// Show the audit history of an app (it outlives a destroy), oldest first
    History {
        app: String,
        #[arg(long)]
        json: bool,
        /// Only the newest N lines
        #[arg(long, short = 'n', value_name = "N")]
        limit: Option<usize>,
        /// Only lines started within this long (e.g. 1h, 30m)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        since: Option<HumanDuration>,
    },
    /// Check hooks, plugins, locks, and what runs against what is declared
    Doctor {
        #[arg(long)]
        json: bool,
        /// Also remove what runs that died left behind (orphan containers that are not serving)
        #[arg(long)]
        fix: bool,
    },
    /// The proxy in front of an app: show what it routes, or sync it with what runs
    #[command(subcommand)]
    Proxy(proxy::ProxyCommand),
    /// Inspect the fleet config
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The hosts: `check` connects to each and says what works
    #[command(subcommand)]
    Hosts(hosts::HostsCommand),
    /// Any container, whoever started it: restart, stop, start, kill,
    /// pause, unpause, rm (asked first; recorded in the host's history)
    #[command(subcommand)]
    Container(container::ContainerCommand),
    /// A Compose project as one: restart, stop, start or down all its
    /// containers through the engine (no compose binary needed)
    #[command(subcommand)]
    Compose(compose::ComposeCommand),
    /// Each host's images: size, the containers using them, dangling;
    /// `rm NAME` and `prune` remove what nothing uses
    Images(resources::Args),
    /// Each host's volumes and the containers using them; `rm`, `prune`
    Volumes(resources::Args),
    /// Each host's networks and the containers on them; `rm`, `prune`
    Networks(resources::Args),
}

/// `--lock-wait`, shared by every mutating action.
#[derive(Debug, clap::Args)]
pub struct LockWait {
    /// Wait up to this long for a lock held by another action (not behind a manual lock)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    lock_wait: Option<HumanDuration>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(name) = &cli.context {
        crate::ops::use_docker_context(name);
    }
    let log = match log_file(&cli) {
        Ok(log) => log,
        Err(e) => {
            errln!("berth: {e}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    // The console logs to its own pane; everything else to stderr; both to
    // the log file when there is one.
    if cli.command.is_some() {
        init_logging(log.clone());
    }
    let session = crate::ops::Session::new();
    term::at_exit(&session);
    let code = match run(cli, &session, log) {
        Ok(code) => code,
        Err(e) => {
            errln!("berth: {e:#}");
            EXIT_ERROR
        }
    };
    session.close();
    ExitCode::from(code)
}

fn run(
    cli: Cli,
    session: &crate::ops::Session,
    log: Option<crate::ops::logfile::LogFile>,
) -> anyhow::Result<u8> {
    let load = Load {
        explicit: cli.config.clone(),
        read_only: cli.read_only,
        kamal: cli.kamal.clone(),
        destination: cli.kamal_destination.clone(),
    };
    match cli.command {
        None => {
            use std::io::IsTerminal;
            let config = load.or_zero()?;
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "the console needs a terminal (stdin and stdout); for scripts use `berth status --json` (see `berth --help`)"
                );
            }
            let opts = crate::tui::Options {
                log,
                theme: cli.theme,
                read_only: cli.read_only,
                mouse: cli.mouse,
            };
            crate::tui::run(config, session.clone(), opts)
        }
        Some(Command::Config(ConfigCommand::Check { json })) => {
            let config = std::sync::Arc::new(load.config()?);
            config_cmd::check(&config, json)
        }
        Some(Command::Hosts(command)) => {
            let config = std::sync::Arc::new(load.config()?);
            runtime()?.block_on(hosts::run(&config, session, command))
        }
        Some(Command::Container(command)) => {
            let config = std::sync::Arc::new(load.or_zero()?);
            runtime()?.block_on(container::run(&config, session, &command))
        }
        Some(Command::Compose(command)) => {
            let config = std::sync::Arc::new(load.or_zero()?);
            runtime()?.block_on(compose::run(&config, session, &command))
        }
        Some(Command::Images(args)) => resources(load, session, ResourceKind::Image, &args),
        Some(Command::Volumes(args)) => resources(load, session, ResourceKind::Volume, &args),
        Some(Command::Networks(args)) => resources(load, session, ResourceKind::Network, &args),
        Some(Command::Completions { shell }) => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "berth", &mut script);
            out!("{}", String::from_utf8_lossy(&script));
            Ok(EXIT_OK)
        }
        Some(Command::Man) => {
            out!("{}", man::page()?);
            Ok(EXIT_OK)
        }
        Some(Command::Keys { markdown }) => {
            // The defaults when asked for the docs; else the keys in force.
            let map = if markdown {
                crate::tui::keymap::Keymap::default()
            } else {
                let config = load.or_zero()?;
                crate::tui::keymap_for(&config)?
            };
            if markdown {
                out!("{}", map.markdown());
            } else {
                out!("{}", keys::table(&map));
            }
            Ok(EXIT_OK)
        }
        Some(Command::Init) => {
            let path = cli
                .config
                .clone()
                .unwrap_or_else(|| PathBuf::from("berth.yaml"));
            runtime()?.block_on(init::run(session, &path))
        }
        Some(Command::Logs(args)) => {
            let config = std::sync::Arc::new(load.config()?);
            runtime()?.block_on(logs::run(&config, session, args))
        }
        Some(Command::Status(args)) => {
            let config = std::sync::Arc::new(load.or_zero()?);
            runtime()?.block_on(status::run(&config, session, args))
        }
        Some(Command::Plan { json, action }) => {
            let config = std::sync::Arc::new(load.config()?);
            runtime()?.block_on(actions::print_plan(
                &config,
                session,
                &actions::plan_action(&action)?,
                json,
            ))
        }
        Some(Command::Doctor { json, fix }) => {
            let config = std::sync::Arc::new(load.config()?);
            if fix && let Some(why) = config.read_only() {
                anyhow::bail!("{why}: doctor --fix refused");
            }
            runtime()?.block_on(doctor::run(&config, session, json, fix))
        }
        Some(Command::Proxy(proxy::ProxyCommand::Show { target, json })) => {
            let config = std::sync::Arc::new(load.config()?);
            runtime()?.block_on(proxy::show(&config, session, &target, json))
        }
        Some(Command::History {
            app,
            json,
            limit,
            since,
        }) => {
            let config = std::sync::Arc::new(load.config()?);
            runtime()?.block_on(actions::history(
                &config,
                session,
                &app,
                json,
                limit,
                since.map(HumanDuration::get),
            ))
        }
        Some(cmd) => {
            let config = std::sync::Arc::new(load.config()?);
            let (action, json, wait) = match &cmd {
                Command::Lock(lock) => {
                    let mutating = !matches!(lock, lock::LockCommand::Status { .. });
                    if mutating && let Some(why) = config.read_only() {
                        anyhow::bail!("{why}: lock changes refused");
                    }
                    return runtime()?.block_on(lock::run(&config, session, lock));
                }
                Command::Deploy {
                    target,
                    version,
                    json,
                    wait,
                } => (actions::deploy_action(target, version), *json, wait),
                Command::Restart {
                    target,
                    role,
                    json,
                    wait,
                } => (actions::restart_action(target, role.as_ref()), *json, wait),
                Command::Rollback {
                    target,
                    version,
                    json,
                    wait,
                } => (
                    actions::rollback_action(target, version.as_ref()),
                    *json,
                    wait,
                ),
                Command::Destroy {
                    target,
                    confirm,
                    purge_volumes,
                    json,
                    wait,
                } => (
                    actions::destroy_action(target, confirm.as_deref(), *purge_volumes)?,
                    *json,
                    wait,
                ),
                Command::Proxy(proxy::ProxyCommand::Sync { target, json, wait }) => {
                    (actions::proxy_sync_action(target)?, *json, wait)
                }
                Command::Exec {
                    target,
                    role,
                    host,
                    json,
                    prefix,
                    interactive,
                    command,
                } => {
                    if *interactive {
                        return runtime()?.block_on(exec::interactive(
                            &config,
                            session,
                            target,
                            role.as_ref(),
                            host.as_ref(),
                            command,
                        ));
                    }
                    let (app, destination) = (target.app.clone(), target.destination.clone());
                    let action = crate::engine::Action::Exec {
                        app,
                        destination,
                        role: role.clone(),
                        host: host.clone(),
                        command: command.clone(),
                    };
                    use std::io::IsTerminal;
                    let prefix = *prefix || std::io::stdout().is_terminal();
                    return runtime()?
                        .block_on(actions::run_exec(&config, session, action, *json, prefix));
                }
                _ => unreachable!("handled above"),
            };
            let lock_wait = wait.lock_wait.map(HumanDuration::get);
            runtime()?.block_on(actions::run_action(
                &config, session, action, json, lock_wait,
            ))
        }
    }
}

/// How the config is found: `-c`/`BERTH_CONFIG`, berth.yaml where berth
/// looks, Kamal deploy files (`--kamal`, or `config/deploy.yml` here when
/// there is no berth.yaml), and `--read-only`.
struct Load {
    explicit: Option<PathBuf>,
    read_only: bool,
    kamal: Vec<PathBuf>,
    destination: Option<String>,
}

impl Load {
    /// [`Load::config`], or with no config file anywhere (and none named)
    /// and no Kamal app, the zero config: the local engine and everything
    /// it runs, as the console and `status` show it.
    fn or_zero(&self) -> anyhow::Result<Config> {
        match self.found()? {
            Some(config) => Ok(config),
            None => {
                let mut config = Config::zero()?;
                if self.read_only {
                    config.set_read_only();
                }
                Ok(config)
            }
        }
    }

    /// The config; an error saying where berth looked when there is none.
    fn config(&self) -> anyhow::Result<Config> {
        match self.found()? {
            Some(config) => Ok(config),
            None => Err(config::discover(None)
                .err()
                .map(anyhow::Error::from)
                .unwrap_or_else(|| anyhow::anyhow!("no config found"))),
        }
    }

    /// berth.yaml (with any `--kamal` files added), or the Kamal apps
    /// alone; `None` when there is neither. Warnings go to stderr; with
    /// `--read-only` the engine refuses every action planned from it.
    fn found(&self) -> anyhow::Result<Option<Config>> {
        use crate::config::kamal;
        let files = if self.kamal.is_empty() {
            let here = PathBuf::from(kamal::DEFAULT_FILE);
            // A Kamal app's repository is read when berth.yaml is not there.
            let berth = self.explicit.is_some() || config::discover(None).is_ok();
            if !berth && here.is_file() {
                vec![here]
            } else {
                Vec::new()
            }
        } else {
            self.kamal.clone()
        };
        let destinations: Vec<String> = self.destination.iter().cloned().collect();
        if self.destination.is_some() && files.is_empty() {
            anyhow::bail!(
                "-d/--destination names a Kamal destination: give the deploy file with --kamal FILE (or start berth where config/deploy.yml is)"
            );
        }
        let sources: Vec<kamal::KamalSource> = files
            .iter()
            .flat_map(|f| kamal::sources(f, &destinations))
            .collect();
        let mut config = match config::discover(self.explicit.as_deref()) {
            Ok(path) if self.explicit.is_some() || path.is_file() => {
                let mut config = config::load(&path)?;
                config.add_kamal(&sources, &|n| std::env::var(n).ok())?;
                config
            }
            _ if !sources.is_empty() => Config::kamal_only(&sources)?,
            _ => return Ok(None),
        };
        if self.read_only {
            config.set_read_only();
        }
        for w in &config.warnings {
            errln!("berth: warning: {w}");
        }
        Ok(Some(config))
    }
}

fn resources(
    load: Load,
    session: &crate::ops::Session,
    kind: ResourceKind,
    args: &resources::Args,
) -> anyhow::Result<u8> {
    let config = std::sync::Arc::new(load.or_zero()?);
    runtime()?.block_on(resources::run(&config, session, kind, args))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// A deadline given on the command line (`--timeout 10s`).
fn parse_duration(s: &str) -> Result<HumanDuration, String> {
    config::duration::parse(s).map(HumanDuration)
}
