//! ERB, read the way it matters to berth, without running Ruby.
//!
//! Kamal renders each deploy file with ERB before it parses the YAML. berth
//! runs no Ruby, so it evaluates the idioms real files use for values
//! (`ENV["X"]`, `ENV.fetch("X", "d")`, `ENV.fetch("X") { "d" }`,
//! `ENV["X"] || "d"`, string literals, `if ENV[...]` blocks, and
//! `Dotenv.load(...)` of a dotenv file) and leaves every other piece of Ruby
//! in the text as a marker. A marker is harmless where berth does not need
//! the value (a registry password from `%x(aws ecr ...)`, builder args from
//! `File.read`); where berth needs it (a host, the service), the reader
//! refuses the file naming the key and every expression in the way.
//! ERB inside a YAML comment is inert, as its output would be.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use super::dotenv;
use crate::config::error::ConfigError;

mod expr;
use crate::config::locate::Pos;
use expr::{Val, condition, env_index, evaluate, split_top, string_literal};

/// Why a value is not known to berth.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Ruby berth does not run.
    Ruby,
    /// `ENV["X"]` with X not set: Ruby renders it as nothing.
    Unset(String),
    /// `ENV.fetch("X")` with X not set and no default: Kamal stops there.
    Fetch(String),
    /// A variable a dotenv file sets from a `$(command)`, which berth does
    /// not run (at that file and line).
    Command { var: String, at: String },
    /// The tag sits in an `if`/`each` berth could not decide.
    Block,
}

/// One piece of ERB whose value berth does not know, left in the rendered
/// text as its marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ruby {
    pub marker: String,
    /// The tag's code, on one line.
    pub code: String,
    pub file: PathBuf,
    /// Where the tag is written.
    pub pos: Pos,
    pub why: Why,
}

impl Ruby {
    /// `config/deploy.yml:5:7`.
    pub fn place(&self) -> String {
        format!(
            "{}:{}:{}",
            self.file.display(),
            self.pos.line,
            self.pos.column
        )
    }

    /// What berth shows for a value it does not need: what Ruby would
    /// render for an unset variable (nothing), else where it is set.
    pub fn shown(&self) -> String {
        match &self.why {
            Why::Unset(_) => String::new(),
            _ => format!("(set by Ruby at {})", self.place()),
        }
    }

    /// Why berth cannot use the value, for a refusal.
    pub fn reason(&self) -> String {
        let code = match self.why {
            Why::Block => format!("`<% {} %>` at {}", self.code, self.place()),
            _ => format!("`<%= {} %>` at {}", self.code, self.place()),
        };
        match &self.why {
            Why::Ruby => format!("{code} is Ruby, which berth does not run"),
            Why::Block => {
                format!("it sits inside {code}, a Ruby condition or loop berth does not run")
            }
            Why::Unset(v) => format!("{code} reads {v}, which is not set in the environment"),
            Why::Fetch(v) => format!(
                "{code} needs {v}, which is not set in the environment (Kamal stops there too)"
            ),
            Why::Command { var, at } => {
                format!("{code} reads {var}, which {at} sets from a command berth does not run")
            }
        }
    }
}

/// Lines of the rendered text that sit inside a Ruby block berth could
/// not decide (an `if` on a local variable, a loop): their values are not
/// known either.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub lines: RangeInclusive<usize>,
    pub ruby: Ruby,
}

/// A file after ERB.
#[derive(Debug, Default)]
pub struct Rendered {
    pub text: String,
    pub ruby: Vec<Ruby>,
    pub blocks: Vec<Block>,
}

/// The variables ERB sees: the process environment, under what a
/// `Dotenv.load` or `ENV["X"] = ...` in a rendered file set. One per load,
/// shared by its files in Kamal's order (the base file, then the
/// destination's), as one Ruby process would.
pub struct Vars<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    set: HashMap<String, dotenv::Value>,
    /// Where Kamal runs (the app's repository): dotenv paths are relative
    /// to it.
    root: PathBuf,
    /// Markers handed out so far (they are unique over a load's files).
    count: usize,
}

impl<'a> Vars<'a> {
    pub fn new(env: &'a dyn Fn(&str) -> Option<String>, root: &Path) -> Self {
        Vars {
            env,
            set: HashMap::new(),
            root: root.to_path_buf(),
            count: 0,
        }
    }

    fn get(&self, name: &str) -> Option<dotenv::Value> {
        self.set
            .get(name)
            .cloned()
            .or_else(|| (self.env)(name).map(dotenv::Value::Known))
    }

    fn marker(&mut self) -> String {
        self.count += 1;
        format!("⟦erb{}⟧", self.count)
    }

    /// `Dotenv.load(files)` (or `overload`): each file's variables, the
    /// ones already set kept unless `overload`. A missing file is skipped,
    /// as dotenv does.
    fn load_dotenv(&mut self, files: &[String], overload: bool) {
        let files: Vec<String> = if files.is_empty() {
            vec![".env".into()]
        } else {
            files.to_vec()
        };
        for f in files {
            let path = self.root.join(&f);
            let Ok(text) = crate::config::read_bounded(&path) else {
                continue;
            };
            let env = self.env;
            let set = &self.set;
            let lookup = |n: &str| {
                set.get(n)
                    .cloned()
                    .or_else(|| env(n).map(dotenv::Value::Known))
            };
            for (name, value) in dotenv::parse(&text, &f, &lookup) {
                if overload || self.get(&name).is_none() {
                    self.set.insert(name, value);
                }
            }
        }
    }
}

/// Renders `text` (the file `file`) as ERB: see the module's opening
/// comment. Only a tag left open is an error.
pub fn render(file: &Path, text: &str, vars: &mut Vars) -> Result<Rendered, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut r = Renderer {
        file,
        out: Rendered {
            text: String::with_capacity(text.len()),
            ..Default::default()
        },
        frames: Vec::new(),
    };
    let mut rest = text;
    let mut offset = 0;
    while let Some(i) = rest.find("<%") {
        let (before, tag) = rest.split_at(i);
        let start = offset + i;
        let pos = pos_of(text, start);
        // `<%%` is a literal `<%`.
        if let Some(after) = tag.strip_prefix("<%%") {
            r.emit(before);
            r.emit("<%");
            offset += i + 3;
            rest = after;
            continue;
        }
        let Some(end) = tag.find("%>") else {
            return Err(ConfigError::at(
                file,
                Some(pos),
                "an ERB tag `<%` is not closed with `%>`",
            ));
        };
        let inner = &tag[2..end];
        let mut consumed = end + 2;
        // `<%-` drops the indentation before the tag; `-%>` the newline after.
        let (inner, before) = match inner.strip_prefix('-') {
            Some(i) => (i, before.trim_end_matches([' ', '\t'])),
            None => (inner, before),
        };
        let (inner, trim_after) = match inner.strip_suffix('-') {
            Some(i) => (i, true),
            None => (inner, false),
        };
        r.emit(before);
        // A tag with no output keeps its line breaks, so that every line
        // after it has the number it has in the file (for messages).
        let breaks = "\n".repeat(inner.matches('\n').count());
        if r.in_yaml_comment() || inner.starts_with('#') {
            // In a YAML comment its output is inert; `<%#` is ERB's comment.
            r.emit(&breaks);
        } else if let Some(expr) = inner.strip_prefix('=') {
            let expr = expr.trim();
            let value = evaluate(expr, vars);
            let text = match value {
                Val::Str(s) => s,
                Val::Nil(None) => String::new(),
                Val::Nil(Some(var)) => r.ruby(vars, expr, pos, Why::Unset(var)),
                Val::Unknown(why) => r.ruby(vars, expr, pos, why),
            };
            r.emit(&text);
        } else {
            r.code(inner, pos, vars);
            r.emit(&breaks);
        }
        if trim_after && tag[consumed..].starts_with('\n') {
            consumed += 1;
        }
        offset += i + consumed;
        rest = &tag[consumed..];
    }
    r.emit(rest);
    // A block left open runs to the end of the file.
    while !r.frames.is_empty() {
        r.close();
    }
    Ok(r.out)
}

/// An open `if`/`unless`/loop.
struct Frame {
    /// Whether this frame's current branch is written out.
    emitting: bool,
    /// Whether a branch was taken (an `else` is then skipped).
    taken: bool,
    /// For a block berth could not decide: its first line and the Ruby.
    undecided: Option<(usize, Ruby)>,
    /// `begin` ... `end` inside one tag: nothing to decide.
    plain: bool,
}

struct Renderer<'f> {
    file: &'f Path,
    out: Rendered,
    frames: Vec<Frame>,
}

impl Renderer<'_> {
    fn emitting(&self) -> bool {
        self.frames.iter().all(|f| f.emitting)
    }

    fn emit(&mut self, s: &str) {
        if self.emitting() {
            self.out.text.push_str(s);
        }
    }

    fn line(&self) -> usize {
        self.out.text.matches('\n').count() + 1
    }

    /// A marker for `code`, recorded with why its value is not known.
    fn ruby(&mut self, vars: &mut Vars, code: &str, pos: Pos, why: Why) -> String {
        let marker = vars.marker();
        self.out.ruby.push(Ruby {
            marker: marker.clone(),
            code: crate::sanitize::one_line(code),
            file: self.file.to_path_buf(),
            pos,
            why,
        });
        marker
    }

    /// Whether the text written so far on this line has opened a YAML
    /// comment: a `#` at its start or after a space, outside quotes.
    fn in_yaml_comment(&self) -> bool {
        let line = self.out.text.rsplit('\n').next().unwrap_or("");
        let (mut single, mut double, mut prev) = (false, false, ' ');
        for c in line.chars() {
            match c {
                '\'' if !double => single = !single,
                '"' if !single && prev != '\\' => double = !double,
                '#' if !single && !double && prev.is_whitespace() => return true,
                _ => {}
            }
            prev = c;
        }
        false
    }

    /// A `<% code %>` tag: statements that set variables, open or close a
    /// block, or do something berth does not need (a `require`).
    fn code(&mut self, inner: &str, pos: Pos, vars: &mut Vars) {
        let mut begins = 0;
        for stmt in statements(inner) {
            let stmt = stmt.trim();
            let word = stmt.split_whitespace().next().unwrap_or("");
            match word {
                "" => {}
                w if w.starts_with('#') => {}
                "require" | "require_relative" => {}
                "begin" => begins += 1,
                "rescue" | "ensure" if begins > 0 => {}
                "end" if begins > 0 => begins -= 1,
                "if" | "unless" => {
                    let cond = stmt[word.len()..].trim();
                    let truth = condition(cond, vars).map(|t| t == (word == "if"));
                    self.open(truth, stmt, pos, vars);
                }
                "elsif" => {
                    let cond = stmt[word.len()..].trim();
                    let truth = condition(cond, vars);
                    self.branch(truth);
                }
                "else" => self.branch(Some(true)),
                "end" => self.close(),
                "case" | "while" | "until" | "for" => self.open(None, stmt, pos, vars),
                _ if stmt.ends_with(" do") || stmt.contains(" do |") || stmt.contains("{ |") => {
                    self.open(None, stmt, pos, vars)
                }
                _ => self.statement(stmt, vars),
            }
        }
    }

    /// A statement that is not control flow: `Dotenv.load`, `ENV[...] =`,
    /// or anything else (which only Ruby could tell the effect of, and is
    /// left alone: a value using what it set is Ruby too).
    fn statement(&mut self, stmt: &str, vars: &mut Vars) {
        if !self.emitting() {
            return;
        }
        for (call, overload) in [("Dotenv.load", false), ("Dotenv.overload", true)] {
            if let Some(args) = stmt.strip_prefix(call) {
                let args = args.trim().trim_start_matches('(').trim_end_matches(')');
                let files: Vec<String> = split_top(args, ',')
                    .iter()
                    .filter_map(|a| string_literal(a.trim()).map(|(s, _)| s))
                    .collect();
                vars.load_dotenv(&files, overload);
                return;
            }
        }
        for op in ["||=", "="] {
            if let Some((lhs, rhs)) = stmt.split_once(op)
                && let Some(name) = env_index(lhs.trim())
            {
                if op == "||=" && vars.get(&name).is_some() {
                    return;
                }
                let value = match evaluate(rhs.trim(), vars) {
                    Val::Str(s) => dotenv::Value::Known(s),
                    _ => dotenv::Value::Unknown(format!("a Ruby assignment `{}`", stmt.trim())),
                };
                vars.set.insert(name, value);
                return;
            }
        }
    }

    fn open(&mut self, truth: Option<bool>, stmt: &str, pos: Pos, vars: &mut Vars) {
        let undecided = match truth {
            Some(_) => None,
            None => {
                let marker = vars.marker();
                Some((
                    self.line(),
                    Ruby {
                        marker,
                        code: crate::sanitize::one_line(stmt),
                        file: self.file.to_path_buf(),
                        pos,
                        why: Why::Block,
                    },
                ))
            }
        };
        self.frames.push(Frame {
            // An undecided block shows its first branch, and marks it.
            emitting: truth.unwrap_or(true),
            taken: truth.unwrap_or(true),
            undecided,
            plain: false,
        });
    }

    fn branch(&mut self, truth: Option<bool>) {
        let Some(f) = self.frames.last_mut() else {
            return;
        };
        if f.plain {
            return;
        }
        if f.taken || f.undecided.is_some() {
            f.emitting = false;
        } else {
            // An `elsif` berth cannot decide after branches it could: the
            // rest of the block is undecided, shown as its first branch.
            f.emitting = truth.unwrap_or(true);
            f.taken = f.emitting;
        }
    }

    fn close(&mut self) {
        let Some(f) = self.frames.pop() else {
            return;
        };
        if let Some((first, ruby)) = f.undecided {
            self.out.blocks.push(Block {
                lines: first..=self.line(),
                ruby,
            });
        }
    }
}

/// The statements of a tag's code: split at `;` and line breaks outside
/// strings and brackets (a hash literal over several lines is one).
fn statements(code: &str) -> Vec<String> {
    split_top(&code.replace('\n', ";"), ';')
}

/// The 1-based line and column of byte `offset` in `text`.
fn pos_of(text: &str, offset: usize) -> Pos {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    Pos { line, column }
}

/// Renders `text` as ERB with `env` alone, for tests and the fuzzer: the
/// rendered text, with markers where berth does not know a value.
pub fn render_erb(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Rendered, ConfigError> {
    let mut vars = Vars::new(env, Path::new("."));
    render(file, text, &mut vars)
}
