//! Containers: every container of every host, what needs eyes first
//! (unhealthy, restarting, crashed), with symbols that read in monochrome.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

use super::super::model::{CONTAINERS, Model};
use super::{age, container_symbol, fit};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    let widths = [
        Constraint::Length(1),
        Constraint::Fill(2),
        Constraint::Length(8),
        Constraint::Length(12),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Fill(1),
    ];
    super::table(
        frame,
        area,
        model,
        super::Columns {
            tab: CONTAINERS,
            title: "containers",
            total: model.container_rows.len(),
            header: &[
                "", "NAME", "HOST", "APP/ROLE", "VERSION", "HEALTH", "UP", "RST", "PORTS",
            ],
            widths: &widths,
        },
        |i| {
            let c = &model.container_rows[i];
            let (sym, tone) = container_symbol(c.state, c.health, c.exit_code, t);
            let app_role = match (c.app.as_str(), c.role.as_str()) {
                ("", _) => "-".to_string(),
                (a, "") => a.to_string(),
                (a, r) => format!("{a}/{r}"),
            };
            let health = match c.state {
                crate::inventory::model::State::Running => c.health.as_str().to_string(),
                s => match c.exit_code {
                    Some(code) if s == crate::inventory::model::State::Exited => {
                        format!("exit {code}")
                    }
                    _ => s.as_str().to_string(),
                },
            };
            let up = if c.state == crate::inventory::model::State::Running {
                age(c.started_at, model.now)
            } else {
                "-".into()
            };
            Row::new(vec![
                Cell::from(Span::styled(sym, tone)),
                Cell::from(c.name.clone()),
                Cell::from(fit(&c.host, 8)),
                Cell::from(fit(&app_role, 12)),
                Cell::from(fit(
                    if c.version.is_empty() {
                        "-"
                    } else {
                        &c.version
                    },
                    8,
                )),
                Cell::from(Span::styled(health, tone)),
                Cell::from(up),
                Cell::from(Span::styled(
                    c.restarts.to_string(),
                    if c.restarts > 0 { t.warn } else { t.base },
                )),
                Cell::from(Span::styled(c.ports.clone(), t.dim)),
            ])
        },
    );
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::super::testing::*;

    #[test]
    fn containers_unhealthy_first() {
        let mut m = loaded();
        m.update(key('3'));
        insta::assert_snapshot!(render(&m, 80, 24));
    }

    #[test]
    fn containers_filtered_by_regex_and_inverted() {
        let mut m = loaded();
        m.update(key('3'));
        for c in "web-v7".chars() {
            m.update(key(c));
        }
        // Typed without `/` first: nothing filters; `/` opens the filter.
        assert_eq!(m.visible[2].len(), 6);
        m.update(key('/'));
        for c in "!demo".chars() {
            m.update(key(c));
        }
        m.update(code(KeyCode::Enter));
        insta::assert_snapshot!(render(&m, 80, 24));
    }
}
