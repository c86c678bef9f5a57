//! The app screen (Enter on an app): its roles on each host with their
//! containers, the versions running and retained, its lock, what a deploy
//! lacks, its proxy, and its recent runs.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::super::model::Model;
use super::apps::lock_text;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, app: &str, destination: &str) {
    let t = &model.theme;
    let title = if destination.is_empty() {
        format!(" app {app} ")
    } else {
        format!(" app {app}@{destination} ")
    };
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(title, t.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let row = model
        .app_rows
        .iter()
        .find(|r| r.app == app && r.destination == destination);
    let mut lines: Vec<Line> = Vec::new();
    let label = |s: &str| Span::styled(format!("{s:>10}  "), t.dim);
    if let Some(r) = row {
        let (verdict, tone) = if r.ok {
            ("✓ ok", t.ok)
        } else {
            ("✗ NOT OK", t.error)
        };
        let mut spans = vec![label("health"), Span::styled(verdict, tone)];
        if let Some(p) = &r.problem {
            spans.push(Span::styled(format!("  {p}"), t.error));
        }
        lines.push(Line::from(spans));
        lines.push(Line::from(vec![
            label("versions"),
            Span::styled(
                if r.versions.is_empty() {
                    "none running".to_string()
                } else {
                    format!("{} running", r.versions.join(", "))
                },
                t.base,
            ),
            Span::styled(
                if r.retained.is_empty() {
                    String::new()
                } else {
                    format!("  · retained {}", r.retained.join(" "))
                },
                t.dim,
            ),
        ]));
        let (lock, lock_style) = lock_text(&r.lock, model.now, t);
        lines.push(Line::from(vec![
            label("lock"),
            Span::styled(lock, lock_style),
        ]));
        let (pre, pre_style) = match r.lacks.first() {
            Some(l) => (format!("a deploy lacks: {l}"), t.error),
            None if r.declared && !model.preflight.contains_key(app) => {
                ("checking…".to_string(), t.dim)
            }
            None if r.declared => ("nothing missing".to_string(), t.ok),
            None => ("(not declared here)".to_string(), t.dim),
        };
        lines.push(Line::from(vec![
            label("preflight"),
            Span::styled(pre, pre_style),
        ]));
        for l in r.lacks.iter().skip(1) {
            lines.push(Line::from(vec![
                label(""),
                Span::styled(l.clone(), t.error),
            ]));
        }
    }
    if let Some(app_name) = crate::config::AppName::new(app).ok()
        && let Some(p) = model.config.proxy(
            &app_name,
            crate::config::DestinationName::new(destination)
                .ok()
                .as_ref(),
        )
    {
        let domains = if p.domains.is_empty() {
            "any name".to_string()
        } else {
            p.domains.join(", ")
        };
        lines.push(Line::from(vec![
            label("proxy"),
            Span::styled(
                format!(
                    "{domains} :{} → role {} port {} (health {})",
                    p.listen, p.role, p.app_port, p.health_path
                ),
                t.base,
            ),
        ]));
    }
    if let Some(k) = model.config.kamal_app(app, destination) {
        lines.extend(kamal_lines(k, &label, t));
    }
    lines.push(Line::from(""));
    // The container's name gives room back first (shortened with `…`), so
    // STATE keeps at least 14 columns at 80; nothing wraps.
    let width = usize::from(inner.width);
    let name_width = width.saturating_sub(12 + 12 + 10 + 14).clamp(12, 34);
    let state_width = width.saturating_sub(12 + 12 + 10 + name_width + 1);
    lines.push(Line::from(Span::styled(
        format!(
            "{:<12}{:<12}{:<w$} {:<10}STATE",
            "ROLE",
            "HOST",
            "CONTAINER",
            "VERSION",
            w = name_width
        ),
        t.header,
    )));
    // The model's report of the whole fleet: made once a change, not a frame.
    for host in &model.report.hosts {
        for a in host
            .apps
            .iter()
            .filter(|a| a.app == app && a.destination == destination)
        {
            for role in &a.roles {
                if role.containers.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled(format!("{:<12}{:<12}", role.role, host.name), t.base),
                        Span::styled(
                            if host.reachable {
                                "nothing runs here"
                            } else {
                                "host unreachable"
                            },
                            if role.ok { t.dim } else { t.error },
                        ),
                    ]));
                }
                let counted = role.containers.iter().map(|c| (c, false));
                for (c, kept) in counted.chain(role.retained.iter().map(|c| (c, true))) {
                    let (state, tone) = match (&c.reason, kept) {
                        (_, true) => ("○ retained".to_string(), t.dim),
                        (Some(reason), _) => (format!("✗ {reason}"), t.error),
                        (None, _) if c.state == "running" => (format!("✓ {}", c.health), t.ok),
                        (None, _) => (c.state.to_string(), t.dim),
                    };
                    lines.push(Line::from(vec![
                        Span::styled(
                            format!(
                                "{:<12}{:<12}{:<w$} {:<10}",
                                super::fit(&role.role, 11),
                                super::fit(&host.name, 11),
                                super::fit(&c.name, name_width),
                                super::fit(c.version.as_deref().unwrap_or("-"), 9),
                                w = name_width
                            ),
                            t.base,
                        ),
                        Span::styled(super::fit(&state, state_width), tone),
                    ]));
                }
            }
        }
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled("recent runs", t.header)));
    let mut runs: Vec<_> = model
        .live
        .iter()
        .chain(&model.past)
        .filter(|r| r.app == app && r.destination == destination)
        .collect();
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    if runs.is_empty() {
        lines.push(Line::from(Span::styled("  none recorded", t.dim)));
    }
    for r in runs.iter().take(5) {
        let (word, tone) = match &r.result {
            None => ("running", t.warn),
            Some(res) if res.is_ok() => (res.word(), t.ok),
            Some(res) if res.is_refusal() => (res.word(), t.warn),
            Some(res) => (res.word(), t.error),
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!(
                    "  {:<10}{:<10}",
                    r.verb,
                    r.version.as_deref().unwrap_or("-")
                ),
                t.base,
            ),
            Span::styled(format!("{word:<10}"), tone),
            Span::styled(
                format!(
                    "{} ago by {}",
                    crate::domain::format::age((model.now - r.started_at).num_seconds()),
                    r.performer
                ),
                t.dim,
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// A Kamal app's own lines: where it is read from and how Kamal deploys
/// it, its public names, its accessories' images, and its aliases (the
/// commands its operators run).
fn kamal_lines<'a>(
    k: &crate::config::kamal::KamalApp,
    label: &dyn Fn(&str) -> Span<'a>,
    t: &crate::tui::theme::Theme,
) -> Vec<Line<'a>> {
    let mut lines = vec![Line::from(vec![
        label("kamal"),
        Span::styled(
            clean(&format!(
                "{} · `{}`",
                crate::config::kamal::destination_or_base(&k.file, k.destination.as_deref())
                    .display(),
                k.command("deploy")
            )),
            t.base,
        ),
    ])];
    if !k.proxy_hosts.is_empty() {
        lines.push(Line::from(vec![
            label("proxy"),
            Span::styled(clean(&k.proxy_hosts.join(", ")), t.base),
        ]));
    }
    for a in &k.accessories {
        lines.push(Line::from(vec![
            label("accessory"),
            Span::styled(
                clean(&format!(
                    "{} {}",
                    a.container(&k.service),
                    a.image.as_deref().unwrap_or("")
                )),
                t.base,
            ),
        ]));
    }
    for (name, command) in &k.aliases {
        lines.push(Line::from(vec![
            label("alias"),
            Span::styled(clean(&format!("{name}: ")), t.base),
            Span::styled(clean(&format!("kamal {command}")), t.dim),
        ]));
    }
    lines
}

/// Text from a deploy file, made inert for the terminal.
fn clean(s: &str) -> String {
    crate::sanitize::one_line(s)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;

    /// A Kamal app read from its deploy file, on a host where its web role
    /// runs and its accessory is not started yet: the app screen says
    /// where it is read from, its public names, its accessory and alias,
    /// and that the accessory runs nowhere.
    #[test]
    fn kamal_app_screen_shows_its_accessories_names_and_aliases() {
        let t = tempfile::tempdir().unwrap();
        let deploy = t.path().join("config/deploy.yml");
        std::fs::create_dir_all(deploy.parent().unwrap()).unwrap();
        std::fs::write(
            &deploy,
            "service: shop\nservers: [10.0.0.1]\nproxy:\n  hosts: [shop.example.com, www.shop.example.com]\naccessories:\n  db:\n    image: postgres:16\n    host: 10.0.0.1\naliases:\n  console: app exec -i bin/console\n",
        )
        .unwrap();
        let mut config =
            crate::config::parse(std::path::Path::new("berth.yaml"), "version: 2\n").unwrap();
        config
            .add_kamal(&crate::config::kamal::sources(&deploy, &[]), &|_| None)
            .unwrap();
        let mut m = crate::tui::model::Model::new(
            std::sync::Arc::new(config),
            crate::tui::theme::Theme::built_in("default", crate::tui::theme::Palette::Ansi16),
            crate::tui::theme::Palette::Ansi16,
            false,
        );
        m.update(crate::tui::model::Msg::Tick(now()));
        let mut f = crate::domain::Fleet::new([("10-0-0-1", "ssh://root@10.0.0.1:22".to_string())]);
        let mut web = container(
            "shop-web-abc1234",
            "shop",
            "web",
            "abc1234",
            crate::domain::State::Running,
            crate::domain::Health::None,
        );
        web.owner.source = crate::labels::Source::Kamal;
        f.apply(crate::domain::Change::Synced {
            host: "10-0-0-1".into(),
            engine: engine(),
            containers: vec![web],
        });
        m.update(crate::tui::model::Msg::Fleet(f));
        let mut terminal =
            ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 24)).unwrap();
        terminal
            .draw(|frame| super::draw(frame, frame.area(), &m, "shop", ""))
            .unwrap();
        let screen: String = terminal
            .backend()
            .buffer()
            .content()
            .chunks(100)
            .map(|row| {
                row.iter()
                    .map(|c| c.symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
                    + "\n"
            })
            .collect();
        assert!(screen.contains("kamal deploy"), "{screen}");
        assert!(
            screen.contains("proxy  shop.example.com, www.shop.example.com"),
            "{screen}"
        );
        assert!(
            screen.contains("accessory  shop-db postgres:16"),
            "{screen}"
        );
        assert!(
            screen.contains("alias  console: kamal app exec -i bin/console"),
            "{screen}"
        );
        assert!(
            screen.contains("accessory:db10-0-0-1    nothing runs here"),
            "{screen}"
        );
        assert!(screen.contains("✗ NOT OK"), "{screen}");
    }

    #[test]
    fn app_screen() {
        let m = after("2\n");
        let screen = render(&m, 100, 30);
        assert!(screen.contains("app demo"), "{screen}");
        insta::assert_snapshot!(screen);
    }
}
