//! One container: what `docker inspect` would tell an operator first, and
//! its last health-check results with their output.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::super::model::Model;
use super::{age, container_symbol};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, host: &str, id: &str) {
    let t = &model.theme;
    let Some(c) = model
        .fleet
        .hosts
        .get(host)
        .and_then(|h| h.containers.get(id))
    else {
        frame.render_widget(
            Paragraph::new(format!("container {id} on {host} is gone (Esc back)")).style(t.warn),
            area,
        );
        return;
    };
    let (sym, tone) = container_symbol(c.state, c.health, c.exit_code, t);
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:>10}  "), t.dim),
            Span::styled(v, t.base),
        ])
    };
    let o = &c.owner;
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!("{sym} "), tone),
            Span::styled(c.name.clone(), t.title),
            Span::styled(format!("  {}", c.short_id()), t.dim),
        ]),
        field("host", host.to_string()),
        field(
            "state",
            format!(
                "{} · health {} · up {}",
                c.state.as_str(),
                c.health.as_str(),
                age(c.uptime(model.now).and(c.started_at), model.now)
            ),
        ),
        field("image", c.image.clone()),
        field(
            "owner",
            format!(
                "{} app {} role {} version {}{}",
                o.source.as_str(),
                o.app.as_deref().unwrap_or("-"),
                o.role.as_deref().unwrap_or("-"),
                o.version.as_deref().unwrap_or("-"),
                if o.destination.is_empty() {
                    String::new()
                } else {
                    format!(" destination {}", o.destination)
                }
            ),
        ),
        field(
            "restarts",
            format!(
                "{}{}{}",
                c.restart_count,
                c.exit_code
                    .map(|e| format!(" · last exit {e}"))
                    .unwrap_or_default(),
                if c.oom_killed { " · OOM killed" } else { "" }
            ),
        ),
        field(
            "ports",
            c.ports
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Line::from(""),
        Line::from(Span::styled("health checks (newest last)", t.header)),
    ];
    if c.health_log.is_empty() {
        lines.push(Line::from(Span::styled("  none recorded", t.dim)));
    }
    for p in &c.health_log {
        let ok = p.exit_code == Some(0);
        lines.push(Line::from(vec![
            Span::styled(
                if ok { "  ✓ " } else { "  ✗ " },
                if ok { t.ok } else { t.error },
            ),
            Span::styled(
                p.at.map(|a| a.format("%H:%M:%S ").to_string())
                    .unwrap_or_default(),
                t.dim,
            ),
            Span::styled(
                format!(
                    "exit {} ",
                    p.exit_code.map_or("?".into(), |e| e.to_string())
                ),
                t.dim,
            ),
            Span::styled(crate::sanitize::one_line(&p.output), t.base),
        ]));
    }
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(" container ", t.title));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::super::testing::*;

    #[test]
    fn container_details_with_failing_health_checks() {
        let mut m = loaded();
        m.update(key('3'));
        m.update(code(KeyCode::Enter));
        insta::assert_snapshot!(render(&m, 80, 24));
    }
}
