//! Hosts: each host, reachable or not (with the reason), its Docker
//! version, and its containers counted by state.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use super::super::model::{Model, Tab};
use super::fit;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    let widths = [
        Constraint::Length(1),
        Constraint::Length(12),
        Constraint::Length(20),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Length(4),
        Constraint::Fill(1),
    ];
    let reason_width = area.width.saturating_sub(2 + 1 + 12 + 20 + 12 + 6) as usize;
    super::table(
        frame,
        area,
        model,
        super::Columns {
            tab: Tab::Hosts,
            title: "hosts",
            total: model.host_rows.len(),
            header: &["", "HOST", "DOCKER", "RUN", "STOP", "UNHL", "LINK"],
            widths: &widths,
        },
        |i| {
            let Some(h) = model.host_rows.get(i) else {
                return Row::default();
            };
            let (sym, tone) = if h.up {
                ("●", t.ok)
            } else {
                ("✗", t.error)
            };
            let link = if h.up {
                Line::from(Span::styled(fit(&h.endpoint, reason_width), t.dim))
            } else {
                Line::from(Span::styled(fit(&h.link, reason_width), t.error))
            };
            Row::new(vec![
                Cell::from(Span::styled(sym, tone)),
                Cell::from(fit(&h.name, 12)),
                Cell::from(fit(&h.docker, 20)),
                Cell::from(h.running.to_string()),
                Cell::from(h.stopped.to_string()),
                Cell::from(Span::styled(
                    h.unhealthy.to_string(),
                    if h.unhealthy > 0 { t.error } else { t.base },
                )),
                Cell::from(link),
            ])
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn hosts_with_one_unreachable() {
        let m = after("1");
        insta::assert_snapshot!(render(&m, 80, 24));
    }
}
