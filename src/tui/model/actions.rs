//! Actions the operator starts from the console: the target they are
//! for (the selection, or one named), the checks before anything is asked
//! (read-only, another holder's lock), and the effects that start them.

use super::*;

impl Model {
    pub(super) fn selected_run(&self) -> Option<RunRef> {
        let &i = self
            .visible
            .of(Tab::Runs)
            .get(*self.selected.of(Tab::Runs))?;
        self.run_order.get(i).cloned()
    }

    /// The app the selection is about, in any view; with a role on the
    /// Containers view.
    pub(super) fn selected_target(&self, verb: &str) -> Result<(Target, Option<String>), String> {
        let pick = |app: &str, dest: &str, source: Source| -> Result<Target, String> {
            if source != Source::Berth {
                return Err(format!(
                    "{app} is run by {}: berth shows it but does not change it{}",
                    source.as_str(),
                    instead(source, verb, app, dest)
                        .map(|what| format!("; {what}"))
                        .unwrap_or_default()
                ));
            }
            Target::parse(app).map(|mut t| {
                t.destination = (!dest.is_empty())
                    .then(|| DestinationName::new(dest).ok())
                    .flatten();
                t
            })
        };
        if let Screen::Run(r) = &self.screen {
            let run = self.run(r).ok_or("that run is gone")?;
            return Ok((pick(&run.app, &run.destination, Source::Berth)?, None));
        }
        if let Screen::App { app, destination } = &self.screen {
            let source = self
                .app_rows
                .iter()
                .find(|r| &r.app == app && &r.destination == destination)
                .map_or(Source::Berth, |r| r.source);
            return Ok((pick(app, destination, source)?, None));
        }
        let tab = self.tab;
        let i = self.visible.of(tab).get(*self.selected.of(tab)).copied();
        match (tab, i) {
            (Tab::Apps, Some(i)) => {
                let r = self.app_rows.get(i).ok_or("nothing selected")?;
                Ok((pick(&r.app, &r.destination, r.source)?, None))
            }
            (Tab::Containers, Some(i)) => {
                let r = self.container_rows.get(i).ok_or("nothing selected")?;
                if r.app.is_empty() {
                    return Err(format!("{} belongs to no app", r.name));
                }
                let role = (!r.role.is_empty()).then(|| r.role.clone());
                Ok((pick(&r.app, &r.destination, r.source)?, role))
            }
            (Tab::Runs, Some(_)) => {
                let r = self.selected_run().and_then(|r| self.run(&r).cloned());
                let r = r.ok_or("that run is gone")?;
                Ok((pick(&r.app, &r.destination, Source::Berth)?, None))
            }
            _ => Err(
                "select an app first (Apps: 2, Containers: 3), or use :deploy APP VERSION".into(),
            ),
        }
    }

    /// The target given, or the selection's; `None` after saying why not.
    pub(super) fn target_for(
        &mut self,
        verb: &str,
        given: Option<Target>,
    ) -> Option<(Target, Option<String>)> {
        if self.read_only {
            self.say(
                format!("read-only console: {verb} refused (started with --read-only or read_only: true)"),
                true,
            );
            return None;
        }
        let found = match given {
            Some(t) => Ok((t, None)),
            None => self.selected_target(verb),
        };
        match found {
            Ok((t, role)) if self.config.fleet.apps.contains_key(&t.app) => Some((t, role)),
            Ok((t, _)) => {
                self.say(
                    format!(
                        "{verb}: app `{}` is not declared in {}",
                        t.app,
                        self.config.path.display()
                    ),
                    true,
                );
                None
            }
            Err(e) => {
                self.say(format!("{verb}: {e}"), true);
                None
            }
        }
    }

    /// Why an action on `t` would stop at its lock, read from the lock
    /// the console shows: said before anything is asked.
    pub(super) fn held(&self, verb: &str, t: &Target) -> Option<String> {
        let key = (t.app.to_string(), t.dest_str().to_string());
        match self.locks.get(&key) {
            Some(LockCell::Held(s)) => Some(format!(
                "{verb} {t}: {t} is {} (U releases it if it is yours)",
                s.describe(self.now)
            )),
            Some(LockCell::Broken(b)) => Some(format!("{verb} {t}: {b}")),
            _ => None,
        }
    }

    pub(super) fn start_deploy(&mut self, target: Option<Target>, version: Option<String>) {
        let Some((t, _)) = self.target_for("deploy", target) else {
            return;
        };
        if let Some(why) = self.held("deploy", &t) {
            return self.say(why, true);
        }
        match version {
            Some(v) => self.answer(PromptKind::DeployVersion(t), v),
            None => self.ask(PromptKind::DeployVersion(t)),
        }
    }

    pub(super) fn start_restart(&mut self, target: Option<Target>, role: Option<String>) {
        if target.is_none() && self.start_compose(crate::ops::compose::ProjectOp::Restart) {
            return;
        }
        let Some((t, sel_role)) = self.target_for("restart", target) else {
            return;
        };
        if let Some(why) = self.held("restart", &t) {
            return self.say(why, true);
        }
        let _ = sel_role;
        let role = match role.as_deref().map(RoleName::new).transpose() {
            Ok(r) => r,
            Err(e) => return self.say(format!("restart {t}: {e}"), true),
        };
        let what = role.as_ref().map(|r| format!(" {r}")).unwrap_or_default();
        self.ask(PromptKind::Confirm {
            question: format!(
                "Restart {t}{what}, one boot group at a time through the health gate?"
            ),
            action: Action::Restart {
                app: t.app,
                role,
                destination: t.destination,
            },
        });
    }

    /// The container the operator is on: the container screen's, or the
    /// Containers view's selected row.
    fn container_in_view(&self) -> Option<&crate::tui::rows::ContainerRow> {
        match &self.screen {
            Screen::Container { host, id } => self
                .container_rows
                .iter()
                .find(|r| &r.host == host && &r.id == id),
            Screen::Main if self.tab == Tab::Containers => {
                let &i = self
                    .visible
                    .of(Tab::Containers)
                    .get(*self.selected.of(Tab::Containers))?;
                self.container_rows.get(i)
            }
            _ => None,
        }
    }

    /// A shell in the container in view; on an app (the Apps view, the app
    /// screen) in its best running container: the primary role's first,
    /// healthy before unchecked, unhealthy last. Works on anyone's
    /// containers (a shell changes none); a berth app's goes in its history.
    pub(super) fn start_shell(&mut self) {
        if self.read_only {
            return self.say(
                "read-only console: shell refused (started with --read-only or read_only: true)",
                true,
            );
        }
        let row = match self.container_in_view() {
            Some(r) => r.clone(),
            None => {
                let Some((app, destination, source)) = self.app_in_view() else {
                    return self.say("shell: select a container or an app first", true);
                };
                match self.best_container(&app, &destination, source) {
                    Some(r) => r.clone(),
                    None => {
                        return self.say(format!("shell: {app} has no running container"), true);
                    }
                }
            }
        };
        if row.state != crate::domain::State::Running {
            return self.say(
                format!(
                    "shell: {} is {}, not running (u starts it)",
                    row.name,
                    row.state.as_str()
                ),
                true,
            );
        }
        let declared = self
            .config
            .fleet
            .apps
            .iter()
            .find(|(name, _)| name.as_str() == row.app)
            .filter(|_| row.source == Source::Berth);
        let owner = declared.and_then(|(name, _)| {
            Some(Target {
                app: name.clone(),
                destination: match row.destination.as_str() {
                    "" => None,
                    d => Some(DestinationName::new(d).ok()?),
                },
            })
        });
        let shell = declared.and_then(|(_, app)| app.shell.as_ref().map(|s| s.0.clone()));
        self.effects.push(Effect::Shell(ShellAt {
            host: row.host.clone(),
            id: row.id.clone(),
            name: row.name.clone(),
            owner,
            shell,
        }));
    }

    /// The app the operator is on: the app screen's, or the Apps view's
    /// selected row.
    pub(super) fn app_in_view(&self) -> Option<(String, String, Source)> {
        match &self.screen {
            Screen::App { app, destination } => {
                let source = self
                    .app_rows
                    .iter()
                    .find(|r| &r.app == app && &r.destination == destination)
                    .map_or(Source::Berth, |r| r.source);
                Some((app.clone(), destination.clone(), source))
            }
            Screen::Main if self.tab == Tab::Apps => {
                let &i = self
                    .visible
                    .of(Tab::Apps)
                    .get(*self.selected.of(Tab::Apps))?;
                let r = self.app_rows.get(i)?;
                Some((r.app.clone(), r.destination.clone(), r.source))
            }
            _ => None,
        }
    }

    /// An app's running container a shell goes to (see [`start_shell`]).
    fn best_container(
        &self,
        app: &str,
        destination: &str,
        source: Source,
    ) -> Option<&ContainerRow> {
        use crate::domain::{Health, State};
        let primary = self
            .config
            .fleet
            .apps
            .iter()
            .find(|(name, _)| name.as_str() == app)
            .map_or("web".to_string(), |(_, a)| a.primary_role.to_string());
        self.container_rows
            .iter()
            .filter(|r| {
                r.app == app
                    && r.destination == destination
                    && r.source == source
                    && r.state == State::Running
            })
            .min_by_key(|r| {
                (
                    r.role != primary,
                    match r.health {
                        Health::Healthy => 0,
                        Health::None | Health::Starting => 1,
                        Health::Unhealthy => 2,
                    },
                )
            })
    }

    /// Restart, stop, start or remove the container in view (asked y/N
    /// first). A berth app's container goes through the engine, under its
    /// app's lock and into its history; for anyone else's, berth says what
    /// to run instead and changes nothing.
    pub(super) fn start_container_op(&mut self, op: crate::engine::ContainerOp) {
        use crate::engine::ContainerOp;
        let verb = format!("{op} container");
        if self.read_only {
            return self.say(
                format!("read-only console: {verb} refused (started with --read-only or read_only: true)"),
                true,
            );
        }
        let Some(r) = self.container_in_view().cloned() else {
            return self.say(format!("{verb}: no container selected"), true);
        };
        let (name, host, app) = (&r.name, &r.host, &r.app);
        // Another tool's container, or a stray: berth acts when confirmed,
        // saying whose it is and what that owner will do about it.
        let owner = match r.source {
            Source::Berth if self.config.fleet.apps.contains_key(app.as_str()) => None,
            Source::Kamal => Some((
                format!("Kamal's app {app}"),
                "Kamal starts it again on its next `kamal deploy`",
            )),
            Source::Dokku => Some((
                format!("Dokku's app {app}"),
                "Dokku starts it again on its next deploy or `ps:rebuild`",
            )),
            Source::Compose => Some((
                format!("Compose project {app}"),
                "`docker compose up` starts it again",
            )),
            Source::Berth => Some((
                format!(
                    "app `{app}`, not declared in {}",
                    self.config.path.display()
                ),
                "berth leaves it alone otherwise",
            )),
            Source::Unmanaged => Some((
                "nobody berth knows".to_string(),
                "nothing restarts it but its restart policy",
            )),
        };
        if let Some((owner, next)) = owner {
            let op = match op {
                ContainerOp::Restart => crate::ops::container::Op::Restart,
                ContainerOp::Stop => crate::ops::container::Op::Stop,
                ContainerOp::Start => crate::ops::container::Op::Start,
                ContainerOp::Remove => crate::ops::container::Op::Remove,
            };
            let running = matches!(
                r.state,
                crate::domain::State::Running
                    | crate::domain::State::Restarting
                    | crate::domain::State::Paused
            );
            let after = if matches!(
                op,
                crate::ops::container::Op::Start | crate::ops::container::Op::Restart
            ) {
                String::new()
            } else {
                format!(" {next}.")
            };
            let question = crate::sanitize::one_line(&format!(
                "{} {name} on {host} ({owner})?{after}",
                capital(op.verb())
            ));
            return self.ask(if op == crate::ops::container::Op::Remove && running {
                PromptKind::RemoveRunning {
                    question: format!(
                        "Remove running {name} on {host} ({owner}): it is gone for good.{after}"
                    ),
                    host: host.clone(),
                    name: name.clone(),
                }
            } else {
                PromptKind::ContainerOp {
                    question,
                    host: host.clone(),
                    name: name.clone(),
                    op,
                }
            });
        }
        let target = match Target::parse(app) {
            Ok(mut t) => {
                t.destination = DestinationName::new(&r.destination).ok();
                t
            }
            Err(e) => return self.say(format!("{verb}: {e}"), true),
        };
        if let Some(why) = self.held(&verb, &target) {
            return self.say(why, true);
        }
        let Ok(host_name) = crate::config::HostName::new(host) else {
            return self.say(format!("{verb}: host `{host}` is not a host name"), true);
        };
        let question = match op {
            ContainerOp::Remove => format!(
                "Remove container {name} of {target} on {host}? It is gone for good (its app keeps its other containers)."
            ),
            _ => format!(
                "{} container {name} of {target} on {host}?",
                capital(op.as_str())
            ),
        };
        self.ask(PromptKind::Confirm {
            question,
            action: Action::Container {
                app: target.app,
                destination: target.destination,
                host: host_name,
                container: name.clone(),
                op,
            },
        });
    }

    pub(super) fn start_rollback(&mut self, target: Option<Target>, version: Option<String>) {
        let Some((t, _)) = self.target_for("rollback", target) else {
            return;
        };
        if let Some(why) = self.held("rollback", &t) {
            return self.say(why, true);
        }
        let version = match version.as_deref().map(Version::new).transpose() {
            Ok(v) => v,
            Err(e) => return self.say(format!("rollback {t}: {e}"), true),
        };
        // The version it goes to is named before anything runs: the newest
        // retained one (what the engine would pick), asked for by name.
        let row = self
            .app_rows
            .iter()
            .find(|r| r.app == t.app.as_str() && r.destination == t.dest_str());
        let version = match version {
            Some(v) => v,
            None => match row
                .and_then(|r| crate::inventory::status::rollback_version(&r.retained, &r.versions))
                .map(|v| Version::new(&v))
            {
                Some(Ok(v)) => v,
                _ => {
                    return self.say(
                        format!("rollback {t}: no retained version to go back to"),
                        true,
                    );
                }
            },
        };
        let now = row
            .filter(|r| !r.versions.is_empty())
            .map(|r| format!(" ({} runs now)", r.versions.join(",")))
            .unwrap_or_default();
        let version = Some(version);
        let to = version
            .as_ref()
            .map(|v| format!(" to {v}"))
            .unwrap_or_default();
        self.ask(PromptKind::Confirm {
            question: format!("Roll {t} back{to}{now}?"),
            action: Action::Rollback {
                app: t.app,
                version,
                destination: t.destination,
            },
        });
    }

    pub(super) fn start_destroy(&mut self, target: Option<Target>) {
        if target.is_none() && self.start_compose(crate::ops::compose::ProjectOp::Down) {
            return;
        }
        if let Some((t, _)) = self.target_for("destroy", target) {
            if let Some(why) = self.held("destroy", &t) {
                return self.say(why, true);
            }
            self.ask(PromptKind::Destroy(t));
        }
    }

    pub(super) fn start_lock(&mut self, target: Option<Target>, message: Option<String>) {
        let Some((t, _)) = self.target_for("lock", target) else {
            return;
        };
        match message {
            Some(m) => self.answer(PromptKind::LockMessage(t), m),
            None => self.ask(PromptKind::LockMessage(t)),
        }
    }

    pub(super) fn start_unlock(&mut self, target: Option<Target>) {
        let Some((t, _)) = self.target_for("unlock", target) else {
            return;
        };
        let key = (t.app.to_string(), t.dest_str().to_string());
        match self.locks.get(&key) {
            Some(LockCell::Held(s)) => {
                let mine = format!("{}@{}", s.holder.user, s.holder.machine) == self.performer;
                if mine && (s.holder.manual || s.stale) {
                    self.effects.push(Effect::Unlock {
                        target: t,
                        force: false,
                    });
                } else {
                    let holder = s.describe(self.now);
                    self.ask(PromptKind::ForceUnlock { target: t, holder });
                }
            }
            Some(LockCell::Broken(b)) => {
                let holder = b.to_string();
                self.ask(PromptKind::ForceUnlock { target: t, holder });
            }
            _ => self.say(format!("{t} is not locked"), false),
        }
    }

    /// Starts an action: a new run, shown at once.
    pub(super) fn start(&mut self, action: Action) {
        let id = self.next_run;
        self.next_run += 1;
        let dest = action
            .destination()
            .map(|d| d.to_string())
            .unwrap_or_default();
        self.live.push(RunView::started(
            id,
            action.verb(),
            (action.app().as_str(), &dest),
            self.performer.clone(),
            self.now,
        ));
        self.effects.push(Effect::Start { run: id, action });
        self.screen = Screen::Run(RunRef::Live(id));
        self.cursor = RunCursor {
            stage: 0,
            follow: true,
            scroll: 0,
            wrap: self.cursor.wrap,
        };
        self.refresh();
    }

    pub(super) fn cancel(&mut self, id: u64) {
        if self.live_run(id).is_some_and(|r| r.running()) {
            self.effects.push(Effect::Cancel { run: id });
            self.say(
                "cancelling at the next safe point; the previous version keeps serving",
                false,
            );
        }
    }
}

/// `restart` → `Restart`.
pub(super) fn capital(word: &str) -> String {
    let mut c = word.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// What to run instead of berth's `verb` on another tool's app, in words.
fn instead(source: Source, verb: &str, app: &str, dest: &str) -> Option<String> {
    let d = if dest.is_empty() {
        String::new()
    } else {
        format!(" -d {dest}")
    };
    let run = match (source, verb) {
        (Source::Kamal, "deploy") => format!("kamal deploy{d}"),
        (Source::Kamal, "restart") => format!("kamal app boot{d}"),
        (Source::Kamal, "rollback") => format!("kamal rollback VERSION{d}"),
        (Source::Kamal, "destroy") => format!("kamal remove{d}"),
        (Source::Kamal, "lock") => format!("kamal lock acquire -m \"why\"{d}"),
        (Source::Kamal, "unlock") => format!("kamal lock release{d}"),
        (Source::Dokku, "deploy") => "git push dokku main".to_string(),
        (Source::Dokku, "restart") => format!("dokku ps:restart {app}"),
        (Source::Dokku, "rollback") => {
            return Some(
                "Dokku keeps no versions to roll back to: push the older commit (`git push dokku <commit>:main`)"
                    .into(),
            );
        }
        (Source::Dokku, "destroy") => format!("dokku apps:destroy {app}"),
        (Source::Dokku, "lock") => format!("dokku apps:lock {app}"),
        (Source::Dokku, "unlock") => format!("dokku apps:unlock {app}"),
        (Source::Compose, "deploy" | "restart") => format!("docker compose -p {app} up -d"),
        (Source::Compose, "destroy") => format!("docker compose -p {app} down"),
        _ => return None,
    };
    Some(format!("run `{run}`"))
}
