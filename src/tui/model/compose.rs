//! A Compose project in the console: on its row of the Apps view, or on
//! its app screen, restart (`r`) restarts the whole project and destroy
//! (`D`) takes it down, through the engine (`ops::compose`), after a y/N
//! or, for down, its name typed.

use super::*;
use crate::ops::compose::ProjectOp;

impl Model {
    /// The Compose project the operator is on, with its hosts.
    fn compose_in_view(&self) -> Option<&AppRow> {
        let row = match &self.screen {
            Screen::App { app, destination } => self
                .app_rows
                .iter()
                .find(|r| &r.app == app && &r.destination == destination),
            Screen::Main if self.tab == Tab::Apps => {
                let &i = self
                    .visible
                    .of(Tab::Apps)
                    .get(*self.selected.of(Tab::Apps))?;
                self.app_rows.get(i)
            }
            _ => None,
        }?;
        (row.source == Source::Compose).then_some(row)
    }

    /// Asks to do `op` to the Compose project in view; false when none is
    /// (the key means what it means for other apps).
    pub(super) fn start_compose(&mut self, op: ProjectOp) -> bool {
        let Some(row) = self.compose_in_view() else {
            return false;
        };
        let project = row.app.clone();
        // One host: that one. Several: the project must be one engine's
        // (hosts that reach one engine), else `ops::compose::find` says so.
        let host = match row.hosts.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        let on = if row.hosts.is_empty() {
            String::new()
        } else {
            format!(" on {}", row.hosts.join(", "))
        };
        if self.read_only {
            self.say(
                format!(
                    "read-only console: compose {} refused (started with --read-only or read_only: true)",
                    op.verb()
                ),
                true,
            );
            return true;
        }
        let question = crate::sanitize::one_line(&match op {
            ProjectOp::Down => format!(
                "Take down Compose project {project}{on}: its containers and networks are removed (volumes kept); `docker compose up` makes them again."
            ),
            _ => format!(
                "{} Compose project {project}{on}: every service container, what others depend on {}?",
                super::actions::capital(op.verb()),
                if op == ProjectOp::Stop {
                    "last"
                } else {
                    "first"
                }
            ),
        });
        self.ask(PromptKind::ComposeOp {
            question,
            host,
            project,
            op,
        });
        true
    }
}
