//! The `:` line as k9s has it: what fits the word being typed is shown as
//! it is typed (commands, then apps, an app's roles, the versions its
//! hosts hold, themes); Tab completes what all of them share, then cycles
//! through them (Shift+Tab back); Up and Down walk the lines run before.

use super::*;
use crate::tui::command::Known;

/// Lines kept for Up and Down.
const HISTORY: usize = 100;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct CmdLine {
    /// Lines run, oldest first, each once.
    pub history: Vec<String>,
    /// Where Up and Down are in `history`; `None`: at the line being
    /// typed (`draft`).
    at: Option<usize>,
    draft: String,
    /// Tab's cycle: the words before the one cycled, its candidates, and
    /// which is shown.
    cycle: Option<(String, Vec<String>, usize)>,
}

impl CmdLine {
    /// A line run: kept for Up, the walk reset.
    fn ran(&mut self, line: &str) {
        let line = line.trim();
        if !line.is_empty() {
            self.history.retain(|l| l != line);
            self.history.push(line.to_string());
            let over = self.history.len().saturating_sub(HISTORY);
            self.history.drain(..over);
        }
        self.at = None;
        self.cycle = None;
    }
}

impl Model {
    /// What the words of a `:` line can be, from what the console knows.
    pub fn known(&self) -> Known {
        let mut roles: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (app, cfg) in &self.config.fleet.apps {
            roles.insert(
                app.to_string(),
                cfg.roles.keys().map(|r| r.to_string()).collect(),
            );
        }
        let mut versions: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.app_rows.iter().filter(|r| r.source == Source::Berth) {
            let v = versions.entry(r.app.clone()).or_default();
            for version in r.versions.iter().chain(&r.retained) {
                if !v.contains(version) {
                    v.push(version.clone());
                }
            }
            roles
                .entry(r.app.clone())
                .or_insert_with(|| r.roles.iter().map(|c| c.role.clone()).collect());
        }
        Known {
            apps: rows::app_names(&self.config, &self.fleet),
            themes: BUILT_IN.iter().map(|(n, _)| n.to_string()).collect(),
            roles,
            versions,
        }
    }

    pub(super) fn command_key(&mut self, key: KeyEvent, mut text: String) {
        if !matches!(key.code, KeyCode::Tab | KeyCode::BackTab) {
            self.cmdline.cycle = None;
        }
        match key.code {
            KeyCode::Esc => self.input = Input::None,
            KeyCode::Backspace if text.is_empty() => self.input = Input::None,
            KeyCode::Backspace => {
                text.pop();
                self.input = Input::Command(text);
            }
            KeyCode::Tab | KeyCode::BackTab => {
                let back = key.code == KeyCode::BackTab;
                self.input = Input::Command(self.tab_key(text, back));
            }
            KeyCode::Up | KeyCode::Down => {
                let h = &mut self.cmdline;
                if h.at.is_none() {
                    h.draft = text.clone();
                }
                let last = h.history.len().checked_sub(1);
                h.at = match (key.code, h.at) {
                    (KeyCode::Up, None) => last,
                    (KeyCode::Up, Some(i)) => Some(i.saturating_sub(1)),
                    (_, Some(i)) if Some(i) == last => None,
                    (_, Some(i)) => Some(i + 1),
                    (_, None) => None,
                };
                let line = match h.at {
                    Some(i) => h.history.get(i).cloned().unwrap_or_default(),
                    None => h.draft.clone(),
                };
                self.input = Input::Command(line);
            }
            KeyCode::Enter => {
                self.input = Input::None;
                self.cmdline.ran(&text);
                match command::parse(&text) {
                    Ok(cmd) => self.command(cmd),
                    Err(e) => self.say(e, true),
                }
            }
            KeyCode::Char(ch) => {
                text.push(ch);
                self.cmdline.at = None;
                self.input = Input::Command(text);
            }
            _ => {}
        }
    }

    /// Tab: first what every candidate shares; when that adds nothing, the
    /// next candidate in turn (Shift+Tab: the one before).
    fn tab_key(&mut self, text: String, back: bool) -> String {
        if let Some((head, fits, i)) = &mut self.cmdline.cycle {
            let n = fits.len().max(1);
            *i = if back { (*i + n - 1) % n } else { (*i + 1) % n };
            return format!("{head}{}", fits.get(*i).cloned().unwrap_or_default());
        }
        let known = self.known();
        let completed = command::complete(&text, &known);
        if completed != text {
            return completed;
        }
        let (head, _, fits) = command::candidates(&text, &known);
        if fits.len() < 2 {
            return text;
        }
        let i = if back { fits.len() - 1 } else { 0 };
        let line = format!("{head}{}", fits.get(i).cloned().unwrap_or_default());
        self.cmdline.cycle = Some((head, fits, i));
        line
    }
}

#[cfg(test)]
mod tests;
