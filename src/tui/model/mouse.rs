//! The mouse, when the console has it: clicks on tabs, rows and stages,
//! and the wheel.

use super::*;

/// Where the last frame drew what a click can land on (the view writes
/// it as it draws; the mouse reads it).
#[derive(Debug, Default)]
pub struct Hits {
    /// The view tabs in the header.
    pub tabs: Vec<(ratatui::layout::Rect, Tab)>,
    /// A table's rows below its header: its tab, and the position (in the
    /// visible rows) of the first row drawn.
    pub rows: Option<(ratatui::layout::Rect, Tab, usize)>,
    /// The run screen's stage list, and the index of its first line.
    pub stages: Option<(ratatui::layout::Rect, usize)>,
}

impl Hits {
    pub fn clear(&mut self) {
        *self = Hits::default();
    }
}

pub(super) fn inside(r: ratatui::layout::Rect, column: u16, row: u16) -> bool {
    column >= r.x && column < r.x + r.width && row >= r.y && row < r.y + r.height
}

impl Model {
    /// A click selects a tab, a row (a second click on it opens it) or a
    /// stage; the wheel moves the selection, or scrolls a log or a stage's
    /// output. Nothing while a prompt or the help is up.
    pub(super) fn mouse_event(&mut self, ev: crossterm::event::MouseEvent) -> bool {
        use crossterm::event::{MouseButton, MouseEventKind};
        if !self.mouse || self.input != Input::None || self.help {
            return false;
        }
        let (column, row) = (ev.column, ev.row);
        match ev.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let hits = self.hits.borrow();
                if let Some(&(_, tab)) = hits.tabs.iter().find(|(r, _)| inside(*r, column, row)) {
                    drop(hits);
                    self.tab = tab;
                    self.screen = Screen::Main;
                    self.logs = None;
                    return true;
                }
                if let Some((r, tab, first)) = hits.rows.filter(|(r, ..)| inside(*r, column, row)) {
                    drop(hits);
                    let pos = first + usize::from(row - r.y);
                    if pos >= self.visible.of(tab).len() {
                        return false;
                    }
                    if *self.selected.of(tab) == pos {
                        self.open();
                    } else {
                        *self.selected.of_mut(tab) = pos;
                    }
                    return true;
                }
                if let Some((r, first)) = hits.stages.filter(|(r, _)| inside(*r, column, row)) {
                    drop(hits);
                    self.cursor.stage = first + usize::from(row - r.y);
                    self.cursor.follow = false;
                    self.cursor.scroll = 0;
                    return true;
                }
                false
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let down = ev.kind == MouseEventKind::ScrollDown;
                match &self.screen {
                    Screen::Container { .. } if self.inspect_shown => {
                        let most = self.inspect_most.get();
                        let at = self.inspect_scroll.min(most);
                        self.inspect_scroll = if down {
                            (at + 3).min(most)
                        } else {
                            at.saturating_sub(3)
                        };
                    }
                    Screen::Container { .. } | Screen::AppLog { .. } => {
                        if let Some(v) = self.logs.as_mut() {
                            v.scroll(if down { 3 } else { -3 });
                        }
                    }
                    Screen::Run(_) => {
                        let c = &mut self.cursor;
                        c.scroll = if down {
                            c.scroll.saturating_sub(3)
                        } else {
                            c.scroll + 3
                        };
                    }
                    Screen::Main => {
                        let tab = self.tab;
                        let n = self.visible.of(tab).len();
                        let sel = self.selected.of_mut(tab);
                        *sel = if down {
                            (*sel + 1).min(n.saturating_sub(1))
                        } else {
                            sel.saturating_sub(1)
                        };
                    }
                    Screen::App { .. } | Screen::Host { .. } => return false,
                }
                true
            }
            _ => false,
        }
    }
}
