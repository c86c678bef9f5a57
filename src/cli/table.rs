//! Plain aligned columns for terminal output (no colour: symbols carry the
//! meaning, so it reads the same in a log file or a monochrome terminal).

use unicode_width::UnicodeWidthStr;

fn width(s: &str) -> usize {
    s.width()
}

/// Left-aligned columns separated by two spaces; the last column is not
/// padded, and a column empty in every row is left out. Every row is
/// indented by `indent`.
pub fn render(rows: &[Vec<String>], indent: usize) -> String {
    render_groups(&[rows.to_vec()], indent).concat()
}

/// Like [`render`] for several groups of rows printed apart (e.g. one per
/// role) that should still line up with each other.
pub fn render_groups(groups: &[Vec<Vec<String>>], indent: usize) -> Vec<String> {
    let all = || groups.iter().flatten();
    let cols = all().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; cols];
    for row in all() {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let col_width = |i: usize| widths.get(i).copied().unwrap_or(0);
    let shown: Vec<usize> = (0..cols).filter(|&i| col_width(i) > 0).collect();
    groups
        .iter()
        .map(|rows| {
            let mut out = String::new();
            for row in rows {
                let mut line = " ".repeat(indent);
                for (n, &i) in shown.iter().enumerate() {
                    let cell = row.get(i).map(String::as_str).unwrap_or("");
                    line.push_str(cell);
                    if n + 1 < shown.len() {
                        line.push_str(&" ".repeat(col_width(i).saturating_sub(width(cell)) + 2));
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
            out
        })
        .collect()
}

pub use crate::domain::format::age;

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
    fn drops_empty_columns_and_aligns_groups() {
        let row = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let groups = vec![vec![row(&["a", "", "x"])], vec![row(&["long", "", "y"])]];
        assert_eq!(render_groups(&groups, 0), vec!["a     x\n", "long  y\n"]);
    }

    #[test]
    fn ages() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(300), "5m");
        assert_eq!(age(7980), "2h13m");
        assert_eq!(age(3 * 86400 + 4 * 3600), "3d4h");
    }
}
