//! The rows the views show, derived from what the model knows: rebuilt
//! once per batch of messages, never once per message (a fleet of 10,000
//! apps makes each rebuild cost milliseconds, and a burst of messages must
//! not keep the console from its keys and signals).

use chrono::{DateTime, Utc};

use super::super::{rows, runs::RunView, tab::Tab};
use super::{Model, Msg, RunRef};

impl Model {
    /// Applies a batch of messages with one rebuild of the rows at the end.
    /// Returns whether the screen may have changed.
    pub fn update_all(&mut self, msgs: impl IntoIterator<Item = Msg>) -> bool {
        self.batching = true;
        let mut changed = false;
        for msg in msgs {
            changed |= self.update(msg);
        }
        self.batching = false;
        if self.rows_stale {
            self.refresh();
        }
        changed
    }

    /// The rows are out of date: rebuilt now, or at the end of the batch.
    pub(super) fn refresh_later(&mut self) {
        if self.batching {
            self.rows_stale = true;
        } else {
            self.refresh();
        }
    }

    /// Recomputes the derived rows and what each filter keeps.
    pub fn refresh(&mut self) {
        self.rows_stale = false;
        self.host_rows = rows::hosts(&self.fleet);
        let mut all_runs: Vec<(DateTime<Utc>, RunRef)> = self
            .live
            .iter()
            .filter_map(|r| Some((r.started_at, RunRef::Live(r.id?))))
            .chain(self.past.iter().map(|r| {
                (
                    r.started_at,
                    RunRef::Past {
                        host: r.host.clone().unwrap_or_default(),
                        started_at: r.started_at,
                        app: r.app.clone(),
                    },
                )
            }))
            .collect();
        all_runs.sort_by_key(|r| std::cmp::Reverse(r.0));
        self.run_order = all_runs.into_iter().map(|(_, r)| r).collect();
        let runs: Vec<&RunView> = self.live.iter().chain(&self.past).collect();
        // One report a change: the Apps rows and the app screen read it.
        self.report = crate::inventory::status::report(
            &self.config,
            &self.fleet,
            &Default::default(),
            self.now,
        );
        self.app_rows = rows::apps(
            &self.config,
            &self.report,
            &self.locks,
            &self.foreign,
            &runs,
        );
        for row in &mut self.app_rows {
            if row.declared && row.destination.is_empty() {
                row.lacks = self.preflight.get(&row.app).cloned().unwrap_or_default();
            }
        }
        self.container_rows = rows::containers(&self.fleet, self.now);
        for tab in Tab::ALL {
            self.refilter(tab);
        }
    }

    pub(super) fn refilter(&mut self, tab: Tab) {
        let f = self.filters.of(tab).as_ref();
        let keep = |text: String| f.is_none_or(|f| f.keeps(&text));
        *self.visible.of_mut(tab) = match tab {
            Tab::Hosts => kept(&self.host_rows, |r| keep(rows::host_text(r))),
            Tab::Apps => kept(&self.app_rows, |r| keep(rows::app_text(r))),
            Tab::Containers => kept(&self.container_rows, |r| keep(rows::container_text(r))),
            Tab::Runs => kept(&self.run_order, |r| {
                keep(
                    self.run(r)
                        .map_or(String::new(), |r| format!("{} {}", r.title(), r.performer)),
                )
            }),
            Tab::Events => self
                .fleet
                .events
                .iter()
                .enumerate()
                .rev()
                .filter(|(_, e)| {
                    keep(format!(
                        "{} {} {} {}",
                        e.host,
                        e.container_name,
                        e.action,
                        e.detail.as_deref().unwrap_or("")
                    ))
                })
                .map(|(i, _)| i)
                .collect(),
        };
        let n = self.visible.of(tab).len();
        let sel = self.selected.of_mut(tab);
        *sel = (*sel).min(n.saturating_sub(1));
    }
}

/// The indices of the `rows` that `keep` keeps.
fn kept<T>(rows: &[T], keep: impl Fn(&T) -> bool) -> Vec<usize> {
    rows.iter()
        .enumerate()
        .filter(|(_, r)| keep(r))
        .map(|(i, _)| i)
        .collect()
}
