//! Reads a large config one app at a time, so that loading a fleet of
//! thousands of apps never holds the whole file's parse at once.
//!
//! serde_yaml loads a whole document's events before it deserializes any of
//! it: a 5 MB file costs some 100 MB of events on top of the model. Here a
//! streaming pass of yaml-rust2's parser (which holds only the node it is
//! in) finds where each entry of `apps:` starts and ends; each entry's text
//! is then read by serde_yaml on its own, and the rest of the file (with
//! `apps: {}`) likewise. serde_yaml stays the one reader of values, so a
//! split file means exactly what it means whole.
//!
//! Anything this does not take on (anchors, aliases, tags, a flow-style
//! `apps:`, a key that is not a plain or quoted scalar, a duplicate app,
//! an entry serde_yaml refuses) gives `None`, and the caller reads the file
//! whole, the way that explains errors. Owns: the split. Imports only the
//! config model.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::map::Map;
use super::model::{AppConfig, FleetFile};
use super::names::AppName;

/// Files smaller than this are read whole: the split costs a second parse,
/// and there is no memory worth saving.
pub const THRESHOLD: usize = 256 * 1024;

/// The fleet, read app by app; `None` when the file is not one this reads
/// (the caller then reads it whole).
///
/// Two threads: one walks the file's structure and hands each app's text
/// on (through a short queue, so memory stays bounded), the other reads
/// it; on two cores a large file loads in about the time of the slower.
pub fn read(text: &str) -> Option<FleetFile> {
    // A lone CR ends a line for the parser but not for the line cursor.
    let b = text.as_bytes();
    if (0..b.len()).any(|i| b.get(i) == Some(&b'\r') && b.get(i + 1) != Some(&b'\n')) {
        return None;
    }
    let (apps, bounds) = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Entry>(256);
        let walker = scope.spawn(move || walk(text, tx));
        let apps = read_entries(text, rx);
        // The walker stops once the reader is gone (a refused entry).
        let bounds = walker.join().ok().flatten();
        (apps, bounds)
    });
    let (apps, Bounds { start, end }) = (apps?, bounds?);
    let indent = " ".repeat(start.col + 2);
    let rest = format!(
        "{}{indent}{{}}\n{}",
        text.get(..start.line_start)?,
        text.get(end..)?
    );
    let mut fleet: FleetFile = serde_yaml::from_str(&rest).ok()?;
    if !fleet.apps.is_empty() {
        return None;
    }
    fleet.apps = apps;
    Some(fleet)
}

/// One app's entry as the walker found it: its key, and its value's text
/// (with how many spaces go before it: a flow mapping starts mid-line).
struct Entry {
    key: String,
    style: TScalarStyle,
    at: usize,
    end: usize,
    col: usize,
}

/// Reads each entry with serde_yaml, as the walker finds them.
fn read_entries(
    text: &str,
    rx: std::sync::mpsc::Receiver<Entry>,
) -> Option<Map<AppName, Box<AppConfig>>> {
    let mut read = Vec::new();
    for e in rx {
        let body = text.get(e.at..e.end)?;
        let yaml = format!("{}{body}", " ".repeat(e.col));
        let app: Box<AppConfig> = serde_yaml::from_str(&yaml).ok()?;
        read.push((name(&e.key, e.style)?, app));
    }
    // A duplicate is left to the whole read, which says where.
    Map::from_unique(read).ok()
}

/// Walks the file's structure, sending each app's entry on; gives where
/// the value of `apps:` starts and ends, or `None` for a file this does not
/// take on (or when the reader has stopped).
fn walk(text: &str, tx: std::sync::mpsc::SyncSender<Entry>) -> Option<Bounds> {
    let mut s = Stream {
        parser: Parser::new_from_str(text),
        text,
        bytes: Bytes::new(text),
        tx,
    };
    s.expect(Event::StreamStart)?;
    s.expect(Event::DocumentStart)?;
    s.expect(Event::MappingStart(0, None))?;
    let mut apps = None;
    loop {
        let (ev, mark) = s.next()?;
        match ev {
            Event::MappingEnd => break,
            Event::Scalar(key, style, 0, None) if key == "apps" && quoted_or_plain(style) => {
                if apps.is_some() {
                    return None;
                }
                apps = Some(s.apps(mark.col())?);
            }
            Event::Scalar(_, _, 0, None) => s.skip_node()?,
            _ => return None,
        }
    }
    // One document only: a second is refused by the whole read.
    s.expect(Event::DocumentEnd)?;
    s.expect(Event::StreamEnd)?;
    apps
}

struct Stream<'a> {
    parser: Parser<std::str::Chars<'a>>,
    text: &'a str,
    bytes: Bytes<'a>,
    tx: std::sync::mpsc::SyncSender<Entry>,
}

/// Where the value of `apps:` starts (its first line, and the column of the
/// `apps` key), and where it ends.
struct Bounds {
    start: LineStart,
    end: usize,
}

#[derive(Clone, Copy)]
struct LineStart {
    /// The byte where the line starts.
    line_start: usize,
    /// The column (in characters, all spaces before it) of the node.
    col: usize,
}

/// One app's entry, whose end is known when the next one starts.
struct Pending {
    key: String,
    style: TScalarStyle,
    /// The byte where its value's text starts, and how many spaces to put
    /// before it (a flow mapping starts mid-line, after its key).
    at: usize,
    col: usize,
}

impl<'a> Stream<'a> {
    fn next(&mut self) -> Option<(Event, Marker)> {
        self.parser.next_token().ok()
    }

    /// The next event, which must be `want`.
    fn expect(&mut self, want: Event) -> Option<()> {
        (self.next()?.0 == want).then_some(())
    }

    /// The byte and line start of a node the parser marked, provided only
    /// spaces come before it on its line.
    fn line_start(&mut self, mark: &Marker) -> Option<LineStart> {
        let at = self.bytes.at(mark)?;
        let line_start = self.bytes.start;
        let before = self.text.get(line_start..at)?;
        before.bytes().all(|b| b == b' ').then_some(LineStart {
            line_start,
            col: mark.col(),
        })
    }

    /// Reads the block mapping under `apps:`, an entry at a time.
    fn apps(&mut self, key_col: usize) -> Option<Bounds> {
        let (ev, mark) = self.next()?;
        if ev != Event::MappingStart(0, None) {
            return None;
        }
        // A flow mapping's start is marked at its `{`; a block mapping's is
        // marked past its first key, and is placed by that key instead.
        if self.char_at(&mark)? == '{' {
            return None;
        }
        let mut pending: Option<Pending> = None;
        let mut start: Option<LineStart> = None;
        loop {
            let (ev, mark) = self.next()?;
            let here = match ev {
                Event::MappingEnd => None,
                Event::Scalar(key, style, 0, None) if quoted_or_plain(style) => {
                    let here = self.line_start(&mark)?;
                    if here.col <= key_col {
                        return None;
                    }
                    Some((key, style, here))
                }
                _ => return None,
            };
            // The entry before this one ends where this one's line starts
            // (or, at the end, where the next top-level key's does).
            let end = match &here {
                Some((_, _, h)) => h.line_start,
                None => {
                    self.bytes.at(&mark)?;
                    self.bytes.start
                }
            };
            if let Some(p) = pending.take() {
                let entry = Entry {
                    key: p.key,
                    style: p.style,
                    at: p.at,
                    end,
                    col: p.col,
                };
                self.tx.send(entry).ok()?;
            }
            let Some((key, style, here)) = here else {
                let start = start?;
                return Some(Bounds {
                    start: LineStart {
                        line_start: start.line_start,
                        col: key_col,
                    },
                    end,
                });
            };
            start.get_or_insert(here);
            pending = Some(self.app_value(key, style)?);
        }
    }

    /// The value of one app's entry: a mapping, block or flow, with no
    /// anchor or tag; read past, keeping where it starts.
    fn app_value(&mut self, key: String, style: TScalarStyle) -> Option<Pending> {
        let (ev, mark) = self.next()?;
        if ev != Event::MappingStart(0, None) {
            return None;
        }
        if self.char_at(&mark)? == '{' {
            let at = self.bytes.at(&mark)?;
            self.skip_rest(1)?;
            return Some(Pending {
                key,
                style,
                at,
                col: mark.col(),
            });
        }
        // A block mapping: placed by its first key.
        let (ev, first) = self.next()?;
        match ev {
            Event::Scalar(_, first_style, 0, None) if quoted_or_plain(first_style) => {}
            _ => return None,
        }
        let here = self.line_start(&first)?;
        self.skip_node()?;
        self.skip_rest(1)?;
        // From its line's start, so the indentation is the file's own.
        Some(Pending {
            key,
            style,
            at: here.line_start,
            col: 0,
        })
    }

    /// Reads past one whole node.
    fn skip_node(&mut self) -> Option<()> {
        match self.next()?.0 {
            Event::Scalar(_, _, 0, None) => Some(()),
            Event::MappingStart(0, None) | Event::SequenceStart(0, None) => self.skip_rest(1),
            _ => None,
        }
    }

    /// Reads past the rest of `depth` open collections.
    fn skip_rest(&mut self, mut depth: usize) -> Option<()> {
        while depth > 0 {
            match self.next()?.0 {
                Event::Scalar(_, _, 0, None) => {}
                Event::MappingStart(0, None) | Event::SequenceStart(0, None) => depth += 1,
                Event::MappingEnd | Event::SequenceEnd => depth -= 1,
                // Anchors, aliases and tags: the whole read handles them.
                _ => return None,
            }
        }
        Some(())
    }

    fn char_at(&mut self, mark: &Marker) -> Option<char> {
        let at = self.bytes.at(mark)?;
        self.text.get(at..)?.chars().next()
    }
}

fn quoted_or_plain(style: TScalarStyle) -> bool {
    matches!(
        style,
        TScalarStyle::Plain | TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
    )
}

/// An app's name as serde_yaml reads the key: a plain key through its own
/// rules (`123` is a number, and refused), a quoted one as its text.
fn name(key: &str, style: TScalarStyle) -> Option<AppName> {
    match style {
        TScalarStyle::Plain => serde_yaml::from_str(key).ok(),
        _ => serde_yaml::from_value(serde_yaml::Value::String(key.to_string())).ok(),
    }
}

/// Marks to byte offsets, by line and column: yaml-rust2's character
/// index runs ahead after a literal block holding text past ASCII (it adds
/// the block's bytes), while its lines and the columns of the nodes this
/// reads are exact. Asked in nearly increasing order, so one cursor walks
/// the text about once.
struct Bytes<'a> {
    text: &'a str,
    /// The 1-based line the cursor is on, and the byte it starts at.
    line: usize,
    start: usize,
}

impl<'a> Bytes<'a> {
    fn new(text: &'a str) -> Self {
        Bytes {
            text,
            line: 1,
            start: 0,
        }
    }

    fn at(&mut self, mark: &Marker) -> Option<usize> {
        let want = mark.line();
        while self.line > want {
            let before = self.text.get(..self.start.checked_sub(1)?)?;
            self.start = before.rfind('\n').map_or(0, |n| n + 1);
            self.line -= 1;
        }
        while self.line < want {
            match self.text.get(self.start..)?.find('\n') {
                Some(n) => self.start += n + 1,
                // The end, marked on a line of its own past the last.
                None if mark.col() == 0 && self.line + 1 == want => {
                    self.line = want;
                    self.start = self.text.len();
                    return Some(self.start);
                }
                None => return None,
            }
            self.line += 1;
        }
        let rest = self.text.get(self.start..)?;
        let col: usize = rest.chars().take(mark.col()).map(char::len_utf8).sum();
        let taken = rest.get(..col)?;
        // The column lies on this line.
        (!taken.contains('\n')).then_some(self.start + col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both reads, as comparable text.
    fn both(text: &str) -> (Option<String>, Option<String>) {
        let split = read(text).map(|f| serde_yaml::to_string(&f).unwrap());
        let whole = serde_yaml::from_str::<FleetFile>(text)
            .ok()
            .map(|f| serde_yaml::to_string(&f).unwrap());
        (split, whole)
    }

    #[test]
    fn a_split_read_means_what_the_whole_read_means() {
        let text = "version: 2 # c\nhosts:\n  a: {}\napps:\n  # first\n  one:\n    image: x:1\n    roles: {web: {hosts: [a]}}\n\n  \"two\": {image: 'y:2',\n     roles: {web: {hosts: [a]}}}\n  'three': # thré\n    image: |\n      z:3\n    roles:\n      web:\n        hosts:\n        - a\n# trailing\nlock: {ttl: 5m}\n";
        let (split, whole) = both(text);
        assert!(split.is_some(), "read split");
        assert_eq!(split, whole);
        let f = read(text).unwrap();
        assert_eq!(f.apps.len(), 3);
        assert_eq!(f.hosts.len(), 1);
    }

    #[test]
    fn what_it_does_not_take_on_is_left_to_the_whole_read() {
        for text in [
            // An alias, an anchor, a tag.
            "version: 2\nhosts: {a: {}}\napps:\n  one: &x {image: x, roles: {web: {hosts: [a]}}}\n  two: *x\n",
            "version: 2\nhosts: {a: {}}\napps:\n  one: !t {image: x, roles: {web: {hosts: [a]}}}\n",
            // Flow `apps`, a duplicate app, a scalar app.
            "version: 2\nhosts: {a: {}}\napps: {one: {image: x, roles: {web: {hosts: [a]}}}}\n",
            "version: 2\nhosts: {a: {}}\napps:\n  one: {image: x, roles: {web: {hosts: [a]}}}\n  one: {image: y, roles: {web: {hosts: [a]}}}\n",
            "version: 2\nhosts: {a: {}}\napps:\n  one: ~\n",
            // A flow map's line less indented than its key: libyaml takes
            // it, yaml-rust2 (and the YAML spec) does not.
            "version: 2\nhosts: {a: {}}\napps:\n  one: {image: x,\n roles: {web: {hosts: [a]}}}\n",
            // A lone CR ending a line.
            "version: 2\rhosts: {a: {}}\napps:\n  one: {image: x, roles: {web: {hosts: [a]}}}\n",
            // Two documents; no apps at all; a bad app.
            "version: 2\napps:\n  one: {image: x, roles: {web: {hosts: [a]}}}\n---\nversion: 2\n",
            "version: 2\nhosts: {a: {}}\n",
            "version: 2\nhosts: {a: {}}\napps:\n  one: {image: x, rolez: {}}\n",
        ] {
            assert!(
                read(text).is_none(),
                "{text}: {:?}",
                read(text).map(|f| serde_yaml::to_string(&f.apps).unwrap())
            );
        }
    }

    #[test]
    fn names_and_text_past_ascii_keep_their_place() {
        let text = "version: 2\nhosts: {a: {}}\napps:\n  one:\n    image: \"x:ü\"\n    env: {clear: {Ä: ö}}\n    roles: {web: {hosts: [a]}}\n  two:\n    image: y\n    roles: {web: {hosts: [a]}}\n";
        let (split, whole) = both(text);
        assert!(split.is_some());
        assert_eq!(split, whole);
    }

    /// One fleet, written in every layout a person or a generator might
    /// use: each app block or flow style, flow maps over several lines,
    /// quoted names, comments and blank lines between and inside entries,
    /// literal blocks, text past ASCII, CRLF line ends, 2- or 4-space
    /// indents, document markers, keys before and after `apps`.
    #[test]
    fn split_and_whole_reads_agree_on_every_layout() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut roll = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let mut split_reads = 0;
        for _ in 0..400 {
            let ind = if roll(2) == 0 { "  " } else { "    " };
            let mut y = String::new();
            if roll(4) == 0 {
                y.push_str("---\n");
            }
            y.push_str("version: 2\n");
            if roll(2) == 0 {
                y.push_str("lock: {ttl: 5m}\n");
            }
            y.push_str(&format!("hosts:\n{ind}a: {{}}\n{ind}b: {{}}\n"));
            y.push_str("apps:");
            if roll(3) == 0 {
                y.push_str(" # the apps, ünïcode");
            }
            y.push('\n');
            for i in 0..(1 + roll(5)) {
                if roll(4) == 0 {
                    y.push_str(&format!("{ind}# app {i}: café\n\n"));
                }
                let name = match roll(3) {
                    0 => format!("app-{i}"),
                    1 => format!("'app-{i}'"),
                    _ => format!("\"app-{i}\""),
                };
                let hosts = ["[a]", "[a, b]", "[b]"][roll(3) as usize];
                let image = ["x:1", "'x:2'", "\"reg.example/x:ü\""][roll(3) as usize];
                match roll(4) {
                    0 => y.push_str(&format!(
                        "{ind}{name}: {{image: {image}, roles: {{web: {{hosts: {hosts}}}}}}}\n"
                    )),
                    1 => y.push_str(&format!(
                        "{ind}{name}: {{image: {image},\n{ind}{ind}  roles: {{web: {{hosts: {hosts}, port: 80}}}},\n{ind}{ind} env: {{clear: {{A: é}}}}}}\n"
                    )),
                    2 => y.push_str(&format!(
                        "{ind}{name}:\n{ind}{ind}image: {image}\n{ind}{ind}# inside\n{ind}{ind}roles:\n{ind}{ind}{ind}web:\n{ind}{ind}{ind}{ind}hosts:\n{ind}{ind}{ind}{ind}- a\n{ind}{ind}release:\n{ind}{ind}{ind}command:\n{ind}{ind}{ind}- |\n{ind}{ind}{ind}{ind}line one\n\n{ind}{ind}{ind}{ind}line ü\n"
                    )),
                    _ => y.push_str(&format!(
                        "{ind}{name}: # trailing\n{ind}{ind}image: {image}\n{ind}{ind}roles: {{web: {{hosts: {hosts}}}, worker: {{hosts: [a], command: [w, \"-q\"]}}}}\n\n"
                    )),
                }
            }
            if roll(2) == 0 {
                y.push_str("# after\nhooks: {}\n");
            }
            if roll(5) == 0 {
                y.push_str("...\n");
            }
            if roll(4) == 0 {
                y = y.replace('\n', "\r\n");
            }
            let (split, whole) = both(&y);
            assert!(whole.is_some(), "the generator writes valid files: {y}");
            if split.is_some() {
                split_reads += 1;
            }
            assert!(
                split.is_none() || split == whole,
                "{y}\nsplit: {split:?}\nwhole: {whole:?}"
            );
        }
        // Every layout here is one the split takes on.
        assert_eq!(split_reads, 400);
    }
}
