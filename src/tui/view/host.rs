//! The host screen (Enter on a host): its engine, its containers by state,
//! the apps it runs, and its connection with the last error in full.

use crate::domain::format::bytes;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::super::model::Model;
use crate::domain::{Health, Link, State};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, name: &str) {
    let t = &model.theme;
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(format!(" host {name} "), t.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(h) = model.fleet.hosts.get(name) else {
        frame.render_widget(
            Paragraph::new(Span::styled("this host is no longer in the config", t.dim)),
            inner,
        );
        return;
    };
    let label = |s: &str| Span::styled(format!("{s:>11}  "), t.dim);
    let mut lines: Vec<Line> = Vec::new();
    let (link, tone) = match &h.link {
        Link::Up if h.synced => ("● up".to_string(), t.ok),
        Link::Up | Link::Connecting => ("… connecting".to_string(), t.warn),
        Link::Down {
            since, retry_at, ..
        } => (
            format!(
                "✗ down for {}{}",
                crate::domain::format::age((model.now - *since).num_seconds()),
                retry_at
                    .map(|r| format!(
                        ", retrying in {}",
                        crate::domain::format::age((r - model.now).num_seconds())
                    ))
                    .unwrap_or_default()
            ),
            t.error,
        ),
    };
    lines.push(Line::from(vec![
        label("connection"),
        Span::styled(link, tone),
    ]));
    if let Link::Down { reason, .. } = &h.link {
        // In full: this is what an operator needs to fix it.
        lines.push(Line::from(vec![
            label("last error"),
            Span::styled(reason.clone(), t.error),
        ]));
    }
    lines.push(Line::from(vec![
        label("endpoint"),
        Span::styled(h.endpoint.clone(), t.base),
    ]));
    lines.push(Line::from(vec![
        label("engine"),
        Span::styled(
            h.engine
                .as_ref()
                .map(|e| {
                    format!(
                        "{} {} (API {}) {}/{}",
                        e.product, e.version, e.api_version, e.os, e.arch
                    )
                })
                .unwrap_or_else(|| "not known yet".into()),
            t.base,
        ),
    ]));
    // Lock ages and heartbeats compare clocks: over 2 s apart is a problem.
    let (clock, clock_tone) = match model.host_clock.get(name) {
        None => ("measuring…".to_string(), t.dim),
        Some(Err(e)) => (format!("unknown: {e}"), t.warn),
        Some(Ok(ms)) if ms.abs() <= 2000 => (format!("{ms:+} ms against this machine"), t.ok),
        Some(Ok(ms)) => (
            format!(
                "{:+.1} s against this machine: lock ages and heartbeats will be off",
                *ms as f64 / 1000.0
            ),
            t.error,
        ),
    };
    lines.push(Line::from(vec![
        label("clock"),
        Span::styled(clock, clock_tone),
    ]));
    let (disk, disk_tone) = match model.host_disk.get(name) {
        None => ("measuring…".to_string(), t.dim),
        Some(Err(e)) => (format!("unknown: {e}"), t.warn),
        Some(Ok(d)) => (
            format!(
                "images {} (≤ {}) · containers {} ({} written) · volumes {}",
                d.images,
                bytes(d.image_bytes),
                d.containers,
                bytes(d.container_bytes),
                d.volumes
            ),
            t.base,
        ),
    };
    lines.push(Line::from(vec![
        label("disk"),
        Span::styled(disk, disk_tone),
    ]));
    let count = |f: &dyn Fn(&crate::domain::Container) -> bool| {
        h.containers.values().filter(|c| f(c)).count()
    };
    lines.push(Line::from(vec![
        label("containers"),
        Span::styled(
            format!(
                "{} running · {} stopped · {} restarting · {} unhealthy · {} in all",
                count(&|c| c.state == State::Running),
                count(&|c| matches!(c.state, State::Exited | State::Dead | State::Created)),
                count(&|c| c.state == State::Restarting),
                count(&|c| c.health == Health::Unhealthy),
                h.containers.len()
            ),
            t.base,
        ),
    ]));
    let mut apps: Vec<String> = h
        .containers
        .values()
        .filter_map(|c| {
            let app = c.owner.app.as_ref()?;
            Some(match c.owner.source {
                crate::labels::Source::Berth => app.clone(),
                other => format!("{app} ({})", other.as_str()),
            })
        })
        .collect();
    apps.sort();
    apps.dedup();
    lines.push(Line::from(vec![
        label("apps"),
        Span::styled(
            if apps.is_empty() {
                "none".to_string()
            } else {
                apps.join(", ")
            },
            t.base,
        ),
    ]));
    // What the configs put here that does not run: a role, or a Kamal
    // accessory not started yet.
    let missing: Vec<String> = model
        .report
        .hosts
        .iter()
        .filter(|r| r.name == name && r.reachable)
        .flat_map(|r| &r.apps)
        .flat_map(|a| {
            a.roles
                .iter()
                .filter(|role| role.declared && role.total == 0)
                .map(move |role| crate::sanitize::one_line(&format!("{} {}", a.app, role.role)))
        })
        .collect();
    if !missing.is_empty() {
        lines.push(Line::from(vec![
            label("not running"),
            Span::styled(missing.join(", "), t.error),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use crossterm::event::KeyCode;

    #[test]
    fn host_screens_up_and_unreachable() {
        let mut m = after("1\n");
        assert!(
            matches!(&m.take_effects()[..], [crate::tui::model::Effect::HostClock(h)] if h == "db-1"),
            "opening a host measures its clock"
        );
        m.update(crate::tui::model::Msg::HostClock {
            host: "db-1".into(),
            skew: Err("host db-1: connection refused".into()),
        });
        let unreachable = render(&m, 100, 20);
        m.update(code(KeyCode::Esc));
        m.update(key('j'));
        m.update(key('j'));
        m.update(code(KeyCode::Enter));
        m.update(crate::tui::model::Msg::HostClock {
            host: "edge-2".into(),
            skew: Ok(4200),
        });
        m.update(crate::tui::model::Msg::HostDisk {
            host: "edge-2".into(),
            disk: Ok(crate::ops::DiskUse {
                images: 12,
                image_bytes: 1_234_000_000,
                containers: 3,
                container_bytes: 42_000_000,
                volumes: 2,
            }),
        });
        let up = render(&m, 100, 20);
        insta::assert_snapshot!(format!("{unreachable}\n{up}"));
    }
}
