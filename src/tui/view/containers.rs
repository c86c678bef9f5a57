//! Containers: every container of every host, what needs eyes first
//! (unhealthy, restarting, crashed), with symbols that read in monochrome.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

use super::super::model::{Model, Tab};
use super::{age, container_symbol, fit};

/// From this width the table has a PORTS column.
const WIDE: u16 = 100;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    // Below 100 columns the ports give way to the name (they are in the
    // container's details).
    let wide = area.width >= WIDE;
    // NAME and STATE share what the fixed columns leave (borders, 8 fixed
    // columns, the spacing, PORTS when wide): STATE at least a state word
    // whole (`restarting`), the name shortened with `…`.
    // Shares, name : state (: ports) = 3 : 2 (: 1).
    let fixed = 2 + 1 + 8 + 11 + 8 + 5 + 3 + 5 + 5 + 9 + usize::from(wide);
    let flexible = usize::from(area.width).saturating_sub(fixed);
    let shares = if wide { 6 } else { 5 };
    let state_width = (flexible * 2 / shares)
        .max(10)
        .min(flexible.saturating_sub(8));
    let name_width = if wide {
        flexible * 3 / shares
    } else {
        flexible.saturating_sub(state_width)
    };
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(name_width as u16),
        Constraint::Length(8),
        Constraint::Length(11),
        Constraint::Length(8),
        // What is wrong, in words: room next after the name's.
        Constraint::Length(state_width as u16),
        Constraint::Length(5),
        Constraint::Length(3),
        Constraint::Length(5),
        Constraint::Length(5),
    ];
    let mut header = vec![
        "", "NAME", "HOST", "APP/ROLE", "VERSION", "STATE", "UP", "RST", "CPU", "MEM",
    ];
    if wide {
        widths.push(Constraint::Fill(1));
        header.push("PORTS");
    }
    super::table(
        frame,
        area,
        model,
        super::Columns {
            tab: Tab::Containers,
            title: "containers",
            total: model.container_rows.len(),
            header: &header,
            widths: &widths,
        },
        |i| {
            let Some(c) = model.container_rows.get(i) else {
                return Row::default();
            };
            let (sym, tone) = if c.retained {
                ("○", t.dim)
            } else if c.oom_killed {
                ("✗", t.error)
            } else {
                container_symbol(c.state, c.health, c.exit_code, t)
            };
            let app_role = match (c.app.as_str(), c.role.as_str()) {
                ("", _) => "-".to_string(),
                (a, "") => a.to_string(),
                (a, r) => format!("{a}/{r}"),
            };
            // What is wrong, in words, where the eye is; else the state.
            let health = match (&c.reason, c.state) {
                _ if c.retained => "retained".to_string(),
                (Some(reason), _) => reason.clone(),
                (None, crate::domain::State::Running) => c.health.as_str().to_string(),
                (None, s) => match c.exit_code {
                    Some(code) if s == crate::domain::State::Exited => {
                        format!("exit {code}")
                    }
                    _ => s.as_str().to_string(),
                },
            };
            let up = if c.state == crate::domain::State::Running {
                age(c.started_at, model.now)
            } else {
                "-".into()
            };
            let mut cells = vec![
                Cell::from(Span::styled(sym, tone)),
                Cell::from(super::fit_middle(&c.name, name_width)),
                Cell::from(fit(&c.host, 8)),
                Cell::from(super::fit_middle(&app_role, 11)),
                Cell::from(fit(
                    if c.version.is_empty() {
                        "-"
                    } else {
                        &c.version
                    },
                    8,
                )),
                Cell::from(Span::styled(fit(&health, state_width), tone)),
                Cell::from(up),
                Cell::from(Span::styled(
                    c.restarts.to_string(),
                    if c.restarts > 0 { t.warn } else { t.base },
                )),
                // Only the running containers on screen are sampled;
                // "-" until two samples are in.
                match model.stats.get(&c.id) {
                    Some(u) => Cell::from(u.cpu_text()),
                    None => Cell::from(Span::styled("-", t.dim)),
                },
                match model.stats.get(&c.id) {
                    Some(u) => Cell::from(u.memory_text()),
                    None => Cell::from(Span::styled("-", t.dim)),
                },
            ];
            if wide {
                cells.push(Cell::from(Span::styled(c.ports.clone(), t.dim)));
            }
            Row::new(cells)
        },
    );
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::super::testing::*;

    #[test]
    fn stats_stream_only_for_running_containers_on_screen_and_show_in_columns() {
        use super::super::super::model::Msg;
        use crate::domain::Usage;
        let mut m = loaded();
        assert!(m.stats_targets().is_empty(), "not on the Containers view");
        m.update(key('3'));
        // Which rows are on screen is known once a frame is drawn; at 80x12
        // the table shows 7 rows.
        render(&m, 80, 12);
        let on_screen = m.stats_targets();
        let running = m
            .container_rows
            .iter()
            .filter(|c| c.state == crate::domain::State::Running)
            .count();
        assert!(!on_screen.is_empty() && on_screen.len() <= running);
        for (_, id) in &on_screen {
            let c = m.container_rows.iter().find(|c| &c.id == id).unwrap();
            assert_eq!(c.state, crate::domain::State::Running);
        }
        let usage = |cpu: f64, mb: u64| Usage {
            cpu,
            memory: mb * 1024 * 1024,
            limit: 0,
        };
        let mut samples: Vec<_> = on_screen
            .iter()
            .enumerate()
            .map(|(i, (_, id))| (id.clone(), usage(i as f64 * 12.5, 14 + i as u64)))
            .collect();
        samples.push(("not-on-screen".into(), usage(99.0, 1)));
        assert!(m.update(Msg::Stats(samples)));
        assert_eq!(
            m.stats.len(),
            on_screen.len(),
            "off-screen figures are not kept"
        );
        let narrow = render(&m, 80, 24);
        // At 80 columns a name keeps its start and its end (`…-b2`).
        assert!(
            narrow.contains("demo-w…-v7-b2") && !narrow.contains("PORTS"),
            "{narrow}"
        );
        insta::assert_snapshot!(narrow);
        let wide = render(&m, 120, 24);
        assert!(
            wide.contains("PORTS") && wide.contains("8080/tcp"),
            "{wide}"
        );
        // Leaving the view stops every stream.
        m.update(key('2'));
        assert!(m.stats_targets().is_empty());
    }

    #[test]
    fn containers_unhealthy_first() {
        let m = after("3");
        insta::assert_snapshot!(render(&m, 80, 24));
    }

    #[test]
    fn containers_filtered_by_regex_and_inverted() {
        let mut m = after("3");
        for c in "web-v7".chars() {
            m.update(key(c));
        }
        // Typed without `/` first: nothing filters; `/` opens the filter.
        assert_eq!(m.visible.of(crate::tui::tab::Tab::Containers).len(), 6);
        m.update(key('/'));
        for c in "!demo".chars() {
            m.update(key(c));
        }
        m.update(code(KeyCode::Enter));
        insta::assert_snapshot!(render(&m, 80, 24));
    }
}
