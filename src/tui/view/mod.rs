//! Drawing: `draw(frame, &model)` and nothing else. One file per view; each
//! has snapshot tests next to it (`snapshots/`). Views read the model and
//! never change it, except the scroll offsets a table keeps to hold its
//! selection on screen.

mod app;
mod apps;
mod chrome;
mod container;
mod containers;
mod events;
mod help;
mod host;
mod hosts;
mod logpane;
mod run;
mod runs;

#[cfg(test)]
mod layouts;
#[cfg(test)]
pub(crate) mod testing;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::model::{Model, Screen, Tab};
use super::theme::Theme;
use crate::domain::{Health, State};

/// Below this the console shows a notice instead of a squeezed screen.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 12;

pub fn draw(frame: &mut Frame, model: &Model) {
    draw_all(frame, model);
    clean_cells(frame.buffer_mut());
}

/// The console's side of the one writer: whatever a view put on the
/// screen, a cell holding a control character or escape sequence (text
/// that was not cleaned where it entered) is drawn as a blank, so nothing
/// the console draws can act on the terminal.
fn clean_cells(buffer: &mut ratatui::buffer::Buffer) {
    for cell in buffer.content.iter_mut() {
        if cell.symbol().chars().any(char::is_control) {
            cell.set_symbol(" ");
        }
    }
}

fn draw_all(frame: &mut Frame, model: &Model) {
    model.hits.borrow_mut().clear();
    let area = frame.area();
    let theme = &model.theme;
    frame.render_widget(Block::new().style(theme.base), area);
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "terminal too small ({}x{}); berth needs {MIN_WIDTH}x{MIN_HEIGHT}",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(msg)
                .style(theme.warn)
                .wrap(Default::default()),
            area,
        );
        return;
    }
    let log_height = if model.show_log { area.height / 3 } else { 0 };
    let [header, body, log, status] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(log_height),
        Constraint::Length(1),
    ])
    .areas(area);
    chrome::header(frame, header, model);
    match &model.screen {
        Screen::Main => match model.tab {
            Tab::Hosts => hosts::draw(frame, body, model),
            Tab::Apps => apps::draw(frame, body, model),
            Tab::Containers => containers::draw(frame, body, model),
            Tab::Runs => runs::draw(frame, body, model),
            Tab::Events => events::draw(frame, body, model),
        },
        Screen::Run(r) => run::draw(frame, body, model, r),
        Screen::Container { host, id } => container::draw(frame, body, model, host, id),
        Screen::App { app, destination } => app::draw(frame, body, model, app, destination),
        Screen::Host { host } => host::draw(frame, body, model, host),
        Screen::AppLog { app, destination } => app_log(frame, body, model, app, destination),
    }
    if model.show_log {
        chrome::log_pane(frame, log, theme, model.log_level);
    }
    chrome::status_line(frame, status, model);
    if model.help {
        help::draw(frame, body, model, theme);
    }
    chrome::prompt(frame, body, model);
}

/// The rows of a table that fit in `height`, keeping the selection visible
/// and the first row stable while the selection moves inside the window.
pub(crate) fn window(model: &Model, tab: Tab, height: usize) -> (usize, std::ops::Range<usize>) {
    let n = model.visible.of(tab).len();
    let sel = (*model.selected.of(tab)).min(n.saturating_sub(1));
    let mut offset = model.offsets.of(tab).get().min(n.saturating_sub(1));
    if height == 0 {
        return (sel, 0..0);
    }
    if sel < offset {
        offset = sel;
    } else if sel >= offset + height {
        offset = sel + 1 - height;
    }
    model.offsets.of(tab).set(offset);
    model.heights.of(tab).set(height);
    (sel, offset..(offset + height).min(n))
}

/// A bordered block with the view's title and the filter, if any.
pub(crate) fn titled<'a>(
    model: &Model,
    tab: Tab,
    title: &str,
    shown: usize,
    total: usize,
) -> Block<'a> {
    let t = &model.theme;
    let mut spans = vec![Span::styled(format!(" {title} "), t.title)];
    let count = if shown == total {
        format!("[{total}] ")
    } else {
        format!("[{shown}/{total}] ")
    };
    spans.push(Span::styled(count, t.dim));
    if let Some(f) = &model.filters.of(tab) {
        spans.push(Span::styled(format!("/{} ", f.text), t.accent));
    }
    Block::bordered()
        .border_style(t.border)
        .title(Line::from(spans))
}

/// A container's state and health as a symbol and its tone; symbols read
/// the same without colour.
pub(crate) fn container_symbol(
    state: State,
    health: Health,
    exit_code: Option<i64>,
    t: &Theme,
) -> (&'static str, Style) {
    match (state, health) {
        (_, Health::Unhealthy) => ("✗", t.error),
        (State::Restarting, _) => ("↻", t.warn),
        (State::Dead, _) => ("✗", t.error),
        (State::Exited, _) if exit_code.is_some_and(|c| c != 0) => ("■", t.error),
        (State::Exited, _) => ("■", t.dim),
        (State::Running, Health::Starting) => ("◌", t.warn),
        (State::Running, Health::Healthy) => ("✓", t.ok),
        (State::Running, Health::None) => ("●", t.ok),
        (State::Paused, _) => ("‖", t.warn),
        (State::Created, _) => ("○", t.dim),
        _ => ("?", t.dim),
    }
}

/// A name cut in its middle when it is wider than `width`: its start (the
/// app and role) and its end (what tells replicas apart, `-b2`) both stay.
pub(crate) fn fit_middle(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width || width < 5 {
        return fit(s, width);
    }
    let tail = (width - 1) / 2;
    let head = width - 1 - tail;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// [`fit`] for a line of styled spans: cut at `width` with `…`, each
/// span keeping its style.
pub(crate) fn fit_line(line: ratatui::text::Line<'_>, width: usize) -> ratatui::text::Line<'_> {
    if line.width() <= width {
        return line;
    }
    let mut spans = Vec::new();
    let mut left = width;
    for span in line.spans {
        let w = span.width();
        if w < left {
            left -= w;
            spans.push(span);
            continue;
        }
        // This span reaches the edge: it ends the line, cut.
        spans.push(ratatui::text::Span::styled(
            fit(&format!("{} ", span.content), left),
            span.style,
        ));
        break;
    }
    ratatui::text::Line::from(spans)
}

/// Cuts `s` to `width` columns with an ellipsis.
pub(crate) fn fit(s: &str, width: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let mut out = String::new();
    let mut used = 0;
    for ch in s.chars() {
        let w = ch.width().unwrap_or(0);
        if used + w > width {
            if width > 0 {
                while used + 1 > width {
                    let c = out.pop().unwrap_or(' ');
                    used -= c.width().unwrap_or(0);
                }
                out.push('…');
            }
            return out;
        }
        used += w;
        out.push(ch);
    }
    out
}

/// `12s`, `3m`, `2h5m`; `-` when unknown.
pub(crate) fn age(
    from: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    from.map(|f| crate::domain::format::age((now - f).num_seconds()))
        .unwrap_or_else(|| "-".into())
}

pub(crate) fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// The text a table shows when the filter keeps nothing, or there is nothing.
pub(crate) fn empty_note(frame: &mut Frame, area: Rect, model: &Model, tab: Tab, what: &str) {
    let text = if model.filters.of(tab).is_some() {
        format!("no {what} match the filter (Esc clears it)")
    } else {
        format!("no {what} yet")
    };
    frame.render_widget(Paragraph::new(text).style(model.theme.dim), area);
}

/// What a table view shows: its tab, title, row count and columns.
pub(crate) struct Columns<'a, 'w> {
    pub tab: Tab,
    pub title: &'w str,
    pub total: usize,
    pub header: &'w [&'a str],
    pub widths: &'w [Constraint],
}

/// A bordered table of one tab's visible rows: only the rows on screen are
/// built, so a frame costs the same for 10 rows or 10,000.
pub(crate) fn table<'a>(
    frame: &mut Frame,
    area: Rect,
    model: &Model,
    columns: Columns<'a, '_>,
    row: impl Fn(usize) -> ratatui::widgets::Row<'a>,
) {
    let Columns {
        tab,
        title,
        total,
        header,
        widths,
    } = columns;
    use ratatui::widgets::{Row, Table};
    let t = &model.theme;
    let block = titled(model, tab, title, model.visible.of(tab).len(), total);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if model.visible.of(tab).is_empty() {
        empty_note(frame, inner, model, tab, title);
        return;
    }
    // One line for the header.
    let (sel, range) = window(model, tab, inner.height.saturating_sub(1) as usize);
    let rows: Vec<Row> = range
        .clone()
        .filter_map(|pos| model.visible.of(tab).get(pos).copied())
        .map(row)
        .collect();
    // The rows below the header, for a click.
    model.hits.borrow_mut().rows = Some((
        Rect {
            y: inner.y + 1,
            height: inner.height.saturating_sub(1),
            ..inner
        },
        tab,
        range.start,
    ));
    let head = Row::new(header.iter().copied()).style(t.header);
    // The highlight is laid over the drawn row, so the selection reads as
    // one bar whatever colours its cells have.
    let mut state = ratatui::widgets::TableState::new()
        .with_selected((range.contains(&sel)).then(|| sel - range.start));
    frame.render_stateful_widget(
        Table::new(rows, widths.iter().copied())
            .header(head)
            .column_spacing(1)
            .row_highlight_style(t.selected),
        inner,
        &mut state,
    );
}

/// `o` on an app: its running containers' logs, merged, over the body.
fn app_log(frame: &mut Frame, body: Rect, model: &Model, app: &str, destination: &str) {
    let Some(v) = model.logs.as_ref() else {
        return;
    };
    let running = model
        .container_rows
        .iter()
        .filter(|c| {
            c.app == app
                && c.destination == destination
                && c.source == crate::labels::Source::Berth
                && c.state == crate::domain::State::Running
        })
        .count();
    let name = match destination {
        "" => format!(" {app} logs · {running} running · "),
        d => format!(" {app}@{d} logs · {running} running · "),
    };
    logpane::draw(frame, body, model, v, &name);
}

#[cfg(test)]
mod tests {
    use super::super::theme::{BUILT_IN, Palette, Theme};
    use super::testing::*;

    /// The selected row is one bar in the selection's colours, even over
    /// cells with colours of their own (a lock holder, a health symbol).
    #[test]
    fn the_selection_is_one_bar_over_coloured_cells() {
        for (name, _) in BUILT_IN {
            let mut m = loaded();
            m.theme = Theme::built_in(name, Palette::Ansi16);
            let b = buffer(&m, 80, 24);
            // The Apps table's first row (y 4), inside the borders.
            for x in 1..79 {
                let cell = &b[(x, 4)];
                assert_eq!(
                    (cell.bg, cell.fg),
                    (
                        m.theme.selected.bg.unwrap_or(ratatui::style::Color::Reset),
                        m.theme.selected.fg.unwrap_or(ratatui::style::Color::Reset)
                    ),
                    "theme {name}, column {x}"
                );
            }
        }
    }

    /// Each shipped theme on the Apps view at 80x24, colours included.
    #[test]
    fn every_theme_at_80x24() {
        for (name, _) in BUILT_IN {
            let mut m = loaded();
            m.theme = Theme::built_in(name, Palette::Ansi16);
            insta::assert_debug_snapshot!(format!("theme_{name}"), buffer(&m, 80, 24));
        }
    }

    /// Text that reached a view uncleaned (planted past every entry's
    /// cleaning, on every tab and in the notice line) draws as blanks: no
    /// cell holds a control character.
    #[test]
    fn nothing_a_view_draws_can_act_on_the_terminal() {
        let evil = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\t\r\u{9b}y";
        for tab in ['1', '2', '3', '4', '5'] {
            let mut m = loaded();
            m.update(key(tab));
            for r in m.app_rows.iter_mut() {
                r.app = evil.into();
                r.problem = Some(evil.into());
            }
            for r in m.container_rows.iter_mut() {
                r.name = evil.into();
            }
            m.notice = Some(super::super::model::Notice {
                text: evil.into(),
                error: true,
                at: m.now,
            });
            let b = buffer(&m, 100, 30);
            let dirty: Vec<String> = b
                .content
                .iter()
                .filter(|c| c.symbol().chars().any(char::is_control))
                .map(|c| format!("{:?}", c.symbol()))
                .collect();
            assert!(dirty.is_empty(), "tab {tab}: {dirty:?}");
        }
    }

    /// A cell given a control sequence directly (as a widget could) is
    /// blanked before the frame goes out.
    #[test]
    fn a_cell_holding_a_sequence_is_drawn_blank() {
        let mut b = ratatui::buffer::Buffer::empty(ratatui::layout::Rect::new(0, 0, 3, 1));
        b[(0, 0)].set_symbol("\u{1b}[2J");
        b[(1, 0)].set_symbol("\t");
        b[(2, 0)].set_symbol("✓");
        super::clean_cells(&mut b);
        let cells: Vec<&str> = b.content.iter().map(|c| c.symbol()).collect();
        assert_eq!(cells, [" ", " ", "✓"]);
    }
}
