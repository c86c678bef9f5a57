//! One run: its stage list live (pending, running with spinner and elapsed,
//! ok, failed, skipped; per host), the app's lock holder, and the selected
//! stage's output in a scrollable pane.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::super::model::{Model, RunRef, stage_symbol};
use super::super::runs::{RunView, StageState};
use super::{fit, secs};
use crate::engine::RunResult;

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, r: &RunRef) {
    let t = &model.theme;
    let Some(run) = model.run(r) else {
        frame.render_widget(Paragraph::new("that run is gone").style(t.dim), area);
        return;
    };
    let stage_rows = (run.stages.len() as u16 + 2).clamp(3, area.height / 2);
    let [head, stages, output] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(stage_rows),
        Constraint::Min(3),
    ])
    .areas(area);
    header(frame, head, model, run);
    stage_list(frame, stages, model, run);
    output_pane(frame, output, model, run);
}

fn header(frame: &mut Frame, area: Rect, model: &Model, run: &RunView) {
    let t = &model.theme;
    let status = match &run.result {
        None => Span::styled(
            format!("running {}", super::age(Some(run.started_at), model.now)),
            t.warn,
        ),
        Some(RunResult::Ok) => {
            Span::styled(format!("ok in {}", secs(run.elapsed_ms.unwrap_or(0))), t.ok)
        }
        Some(RunResult::Failed { stage, .. }) => Span::styled(
            format!(
                "FAILED at `{stage}` after {}; the previous version keeps serving",
                secs(run.elapsed_ms.unwrap_or(0))
            ),
            t.error,
        ),
        Some(RunResult::Cancelled { .. }) => Span::styled(
            "CANCELLED; the previous version keeps serving".to_string(),
            t.warn,
        ),
    };
    let key = (run.app.clone(), run.destination.clone());
    let (lock, lock_style) = match model.locks.get(&key) {
        Some(l) => super::apps::lock_text(l, model.now, t),
        None => ("…".into(), t.dim),
    };
    let by = match &run.host {
        Some(h) => format!("by {} (from the history on {h})", run.performer),
        None => format!("by {}", run.performer),
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(format!(" {} ", run.title()), t.title),
            Span::styled(by, t.dim),
        ]),
        Line::from(vec![Span::raw(" "), status]),
        Line::from(vec![
            Span::styled(" lock: ", t.dim),
            Span::styled(lock, lock_style),
        ]),
    ];
    if let (Some(w), Some(line)) = (run.warnings.last(), lines.get_mut(2)) {
        line.spans.push(Span::styled(format!("  ⚠ {w}"), t.warn));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

fn stage_list(frame: &mut Frame, area: Rect, model: &Model, run: &RunView) {
    let t = &model.theme;
    let block = Block::bordered()
        .border_style(t.border)
        .title(Span::styled(" stages ", t.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if run.stages.is_empty() {
        let text = if run.host.is_some() {
            "stage detail is kept only for runs started in this console; the history has the result"
        } else {
            "planning…"
        };
        frame.render_widget(Paragraph::new(text).style(t.dim), inner);
        return;
    }
    let n = run.stages.len();
    let width = n.to_string().len();
    let height = inner.height as usize;
    let sel = model.cursor.stage.min(n - 1);
    let first = sel
        .saturating_sub(height.saturating_sub(1) / 2)
        .min(n.saturating_sub(height));
    model.hits.borrow_mut().stages = Some((
        Rect {
            height: inner.height.min((n - first) as u16),
            ..inner
        },
        first,
    ));
    let name_width = 26.min(inner.width as usize / 2);
    let lines: Vec<Line> = run
        .stages
        .get(first..(first + height).min(n))
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let i = first + k;
            let sym = stage_symbol(&s.state, model.now);
            let (tone, timing) = match &s.state {
                StageState::Pending => (t.dim, String::new()),
                StageState::Running { since } => (t.warn, super::age(Some(*since), model.now)),
                StageState::Ok { elapsed_ms } => (t.ok, secs(*elapsed_ms)),
                StageState::Failed { elapsed_ms, .. } => (t.error, secs(*elapsed_ms)),
                StageState::Skipped { reason } => (t.dim, format!("skipped: {reason}")),
            };
            let hosts = if s.host_status.is_empty() {
                s.hosts.join(",")
            } else {
                s.host_status
                    .iter()
                    .map(|(h, st)| format!("{h}: {st}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            let spans = vec![
                Span::styled(format!("{sym} "), tone),
                Span::styled(format!("{:>width$}. ", i + 1), t.dim),
                Span::styled(format!("{:<name_width$} ", fit(&s.name, name_width)), tone),
                Span::styled(format!("{timing:>7} "), tone),
                Span::styled(hosts, t.dim),
            ];
            if i == sel {
                // One bar: the selection's colours over every span.
                Line::from(
                    spans
                        .into_iter()
                        .map(|s| s.style(t.selected))
                        .collect::<Vec<_>>(),
                )
                .style(t.selected)
            } else {
                Line::from(spans)
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn output_pane(frame: &mut Frame, area: Rect, model: &Model, run: &RunView) {
    let t = &model.theme;
    let Some(stage) = model.cursor_stage(run) else {
        frame.render_widget(Block::bordered().border_style(t.border), area);
        return;
    };
    let follow = if model.cursor.follow {
        " · following"
    } else {
        ""
    };
    let block = Block::bordered()
        .border_style(t.border)
        .title(Line::from(vec![
            Span::styled(format!(" {} ", stage.name), t.title),
            Span::styled(format!("output{follow} "), t.dim),
        ]));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let height = inner.height as usize;
    let width = (inner.width as usize).max(1);
    let wrap = model.cursor.wrap;
    // Rows a line takes: one, or (wrapping) as many as its width needs.
    let rows_of = |l: &String| {
        if wrap {
            unicode_width::UnicodeWidthStr::width(l.as_str())
                .div_ceil(width)
                .max(1)
        } else {
            1
        }
    };
    let total = stage.output.len();
    let scroll = model.cursor.scroll.min(total.saturating_sub(height));
    let end = total.saturating_sub(scroll);
    // From the bottom up, as many lines as fill the pane.
    let mut start = end;
    let mut rows = 0;
    while start > 0 && rows < height {
        start -= 1;
        rows += stage.output.get(start).map_or(1, rows_of);
    }
    let mut lines: Vec<Line> = stage
        .output
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|l| {
            let style = if l.starts_with('✗') {
                t.error
            } else {
                t.base
            };
            Line::from(Span::styled(l.clone(), style))
        })
        .collect();
    if total == 0 {
        let text = match stage.state {
            StageState::Pending => "not started",
            StageState::Running { .. } => "no output yet",
            _ => "no output",
        };
        lines.push(Line::from(Span::styled(text, t.dim)));
    }
    if stage.dropped > 0 && start == 0 {
        lines.insert(
            0,
            Line::from(Span::styled(
                format!("({} earlier lines dropped)", stage.dropped),
                t.dim,
            )),
        );
    }
    let mut paragraph = Paragraph::new(lines);
    if wrap {
        // The bottom line stays in view: a tall top line is cut at its top.
        let overflow = rows.saturating_sub(height) as u16;
        paragraph = paragraph
            .wrap(ratatui::widgets::Wrap { trim: false })
            .scroll((overflow, 0));
    }
    frame.render_widget(paragraph, inner);
}

#[cfg(test)]
mod tests {
    use super::super::super::model::Msg;
    use super::super::testing::*;
    use crate::engine::{EngineEvent, Outcome, RunResult};

    #[test]
    fn deploy_in_progress_shows_ok_skipped_running_and_pending_stages() {
        let mut m = loaded();
        let (run, plan) = deploy_run(&mut m);
        let names: Vec<&str> = plan.stages.iter().map(|s| s.name.as_str()).collect();
        let boot = names
            .iter()
            .position(|n| n.starts_with("boot web"))
            .unwrap();
        for (i, name) in names.iter().enumerate().take(boot) {
            let outcome = if name.starts_with("pre-") || name.starts_with("post-") {
                Outcome::Skipped {
                    reason: "no hooks or plugins".into(),
                }
            } else {
                Outcome::Ok
            };
            stage(&mut m, run, &plan, i, Some(outcome));
        }
        stage(&mut m, run, &plan, boot, None);
        m.update(Msg::Engine {
            run,
            event: EngineEvent::HostProgress {
                stage: boot,
                host: "edge-1".into(),
                status: "booted demo-web-v8-1a2b".into(),
            },
        });
        m.update(Msg::Engine {
            run,
            event: EngineEvent::Output {
                stage: boot,
                host: Some("edge-1".into()),
                line: "\u{1b}[31mred text\u{1b}[0m from a hook \u{1b}]0;evil title\u{7}".into(),
            },
        });
        let screen = render(&m, 80, 24);
        assert!(
            !screen.contains('\u{1b}'),
            "control sequences reach the screen"
        );
        assert!(screen.contains("edge-1: red text from a hook"), "{screen}");
        insta::assert_snapshot!(screen);
    }

    #[test]
    fn w_wraps_long_output_lines_and_keeps_the_newest_in_view() {
        let mut m = loaded();
        let (run, plan) = deploy_run(&mut m);
        stage(&mut m, run, &plan, 0, None);
        let long = format!("{} END-OF-LINE", "word ".repeat(40));
        for line in ["first", long.as_str()] {
            m.update(Msg::Engine {
                run,
                event: EngineEvent::Output {
                    stage: 0,
                    host: None,
                    line: line.into(),
                },
            });
        }
        let cut = render(&m, 80, 24);
        assert!(!cut.contains("END-OF-LINE"), "cut at the pane: {cut}");
        m.update(key('w'));
        let wrapped = render(&m, 80, 24);
        assert!(wrapped.contains("END-OF-LINE"), "wrapped: {wrapped}");
        m.update(key('w'));
        assert!(!render(&m, 80, 24).contains("END-OF-LINE"), "w again cuts");
    }

    #[test]
    fn failed_health_gate() {
        let mut m = loaded();
        let (run, plan) = deploy_run(&mut m);
        let gate = plan
            .stages
            .iter()
            .position(|s| s.name.starts_with("health gate web"))
            .unwrap();
        for i in 0..gate {
            stage(&mut m, run, &plan, i, Some(Outcome::Ok));
        }
        let error = "no healthy container on edge-1 within 60s: demo-web-v8-1a2b is unhealthy\nlast check (exit 1): wget: server returned error: HTTP/1.1 500";
        stage(
            &mut m,
            run,
            &plan,
            gate,
            Some(Outcome::Failed {
                error: error.into(),
            }),
        );
        // The cleanup stages run after the failure, as they do for real.
        let n = plan.stages.len();
        for i in [n - 2, n - 1] {
            stage(&mut m, run, &plan, i, Some(Outcome::Ok));
        }
        m.update(Msg::Engine {
            run,
            event: EngineEvent::Finished {
                result: RunResult::Failed {
                    stage: plan.stages[gate].name.clone(),
                    error: error.into(),
                    kind: crate::engine::FailureKind::Failed,
                },
                elapsed_ms: 64_300,
            },
        });
        // Once it is over, the failed stage is selected, its error shown.
        assert_eq!(m.cursor.stage, gate);
        assert_eq!(
            plan.stages[n - 1].name,
            "unlock",
            "the cleanup stages end the plan"
        );
        insta::assert_snapshot!(render(&m, 80, 24));
    }
}
