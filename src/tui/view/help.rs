//! `?`: the keys of the screen shown, made from the key table
//! ([`crate::tui::keymap`]) with the operator's rebindings, so the help can
//! never say a key the console does not read.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::super::keymap::{Intent, Keymap, TABLE};
use super::super::model::Model;
use super::super::theme::Theme;

/// The longest help text: with a key column of 10, two columns of them
/// fit in the 76-column box, so every screen's help fits at 80x24.
#[cfg(test)]
pub const HELP_WIDTH: usize = 23;

/// Two intents shown on one line, by their first keys (`j/k`), when both
/// are in a context: what a screen's help must fit in at 80x24.
const PAIRS: &[(Intent, Intent, &str)] = &[
    (Intent::Down, Intent::Up, "down, up"),
    (Intent::PageDown, Intent::PageUp, "page down, up"),
    (Intent::Top, Intent::Bottom, "top, end"),
    (Intent::NextView, Intent::PrevView, "next, previous view"),
    (
        Intent::LogLevelUp,
        Intent::LogLevelDown,
        "log pane: more, less",
    ),
    (Intent::Older, Intent::Newer, "older, newer match"),
];

/// The help's lines for the screen: (keys, what), an empty key before each
/// section's title. An intent a more specific context already showed is
/// not shown again; the views' number keys share one line.
pub fn lines(model: &Model) -> Vec<(String, String)> {
    let map: &Keymap = &model.keymap;
    let first = |i: Intent| {
        map.keys_of(i)
            .first()
            .map(|k| k.to_string())
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut shown: Vec<Intent> = Vec::new();
    for ctx in model.key_stack() {
        let rows: Vec<Intent> = TABLE
            .iter()
            .filter(|b| b.context == ctx && !shown.contains(&b.intent))
            .map(|b| b.intent)
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push((String::new(), ctx.title().to_string()));
        let mut views: Vec<String> = Vec::new();
        for b in TABLE
            .iter()
            .filter(|b| b.context == ctx && rows.contains(&b.intent))
        {
            let pair = PAIRS.iter().find(|(a, z, _)| {
                (*a == b.intent || *z == b.intent) && rows.contains(a) && rows.contains(z)
            });
            match (b.intent, pair) {
                (Intent::View(_), _) => views.push(first(b.intent)),
                (i, Some((a, z, what))) if i == *a => {
                    out.push((format!("{}/{}", first(*a), first(*z)), what.to_string()))
                }
                (_, Some(_)) => {}
                (i, None) => out.push((map.first(i), b.help.to_string())),
            }
        }
        if !views.is_empty() {
            out.push((views.join(" "), "switch view".into()));
        }
        shown.extend(rows);
    }
    out
}

/// Two columns, so a screen's keys fit at 80x24.
pub fn draw(frame: &mut Frame, body: Rect, model: &Model, t: &Theme) {
    let keys = lines(model);
    // Split at the section start that balances the columns best, so no
    // section straddles them; when even that is too tall for the screen,
    // at the middle.
    let half = keys.len().div_ceil(2);
    let room = usize::from(body.height.saturating_sub(2));
    let split = (1..keys.len())
        .filter(|&i| keys.get(i).is_some_and(|k| k.0.is_empty()))
        .min_by_key(|&i| i.max(keys.len() - i))
        .filter(|&i| i.max(keys.len() - i) <= room)
        .unwrap_or(half);
    let width = 76.min(body.width);
    let key_width = keys
        .iter()
        .map(|(k, _)| unicode_width::UnicodeWidthStr::width(k.as_str()))
        .max()
        .unwrap_or(0)
        .min(12);
    let column = |keys: &[(String, String)]| -> Vec<Line<'static>> {
        keys.iter()
            .map(|(k, what)| {
                if k.is_empty() {
                    Line::from(Span::styled(what.clone(), t.header))
                } else {
                    Line::from(vec![
                        Span::styled(format!(" {k:<key_width$} "), t.accent),
                        Span::styled(what.clone(), t.base),
                    ])
                }
            })
            .collect()
    };
    let (left_keys, right_keys) = keys.split_at(split.min(keys.len()));
    let (left, right) = (column(left_keys), column(right_keys));
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
        .title(Span::styled(
            " keys of this screen (any key closes) ",
            t.title,
        ))
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

    /// Every line of each screen's help is on screen at 80x24.
    fn all_shown(keys: &str) -> String {
        let m = after(keys);
        let screen = render(&m, 80, 24);
        let lines = super::lines(&m);
        assert!(lines.len() > 10, "{lines:?}");
        for (k, what) in &lines {
            assert!(
                screen.contains(what.as_str()),
                "help misses {k}: {what}\n{screen}"
            );
        }
        screen
    }

    #[test]
    fn help_lists_every_key_of_the_screen_at_80x24() {
        insta::assert_snapshot!(all_shown("?"));
        // The Containers view: the container's keys above the app's.
        let screen = all_shown("3?");
        assert!(screen.contains("Selected container"), "{screen}");
        assert!(screen.contains("restart it"), "{screen}");
        // An app's screen.
        let screen = all_shown("2\n?");
        assert!(screen.contains("App screen"), "{screen}");
        // Every help text fits its column.
        for b in crate::tui::keymap::TABLE {
            assert!(b.help.chars().count() <= super::HELP_WIDTH, "{}", b.help);
        }
    }
}
