//! Keys: what each key does on each screen, prompts and their answers,
//! the `:` command line. Actions they start go through `actions`.

use super::*;
use crate::engine::ContainerOp;
use crate::tui::keymap::{CTRL_C, Context, Context as C, Intent, Intent as I, Key};

impl Model {
    // ---- keys ------------------------------------------------------------

    /// The contexts this screen reads keys in, most specific first.
    pub fn key_stack(&self) -> Vec<Context> {
        match &self.screen {
            Screen::Main => match self.tab {
                Tab::Containers => vec![C::Anywhere, C::Container, C::App, C::Lists],
                Tab::Runs => vec![C::Anywhere, C::Runs, C::App, C::Lists],
                _ => vec![C::Anywhere, C::App, C::Lists],
            },
            Screen::App { .. } => vec![C::Anywhere, C::AppScreen, C::App],
            Screen::Container { .. } if self.inspect_shown => vec![
                C::Anywhere,
                C::ContainerScreen,
                C::Container,
                C::Inspect,
                C::Log,
            ],
            Screen::Container { .. } => {
                vec![C::Anywhere, C::ContainerScreen, C::Container, C::Log]
            }
            Screen::AppLog { .. } => vec![C::Anywhere, C::Other, C::Log],
            Screen::Host { .. } => vec![C::Anywhere, C::Other],
            Screen::Run(_) => vec![C::Anywhere, C::Run],
        }
    }

    pub(super) fn key(&mut self, key: KeyEvent) {
        if Key::of(key) == CTRL_C && self.input == Input::None {
            return self.ask_quit();
        }
        let key = if self.input == Input::None {
            key
        } else {
            match typed(key) {
                Some(key) => key,
                None => return,
            }
        };
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
        if let Some(intent) = self.keymap.intent(&self.key_stack(), key) {
            self.intent(intent);
        }
    }

    /// Does what a key (or a `:` command) asks for, on the screen shown.
    pub(super) fn intent(&mut self, intent: Intent) {
        // What means the same everywhere.
        match intent {
            I::Quit => return self.ask_quit(),
            I::Help => {
                self.help = true;
                return;
            }
            I::CommandLine => {
                self.input = Input::Command(String::new());
                return;
            }
            I::LogPane => {
                self.show_log = !self.show_log;
                return;
            }
            I::Mouse => {
                self.mouse = !self.mouse;
                self.effects.push(Effect::Mouse(self.mouse));
                self.say(
                    if self.mouse {
                        "mouse on: click tabs, rows and stages; the wheel scrolls (M gives it back to the terminal)"
                    } else {
                        "mouse off: the terminal selects text again (M takes it)"
                    },
                    false,
                );
                return;
            }
            I::LogLevelUp | I::LogLevelDown => {
                if self.show_log {
                    self.log_level = log_level_step(self.log_level, intent == I::LogLevelUp);
                }
                return;
            }
            I::View(n) => {
                self.tab = Tab::nth(usize::from(n).saturating_sub(1)).unwrap_or(self.tab);
                if self.screen != Screen::Main {
                    self.screen = Screen::Main;
                    self.logs = None;
                }
                return;
            }
            _ => {}
        }
        match self.screen.clone() {
            Screen::Main => self.main_intent(intent),
            Screen::Run(r) => self.run_intent(intent, r),
            Screen::Container { .. } => self.container_intent(intent),
            Screen::App { app, .. } => match intent {
                I::Back => self.screen = Screen::Main,
                // Its runs: the Runs view, narrowed to this app.
                I::Open => {
                    self.screen = Screen::Main;
                    self.tab = Tab::Runs;
                    *self.filters.of_mut(Tab::Runs) =
                        RowFilter::new(&format!("^\\S+ {}\\b", regex::escape(&app)));
                    self.refilter(Tab::Runs);
                }
                other => self.app_intent(other),
            },
            Screen::AppLog { .. } => self.app_log_intent(intent),
            Screen::Host { .. } => {
                if intent == I::Back {
                    self.screen = Screen::Main;
                }
            }
        }
    }

    /// What the selected app's keys ask for, wherever an app is selected.
    fn app_intent(&mut self, intent: Intent) {
        match intent {
            I::Deploy => self.start_deploy(None, None),
            I::Restart => self.start_restart(None, None),
            I::Rollback => self.start_rollback(None, None),
            I::Destroy => self.start_destroy(None),
            I::Lock => self.start_lock(None, None),
            I::Unlock => self.start_unlock(None),
            I::Shell => self.start_shell(),
            I::AppLogs => self.open_app_log(),
            _ => {}
        }
    }

    /// What the selected container's keys ask for.
    fn container_op(&mut self, intent: Intent) -> bool {
        let op = match intent {
            I::ContainerRestart => ContainerOp::Restart,
            I::ContainerStop => ContainerOp::Stop,
            I::ContainerStart => ContainerOp::Start,
            I::ContainerRemove => ContainerOp::Remove,
            // A shell: k9s's `s`, oxker's `e`, lazydocker's `E`.
            I::Shell => {
                self.start_shell();
                return true;
            }
            _ => return false,
        };
        self.start_container_op(op);
        true
    }

    /// The container screen: details above, its log below.
    pub(super) fn container_intent(&mut self, intent: Intent) {
        if self.container_op(intent) {
            return;
        }
        if intent == I::Inspect {
            self.inspect_shown = !self.inspect_shown;
            self.inspect_scroll = 0;
            return;
        }
        if self.inspect_shown {
            let (at, most) = (
                self.inspect_scroll.min(self.inspect_most.get()),
                self.inspect_most.get(),
            );
            let to = match intent {
                I::Down => Some((at + 1).min(most)),
                I::Up => Some(at.saturating_sub(1)),
                I::PageDown => Some((at + 10).min(most)),
                I::PageUp => Some(at.saturating_sub(10)),
                I::Top => Some(0),
                I::Bottom => Some(most),
                _ => None,
            };
            if let Some(to) = to {
                self.inspect_scroll = to;
                return;
            }
        }
        if !self.log_intent(intent) && intent == I::Back {
            self.screen = Screen::Main;
            self.logs = None;
        }
    }

    /// An app's merged log: the log keys; Esc back where it was opened.
    pub(super) fn app_log_intent(&mut self, intent: Intent) {
        if !self.log_intent(intent) && intent == I::Back {
            self.screen = self.log_back.take().unwrap_or(Screen::Main);
            self.logs = None;
        }
    }

    /// `o` on an app (the Apps view, the app screen): its running
    /// containers' logs across hosts, merged by time.
    pub(super) fn open_app_log(&mut self) {
        let Some((app, destination, source)) = self.app_in_view() else {
            return self.say("logs: select an app first", true);
        };
        if source != Source::Berth || !self.config.fleet.apps.keys().any(|a| a.as_str() == app) {
            return self.say(
                format!("logs: {app} is not declared in {}; its containers' logs are on their screens (3, Enter)", self.config.path.display()),
                true,
            );
        }
        let of = crate::tui::logs::LogOf::App {
            app: app.clone(),
            destination: destination.clone(),
        };
        self.logs = Some(LogView::of(of));
        self.log_back = Some(self.screen.clone());
        self.screen = Screen::AppLog { app, destination };
    }

    /// The keys of a log (a container's, an app's); false when `intent`
    /// is not one of them. Back clears a search before it leaves.
    fn log_intent(&mut self, intent: Intent) -> bool {
        let Some(v) = self.logs.as_mut() else {
            return false;
        };
        match intent {
            I::Back if v.search.is_some() => v.search = None,
            I::Down => v.scroll(1),
            I::Up => v.scroll(-1),
            I::PageDown => v.page(1),
            I::PageUp => v.page(-1),
            I::Top => v.top(),
            I::Bottom => v.follow_end(),
            I::Pause => v.toggle_pause(),
            I::Wrap => v.wrap = !v.wrap,
            I::Older => {
                if !v.next_match(false) {
                    self.say("no older match", false)
                }
            }
            I::Newer => {
                if !v.next_match(true) {
                    self.say("no newer match", false)
                }
            }
            I::Search => {
                let current = v
                    .search
                    .as_ref()
                    .map(|r| r.as_str().trim_start_matches("(?i)").to_string())
                    .unwrap_or_default();
                self.input = Input::Search(current);
            }
            _ => return false,
        }
        true
    }

    pub(super) fn search_key(&mut self, key: KeyEvent, mut text: String) {
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

    pub(super) fn main_intent(&mut self, intent: Intent) {
        let tab = self.tab;
        let n = self.visible.of(tab).len();
        let sel = self.selected.of_mut(tab);
        let page = 10;
        match intent {
            I::NextView => self.tab = tab.next(),
            I::PrevView => self.tab = tab.prev(),
            I::Down => *sel = (*sel + 1).min(n.saturating_sub(1)),
            I::Up => *sel = sel.saturating_sub(1),
            I::PageDown => *sel = (*sel + page).min(n.saturating_sub(1)),
            I::PageUp => *sel = sel.saturating_sub(page),
            I::Top => *sel = 0,
            I::Bottom => *sel = n.saturating_sub(1),
            // A new filter, as in k9s (Esc clears the one in force).
            I::Filter => self.input = Input::Filter(String::new()),
            I::Back => {
                if self.filters.of_mut(tab).take().is_some() {
                    self.refilter(tab);
                }
                self.notice = None;
            }
            I::Open => self.open(),
            I::CancelRun => {
                if let Some(RunRef::Live(id)) = self.selected_run() {
                    self.cancel(id);
                }
            }
            // On the Containers view, r/t/u/X act on that one container
            // (the role's restart is on the Apps view and app screen).
            other if tab == Tab::Containers && self.container_op(other) => {}
            other => self.app_intent(other),
        }
    }

    pub(super) fn run_intent(&mut self, intent: Intent, r: RunRef) {
        let stages = self.run(&r).map_or(0, |v| v.stages.len());
        let c = &mut self.cursor;
        match intent {
            I::Back => self.screen = Screen::Main,
            I::Down => {
                c.stage = (c.stage + 1).min(stages.saturating_sub(1));
                c.follow = false;
                c.scroll = 0;
            }
            I::Up => {
                c.stage = c.stage.saturating_sub(1);
                c.follow = false;
                c.scroll = 0;
            }
            I::Wrap => c.wrap = !c.wrap,
            I::Follow => {
                c.follow = true;
                if let Some(s) = self.run(&r).and_then(|v| v.current_stage()) {
                    self.cursor.stage = s;
                }
            }
            I::PageUp => c.scroll += 10,
            I::PageDown => c.scroll = c.scroll.saturating_sub(10),
            I::Bottom => c.scroll = 0,
            I::Top => c.scroll = usize::MAX / 2,
            I::CancelRun => {
                if let RunRef::Live(id) = r {
                    self.cancel(id);
                }
            }
            I::Deploy | I::Restart | I::Rollback => self.app_intent(intent),
            _ => {}
        }
    }

    pub(super) fn filter_key(&mut self, key: KeyEvent, mut text: String) {
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

    pub(super) fn command(&mut self, cmd: Command) {
        let target = |s: &str| Target::parse(s);
        let result = match cmd {
            Command::View(tab) => {
                let n = Tab::ALL.iter().position(|t| *t == tab).unwrap_or(0);
                self.intent(I::View(u8::try_from(n + 1).unwrap_or(1)));
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
                self.intent(I::Help);
                Ok(())
            }
            Command::Quit => {
                self.intent(I::Quit);
                Ok(())
            }
        };
        if let Err(e) = result {
            self.say(e, true);
        }
    }

    pub(super) fn prompt_key(&mut self, key: KeyEvent, mut p: Prompt) {
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

    pub(super) fn answer(&mut self, kind: PromptKind, text: String) {
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
            PromptKind::ContainerOp { host, name, op, .. } => {
                self.effects.push(Effect::ContainerOp { host, name, op });
            }
            PromptKind::ComposeOp {
                host, project, op, ..
            } => {
                if op.removes() && text != project {
                    let shown = crate::sanitize::one_line(&text);
                    self.say(
                        format!("compose down {project} not confirmed: `{shown}` is not its name"),
                        true,
                    );
                } else {
                    self.effects.push(Effect::ComposeOp { host, project, op });
                }
            }
            PromptKind::RemoveRunning { host, name, .. } => {
                if text != name {
                    let shown = crate::sanitize::one_line(&text);
                    self.say(
                        format!("remove {name} not confirmed: `{shown}` is not its name"),
                        true,
                    );
                } else {
                    self.effects.push(Effect::ContainerOp {
                        host,
                        name,
                        op: crate::ops::container::Op::Remove,
                    });
                }
            }
            PromptKind::ForceUnlock { target, .. } => {
                self.effects.push(Effect::Unlock {
                    target,
                    force: true,
                });
            }
            PromptKind::Quit { .. } => self.quit(),
        }
    }

    pub(super) fn ask(&mut self, kind: PromptKind) {
        self.input = Input::Prompt(Prompt {
            kind,
            text: String::new(),
        });
    }

    pub(super) fn ask_quit(&mut self) {
        match self.running() {
            0 => self.quit(),
            running => self.ask(PromptKind::Quit { running }),
        }
    }

    pub(super) fn quit(&mut self) {
        self.quitting = true;
        self.effects.push(Effect::Quit);
    }

    // ---- actions ---------------------------------------------------------

    pub(super) fn open(&mut self) {
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
                self.inspect = Some((c.id.clone(), None));
                self.effects.push(Effect::Inspect {
                    host: c.host.clone(),
                    id: c.id.clone(),
                });
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
}

/// A key as a line of typed text takes it: Ctrl+J and Ctrl+M are Enter
/// (as in readline; a line feed is what Enter sends through a terminal
/// not yet in raw mode), Ctrl+C is Esc, and no other Ctrl or Alt chord
/// types a letter (`None`: ignored).
fn typed(key: KeyEvent) -> Option<KeyEvent> {
    let chord = key
        .modifiers
        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
    match key.code {
        KeyCode::Char('j' | 'm') if key.modifiers == KeyModifiers::CONTROL => {
            Some(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE))
        }
        KeyCode::Char('c') if key.modifiers == KeyModifiers::CONTROL => {
            Some(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE))
        }
        KeyCode::Char(_) if chord => None,
        _ => Some(key),
    }
}
