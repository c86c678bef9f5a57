//! Console themes: YAML files (`themes/*.yaml`, built into the binary, or
//! the operator's own), turned into the few styles the views use.
//!
//! Colours are adapted to the terminal once, at load: hex colours go to the
//! nearest 256- or 16-colour entry when the terminal lacks truecolor, and
//! `NO_COLOR` drops colour altogether (state still reads from symbols, the
//! selection from reverse video).

use std::path::{Path, PathBuf};

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The themes shipped in `themes/`, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("default", include_str!("../../themes/default.yaml")),
    ("light", include_str!("../../themes/light.yaml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.yaml"),
    ),
    ("monochrome", include_str!("../../themes/monochrome.yaml")),
];

#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("{file}:{line}:{column}: {key}: {message}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
    #[error(
        "no theme named `{name}` (built in: {}; or give a path to a .yaml file){hint}",
        BUILT_IN.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
    )]
    Unknown { name: String, hint: String },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    #[serde(default)]
    transparent: Option<bool>,
    #[serde(default)]
    colors: Colors,
}

/// Every colour a view uses. Keys left out of a file take the default's.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Colors {
    background: Option<ColorSpec>,
    text: Option<ColorSpec>,
    dim: Option<ColorSpec>,
    title: Option<ColorSpec>,
    header: Option<ColorSpec>,
    border: Option<ColorSpec>,
    selected_fg: Option<ColorSpec>,
    selected_bg: Option<ColorSpec>,
    ok: Option<ColorSpec>,
    warn: Option<ColorSpec>,
    error: Option<ColorSpec>,
    info: Option<ColorSpec>,
    accent: Option<ColorSpec>,
}

#[derive(Clone, Copy, Debug)]
struct ColorSpec(Color);

impl<'de> Deserialize<'de> for ColorSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Color>().map(ColorSpec).map_err(|_| {
            serde::de::Error::custom(format!(
                "`{s}` is not a colour (use a name like `green` or `lightblue`, `#1e90ff`, or 0-255)"
            ))
        })
    }
}

/// What the terminal can show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    TrueColor,
    Ansi256,
    Ansi16,
    /// `NO_COLOR`: no colour at all.
    None,
}

impl Palette {
    /// From the environment, as terminals and NO_COLOR (no-color.org) say.
    pub fn detect() -> Palette {
        let var = |k: &str| std::env::var(k).unwrap_or_default();
        if !var("NO_COLOR").is_empty() {
            Palette::None
        } else if matches!(var("COLORTERM").as_str(), "truecolor" | "24bit") {
            Palette::TrueColor
        } else if var("TERM").contains("256color") {
            Palette::Ansi256
        } else {
            Palette::Ansi16
        }
    }
}

/// The styles the views draw with.
#[derive(Clone, Debug, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: Style,
    pub dim: Style,
    pub title: Style,
    pub header: Style,
    pub border: Style,
    pub selected: Style,
    pub ok: Style,
    pub warn: Style,
    pub error: Style,
    pub info: Style,
    pub accent: Style,
}

impl Theme {
    /// A built-in theme by name (always valid: checked by a unit test).
    pub fn built_in(name: &str, palette: Palette) -> Theme {
        let text = BUILT_IN
            .iter()
            .find(|(n, _)| *n == name)
            .or(BUILT_IN.first())
            .map_or("{}", |(_, t)| *t);
        parse(&format!("themes/{name}.yaml"), text, palette).unwrap_or_else(|_| Theme::plain())
    }

    /// The terminal's own colours: what is left if a theme cannot be read.
    pub fn plain() -> Theme {
        let s = Style::default();
        Theme {
            name: "plain".into(),
            base: s,
            dim: s,
            title: s,
            header: s,
            border: s,
            selected: s.add_modifier(ratatui::style::Modifier::REVERSED),
            ok: s,
            warn: s,
            error: s,
            info: s,
            accent: s,
        }
    }

    /// `--theme` / `theme:` / `:theme`: a path to a file, or a name looked
    /// up in `~/.config/berth/themes/` and then among the built-in ones.
    pub fn load(spec: &str, palette: Palette) -> Result<Theme, ThemeError> {
        let path = Path::new(spec);
        let is_path = spec.contains('/') || spec.ends_with(".yaml") || spec.ends_with(".yml");
        if is_path {
            return from_file(path, palette);
        }
        if let Some(dir) = user_dir() {
            let candidate = dir.join(format!("{spec}.yaml"));
            if candidate.is_file() {
                return from_file(&candidate, palette);
            }
        }
        match BUILT_IN.iter().find(|(n, _)| *n == spec) {
            Some((name, text)) => parse(&format!("themes/{name}.yaml"), text, palette),
            None => {
                let best = BUILT_IN
                    .iter()
                    .map(|(n, _)| (strsim::jaro_winkler(n, spec), *n))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .filter(|(score, _)| *score > 0.7)
                    .map(|(_, n)| format!("; did you mean `{n}`?"))
                    .unwrap_or_default();
                Err(ThemeError::Unknown {
                    name: spec.to_string(),
                    hint: best,
                })
            }
        }
    }
}

fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("berth").join("themes"))
}

fn from_file(path: &Path, palette: Palette) -> Result<Theme, ThemeError> {
    let text = crate::config::read_bounded(path).map_err(|e| ThemeError::Unreadable {
        file: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse(&path.display().to_string(), &text, palette)
}

/// Parses a theme file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str, palette: Palette) -> Result<Theme, ThemeError> {
    let de = serde_yaml::Deserializer::from_str(text);
    let parsed: ThemeFile = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        // serde_yaml places value errors at the enclosing mapping; the key's
        // own line is what a person wants to jump to.
        let unknown_key = inner.to_string().contains("unknown field");
        let (line, column) = locate_key(text, &key, unknown_key)
            .or_else(|| inner.location().map(|l| (l.line(), l.column())))
            .unwrap_or((1, 1));
        // serde_yaml adds its own path and position; ours are in front.
        let message = inner.to_string();
        let message = message.split(" at line ").next().unwrap_or(&message);
        let parent = key.rsplit_once('.').map_or("", |(p, _)| p);
        let message = message
            .strip_prefix(&format!("{parent}: "))
            .unwrap_or(message)
            .to_string();
        ThemeError::Invalid {
            file: file.to_string(),
            line,
            column,
            key: if key == "." {
                "(top level)".into()
            } else {
                key
            },
            message,
        }
    })?;
    Ok(build(parsed, palette))
}

/// The line and column of the value of `path` (`colors.ok`) in a block
/// mapping (of the key itself with `at_key`), by indentation. `None` when
/// the path is not spelled out there.
fn locate_key(text: &str, path: &str, at_key: bool) -> Option<(usize, usize)> {
    let mut parent_indent: Option<usize> = None;
    let mut segments = path.split('.').peekable();
    let mut want = segments.next()?;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start();
        let indent = line.len() - body.len();
        if body.starts_with('#') || body.is_empty() {
            continue;
        }
        if parent_indent.is_some_and(|p| indent <= p) {
            return None;
        }
        if let Some(rest) = body.strip_prefix(want).and_then(|r| r.strip_prefix(':')) {
            if segments.peek().is_none() {
                if at_key {
                    return Some((n + 1, indent + 1));
                }
                let value_at = indent + want.len() + 1 + (rest.len() - rest.trim_start().len());
                return Some((n + 1, value_at + 1));
            }
            parent_indent = Some(indent);
            want = segments.next()?;
        }
    }
    None
}

fn build(file: ThemeFile, palette: Palette) -> Theme {
    let c = &file.colors;
    // The default theme's values for keys a file leaves out.
    let d = |spec: Option<ColorSpec>, fallback: Color| spec.map_or(fallback, |s| s.0);
    let adapt = |color: Color| adapt(color, palette);
    let transparent = file.transparent.unwrap_or(false) || palette == Palette::None;
    let bg = if transparent {
        Color::Reset
    } else {
        adapt(d(c.background, Color::Black))
    };
    let fg = |spec: Option<ColorSpec>, fallback: Color| Style::new().fg(adapt(d(spec, fallback)));
    let selected_bg = adapt(d(c.selected_bg, Color::Cyan));
    let selected = if selected_bg == Color::Reset {
        // No colour to mark the selection with: reverse video always works.
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    } else {
        Style::new()
            .bg(selected_bg)
            .fg(adapt(d(c.selected_fg, Color::Black)))
            .add_modifier(Modifier::BOLD)
    };
    Theme {
        name: file.name.unwrap_or_else(|| "custom".into()),
        base: fg(c.text, Color::Gray).bg(bg),
        dim: fg(c.dim, Color::DarkGray),
        title: fg(c.title, Color::LightCyan).add_modifier(Modifier::BOLD),
        header: fg(c.header, Color::Cyan).add_modifier(Modifier::BOLD),
        border: fg(c.border, Color::DarkGray),
        selected,
        ok: fg(c.ok, Color::Green),
        warn: fg(c.warn, Color::Yellow).add_modifier(Modifier::BOLD),
        error: fg(c.error, Color::LightRed).add_modifier(Modifier::BOLD),
        info: fg(c.info, Color::LightBlue),
        accent: fg(c.accent, Color::LightMagenta),
    }
}

/// A colour the terminal can show.
pub fn adapt(color: Color, palette: Palette) -> Color {
    match (palette, color) {
        (Palette::None, _) => Color::Reset,
        (Palette::TrueColor, c) => c,
        (Palette::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(to_256(r, g, b)),
        (Palette::Ansi16, Color::Rgb(r, g, b)) => to_16(r, g, b),
        (Palette::Ansi16, Color::Indexed(i)) if i >= 16 => {
            let (r, g, b) = from_256(i);
            to_16(r, g, b)
        }
        (_, c) => c,
    }
}

/// The xterm 6x6x6 cube or grey ramp entry nearest to an RGB colour.
fn to_256(r: u8, g: u8, b: u8) -> u8 {
    let level = |v: u8| -> u8 {
        match v {
            0..48 => 0,
            48..115 => 1,
            _ => (v - 35) / 40,
        }
    };
    let (cr, cg, cb) = (level(r), level(g), level(b));
    let cube = 16 + 36 * cr + 6 * cg + cb;
    let avg = (r as u16 + g as u16 + b as u16) / 3;
    let grey = if avg > 238 {
        255
    } else {
        232 + (avg.saturating_sub(3) / 10) as u8
    };
    let dist = |i: u8| {
        let (x, y, z) = from_256(i);
        sq(x, r) + sq(y, g) + sq(z, b)
    };
    if dist(grey) < dist(cube) { grey } else { cube }
}

fn from_256(i: u8) -> (u8, u8, u8) {
    const STEPS: [u8; 6] = [0, 95, 135, 175, 215, 255];
    match i {
        0..16 => ANSI16.get(usize::from(i)).map_or((0, 0, 0), |c| c.1),
        16..232 => {
            let i = usize::from(i - 16);
            let step = |n: usize| STEPS.get(n).copied().unwrap_or(255);
            (step(i / 36), step(i / 6 % 6), step(i % 6))
        }
        _ => {
            let v = 8 + 10 * (i - 232);
            (v, v, v)
        }
    }
}

fn sq(a: u8, b: u8) -> u32 {
    let d = a as i32 - b as i32;
    (d * d) as u32
}

/// The 16 ANSI colours with xterm's default values.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

fn to_16(r: u8, g: u8, b: u8) -> Color {
    ANSI16
        .iter()
        .min_by_key(|(_, (x, y, z))| sq(*x, r) + sq(*y, g) + sq(*z, b))
        .map(|(c, _)| *c)
        .unwrap_or(Color::Reset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_theme_parses_and_names_itself() {
        for (name, text) in BUILT_IN {
            let t = parse(name, text, Palette::TrueColor).unwrap();
            assert_eq!(&t.name, name);
        }
    }

    #[test]
    fn bad_colour_names_file_line_column_and_key() {
        let text = "name: mine\ncolors:\n  text: white\n  ok: gren\n";
        let e = parse("my.yaml", text, Palette::TrueColor)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("my.yaml:4:7: colors.ok: `gren` is not a colour"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let text = "name: mine\ncolors:\n  txt: white\n";
        let e = parse("my.yaml", text, Palette::TrueColor)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("my.yaml:3:3: colors"), "{e}");
        assert!(e.contains("unknown field `txt`"), "{e}");
    }

    #[test]
    fn missing_keys_take_the_defaults() {
        let t = parse("p.yaml", "colors: {ok: '#00ff00'}\n", Palette::TrueColor).unwrap();
        assert_eq!(t.ok.fg, Some(Color::Rgb(0, 255, 0)));
        assert_eq!(t.error.fg, Some(Color::LightRed));
        assert_eq!(t.base.bg, Some(Color::Black));
    }

    #[test]
    fn hex_colours_are_downsampled_without_truecolor() {
        assert_eq!(adapt(Color::Rgb(0, 127, 0), Palette::Ansi16), Color::Green);
        assert_eq!(adapt(Color::Rgb(175, 0, 0), Palette::Ansi16), Color::Red);
        assert_eq!(
            adapt(Color::Rgb(0, 95, 135), Palette::Ansi256),
            Color::Indexed(24)
        );
        assert_eq!(
            adapt(Color::Rgb(128, 128, 128), Palette::Ansi256),
            Color::Indexed(244)
        );
        assert_eq!(adapt(Color::Indexed(196), Palette::Ansi16), Color::LightRed);
        assert_eq!(adapt(Color::Green, Palette::Ansi16), Color::Green);
    }

    #[test]
    fn no_color_drops_every_colour_and_reverses_the_selection() {
        let t = Theme::built_in("default", Palette::None);
        for s in [t.base, t.ok, t.error, t.header, t.selected] {
            assert!(s.fg.is_none_or(|c| c == Color::Reset), "{s:?}");
            assert!(s.bg.is_none_or(|c| c == Color::Reset), "{s:?}");
        }
        assert!(t.selected.add_modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn transparent_draws_no_background() {
        let t = parse("t.yaml", "transparent: true\n", Palette::TrueColor).unwrap();
        assert_eq!(t.base.bg, Some(Color::Reset));
    }

    #[test]
    fn unknown_name_suggests_a_built_in_one() {
        let e = Theme::load("hight-contrast", Palette::Ansi16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `high-contrast`"), "{e}");
        let e = Theme::load("/nonexistent/x.yaml", Palette::Ansi16)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/nonexistent/x.yaml: "), "{e}");
    }

    /// A theme path that is a FIFO, a device or a directory is refused at
    /// once, naming it (a FIFO was waited on forever, /dev/zero read until
    /// memory ran out).
    #[test]
    fn a_theme_that_is_not_a_file_is_refused_at_once() {
        let t = tempfile::tempdir().unwrap();
        let fifo = t.path().join("t.yaml");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for bad in [
            fifo.display().to_string(),
            "/dev/zero".into(),
            format!("{}/", t.path().display()),
        ] {
            let e = Theme::load(&bad, Palette::Ansi16).unwrap_err().to_string();
            assert!(e.contains(bad.trim_end_matches('/')), "{e}");
            assert!(
                e.contains("not a regular file") || e.contains("a directory"),
                "{e}"
            );
        }
    }
}
