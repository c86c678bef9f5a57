//! One container: what `docker inspect` would tell an operator first, its
//! last health-check results with their output, and its log below.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::super::logs::LogOf;
use super::super::model::Model;
use super::{age, container_symbol, logpane};

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
            Span::styled(format!("  {} on {host}", c.short_id()), t.dim),
        ]),
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
                "{}{}{} · ports {}",
                c.restart_count,
                c.exit_code
                    .map(|e| format!(" · last exit {e}"))
                    .unwrap_or_default(),
                if c.oom_killed { " · OOM killed" } else { "" },
                if c.ports.is_empty() {
                    "-".to_string()
                } else {
                    c.ports
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ),
        Line::from(Span::styled("health checks (newest last)", t.header)),
    ];
    if c.health_log.is_empty() {
        lines.push(Line::from(Span::styled("  none recorded", t.dim)));
    }
    let skip = c.health_log.len().saturating_sub(HEALTH_SHOWN);
    for p in c.health_log.iter().skip(skip) {
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
    // The details keep their height up to half the screen; the log gets
    // the rest.
    let details_height = (lines.len() as u16 + 2).min(area.height / 2);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(details_height), Constraint::Min(3)]).areas(area);
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(" container ", t.title));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        top,
    );
    if model.inspect_shown {
        inspect_pane(frame, bottom, model, id);
    } else if let Some(v) = model
        .logs
        .as_ref()
        .filter(|v| matches!(&v.of, LogOf::Container { id: i, .. } if i == id))
    {
        logpane::draw(frame, bottom, model, v, " log ");
    }
}

/// `i`: how the container was started, secrets masked, in place of the log.
fn inspect_pane(frame: &mut Frame, area: Rect, model: &Model, id: &str) {
    let t = &model.theme;
    let block = Block::bordered().border_style(t.border).title(Span::styled(
        " inspect (j/k PgUp/PgDn scroll · i: back to the log) ",
        t.title,
    ));
    let found = model
        .inspect
        .as_ref()
        .filter(|(i, _)| i == id)
        .and_then(|(_, r)| r.as_ref());
    let said = |text: String, style| {
        Paragraph::new(Span::styled(text, style))
            .block(block.clone())
            .wrap(Wrap { trim: false })
    };
    let i = match found {
        None => return frame.render_widget(said("reading…".into(), t.dim), area),
        Some(Err(e)) => {
            return frame.render_widget(said(format!("cannot inspect: {e}"), t.error), area);
        }
        Some(Ok(None)) => {
            return frame.render_widget(said("the container is gone".into(), t.warn), area);
        }
        Some(Ok(Some(i))) => i,
    };
    let head = |k: &str| Line::from(Span::styled(k.to_string(), t.header));
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("  {k:<12} "), t.dim),
            Span::styled(v, t.base),
        ])
    };
    let words = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(" ")
        }
    };
    let mut lines = vec![
        head("run"),
        field("entrypoint", words(&i.entrypoint)),
        field("command", words(&i.command)),
        field(
            "user",
            if i.user.is_empty() {
                "-".into()
            } else {
                i.user.clone()
            },
        ),
        field(
            "workdir",
            if i.workdir.is_empty() {
                "-".into()
            } else {
                i.workdir.clone()
            },
        ),
        field("restart", i.restart_policy.clone()),
        field(
            "limits",
            format!(
                "memory {} · cpus {}",
                i.memory_limit
                    .map_or("unlimited".into(), |m| format!("{} MiB", m / (1024 * 1024))),
                i.cpus.map_or("unlimited".into(), |c| format!("{c:.2}"))
            ),
        ),
        head("image"),
        field("reference", dash(&i.image)),
        field("id", dash(&i.image_id)),
    ];
    if i.digests.is_empty() {
        lines.push(field(
            "digest",
            "- (none: built here, or never pulled)".into(),
        ));
    }
    lines.extend(i.digests.iter().map(|d| field("digest", d.clone())));
    lines.push(head("times"));
    lines.push(field("created", dash(&i.created)));
    lines.push(field("started", dash(&i.started)));
    lines.push(field("finished", dash(&i.finished)));
    lines.push(head("ports"));
    if i.ports.is_empty() {
        lines.push(field("-", "none published".into()));
    }
    lines.extend(i.ports.iter().map(|p| field("", p.clone())));
    lines.push(head("env (secrets masked)"));
    lines.extend(i.env.iter().map(|(k, v)| field(k, v.clone())));
    lines.push(head("mounts"));
    if i.mounts.is_empty() {
        lines.push(field("-", String::new()));
    }
    lines.extend(i.mounts.iter().map(|m| {
        field(
            &m.kind,
            format!(
                "{} → {}{}",
                m.source,
                m.destination,
                if m.read_only { " (read-only)" } else { "" }
            ),
        )
    }));
    lines.push(head("networks"));
    lines.extend(i.networks.iter().map(|(n, ip)| field(n, ip.clone())));
    lines.push(head("labels"));
    lines.extend(i.labels.iter().map(|(k, v)| field(k, v.clone())));
    // j/k, PgUp/PgDn, g/G scroll it; kept within what there is to show.
    let height = block.inner(area).height as usize;
    let most = lines.len().saturating_sub(height);
    model.inspect_most.set(most);
    let scroll = model.inspect_scroll.min(most);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll as u16, 0)),
        area,
    );
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

/// Health checks shown; Docker keeps the last five.
const HEALTH_SHOWN: usize = 3;

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::LogOf;

    use super::super::testing::*;

    use super::super::super::logs::LogLine;
    use super::super::super::model::{Model, Msg, Screen};

    fn open_first(m: &mut Model) -> (String, String) {
        m.update(key('3'));
        m.update(code(KeyCode::Enter));
        match &m.screen {
            Screen::Container { host, id } => (host.clone(), id.clone()),
            other => panic!("Enter opened {other:?}"),
        }
    }

    #[test]
    fn i_shows_how_it_was_started_in_place_of_the_log() {
        let mut m = loaded();
        let (host, id) = open_first(&mut m);
        assert!(
            m.take_effects()
                .contains(&super::super::super::model::Effect::Inspect {
                    host: host.clone(),
                    id: id.clone()
                }),
            "opening the screen reads its configuration"
        );
        m.update(key('i'));
        assert!(render(&m, 100, 40).contains("reading…"));
        let mut inspect = crate::domain::Inspect {
            command: vec!["sleep".into(), "3600".into()],
            env: vec![
                ("DB_PASSWORD".into(), "hunter2".into()),
                ("GREETING".into(), "hello".into()),
            ],
            restart_policy: "unless-stopped".into(),
            memory_limit: Some(256 * 1024 * 1024),
            mounts: vec![crate::domain::Mount {
                kind: "volume".into(),
                source: "pgdata".into(),
                destination: "/var/lib/postgresql".into(),
                read_only: false,
            }],
            image: "registry.example.com/demo:v7".into(),
            digests: vec!["registry.example.com/demo@sha256:4f1c".into()],
            ports: vec!["0.0.0.0:8080->80/tcp".into()],
            started: "2026-11-27T10:00:00Z".into(),
            // Enough labels to scroll.
            labels: (0..40)
                .map(|i| (format!("label.{i:02}"), "x".into()))
                .collect(),
            ..Default::default()
        };
        inspect.mask(&[], &[]);
        m.update(Msg::Inspected {
            host: host.clone(),
            id: id.clone(),
            inspect: Box::new(Ok(Some(inspect))),
        });
        let screen = render(&m, 100, 40);
        for want in [
            "inspect",
            "sleep 3600",
            "unless-stopped",
            "memory 256 MiB",
            "pgdata → /var/lib/postgresql",
            "GREETING",
            "hello",
            "registry.example.com/demo:v7",
            "registry.example.com/demo@sha256:4f1c",
            "0.0.0.0:8080->80/tcp",
            "2026-11-27T10:00:00Z",
        ] {
            assert!(screen.contains(want), "{want}: {screen}");
        }
        assert!(!screen.contains("hunter2"), "{screen}");
        // It scrolls: the last labels come into view, the first lines go.
        assert!(!screen.contains("label.39"), "{screen}");
        m.update(key('G'));
        let screen = render(&m, 100, 40);
        assert!(screen.contains("label.39"), "{screen}");
        assert!(!screen.contains("sleep 3600"), "{screen}");
        m.update(key('g'));
        assert!(render(&m, 100, 40).contains("sleep 3600"));
        // Another container's answer does not land on this screen.
        m.update(Msg::Inspected {
            host,
            id: "other".into(),
            inspect: Box::new(Err("boom".into())),
        });
        assert!(!render(&m, 100, 40).contains("boom"));
        m.update(key('i'));
        assert!(!render(&m, 100, 40).contains("env (secrets masked)"));
    }

    fn lines(m: &mut Model, host: &str, id: &str, texts: &[&str]) {
        m.update(Msg::LogLines {
            of: LogOf::Container {
                host: host.into(),
                id: id.into(),
            },
            lines: texts.iter().map(|t| LogLine::new(t, false)).collect(),
        });
    }

    #[test]
    fn container_details_with_failing_health_checks() {
        let mut m = loaded();
        open_first(&mut m);
        assert_eq!(m.log_target(), m.logs.as_ref().map(|v| v.of.clone()));
        insta::assert_snapshot!(render(&m, 80, 24));
    }

    #[test]
    fn container_log_follows_then_pauses_with_new_lines_counted() {
        let mut m = loaded();
        let (host, id) = open_first(&mut m);
        let many: Vec<String> = (1..=40).map(|i| format!("GET /api/{i} 200 3ms")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        lines(&mut m, &host, &id, &refs);
        // A hook's colours and a window-title sequence never reach the screen.
        lines(
            &mut m,
            &host,
            &id,
            &["\x1b[31merror\x1b[0m: upstream timed out\x1b]0;pwned\x07"],
        );
        let following = render(&m, 80, 24);
        assert!(following.contains("following"));
        assert!(following.contains("error: upstream timed out"));
        assert!(!following.contains("pwned") && !following.contains('\x1b'));
        insta::assert_snapshot!("container_log_following", following);
        m.update(key('k'));
        m.update(key('k'));
        lines(&mut m, &host, &id, &["GET /late 200", "GET /later 200"]);
        let paused = render(&m, 80, 24);
        assert!(paused.contains("PAUSED 4 new below"), "{paused}");
        assert!(!paused.contains("GET /later"));
        insta::assert_snapshot!("container_log_paused", paused);
        m.update(key('G'));
        assert!(render(&m, 80, 24).contains("GET /later 200"));
    }

    #[test]
    fn container_log_search_marks_and_walks_matches_and_wrap_shows_long_lines() {
        let mut m = loaded();
        let (host, id) = open_first(&mut m);
        let long = format!("trace {} END", "x".repeat(150));
        lines(
            &mut m,
            &host,
            &id,
            &[
                "boot ok",
                "GET /a 500",
                "GET /b 200",
                "GET /c 500",
                &long,
                "idle",
            ],
        );
        m.update(key('/'));
        for c in " 500".chars() {
            m.update(key(c));
        }
        m.update(code(KeyCode::Enter));
        let v = m.logs.as_ref().unwrap();
        assert!(!v.follow, "a search pauses on its match");
        assert_eq!(v.text(v.bottom_index().unwrap()), "GET /c 500");
        m.update(key('n'));
        let v = m.logs.as_ref().unwrap();
        assert_eq!(v.text(v.bottom_index().unwrap()), "GET /a 500");
        insta::assert_snapshot!("container_log_search", render(&m, 80, 24));
        m.update(key('n'));
        assert_eq!(
            m.notice.as_ref().map(|n| n.text.as_str()),
            Some("no older match")
        );
        // Esc clears the search first, then leaves the screen.
        m.update(code(KeyCode::Esc));
        assert!(m.logs.as_ref().unwrap().search.is_none());
        m.update(key('G'));
        assert!(!render(&m, 80, 24).contains(" END"), "cut without wrap");
        m.update(key('w'));
        let wrapped = render(&m, 80, 24);
        assert!(wrapped.contains(" END"), "{wrapped}");
        assert!(wrapped.contains("idle"));
        m.update(code(KeyCode::Esc));
        assert_eq!(m.screen, Screen::Main);
        assert_eq!(m.log_target(), None);
        assert!(m.logs.is_none());
    }

    #[test]
    fn a_log_that_ended_says_why_and_other_containers_lines_are_ignored() {
        let mut m = loaded();
        let (host, id) = open_first(&mut m);
        lines(&mut m, &host, "someone-else", &["not mine"]);
        assert!(m.logs.as_ref().unwrap().is_empty());
        lines(&mut m, &host, &id, &["last words"]);
        m.update(Msg::LogEnded {
            of: LogOf::Container {
                host: host.clone(),
                id: id.clone(),
            },
            reason: "the log stream ended: the container stopped".into(),
        });
        let out = render(&m, 80, 24);
        assert!(out.contains("last words"));
        assert!(
            out.contains("— the log stream ended: the container stopped —"),
            "{out}"
        );
    }
}
