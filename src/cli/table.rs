//! Plain aligned columns for terminal output (no colour: symbols carry the
//! meaning, so it reads the same in a log file or a monochrome terminal).

use unicode_width::UnicodeWidthStr;

fn width(s: &str) -> usize {
    s.width()
}

/// Left-aligned columns separated by two spaces; the last column is not
/// padded. Every row is indented by `indent`.
pub fn render(rows: &[Vec<String>], indent: usize) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(width(cell));
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = " ".repeat(indent);
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - width(cell) + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `42s`, `5m`, `2h13m`, `3d4h`.
pub fn age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let rows = vec![
            vec!["a".to_string(), "bb".to_string(), "c".to_string()],
            vec!["✓ long".to_string(), "x".to_string(), "y".to_string()],
        ];
        assert_eq!(render(&rows, 2), "  a       bb  c\n  ✓ long  x   y\n");
    }

    #[test]
    fn ages() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(300), "5m");
        assert_eq!(age(7980), "2h13m");
        assert_eq!(age(3 * 86400 + 4 * 3600), "3d4h");
    }
}
