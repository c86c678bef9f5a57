//! A log in a bordered pane: a container's (on its screen) or an app's
//! merged (each line behind its `host/container`, one colour per
//! container, `!` for stderr). Follows the end or stays on a line, marks
//! search matches, wraps on `w`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::super::logs::{LogLine, LogView};
use super::super::model::Model;
use super::super::theme::Theme;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, v: &LogView, name: &str) {
    let t = &model.theme;
    let mut title = vec![Span::styled(name.to_string(), t.title)];
    if v.follow {
        title.push(Span::styled("following ", t.ok));
    } else {
        title.push(Span::styled("PAUSED ", t.warn));
        let new = v.new_below();
        if new > 0 {
            title.push(Span::styled(format!("{new} new below (G) "), t.warn));
        }
    }
    if let Some(re) = &v.search {
        title.push(Span::styled(
            format!("/{} ", re.as_str().trim_start_matches("(?i)")),
            t.accent,
        ));
    }
    if v.wrap {
        title.push(Span::styled("wrap ", t.dim));
    }
    if v.dropped() > 0 {
        title.push(Span::styled(
            format!("{} older lines dropped ", v.dropped()),
            t.dim,
        ));
    }
    let block = Block::bordered()
        .border_style(t.border)
        .title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    v.height.set(height);
    let Some(bottom) = v.bottom_index() else {
        let text = match &v.ended {
            Some(why) => format!("no output · {why}"),
            None => "no output yet".to_string(),
        };
        frame.render_widget(Paragraph::new(text).style(t.dim), inner);
        return;
    };
    // The lines on screen, counted in rows when wrapping.
    let width = (inner.width as usize).max(1);
    let rows_of = |i: usize| {
        if v.wrap {
            v.line(i)
                .map_or(0, |l| {
                    prefix_width(l) + UnicodeWidthStr::width(l.text.as_str())
                })
                .div_ceil(width)
                .max(1)
        } else {
            1
        }
    };
    let mut first = bottom + 1;
    let mut rows = 0;
    while first > 0 && rows < height {
        first -= 1;
        rows += rows_of(first);
    }
    let mut lines: Vec<Line> = (first..=bottom)
        .filter_map(|i| v.line(i))
        .map(|l| line(l, v.search.as_ref(), t))
        .collect();
    if v.follow
        && let Some(why) = &v.ended
    {
        lines.push(Line::from(Span::styled(format!("— {why} —"), t.dim)));
        rows += 1;
    }
    let mut p = Paragraph::new(lines).style(t.base);
    if v.wrap {
        p = p.wrap(Wrap { trim: false });
    }
    frame.render_widget(p.scroll((rows.saturating_sub(height) as u16, 0)), inner);
}

/// `host/container | ` or `host/container ! ` in front of a merged line.
fn prefix_width(l: &LogLine) -> usize {
    l.from
        .as_ref()
        .map_or(0, |s| UnicodeWidthStr::width(&*s.label) + 3)
}

/// The colour of a container's prefix: the theme's colours in turn.
fn colour(t: &Theme, n: u8) -> Style {
    match n % 6 {
        0 => t.accent,
        1 => t.info,
        2 => t.ok,
        3 => t.warn,
        4 => t.title,
        _ => t.header,
    }
}

/// One line: its source (in a merged log), then its text with the
/// search's matches in the selection style. berth's notes are dim.
fn line<'a>(l: &'a LogLine, search: Option<&regex::Regex>, t: &Theme) -> Line<'a> {
    let mut spans = Vec::new();
    match &l.from {
        Some(s) => {
            spans.push(Span::styled(s.label.to_string(), colour(t, s.colour)));
            spans.push(if l.stderr {
                Span::styled(" ! ", t.error)
            } else {
                Span::styled(" | ", t.dim)
            });
        }
        None if l.note => return Line::from(Span::styled(l.text.as_str(), t.dim)),
        None => {}
    }
    spans.extend(marked(&l.text, search, t));
    Line::from(spans)
}

/// A text with the search's matches in the selection style.
fn marked<'a>(text: &'a str, search: Option<&regex::Regex>, t: &Theme) -> Vec<Span<'a>> {
    let Some(re) = search else {
        return vec![Span::raw(text)];
    };
    let mut spans = Vec::new();
    let mut at = 0;
    for m in re.find_iter(text) {
        if m.start() > at {
            spans.push(Span::raw(text.get(at..m.start()).unwrap_or_default()));
        }
        spans.push(Span::styled(m.as_str(), t.selected));
        at = m.end();
    }
    spans.push(Span::raw(text.get(at..).unwrap_or_default()));
    spans
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crossterm::event::KeyCode;

    use super::super::super::logs::{LogLine, LogOf, Source};
    use super::super::super::model::{Msg, Screen};
    use super::super::testing::*;

    fn from(label: &str, colour: u8) -> Source {
        Source {
            label: Arc::from(label),
            colour,
        }
    }

    #[test]
    fn an_apps_log_opens_from_the_app_merges_its_containers_and_esc_goes_back() {
        let mut m = after("2/demo\n");
        m.update(key('o'));
        assert_eq!(
            m.screen,
            Screen::AppLog {
                app: "demo".into(),
                destination: String::new()
            }
        );
        let of = LogOf::App {
            app: "demo".into(),
            destination: String::new(),
        };
        assert_eq!(m.log_target(), Some(of.clone()));
        let (a, b) = (
            from("edge-1/demo-web-v7-a1", 0),
            from("edge-2/demo-web-v7-b2", 1),
        );
        m.update(Msg::LogLines {
            of: of.clone(),
            lines: vec![
                LogLine::new("GET /up 200", false).with_source(a.clone()),
                LogLine::new("GET /up 503", true).with_source(b.clone()),
                LogLine::note("edge-2/demo-web-v8-c9: started; following its log"),
                LogLine::new("\x1b[31mboot\x1b[0m v8", false).with_source(b),
            ],
        });
        // Another log's lines are not this one's.
        m.update(Msg::LogLines {
            of: LogOf::Container {
                host: "edge-1".into(),
                id: "x".into(),
            },
            lines: vec![LogLine::new("not mine", false)],
        });
        let out = render(&m, 100, 24);
        assert!(out.contains("demo logs · 3 running · following"), "{out}");
        assert!(out.contains("edge-1/demo-web-v7-a1 | GET /up 200"), "{out}");
        assert!(
            out.contains("edge-2/demo-web-v7-b2 ! GET /up 503"),
            "stderr marked: {out}"
        );
        assert!(
            out.contains("── edge-2/demo-web-v8-c9: started; following its log"),
            "{out}"
        );
        assert!(out.contains("edge-2/demo-web-v7-b2 | boot v8"), "{out}");
        assert!(!out.contains("not mine"), "{out}");
        insta::assert_snapshot!(out);

        // Search, pause and Esc as in a container's log; Esc back to the list.
        m.update(key('/'));
        for c in "503".chars() {
            m.update(key(c));
        }
        m.update(code(KeyCode::Enter));
        assert!(!m.logs.as_ref().unwrap().follow, "on the match");
        m.update(code(KeyCode::Esc));
        assert!(m.logs.as_ref().unwrap().search.is_none());
        m.update(code(KeyCode::Esc));
        assert_eq!(m.screen, Screen::Main);
        assert_eq!(m.log_target(), None);

        // From the app screen, Esc goes back to it.
        let mut m = after("2/demo\n\n");
        assert!(matches!(m.screen, Screen::App { .. }));
        m.update(key('o'));
        assert!(matches!(m.screen, Screen::AppLog { .. }));
        m.update(code(KeyCode::Esc));
        assert!(matches!(m.screen, Screen::App { .. }), "{:?}", m.screen);
    }
}
