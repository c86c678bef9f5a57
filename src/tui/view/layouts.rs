//! Every view and screen at 80x24 (the terminal of an SSH session during
//! an incident), 100x30 and 160x50: snapshots, and what must hold at the
//! narrowest: the columns that matter whole, names shortened with `…`.

use super::super::model::Model;
use super::testing::*;

const SIZES: [(u16, u16); 3] = [(80, 24), (100, 30), (160, 50)];

/// The model with locks held, after `keys`.
fn at(keys: &str) -> Model {
    typed(locked(), keys)
}

/// Each view, by the keys that open it on the loaded model.
fn views() -> Vec<(&'static str, Model)> {
    // (A deploy starts on an app nobody holds.)
    let mut run = loaded();
    let (id, plan) = deploy_run(&mut run);
    stage(&mut run, id, &plan, 0, Some(crate::engine::Outcome::Ok));
    stage(&mut run, id, &plan, 1, None);
    vec![
        ("hosts", at("1")),
        ("apps", at("2")),
        ("containers", at("3")),
        ("runs", at("4")),
        ("events", at("5")),
        ("host_screen", at("1\n")),
        ("app_screen", at("2\n")),
        ("container_screen", at("3\n")),
        ("app_logs", at("2o")),
        ("help", at("2?")),
        ("run_screen", run),
    ]
}

#[test]
fn every_view_at_80x24_100x30_and_160x50() {
    for (name, m) in views() {
        for (w, h) in SIZES {
            let screen = render(&m, w, h);
            assert!(
                screen.lines().all(|l| l.chars().count() <= usize::from(w)),
                "{name} at {w}x{h}"
            );
            insta::assert_snapshot!(format!("{name}_{w}x{h}"), screen);
        }
    }
}

/// At 80 columns the Apps view keeps LOCK, with the holder whole, and the
/// Containers view keeps each state word whole; long names are cut in
/// their middle, keeping the end that tells replicas apart.
#[test]
fn at_80_columns_what_matters_stays_whole() {
    let apps = render(&at("2"), 80, 24);
    let head = apps.lines().find(|l| l.contains("APP")).unwrap_or_default();
    assert!(head.contains("LOCK"), "{apps}");
    assert!(apps.contains("bo@ci-7"), "the lock holder whole: {apps}");

    let containers = render(&at("3"), 80, 24);
    for state in ["unhealthy", "healthy", "retained"] {
        assert!(
            containers.lines().any(|l| l
                .split_whitespace()
                .any(|w| w.trim_end_matches('…') == state)),
            "{state} whole: {containers}"
        );
    }
    assert!(
        containers.contains("…-v7-b2") && containers.contains("…-v7-a1"),
        "{containers}"
    );
}
