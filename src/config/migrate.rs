//! Schema migrations, applied in memory to the parsed document before it is
//! read into typed structs.
//!
//! Dokku lost state in upgrades because keys moved and the old ones were
//! silently ignored (field-notes row 2). Here every moved key is carried to
//! its new place with a warning naming both places, a file that has both the
//! old and the new key is an error, and nothing is ever dropped.

use serde_yaml::{Mapping, Value};

use super::locate::Seg;
pub use super::locate::dotted;
use super::model::CURRENT_VERSION;

/// A key that moved between two schema versions.
struct Rename {
    /// The schema version that introduced the new name.
    since: u32,
    /// Where the key lives; `*` matches any map key (an app, a host, ...).
    parent: &'static [&'static str],
    old: &'static str,
    /// New place, relative to `parent`; intermediate maps are created.
    new: &'static [&'static str],
}

/// Every key that has moved, oldest first. A key never leaves this table.
const RENAMES: &[Rename] = &[
    Rename {
        since: 2,
        parent: &["apps", "*"],
        old: "servers",
        new: &["roles"],
    },
    Rename {
        since: 2,
        parent: &["apps", "*", "healthcheck"],
        old: "cmd",
        new: &["command"],
    },
    Rename {
        since: 2,
        parent: &["apps", "*"],
        old: "release_command",
        new: &["release", "command"],
    },
    Rename {
        since: 2,
        parent: &["hosts", "*", "ssh"],
        old: "key",
        new: &["identity_file"],
    },
];

/// One key moved by a migration: where it was written, where it now lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    pub from: Vec<Seg>,
    pub to: Vec<Seg>,
    pub since: u32,
}

/// A migration that cannot be done without losing something.
#[derive(Debug, PartialEq, Eq)]
pub struct Conflict {
    pub at: Vec<Seg>,
    pub message: String,
}

/// Migrates `doc`, written for schema `version`, to the current schema.
pub fn to_current(version: u32, doc: &mut Value) -> Result<Vec<Moved>, Conflict> {
    let mut moved = Vec::new();
    for rename in RENAMES.iter().filter(|r| version < r.since) {
        let mut path = Vec::new();
        apply(rename, rename.parent, doc, &mut path, &mut moved)?;
    }
    debug_assert!(RENAMES.iter().all(|r| r.since <= CURRENT_VERSION));
    Ok(moved)
}

fn apply(
    rename: &Rename,
    pattern: &[&str],
    node: &mut Value,
    path: &mut Vec<Seg>,
    moved: &mut Vec<Moved>,
) -> Result<(), Conflict> {
    let Some(map) = node.as_mapping_mut() else {
        return Ok(());
    };
    let Some((first, rest)) = pattern.split_first() else {
        return move_key(rename, map, path, moved);
    };
    let keys: Vec<String> = if *first == "*" {
        map.keys()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect()
    } else {
        vec![first.to_string()]
    };
    for key in keys {
        if let Some(child) = map.get_mut(key.as_str()) {
            path.push(Seg::Key(key));
            apply(rename, rest, child, path, moved)?;
            path.pop();
        }
    }
    Ok(())
}

fn move_key(
    rename: &Rename,
    map: &mut Mapping,
    path: &[Seg],
    moved: &mut Vec<Moved>,
) -> Result<(), Conflict> {
    // Every rename names a new key (RENAMES is berth's own table).
    let Some((last, parents)) = rename.new.split_last() else {
        return Ok(());
    };
    let Some(value) = map.remove(rename.old) else {
        return Ok(());
    };
    let mut from = path.to_vec();
    from.push(Seg::Key(rename.old.to_string()));
    let mut to = path.to_vec();
    to.extend(rename.new.iter().map(|s| Seg::Key(s.to_string())));
    let conflict = |message: String| Conflict {
        at: from.clone(),
        message,
    };
    let mut target = map;
    for p in parents {
        let entry = target
            .entry(Value::String(p.to_string()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        target = entry.as_mapping_mut().ok_or_else(|| {
            conflict(format!(
                "cannot migrate `{}` to `{}`: `{p}` is already set to something that is not a map",
                rename.old,
                rename.new.join(".")
            ))
        })?;
    }
    if target.contains_key(*last) {
        return Err(conflict(format!(
            "both `{}` (schema version {}) and its new name `{}` are set: keep only `{}`",
            rename.old,
            rename.since - 1,
            rename.new.join("."),
            rename.new.join(".")
        )));
    }
    target.insert(Value::String(last.to_string()), value);
    moved.push(Moved {
        from,
        to,
        since: rename.since,
    });
    Ok(())
}

/// Translates a path in the migrated document back to where it is written
/// in the file, so errors point at what the operator actually wrote.
pub fn original_path(path: &[Seg], moved: &[Moved]) -> Vec<Seg> {
    for m in moved {
        if path.starts_with(&m.to) {
            let mut out = m.from.clone();
            out.extend_from_slice(path.get(m.to.len()..).unwrap_or_default());
            return out;
        }
    }
    path.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Value {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn moves_every_v1_key_and_drops_none() {
        let mut d = doc(
            "apps:\n  a:\n    servers: {web: {hosts: [h]}}\n    release_command: [migrate]\n    healthcheck: {cmd: [true], retries: 2}\n    image: x\nhosts:\n  h:\n    ssh: {host: h.example, key: ~/.ssh/id}\n",
        );
        let moved = to_current(1, &mut d).unwrap();
        assert_eq!(moved.len(), 4);
        let want = doc(
            "apps:\n  a:\n    roles: {web: {hosts: [h]}}\n    release: {command: [migrate]}\n    healthcheck: {command: [true], retries: 2}\n    image: x\nhosts:\n  h:\n    ssh: {host: h.example, identity_file: ~/.ssh/id}\n",
        );
        assert_eq!(d, want);
    }

    #[test]
    fn current_version_is_untouched() {
        let text = "apps:\n  a:\n    servers: {web: {hosts: [h]}}\n";
        let mut d = doc(text);
        assert!(to_current(CURRENT_VERSION, &mut d).unwrap().is_empty());
        assert_eq!(d, doc(text));
    }

    #[test]
    fn old_and_new_together_is_a_conflict() {
        let mut d = doc("apps:\n  a:\n    servers: {}\n    roles: {}\n");
        let c = to_current(1, &mut d).unwrap_err();
        assert!(c.message.contains("keep only `roles`"), "{}", c.message);
        assert_eq!(dotted(&c.at), "apps.a.servers");
    }

    #[test]
    fn paths_translate_back_to_the_written_key() {
        let mut d = doc("apps:\n  a:\n    release_command: [m]\n");
        let moved = to_current(1, &mut d).unwrap();
        let p = [
            Seg::Key("apps".into()),
            Seg::Key("a".into()),
            Seg::Key("release".into()),
            Seg::Key("command".into()),
            Seg::Index(0),
        ];
        assert_eq!(
            dotted(&original_path(&p, &moved)),
            "apps.a.release_command[0]"
        );
    }
}
