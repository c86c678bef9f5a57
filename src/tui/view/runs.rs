//! Runs: every action started from this console, and those found in the
//! hosts' history, newest first.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Cell, Row};

use super::super::model::{Model, Tab};
use super::secs;
use crate::engine::RunResult;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model) {
    let t = &model.theme;
    // ACTION as wide as its longest title (16 to 40); the rest goes to
    // RESULT ("failed: health gate web [1/2]") and BY.
    let action_width = model
        .run_order
        .iter()
        .filter_map(|r| model.run(r))
        .map(|r| unicode_width::UnicodeWidthStr::width(r.title().as_str()))
        .max()
        .unwrap_or(0)
        .clamp(16, 40) as u16;
    let widths = [
        Constraint::Length(1),
        Constraint::Length(8),
        Constraint::Length(action_width),
        Constraint::Fill(3),
        Constraint::Length(7),
        Constraint::Fill(2),
    ];
    super::table(
        frame,
        area,
        model,
        super::Columns {
            tab: Tab::Runs,
            title: "runs",
            total: model.run_order.len(),
            header: &["", "STARTED", "ACTION", "RESULT", "TOOK", "BY"],
            widths: &widths,
        },
        |i| {
            let Some(r) = model.run_order.get(i).and_then(|r| model.run(r)) else {
                return Row::new(vec![Cell::from("")]);
            };
            let (sym, word, tone) = match &r.result {
                None => (
                    super::super::model::stage_symbol(
                        &super::super::runs::StageState::Running {
                            since: r.started_at,
                        },
                        model.now,
                    ),
                    r.current_stage()
                        .and_then(|s| r.stages.get(s))
                        .map(|s| s.name.clone())
                        // A run known from another tool's record (a Dokku
                        // build still going) has no stages to name.
                        .unwrap_or_else(|| {
                            if r.id.is_none() {
                                "running"
                            } else {
                                "starting"
                            }
                            .into()
                        }),
                    t.warn,
                ),
                Some(RunResult::Ok) => ("✓", "ok".to_string(), t.ok),
                Some(RunResult::Failed { stage, .. }) if stage.is_empty() => {
                    ("✗", "failed".to_string(), t.error)
                }
                Some(RunResult::Failed { stage, .. }) => ("✗", format!("failed: {stage}"), t.error),
                Some(RunResult::Cancelled { .. }) => ("-", "cancelled".to_string(), t.warn),
            };
            let took = match r.elapsed_ms {
                Some(ms) => secs(ms),
                None => super::age(Some(r.started_at), model.now),
            };
            let by = match &r.host {
                Some(h) => format!("{} (history on {h})", r.performer),
                None => format!("{} (here)", r.performer),
            };
            let started = r.started_at.format("%H:%M:%S");
            Row::new(vec![
                Cell::from(Span::styled(sym, tone)),
                Cell::from(Span::styled(started.to_string(), t.dim)),
                Cell::from(r.title()),
                Cell::from(Span::styled(word, tone)),
                Cell::from(took),
                Cell::from(Span::styled(by, t.dim)),
            ])
        },
    );
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::super::testing::*;

    #[test]
    fn runs_list_with_a_running_deploy() {
        let mut m = loaded();
        let (run, plan) = deploy_run(&mut m);
        stage(&mut m, run, &plan, 0, Some(crate::engine::Outcome::Ok));
        stage(&mut m, run, &plan, 1, None);
        m.update(code(KeyCode::Esc));
        m.update(key('4'));
        insta::assert_snapshot!(render(&m, 80, 24));
    }
}
