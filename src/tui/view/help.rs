//! `?`: every key, in one box. The README's key table says the same.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::super::theme::Theme;

/// (key, what it does); an empty key starts a section.
pub const KEYS: &[(&str, &str)] = &[
    ("", "Move"),
    ("j k ↑ ↓", "select"),
    ("g G PgUp/Dn", "top, bottom, page"),
    ("Tab 1-5", "switch view"),
    ("Enter", "open"),
    ("Esc", "back, clear filter"),
    ("/", "filter (regex, !inverts)"),
    (":", "command (Tab completes)"),
    ("", "Anywhere"),
    ("L + -  M", "log pane, level; mouse"),
    ("?", "this help"),
    ("q Ctrl-C", "quit (asks if busy)"),
    ("", "Selected app"),
    ("d", "deploy (asks version)"),
    ("r  R", "restart; rollback"),
    ("D", "destroy (type name)"),
    ("l  U", "lock (asks why), unlock"),
    ("s  o", "shell; merged logs"),
    ("", "Selected container"),
    ("s e E", "shell in it"),
    ("r t u", "restart, stop, start"),
    ("X", "remove (asks y/N)"),
    ("", "Run screen"),
    ("j k", "select a stage"),
    ("PgUp/Dn g G", "scroll its output"),
    ("f", "follow running stage"),
    ("w", "wrap long output lines"),
    ("x", "cancel (old stays up)"),
    ("", "Container log"),
    ("j k PgUp/Dn", "scroll (pauses)"),
    ("g G", "top; end and follow"),
    ("p", "pause, resume"),
    ("/ n N", "search, older, newer"),
    ("w", "wrap long lines"),
    ("i", "inspect (secrets masked)"),
];

/// Two columns, so every key fits at 80x24.
pub fn draw(frame: &mut Frame, body: Rect, t: &Theme) {
    let half = KEYS.len().div_ceil(2);
    // Split at a section start so no section straddles the columns.
    let split = (half..KEYS.len())
        .find(|&i| KEYS.get(i).is_some_and(|k| k.0.is_empty()))
        .unwrap_or(half);
    let column = |keys: &[(&str, &'static str)]| -> Vec<Line<'static>> {
        keys.iter()
            .map(|(k, what)| {
                if k.is_empty() {
                    Line::from(Span::styled(*what, t.header))
                } else {
                    Line::from(vec![
                        Span::styled(format!(" {k:<11} "), t.accent),
                        Span::styled(*what, t.base),
                    ])
                }
            })
            .collect()
    };
    let (left_keys, right_keys) = KEYS.split_at(split.min(KEYS.len()));
    let (left, right) = (column(left_keys), column(right_keys));
    let width = 76.min(body.width);
    let height = (left.len().max(right.len()) as u16 + 2).min(body.height);
    let area = Rect {
        x: body.x + (body.width - width) / 2,
        y: body.y + (body.height - height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_style(t.accent)
        .title(Span::styled(" keys (any key closes) ", t.title))
        .style(t.base);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [l, r] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(inner);
    frame.render_widget(Paragraph::new(left), l);
    frame.render_widget(Paragraph::new(right), r);
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn help_lists_every_key_at_80x24() {
        let m = after("?");
        let screen = render(&m, 80, 24);
        for (k, what) in super::KEYS {
            assert!(screen.contains(what), "help misses {k}: {what}\n{screen}");
        }
        insta::assert_snapshot!(screen);
    }
}
