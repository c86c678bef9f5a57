//! The console: `berth` with no command. A renderer of the live inventory
//! and of the engine's event stream, like the CLI, but interactive.
//!
//! One loop owns the [`Model`]. Keys, inventory changes, engine events, lock
//! changes and timers arrive as messages; `update` changes the model; the
//! loop draws only when an update said the screen may have changed, inside
//! a synchronized update so nothing tears. With nothing happening it sleeps:
//! no fixed-rate redraw, no polling of the engines (live state comes from
//! their event streams). Ticks run only while something on screen moves by
//! itself (a spinner, an uptime).
//!
//! Owns: the console's model, keys, views and terminal. May import every
//! layer below it; must not import `cli`.
//! The layering is checked by a test (`src/layers.rs`).

pub mod command;
pub mod feeds;
pub mod logs;
pub mod model;
pub mod rows;
pub mod runs;
pub mod shell;
pub mod tab;
pub mod theme;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::docker::Gateway;
use crate::engine::{self, EngineEvent, Performer, RunResult};
use crate::inventory::{Inventory, WatchOptions};
use model::{Effect, Model, Msg};
use rows::LockCell;
use theme::{Palette, Theme};

/// How the console was asked to start.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--theme NAME|PATH`; else the config's `theme:`; else `default`.
    pub theme: Option<String>,
    /// `--read-only`: no mutating action, whatever the config says.
    pub read_only: bool,
    /// `--mouse`: take the mouse from the start (also `mouse: true`).
    pub mouse: bool,
}

/// A resize is drawn once the terminal stops changing size for this long.
const RESIZE_DEBOUNCE: Duration = Duration::from_millis(30);
/// How long quitting waits for cancelled actions to put the old version back.
const CANCEL_DEADLINE: Duration = Duration::from_secs(120);

/// The theme the options and config ask for, checked before the screen
/// changes (a broken theme file is an error on the normal terminal).
pub fn choose_theme(
    config: &Config,
    opts: &Options,
) -> Result<(Theme, Palette), theme::ThemeError> {
    let palette = Palette::detect();
    let spec = opts
        .theme
        .clone()
        .or_else(|| config.fleet.theme.clone())
        .unwrap_or_else(|| "default".into());
    // NO_COLOR with no explicit choice: the monochrome theme's symbols and
    // reverse video rather than a colour theme with its colours removed.
    let spec = if palette == Palette::None && spec == "default" {
        "monochrome".to_string()
    } else {
        spec
    };
    Ok((Theme::load(&spec, palette)?, palette))
}

/// Runs the console until the operator quits or the terminal goes away.
pub fn run(config: Config, gateway: Gateway, opts: Options) -> anyhow::Result<u8> {
    let (theme, palette) = choose_theme(&config, &opts)?;
    let log_wake = Arc::new(Notify::new());
    init_logging(log_wake.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = Arc::new(config);
    let mut model = Model::new(config, theme, palette, opts.read_only);
    model.mouse |= opts.mouse;
    let result = runtime.block_on(console(model, gateway.clone(), log_wake));
    gateway.close();
    // Watchers and tunnels end with the runtime, not after a grace period.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// The terminal in raw mode on the alternate screen; put back on drop, on
/// panic, and on the way out after SIGHUP/SIGTERM.
struct Screen {
    terminal: Terminal<CrosstermBackend<std::io::Stdout>>,
}

impl Screen {
    fn enter(mouse: bool) -> anyhow::Result<Screen> {
        let hook = std::panic::take_hook();
        // A panic anywhere (a worker task included) puts the terminal back,
        // says what happened on stderr and ends berth: never a console that
        // draws on with no one listening to its keys.
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            hook(info);
            eprintln!(
                "berth: the console stopped on an internal error (above); `berth lock status` and `berth doctor` show anything its actions left"
            );
            std::process::exit(101);
        }));
        take_terminal()?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        let mut screen = Screen { terminal };
        screen.mouse(mouse)?;
        Ok(screen)
    }

    /// Takes the mouse (clicks and the wheel come as events), or gives it
    /// back to the terminal (its own text selection).
    fn mouse(&mut self, on: bool) -> std::io::Result<()> {
        if on {
            crossterm::execute!(std::io::stdout(), crossterm::event::EnableMouseCapture)
        } else {
            crossterm::execute!(std::io::stdout(), crossterm::event::DisableMouseCapture)
        }
    }

    /// Gives the terminal to something else (a shell): the normal screen
    /// and a cursor; raw mode stays for the keys to pass through as typed.
    fn suspend(&mut self) -> std::io::Result<()> {
        crossterm::execute!(
            std::io::stdout(),
            crossterm::event::DisableMouseCapture,
            crossterm::terminal::LeaveAlternateScreen,
            crossterm::cursor::Show
        )
    }

    /// Takes the terminal back; the next draw repaints all of it.
    fn resume(&mut self, mouse: bool) -> std::io::Result<()> {
        take_terminal()?;
        self.mouse(mouse)?;
        // Cleared and the back buffer forgotten, at today's size. Not
        // `Terminal::clear`: it asks the terminal where its cursor is,
        // and a terminal that does not answer would stall the console.
        let size = self.terminal.size()?;
        self.terminal
            .resize(ratatui::layout::Rect::new(0, 0, size.width, size.height))
    }

    fn draw(&mut self, model: &Model) -> std::io::Result<()> {
        use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};
        crossterm::queue!(self.terminal.backend_mut(), BeginSynchronizedUpdate)?;
        self.terminal.draw(|f| view::draw(f, model))?;
        crossterm::execute!(self.terminal.backend_mut(), EndSynchronizedUpdate)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Raw mode, the alternate screen, no cursor: the console's terminal.
fn take_terminal() -> std::io::Result<()> {
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    )
}

fn restore_terminal() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        crossterm::event::DisableMouseCapture,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = crossterm::terminal::disable_raw_mode();
}

/// An action running in the background.
struct Running {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn console(mut model: Model, gateway: Gateway, log_wake: Arc<Notify>) -> anyhow::Result<u8> {
    use tokio::signal::unix::{SignalKind, signal};
    let config = model.config.clone();
    // The first frame from the engines' lists; inspected details follow.
    let inventory = Inventory::start(
        &config,
        &gateway,
        WatchOptions {
            list_first: true,
            ..WatchOptions::default()
        },
    );
    let mut fleet_rx = inventory.subscribe();
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let reload = Arc::new(Notify::new());
    // Locks and history: the engine's watch, forwarded as messages.
    let (wtx, mut wrx) = mpsc::unbounded_channel();
    tokio::spawn(engine::watch::run(
        config.clone(),
        gateway.hosts().clone(),
        wtx,
        reload.clone(),
    ));
    let forward = tx.clone();
    tokio::spawn(async move {
        while let Some(update) = wrx.recv().await {
            let msg = match update {
                engine::watch::Update::Locks(locks) => Msg::Locks(
                    locks
                        .into_iter()
                        .map(|(k, read)| (k, LockCell::from(read)))
                        .collect(),
                ),
                engine::watch::Update::Foreign(locks) => Msg::Foreign(
                    locks
                        .into_iter()
                        .map(|(k, read)| (k, LockCell::from(read)))
                        .collect(),
                ),
                engine::watch::Update::History(h) => Msg::History(h),
            };
            if forward.send(msg).is_err() {
                return;
            }
        }
    });
    tokio::spawn(preflight(config.clone(), gateway.clone(), tx.clone()));
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut keys = EventStream::new();
    let mut running: HashMap<u64, Running> = HashMap::new();
    let mut feeds = feeds::Feeds::new(config.clone(), gateway.clone(), tx.clone());
    let mut screen = Screen::enter(model.mouse)?;
    // A failpoint for the test of the panic hook: a background task that
    // panics, as a bug in any worker would.
    if std::env::var("BERTH_FAILPOINT").as_deref() == Ok("console-task-panic") {
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            panic!("failpoint console-task-panic");
        });
    }
    let mut dirty = true;
    let mut resize_at: Option<Instant> = None;
    let mut gone = false;

    loop {
        if dirty {
            model.update(Msg::Tick(Utc::now()));
            if let Err(e) = screen.draw(&model) {
                // The terminal went away (a dropped SSH session): stop, and
                // let the actions put things back.
                tracing::warn!("drawing failed: {e}");
                gone = true;
                break;
            }
            dirty = false;
            // What is on screen decides which logs and stats stream.
            feeds.sync(&model);
        }
        let tick = model.tick_every();
        tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    dirty |= model.update(Msg::Key(k));
                }
                Some(Ok(Event::Mouse(m))) => {
                    dirty |= model.update(Msg::Mouse(m));
                }
                Some(Ok(Event::Resize(..))) => {
                    resize_at = Some(Instant::now() + RESIZE_DEBOUNCE);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    gone = true;
                    break;
                }
            },
            changed = fleet_rx.changed() => {
                if changed.is_ok() {
                    let fleet = fleet_rx.borrow_and_update().clone();
                    dirty |= model.update(Msg::Fleet(fleet));
                }
            }
            Some(msg) = rx.recv() => {
                dirty |= model.update(msg);
                // A burst of engine output becomes one frame.
                while let Ok(msg) = rx.try_recv() {
                    dirty |= model.update(msg);
                }
            }
            _ = tokio::time::sleep(tick.unwrap_or(Duration::ZERO)), if tick.is_some() => {
                dirty = true;
            }
            _ = tokio::time::sleep_until(resize_at.unwrap_or_else(Instant::now)), if resize_at.is_some() => {
                resize_at = None;
                dirty |= model.update(Msg::Resize);
            }
            _ = log_wake.notified() => {
                dirty |= model.update(Msg::Log);
            }
            _ = hangup.recv() => { gone = true; break; }
            _ = terminate.recv() => { gone = true; break; }
        }
        for effect in model.take_effects() {
            match effect {
                Effect::Start { run, action } => {
                    let cancel = CancellationToken::new();
                    let task = tokio::spawn(start_run(
                        config.clone(),
                        gateway.clone(),
                        run,
                        action,
                        cancel.clone(),
                        tx.clone(),
                        reload.clone(),
                    ));
                    running.insert(run, Running { cancel, task });
                }
                Effect::Cancel { run } => {
                    if let Some(r) = running.get(&run) {
                        r.cancel.cancel();
                    }
                }
                Effect::Lock { target, message } => {
                    let (config, tx, reload) = (config.clone(), tx.clone(), reload.clone());
                    let hosts = gateway.hosts().clone();
                    tokio::spawn(async move {
                        let r = engine::lock::acquire_manual(
                            &config,
                            &hosts,
                            &target.app,
                            target.destination.as_ref(),
                            &message,
                            &Performer::current(),
                        )
                        .await;
                        let (text, error) = match r {
                            Ok(h) => (
                                format!("locked {target}: \"{}\"", h.message.unwrap_or_default()),
                                false,
                            ),
                            Err(e) => (format!("lock {target}: {}", lock_error(&e)), true),
                        };
                        reload.notify_one();
                        let _ = tx.send(Msg::Notice { text, error });
                    });
                }
                Effect::Unlock { target, force } => {
                    let (config, tx, reload) = (config.clone(), tx.clone(), reload.clone());
                    let hosts = gateway.hosts().clone();
                    tokio::spawn(async move {
                        let r = engine::lock::release_manual(
                            &config,
                            &hosts,
                            &target.app,
                            target.destination.as_ref(),
                            force,
                            &Performer::current(),
                        )
                        .await;
                        let (text, error) = match r {
                            Ok(engine::lock::Released::NotLocked) => {
                                (format!("{target} is not locked"), false)
                            }
                            Ok(engine::lock::Released::Released(_)) => {
                                (format!("released {target}"), false)
                            }
                            Ok(engine::lock::Released::Forced(note)) => {
                                (format!("released {target}: {note}"), false)
                            }
                            Err(e) => (format!("unlock {target}: {}", lock_error(&e)), true),
                        };
                        reload.notify_one();
                        let _ = tx.send(Msg::Notice { text, error });
                    });
                }
                Effect::LoadTheme(name) => {
                    // A theme file is read off the loop's thread.
                    let (palette, tx) = (model.palette, tx.clone());
                    tokio::task::spawn_blocking(move || {
                        let _ = tx.send(Msg::Theme(
                            Theme::load(&name, palette).map_err(|e| e.to_string()),
                        ));
                    });
                }
                Effect::HostClock(host) => {
                    let (config, tx, gateway) = (config.clone(), tx.clone(), gateway.clone());
                    tokio::spawn(async move {
                        let connected = async {
                            let name = crate::config::HostName::new(&host)?;
                            let cfg = config.host(&name).map_err(|e| e.to_string())?;
                            gateway
                                .engine_of(cfg, Duration::from_secs(5))
                                .await
                                .map_err(|e| e.to_string())
                        }
                        .await;
                        let docker = match connected {
                            Ok(docker) => docker,
                            Err(e) => {
                                let _ = tx.send(Msg::HostClock {
                                    host: host.clone(),
                                    skew: Err(e.clone()),
                                });
                                let _ = tx.send(Msg::HostDisk { host, disk: Err(e) });
                                return;
                            }
                        };
                        let skew = docker
                            .clock_skew_ms(Duration::from_secs(5))
                            .await
                            .ok_or_else(|| "the engine did not say its time".to_string());
                        let _ = tx.send(Msg::HostClock {
                            host: host.clone(),
                            skew,
                        });
                        // Sizing containers makes the engine walk their layers:
                        // asked for once, when the screen opens.
                        let disk = docker
                            .disk_use(Duration::from_secs(30))
                            .await
                            .map_err(|e| e.to_string());
                        let _ = tx.send(Msg::HostDisk { host, disk });
                    });
                }
                Effect::Inspect { host, id } => {
                    let (config, tx, gateway) = (config.clone(), tx.clone(), gateway.clone());
                    tokio::spawn(async move {
                        let inspect = inspect(&config, &gateway, &host, &id).await;
                        let _ = tx.send(Msg::Inspected {
                            host,
                            id,
                            inspect: Box::new(inspect),
                        });
                    });
                }
                Effect::Shell(at) => {
                    // The console stops reading keys: the shell has them.
                    drop(std::mem::replace(&mut keys, EventStream::new()));
                    let until = async {
                        tokio::select! {
                            _ = hangup.recv() => {}
                            _ = terminate.recv() => {}
                        }
                    };
                    let mouse = model.mouse;
                    match shell_session(&config, &gateway, &mut screen, at, mouse, until).await {
                        Some((text, error)) => {
                            model.update(Msg::Notice { text, error });
                        }
                        None => gone = true,
                    }
                    // Everything is drawn again, at the terminal's size now.
                    model.update(Msg::Resize);
                    dirty = true;
                }
                Effect::Mouse(on) => {
                    if let Err(e) = screen.mouse(on) {
                        tracing::warn!("the mouse: {e}");
                    }
                }
                Effect::Quit => {}
            }
        }
        running.retain(|_, r| !r.task.is_finished());
        if model.quitting || gone {
            break;
        }
    }
    drop(screen);
    drop(feeds);
    if !running.is_empty() {
        finish_running(running, gone).await;
    }
    Ok(crate::domain::exit::EXIT_OK)
}

/// A shell in a container, the console suspended meanwhile: the terminal
/// passed through on the normal screen, then the console back, redrawn.
/// What to say of how it ended; `None`: the terminal went away.
async fn shell_session(
    config: &Config,
    gateway: &Gateway,
    screen: &mut Screen,
    at: model::ShellAt,
    mouse: bool,
    until: impl std::future::Future<Output = ()>,
) -> Option<(String, bool)> {
    use engine::shell::{Ended, Owner, Place};
    let place = match crate::config::HostName::new(&at.host) {
        Ok(host) => Place {
            host,
            id: at.id.clone(),
            name: at.name.clone(),
        },
        Err(e) => return Some((format!("shell: {e}"), true)),
    };
    let tty = shell::terminal_size().or(Some((80, 24)));
    let started_at = Utc::now();
    let opened = engine::shell::open(config, gateway, &place, &[], at.shell.as_deref(), tty).await;
    let (argv, ended) = match opened {
        Ok((argv, attached)) => {
            let shown = crate::sanitize::one_line(
                &shlex::try_join(argv.iter().map(String::as_str))
                    .unwrap_or_else(|_| argv.join(" ")),
            );
            let _ = screen.suspend();
            {
                use std::io::Write;
                let mut out = std::io::stdout();
                let _ = write!(
                    out,
                    "berth: `{shown}` in {} on {}; exit it to return to the console\r\n",
                    place.name, place.host
                );
                let _ = out.flush();
            }
            let ended = shell::connect(attached, true, until).await;
            if let Err(e) = screen.resume(mouse) {
                tracing::warn!("taking the terminal back: {e}");
            }
            let ended = match ended {
                Ok(code) => Ended::Exit(code),
                Err(shell::SessionError::Gone) => return None,
                Err(e) => Ended::Failed(e.to_string()),
            };
            (argv, ended)
        }
        Err(e) => (Vec::new(), Ended::Failed(e.to_string())),
    };
    if let Some(t) = &at.owner {
        let owner = Owner {
            app: t.app.clone(),
            destination: t.destination.clone(),
        };
        let performer = engine::Performer::current();
        if let Err(e) = engine::shell::record(
            config, gateway, &owner, &place, &argv, started_at, &ended, &performer,
        )
        .await
        {
            tracing::warn!(
                "shell in {}: could not write the history line: {e}",
                at.name
            );
        }
    }
    Some(match ended {
        Ended::Exit(code) => (
            format!(
                "shell in {} on {} ended: {}",
                at.name,
                at.host,
                code.map_or("no exit code".to_string(), |c| format!("exit {c}"))
            ),
            false,
        ),
        Ended::Failed(e) => (format!("shell in {}: {e}", at.name), true),
    })
}

/// A container's configuration for its screen, every secret masked: names
/// that are secrets by convention, the names the config fills from the
/// secrets file, and any value equal to one of those secrets.
async fn inspect(
    config: &Config,
    gateway: &Gateway,
    host: &str,
    id: &str,
) -> Result<Option<crate::domain::Inspect>, String> {
    let name = crate::config::HostName::new(host)?;
    let cfg = config.host(&name).map_err(|e| e.to_string())?;
    let engine = gateway
        .engine_of(cfg, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let Some(mut found) = engine
        .inspect_details(id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let names: Vec<String> = config
        .fleet
        .apps
        .values()
        .flat_map(|app| {
            app.env
                .secret
                .iter()
                .chain(app.roles.values().flat_map(|r| r.env.secret.iter()))
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    let values: Vec<String> = config
        .read_secrets()
        .await
        .map(|s| s.values().map(|v| v.expose().to_string()).collect())
        .unwrap_or_default();
    found.mask(&names, &values);
    Ok(Some(found))
}

/// Cancels what still runs and waits (bounded) for each run to put the old
/// version back and release its lock.
async fn finish_running(running: HashMap<u64, Running>, quiet: bool) {
    if !quiet {
        eprintln!(
            "berth: cancelling {} running action(s); the previous version keeps serving. Waiting for them to finish (up to {}s)…",
            running.len(),
            CANCEL_DEADLINE.as_secs()
        );
    }
    for r in running.values() {
        r.cancel.cancel();
    }
    let all = futures_util::future::join_all(running.into_values().map(|r| r.task));
    if tokio::time::timeout(CANCEL_DEADLINE, all).await.is_err() && !quiet {
        eprintln!(
            "berth: some actions did not finish in time; see `berth lock status` and `berth status`"
        );
    }
}

fn lock_error(e: &engine::lock::ManualError) -> String {
    match e {
        engine::lock::ManualError::Lock(engine::lock::LockError::Held(s)) => {
            format!("already {}", s.describe(Utc::now()))
        }
        other => other.to_string(),
    }
}

/// Plans and runs one action, forwarding its events to the console.
async fn start_run(
    config: Arc<Config>,
    gateway: Gateway,
    run: u64,
    action: engine::Action,
    cancel: CancellationToken,
    tx: mpsc::UnboundedSender<Msg>,
    reload: Arc<Notify>,
) {
    // Refused before anything is taken: what a plan cannot be made for,
    // and what the action lacks (preflight, as the CLI does it).
    let refuse = |stage: &str, error: String| {
        let _ = tx.send(Msg::Engine {
            run,
            event: EngineEvent::Finished {
                result: RunResult::Failed {
                    stage: stage.into(),
                    error: error.clone(),
                },
                elapsed_ms: 0,
            },
        });
        let _ = tx.send(Msg::Notice {
            text: format!("{} {}: {error}", action.verb(), action.app()),
            error: true,
        });
    };
    let plan = match off_thread_plan(&config, &action).await {
        Ok(p) => p,
        Err(e) => return refuse("plan", e),
    };
    let lacks: Vec<String> = engine::preflight::check(&config, &gateway, &plan)
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    // The app's row shows what was found now (and forgets what was fixed).
    let _ = tx.send(Msg::Preflight(
        [(plan.app.to_string(), lacks.clone())]
            .into_iter()
            .collect(),
    ));
    if !lacks.is_empty() {
        return refuse("preflight", format!("it lacks: {}", lacks.join("; ")));
    }
    let (etx, mut erx) = mpsc::unbounded_channel();
    let forward = {
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(event) = erx.recv().await {
                if tx.send(Msg::Engine { run, event }).is_err() {
                    break;
                }
            }
        })
    };
    // Lock changes are worth seeing at once, not at the next poll.
    reload.notify_one();
    let ctx = engine::RunContext::new(&config, gateway, etx, cancel);
    engine::run(ctx, &plan).await;
    let _ = forward.await;
    reload.notify_one();
}

/// A plan, made on a blocking thread: finding hooks and plugins lists
/// directories, which the console's async threads must not wait on.
async fn off_thread_plan(
    config: &Arc<Config>,
    action: &engine::Action,
) -> Result<engine::Plan, String> {
    let (config, action) = (config.clone(), action.clone());
    match tokio::task::spawn_blocking(move || engine::plan(&config, &action)).await {
        Ok(planned) => planned.map_err(|e| e.to_string()),
        Err(e) => Err(format!("planning stopped: {e}")),
    }
}

/// What a deploy of each declared app lacks, checked once at start.
async fn preflight(config: Arc<Config>, gateway: Gateway, tx: mpsc::UnboundedSender<Msg>) {
    let mut out = BTreeMap::new();
    let Ok(version) = engine::Version::new("next") else {
        return;
    };
    for app in config.fleet.apps.keys() {
        let action = engine::Action::Deploy {
            app: app.clone(),
            version: version.clone(),
            destination: None,
        };
        let lacks = match off_thread_plan(&config, &action).await {
            Ok(plan) => engine::preflight::check(&config, &gateway, &plan)
                .await
                .iter()
                .map(ToString::to_string)
                .collect(),
            Err(e) => vec![e],
        };
        out.insert(app.to_string(), lacks);
    }
    let _ = tx.send(Msg::Preflight(out));
}

/// In the console, logs go to the `L` pane, never to the terminal. A small
/// layer wakes the loop when a line arrives, so the pane redraws for new
/// lines without a timer.
fn init_logging(wake: Arc<Notify>) {
    use tracing_subscriber::prelude::*;
    struct Wake(Arc<Notify>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Wake {
        fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            self.0.notify_one();
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        // berth's own debug lines are kept for the pane's level filter
        // (`+`); other crates' from info.
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,berth=debug"));
    // Not tui_logger::init_logger: it starts a thread that wakes every 10 ms.
    tui_logger::set_default_level(tui_logger::LevelFilter::Trace);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(tui_logger::TuiTracingSubscriberLayer)
        .with(Wake(wake))
        .try_init();
}
