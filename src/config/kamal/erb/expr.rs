//! The Ruby expressions ERB tags in deploy files use for values, evaluated
//! without Ruby: `ENV[...]`, `ENV.fetch(...)` with its defaults, string
//! literals, `nil`, `a || b`, and the conditions of `if`/`unless`
//! (`==`, `!=`, `!`, `.present?`, `.blank?`, `.nil?`, `.empty?`). Anything
//! else is [`Val::Unknown`].

use super::{Vars, Why, dotenv};

/// What an expression evaluates to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Val {
    /// `nil`; the variable it came from, when it did.
    Nil(Option<String>),
    Str(String),
    Unknown(Why),
}

/// Splits `s` at `sep` outside quotes, parentheses and braces.
pub(super) fn split_top(s: &str, sep: char) -> Vec<String> {
    split_op(s, sep.encode_utf8(&mut [0; 4]))
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Splits `s` at the top-level operator `op` (`||`, `==`).
fn split_op<'s>(s: &'s str, op: &str) -> Vec<&'s str> {
    let mut out = Vec::new();
    let (mut depth, mut quote): (i32, Option<char>) = (0, None);
    let (mut start, mut prev, mut skip_to) = (0, ' ', 0);
    for (i, c) in s.char_indices() {
        if i < skip_to {
            continue;
        }
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' | '`' => quote = Some(c),
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ if depth == 0 && s.get(i..).is_some_and(|r| r.starts_with(op)) => {
                    out.push(s.get(start..i).unwrap_or(""));
                    skip_to = i + op.len();
                    start = skip_to;
                    prev = ' ';
                    continue;
                }
                _ => {}
            },
        }
        prev = c;
    }
    out.push(s.get(start..).unwrap_or(""));
    out
}

/// `ENV["X"]` or `ENV['X']`: X.
pub(super) fn env_index(s: &str) -> Option<String> {
    let inside = s.strip_prefix("ENV[")?.strip_suffix(']')?;
    let (name, tail) = string_literal(inside.trim())?;
    tail.trim().is_empty().then_some(name)
}

/// An expression's value: `a || b || ...` of the forms berth reads.
pub(super) fn evaluate(expr: &str, vars: &Vars) -> Val {
    let mut last = Val::Nil(None);
    for alt in split_op(expr, "||") {
        let v = term(alt.trim(), vars);
        match v {
            Val::Nil(_) => last = v,
            other => return other,
        }
    }
    last
}

/// One operand: `ENV["X"]`, `ENV.fetch(...)`, a string literal or `nil`,
/// optionally followed by `.to_s`/`.strip`/`.presence`.
fn term(s: &str, vars: &Vars) -> Val {
    let mut s = s.trim();
    while let Some(inner) = s.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        s = inner.trim();
    }
    let mut presence = false;
    loop {
        if let Some(r) = s.strip_suffix(".to_s").or_else(|| s.strip_suffix(".strip")) {
            s = r.trim_end();
        } else if let Some(r) = s.strip_suffix(".presence") {
            presence = true;
            s = r.trim_end();
        } else {
            break;
        }
    }
    let v = base(s, vars);
    match v {
        Val::Str(x) if presence && x.trim().is_empty() => Val::Nil(None),
        v => v,
    }
}

fn base(s: &str, vars: &Vars) -> Val {
    if s == "nil" {
        return Val::Nil(None);
    }
    if let Some((text, tail)) = string_literal(s)
        && tail.trim().is_empty()
    {
        return Val::Str(text);
    }
    let known = |name: &str, v: Option<dotenv::Value>| match v {
        Some(dotenv::Value::Known(s)) => Val::Str(s),
        Some(dotenv::Value::Unknown(at)) => Val::Unknown(Why::Command {
            var: name.to_string(),
            at,
        }),
        None => Val::Nil(Some(name.to_string())),
    };
    if let Some(name) = env_index(s) {
        return known(&name, vars.get(&name));
    }
    if let Some(rest) = s.strip_prefix("ENV.fetch(") {
        // `ENV.fetch("X"[, default])[ { default }]`
        let Some(close) = matching_paren(rest) else {
            return Val::Unknown(Why::Ruby);
        };
        let args = split_top(&rest[..close], ',');
        let after = rest[close + 1..].trim();
        let Some((name, tail)) = args.first().and_then(|a| string_literal(a.trim())) else {
            return Val::Unknown(Why::Ruby);
        };
        if !tail.trim().is_empty() {
            return Val::Unknown(Why::Ruby);
        }
        let default = match (args.get(1), after) {
            (Some(d), "") => Some(term(d, vars)),
            (None, block) if block.starts_with('{') && block.ends_with('}') => {
                Some(term(&block[1..block.len() - 1], vars))
            }
            (None, "") => None,
            _ => return Val::Unknown(Why::Ruby),
        };
        return match (vars.get(&name), default) {
            (Some(v), _) => known(&name, Some(v)),
            (None, Some(d)) => d,
            (None, None) => Val::Unknown(Why::Fetch(name)),
        };
    }
    Val::Unknown(Why::Ruby)
}

/// Where the `)` closing an opened `(` is in `s` (which follows it).
fn matching_paren(s: &str) -> Option<usize> {
    let (mut depth, mut quote): (i32, Option<char>) = (0, None);
    let mut prev = ' ';
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q && prev != '\\' => quote = None,
            Some(_) => {}
            None => match c {
                '"' | '\'' => quote = Some(c),
                '(' => depth += 1,
                ')' if depth == 0 => return Some(i),
                ')' => depth -= 1,
                _ => {}
            },
        }
        prev = c;
    }
    None
}

/// An `if`/`elsif` condition: `None` when berth cannot tell.
pub(super) fn condition(cond: &str, vars: &Vars) -> Option<bool> {
    let cond = cond.trim().trim_end_matches(" then").trim();
    if let Some(inner) = cond.strip_prefix('!') {
        return condition(inner, vars).map(|t| !t);
    }
    for (op, eq) in [("==", true), ("!=", false)] {
        let sides = split_op(cond, op);
        if let [a, b] = sides.as_slice() {
            let (a, b) = (evaluate(a, vars), evaluate(b, vars));
            return match (a, b) {
                (Val::Unknown(_), _) | (_, Val::Unknown(_)) => None,
                (a, b) => Some((text(&a) == text(&b) && nil(&a) == nil(&b)) == eq),
            };
        }
    }
    for (suffix, blank) in [
        (".present?", false),
        (".blank?", true),
        (".nil?", true),
        (".empty?", true),
    ] {
        if let Some(s) = cond.strip_suffix(suffix) {
            return match evaluate(s, vars) {
                Val::Unknown(_) => None,
                Val::Nil(_) => Some(blank),
                Val::Str(x) => {
                    let empty = if suffix == ".nil?" {
                        false
                    } else {
                        x.trim().is_empty() && (suffix != ".empty?" || x.is_empty())
                    };
                    Some(empty == blank)
                }
            };
        }
    }
    match evaluate(cond, vars) {
        Val::Unknown(_) => None,
        // Ruby: only nil and false are false; "" is true.
        Val::Nil(_) => Some(false),
        Val::Str(_) if cond == "false" => Some(false),
        Val::Str(_) => Some(true),
    }
}

fn text(v: &Val) -> &str {
    match v {
        Val::Str(s) => s,
        _ => "",
    }
}

fn nil(v: &Val) -> bool {
    matches!(v, Val::Nil(_))
}

/// A Ruby string literal at the start of `s` ("…" or '…', without
/// interpolation): its text and what follows it.
pub(super) fn string_literal(s: &str) -> Option<(String, &str)> {
    let quote = s.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let body = &s[1..];
    let end = body.find(quote)?;
    let text = &body[..end];
    if text.contains('\\') || (quote == '"' && text.contains("#{")) {
        return None;
    }
    Some((text.to_string(), &body[end + 1..]))
}
