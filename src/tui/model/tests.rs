use crossterm::event::KeyCode;

use super::*;
use crate::tui::view::testing::*;

fn type_text(m: &mut Model, text: &str) {
    for c in text.chars() {
        m.update(key(c));
    }
}

/// `/text` Enter: the view narrowed to `text`.
fn filter(m: &mut Model, text: &str) {
    m.update(key('/'));
    type_text(m, text);
    m.update(code(KeyCode::Enter));
}

/// What the status line says now.
fn notice(m: &Model) -> String {
    m.notice
        .as_ref()
        .map(|n| n.text.clone())
        .unwrap_or_default()
}

fn prompt_question(m: &Model) -> String {
    match &m.input {
        Input::Prompt(p) => match &p.kind {
            PromptKind::Confirm { question, .. } => question.clone(),
            other => format!("{other:?}"),
        },
        other => format!("no prompt: {other:?}"),
    }
}

#[test]
fn rollback_names_the_version_it_will_start_and_asks_for_that_one() {
    let mut m = loaded();
    m.update(key('2'));
    m.update(key('R'));
    let q = prompt_question(&m);
    assert!(q.contains("back to v6") && q.contains("v7 runs now"), "{q}");
    m.update(key('y'));
    let effects = m.take_effects();
    assert!(
        matches!(&effects[..], [Effect::Start { action: Action::Rollback { version: Some(v), .. }, .. }] if v.as_str() == "v6"),
        "{effects:?}"
    );
    // Nothing retained: said at once, nothing asked.
    m.update(code(KeyCode::Esc));
    m.update(key('j'));
    m.update(key('R'));
    assert_eq!(m.input, Input::None);
    let n = m.notice.clone().unwrap();
    assert!(n.error && n.text.contains("no retained version"), "{n:?}");
}

#[test]
fn an_action_on_a_locked_app_is_refused_before_anything_is_asked() {
    let mut m = loaded();
    let mut locks = m.locks.clone();
    let holder = crate::engine::lock::holder_for(
        &crate::engine::Performer {
            user: "bo".into(),
            machine: "ci-7".into(),
        },
        "deploy",
        Some("v8".into()),
        None,
        false,
    );
    locks.insert(
        ("demo".into(), String::new()),
        LockCell::Held(Box::new(crate::engine::lock::Status {
            heartbeat_at: holder.acquired_at,
            holder,
            stale: false,
            skew_secs: None,
            nested: vec![],
            clear_with: "berth lock release demo --force".into(),
        })),
    );
    m.update(Msg::Locks(locks));
    m.update(key('2'));
    for k in ['d', 'r', 'R', 'D'] {
        m.update(key(k));
        assert_eq!(m.input, Input::None, "{k}: nothing asked");
        let n = m.notice.clone().unwrap();
        assert!(
            n.error && n.text.contains("is locked by bo@ci-7"),
            "{k}: {n:?}"
        );
    }
    assert!(m.take_effects().is_empty());
}

#[test]
fn notices_go_after_a_while_errors_later() {
    let mut m = loaded();
    m.say("released demo", false);
    assert!(
        m.tick_every().is_some(),
        "a notice on screen needs the clock"
    );
    m.update(Msg::Tick(now() + chrono::Duration::seconds(7)));
    assert!(m.notice.is_some());
    m.update(Msg::Tick(now() + chrono::Duration::seconds(9)));
    assert!(m.notice.is_none());
    m.say("unlock demo: refused", true);
    m.update(Msg::Tick(now() + chrono::Duration::seconds(25)));
    assert!(m.notice.is_some(), "an error stays longer");
    m.update(Msg::Tick(now() + chrono::Duration::seconds(40)));
    assert!(m.notice.is_none());
}

#[test]
fn slash_starts_a_new_filter() {
    let mut m = loaded();
    m.update(key('3'));
    filter(&mut m, "web");
    m.update(key('/'));
    assert_eq!(m.input, Input::Filter(String::new()));
}

#[test]
fn in_a_line_of_text_ctrl_j_is_enter_ctrl_c_is_esc_and_no_chord_types_a_letter() {
    use crossterm::event::{KeyEvent, KeyModifiers};
    let chord = |c: char, m: KeyModifiers| Msg::Key(KeyEvent::new(KeyCode::Char(c), m));
    let mut m = loaded();
    m.update(key('3'));
    m.update(key('/'));
    type_text(&mut m, "web");
    m.update(chord('x', KeyModifiers::ALT));
    m.update(chord('u', KeyModifiers::CONTROL));
    assert_eq!(m.input, Input::Filter("web".into()));
    // Enter as a terminal still in cooked mode sends it: a line feed.
    m.update(chord('j', KeyModifiers::CONTROL));
    assert_eq!(m.input, Input::None);
    assert_eq!(
        m.filters.of(m.tab).as_ref().map(|f| f.text.as_str()),
        Some("web")
    );
    m.update(key(':'));
    type_text(&mut m, "dep");
    m.update(chord('c', KeyModifiers::CONTROL));
    assert_eq!(m.input, Input::None, "Ctrl+C leaves the line, not berth");
    assert!(m.take_effects().is_empty());
}

#[test]
fn destroy_runs_only_when_the_exact_name_is_typed() {
    let mut m = loaded();
    m.update(key('2'));
    m.update(key('D'));
    type_text(&mut m, "dem");
    m.update(code(KeyCode::Enter));
    assert!(m.take_effects().is_empty(), "a wrong name destroys nothing");
    assert!(m.notice.as_ref().is_some_and(|n| n.error));
    m.update(key('D'));
    type_text(&mut m, "demo");
    m.update(code(KeyCode::Enter));
    let effects = m.take_effects();
    assert!(
        matches!(&effects[..], [Effect::Start { action: Action::Destroy { confirm, .. }, .. }] if confirm == "demo"),
        "{effects:?}"
    );
}

#[test]
fn restart_asks_first_and_any_other_key_cancels() {
    let mut m = loaded();
    m.update(key('2'));
    m.update(key('r'));
    m.update(key('n'));
    assert!(m.take_effects().is_empty());
    m.update(key('r'));
    m.update(key('y'));
    assert!(matches!(
        &m.take_effects()[..],
        [Effect::Start {
            action: Action::Restart { role: None, .. },
            ..
        }]
    ));
}

#[test]
fn container_keys_act_on_that_container_and_say_what_to_run_for_others() {
    use crate::engine::ContainerOp;
    let mut m = loaded();
    m.update(key('3'));
    filter(&mut m, "worker");
    for (k, op) in [
        ('r', ContainerOp::Restart),
        ('t', ContainerOp::Stop),
        ('u', ContainerOp::Start),
        ('X', ContainerOp::Remove),
    ] {
        m.update(key(k));
        let asked =
            matches!(&m.input, Input::Prompt(p) if matches!(p.kind, PromptKind::Confirm { .. }));
        assert!(asked, "{k}: y/N first: {:?}", m.input);
        m.update(key('y'));
        let effects = m.take_effects();
        assert!(
            matches!(&effects[..], [Effect::Start { action: Action::Container { op: o, container, host, app, .. }, .. }]
                if *o == op && container.contains("worker") && host.as_str() == "edge-2" && app.as_str() == "demo"),
            "{k}: {effects:?}"
        );
        // The run opens its screen; back to the list for the next key.
        if m.screen != Screen::Main {
            m.update(code(KeyCode::Esc));
        }
    }
    // A container berth did not start: asked, naming its owner, then done
    // through the engine (no app action, no app lock).
    m.update(code(KeyCode::Esc));
    filter(&mut m, "stray");
    m.update(key('t'));
    let question = match &m.input {
        Input::Prompt(p) => match &p.kind {
            PromptKind::ContainerOp { question, .. } => question.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert!(
        question.starts_with("Stop ") && question.contains("nobody berth knows"),
        "{question}"
    );
    m.update(key('y'));
    let effects = m.take_effects();
    assert!(
        matches!(&effects[..], [Effect::ContainerOp { op: crate::ops::container::Op::Stop, name, .. }] if name.contains("stray")),
        "{effects:?}"
    );
    // Removing it while it runs takes its name typed; anything else does
    // nothing.
    m.update(key('X'));
    assert!(
        matches!(&m.input, Input::Prompt(p) if matches!(p.kind, PromptKind::RemoveRunning { .. })),
        "{:?}",
        m.input
    );
    for c in "nope".chars() {
        m.update(key(c));
    }
    m.update(code(KeyCode::Enter));
    assert!(m.take_effects().is_empty());
    assert!(notice(&m).contains("not confirmed"), "{}", notice(&m));
}

#[test]
fn kamal_and_stray_containers_are_not_berths_to_change() {
    let mut m = loaded();
    m.update(key('3'));
    filter(&mut m, "stray");
    m.update(key('d'));
    assert!(m.take_effects().is_empty());
    assert_eq!(m.input, Input::None, "no version prompt");
    assert!(
        m.notice
            .as_ref()
            .unwrap()
            .text
            .contains("belongs to no app")
    );
}

#[test]
fn quit_asks_while_an_action_runs_and_cancels_nothing_on_no() {
    let mut m = loaded();
    let (run, _) = deploy_run(&mut m);
    m.update(code(KeyCode::Esc));
    m.update(key('q'));
    assert!(!m.quitting);
    assert!(matches!(&m.input, Input::Prompt(p) if p.kind == PromptKind::Quit { running: 1 }));
    m.update(key('n'));
    assert!(!m.quitting);
    m.update(Msg::Engine {
        run,
        event: EngineEvent::Finished {
            result: crate::engine::RunResult::Ok,
            elapsed_ms: 10,
        },
    });
    m.update(key('q'));
    assert!(m.quitting, "nothing runs: q quits at once");
    assert_eq!(m.take_effects(), vec![Effect::Quit]);
}

#[test]
fn commands_act_like_keys_and_bad_ones_say_why() {
    let mut m = loaded();
    m.update(key(':'));
    type_text(&mut m, "deploy demo v9");
    m.update(code(KeyCode::Enter));
    assert!(matches!(
        &m.take_effects()[..],
        [Effect::Start { action: Action::Deploy { version, .. }, .. }] if version.as_str() == "v9"
    ));
    m.update(key(':'));
    type_text(&mut m, "deploy nope v1");
    m.update(code(KeyCode::Enter));
    assert!(m.take_effects().is_empty());
    assert!(m.notice.as_ref().unwrap().text.contains("not declared"));
    m.update(key(':'));
    type_text(&mut m, "lock demo \"db migration\"");
    m.update(code(KeyCode::Enter));
    assert_eq!(
        m.take_effects(),
        vec![Effect::Lock {
            target: Target::parse("demo").unwrap(),
            message: "db migration".into()
        }]
    );
}

#[test]
fn idle_models_do_not_tick_and_unchanged_fleets_do_not_redraw() {
    let mut m = loaded();
    m.update(key('5'));
    assert_eq!(m.tick_every(), None, "the Events view has nothing moving");
    let same = m.fleet.clone();
    assert!(!m.update(Msg::Fleet(same)), "same revision: no redraw");
    assert!(!m.update(Msg::Log), "log pane hidden: no redraw");
    assert!(!m.update(Msg::Locks(m.locks.clone())));
}

#[test]
fn s_opens_a_shell_in_the_container_or_the_apps_best_one_and_refuses_what_cannot_have_one() {
    let shell_of = |effects: Vec<Effect>| match &effects[..] {
        [Effect::Shell(at)] => at.clone(),
        other => panic!("one shell effect: {other:?}"),
    };
    // On an app: its primary role's healthy container, not the unhealthy
    // one or the worker; a berth app's, so it goes in its history.
    let mut m = loaded();
    m.update(key('2'));
    filter(&mut m, "demo");
    m.update(key('s'));
    let at = shell_of(m.take_effects());
    assert_eq!(
        (at.name.as_str(), at.host.as_str()),
        ("demo-web-v7-a1", "edge-1")
    );
    assert_eq!(at.owner.map(|t| t.app.to_string()), Some("demo".into()));

    // On a container, with `s`, `e` or `E`: that one, anyone's.
    m.update(key('3'));
    filter(&mut m, "stray");
    for k in ['s', 'e', 'E'] {
        m.update(key(k));
        let at = shell_of(m.take_effects());
        assert_eq!(at.name, "stray-redis", "{k}");
        assert_eq!(at.owner, None, "no app's history for {k}");
    }

    // A stopped container has no shell to give.
    m.update(code(KeyCode::Esc));
    filter(&mut m, "v6");
    m.update(key('s'));
    assert!(m.take_effects().is_empty());
    let said = notice(&m);
    assert!(
        said.contains("demo-web-v6-9f is exited, not running"),
        "{said}"
    );

    // Read-only: refused.
    let mut m = loaded();
    m.read_only = true;
    m.update(key('3'));
    m.update(key('s'));
    assert!(m.take_effects().is_empty());
    let said = notice(&m);
    assert!(said.contains("read-only console: shell refused"), "{said}");
}

fn mouse(kind: crossterm::event::MouseEventKind, column: u16, row: u16) -> Msg {
    Msg::Mouse(crossterm::event::MouseEvent {
        kind,
        column,
        row,
        modifiers: KeyModifiers::NONE,
    })
}

#[test]
fn with_the_mouse_a_click_picks_a_tab_and_a_row_and_the_wheel_scrolls() {
    use crate::tui::view::testing::render;
    use crossterm::event::{MouseButton, MouseEventKind};
    let click = MouseEventKind::Down(MouseButton::Left);
    let mut m = loaded();
    render(&m, 100, 30);
    let tab = |m: &Model, t: Tab| {
        let hits = m.hits.borrow();
        let (r, _) = hits.tabs.iter().find(|(_, x)| *x == t).copied().unwrap();
        (r.x + 1, r.y)
    };
    // Off (the default): the terminal keeps the mouse; berth ignores clicks.
    let (x, y) = tab(&m, Tab::Containers);
    assert!(!m.update(mouse(click, x, y)));
    assert_eq!(m.tab, Tab::Apps);

    m.update(key('M'));
    assert!(m.mouse);
    assert!(matches!(m.take_effects()[..], [Effect::Mouse(true)]));
    m.update(mouse(click, x, y));
    assert_eq!(m.tab, Tab::Containers);
    render(&m, 100, 30);
    let (rows, shown_tab, first) = m.hits.borrow().rows.unwrap();
    assert_eq!((shown_tab, first), (Tab::Containers, 0));
    // The third row: selected; clicked again: opened.
    m.update(mouse(click, rows.x + 2, rows.y + 2));
    assert_eq!(*m.selected.of(Tab::Containers), 2);
    assert_eq!(m.screen, Screen::Main);
    m.update(mouse(click, rows.x + 2, rows.y + 2));
    assert!(
        matches!(m.screen, Screen::Container { .. }),
        "{:?}",
        m.screen
    );
    // The wheel scrolls the log (and so pauses it).
    let of = m.log_target().unwrap();
    m.update(Msg::LogLines {
        of,
        lines: (0..100)
            .map(|i| crate::tui::logs::LogLine::new(&format!("line {i}"), false))
            .collect(),
    });
    render(&m, 100, 30);
    m.update(mouse(MouseEventKind::ScrollUp, 10, 20));
    assert!(!m.logs.as_ref().unwrap().follow);
    // A click below the last row selects nothing new.
    m.update(code(KeyCode::Esc));
    render(&m, 100, 30);
    let (rows, ..) = m.hits.borrow().rows.unwrap();
    let n = m.visible.of(Tab::Containers).len() as u16;
    m.update(mouse(click, rows.x + 2, rows.y + n + 1));
    assert_eq!(*m.selected.of(Tab::Containers), 2);
    // The wheel on a list moves the selection.
    m.update(mouse(MouseEventKind::ScrollDown, rows.x + 2, rows.y));
    assert_eq!(*m.selected.of(Tab::Containers), 3);
    // M again: the terminal has it back.
    m.update(key('M'));
    assert!(!m.mouse);
    assert!(matches!(
        m.take_effects().last(),
        Some(Effect::Mouse(false))
    ));
}

#[test]
fn an_action_on_another_tools_app_says_what_to_run_instead() {
    use crate::domain::{Health, State};
    let mut m = loaded();
    let mut fleet = m.fleet.clone();
    let labels: std::collections::HashMap<String, String> = [
        ("service", "blog"),
        ("role", "web"),
        ("destination", "staging"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let name = "blog-web-staging-0a1b2c";
    let kamal = crate::domain::Container {
        owner: crate::labels::Owner::classify(name, &labels),
        ..container(name, "", "", "", State::Running, Health::Healthy)
    };
    fleet.apply(crate::domain::model::Change::Upsert {
        host: "edge-1".into(),
        container: Box::new(kamal),
    });
    m.update(Msg::Fleet(fleet));
    m.update(key('2'));
    filter(&mut m, "blog");
    for (k, run) in [
        ('d', "run `kamal deploy -d staging`"),
        ('r', "run `kamal app boot -d staging`"),
        ('D', "run `kamal remove -d staging`"),
        ('U', "run `kamal lock release -d staging`"),
    ] {
        m.update(key(k));
        assert!(m.take_effects().is_empty(), "{k}: nothing starts");
        assert_eq!(m.input, Input::None, "{k}: nothing is asked");
        let said = notice(&m);
        assert!(
            said.contains("blog is run by kamal") && said.contains(run),
            "{k}: {said}"
        );
    }
}

#[test]
fn a_compose_projects_row_restarts_and_takes_down_the_whole_project_once_confirmed() {
    use crate::domain::{Health, State};
    use crate::ops::compose::ProjectOp;
    let mut m = loaded();
    let mut fleet = m.fleet.clone();
    let labels: std::collections::HashMap<String, String> = [
        ("com.docker.compose.project", "shopfront"),
        ("com.docker.compose.service", "web"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let name = "shopfront-web-1";
    fleet.apply(crate::domain::model::Change::Upsert {
        host: "edge-1".into(),
        container: Box::new(crate::domain::Container {
            owner: crate::labels::Owner::classify(name, &labels),
            ..container(name, "", "", "", State::Running, Health::Healthy)
        }),
    });
    m.update(Msg::Fleet(fleet));
    m.update(key('2'));
    filter(&mut m, "shopfront");
    // Deploying stays Compose's: berth says what to run.
    m.update(key('d'));
    assert!(m.take_effects().is_empty());
    assert!(
        notice(&m).contains("docker compose -p shopfront up -d"),
        "{}",
        notice(&m)
    );
    // r: the whole project, after y.
    m.update(key('r'));
    let q = prompt_question(&m);
    assert!(
        q.contains("Restart Compose project shopfront on edge-1"),
        "{q}"
    );
    m.update(key('y'));
    let effects = m.take_effects();
    assert!(
        matches!(&effects[..], [Effect::ComposeOp { host: Some(h), project, op: ProjectOp::Restart }] if h == "edge-1" && project == "shopfront"),
        "{effects:?}"
    );
    // D: its name typed, or nothing.
    m.update(key('D'));
    type_text(&mut m, "shop");
    m.update(code(KeyCode::Enter));
    assert!(m.take_effects().is_empty());
    assert!(notice(&m).contains("not confirmed"), "{}", notice(&m));
    m.update(key('D'));
    type_text(&mut m, "shopfront");
    m.update(code(KeyCode::Enter));
    let effects = m.take_effects();
    assert!(
        matches!(
            &effects[..],
            [Effect::ComposeOp {
                op: ProjectOp::Down,
                ..
            }]
        ),
        "{effects:?}"
    );
    // Read-only: refused, nothing asked.
    m.read_only = true;
    m.update(key('r'));
    assert!(m.take_effects().is_empty());
    assert_eq!(m.input, Input::None);
    assert!(notice(&m).contains("read-only"), "{}", notice(&m));
}
