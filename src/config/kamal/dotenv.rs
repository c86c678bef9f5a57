//! dotenv files (`.env`, `.kamal/secrets`), read for the variables a deploy
//! file's ERB takes from them, the way the dotenv gem reads them: `KEY=value`
//! lines (`export` allowed), `#` comments, single quotes literal, double
//! quotes and bare values expanding `$VAR` and `${VAR}`. A `$(command)` is
//! never run: its variable's value is unknown, and said so.

/// A variable's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Known(String),
    /// Set from a command berth does not run, at this place
    /// (`.kamal/secrets:3`).
    Unknown(String),
}

/// The variables `text` (the file `label`) sets, in order; `$VAR` reads
/// the ones set before it in the file, then `lookup`.
pub fn parse(
    text: &str,
    label: &str,
    lookup: &dyn Fn(&str) -> Option<Value>,
) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let Some((name, raw)) = line.split_once('=').or_else(|| line.split_once(": ")) else {
            continue;
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            continue;
        }
        let raw = raw.trim();
        let at = format!("{label}:{}", n + 1);
        let value = match raw.chars().next() {
            Some('\'') => match raw[1..].find('\'') {
                Some(end) => Value::Known(raw[1..1 + end].to_string()),
                None => Value::Known(raw[1..].to_string()),
            },
            Some('"') => {
                // A double-quoted value may run over several lines.
                let mut body = raw[1..].to_string();
                while closing_quote(&body).is_none() {
                    match lines.next() {
                        Some((_, more)) => {
                            body.push('\n');
                            body.push_str(more);
                        }
                        None => break,
                    }
                }
                let body = match closing_quote(&body) {
                    Some(end) => body[..end].to_string(),
                    None => body,
                };
                let unescaped = body
                    .replace("\\n", "\n")
                    .replace("\\\"", "\"")
                    .replace("\\\\", "\\");
                expand(&unescaped, &at, &out, lookup)
            }
            _ => {
                let bare = match raw.find(" #") {
                    Some(i) => raw[..i].trim_end(),
                    None => raw,
                };
                expand(bare, &at, &out, lookup)
            }
        };
        out.push((name.to_string(), value));
    }
    out
}

/// Where the unescaped `"` closing a double-quoted value is.
fn closing_quote(body: &str) -> Option<usize> {
    let mut prev = ' ';
    for (i, c) in body.char_indices() {
        if c == '"' && prev != '\\' {
            return Some(i);
        }
        prev = c;
    }
    None
}

/// `$VAR`, `${VAR}` expanded; a `$(...)` makes the value unknown.
fn expand(
    s: &str,
    at: &str,
    earlier: &[(String, Value)],
    lookup: &dyn Fn(&str) -> Option<Value>,
) -> Value {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            if let Some((_, next)) = chars.next() {
                out.push(next);
            }
            continue;
        }
        if c != '$' {
            out.push(c);
            continue;
        }
        let rest = &s[i + 1..];
        if rest.starts_with('(') {
            return Value::Unknown(at.to_string());
        }
        let (name, skip) = if let Some(braced) = rest.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => {
                    // `${VAR:-default}` keeps only the name.
                    let inner = &braced[..end];
                    let name = inner.split(":-").next().unwrap_or(inner);
                    (name.to_string(), end + 2)
                }
                None => {
                    out.push(c);
                    continue;
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let len = name.len();
            (name, len)
        };
        if name.is_empty() {
            out.push(c);
            continue;
        }
        for _ in 0..skip {
            chars.next();
        }
        let value = earlier
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| lookup(&name));
        match value {
            Some(Value::Known(v)) => out.push_str(&v),
            Some(Value::Unknown(w)) => return Value::Unknown(w),
            None => {}
        }
    }
    Value::Known(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_as_dotenv_does_and_never_runs_a_command() {
        let text = "# secrets\nexport A=1\nB='$A literal'\nC=\"x $A ${A}\"\nD=$(op read x)\nE=$D\nF=plain # note\nG=\"two\nlines\"\nH=$HOME_DIR/x\n";
        let lookup = |n: &str| (n == "HOME_DIR").then(|| Value::Known("/h".into()));
        let got = parse(text, ".kamal/secrets", &lookup);
        let get = |n: &str| got.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let known = |s: &str| Some(Value::Known(s.into()));
        assert_eq!(get("A"), known("1"));
        assert_eq!(get("B"), known("$A literal"));
        assert_eq!(get("C"), known("x 1 1"));
        assert_eq!(get("D"), Some(Value::Unknown(".kamal/secrets:5".into())));
        assert_eq!(get("E"), Some(Value::Unknown(".kamal/secrets:5".into())));
        assert_eq!(get("F"), known("plain"));
        assert_eq!(get("G"), known("two\nlines"));
        assert_eq!(get("H"), known("/h/x"));
    }
}
