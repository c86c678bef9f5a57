//! Secret values: read from a dotenv-style file, never printed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// A secret value. Its `Debug` and `Display` are masked so it cannot leak
/// into logs, errors or `config check`; only [`Secret::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

pub const MASK: &str = "********";

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for handing to a container's environment. Never display it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

/// Parses `NAME=value` lines; `#` comments and blank lines are skipped, an
/// optional `export ` prefix is accepted, and matching outer quotes are
/// removed. Errors name the line but never echo a value.
pub fn parse(path: &Path, text: &str) -> Result<BTreeMap<String, Secret>, String> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!("{}:{}: expected NAME=value", path.display(), i + 1));
        };
        let name = name.trim();
        if !is_env_name(name) {
            return Err(format!(
                "{}:{}: `{name}` is not a valid variable name (letters, digits and `_`, not starting with a digit)",
                path.display(),
                i + 1
            ));
        }
        let value = value.trim();
        let value = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        out.insert(name.to_string(), Secret::new(value));
    }
    Ok(out)
}

pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dotenv_and_masks() {
        let s = parse(
            Path::new("s.env"),
            "# c\nDB_URL=postgres://u:p@h/db\nexport TOKEN=\"abc def\"\n\nEMPTY=\n",
        )
        .unwrap();
        assert_eq!(s["DB_URL"].expose(), "postgres://u:p@h/db");
        assert_eq!(s["TOKEN"].expose(), "abc def");
        assert_eq!(s["EMPTY"].expose(), "");
        assert_eq!(format!("{:?}", s["DB_URL"]), MASK);
        assert_eq!(s["TOKEN"].to_string(), MASK);
    }

    #[test]
    fn errors_name_the_line_not_the_value() {
        let e = parse(Path::new("s.env"), "A=1\nhunter2\n").unwrap_err();
        assert_eq!(e, "s.env:2: expected NAME=value");
        let e = parse(Path::new("s.env"), "1X=secretvalue\n").unwrap_err();
        assert!(!e.contains("secretvalue"), "{e}");
    }
}
