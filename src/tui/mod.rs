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
mod effects;
pub mod feeds;
pub mod keymap;
pub mod logs;
pub mod model;
pub mod rows;
pub mod runs;
pub mod shell;
pub mod tab;
pub mod theme;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::config::Config;
use crate::engine;
use crate::inventory::WatchOptions;
use crate::ops::{self, Session};
use effects::Local;
use model::{Model, Msg};
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
    /// berth's log file, beside the log pane.
    pub log: Option<crate::ops::logfile::LogFile>,
}

/// A resize is drawn once the terminal stops changing size for this long.
const RESIZE_DEBOUNCE: Duration = Duration::from_millis(30);

/// At most this many messages are applied between two looks at the keys
/// and signals.
const BATCH: usize = 512;

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

/// The key table with the operator's `keys.yaml` (beside the config file,
/// or `BERTH_KEYS`), checked before the screen changes.
pub fn keymap_for(config: &Config) -> Result<keymap::Keymap, keymap::KeymapError> {
    let file = (!config.is_zero()).then_some(config.path.as_path());
    match keymap::path_for(file) {
        Some(path) => keymap::Keymap::load(&path),
        None => Ok(keymap::Keymap::default()),
    }
}

/// Runs the console until the operator quits or the terminal goes away.
pub fn run(config: Config, session: Session, opts: Options) -> anyhow::Result<u8> {
    let (theme, palette) = choose_theme(&config, &opts)?;
    let keys = keymap_for(&config)?;
    let log_wake = Arc::new(Notify::new());
    init_logging(log_wake.clone(), opts.log.clone());
    if let Some(log) = &opts.log {
        tracing::info!(file = %log.path.display(), "the console starts; berth's log is here");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = Arc::new(config);
    let mut model = Model::new(config, theme, palette, opts.read_only);
    model.mouse |= opts.mouse;
    model.keymap = Arc::new(keys);
    let result = runtime.block_on(console(model, session.clone(), log_wake));
    session.close();
    // Watchers and tunnels end with the runtime, not after a grace period.
    runtime.shutdown_timeout(Duration::from_millis(200));
    result
}

/// The terminal in raw mode on the alternate screen; put back on drop, on
/// panic, and on the way out after SIGHUP/SIGTERM.
struct Tty {
    /// Never dropped: ratatui's drop shows the cursor again and, when the
    /// terminal is gone (a closed SSH session), prints its failure with
    /// `eprintln!`, which panics on the dead terminal. [`restore_terminal`]
    /// shows the cursor instead, ignoring a terminal that is gone.
    terminal: std::mem::ManuallyDrop<Terminal<CrosstermBackend<std::io::Stdout>>>,
}

impl Tty {
    fn enter(mouse: bool) -> anyhow::Result<Tty> {
        let hook = std::panic::take_hook();
        // A panic anywhere (a worker task included) puts the terminal back,
        // says what happened on stderr and ends berth: never a console that
        // draws on with no one listening to its keys.
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            hook(info);
            crate::sanitize::say_on_stderr(
                "berth: the console stopped on an internal error (above); `berth lock status` and `berth doctor` show anything its actions left",
            );
            std::process::exit(101);
        }));
        take_terminal()?;
        let terminal = Terminal::new(CrosstermBackend::new(std::io::stdout()))?;
        let mut screen = Tty {
            terminal: std::mem::ManuallyDrop::new(terminal),
        };
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

impl Drop for Tty {
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

async fn console(mut model: Model, session: Session, log_wake: Arc<Notify>) -> anyhow::Result<u8> {
    use tokio::signal::unix::{SignalKind, signal};
    let config = model.config.clone();
    // The first frame from the engines' lists; inspected details follow.
    let inventory = session.inventory(
        &config,
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
    {
        let (config, session, reload) = (config.clone(), session.clone(), reload.clone());
        tokio::spawn(async move { ops::lock::watch(config, &session, wtx, reload).await });
    }
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
    {
        // What a deploy of each declared app lacks, checked once at start.
        let (config, session, tx) = (config.clone(), session.clone(), tx.clone());
        tokio::spawn(async move {
            let lacks = ops::act::lacks_of_every_app(&config, &session).await;
            let _ = tx.send(Msg::Preflight(lacks.into_iter().collect()));
        });
    }
    let mut hangup = signal(SignalKind::hangup())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let mut keys = EventStream::new();
    let mut effects = effects::Effects::new(
        config.clone(),
        session.clone(),
        tx.clone(),
        reload.clone(),
        model.palette,
    );
    let mut feeds = feeds::Feeds::new(config.clone(), session.clone(), tx.clone());
    let mut screen = Tty::enter(model.mouse)?;
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
            // Signals first, then keys: however busy the fleet, a closed
            // terminal or a `kill` is answered at the next turn.
            biased;
            _ = hangup.recv() => { gone = true; break; }
            _ = terminate.recv() => { gone = true; break; }
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
            _ = tokio::time::sleep_until(resize_at.unwrap_or_else(Instant::now)), if resize_at.is_some() => {
                resize_at = None;
                dirty |= model.update(Msg::Resize);
            }
            changed = fleet_rx.changed() => {
                if changed.is_ok() {
                    let fleet = fleet_rx.borrow_and_update().clone();
                    dirty |= model.update(Msg::Fleet(fleet));
                }
            }
            Some(msg) = rx.recv() => {
                // A burst of messages becomes one rebuild of the rows and
                // one frame; bounded, so keys and signals wait one turn at
                // most.
                let mut batch = vec![msg];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(msg) => batch.push(msg),
                        Err(_) => break,
                    }
                }
                dirty |= model.update_all(batch);
            }
            _ = tokio::time::sleep(tick.unwrap_or(Duration::ZERO)), if tick.is_some() => {
                dirty = true;
            }
            _ = log_wake.notified() => {
                dirty |= model.update(Msg::Log);
            }
        }
        for effect in model.take_effects() {
            match effects.apply(effect) {
                Local::Done => {}
                Local::Shell(at) => {
                    // The console stops reading keys: the shell has them.
                    drop(std::mem::replace(&mut keys, EventStream::new()));
                    let until = async {
                        tokio::select! {
                            _ = hangup.recv() => {}
                            _ = terminate.recv() => {}
                        }
                    };
                    let mouse = model.mouse;
                    match shell_session(&config, &session, &mut screen, at, mouse, until).await {
                        Some((text, error)) => {
                            model.update(Msg::Notice { text, error });
                        }
                        None => gone = true,
                    }
                    // Everything is drawn again, at the terminal's size now.
                    model.update(Msg::Resize);
                    dirty = true;
                }
                Local::Mouse(on) => {
                    if let Err(e) = screen.mouse(on) {
                        tracing::warn!("the mouse: {e}");
                    }
                }
            }
        }
        if model.quitting || gone {
            break;
        }
    }
    drop(screen);
    drop(feeds);
    effects.finish(gone).await;
    Ok(crate::domain::exit::EXIT_OK)
}

/// A shell in a container, the console suspended meanwhile: the terminal
/// passed through on the normal screen, then the console back, redrawn.
/// What to say of how it ended; `None`: the terminal went away.
async fn shell_session(
    config: &Config,
    session: &Session,
    screen: &mut Tty,
    at: model::ShellAt,
    mouse: bool,
    until: impl std::future::Future<Output = ()>,
) -> Option<(String, bool)> {
    use ops::shell::{Ended, Owner, Place};
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
    let opened = ops::shell::open(config, session, &place, &[], at.shell.as_deref(), tty).await;
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
                let said = crate::sanitize::for_terminal(
                    &format!(
                        "berth: `{shown}` in {} on {}; exit it to return to the console",
                        place.name, place.host
                    ),
                    false,
                );
                let _ = write!(out, "{said}\r\n");
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
        if let Err(e) =
            ops::shell::record(config, session, &owner, &place, &argv, started_at, &ended).await
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

/// In the console, logs go to the `L` pane, never to the terminal, and to
/// the log file. A small layer wakes the loop when a line arrives, so the
/// pane redraws for new lines without a timer.
fn init_logging(wake: Arc<Notify>, log: Option<crate::ops::logfile::LogFile>) {
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
    // The pane and the file each with their own filter: BERTH_LOG quiets
    // the pane, never the record kept for afterwards.
    let pane = tui_logger::TuiTracingSubscriberLayer
        .and_then(Wake(wake))
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(pane)
        .with(log.map(crate::ops::logfile::layer))
        .try_init();
}
