//! Apps: per app and destination, its roles (serving/total across hosts),
//! the versions running, who holds its deploy lock, and its last action.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use super::super::model::{Model, Tab};
use super::super::rows::{AppRow, LockCell};
use super::super::theme::Theme;
use super::fit;
use crate::labels::Source;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    // The roles column is as wide as its longest text (20 to 40): room goes
    // to what has text.
    // Below 100 columns (an SSH session's 80) the roles give room back
    // first: their counts come first, what follows them is cut.
    let roles_max = if area.width < 100 { 20 } else { 40 };
    let roles_width = model
        .app_rows
        .iter()
        .map(|a| roles(a, t).width())
        .max()
        .unwrap_or(0)
        .clamp(20, roles_max) as u16;
    let name_width = name_width(&model.app_rows);
    // What the two flexible columns get (borders, fixed columns, spacing).
    let rest = area
        .width
        .saturating_sub(2 + 1 + name_width as u16 + roles_width + 8 + 5) as usize;
    // Who holds the lock comes before the last run: LOCK gets three fifths,
    // and on a narrow terminal at least what a holder's line needs
    // (`bo@ci-7 deploy v8 1m`), leaving LAST a few columns.
    let longest_lock = model
        .app_rows
        .iter()
        .map(|a| lock_text(&a.lock, model.now, t).0.chars().count())
        .max()
        .unwrap_or(0);
    let lock_width = (rest * 3 / 5)
        .max(longest_lock.min(22))
        .min(rest.saturating_sub(8))
        .max(rest.min(8));
    let last_width = rest.saturating_sub(lock_width);
    let widths = [
        Constraint::Length(1),
        Constraint::Length(name_width as u16),
        Constraint::Length(roles_width),
        Constraint::Length(8),
        Constraint::Length(lock_width as u16),
        Constraint::Length(last_width as u16),
    ];
    super::table(
        frame,
        area,
        model,
        super::Columns {
            tab: Tab::Apps,
            title: "apps",
            total: model.app_rows.len(),
            header: &["", "APP", "ROLES", "VERSION", "LOCK", "LAST"],
            widths: &widths,
        },
        |i| {
            let Some(a) = model.app_rows.get(i) else {
                return Row::default();
            };
            let (sym, tone) = if a.ok {
                ("✓", t.ok)
            } else {
                ("✗", t.error)
            };
            let (lock, lock_style) = lock_text(&a.lock, model.now, t);
            let (last, last_style) = match (&a.problem, &a.last) {
                // During an incident what is wrong now beats the last run.
                (Some(p), _) if !a.ok => (p.clone(), t.error),
                (_, Some(l)) => (
                    format!(
                        "{} {} {}",
                        l.verb,
                        l.word,
                        crate::domain::format::age((model.now - l.started_at).num_seconds())
                    ),
                    if l.ok { t.dim } else { t.error },
                ),
                (_, None) => ("-".into(), t.dim),
            };
            Row::new(vec![
                Cell::from(Span::styled(sym, tone)),
                Cell::from(name(a, name_width, t)),
                Cell::from(super::fit_line(roles(a, t), roles_width as usize)),
                Cell::from(fit(
                    &if a.versions.is_empty() {
                        "-".to_string()
                    } else {
                        a.versions.join(",")
                    },
                    8,
                )),
                Cell::from(Span::styled(fit(&lock, lock_width), lock_style)),
                Cell::from(Span::styled(fit(&last, last_width), last_style)),
            ])
        },
    );
}

/// The APP column's width: its longest name (with a tool's tag), 14 to 30.
fn name_width(rows: &[AppRow]) -> usize {
    rows.iter()
        .map(|a| {
            let tag = if a.source == Source::Berth {
                usize::from(!a.declared)
            } else {
                a.source.as_str().len() + 1
            };
            a.app.chars().count() + a.destination.chars().count() + tag + 1
        })
        .max()
        .unwrap_or(0)
        .clamp(14, 30)
}

fn name<'a>(a: &AppRow, width: usize, t: &Theme) -> Line<'a> {
    let mut name = a.app.clone();
    if !a.destination.is_empty() {
        name = format!("{name}@{}", a.destination);
    }
    let mut spans = vec![Span::styled(fit(&name, width), t.base)];
    if a.source != Source::Berth {
        spans = vec![
            Span::styled(
                fit(&name, width.saturating_sub(a.source.as_str().len() + 1)),
                t.base,
            ),
            Span::styled(format!(" {}", a.source.as_str()), t.dim),
        ];
    } else if !a.declared {
        spans.push(Span::styled("?", t.warn));
    }
    Line::from(spans)
}

fn roles<'a>(a: &AppRow, t: &Theme) -> Line<'a> {
    // What a deploy would lack comes first: it is why nothing runs.
    if let Some(lack) = a.lacks.first() {
        return Line::from(Span::styled(format!("cannot deploy: {lack}"), t.error));
    }
    let never = a.roles.iter().all(|r| r.total == 0) && a.retained.is_empty() && a.last.is_none();
    // Only berth's own apps are deployed from here; another tool's app
    // with nothing running says why, or that nothing runs.
    if a.source != Source::Berth && a.roles.iter().all(|r| r.total == 0) {
        return Line::from(Span::styled(
            a.problem
                .clone()
                .unwrap_or_else(|| "nothing running".into()),
            t.error,
        ));
    }
    if a.declared && never {
        return Line::from(Span::styled("not deployed: press d", t.warn));
    }
    if a.roles.is_empty() {
        return Line::from(Span::styled("nothing running", t.error));
    }
    let mut spans = Vec::new();
    for (i, r) in a.roles.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        let tone = if !r.ok {
            t.error
        } else if r.serving < r.total {
            t.warn
        } else {
            t.ok
        };
        spans.push(Span::styled(
            format!("{} {}/{}", r.role, r.serving, r.total),
            tone,
        ));
    }
    if !a.retained.is_empty() {
        spans.push(Span::styled(
            format!(" retained {}", a.retained.join(" ")),
            t.dim,
        ));
    }
    Line::from(spans)
}

/// The lock column: free, or who holds it, doing what, for how long.
pub fn lock_text(
    lock: &LockCell,
    now: chrono::DateTime<chrono::Utc>,
    t: &Theme,
) -> (String, Style) {
    match lock {
        LockCell::Unknown => ("…".into(), t.dim),
        LockCell::Free => ("free".into(), t.dim),
        LockCell::NotBerth => ("-".into(), t.dim),
        LockCell::Error(e) => (format!("? {e}"), t.warn),
        LockCell::Broken(b) => (format!("BROKEN {} (U clears)", b.problem), t.error),
        LockCell::Foreign(l) => {
            let by = l.holder.as_deref().unwrap_or("someone");
            let msg = l
                .message
                .as_deref()
                .map(|m| format!(" \"{m}\""))
                .unwrap_or_default();
            let age = l
                .since
                .map(|s| format!(" {}", crate::domain::format::age((now - s).num_seconds())))
                .unwrap_or_default();
            if l.left_over {
                (format!("LEFT OVER {by}{age} ({})", l.tool), t.error)
            } else {
                (format!("{by}{msg}{age} ({})", l.tool), t.warn)
            }
        }
        LockCell::Held(s) => {
            let h = &s.holder;
            let what = match (h.action.as_str(), &h.version, &h.message) {
                ("manual", _, Some(m)) => format!("\"{m}\""),
                ("manual", _, None) => "manual".into(),
                (a, Some(v), _) => format!("{a} {v}"),
                (a, None, _) => a.to_string(),
            };
            let age = crate::domain::format::age((now - h.acquired_at).num_seconds());
            let text = format!("{}@{} {what} {age}", h.user, h.machine);
            if s.skew_secs.is_some() {
                (format!("STALE (clock ahead) {text}"), t.error)
            } else if s.stale {
                (format!("STALE {text}"), t.error)
            } else {
                (text, t.warn)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::super::model::Msg;
    use super::super::super::rows::LockCell;
    use super::super::testing::*;
    use crate::engine::history::{Performer, Record};

    /// Only berth's apps invite a deploy: another tool's declared app with
    /// nothing running says so, or why (a Kamal file that did not read).
    #[test]
    fn a_kamal_app_with_nothing_running_never_invites_a_deploy() {
        use crate::labels::Source;
        let theme =
            crate::tui::theme::Theme::built_in("default", crate::tui::theme::Palette::Ansi16);
        let text = |row: &super::AppRow| {
            super::roles(row, &theme)
                .spans
                .iter()
                .map(|s| s.content.to_string())
                .collect::<String>()
        };
        let kamal = super::AppRow::empty("shop", "", Source::Kamal, true, LockCell::NotBerth);
        assert_eq!(text(&kamal), "nothing running");
        let failed = super::AppRow {
            problem: Some("not read: deploy.prod.yml:3:5: berth needs `servers[0]`".into()),
            ..super::AppRow::empty(
                "deploy.prod.yml",
                "prod",
                Source::Kamal,
                true,
                LockCell::NotBerth,
            )
        };
        assert!(text(&failed).starts_with("not read:"), "{}", text(&failed));
        let berth = super::AppRow::empty("demo", "", Source::Berth, true, LockCell::Unknown);
        assert_eq!(text(&berth), "not deployed: press d");
    }

    #[test]
    fn an_app_never_deployed_says_so_and_one_that_cannot_be_says_why() {
        let mut m = model();
        m.update(Msg::Preflight(BTreeMap::from([(
            "shop".to_string(),
            vec!["the secrets file cannot be read: secrets.env".to_string()],
        )])));
        let screen = render(&m, 100, 24);
        let line = |app: &str| {
            screen
                .lines()
                .find(|l| l.contains(&format!(" {app} ")))
                .unwrap_or_default()
                .to_string()
        };
        assert!(line("demo").contains("not deployed: press d"), "{screen}");
        assert!(
            line("shop").contains("cannot deploy: the secrets file cannot"),
            "{screen}"
        );
    }

    #[test]
    fn broken_and_clock_skewed_locks_say_so_and_how_to_clear() {
        let t = crate::tui::theme::Theme::plain();
        let broken = LockCell::Broken(Box::new(crate::engine::lock::Broken {
            path: "/s/locks/demo".into(),
            problem: "its holder record (holder.json) is empty".into(),
            fix: "berth lock release demo --force".into(),
        }));
        let (text, _) = super::lock_text(&broken, now(), &t);
        assert_eq!(
            text,
            "BROKEN its holder record (holder.json) is empty (U clears)"
        );
        let LockCell::Held(mut s) = held("deploy", None, true, 10) else {
            unreachable!()
        };
        s.skew_secs = Some(3600);
        let (text, _) = super::lock_text(&LockCell::Held(s), now(), &t);
        assert!(text.starts_with("STALE (clock ahead) bo@ci-7"), "{text}");
    }

    #[test]
    fn apps_with_locks_and_last_runs() {
        let mut m = loaded();
        m.update(Msg::Locks(BTreeMap::from([
            (
                ("demo".into(), String::new()),
                held("deploy", None, false, 75),
            ),
            (
                ("shop".into(), String::new()),
                held("manual", Some("db migration"), true, 3 * 3600),
            ),
        ])));
        m.update(Msg::History(vec![(
            "edge-1".into(),
            Record {
                started_at: now() - chrono::Duration::minutes(20),
                finished_at: now() - chrono::Duration::minutes(19),
                performer: Performer {
                    user: "ana".into(),
                    machine: "laptop".into(),
                },
                action: "deploy".into(),
                app: "shop".into(),
                destination: String::new(),
                version: Some("v3".into()),
                digest: None,
                result: "failed".into(),
                failed_stage: Some("health gate web [1/1]".into()),
                error: Some("unhealthy".into()),
                note: None,
                run: String::new(),
                tool: String::new(),
            },
        )]));
        insta::assert_snapshot!(render(&m, 80, 24));

        // Ages move with the clock, not only when the fleet changes.
        let before = render(&m, 120, 24);
        m.update(Msg::Tick(now() + chrono::Duration::minutes(40)));
        let after = render(&m, 120, 24);
        assert!(before.contains("deploy failed 20m"), "{before}");
        assert!(after.contains("deploy failed 1h0m"), "{after}");
    }
}
