//! A container's log as the console holds it: a bounded buffer of sanitized
//! lines, and where the operator is looking (following the end, or paused
//! on a line while new lines keep arriving), with an optional search.
//!
//! Lines are numbered from the start of the stream, so a paused view stays
//! on the same line while old lines fall out of the buffer and new ones
//! arrive.

use std::cell::Cell;
use std::collections::VecDeque;

use regex::Regex;

/// Lines kept per container; older ones are dropped (and counted).
pub const CAPACITY: usize = 5_000;
/// Lines asked of the engine when the view opens.
pub const TAIL: usize = 1_000;

/// Which log a view holds: one container's, or an app's merged.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LogOf {
    Container { host: String, id: String },
    App { app: String, destination: String },
}

/// Where a line of a merged log came from: `host/container`, and the
/// colour its prefix is drawn in (one per container, in turn).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub label: std::sync::Arc<str>,
    pub colour: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub struct LogLine {
    pub text: String,
    pub stderr: bool,
    /// In a merged log, its container; `None` for a container's own log
    /// and for berth's notes.
    pub from: Option<Source>,
    /// berth's own words in a log (a container attached, a log ended, a
    /// host not reached), not a container's.
    pub note: bool,
}

impl LogLine {
    /// A line of container output, made safe to draw: control sequences
    /// removed, tabs expanded.
    pub fn new(raw: &str, stderr: bool) -> LogLine {
        LogLine::cleaned(crate::sanitize::strip_controls(raw), stderr)
    }

    /// A line already stripped of control sequences (by
    /// [`LineSplitter`](crate::engine::containers::LineSplitter)).
    pub fn cleaned(text: String, stderr: bool) -> LogLine {
        let text = if text.contains('\t') {
            text.replace('\t', "    ")
        } else {
            text
        };
        LogLine {
            text,
            stderr,
            from: None,
            note: false,
        }
    }

    /// berth's note in a log (cleaned of control sequences).
    pub fn note(text: &str) -> LogLine {
        LogLine {
            note: true,
            ..LogLine::new(&format!("── {text}"), false)
        }
    }

    /// A line of a merged log, from `from`.
    pub fn with_source(mut self, from: Source) -> LogLine {
        self.from = Some(from);
        self
    }
}

#[derive(Debug)]
pub struct LogView {
    pub of: LogOf,
    lines: VecDeque<LogLine>,
    /// The number of the first line in `lines` (lines dropped before it).
    first: u64,
    /// Following the end; otherwise paused with `bottom` as the last line
    /// on screen.
    pub follow: bool,
    bottom: u64,
    pub wrap: bool,
    pub search: Option<Regex>,
    /// Why the stream ended, once it has.
    pub ended: Option<String>,
    /// Rows of the pane at the last draw, for paging and `g`.
    pub height: Cell<usize>,
}

impl LogView {
    /// A container's log.
    pub fn new(host: &str, id: &str) -> LogView {
        LogView::of(LogOf::Container {
            host: host.into(),
            id: id.into(),
        })
    }

    pub fn of(of: LogOf) -> LogView {
        LogView {
            of,
            lines: VecDeque::new(),
            first: 0,
            follow: true,
            bottom: 0,
            wrap: false,
            search: None,
            ended: None,
            height: Cell::new(10),
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.first
    }

    /// One past the number of the newest line.
    fn end(&self) -> u64 {
        self.first + self.lines.len() as u64
    }

    pub fn push(&mut self, lines: impl IntoIterator<Item = LogLine>) {
        for line in lines {
            if self.lines.len() == CAPACITY {
                self.lines.pop_front();
                self.first += 1;
            }
            self.lines.push_back(line);
        }
    }

    /// Lines arrived since the view was paused on `bottom`.
    pub fn new_below(&self) -> u64 {
        if self.follow {
            0
        } else {
            self.end().saturating_sub(self.bottom + 1)
        }
    }

    /// The index (into the buffer) of the last line on screen.
    pub fn bottom_index(&self) -> Option<usize> {
        if self.lines.is_empty() {
            return None;
        }
        let b = if self.follow {
            self.end() - 1
        } else {
            self.bottom.clamp(self.first, self.end() - 1)
        };
        Some((b - self.first) as usize)
    }

    /// Line `i` of the buffer.
    pub fn line(&self, i: usize) -> Option<&LogLine> {
        self.lines.get(i)
    }

    /// The text of line `i` of the buffer ("" past its end).
    pub fn text(&self, i: usize) -> &str {
        self.lines.get(i).map_or("", |l| l.text.as_str())
    }

    fn pause_at(&mut self, index: usize) {
        self.follow = false;
        self.bottom = self.first + index as u64;
    }

    /// Moves the last line on screen by `delta` lines (negative: up),
    /// pausing the view.
    pub fn scroll(&mut self, delta: i64) {
        let Some(b) = self.bottom_index() else {
            return;
        };
        let last = self.lines.len() - 1;
        let min = self.height.get().saturating_sub(1).min(last);
        let to = (b as i64 + delta).clamp(min as i64, last as i64) as usize;
        self.pause_at(to);
    }

    pub fn page(&mut self, pages: i64) {
        let h = self.height.get().max(2) as i64 - 1;
        self.scroll(pages * h);
    }

    /// `g`: the first lines, paused.
    pub fn top(&mut self) {
        if !self.lines.is_empty() {
            let h = self.height.get().max(1);
            self.pause_at((h - 1).min(self.lines.len() - 1));
        }
    }

    /// `G`: the end, following.
    pub fn follow_end(&mut self) {
        self.follow = true;
    }

    /// Pauses on the current bottom line, or follows again.
    pub fn toggle_pause(&mut self) {
        if self.follow {
            if let Some(b) = self.bottom_index() {
                self.pause_at(b);
            }
        } else {
            self.follow = true;
        }
    }

    /// Sets (or with `""` clears) the search and shows the newest match at
    /// or above the current bottom line. Case-insensitive; text that is not
    /// a valid regex is searched for as it is. Returns whether it matched.
    pub fn set_search(&mut self, text: &str) -> bool {
        if text.is_empty() {
            self.search = None;
            return true;
        }
        // Invalid text is searched for as it is (escaped); text too big for
        // the regex engine even then is no search at all.
        let Ok(re) = Regex::new(&format!("(?i){text}"))
            .or_else(|_| Regex::new(&format!("(?i){}", regex::escape(text))))
        else {
            self.search = None;
            return false;
        };
        self.search = Some(re);
        let from = self.bottom_index().unwrap_or(0);
        self.find(from, false, true)
    }

    /// `n` (older, `newer == false`) and `N` (newer): the next match from
    /// the current bottom line.
    pub fn next_match(&mut self, newer: bool) -> bool {
        let Some(b) = self.bottom_index() else {
            return false;
        };
        self.find(b, newer, false)
    }

    fn find(&mut self, from: usize, newer: bool, inclusive: bool) -> bool {
        let Some(re) = &self.search else {
            return false;
        };
        let hit = |i: &usize| self.lines.get(*i).is_some_and(|l| re.is_match(&l.text));
        let found = if newer {
            let start = if inclusive { from } else { from + 1 };
            (start..self.lines.len()).find(hit)
        } else {
            let end = if inclusive { from + 1 } else { from };
            (0..end).rev().find(hit)
        };
        match found {
            Some(i) => {
                self.pause_at(i);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> Vec<LogLine> {
        (0..n)
            .map(|i| LogLine::new(&format!("line {i}"), false))
            .collect()
    }

    fn bottom_text(v: &LogView) -> &str {
        v.text(v.bottom_index().unwrap())
    }

    #[test]
    fn the_buffer_is_bounded_and_counts_what_it_dropped() {
        let mut v = LogView::new("h", "c");
        v.push(lines(CAPACITY + 250));
        assert_eq!(v.len(), CAPACITY);
        assert_eq!(v.dropped(), 250);
        assert_eq!(v.text(0), "line 250");
        assert_eq!(bottom_text(&v), format!("line {}", CAPACITY + 249));
    }

    #[test]
    fn a_paused_view_stays_on_its_line_while_lines_arrive_and_drop() {
        let mut v = LogView::new("h", "c");
        v.height.set(5);
        v.push(lines(100));
        v.scroll(-10);
        assert!(!v.follow);
        assert_eq!(bottom_text(&v), "line 89");
        v.push(lines(CAPACITY).into_iter().map(|mut l| {
            l.text = format!("new {}", l.text);
            l
        }));
        // Line 89 fell out of the buffer: the view clamps to the oldest.
        assert_eq!(v.bottom_index(), Some(0));
        let mut v = LogView::new("h", "c");
        v.height.set(5);
        v.push(lines(100));
        v.toggle_pause();
        v.push(lines(7));
        assert_eq!(bottom_text(&v), "line 99");
        assert_eq!(v.new_below(), 7);
        v.follow_end();
        assert_eq!(bottom_text(&v), "line 6");
        assert_eq!(v.new_below(), 0);
    }

    #[test]
    fn top_and_paging_keep_a_full_pane() {
        let mut v = LogView::new("h", "c");
        v.height.set(10);
        v.push(lines(100));
        v.top();
        assert_eq!(bottom_text(&v), "line 9");
        v.page(-1);
        assert_eq!(bottom_text(&v), "line 9", "no paging above the first line");
        v.page(1);
        assert_eq!(bottom_text(&v), "line 18");
        v.scroll(1000);
        assert_eq!(bottom_text(&v), "line 99");
        assert!(!v.follow, "scrolling to the end does not resume following");
    }

    #[test]
    fn search_finds_the_newest_match_then_walks_with_n_and_shift_n() {
        let mut v = LogView::new("h", "c");
        v.push(
            [
                "GET /a 200",
                "GET /b 500",
                "boot (pid 1)",
                "GET /c 500",
                "GET /d 200",
            ]
            .iter()
            .map(|s| LogLine::new(s, false)),
        );
        assert!(v.set_search(" 500"));
        assert_eq!(bottom_text(&v), "GET /c 500");
        assert!(v.next_match(false));
        assert_eq!(bottom_text(&v), "GET /b 500");
        assert!(!v.next_match(false), "no older match");
        assert_eq!(bottom_text(&v), "GET /b 500");
        assert!(v.next_match(true));
        assert_eq!(bottom_text(&v), "GET /c 500");
        assert!(!v.set_search("nothing like this"));
        // An invalid regex is searched for as text.
        assert!(v.set_search("(pid"));
        assert_eq!(bottom_text(&v), "boot (pid 1)");
        assert!(!v.set_search("(unclosed"));
        v.follow_end();
        assert!(v.set_search("BOOT"), "case-insensitive");
        assert_eq!(bottom_text(&v), "boot (pid 1)");
    }

    #[test]
    fn lines_are_stripped_of_control_sequences() {
        let l = LogLine::new("\x1b[31mred\x1b[0m\x1b]0;pwned\x07\tok\r", true);
        assert_eq!(l.text, "red    ok");
        assert!(l.stderr);
    }
}
