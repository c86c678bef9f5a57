//! The console's state and how messages change it. `update` is the only
//! place state changes; it never does I/O: what must happen outside (start
//! an action, take a lock, load a theme) is queued as an [`Effect`] for the
//! runtime. So every key and every engine event can be tested without a
//! terminal, a Docker engine or a clock.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::command::{self, Command};
use super::logs::{LogLine, LogOf, LogView};
use super::rows::{self, AppRow, ContainerRow, HostRow, LockCell, RowFilter};
use super::runs::{RunView, StageState};
use super::theme::{BUILT_IN, Palette, Theme};
use crate::config::{AppName, Config, DestinationName, RoleName};
use crate::domain::Fleet;
use crate::domain::Usage;
use crate::engine::history::Record;
use crate::engine::{Action, EngineEvent, Version};
use crate::labels::Source;

pub use super::tab::{PerTab, Tab};

mod actions;
pub mod cmdline;
mod compose;
mod derive;
mod mouse;
mod prompt;

pub use mouse::Hits;
pub use prompt::{Input, Prompt, PromptKind, ShellAt, Target};
mod keys;

/// A message: something happened.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// A click or the wheel (only while the console has the mouse).
    Mouse(crossterm::event::MouseEvent),
    /// The terminal changed size (after debouncing).
    Resize,
    Fleet(Fleet),
    Locks(BTreeMap<(String, String), LockCell>),
    /// Kamal's and Dokku's locks, keyed by tool, app and destination.
    Foreign(BTreeMap<crate::engine::foreign::ForeignKey, LockCell>),
    /// What a deploy of each app named lacks (preflight): every declared
    /// app at start, and an app again each time an action on it starts.
    Preflight(BTreeMap<String, Vec<String>>),
    /// A host's clock skew in ms (engine ahead: positive), or why unknown.
    HostClock {
        host: String,
        skew: Result<i64, String>,
    },
    /// What a host's engine uses on disk, or why unknown.
    HostDisk {
        host: String,
        disk: Result<crate::ops::DiskUse, String>,
    },
    /// Every app's history records, with the host each came from.
    History(Vec<(String, Record)>),
    Engine {
        run: u64,
        event: EngineEvent,
    },
    Theme(Result<Theme, String>),
    /// The outcome of an effect, for the status line.
    Notice {
        text: String,
        error: bool,
    },
    Tick(DateTime<Utc>),
    /// berth's own log has new lines.
    Log,
    /// New lines of the log being followed.
    LogLines {
        of: LogOf,
        lines: Vec<LogLine>,
    },
    /// The followed log stream ended (the container stopped, the host went
    /// away).
    LogEnded {
        of: LogOf,
        reason: String,
    },
    /// CPU and memory of containers on screen: (container id, usage).
    Stats(Vec<(String, Usage)>),
    /// A container's configuration (its screen asked), secrets masked.
    Inspected {
        host: String,
        id: String,
        inspect: Box<InspectRead>,
    },
}

/// A container's configuration as read: `Ok(None)` when it is gone.
pub type InspectRead = Result<Option<crate::domain::Inspect>, String>;

/// Something the runtime must do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Start {
        run: u64,
        action: Action,
    },
    Cancel {
        run: u64,
    },
    Lock {
        target: Target,
        message: String,
    },
    Unlock {
        target: Target,
        force: bool,
    },
    /// Restart, stop, start or remove a container that is not a berth
    /// app's, confirmed (it is recorded in its host's history).
    ContainerOp {
        host: String,
        name: String,
        op: crate::ops::container::Op,
    },
    /// Restart, stop, start or take down a Compose project, confirmed.
    ComposeOp {
        host: Option<String>,
        project: String,
        op: crate::ops::compose::ProjectOp,
    },
    LoadTheme(String),
    /// Measure a host's clock and disk use (its screen opened).
    HostClock(String),
    /// Read a container's configuration (its screen opened).
    Inspect {
        host: String,
        id: String,
    },
    /// Suspend the console for a shell in a container (`s`).
    Shell(ShellAt),
    /// Take the mouse, or give it back to the terminal (`M`).
    Mouse(bool),
    Quit,
}

/// Which full screen is up over the tabs.
#[derive(Clone, Debug, PartialEq)]
pub enum Screen {
    Main,
    Run(RunRef),
    Container {
        host: String,
        id: String,
    },
    /// An app's roles, containers, lock, preflight and runs.
    App {
        app: String,
        destination: String,
    },
    /// A host's engine, containers and connection.
    Host {
        host: String,
    },
    /// An app's running containers' logs, merged by time.
    AppLog {
        app: String,
        destination: String,
    },
}

/// A run in the Runs list: started here (by id) or read from history.
#[derive(Clone, Debug, PartialEq)]
pub enum RunRef {
    Live(u64),
    Past {
        host: String,
        started_at: DateTime<Utc>,
        app: String,
    },
}

/// The status line.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
    /// When it was said: a notice goes after a while (see `Notice::lasts`).
    pub at: DateTime<Utc>,
}

impl Notice {
    /// How long a notice stays: long enough to read; an error longer.
    pub fn lasts(&self) -> chrono::Duration {
        chrono::Duration::seconds(if self.error { 30 } else { 8 })
    }
}

/// The run screen's cursor: the selected stage, and whether it follows the
/// running stage.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunCursor {
    pub stage: usize,
    pub follow: bool,
    /// Lines scrolled up from the bottom of the output pane.
    pub scroll: usize,
    /// Long output lines wrap (`w`) instead of being cut at the pane's edge.
    pub wrap: bool,
}

pub struct Model {
    /// The `:` line's history and Tab cycling.
    pub cmdline: cmdline::CmdLine,
    pub config: Arc<Config>,
    pub read_only: bool,
    pub theme: Theme,
    pub palette: Palette,
    pub tab: Tab,
    pub screen: Screen,
    pub fleet: Fleet,
    pub now: DateTime<Utc>,
    pub locks: BTreeMap<(String, String), LockCell>,
    /// Kamal's and Dokku's locks, as read where those tools keep them.
    pub foreign: BTreeMap<crate::engine::foreign::ForeignKey, LockCell>,
    /// What a deploy of each declared app lacks, by app (preflight).
    pub preflight: BTreeMap<String, Vec<String>>,
    /// Each host's clock skew, measured when its screen opens.
    pub host_clock: BTreeMap<String, Result<i64, String>>,
    /// Each host's disk use, read when its screen opens.
    pub host_disk: BTreeMap<String, Result<crate::ops::DiskUse, String>>,
    /// Runs started from this console, oldest first, never reordered.
    pub live: Vec<RunView>,
    /// Runs read from the hosts' history, without this console's own.
    pub past: Vec<RunView>,
    /// `user@machine` of this console, as history records it.
    pub performer: String,
    pub input: Input,
    pub filters: PerTab<Option<RowFilter>>,
    pub selected: PerTab<usize>,
    /// First row on screen per tab; the view keeps the selection visible.
    pub offsets: PerTab<Cell<usize>>,
    /// Rows each table showed at the last draw (which rows are on screen).
    pub heights: PerTab<Cell<usize>>,
    /// The log of the container screen, while it is open.
    pub logs: Option<LogView>,
    /// Where Esc goes from an app's log (the app screen or the list).
    log_back: Option<Screen>,
    /// The container screen's inspect section: (container id, what was
    /// read; `None` while it is read), and whether it is shown instead of
    /// the log (`i`).
    pub inspect: Option<(String, Option<InspectRead>)>,
    pub inspect_shown: bool,
    /// Lines the inspect section is scrolled by, and the most it can be
    /// (the view sets that as it draws).
    pub inspect_scroll: usize,
    pub inspect_most: Cell<usize>,
    /// The latest CPU and memory of the containers on screen, by id.
    pub stats: std::collections::HashMap<String, Usage>,
    pub cursor: RunCursor,
    pub notice: Option<Notice>,
    pub help: bool,
    /// The key table, with the operator's `keys.yaml` in force.
    pub keymap: Arc<crate::tui::keymap::Keymap>,
    /// The console has the mouse (`--mouse`, `mouse: true`, `M`).
    pub mouse: bool,
    /// Where the last frame drew what a click can land on.
    pub hits: std::cell::RefCell<Hits>,
    pub show_log: bool,
    /// The least severe level the log pane shows (`+`/`-` while it is up).
    pub log_level: tui_logger::LevelFilter,
    pub quitting: bool,
    // Derived rows, recomputed when their inputs change.
    pub host_rows: Vec<HostRow>,
    /// The fleet against the config, as `berth status` reports it.
    pub report: crate::inventory::status::StatusReport,
    pub app_rows: Vec<AppRow>,
    pub container_rows: Vec<ContainerRow>,
    pub run_order: Vec<RunRef>,
    /// Per tab, the indices (into that tab's rows) the filter keeps.
    pub visible: PerTab<Vec<usize>>,
    effects: Vec<Effect>,
    next_run: u64,
    /// Inside [`Model::update_all`]: rows are rebuilt once, at its end.
    batching: bool,
    /// A message changed what the rows derive from.
    rows_stale: bool,
}

impl Model {
    pub fn new(config: Arc<Config>, theme: Theme, palette: Palette, read_only: bool) -> Model {
        let mouse = config.fleet.mouse;
        let fleet = Fleet::new(
            config
                .fleet
                .hosts
                .keys()
                .map(|h| (h.as_str(), String::new())),
        )
        .with_kamal_services(config.kamal_services());
        let report =
            crate::inventory::status::report(&config, &fleet, &Default::default(), Utc::now());
        let mut m = Model {
            cmdline: Default::default(),
            read_only: read_only || config.read_only().is_some(),
            config,
            theme,
            palette,
            tab: Tab::Apps,
            screen: Screen::Main,
            fleet,
            now: Utc::now(),
            locks: BTreeMap::new(),
            foreign: BTreeMap::new(),
            preflight: BTreeMap::new(),
            host_clock: BTreeMap::new(),
            host_disk: BTreeMap::new(),
            live: Vec::new(),
            past: Vec::new(),
            performer: crate::engine::Performer::current().to_string(),
            input: Input::None,
            filters: Default::default(),
            selected: Default::default(),
            offsets: Default::default(),
            heights: Default::default(),
            logs: None,
            log_back: None,
            inspect: None,
            inspect_shown: false,
            inspect_scroll: 0,
            inspect_most: Cell::new(0),
            stats: Default::default(),
            cursor: RunCursor::default(),
            notice: None,
            help: false,
            keymap: Default::default(),
            mouse,
            hits: Default::default(),
            show_log: false,
            log_level: tui_logger::LevelFilter::Info,
            quitting: false,
            host_rows: Vec::new(),
            report,
            app_rows: Vec::new(),
            container_rows: Vec::new(),
            run_order: Vec::new(),
            visible: Default::default(),
            effects: Vec::new(),
            next_run: 1,
            batching: false,
            rows_stale: false,
        };
        m.refresh();
        m
    }

    /// What the runtime must do now.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    pub fn running(&self) -> usize {
        self.live.iter().filter(|r| r.running()).count()
    }

    /// How often the screen's clock-dependent parts (spinners, uptimes,
    /// ages) need a redraw; `None` when nothing on screen moves by itself.
    pub fn tick_every(&self) -> Option<std::time::Duration> {
        use std::time::Duration;
        let run_on_screen = match &self.screen {
            Screen::Run(RunRef::Live(id)) => self.live_run(*id).is_some_and(|r| r.running()),
            Screen::Main => self.tab == Tab::Runs && self.running() > 0,
            _ => false,
        };
        if run_on_screen {
            Some(Duration::from_millis(250))
        } else if self.running() > 0
            || self.notice.is_some()
            || matches!(self.tab, Tab::Apps | Tab::Containers | Tab::Hosts)
        {
            Some(Duration::from_secs(1))
        } else {
            None
        }
    }

    /// Applies one message. Returns whether the screen may have changed.
    pub fn update(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Key(key) => {
                self.key(key);
                true
            }
            Msg::Mouse(ev) => self.mouse_event(ev),
            Msg::Resize => true,
            Msg::Fleet(fleet) => {
                if fleet.revision == self.fleet.revision && fleet.revision != 0 {
                    return false;
                }
                self.fleet = fleet;
                self.refresh_later();
                true
            }
            Msg::Locks(locks) => {
                if locks == self.locks {
                    return false;
                }
                self.locks = locks;
                self.refresh_later();
                true
            }
            Msg::Foreign(foreign) => {
                if foreign == self.foreign {
                    return false;
                }
                self.foreign = foreign;
                self.refresh_later();
                true
            }
            // Per app: the start-up check, then each action's own.
            Msg::Preflight(lacks) => {
                self.preflight.extend(lacks);
                self.refresh_later();
                true
            }
            Msg::HostClock { host, skew } => {
                self.host_clock.insert(host, skew);
                true
            }
            Msg::HostDisk { host, disk } => {
                self.host_disk.insert(host, disk);
                true
            }
            Msg::History(records) => {
                self.past = records
                    .iter()
                    .filter(|(_, r)| !self.live.iter().any(|l| l.same_as(r, &self.performer)))
                    .map(|(host, r)| RunView::from_history(host, r))
                    .collect();
                self.refresh_later();
                true
            }
            Msg::Engine { run, event } => {
                let finished = matches!(event, EngineEvent::Finished { .. });
                // Only a run's title (its version) and its end change any
                // derived row; output lines and stage moves are read from
                // the run when it is drawn.
                let rows_change = finished || matches!(event, EngineEvent::PlanReady { .. });
                let Some(view) = self.live.iter_mut().find(|r| r.id == Some(run)) else {
                    return false;
                };
                view.apply(event);
                if finished {
                    let text = format!(
                        "{}: {}",
                        view.title(),
                        view.result.as_ref().map_or("?", |r| r.word())
                    );
                    let error = !view.result.as_ref().is_some_and(|r| r.is_ok());
                    self.say(text, error);
                }
                let following = self.screen == Screen::Run(RunRef::Live(run)) && self.cursor.follow;
                if let Some(s) = self.live_run(run).and_then(|r| r.current_stage())
                    && following
                    && s != self.cursor.stage
                {
                    self.cursor.stage = s;
                    self.cursor.scroll = 0;
                }
                if rows_change {
                    self.refresh_later();
                }
                true
            }
            Msg::Theme(Ok(theme)) => {
                self.say(format!("theme {}", theme.name), false);
                self.theme = theme;
                true
            }
            Msg::Theme(Err(text)) => {
                self.say(text, true);
                true
            }
            Msg::Notice { text, error } => {
                self.say(text, error);
                true
            }
            Msg::Tick(now) => {
                self.now = now;
                if self
                    .notice
                    .as_ref()
                    .is_some_and(|n| now - n.at >= n.lasts())
                {
                    self.notice = None;
                }
                true
            }
            Msg::Log => self.show_log,
            Msg::LogLines { of, lines } => match &mut self.logs {
                Some(v) if v.of == of => {
                    v.push(lines);
                    true
                }
                _ => false,
            },
            Msg::LogEnded { of, reason } => match &mut self.logs {
                Some(v) if v.of == of => {
                    v.ended = Some(reason);
                    true
                }
                _ => false,
            },
            Msg::Inspected { host, id, inspect } => {
                let on_it = matches!(&self.screen, Screen::Container { host: h, id: i } if *h == host && *i == id);
                if on_it {
                    self.inspect = Some((id, Some(*inspect)));
                }
                on_it
            }
            Msg::Stats(samples) => {
                let seen = self.stats_targets();
                self.stats.extend(samples);
                // Forget what is no longer on screen, so a figure never
                // shows stale.
                self.stats.retain(|id, _| seen.iter().any(|(_, s)| s == id));
                self.screen == Screen::Main && self.tab == Tab::Containers
            }
        }
    }

    /// The log the console should follow now: the container's on its
    /// screen, the app's on its log screen.
    pub fn log_target(&self) -> Option<LogOf> {
        match &self.screen {
            Screen::Container { host, id } => Some(LogOf::Container {
                host: host.clone(),
                id: id.clone(),
            }),
            Screen::AppLog { app, destination } => Some(LogOf::App {
                app: app.clone(),
                destination: destination.clone(),
            }),
            _ => None,
        }
    }

    /// The running containers on screen in the Containers view, as (host,
    /// id): the only ones whose stats the console streams.
    pub fn stats_targets(&self) -> Vec<(String, String)> {
        if self.screen != Screen::Main || self.tab != Tab::Containers {
            return Vec::new();
        }
        let rows = &self.visible.of(Tab::Containers);
        let from = self.offsets.of(Tab::Containers).get().min(rows.len());
        let to = (from + self.heights.of(Tab::Containers).get()).min(rows.len());
        rows.get(from..to)
            .unwrap_or_default()
            .iter()
            .filter_map(|&i| self.container_rows.get(i))
            .filter(|c| c.state == crate::domain::State::Running)
            .map(|c| (c.host.clone(), c.id.clone()))
            .collect()
    }

    pub fn live_run(&self, id: u64) -> Option<&RunView> {
        self.live.iter().find(|r| r.id == Some(id))
    }

    pub fn run(&self, r: &RunRef) -> Option<&RunView> {
        match r {
            RunRef::Live(id) => self.live_run(*id),
            RunRef::Past {
                host,
                started_at,
                app,
            } => self.past.iter().find(|p| {
                p.host.as_deref() == Some(host) && p.started_at == *started_at && &p.app == app
            }),
        }
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
            at: self.now,
        });
    }

    /// The selected stage of the run screen, when the stage exists.
    pub fn cursor_stage<'a>(&self, run: &'a RunView) -> Option<&'a super::runs::StageView> {
        run.stages
            .get(self.cursor.stage.min(run.stages.len().saturating_sub(1)))
    }
}

pub fn stage_symbol(s: &StageState, now: DateTime<Utc>) -> &'static str {
    const SPIN: [&str; 4] = ["◐", "◓", "◑", "◒"];
    match s {
        StageState::Pending => "·",
        StageState::Running { .. } => SPIN
            .get((now.timestamp_subsec_millis() / 250) as usize % SPIN.len())
            .copied()
            .unwrap_or("◐"),
        StageState::Ok { .. } => "✓",
        StageState::Failed { .. } => "✗",
        StageState::Skipped { .. } => "-",
    }
}

/// One step more (`more`) or less verbose, from error to trace.
fn log_level_step(level: tui_logger::LevelFilter, more: bool) -> tui_logger::LevelFilter {
    use tui_logger::LevelFilter::*;
    const ORDER: [tui_logger::LevelFilter; 5] = [Error, Warn, Info, Debug, Trace];
    let i = ORDER.iter().position(|l| *l == level).unwrap_or(2);
    let to = if more { i + 1 } else { i.saturating_sub(1) };
    ORDER.get(to).copied().unwrap_or(level)
}

#[cfg(test)]
mod tests;
