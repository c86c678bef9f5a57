//! The `:` line: suggestions, Tab, history.

use super::*;
use crate::tui::view::testing::*;

fn line(m: &Model) -> String {
    match &m.input {
        Input::Command(t) => t.clone(),
        other => format!("not on the : line: {other:?}"),
    }
}

fn typed(m: &mut Model, text: &str) {
    for c in text.chars() {
        m.update(key(c));
    }
}

fn bottom(m: &Model) -> String {
    render(m, 120, 24)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn what_fits_is_shown_as_it_is_typed_and_tab_cycles_through_it() {
    let mut m = loaded();
    m.update(key(':'));
    typed(&mut m, "r");
    let b = bottom(&m);
    assert!(
        b.contains("restart APP [ROLE]")
            && b.contains("rollback APP [VERSION]")
            && b.contains("runs"),
        "{b}"
    );
    // Nothing shared to add: Tab takes each in turn, Shift+Tab back.
    m.update(code(KeyCode::Tab));
    assert_eq!(line(&m), "restart");
    m.update(code(KeyCode::Tab));
    assert_eq!(line(&m), "rollback");
    m.update(code(KeyCode::BackTab));
    assert_eq!(line(&m), "restart");
    // The app's name, then its roles.
    typed(&mut m, " de");
    m.update(code(KeyCode::Tab));
    assert_eq!(line(&m), "restart demo ");
    let b = bottom(&m);
    assert!(b.contains("web") && b.contains("worker"), "{b}");
    // What both share first, then each.
    m.update(code(KeyCode::Tab));
    assert_eq!(line(&m), "restart demo w");
    m.update(code(KeyCode::Tab));
    assert_eq!(line(&m), "restart demo web");
    m.update(code(KeyCode::Tab));
    assert_eq!(line(&m), "restart demo worker");
}

#[test]
fn deploy_offers_the_versions_the_hosts_hold() {
    let mut m = loaded();
    m.update(key(':'));
    typed(&mut m, "deploy demo ");
    let b = bottom(&m);
    assert!(b.contains("v7") && b.contains("v6"), "{b}");
    typed(&mut m, "v6");
    m.update(code(KeyCode::Tab));
    assert_eq!(line(&m), "deploy demo v6 ");
}

#[test]
fn up_and_down_walk_the_lines_run_before() {
    let mut m = loaded();
    for l in ["apps", "containers", "apps"] {
        m.update(key(':'));
        typed(&mut m, l);
        m.update(code(KeyCode::Enter));
    }
    assert_eq!(m.cmdline.history, ["containers", "apps"]);
    m.update(key(':'));
    typed(&mut m, "hel");
    m.update(code(KeyCode::Up));
    assert_eq!(line(&m), "apps");
    m.update(code(KeyCode::Up));
    assert_eq!(line(&m), "containers");
    m.update(code(KeyCode::Up));
    assert_eq!(line(&m), "containers");
    m.update(code(KeyCode::Down));
    assert_eq!(line(&m), "apps");
    // Past the newest: the line that was being typed.
    m.update(code(KeyCode::Down));
    assert_eq!(line(&m), "hel");
}
