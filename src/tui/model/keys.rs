//! Keys: what each key does on each screen, prompts and their answers,
//! the `:` command line. Actions they start go through `actions`.

use super::*;
use crate::engine::ContainerOp;

impl Model {
    // ---- keys ------------------------------------------------------------

    pub(super) fn key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') && self.input == Input::None {
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
            KeyCode::Char('M') => {
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
                KeyCode::Char('s' | 'e' | 'E') => self.start_shell(),
                KeyCode::Char('o') => self.open_app_log(),
                _ => {}
            },
            Screen::AppLog { .. } => self.app_log_key(key),
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
    pub(super) fn container_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let op = match key.code {
            KeyCode::Char('r') => Some(ContainerOp::Restart),
            KeyCode::Char('t') => Some(ContainerOp::Stop),
            KeyCode::Char('u') if !ctrl => Some(ContainerOp::Start),
            KeyCode::Char('X') => Some(ContainerOp::Remove),
            _ => None,
        };
        if let Some(op) = op {
            return self.start_container_op(op);
        }
        // A shell: k9s's `s`, oxker's `e`, lazydocker's `E`.
        if matches!(key.code, KeyCode::Char('s' | 'e' | 'E')) {
            return self.start_shell();
        }
        if key.code == KeyCode::Char('i') {
            self.inspect_shown = !self.inspect_shown;
            self.inspect_scroll = 0;
            return;
        }
        if self.inspect_shown {
            let (at, most) = (
                self.inspect_scroll.min(self.inspect_most.get()),
                self.inspect_most.get(),
            );
            self.inspect_scroll = match key.code {
                KeyCode::Down | KeyCode::Char('j') => (at + 1).min(most),
                KeyCode::Up | KeyCode::Char('k') => at.saturating_sub(1),
                KeyCode::PageDown | KeyCode::Char(' ') => (at + 10).min(most),
                KeyCode::PageUp | KeyCode::Char('b') => at.saturating_sub(10),
                KeyCode::Home | KeyCode::Char('g') => 0,
                KeyCode::End | KeyCode::Char('G') => most,
                _ => at,
            };
            if matches!(
                key.code,
                KeyCode::Down
                    | KeyCode::Up
                    | KeyCode::PageDown
                    | KeyCode::PageUp
                    | KeyCode::Home
                    | KeyCode::End
                    | KeyCode::Char('j' | 'k' | ' ' | 'b' | 'g' | 'G')
            ) {
                return;
            }
        }
        if !self.log_key(key)
            && matches!(
                key.code,
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h')
            )
        {
            self.screen = Screen::Main;
            self.logs = None;
        }
    }

    /// An app's merged log: the log keys; Esc back where it was opened.
    pub(super) fn app_log_key(&mut self, key: KeyEvent) {
        if !self.log_key(key)
            && matches!(
                key.code,
                KeyCode::Esc | KeyCode::Backspace | KeyCode::Char('h')
            )
        {
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

    /// The keys of a log (a container's, an app's); false when `key` is
    /// not one of them.
    fn log_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let Some(v) = self.logs.as_mut() else {
            return false;
        };
        match key.code {
            KeyCode::Esc if v.search.is_some() => {
                v.search = None;
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

    pub(super) fn main_key(&mut self, key: KeyEvent) {
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
            // On the Containers view, r/t/u/X act on that one container
            // (the role's restart is on the Apps view and app screen).
            KeyCode::Char('r') if tab == Tab::Containers => {
                self.start_container_op(ContainerOp::Restart)
            }
            KeyCode::Char('t') if tab == Tab::Containers => {
                self.start_container_op(ContainerOp::Stop)
            }
            KeyCode::Char('u') if tab == Tab::Containers => {
                self.start_container_op(ContainerOp::Start)
            }
            KeyCode::Char('X') if tab == Tab::Containers => {
                self.start_container_op(ContainerOp::Remove)
            }
            KeyCode::Char('s' | 'e' | 'E') if matches!(tab, Tab::Apps | Tab::Containers) => {
                self.start_shell()
            }
            KeyCode::Char('o') if tab == Tab::Apps => self.open_app_log(),
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

    pub(super) fn run_key(&mut self, key: KeyEvent, r: RunRef) {
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

    pub(super) fn command_key(&mut self, key: KeyEvent, mut text: String) {
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

    pub(super) fn command(&mut self, cmd: Command) {
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
