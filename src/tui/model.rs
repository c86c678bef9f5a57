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
use super::logs::{LogLine, LogView};
use super::rows::{self, AppRow, ContainerRow, HostRow, LockCell, RowFilter};
use super::runs::{RunView, StageState};
use super::stats::Usage;
use super::theme::{BUILT_IN, Palette, Theme};
use crate::config::{AppName, Config, DestinationName, RoleName};
use crate::domain::Fleet;
use crate::engine::history::Record;
use crate::engine::{Action, EngineEvent, Version};
use crate::labels::Source;

pub use super::tab::{PerTab, Tab};

/// A message: something happened.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    /// The terminal changed size (after debouncing).
    Resize,
    Fleet(Fleet),
    Locks(BTreeMap<(String, String), LockCell>),
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
        disk: Result<crate::docker::DiskUse, String>,
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
        host: String,
        id: String,
        lines: Vec<LogLine>,
    },
    /// The followed log stream ended (the container stopped, the host went
    /// away).
    LogEnded {
        host: String,
        id: String,
        reason: String,
    },
    /// CPU and memory of containers on screen: (container id, usage).
    Stats(Vec<(String, Usage)>),
}

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
    LoadTheme(String),
    /// Measure a host's clock and disk use (its screen opened).
    HostClock(String),
    Quit,
}

/// An app and destination an action is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub app: AppName,
    pub destination: Option<DestinationName>,
}

impl Target {
    /// `demo` or `demo@staging`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let (app, dest) = match s.split_once('@') {
            Some((a, d)) => (a, Some(d)),
            None => (s, None),
        };
        Ok(Target {
            app: AppName::new(app)?,
            destination: dest.map(DestinationName::new).transpose()?,
        })
    }

    pub fn dest_str(&self) -> &str {
        self.destination.as_ref().map(|d| d.as_str()).unwrap_or("")
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.destination {
            Some(d) => write!(f, "{}@{d}", self.app),
            None => write!(f, "{}", self.app),
        }
    }
}

/// What the keyboard is typing into.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    None,
    Filter(String),
    /// `/` in a container's log.
    Search(String),
    Command(String),
    Prompt(Prompt),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PromptKind {
    DeployVersion(Target),
    /// The app's name must be typed.
    Destroy(Target),
    LockMessage(Target),
    /// y/N before an action that touches running containers.
    Confirm {
        question: String,
        action: Action,
    },
    ForceUnlock {
        target: Target,
        holder: String,
    },
    Quit {
        running: usize,
    },
}

impl PromptKind {
    /// Answered with one key (y or anything else), not a line of text.
    pub fn yes_no(&self) -> bool {
        matches!(
            self,
            PromptKind::Confirm { .. } | PromptKind::ForceUnlock { .. } | PromptKind::Quit { .. }
        )
    }
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
    pub config: Arc<Config>,
    pub read_only: bool,
    pub theme: Theme,
    pub palette: Palette,
    pub tab: Tab,
    pub screen: Screen,
    pub fleet: Fleet,
    pub now: DateTime<Utc>,
    pub locks: BTreeMap<(String, String), LockCell>,
    /// What a deploy of each declared app lacks, by app (preflight).
    pub preflight: BTreeMap<String, Vec<String>>,
    /// Each host's clock skew, measured when its screen opens.
    pub host_clock: BTreeMap<String, Result<i64, String>>,
    /// Each host's disk use, read when its screen opens.
    pub host_disk: BTreeMap<String, Result<crate::docker::DiskUse, String>>,
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
    /// The latest CPU and memory of the containers on screen, by id.
    pub stats: std::collections::HashMap<String, Usage>,
    pub cursor: RunCursor,
    pub notice: Option<Notice>,
    pub help: bool,
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
}

impl Model {
    pub fn new(config: Arc<Config>, theme: Theme, palette: Palette, read_only: bool) -> Model {
        let fleet = Fleet::new(
            config
                .fleet
                .hosts
                .keys()
                .map(|h| (h.as_str(), String::new())),
        );
        let report =
            crate::inventory::status::report(&config, &fleet, &Default::default(), Utc::now());
        let mut m = Model {
            read_only: read_only || config.read_only().is_some(),
            config,
            theme,
            palette,
            tab: Tab::Apps,
            screen: Screen::Main,
            fleet,
            now: Utc::now(),
            locks: BTreeMap::new(),
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
            stats: Default::default(),
            cursor: RunCursor::default(),
            notice: None,
            help: false,
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
            Msg::Resize => true,
            Msg::Fleet(fleet) => {
                if fleet.revision == self.fleet.revision && fleet.revision != 0 {
                    return false;
                }
                self.fleet = fleet;
                self.refresh();
                true
            }
            Msg::Locks(locks) => {
                if locks == self.locks {
                    return false;
                }
                self.locks = locks;
                self.refresh();
                true
            }
            // Per app: the start-up check, then each action's own.
            Msg::Preflight(lacks) => {
                self.preflight.extend(lacks);
                self.refresh();
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
                self.refresh();
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
                    self.refresh();
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
            Msg::LogLines { host, id, lines } => match &mut self.logs {
                Some(v) if v.host == host && v.id == id => {
                    v.push(lines);
                    true
                }
                _ => false,
            },
            Msg::LogEnded { host, id, reason } => match &mut self.logs {
                Some(v) if v.host == host && v.id == id => {
                    v.ended = Some(reason);
                    true
                }
                _ => false,
            },
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

    /// The container whose log the console should follow now.
    pub fn log_target(&self) -> Option<(String, String)> {
        match &self.screen {
            Screen::Container { host, id } => Some((host.clone(), id.clone())),
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

    /// Recomputes the derived rows and what each filter keeps.
    pub fn refresh(&mut self) {
        self.host_rows = rows::hosts(&self.fleet);
        let mut all_runs: Vec<(DateTime<Utc>, RunRef)> = self
            .live
            .iter()
            .filter_map(|r| Some((r.started_at, RunRef::Live(r.id?))))
            .chain(self.past.iter().map(|r| {
                (
                    r.started_at,
                    RunRef::Past {
                        host: r.host.clone().unwrap_or_default(),
                        started_at: r.started_at,
                        app: r.app.clone(),
                    },
                )
            }))
            .collect();
        all_runs.sort_by_key(|r| std::cmp::Reverse(r.0));
        self.run_order = all_runs.into_iter().map(|(_, r)| r).collect();
        let runs: Vec<&RunView> = self.live.iter().chain(&self.past).collect();
        // One report a change: the Apps rows and the app screen read it.
        self.report = crate::inventory::status::report(
            &self.config,
            &self.fleet,
            &Default::default(),
            self.now,
        );
        self.app_rows = rows::apps(&self.config, &self.report, &self.locks, &runs);
        for row in &mut self.app_rows {
            if row.declared && row.destination.is_empty() {
                row.lacks = self.preflight.get(&row.app).cloned().unwrap_or_default();
            }
        }
        self.container_rows = rows::containers(&self.fleet, self.now);
        for tab in Tab::ALL {
            self.refilter(tab);
        }
    }

    fn refilter(&mut self, tab: Tab) {
        let f = self.filters.of(tab).as_ref();
        let keep = |text: String| f.is_none_or(|f| f.keeps(&text));
        *self.visible.of_mut(tab) = match tab {
            Tab::Hosts => kept(&self.host_rows, |r| keep(rows::host_text(r))),
            Tab::Apps => kept(&self.app_rows, |r| keep(rows::app_text(r))),
            Tab::Containers => kept(&self.container_rows, |r| keep(rows::container_text(r))),
            Tab::Runs => kept(&self.run_order, |r| {
                keep(
                    self.run(r)
                        .map_or(String::new(), |r| format!("{} {}", r.title(), r.performer)),
                )
            }),
            Tab::Events => self
                .fleet
                .events
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, e)| {
                    keep(format!(
                        "{} {} {} {}",
                        e.host,
                        e.container_name,
                        e.action,
                        e.detail.as_deref().unwrap_or("")
                    ))
                })
                .map(|(i, _)| i)
                .collect(),
        };
        let n = self.visible.of(tab).len();
        let sel = self.selected.of_mut(tab);
        *sel = (*sel).min(n.saturating_sub(1));
    }

    fn say(&mut self, text: impl Into<String>, error: bool) {
        self.notice = Some(Notice {
            text: text.into(),
            error,
            at: self.now,
        });
    }

    // ---- keys ------------------------------------------------------------

    fn key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') && self.input == Input::None {
            return self.ask_quit();
        }
        match self.input.clone() {
            Input::Filter(text) => return self.filter_key(key, text),
            Input::Search(text) => return self.search_key(key, text),
            Input::Command(text) => return self.command_key(key, text),
            Input::Prompt(p) => return self.prompt_key(key, p),
            Input::None => {}
        }
        if self.help {
            // Any key closes the help; it never triggers an action.
            self.help = false;
            return;
        }
        // Keys that mean the same everywhere.
        match key.code {
            KeyCode::Char('q') => return self.ask_quit(),
            KeyCode::Char('?') => {
                self.help = true;
                return;
            }
            KeyCode::Char(':') => {
                self.input = Input::Command(String::new());
                return;
            }
            KeyCode::Char('L') => {
                self.show_log = !self.show_log;
                return;
            }
            KeyCode::Char('+') if self.show_log => {
                self.log_level = log_level_step(self.log_level, true);
                return;
            }
            KeyCode::Char('-') if self.show_log => {
                self.log_level = log_level_step(self.log_level, false);
                return;
            }
            _ => {}
        }
        match self.screen.clone() {
            Screen::Main => self.main_key(key),
            Screen::Run(r) => self.run_key(key, r),
            Screen::Container { .. } => self.container_key(key),
            Screen::App { app, .. } => match key.code {
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h') => {
                    self.screen = Screen::Main
                }
                // Its runs: the Runs view, narrowed to this app.
                KeyCode::Enter => {
                    self.screen = Screen::Main;
                    self.tab = Tab::Runs;
                    *self.filters.of_mut(Tab::Runs) =
                        RowFilter::new(&format!("^\\S+ {}\\b", regex::escape(&app)));
                    self.refilter(Tab::Runs);
                }
                KeyCode::Char('d') => self.start_deploy(None, None),
                KeyCode::Char('r') => self.start_restart(None, None),
                KeyCode::Char('R') => self.start_rollback(None, None),
                KeyCode::Char('D') => self.start_destroy(None),
                KeyCode::Char('l') => self.start_lock(None, None),
                KeyCode::Char('U') => self.start_unlock(None),
                _ => {}
            },
            Screen::Host { .. } => {
                if matches!(
                    key.code,
                    KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h')
                ) {
                    self.screen = Screen::Main;
                }
            }
        }
    }

    /// The container screen: details above, its log below.
    fn container_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(v) = self.logs.as_mut() else {
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('h')) {
                self.screen = Screen::Main;
            }
            return;
        };
        match key.code {
            KeyCode::Esc if v.search.is_some() => {
                v.search = None;
            }
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h') => {
                self.screen = Screen::Main;
                self.logs = None;
            }
            KeyCode::Down | KeyCode::Char('j') => v.scroll(1),
            KeyCode::Up | KeyCode::Char('k') => v.scroll(-1),
            KeyCode::PageDown | KeyCode::Char(' ') => v.page(1),
            KeyCode::Char('d') if ctrl => v.page(1),
            KeyCode::PageUp | KeyCode::Char('b') => v.page(-1),
            KeyCode::Char('u') if ctrl => v.page(-1),
            KeyCode::Home | KeyCode::Char('g') => v.top(),
            KeyCode::End | KeyCode::Char('G') => v.follow_end(),
            KeyCode::Char('p') | KeyCode::Char('f') => v.toggle_pause(),
            KeyCode::Char('w') => v.wrap = !v.wrap,
            KeyCode::Char('n') if !v.next_match(false) => self.say("no older match", false),
            KeyCode::Char('N') if !v.next_match(true) => self.say("no newer match", false),
            KeyCode::Char('/') => {
                let current = v
                    .search
                    .as_ref()
                    .map(|r| r.as_str().trim_start_matches("(?i)").to_string())
                    .unwrap_or_default();
                self.input = Input::Search(current);
            }
            _ => {}
        }
    }

    fn search_key(&mut self, key: KeyEvent, mut text: String) {
        match key.code {
            KeyCode::Esc => self.input = Input::None,
            KeyCode::Enter => {
                self.input = Input::None;
                let missed = self
                    .logs
                    .as_mut()
                    .and_then(|v| (!v.set_search(&text)).then_some(v.len()));
                if let Some(n) = missed {
                    self.say(format!("/{text}: no match in the last {n} lines"), false);
                }
            }
            KeyCode::Backspace => {
                text.pop();
                self.input = Input::Search(text);
            }
            KeyCode::Char(ch) => {
                text.push(ch);
                self.input = Input::Search(text);
            }
            _ => {}
        }
    }

    fn main_key(&mut self, key: KeyEvent) {
        let tab = self.tab;
        let n = self.visible.of(tab).len();
        let sel = self.selected.of_mut(tab);
        let page = 10;
        match key.code {
            KeyCode::Tab => self.tab = tab.next(),
            KeyCode::BackTab => self.tab = tab.prev(),
            KeyCode::Char(c @ '1'..='5') => {
                self.tab = Tab::nth(usize::from(c as u8 - b'1')).unwrap_or(tab)
            }
            KeyCode::Down | KeyCode::Char('j') => *sel = (*sel + 1).min(n.saturating_sub(1)),
            KeyCode::Up | KeyCode::Char('k') => *sel = sel.saturating_sub(1),
            KeyCode::PageDown => *sel = (*sel + page).min(n.saturating_sub(1)),
            KeyCode::PageUp => *sel = sel.saturating_sub(page),
            KeyCode::Home | KeyCode::Char('g') => *sel = 0,
            KeyCode::End | KeyCode::Char('G') => *sel = n.saturating_sub(1),
            // A new filter, as in k9s (Esc clears the one in force).
            KeyCode::Char('/') => self.input = Input::Filter(String::new()),
            KeyCode::Esc => {
                if self.filters.of_mut(tab).take().is_some() {
                    self.refilter(tab);
                }
                self.notice = None;
            }
            KeyCode::Enter => self.open(),
            KeyCode::Char('d') => self.start_deploy(None, None),
            KeyCode::Char('r') => self.start_restart(None, None),
            KeyCode::Char('R') => self.start_rollback(None, None),
            KeyCode::Char('D') => self.start_destroy(None),
            KeyCode::Char('l') => self.start_lock(None, None),
            KeyCode::Char('U') => self.start_unlock(None),
            KeyCode::Char('x') if tab == Tab::Runs => {
                if let Some(RunRef::Live(id)) = self.selected_run() {
                    self.cancel(id);
                }
            }
            _ => {}
        }
    }

    fn run_key(&mut self, key: KeyEvent, r: RunRef) {
        let stages = self.run(&r).map_or(0, |v| v.stages.len());
        let c = &mut self.cursor;
        match key.code {
            KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h') => self.screen = Screen::Main,
            KeyCode::Down | KeyCode::Char('j') => {
                c.stage = (c.stage + 1).min(stages.saturating_sub(1));
                c.follow = false;
                c.scroll = 0;
            }
            KeyCode::Up | KeyCode::Char('k') => {
                c.stage = c.stage.saturating_sub(1);
                c.follow = false;
                c.scroll = 0;
            }
            KeyCode::Char('w') => c.wrap = !c.wrap,
            KeyCode::Char('f') => {
                c.follow = true;
                if let Some(s) = self.run(&r).and_then(|v| v.current_stage()) {
                    self.cursor.stage = s;
                }
            }
            KeyCode::PageUp | KeyCode::Char('b') => c.scroll += 10,
            KeyCode::PageDown | KeyCode::Char(' ') => c.scroll = c.scroll.saturating_sub(10),
            KeyCode::Char('G') | KeyCode::End => c.scroll = 0,
            KeyCode::Char('g') | KeyCode::Home => c.scroll = usize::MAX / 2,
            KeyCode::Char('x') => {
                if let RunRef::Live(id) = r {
                    self.cancel(id);
                }
            }
            KeyCode::Char('d') => self.start_deploy(None, None),
            KeyCode::Char('r') => self.start_restart(None, None),
            KeyCode::Char('R') => self.start_rollback(None, None),
            _ => {}
        }
    }

    fn filter_key(&mut self, key: KeyEvent, mut text: String) {
        match key.code {
            KeyCode::Esc => {
                self.input = Input::None;
                *self.filters.of_mut(self.tab) = None;
            }
            KeyCode::Enter => self.input = Input::None,
            KeyCode::Backspace => {
                text.pop();
                self.input = Input::Filter(text.clone());
            }
            KeyCode::Char(ch) => {
                text.push(ch);
                self.input = Input::Filter(text.clone());
            }
            _ => return,
        }
        if self.input != Input::None || key.code == KeyCode::Esc {
            // Live: the table narrows as the operator types.
            *self.filters.of_mut(self.tab) =
                RowFilter::new(&text).filter(|_| key.code != KeyCode::Esc);
        }
        self.refilter(self.tab);
        *self.selected.of_mut(self.tab) = 0;
    }

    fn command_key(&mut self, key: KeyEvent, mut text: String) {
        match key.code {
            KeyCode::Esc => self.input = Input::None,
            KeyCode::Backspace if text.is_empty() => self.input = Input::None,
            KeyCode::Backspace => {
                text.pop();
                self.input = Input::Command(text);
            }
            KeyCode::Tab => {
                let apps = rows::app_names(&self.config, &self.fleet);
                let themes: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
                self.input = Input::Command(command::complete(&text, &apps, &themes));
            }
            KeyCode::Enter => {
                self.input = Input::None;
                match command::parse(&text) {
                    Ok(cmd) => self.command(cmd),
                    Err(e) => self.say(e, true),
                }
            }
            KeyCode::Char(ch) => {
                text.push(ch);
                self.input = Input::Command(text);
            }
            _ => {}
        }
    }

    fn command(&mut self, cmd: Command) {
        let target = |s: &str| Target::parse(s);
        let result = match cmd {
            Command::View(i) => {
                self.tab = i;
                self.screen = Screen::Main;
                self.logs = None;
                Ok(())
            }
            Command::Deploy { target: t, version } => {
                target(&t).map(|t| self.start_deploy(Some(t), version))
            }
            Command::Restart { target: t, role } => {
                target(&t).map(|t| self.start_restart(Some(t), role))
            }
            Command::Rollback { target: t, version } => {
                target(&t).map(|t| self.start_rollback(Some(t), version))
            }
            Command::Destroy { target: t } => target(&t).map(|t| self.start_destroy(Some(t))),
            Command::Lock { target: t, message } => {
                target(&t).map(|t| self.start_lock(Some(t), message))
            }
            Command::Unlock { target: t } => target(&t).map(|t| self.start_unlock(Some(t))),
            Command::Theme(name) => {
                self.effects.push(Effect::LoadTheme(name));
                Ok(())
            }
            Command::Help => {
                self.help = true;
                Ok(())
            }
            Command::Quit => {
                self.ask_quit();
                Ok(())
            }
        };
        if let Err(e) = result {
            self.say(e, true);
        }
    }

    fn prompt_key(&mut self, key: KeyEvent, mut p: Prompt) {
        if p.kind.yes_no() {
            self.input = Input::None;
            if matches!(key.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                self.answer(p.kind, String::new());
            } else {
                self.say("cancelled", false);
            }
            return;
        }
        match key.code {
            KeyCode::Esc => {
                self.input = Input::None;
                self.say("cancelled", false);
            }
            KeyCode::Enter => {
                self.input = Input::None;
                self.answer(p.kind, p.text.trim().to_string());
            }
            KeyCode::Backspace => {
                p.text.pop();
                self.input = Input::Prompt(p);
            }
            KeyCode::Char(ch) => {
                p.text.push(ch);
                self.input = Input::Prompt(p);
            }
            _ => {}
        }
    }

    fn answer(&mut self, kind: PromptKind, text: String) {
        match kind {
            PromptKind::DeployVersion(t) => match Version::new(&text) {
                Ok(version) => self.start(Action::Deploy {
                    app: t.app,
                    version,
                    destination: t.destination,
                }),
                Err(e) => self.say(format!("deploy {t}: {e}"), true),
            },
            PromptKind::Destroy(t) => {
                if text != t.app.as_str() {
                    self.say(
                        format!("destroy {t} not confirmed: `{text}` is not `{}`", t.app),
                        true,
                    );
                    return;
                }
                self.start(Action::Destroy {
                    app: t.app,
                    destination: t.destination,
                    confirm: text,
                    purge_volumes: false,
                });
            }
            PromptKind::LockMessage(target) => {
                if text.is_empty() {
                    self.say(format!("lock {target}: a message is needed (why?)"), true);
                } else {
                    self.effects.push(Effect::Lock {
                        target,
                        message: text,
                    });
                }
            }
            PromptKind::Confirm { action, .. } => self.start(action),
            PromptKind::ForceUnlock { target, .. } => {
                self.effects.push(Effect::Unlock {
                    target,
                    force: true,
                });
            }
            PromptKind::Quit { .. } => self.quit(),
        }
    }

    fn ask(&mut self, kind: PromptKind) {
        self.input = Input::Prompt(Prompt {
            kind,
            text: String::new(),
        });
    }

    fn ask_quit(&mut self) {
        match self.running() {
            0 => self.quit(),
            running => self.ask(PromptKind::Quit { running }),
        }
    }

    fn quit(&mut self) {
        self.quitting = true;
        self.effects.push(Effect::Quit);
    }

    // ---- actions ---------------------------------------------------------

    fn open(&mut self) {
        let tab = self.tab;
        let Some(&i) = self.visible.of(tab).get(*self.selected.of(tab)) else {
            return;
        };
        match tab {
            Tab::Containers => {
                let Some(c) = self.container_rows.get(i) else {
                    return;
                };
                self.logs = Some(LogView::new(&c.host, &c.id));
                self.screen = Screen::Container {
                    host: c.host.clone(),
                    id: c.id.clone(),
                };
            }
            Tab::Runs => {
                let Some(r) = self.run_order.get(i).cloned() else {
                    return;
                };
                let current = self.run(&r).and_then(|v| v.current_stage()).unwrap_or(0);
                self.cursor = RunCursor {
                    stage: current,
                    follow: true,
                    scroll: 0,
                    wrap: self.cursor.wrap,
                };
                self.screen = Screen::Run(r);
            }
            Tab::Apps => {
                let Some(r) = self.app_rows.get(i) else {
                    return;
                };
                self.screen = Screen::App {
                    app: r.app.clone(),
                    destination: r.destination.clone(),
                };
            }
            Tab::Hosts => {
                let Some(h) = self.host_rows.get(i) else {
                    return;
                };
                self.effects.push(Effect::HostClock(h.name.clone()));
                self.screen = Screen::Host {
                    host: h.name.clone(),
                };
            }
            _ => {}
        }
    }

    fn selected_run(&self) -> Option<RunRef> {
        let &i = self
            .visible
            .of(Tab::Runs)
            .get(*self.selected.of(Tab::Runs))?;
        self.run_order.get(i).cloned()
    }

    /// The app the selection is about, in any view; with a role on the
    /// Containers view.
    fn selected_target(&self) -> Result<(Target, Option<String>), String> {
        let pick = |app: &str, dest: &str, source: Source| -> Result<Target, String> {
            if source != Source::Berth {
                return Err(format!(
                    "{app} is run by {}: berth shows it but does not change it",
                    source.as_str()
                ));
            }
            Target::parse(app).map(|mut t| {
                t.destination = (!dest.is_empty())
                    .then(|| DestinationName::new(dest).ok())
                    .flatten();
                t
            })
        };
        if let Screen::Run(r) = &self.screen {
            let run = self.run(r).ok_or("that run is gone")?;
            return Ok((pick(&run.app, &run.destination, Source::Berth)?, None));
        }
        if let Screen::App { app, destination } = &self.screen {
            let source = self
                .app_rows
                .iter()
                .find(|r| &r.app == app && &r.destination == destination)
                .map_or(Source::Berth, |r| r.source);
            return Ok((pick(app, destination, source)?, None));
        }
        let tab = self.tab;
        let i = self.visible.of(tab).get(*self.selected.of(tab)).copied();
        match (tab, i) {
            (Tab::Apps, Some(i)) => {
                let r = self.app_rows.get(i).ok_or("nothing selected")?;
                Ok((pick(&r.app, &r.destination, r.source)?, None))
            }
            (Tab::Containers, Some(i)) => {
                let r = self.container_rows.get(i).ok_or("nothing selected")?;
                if r.app.is_empty() {
                    return Err(format!("{} belongs to no app", r.name));
                }
                let role = (!r.role.is_empty()).then(|| r.role.clone());
                Ok((pick(&r.app, &r.destination, r.source)?, role))
            }
            (Tab::Runs, Some(_)) => {
                let r = self.selected_run().and_then(|r| self.run(&r).cloned());
                let r = r.ok_or("that run is gone")?;
                Ok((pick(&r.app, &r.destination, Source::Berth)?, None))
            }
            _ => Err(
                "select an app first (Apps: 2, Containers: 3), or use :deploy APP VERSION".into(),
            ),
        }
    }

    /// The target given, or the selection's; `None` after saying why not.
    fn target_for(
        &mut self,
        verb: &str,
        given: Option<Target>,
    ) -> Option<(Target, Option<String>)> {
        if self.read_only {
            self.say(
                format!("read-only console: {verb} refused (started with --read-only or read_only: true)"),
                true,
            );
            return None;
        }
        let found = match given {
            Some(t) => Ok((t, None)),
            None => self.selected_target(),
        };
        match found {
            Ok((t, role)) if self.config.fleet.apps.contains_key(&t.app) => Some((t, role)),
            Ok((t, _)) => {
                self.say(
                    format!(
                        "{verb}: app `{}` is not declared in {}",
                        t.app,
                        self.config.path.display()
                    ),
                    true,
                );
                None
            }
            Err(e) => {
                self.say(format!("{verb}: {e}"), true);
                None
            }
        }
    }

    /// Why an action on `t` would stop at its lock, read from the lock
    /// the console shows: said before anything is asked.
    fn held(&self, verb: &str, t: &Target) -> Option<String> {
        let key = (t.app.to_string(), t.dest_str().to_string());
        match self.locks.get(&key) {
            Some(LockCell::Held(s)) => Some(format!(
                "{verb} {t}: {t} is {} (U releases it if it is yours)",
                s.describe(self.now)
            )),
            Some(LockCell::Broken(b)) => Some(format!("{verb} {t}: {b}")),
            _ => None,
        }
    }

    fn start_deploy(&mut self, target: Option<Target>, version: Option<String>) {
        let Some((t, _)) = self.target_for("deploy", target) else {
            return;
        };
        if let Some(why) = self.held("deploy", &t) {
            return self.say(why, true);
        }
        match version {
            Some(v) => self.answer(PromptKind::DeployVersion(t), v),
            None => self.ask(PromptKind::DeployVersion(t)),
        }
    }

    fn start_restart(&mut self, target: Option<Target>, role: Option<String>) {
        let Some((t, sel_role)) = self.target_for("restart", target) else {
            return;
        };
        if let Some(why) = self.held("restart", &t) {
            return self.say(why, true);
        }
        // From the Containers view, `r` restarts that container's role.
        let role = role
            .or(sel_role.filter(|_| self.tab == Tab::Containers && self.screen == Screen::Main));
        let role = match role.as_deref().map(RoleName::new).transpose() {
            Ok(r) => r,
            Err(e) => return self.say(format!("restart {t}: {e}"), true),
        };
        let what = role.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
        self.ask(PromptKind::Confirm {
            question: format!(
                "Restart {t}{what}, one boot group at a time through the health gate?"
            ),
            action: Action::Restart {
                app: t.app,
                role,
                destination: t.destination,
            },
        });
    }

    fn start_rollback(&mut self, target: Option<Target>, version: Option<String>) {
        let Some((t, _)) = self.target_for("rollback", target) else {
            return;
        };
        if let Some(why) = self.held("rollback", &t) {
            return self.say(why, true);
        }
        let version = match version.as_deref().map(Version::new).transpose() {
            Ok(v) => v,
            Err(e) => return self.say(format!("rollback {t}: {e}"), true),
        };
        // The version it goes to is named before anything runs: the newest
        // retained one (what the engine would pick), asked for by name.
        let row = self
            .app_rows
            .iter()
            .find(|r| r.app == t.app.as_str() && r.destination == t.dest_str());
        let version = match version {
            Some(v) => v,
            None => match row
                .and_then(|r| crate::inventory::status::rollback_version(&r.retained, &r.versions))
                .map(|v| Version::new(&v))
            {
                Some(Ok(v)) => v,
                _ => {
                    return self.say(
                        format!("rollback {t}: no retained version to go back to"),
                        true,
                    );
                }
            },
        };
        let now = row
            .filter(|r| !r.versions.is_empty())
            .map(|r| format!(" ({} runs now)", r.versions.join(",")))
            .unwrap_or_default();
        let version = Some(version);
        let to = version
            .as_ref()
            .map(|v| format!(" to {v}"))
            .unwrap_or_default();
        self.ask(PromptKind::Confirm {
            question: format!("Roll {t} back{to}{now}?"),
            action: Action::Rollback {
                app: t.app,
                version,
                destination: t.destination,
            },
        });
    }

    fn start_destroy(&mut self, target: Option<Target>) {
        if let Some((t, _)) = self.target_for("destroy", target) {
            if let Some(why) = self.held("destroy", &t) {
                return self.say(why, true);
            }
            self.ask(PromptKind::Destroy(t));
        }
    }

    fn start_lock(&mut self, target: Option<Target>, message: Option<String>) {
        let Some((t, _)) = self.target_for("lock", target) else {
            return;
        };
        match message {
            Some(m) => self.answer(PromptKind::LockMessage(t), m),
            None => self.ask(PromptKind::LockMessage(t)),
        }
    }

    fn start_unlock(&mut self, target: Option<Target>) {
        let Some((t, _)) = self.target_for("unlock", target) else {
            return;
        };
        let key = (t.app.to_string(), t.dest_str().to_string());
        match self.locks.get(&key) {
            Some(LockCell::Held(s)) => {
                let mine = format!("{}@{}", s.holder.user, s.holder.machine) == self.performer;
                if mine && (s.holder.manual || s.stale) {
                    self.effects.push(Effect::Unlock {
                        target: t,
                        force: false,
                    });
                } else {
                    let holder = s.describe(self.now);
                    self.ask(PromptKind::ForceUnlock { target: t, holder });
                }
            }
            Some(LockCell::Broken(b)) => {
                let holder = b.to_string();
                self.ask(PromptKind::ForceUnlock { target: t, holder });
            }
            _ => self.say(format!("{t} is not locked"), false),
        }
    }

    /// Starts an action: a new run, shown at once.
    fn start(&mut self, action: Action) {
        let id = self.next_run;
        self.next_run += 1;
        let dest = action
            .destination()
            .map(|d| d.to_string())
            .unwrap_or_default();
        self.live.push(RunView::started(
            id,
            action.verb(),
            (action.app().as_str(), &dest),
            self.performer.clone(),
            self.now,
        ));
        self.effects.push(Effect::Start { run: id, action });
        self.screen = Screen::Run(RunRef::Live(id));
        self.cursor = RunCursor {
            stage: 0,
            follow: true,
            scroll: 0,
            wrap: self.cursor.wrap,
        };
        self.refresh();
    }

    fn cancel(&mut self, id: u64) {
        if self.live_run(id).is_some_and(|r| r.running()) {
            self.effects.push(Effect::Cancel { run: id });
            self.say(
                "cancelling at the next safe point; the previous version keeps serving",
                false,
            );
        }
    }

    /// The selected stage of the run screen, when the stage exists.
    pub fn cursor_stage<'a>(&self, run: &'a RunView) -> Option<&'a super::runs::StageView> {
        run.stages
            .get(self.cursor.stage.min(run.stages.len().saturating_sub(1)))
    }
}

/// The indices of the `rows` that `keep` keeps.
fn kept<T>(rows: &[T], keep: impl Fn(&T) -> bool) -> Vec<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| keep(r))
        .map(|(i, _)| i)
        .collect()
}

/// A stage state as one symbol; the same in colour and monochrome.
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
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::tui::view::testing::*;

    fn type_text(m: &mut Model, text: &str) {
        for c in text.chars() {
            m.update(key(c));
        }
    }

    fn prompt_question(m: &Model) -> String {
        match &m.input {
            Input::Prompt(p) => match &p.kind {
                PromptKind::Confirm { question, .. } => question.clone(),
                other => format!("{other:?}"),
            },
            other => format!("no prompt: {other:?}"),
        }
    }

    #[test]
    fn rollback_names_the_version_it_will_start_and_asks_for_that_one() {
        let mut m = loaded();
        m.update(key('2'));
        m.update(key('R'));
        let q = prompt_question(&m);
        assert!(q.contains("back to v6") && q.contains("v7 runs now"), "{q}");
        m.update(key('y'));
        let effects = m.take_effects();
        assert!(
            matches!(&effects[..], [Effect::Start { action: Action::Rollback { version: Some(v), .. }, .. }] if v.as_str() == "v6"),
            "{effects:?}"
        );
        // Nothing retained: said at once, nothing asked.
        m.update(code(KeyCode::Esc));
        m.update(key('j'));
        m.update(key('R'));
        assert_eq!(m.input, Input::None);
        let n = m.notice.clone().unwrap();
        assert!(n.error && n.text.contains("no retained version"), "{n:?}");
    }

    #[test]
    fn an_action_on_a_locked_app_is_refused_before_anything_is_asked() {
        let mut m = loaded();
        let mut locks = m.locks.clone();
        let holder = crate::engine::lock::holder_for(
            &crate::engine::Performer {
                user: "bo".into(),
                machine: "ci-7".into(),
            },
            "deploy",
            Some("v8".into()),
            None,
            false,
        );
        locks.insert(
            ("demo".into(), String::new()),
            LockCell::Held(Box::new(crate::engine::lock::Status {
                heartbeat_at: holder.acquired_at,
                holder,
                stale: false,
                skew_secs: None,
                nested: vec![],
                clear_with: "berth lock release demo --force".into(),
            })),
        );
        m.update(Msg::Locks(locks));
        m.update(key('2'));
        for k in ['d', 'r', 'R', 'D'] {
            m.update(key(k));
            assert_eq!(m.input, Input::None, "{k}: nothing asked");
            let n = m.notice.clone().unwrap();
            assert!(
                n.error && n.text.contains("is locked by bo@ci-7"),
                "{k}: {n:?}"
            );
        }
        assert!(m.take_effects().is_empty());
    }

    #[test]
    fn notices_go_after_a_while_errors_later() {
        let mut m = loaded();
        m.say("released demo", false);
        assert!(
            m.tick_every().is_some(),
            "a notice on screen needs the clock"
        );
        m.update(Msg::Tick(now() + chrono::Duration::seconds(7)));
        assert!(m.notice.is_some());
        m.update(Msg::Tick(now() + chrono::Duration::seconds(9)));
        assert!(m.notice.is_none());
        m.say("unlock demo: refused", true);
        m.update(Msg::Tick(now() + chrono::Duration::seconds(25)));
        assert!(m.notice.is_some(), "an error stays longer");
        m.update(Msg::Tick(now() + chrono::Duration::seconds(40)));
        assert!(m.notice.is_none());
    }

    #[test]
    fn slash_starts_a_new_filter() {
        let mut m = loaded();
        m.update(key('3'));
        m.update(key('/'));
        type_text(&mut m, "web");
        m.update(code(KeyCode::Enter));
        m.update(key('/'));
        assert_eq!(m.input, Input::Filter(String::new()));
    }

    #[test]
    fn destroy_runs_only_when_the_exact_name_is_typed() {
        let mut m = loaded();
        m.update(key('2'));
        m.update(key('D'));
        type_text(&mut m, "dem");
        m.update(code(KeyCode::Enter));
        assert!(m.take_effects().is_empty(), "a wrong name destroys nothing");
        assert!(m.notice.as_ref().is_some_and(|n| n.error));
        m.update(key('D'));
        type_text(&mut m, "demo");
        m.update(code(KeyCode::Enter));
        let effects = m.take_effects();
        assert!(
            matches!(&effects[..], [Effect::Start { action: Action::Destroy { confirm, .. }, .. }] if confirm == "demo"),
            "{effects:?}"
        );
    }

    #[test]
    fn restart_asks_first_and_any_other_key_cancels() {
        let mut m = loaded();
        m.update(key('2'));
        m.update(key('r'));
        m.update(key('n'));
        assert!(m.take_effects().is_empty());
        m.update(key('r'));
        m.update(key('y'));
        assert!(matches!(
            &m.take_effects()[..],
            [Effect::Start {
                action: Action::Restart { role: None, .. },
                ..
            }]
        ));
    }

    #[test]
    fn restart_from_containers_takes_the_containers_role() {
        let mut m = loaded();
        m.update(key('3'));
        m.update(key('/'));
        type_text(&mut m, "worker");
        m.update(code(KeyCode::Enter));
        m.update(key('r'));
        m.update(key('y'));
        let effects = m.take_effects();
        assert!(
            matches!(&effects[..], [Effect::Start { action: Action::Restart { role: Some(r), .. }, .. }] if r.as_str() == "worker"),
            "{effects:?}"
        );
    }

    #[test]
    fn kamal_and_stray_containers_are_not_berths_to_change() {
        let mut m = loaded();
        m.update(key('3'));
        m.update(key('/'));
        type_text(&mut m, "stray");
        m.update(code(KeyCode::Enter));
        m.update(key('d'));
        assert!(m.take_effects().is_empty());
        assert_eq!(m.input, Input::None, "no version prompt");
        assert!(
            m.notice
                .as_ref()
                .unwrap()
                .text
                .contains("belongs to no app")
        );
    }

    #[test]
    fn quit_asks_while_an_action_runs_and_cancels_nothing_on_no() {
        let mut m = loaded();
        let (run, _) = deploy_run(&mut m);
        m.update(code(KeyCode::Esc));
        m.update(key('q'));
        assert!(!m.quitting);
        assert!(matches!(&m.input, Input::Prompt(p) if p.kind == PromptKind::Quit { running: 1 }));
        m.update(key('n'));
        assert!(!m.quitting);
        m.update(Msg::Engine {
            run,
            event: EngineEvent::Finished {
                result: crate::engine::RunResult::Ok,
                elapsed_ms: 10,
            },
        });
        m.update(key('q'));
        assert!(m.quitting, "nothing runs: q quits at once");
        assert_eq!(m.take_effects(), vec![Effect::Quit]);
    }

    #[test]
    fn commands_act_like_keys_and_bad_ones_say_why() {
        let mut m = loaded();
        m.update(key(':'));
        type_text(&mut m, "deploy demo v9");
        m.update(code(KeyCode::Enter));
        assert!(matches!(
            &m.take_effects()[..],
            [Effect::Start { action: Action::Deploy { version, .. }, .. }] if version.as_str() == "v9"
        ));
        m.update(key(':'));
        type_text(&mut m, "deploy nope v1");
        m.update(code(KeyCode::Enter));
        assert!(m.take_effects().is_empty());
        assert!(m.notice.as_ref().unwrap().text.contains("not declared"));
        m.update(key(':'));
        type_text(&mut m, "lock demo \"db migration\"");
        m.update(code(KeyCode::Enter));
        assert_eq!(
            m.take_effects(),
            vec![Effect::Lock {
                target: Target::parse("demo").unwrap(),
                message: "db migration".into()
            }]
        );
    }

    #[test]
    fn idle_models_do_not_tick_and_unchanged_fleets_do_not_redraw() {
        let mut m = loaded();
        m.update(key('5'));
        assert_eq!(m.tick_every(), None, "the Events view has nothing moving");
        let same = m.fleet.clone();
        assert!(!m.update(Msg::Fleet(same)), "same revision: no redraw");
        assert!(!m.update(Msg::Log), "log pane hidden: no redraw");
        assert!(!m.update(Msg::Locks(m.locks.clone())));
    }
}
