//! Maps a path inside a YAML document (`apps.demo.roles.web.hosts[1]`) back to
//! the line and column where it is written.
//!
//! serde only tells us *which* value was wrong; operators need to know *where*
//! it is in their file. serde_yaml's `Value` forgets positions, so we walk the
//! same text once more with yaml-rust2's marked event parser and keep the
//! position of every key and every value.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step of a path into a YAML document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A 1-based line and column in a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// Where each key and value of one YAML document is written, worked out
/// the first time a position is asked for: only an error or a warning
/// needs one, so a valid config (5 MB ones included) never pays for it.
pub struct Positions {
    /// The file's text, shared: the one copy a loaded config keeps.
    text: std::sync::Arc<String>,
    index: std::sync::OnceLock<Index>,
}

impl std::fmt::Debug for Positions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Positions({} bytes)", self.text.len())
    }
}

#[derive(Debug, Default)]
struct Index {
    keys: HashMap<Vec<Seg>, Pos>,
    values: HashMap<Vec<Seg>, Pos>,
    /// A key written a second time in its map: where it is written again.
    again: HashMap<Vec<Seg>, Pos>,
}

impl Positions {
    /// Keeps `text` to index when asked. Text that does not parse gives an
    /// empty index: the syntax error itself is reported by serde_yaml, with
    /// its own position.
    pub fn index(text: &str) -> Self {
        Self::of(std::sync::Arc::new(text.to_string()))
    }

    /// As [`Positions::index`], keeping `text` itself rather than a copy.
    pub fn of(text: std::sync::Arc<String>) -> Self {
        Positions {
            text,
            index: std::sync::OnceLock::new(),
        }
    }

    fn built(&self) -> &Index {
        self.index.get_or_init(|| {
            let mut builder = Builder::default();
            let mut parser = Parser::new_from_str(&self.text);
            let _ = parser.load(&mut builder, false);
            builder.out
        })
    }

    /// Position of the key that introduces `path` (for a map entry), or of the
    /// value (for a list item); falls back to the nearest ancestor.
    pub fn key(&self, path: &[Seg]) -> Option<Pos> {
        self.lookup(path, true)
    }

    /// Where the key at `path` is written a second time in its map, if it is.
    pub fn again(&self, path: &[Seg]) -> Option<Pos> {
        self.built().again.get(path).copied()
    }

    /// Position of the value at `path`; falls back to the nearest ancestor.
    pub fn value(&self, path: &[Seg]) -> Option<Pos> {
        self.lookup(path, false)
    }

    fn lookup(&self, path: &[Seg], prefer_key: bool) -> Option<Pos> {
        let index = self.built();
        (0..=path.len()).rev().find_map(|n| {
            let p = path.get(..n)?;
            let (first, second) = if prefer_key {
                (&index.keys, &index.values)
            } else {
                (&index.values, &index.keys)
            };
            first.get(p).or_else(|| second.get(p)).copied()
        })
    }
}

enum Frame {
    Map { key: Option<String> },
    Seq { next: usize },
}

#[derive(Default)]
struct Builder {
    out: Index,
    stack: Vec<Frame>,
    path: Vec<Seg>,
}

impl Builder {
    /// Called when a value (scalar, alias, map or list) starts. Returns true
    /// when the value is a mapping key rather than a value.
    fn enter_value(&mut self, pos: Pos) -> bool {
        match self.stack.last_mut() {
            Some(Frame::Map { key }) if key.is_none() => return true,
            Some(Frame::Map { key }) => {
                let k = key.clone().unwrap_or_default();
                self.path.push(Seg::Key(k));
            }
            Some(Frame::Seq { next }) => {
                self.path.push(Seg::Index(*next));
                *next += 1;
            }
            None => {}
        }
        self.out.values.entry(self.path.clone()).or_insert(pos);
        false
    }

    /// Called when a value has ended.
    fn leave_value(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key }) => {
                *key = None;
                self.path.pop();
            }
            Some(Frame::Seq { .. }) => {
                self.path.pop();
            }
            None => {}
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos {
            line: mark.line(),
            column: mark.col() + 1,
        };
        match ev {
            Event::Scalar(text, ..) => {
                if self.enter_value(pos) {
                    let mut key_path = self.path.clone();
                    key_path.push(Seg::Key(text.clone()));
                    match self.out.keys.entry(key_path) {
                        std::collections::hash_map::Entry::Vacant(v) => {
                            v.insert(pos);
                        }
                        std::collections::hash_map::Entry::Occupied(o) => {
                            self.out.again.entry(o.key().clone()).or_insert(pos);
                        }
                    }
                    if let Some(Frame::Map { key }) = self.stack.last_mut() {
                        *key = Some(text);
                    }
                } else {
                    self.leave_value();
                }
            }
            Event::Alias(_) => {
                if self.enter_value(pos) {
                    // An alias used as a mapping key: its text is not known
                    // here, but the next event is still its value.
                    if let Some(Frame::Map { key }) = self.stack.last_mut() {
                        *key = Some(String::new());
                    }
                } else {
                    self.leave_value();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if self.enter_value(pos) {
                    // A complex mapping key: index it under an empty name.
                    if let Some(Frame::Map { key }) = self.stack.last_mut() {
                        *key = Some(String::new());
                    }
                    self.path.push(Seg::Key(String::new()));
                }
                self.stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map { key: None }
                } else {
                    Frame::Seq { next: 0 }
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.leave_value();
            }
            _ => {}
        }
    }
}

/// Parses a dotted path as printed by serde_path_to_error
/// (`apps.demo.roles[0]`) into segments.
pub fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        if part.is_empty() || part == "?" {
            continue;
        }
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Seg::Key(rest[..i].to_string()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']').unwrap_or(stripped.len());
                if let Ok(n) = stripped[..end].parse() {
                    out.push(Seg::Index(n));
                }
                rest = stripped.get(end + 1..).unwrap_or("");
            }
        } else {
            out.push(Seg::Key(rest.to_string()));
        }
    }
    out
}

/// `apps.demo.servers` for messages.
pub fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    const DOC: &str = "version: 2\napps:\n  demo:\n    roles:\n      web:\n        hosts: [a, b]\n      worker:\n        hosts:\n          - a\n          - c\n";

    #[test]
    fn finds_keys_and_values() {
        let p = Positions::index(DOC);
        assert_eq!(p.key(&[k("version")]), Some(Pos { line: 1, column: 1 }));
        assert_eq!(
            p.value(&[k("version")]),
            Some(Pos {
                line: 1,
                column: 10
            })
        );
        assert_eq!(
            p.key(&[k("apps"), k("demo")]),
            Some(Pos { line: 3, column: 3 })
        );
        let web_b = [
            k("apps"),
            k("demo"),
            k("roles"),
            k("web"),
            k("hosts"),
            Seg::Index(1),
        ];
        assert_eq!(
            p.value(&web_b),
            Some(Pos {
                line: 6,
                column: 20
            })
        );
        let worker_c = [
            k("apps"),
            k("demo"),
            k("roles"),
            k("worker"),
            k("hosts"),
            Seg::Index(1),
        ];
        assert_eq!(
            p.value(&worker_c),
            Some(Pos {
                line: 10,
                column: 13
            })
        );
    }

    #[test]
    fn alias_keys_do_not_shift_later_entries() {
        let doc = "a: &k x\nm:\n  *k : 1\n  later: 2\n";
        let p = Positions::index(doc);
        assert_eq!(
            p.key(&[k("m"), k("later")]),
            Some(Pos { line: 4, column: 3 })
        );
        assert_eq!(
            p.value(&[k("m"), k("later")]),
            Some(Pos {
                line: 4,
                column: 10
            })
        );
    }

    #[test]
    fn falls_back_to_nearest_ancestor() {
        let p = Positions::index(DOC);
        let missing = [k("apps"), k("demo"), k("nope"), k("deeper")];
        assert_eq!(p.key(&missing), Some(Pos { line: 3, column: 3 }));
    }

    #[test]
    fn parses_serde_paths() {
        assert_eq!(
            parse_path("apps.demo.roles.web.hosts[1]"),
            vec![
                k("apps"),
                k("demo"),
                k("roles"),
                k("web"),
                k("hosts"),
                Seg::Index(1)
            ]
        );
        assert_eq!(parse_path("[2].a"), vec![Seg::Index(2), k("a")]);
        assert!(parse_path(".").is_empty());
    }
}
