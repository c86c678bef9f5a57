//! The frame around every view: header with tabs, status line, input
//! prompts, and berth's own log pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::super::model::{Input, Model, PromptKind, Screen, Tab};
use super::super::theme::Theme;

pub fn header(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    let [top, tabs] = Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let hosts = model.host_rows.len();
    let down = model.host_rows.iter().filter(|h| !h.up).count();
    let mut left = vec![
        Span::styled(" berth ", t.title),
        Span::styled(
            format!("{hosts} host{}", if hosts == 1 { "" } else { "s" }),
            t.base,
        ),
    ];
    if down > 0 {
        left.push(Span::styled(format!(" ({down} unreachable)"), t.error));
    }
    let running = model.running();
    if running > 0 {
        left.push(Span::styled(
            format!(
                "  {running} action{} running",
                if running == 1 { "" } else { "s" }
            ),
            t.warn,
        ));
    }
    let mut right = Vec::new();
    if model.config.is_zero() {
        // No config file: what runs on the local engine, as found, and
        // which engine that is.
        let engine = model
            .report
            .hosts
            .first()
            .filter(|h| !h.endpoint.is_empty())
            .map(|h| match h.engine_from.as_str() {
                "the default socket" | "" => crate::sanitize::one_line(&h.endpoint),
                from => crate::sanitize::one_line(&format!("{} via {from}", h.endpoint)),
            })
            .unwrap_or_else(|| "local engine".into());
        // The hint only where it leaves the left side its room.
        let hint = if area.width >= 120 {
            " (berth init writes one)"
        } else {
            ""
        };
        right.push(Span::styled(format!("no config: {engine}{hint} "), t.dim));
    }
    if model.read_only {
        right.push(Span::styled(
            " READ-ONLY ",
            t.warn.add_modifier(Modifier::REVERSED),
        ));
        right.push(Span::raw(" "));
    }
    right.push(Span::styled("? help ", t.dim));
    let right_width: usize = right.iter().map(|s| s.width()).sum();
    let [l, r] =
        Layout::horizontal([Constraint::Min(1), Constraint::Length(right_width as u16)]).areas(top);
    frame.render_widget(Paragraph::new(Line::from(left)), l);
    frame.render_widget(Paragraph::new(Line::from(right)), r);

    let mut spans = Vec::new();
    let mut x = tabs.x;
    for (i, tab) in Tab::ALL.into_iter().enumerate() {
        let name = tab.title();
        let label = format!(" {} {name} ", i + 1);
        let width = (label.chars().count() as u16).min((tabs.x + tabs.width).saturating_sub(x));
        model
            .hits
            .borrow_mut()
            .tabs
            .push((Rect { x, width, ..tabs }, tab));
        x += width;
        let style = if tab == model.tab && model.screen == Screen::Main {
            t.selected
        } else {
            t.dim
        };
        spans.push(Span::styled(label, style));
    }
    match &model.screen {
        Screen::Run(_) => spans.push(Span::styled("  › run", t.accent)),
        Screen::Container { .. } => spans.push(Span::styled("  › container", t.accent)),
        Screen::App { app, .. } => spans.push(Span::styled(format!("  › app {app}"), t.accent)),
        Screen::Host { host } => spans.push(Span::styled(format!("  › host {host}"), t.accent)),
        Screen::AppLog { app, .. } => spans.push(Span::styled(format!("  › logs {app}"), t.accent)),
        Screen::Main => {}
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), tabs);
}

/// What fits the word being typed on the `:` line, the one Tab has put
/// there stressed; the command's arguments once it is whole; else how the
/// line works.
fn suggestions<'a>(text: &str, model: &Model) -> Vec<Span<'a>> {
    let t = &model.theme;
    let (head, partial, fits) = crate::tui::command::candidates(text, &model.known());
    let first_word = head.is_empty();
    if fits.is_empty() || (fits.len() == 1 && fits.first().is_some_and(|f| *f == partial)) {
        let command = text.split_whitespace().next().unwrap_or_default();
        let hint = crate::tui::command::usage(command)
            .filter(|_| !first_word || text.ends_with(' '))
            .unwrap_or_else(|| "Tab completes · ↑↓ history · Enter runs · Esc".into());
        return vec![Span::styled(hint, t.dim)];
    }
    let mut spans = Vec::new();
    for (i, f) in fits.iter().take(12).enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", t.dim));
        }
        let shown = if first_word {
            crate::tui::command::usage(f).unwrap_or_else(|| f.clone())
        } else {
            crate::sanitize::one_line(f)
        };
        spans.push(Span::styled(
            shown,
            if *f == partial { t.accent } else { t.dim },
        ));
    }
    if fits.len() > 12 {
        spans.push(Span::styled(format!(" · +{}", fits.len() - 12), t.dim));
    }
    spans
}

/// The bottom line: what is being typed, else the last notice, else hints.
pub fn status_line(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    let line = match &model.input {
        Input::Filter(text) => Line::from(vec![
            Span::styled("/", t.accent),
            Span::styled(text.clone(), t.base),
            Span::styled("█", t.dim),
            Span::styled("   regex, ! inverts · Enter keeps · Esc clears", t.dim),
        ]),
        Input::Search(text) => Line::from(vec![
            Span::styled("/", t.accent),
            Span::styled(text.clone(), t.base),
            Span::styled("█", t.dim),
            Span::styled("   search the log (regex) · Enter finds · Esc", t.dim),
        ]),
        Input::Command(text) => {
            let mut spans = vec![
                Span::styled(":", t.accent),
                Span::styled(crate::sanitize::one_line(text), t.base),
                Span::styled("█", t.dim),
                Span::raw("   "),
            ];
            spans.extend(suggestions(text, model));
            Line::from(spans)
        }
        // The same words as the dialog above it.
        Input::Prompt(p) if p.kind.yes_no() => {
            Line::from(Span::styled("y runs it · any other key cancels", t.dim))
        }
        Input::Prompt(_) => Line::from(Span::styled("Enter confirms · Esc cancels", t.dim)),
        Input::None => match &model.notice {
            Some(n) => Line::from(Span::styled(
                crate::sanitize::one_line(&n.text),
                if n.error { t.error } else { t.info },
            )),
            None => Line::from(Span::styled(hints(model, usize::from(area.width)), t.dim)),
        },
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The bottom line's hints for the screen, from the key table (the keys
/// in force, the operator's rebindings included); actions that change
/// something are left out of a read-only console.
fn hints(model: &Model, width: usize) -> String {
    use crate::tui::keymap::Intent as I;
    let actions: &[(I, &str)] = &[
        (I::Deploy, "deploy"),
        (I::Restart, "restart"),
        (I::Rollback, "rollback"),
        (I::Destroy, "destroy"),
        (I::Lock, "lock"),
        (I::Unlock, "unlock"),
    ];
    let mut want: Vec<(I, &str)> = Vec::new();
    let views = [
        (I::Filter, "filter"),
        (I::CommandLine, "command"),
        (I::Quit, "quit"),
    ];
    let logs = [
        (I::Back, "back"),
        (I::Down, "scroll"),
        (I::Top, "top"),
        (I::Bottom, "end"),
        (I::Pause, "pause"),
        (I::Search, "search"),
        (I::Wrap, "wrap"),
    ];
    match model.screen {
        Screen::Main if model.tab == Tab::Containers => {
            want.extend([
                (I::Open, "open"),
                (I::Shell, "shell"),
                (I::ContainerRestart, "restart"),
                (I::ContainerStop, "stop"),
                (I::ContainerStart, "start"),
                (I::ContainerRemove, "remove"),
            ]);
            want.extend(views);
        }
        Screen::Main => {
            want.push((I::Open, "open"));
            if model.tab == Tab::Apps {
                want.extend([(I::Shell, "shell"), (I::AppLogs, "logs")]);
            }
            want.extend(actions);
            want.extend(views);
        }
        Screen::Run(_) => want.extend([
            (I::Down, "stage"),
            (I::PageUp, "output"),
            (I::Follow, "follow"),
            (I::Wrap, "wrap"),
            (I::CancelRun, "cancel"),
            (I::Back, "back"),
        ]),
        Screen::Container { .. } => {
            want.extend([(I::Shell, "shell"), (I::Inspect, "inspect")]);
            want.extend(logs);
        }
        Screen::App { .. } => {
            want.extend([
                (I::Open, "its runs"),
                (I::Shell, "shell"),
                (I::AppLogs, "logs"),
            ]);
            want.extend(actions);
            want.push((I::Back, "back"));
        }
        Screen::Host { .. } => want.push((I::Back, "back")),
        Screen::AppLog { .. } => want.extend(logs),
    }
    let changes = |i: I| {
        matches!(
            i,
            I::Deploy
                | I::Restart
                | I::Rollback
                | I::Destroy
                | I::Lock
                | I::Unlock
                | I::Shell
                | I::ContainerRestart
                | I::ContainerStop
                | I::ContainerStart
                | I::ContainerRemove
                | I::CancelRun
        )
    };
    let all: Vec<String> = want
        .iter()
        .filter(|(i, _)| !(model.read_only && changes(*i)))
        .filter_map(|(i, word)| {
            let key = model.keymap.keys_of(*i).first()?.to_string();
            let key = if key == "Enter" {
                "⏎".to_string()
            } else {
                key
            };
            Some(format!("{key} {word}"))
        })
        .collect::<Vec<_>>();
    let help = model
        .keymap
        .keys_of(I::Help)
        .first()
        .map_or_else(|| "?".to_string(), ToString::to_string);
    fit_hints(&all, width, &help)
}

/// As many whole hints as fit in `width`, in their order (the first are
/// the ones people need first); when some do not fit, the help key ends
/// the line, as it lists them all.
fn fit_hints(all: &[String], width: usize, help: &str) -> String {
    let whole = all.join(" · ");
    if whole.chars().count() <= width {
        return whole;
    }
    let more = format!(" · {help} more");
    let mut line = String::new();
    for h in all {
        let next = if line.is_empty() {
            h.clone()
        } else {
            format!("{line} · {h}")
        };
        if next.chars().count() + more.chars().count() > width {
            break;
        }
        line = next;
    }
    line + &more
}

/// The prompt box for a question, over the body.
pub fn prompt(frame: &mut Frame, body: Rect, model: &Model) {
    let Input::Prompt(p) = &model.input else {
        return;
    };
    let t = &model.theme;
    let (title, lines, typed): (&str, Vec<Line>, bool) = match &p.kind {
        PromptKind::DeployVersion(target) => (
            " deploy ",
            vec![Line::from(format!(
                "Deploy {target}: which version (image tag)?"
            ))],
            true,
        ),
        PromptKind::Destroy(target) => (
            " DESTROY ",
            vec![
                Line::from(Span::styled(
                    format!("Destroy {target}: every container of it on every host goes."),
                    t.error,
                )),
                Line::from("Named volumes stay. This cannot be undone from berth."),
                Line::from(format!("Type the app's name ({}) to confirm:", target.app)),
            ],
            true,
        ),
        PromptKind::LockMessage(target) => (
            " lock ",
            vec![
                Line::from(format!(
                    "Lock {target} by hand: deploys refuse to start until it is released."
                )),
                Line::from("Why? (shown to everyone who is refused)"),
            ],
            true,
        ),
        PromptKind::Confirm { question, .. } => (
            " confirm ",
            vec![
                Line::from(question.clone()),
                Line::from("y runs it · any other key cancels"),
            ],
            false,
        ),
        PromptKind::ContainerOp { question, .. } => (
            " confirm ",
            vec![
                Line::from(Span::styled(question.clone(), t.warn)),
                Line::from("y does it (recorded in the host's history) · any other key cancels"),
            ],
            false,
        ),
        PromptKind::ComposeOp {
            question,
            project,
            op,
            ..
        } if op.removes() => (
            " DOWN ",
            vec![
                Line::from(Span::styled(question.clone(), t.error)),
                Line::from(format!(
                    "Type its name ({}) to take it down:",
                    crate::sanitize::one_line(project)
                )),
            ],
            true,
        ),
        PromptKind::ComposeOp { question, .. } => (
            " confirm ",
            vec![
                Line::from(Span::styled(question.clone(), t.warn)),
                Line::from("y does it (recorded in the host's history) · any other key cancels"),
            ],
            false,
        ),
        PromptKind::RemoveRunning { question, name, .. } => (
            " REMOVE ",
            vec![
                Line::from(Span::styled(question.clone(), t.error)),
                Line::from(format!(
                    "Type its name ({}) to remove it:",
                    crate::sanitize::one_line(name)
                )),
            ],
            true,
        ),
        PromptKind::ForceUnlock { target, holder } => (
            " force unlock ",
            vec![
                Line::from(format!("{target} is {holder}")),
                Line::from(Span::styled(
                    "Release it anyway? It is not yours, or its action still runs (recorded in the history).",
                    t.warn,
                )),
                Line::from("y releases · any other key cancels"),
            ],
            false,
        ),
        PromptKind::Quit { running } => (
            " quit ",
            vec![
                Line::from(format!(
                    "{running} action{} running. Quitting cancels {} at the next safe point;",
                    if *running == 1 { " is" } else { "s are" },
                    if *running == 1 { "it" } else { "them" }
                )),
                Line::from("the previous version keeps serving. Quit? y/N"),
            ],
            false,
        ),
    };
    let mut lines = lines;
    if typed {
        lines.push(Line::from(vec![
            Span::styled("> ", t.accent),
            Span::styled(p.text.clone(), t.base.add_modifier(Modifier::BOLD)),
            Span::styled("█", t.dim),
        ]));
    }
    let width = body.width.saturating_sub(4).min(76);
    let height = (lines.len() as u16 + 2).min(body.height);
    let area = Rect {
        x: body.x + (body.width - width) / 2,
        y: body.y + body.height.saturating_sub(height) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(Span::styled(title, t.title))
        .border_style(t.accent)
        .style(t.base);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// berth's own log (tracing events from the engine, watchers and
/// connections), toggled with `L`.
pub fn log_pane(frame: &mut Frame, area: Rect, t: &Theme, level: tui_logger::LevelFilter) {
    // Lines move from tui-logger's hot buffer only when the pane is drawn:
    // no background thread wakes up for a hidden pane.
    tui_logger::move_events();
    let state = tui_logger::TuiWidgetState::new().set_default_display_level(level);
    let title = format!(
        " berth log: {} and above (+/- level, L hides) ",
        level.as_str().to_lowercase()
    );
    let widget = tui_logger::TuiLoggerWidget::default()
        .block(
            Block::bordered()
                .border_style(t.border)
                .title(Span::styled(title, t.title)),
        )
        .state(&state)
        .style(t.base)
        .style_error(t.error)
        .style_warn(t.warn)
        .style_info(t.info)
        .style_debug(t.dim)
        .style_trace(t.dim)
        .output_separator(' ')
        .output_timestamp(Some("%H:%M:%S".into()))
        .output_target(false)
        .output_file(false)
        .output_line(false);
    frame.render_widget(widget, area);
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crossterm::event::KeyCode;

    use super::super::super::model::{Model, Msg};
    use super::super::super::theme::{Palette, Theme};
    use super::super::testing::*;

    #[test]
    fn the_log_pane_filters_by_level_with_plus_and_minus() {
        use tui_logger::LevelFilter;
        let mut m = after("+");
        assert_eq!(m.log_level, LevelFilter::Info, "no pane, no level change");
        m.update(key('L'));
        assert!(render(&m, 80, 24).contains("berth log: info and above"));
        m.update(key('+'));
        m.update(key('+'));
        m.update(key('+'));
        assert_eq!(m.log_level, LevelFilter::Trace, "trace is the most verbose");
        for _ in 0..5 {
            m.update(key('-'));
        }
        assert_eq!(m.log_level, LevelFilter::Error);
        assert!(render(&m, 80, 24).contains("berth log: error and above"));
    }

    #[test]
    fn destroy_asks_for_the_app_name() {
        let mut m = after("2D");
        for c in "dem".chars() {
            m.update(key(c));
        }
        insta::assert_snapshot!(render(&m, 80, 24));
    }

    #[test]
    fn read_only_header_and_refusal() {
        let config = crate::config::parse(std::path::Path::new("berth.yaml"), CONFIG).unwrap();
        let mut m = Model::new(
            Arc::new(config),
            Theme::built_in("default", Palette::Ansi16),
            Palette::Ansi16,
            true,
        );
        m.update(Msg::Tick(now()));
        m.update(Msg::Fleet(fleet()));
        m.update(key('D'));
        assert!(m.take_effects().is_empty());
        insta::assert_snapshot!(render(&m, 80, 24));
    }

    #[test]
    fn command_line_completes() {
        let mut m = after(":");
        for c in "dep".chars() {
            m.update(key(c));
        }
        m.update(code(KeyCode::Tab));
        m.update(key('d'));
        m.update(code(KeyCode::Tab));
        let screen = render(&m, 80, 24);
        assert!(screen.contains(":deploy demo "), "{screen}");
    }

    #[test]
    fn too_small_says_so() {
        let m = loaded();
        insta::assert_snapshot!(render(&m, 40, 8));
        // Tiny and degenerate sizes draw without panicking.
        for (w, h) in [(1, 1), (0, 0), (59, 30), (200, 11), (60, 12)] {
            render(&m, w, h);
        }
    }
}
