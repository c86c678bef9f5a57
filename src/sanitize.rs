//! Text from outside berth's own code (containers, hooks, hosts, lock and
//! history records, other tools' lock files, `$USER`, messages) is
//! untrusted: before it can reach a terminal, every escape sequence (CSI,
//! OSC, DCS, SOS/PM/APC, bare ESC) and every control character (C0, DEL,
//! C1 0x80–0x9f, BEL) is made inert by removing it. Newlines and tabs are
//! kept by [`strip_controls`]; [`one_line`] folds them into spaces.
//!
//! The escape grammar is `vte`'s (Paul Williams' state machine, as used by
//! Alacritty), not a hand-written one: what a terminal would take as a
//! sequence, the parser takes as one too, and drops.
//!
//! Records berth reads back from disk clean their text fields while they
//! are deserialized ([`de_line`], [`de_text`] and their `Option` forms), so
//! no output path can forget to.
//!
//! Owns: making outside text inert. Must not import anything of berth: every
//! layer calls it.
//! The layering is checked by a test (`src/layers.rs`).

use serde::{Deserialize, Deserializer};

/// Removes terminal control sequences and control characters from `text`;
/// newlines and tabs stay.
pub fn strip_controls(text: &str) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    strip(text, false)
}

/// What a terminal would print of `text`, and berth's colour marks with
/// `marks`.
fn strip(text: &str, marks: bool) -> String {
    let mut out = Keep {
        text: String::with_capacity(text.len()),
        marks,
    };
    vte::Parser::new().advance(&mut out, text.as_bytes());
    out.text
}

/// A character a terminal may act on: every control but newline and tab;
/// and the marks of berth's own colours ([`coloured`]), which only berth's
/// code may put in what it writes.
fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_mark(c)
}

/// The first of berth's colour marks: private-use characters that
/// [`for_terminal`] turns into SGR colours after cleaning everything else.
const MARK: u32 = 0xF8F0;
/// Six colours, and the reset.
const MARKS: u32 = 7;

fn is_mark(c: char) -> bool {
    (MARK..MARK + MARKS).contains(&u32::from(c))
}

/// `text` in one of six colours, by `index`, when [`for_terminal`] writes
/// it with colour; plain without. For berth's own styling of what it
/// writes (a container's name in merged logs), never for outside text.
pub fn coloured(index: usize, text: &str) -> String {
    let mark = |n: u32| char::from_u32(MARK + n).unwrap_or(' ');
    let n = u32::try_from(index % 6).unwrap_or(0);
    format!("{}{text}{}", mark(n), mark(6))
}

/// Everything berth writes to its stdout or stderr passes here: every
/// control sequence and control character made inert (newlines and tabs
/// kept), then berth's own colour marks turned into SGR colours (with
/// `colour`) or dropped. Whatever a caller forgot to clean where the text
/// entered, nothing reaches the terminal that it would act on.
pub fn for_terminal(text: &str, colour: bool) -> String {
    if !text.chars().any(is_unsafe) {
        return text.to_string();
    }
    let clean = strip(text, true);
    let mut out = String::with_capacity(clean.len() + 16);
    for c in text_marks(&clean) {
        match c {
            Piece::Text(t) => out.push_str(t),
            Piece::Colour(n) if colour => out.push_str(&format!("\x1b[{}m", 31 + n)),
            Piece::Reset if colour => out.push_str("\x1b[0m"),
            _ => {}
        }
    }
    out
}

/// A line of berth's own to stderr, through [`for_terminal`], for the
/// console's few words outside its screen (a panic, actions cancelled on
/// the way out); a failed write is ignored (there is no one to tell).
pub fn say_on_stderr(line: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().write_all(for_terminal(&format!("{line}\n"), false).as_bytes());
}

enum Piece<'a> {
    Text(&'a str),
    Colour(u32),
    Reset,
}

/// `text` cut at berth's colour marks.
fn text_marks(text: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    let mut from = 0;
    for (i, c) in text.char_indices() {
        if is_mark(c) {
            if let Some(t) = text.get(from..i).filter(|t| !t.is_empty()) {
                pieces.push(Piece::Text(t));
            }
            let n = u32::from(c) - MARK;
            pieces.push(if n == 6 {
                Piece::Reset
            } else {
                Piece::Colour(n)
            });
            from = i + c.len_utf8();
        }
    }
    if let Some(t) = text.get(from..).filter(|t| !t.is_empty()) {
        pieces.push(Piece::Text(t));
    }
    pieces
}

/// Collects what a terminal would print; every sequence and control (other
/// than newline and tab) goes nowhere.
struct Keep {
    text: String,
    marks: bool,
}

impl vte::Perform for Keep {
    fn print(&mut self, c: char) {
        // vte parses 7-bit sequences only: C1 controls arrive here as chars.
        if !c.is_control() && (self.marks || !is_mark(c)) {
            self.text.push(c);
        }
    }

    fn execute(&mut self, byte: u8) {
        if byte == b'\n' || byte == b'\t' {
            self.text.push(byte as char);
        }
    }
}

/// Decodes bytes that may not be UTF-8 (invalid sequences become U+FFFD),
/// then strips control sequences.
pub fn clean_bytes(bytes: &[u8]) -> String {
    strip_controls(&String::from_utf8_lossy(bytes))
}

/// For one-line fields (names, labels, messages): controls removed and
/// newlines and tabs folded into spaces.
pub fn one_line(text: &str) -> String {
    let clean = strip_controls(text);
    if clean.contains(['\n', '\t']) {
        clean.replace(['\n', '\t'], " ")
    } else {
        clean
    }
}

/// True when `text` holds nothing a terminal could act on.
pub fn is_clean(text: &str) -> bool {
    !text.chars().any(is_unsafe)
}

/// The most a one-line field read from a record keeps (a name, a
/// message): past any real one, so no record makes an answer or the
/// console huge.
pub const LINE_KEPT: usize = 4096;
/// The most a multi-line field read from a record keeps (an error).
pub const TEXT_KEPT: usize = 64 * 1024;

/// `text` cut to `max` characters, with `…` when cut.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", text.get(..at).unwrap_or(text)),
        None => text.to_string(),
    }
}

/// `#[serde(deserialize_with = "de_line")]`: a one-line field, cleaned and
/// bounded ([`LINE_KEPT`]) as it is read.
pub fn de_line<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(clip(&one_line(&String::deserialize(d)?), LINE_KEPT))
}

/// `#[serde(deserialize_with = "de_text")]`: a multi-line field, cleaned
/// and bounded ([`TEXT_KEPT`]) as it is read.
pub fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(clip(&strip_controls(&String::deserialize(d)?), TEXT_KEPT))
}

/// [`de_line`] for an optional field (use with `#[serde(default)]`).
pub fn de_opt_line<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|s| clip(&one_line(&s), LINE_KEPT)))
}

/// [`de_text`] for an optional field (use with `#[serde(default)]`).
pub fn de_opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|s| clip(&strip_controls(&s), TEXT_KEPT)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_csi_osc_and_controls() {
        assert_eq!(strip_controls("\x1b[31mred\x1b[0m ok"), "red ok");
        assert_eq!(strip_controls("a\x1b]0;evil title\x07b"), "ab");
        assert_eq!(
            strip_controls("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b"),
            "alinkb"
        );
        assert_eq!(strip_controls("x\x1b[2J\x1b[Hy"), "xy");
        assert_eq!(
            strip_controls("bell\x07 back\x08space\r\n"),
            "bell backspace\n"
        );
        assert_eq!(
            strip_controls("keep\ttabs\nand lines ✓"),
            "keep\ttabs\nand lines ✓"
        );
        assert_eq!(strip_controls("\x1b(Bcharset"), "charset");
        assert_eq!(strip_controls("unterminated \x1b]0;title"), "unterminated ");
        // A clipboard write, a DCS, an APC and a private-mode CSI.
        assert_eq!(strip_controls("a\x1b]52;c;ZXZpbA==\x07b"), "ab");
        assert_eq!(strip_controls("a\x1bP1$qm\x1b\\b"), "ab");
        assert_eq!(strip_controls("a\x1b_apc\x1b\\b"), "ab");
        assert_eq!(strip_controls("a\x1b[?1049hb"), "ab");
        assert_eq!(strip_controls("bare\x1b"), "bare");
        assert_eq!(strip_controls("del\x7f"), "del");
    }

    #[test]
    fn what_berth_writes_is_inert_but_for_its_own_colours() {
        let evil = "name\x1b]0;pwned\x07\x1b[2J \u{9b}31m";
        let line = format!("{} | {evil}\tok\n", coloured(1, "host/web"));
        assert_eq!(
            for_terminal(&line, true),
            "\x1b[32mhost/web\x1b[0m | name 31m\tok\n"
        );
        assert_eq!(for_terminal(&line, false), "host/web | name 31m\tok\n");
        // Outside text cannot bring berth's colour marks: cleaned where
        // it enters, they are gone.
        let forged = strip_controls(&coloured(0, "x"));
        assert_eq!(forged, "x");
        assert_eq!(for_terminal(&forged, true), "x");
        assert_eq!(for_terminal("plain ✓", true), "plain ✓");
    }

    #[test]
    fn fields_read_from_records_are_bounded() {
        #[derive(serde::Deserialize)]
        struct R {
            #[serde(deserialize_with = "de_line")]
            line: String,
            #[serde(deserialize_with = "de_text")]
            text: String,
        }
        let json = serde_json::json!({"line": "l".repeat(100_000), "text": "t\n".repeat(100_000)});
        let r: R = serde_json::from_value(json).unwrap();
        assert_eq!(r.line.chars().count(), LINE_KEPT + 1);
        assert_eq!(r.text.chars().count(), TEXT_KEPT + 1);
        assert_eq!(clip("short", 10), "short");
    }

    #[test]
    fn c1_controls_are_inert() {
        for c in '\u{80}'..='\u{9f}' {
            let s = strip_controls(&format!("a{c}b"));
            assert!(is_clean(&s), "{c:?} survived in {s:?}");
            assert!(s.starts_with('a') && s.ends_with('b'), "{s:?}");
        }
    }

    #[test]
    fn tolerates_invalid_utf8() {
        assert_eq!(
            clean_bytes(b"ok \xff\xfe\x1b[1mbold"),
            "ok \u{fffd}\u{fffd}bold"
        );
    }

    #[test]
    fn one_line_flattens() {
        assert_eq!(one_line("a\nb\tc\x1b[1m"), "a b c");
    }

    #[test]
    fn every_byte_pair_and_triple_is_clean_after() {
        // Exhaustive over short inputs built from the bytes that matter.
        let alphabet: Vec<u8> = [0x1b, 0x07, b'[', b']', b'P', b'_', b'\\', b'0', b';', b'\n']
            .into_iter()
            .chain(0x00..0x20)
            .chain([0x7f, 0xc2, 0x9b, 0x9d, 0xff])
            .collect();
        for &a in &alphabet {
            for &b in &alphabet {
                for &c in &alphabet {
                    let s = clean_bytes(&[b'x', a, b, c, b'y']);
                    assert!(is_clean(&s), "{:?} -> {s:?}", [a, b, c]);
                }
            }
        }
    }

    #[test]
    fn records_are_cleaned_as_they_are_read() {
        #[derive(Deserialize)]
        struct R {
            #[serde(deserialize_with = "de_line")]
            user: String,
            #[serde(default, deserialize_with = "de_opt_text")]
            error: Option<String>,
        }
        let r: R =
            serde_json::from_str(r#"{"user":"ana\u001b]0;x\u0007\nbo","error":"a\n\u009bb"}"#)
                .unwrap();
        assert_eq!(r.user, "ana bo");
        assert_eq!(r.error.as_deref(), Some("a\nb"));
    }
}
