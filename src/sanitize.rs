//! Text from containers, hooks and hosts is untrusted: before it reaches a
//! terminal, escape sequences (CSI, OSC, DCS, ...) and control characters
//! are removed so it cannot move the cursor, retitle the window, or hide
//! lines. Newlines and tabs are kept.

/// Removes terminal control sequences and control characters from `text`.
pub fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC, DCS, SOS, PM, APC: until BEL or ST (ESC \).
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Two- and three-byte escapes (ESC ( B, ESC =, ...).
                Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
                    chars.next();
                }
                _ => {}
            },
            '\u{9b}' => {
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' if chars.peek() == Some(&'\\') => {
                chars.next();
                return;
            }
            _ => {}
        }
    }
}

/// Decodes bytes that may not be UTF-8 (invalid sequences become U+FFFD),
/// then strips control sequences.
pub fn clean_bytes(bytes: &[u8]) -> String {
    strip_controls(&String::from_utf8_lossy(bytes))
}

/// For one-line fields (names, labels): controls and newlines removed.
pub fn one_line(text: &str) -> String {
    strip_controls(text).replace(['\n', '\t'], " ")
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
        assert_eq!(strip_controls("c1\u{9b}31mcsi"), "c1csi");
        assert_eq!(
            strip_controls("keep\ttabs\nand lines ✓"),
            "keep\ttabs\nand lines ✓"
        );
        assert_eq!(strip_controls("\x1b(Bcharset"), "charset");
        assert_eq!(strip_controls("unterminated \x1b]0;title"), "unterminated ");
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
}
