//! Events: recent Docker events across hosts (die, oom, health_status,
//! restart, ...), newest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

use super::super::model::{Model, Tab};
use super::fit;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    let widths = [
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(14),
        Constraint::Fill(2),
        Constraint::Fill(1),
    ];
    super::table(
        frame,
        area,
        model,
        super::Columns {
            tab: Tab::Events,
            title: "events",
            total: model.fleet.events.len(),
            header: &["TIME", "HOST", "EVENT", "CONTAINER", "DETAIL"],
            widths: &widths,
        },
        |i| {
            let Some(e) = model.fleet.events.get(i) else {
                return Row::default();
            };
            let tone = match e.action.as_str() {
                "oom" | "die" | "kill" => t.error,
                "health_status" if e.detail.as_deref() == Some("unhealthy") => t.error,
                "health_status" if e.detail.as_deref() == Some("healthy") => t.ok,
                "restart" => t.warn,
                _ => t.base,
            };
            Row::new(vec![
                Cell::from(Span::styled(e.at.format("%H:%M:%S").to_string(), t.dim)),
                Cell::from(fit(&e.host, 8)),
                Cell::from(Span::styled(fit(&e.action, 14), tone)),
                Cell::from(e.container_name.clone()),
                Cell::from(e.detail.clone().unwrap_or_default()),
            ])
        },
    );
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn events_newest_first() {
        let m = after("5");
        insta::assert_snapshot!(render(&m, 80, 24));
    }
}
