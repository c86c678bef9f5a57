use std::path::Path;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;

fn ev(code: KeyCode, mods: KeyModifiers) -> KeyEvent {
    KeyEvent::new(code, mods)
}

#[test]
fn every_default_key_parses_and_means_one_thing_in_its_context() {
    for b in TABLE {
        for k in b.keys.split_whitespace() {
            let key = Key::parse(k).unwrap_or_else(|e| panic!("{}: {e}", b.intent.name()));
            // Written back as the docs write it, and read again the same.
            assert_eq!(Key::parse(&key.to_string()), Ok(key), "{k}");
        }
    }
    // An intent has the same keys wherever it is: rebinding moves them all.
    for b in TABLE {
        for other in TABLE.iter().filter(|o| o.intent == b.intent) {
            assert_eq!(b.keys, other.keys, "{} differs", b.intent.name());
        }
    }
    let map = Keymap::default();
    for ctx in Keymap::contexts() {
        let mut seen: Vec<(Key, Intent)> = Vec::new();
        for b in TABLE.iter().filter(|b| b.context == ctx) {
            for k in map.keys_of(b.intent) {
                if let Some((_, other)) = seen.iter().find(|(s, _)| s == k) {
                    panic!(
                        "{k} is both {} and {} in {}",
                        other.name(),
                        b.intent.name(),
                        ctx.title()
                    );
                }
                seen.push((*k, b.intent));
            }
        }
    }
    // Every intent has a name that reads back, and is in the table.
    for i in INTENTS {
        assert_eq!(Intent::from_name(&i.name()), Some(*i));
        assert!(
            TABLE.iter().any(|b| b.intent == *i),
            "{} has no key",
            i.name()
        );
    }
}

#[test]
fn the_most_specific_context_wins_and_modifiers_count() {
    let map = Keymap::default();
    let containers = [
        Context::Anywhere,
        Context::Container,
        Context::App,
        Context::Lists,
    ];
    let apps = [Context::Anywhere, Context::App, Context::Lists];
    let r = ev(KeyCode::Char('r'), KeyModifiers::NONE);
    assert_eq!(map.intent(&containers, r), Some(Intent::ContainerRestart));
    assert_eq!(map.intent(&apps, r), Some(Intent::Restart));
    // Shift is in the letter; Ctrl is not ignored: Ctrl+D deploys nothing.
    let big_d = ev(KeyCode::Char('D'), KeyModifiers::SHIFT);
    assert_eq!(map.intent(&apps, big_d), Some(Intent::Destroy));
    let ctrl_d = ev(KeyCode::Char('d'), KeyModifiers::CONTROL);
    assert_eq!(map.intent(&apps, ctrl_d), Some(Intent::PageDown));
    let alt_d = ev(KeyCode::Char('d'), KeyModifiers::ALT);
    assert_eq!(map.intent(&apps, alt_d), None);
    let backtab = ev(KeyCode::BackTab, KeyModifiers::SHIFT);
    assert_eq!(map.intent(&apps, backtab), Some(Intent::PrevView));
}

#[test]
fn a_keymap_file_rebinds_an_intent_everywhere() {
    let map = Keymap::parse(Path::new("keys.yaml"), "deploy: P\ndown: [j, ctrl+n]\n").unwrap();
    let apps = [Context::Anywhere, Context::App, Context::Lists];
    let run = [Context::Anywhere, Context::Run];
    let big_p = ev(KeyCode::Char('P'), KeyModifiers::SHIFT);
    let d = ev(KeyCode::Char('d'), KeyModifiers::NONE);
    for stack in [&apps[..], &run[..]] {
        assert_eq!(map.intent(stack, big_p), Some(Intent::Deploy));
        assert_eq!(map.intent(stack, d), None, "d is free now");
    }
    let ctrl_n = ev(KeyCode::Char('n'), KeyModifiers::CONTROL);
    assert_eq!(map.intent(&apps, ctrl_n), Some(Intent::Down));
    // The docs made from it say the keys in force.
    assert!(
        map.markdown()
            .contains("| `P` | deploy (asks version) | `deploy` |")
    );
    // An empty file, or none, is the defaults.
    let empty = Keymap::parse(Path::new("keys.yaml"), "# nothing yet\n").unwrap();
    assert_eq!(empty.intent(&apps, d), Some(Intent::Deploy));
    let none = Keymap::load(Path::new("/nonexistent/keys.yaml")).unwrap();
    assert_eq!(none.intent(&apps, d), Some(Intent::Deploy));
}

#[test]
fn a_bad_keymap_is_refused_with_file_line_and_column() {
    let bad = |text: &str| {
        Keymap::parse(Path::new("/etc/berth/keys.yaml"), text)
            .err()
            .unwrap_or_else(|| panic!("accepted: {text}"))
            .to_string()
    };
    // A key that something else on the same screens has.
    let e = bad("# mine\ndeploy: j\n");
    assert!(
        e.starts_with("/etc/berth/keys.yaml:2:9: deploy: `j` is already `down`"),
        "{e}"
    );
    // ...in the same context, too.
    let e = bad("restart: d\n");
    assert!(e.contains("`d` is already `deploy`"), "{e}");
    // Moving both is fine.
    Keymap::parse(Path::new("k"), "deploy: j\ndown: [J, Down]\n").unwrap();
    // Not an intent: with the nearest name.
    let e = bad("quit: q\ndeplyo: x\n");
    assert!(e.starts_with("/etc/berth/keys.yaml:2:1: `deplyo`"), "{e}");
    assert!(e.contains("did you mean `deploy`"), "{e}");
    // Not a key, in a list: the item's own place.
    let e = bad("down:\n  - j\n  - ctrl+nope\n");
    assert!(
        e.starts_with("/etc/berth/keys.yaml:3:5: down: `ctrl+nope` is not a key"),
        "{e}"
    );
    // Not a map; a map for a key; ctrl+c, which always quits.
    assert!(bad("- deploy\n").contains("not a keymap"));
    assert!(bad("deploy: {a: b}\n").starts_with("/etc/berth/keys.yaml:1:9: deploy: a key"));
    assert!(bad("deploy: ctrl+c\n").contains("ctrl+c always quits"));
    // Control bytes in the file are made inert in the message.
    let e = bad("\"\u{1b}[31mred\": x\n");
    assert!(!e.contains('\u{1b}'), "{e:?}");
}

#[test]
fn the_docs_keys_page_is_the_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/keys.md");
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    let made = Keymap::default().markdown();
    assert!(
        written == made,
        "docs/keys.md is stale: run `cargo run -q -- keys --markdown > docs/keys.md`"
    );
    // Every binding of the table is in it, and in the man page's section.
    let roff = Keymap::default().roff();
    for b in TABLE {
        assert!(made.contains(b.help), "{}", b.help);
        assert!(roff.contains(&roff_escape(b.help)), "{}", b.help);
    }
}
