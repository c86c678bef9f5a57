//! The console's one key table: every key, on every screen, with what it
//! does and the words the help says of it. Key handling is a lookup in it
//! ([`Keymap::intent`]); the help screen (`?`), `docs/keys.md` and the man
//! page's key section are made from it, so none of them can drift from
//! what the keys do. An operator's `keys.yaml` rebinds any [`Intent`].
//!
//! A screen has a stack of [`Context`]s, most specific first: on the
//! Containers view `r` restarts the container (its row's context) before
//! it would restart the app's role (the app context below it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crossterm::event::KeyEvent;

/// What a key asks for. `:` commands produce the same intents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Intent {
    Quit,
    Help,
    CommandLine,
    LogPane,
    Mouse,
    LogLevelUp,
    LogLevelDown,
    NextView,
    PrevView,
    View(u8),
    Down,
    Up,
    PageDown,
    PageUp,
    Top,
    Bottom,
    Filter,
    Back,
    Open,
    Deploy,
    Restart,
    Rollback,
    Destroy,
    Lock,
    Unlock,
    Shell,
    AppLogs,
    ContainerRestart,
    ContainerStop,
    ContainerStart,
    ContainerRemove,
    Inspect,
    CancelRun,
    Wrap,
    Follow,
    Pause,
    Search,
    Older,
    Newer,
}

/// Every intent, in the order `keys.yaml` documents them.
pub const INTENTS: &[Intent] = &[
    Intent::Quit,
    Intent::Help,
    Intent::CommandLine,
    Intent::LogPane,
    Intent::Mouse,
    Intent::LogLevelUp,
    Intent::LogLevelDown,
    Intent::NextView,
    Intent::PrevView,
    Intent::View(1),
    Intent::View(2),
    Intent::View(3),
    Intent::View(4),
    Intent::View(5),
    Intent::Down,
    Intent::Up,
    Intent::PageDown,
    Intent::PageUp,
    Intent::Top,
    Intent::Bottom,
    Intent::Filter,
    Intent::Back,
    Intent::Open,
    Intent::Deploy,
    Intent::Restart,
    Intent::Rollback,
    Intent::Destroy,
    Intent::Lock,
    Intent::Unlock,
    Intent::Shell,
    Intent::AppLogs,
    Intent::ContainerRestart,
    Intent::ContainerStop,
    Intent::ContainerStart,
    Intent::ContainerRemove,
    Intent::Inspect,
    Intent::CancelRun,
    Intent::Wrap,
    Intent::Follow,
    Intent::Pause,
    Intent::Search,
    Intent::Older,
    Intent::Newer,
];

impl Intent {
    /// Its name in `keys.yaml`.
    pub fn name(self) -> String {
        match self {
            Intent::Quit => "quit".into(),
            Intent::Help => "help".into(),
            Intent::CommandLine => "command-line".into(),
            Intent::LogPane => "log-pane".into(),
            Intent::Mouse => "mouse".into(),
            Intent::LogLevelUp => "log-level-up".into(),
            Intent::LogLevelDown => "log-level-down".into(),
            Intent::NextView => "next-view".into(),
            Intent::PrevView => "previous-view".into(),
            Intent::View(n) => format!("view-{n}"),
            Intent::Down => "down".into(),
            Intent::Up => "up".into(),
            Intent::PageDown => "page-down".into(),
            Intent::PageUp => "page-up".into(),
            Intent::Top => "top".into(),
            Intent::Bottom => "bottom".into(),
            Intent::Filter => "filter".into(),
            Intent::Back => "back".into(),
            Intent::Open => "open".into(),
            Intent::Deploy => "deploy".into(),
            Intent::Restart => "restart".into(),
            Intent::Rollback => "rollback".into(),
            Intent::Destroy => "destroy".into(),
            Intent::Lock => "lock".into(),
            Intent::Unlock => "unlock".into(),
            Intent::Shell => "shell".into(),
            Intent::AppLogs => "app-logs".into(),
            Intent::ContainerRestart => "container-restart".into(),
            Intent::ContainerStop => "container-stop".into(),
            Intent::ContainerStart => "container-start".into(),
            Intent::ContainerRemove => "container-remove".into(),
            Intent::Inspect => "inspect".into(),
            Intent::CancelRun => "cancel-run".into(),
            Intent::Wrap => "wrap".into(),
            Intent::Follow => "follow".into(),
            Intent::Pause => "pause".into(),
            Intent::Search => "search".into(),
            Intent::Older => "older-match".into(),
            Intent::Newer => "newer-match".into(),
        }
    }

    pub fn from_name(name: &str) -> Option<Intent> {
        INTENTS.iter().copied().find(|i| i.name() == name)
    }
}

/// Where a key is read: a part of a screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    /// On every screen.
    Anywhere,
    /// The five views' lists.
    Lists,
    /// The selected app (a view's row, the app screen).
    App,
    /// The selected container (the Containers view, its screen).
    Container,
    /// The Runs view.
    Runs,
    /// An app's screen.
    AppScreen,
    /// A container's screen.
    ContainerScreen,
    /// The inspect pane of a container's screen, while it is shown.
    Inspect,
    /// A log: a container's, an app's merged one.
    Log,
    /// A run's screen: its stages and their output.
    Run,
    /// A host's screen, an app's merged log: only back.
    Other,
}

impl Context {
    /// Its heading in the help and the docs.
    pub fn title(self) -> &'static str {
        match self {
            Context::Anywhere => "Anywhere",
            Context::Lists => "Views",
            Context::App => "Selected app",
            Context::Container => "Selected container",
            Context::Runs => "Runs view",
            Context::AppScreen => "App screen",
            Context::ContainerScreen => "Container screen",
            Context::Inspect => "Inspect pane",
            Context::Log => "Logs",
            Context::Run => "Run screen",
            Context::Other => "Host screen, app log",
        }
    }
}

/// The stacks of contexts that are read together, most specific first:
/// a key may be bound once in each stack, whatever its context.
pub const STACKS: &[&[Context]] = &[
    &[
        Context::Anywhere,
        Context::Container,
        Context::App,
        Context::Lists,
    ],
    &[
        Context::Anywhere,
        Context::Runs,
        Context::App,
        Context::Lists,
    ],
    &[Context::Anywhere, Context::AppScreen, Context::App],
    &[
        Context::Anywhere,
        Context::ContainerScreen,
        Context::Container,
        Context::Inspect,
        Context::Log,
    ],
    &[Context::Anywhere, Context::Other, Context::Log],
    &[Context::Anywhere, Context::Run],
];

/// One line of the table: in `context`, `keys` mean `intent`.
pub struct Binding {
    pub context: Context,
    pub intent: Intent,
    /// The default keys, as `keys.yaml` writes them, space-separated.
    pub keys: &'static str,
    pub help: &'static str,
}

const fn b(context: Context, intent: Intent, keys: &'static str, help: &'static str) -> Binding {
    Binding {
        context,
        intent,
        keys,
        help,
    }
}

use Context as C;
use Intent as I;

/// Every key of the console.
pub const TABLE: &[Binding] = &[
    b(C::Anywhere, I::Quit, "q ctrl+c", "quit (asks if busy)"),
    b(C::Anywhere, I::Help, "?", "keys of this screen"),
    b(C::Anywhere, I::CommandLine, ":", "command (Tab completes)"),
    b(C::Anywhere, I::LogPane, "L", "berth's log pane"),
    b(C::Anywhere, I::LogLevelUp, "+", "log pane: more detail"),
    b(C::Anywhere, I::LogLevelDown, "-", "log pane: less detail"),
    b(C::Anywhere, I::Mouse, "M", "mouse on, off"),
    b(C::Lists, I::Down, "j Down", "next row"),
    b(C::Lists, I::Up, "k Up", "previous row"),
    b(C::Lists, I::PageDown, "PgDn Space ctrl+d", "page down"),
    b(C::Lists, I::PageUp, "PgUp b ctrl+u", "page up"),
    b(C::Lists, I::Top, "g Home", "first row"),
    b(C::Lists, I::Bottom, "G End", "last row"),
    b(C::Lists, I::NextView, "Tab", "next view"),
    b(C::Lists, I::PrevView, "BackTab", "previous view"),
    b(C::Lists, I::View(1), "1", "Hosts"),
    b(C::Lists, I::View(2), "2", "Apps"),
    b(C::Lists, I::View(3), "3", "Containers"),
    b(C::Lists, I::View(4), "4", "Runs"),
    b(C::Lists, I::View(5), "5", "Events"),
    b(C::Lists, I::Open, "Enter", "open the row"),
    b(C::Lists, I::Filter, "/", "filter (regex, !: not)"),
    b(C::Lists, I::Back, "Esc h Backspace", "clear the filter"),
    b(C::App, I::Deploy, "d", "deploy (asks version)"),
    b(C::App, I::Restart, "r", "rolling restart"),
    b(C::App, I::Rollback, "R", "rollback (asks y/N)"),
    b(C::App, I::Destroy, "D", "destroy (type its name)"),
    b(C::App, I::Lock, "l", "lock (asks why)"),
    b(C::App, I::Unlock, "U", "unlock"),
    b(C::App, I::Shell, "s e E", "shell in a container"),
    b(C::App, I::AppLogs, "o", "logs of all its hosts"),
    b(C::Container, I::ContainerRestart, "r", "restart it"),
    b(C::Container, I::ContainerStop, "t", "stop it"),
    b(C::Container, I::ContainerStart, "u", "start it"),
    b(
        C::Container,
        I::ContainerRemove,
        "X",
        "remove it (asks y/N)",
    ),
    b(C::Container, I::Shell, "s e E", "shell in it"),
    b(C::Runs, I::CancelRun, "x", "cancel (old stays up)"),
    b(C::AppScreen, I::Back, "Esc h Backspace", "back"),
    b(C::AppScreen, I::Open, "Enter", "its runs"),
    b(
        C::ContainerScreen,
        I::Back,
        "Esc h Backspace",
        "back; Esc clears search",
    ),
    b(
        C::ContainerScreen,
        I::Inspect,
        "i",
        "inspect, secrets masked",
    ),
    b(C::Inspect, I::Down, "j Down", "scroll down"),
    b(C::Inspect, I::Up, "k Up", "scroll up"),
    b(C::Inspect, I::PageDown, "PgDn Space ctrl+d", "page down"),
    b(C::Inspect, I::PageUp, "PgUp b ctrl+u", "page up"),
    b(C::Inspect, I::Top, "g Home", "top"),
    b(C::Inspect, I::Bottom, "G End", "end"),
    b(C::Log, I::Down, "j Down", "scroll down (pauses)"),
    b(C::Log, I::Up, "k Up", "scroll up (pauses)"),
    b(C::Log, I::PageDown, "PgDn Space ctrl+d", "page down"),
    b(C::Log, I::PageUp, "PgUp b ctrl+u", "page up"),
    b(C::Log, I::Top, "g Home", "oldest line"),
    b(C::Log, I::Bottom, "G End", "end, and follow"),
    b(C::Log, I::Pause, "p f", "pause, resume"),
    b(C::Log, I::Wrap, "w", "wrap long lines"),
    b(C::Log, I::Search, "/", "search (regex)"),
    b(C::Log, I::Older, "n", "older match"),
    b(C::Log, I::Newer, "N", "newer match"),
    b(
        C::Other,
        I::Back,
        "Esc h Backspace",
        "back; Esc clears search",
    ),
    b(C::Run, I::Back, "Esc h Backspace", "back"),
    b(C::Run, I::Down, "j Down", "next stage"),
    b(C::Run, I::Up, "k Up", "previous stage"),
    b(C::Run, I::PageUp, "PgUp b ctrl+u", "scroll output up"),
    b(
        C::Run,
        I::PageDown,
        "PgDn Space ctrl+d",
        "scroll output down",
    ),
    b(C::Run, I::Top, "g Home", "output's start"),
    b(C::Run, I::Bottom, "G End", "output's end"),
    b(C::Run, I::Follow, "f", "follow running stage"),
    b(C::Run, I::Wrap, "w", "wrap long lines"),
    b(C::Run, I::CancelRun, "x", "cancel (old stays up)"),
    b(C::Run, I::Deploy, "d", "deploy its app again"),
    b(C::Run, I::Restart, "r", "restart its app"),
    b(C::Run, I::Rollback, "R", "roll its app back"),
];

/// The keys of a line of typed text (a filter, a search, `:`, a prompt):
/// fixed, so that any key can be typed.
pub const TYPING: &[(&str, &str)] = &[
    ("Enter ctrl+j ctrl+m", "done"),
    ("Esc ctrl+c", "cancel"),
    ("Backspace", "delete a character"),
    ("Tab", "complete a `:` command"),
    ("y", "yes, to a y/N question (any other key: no)"),
];

/// The table with the operator's rebindings in force.
#[derive(Clone, Debug)]
pub struct Keymap {
    /// Per intent, its keys (the same in every context it is in).
    keys: BTreeMap<Intent, Vec<Key>>,
    /// Where the rebindings came from, if any.
    pub file: Option<PathBuf>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut keys: BTreeMap<Intent, Vec<Key>> = BTreeMap::new();
        for b in TABLE {
            let parsed = b.keys.split_whitespace().filter_map(|k| Key::parse(k).ok());
            let list = keys.entry(b.intent).or_default();
            for k in parsed {
                if !list.contains(&k) {
                    list.push(k);
                }
            }
        }
        Keymap { keys, file: None }
    }
}

/// A keymap file that cannot be used: where, and why.
pub type KeymapError = crate::config::error::ConfigError;

impl Keymap {
    /// What `key` asks for on a screen whose contexts are `stack`, most
    /// specific first.
    pub fn intent(&self, stack: &[Context], ev: KeyEvent) -> Option<Intent> {
        let key = Key::of(ev);
        stack.iter().find_map(|ctx| {
            TABLE
                .iter()
                .filter(|b| b.context == *ctx)
                .find(|b| self.keys_of(b.intent).contains(&key))
                .map(|b| b.intent)
        })
    }

    /// The keys of `intent` now.
    pub fn keys_of(&self, intent: Intent) -> &[Key] {
        self.keys.get(&intent).map_or(&[], Vec::as_slice)
    }

    /// The keys of `intent`, as docs/keys.md and `berth keys` write them.
    pub fn shown(&self, intent: Intent) -> String {
        let keys: Vec<String> = self.keys_of(intent).iter().map(Key::to_string).collect();
        keys.join(" ")
    }

    /// The first two keys of `intent`, as the help screen writes them.
    pub fn first(&self, intent: Intent) -> String {
        let keys: Vec<String> = self
            .keys_of(intent)
            .iter()
            .take(2)
            .map(Key::to_string)
            .collect();
        keys.join(" ")
    }

    /// The table with `path`'s rebindings, when the file exists.
    pub fn load(path: &Path) -> Result<Keymap, KeymapError> {
        let text = match crate::config::read_bounded(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keymap::default()),
            Err(error) => {
                return Err(KeymapError::Read {
                    file: path.to_path_buf(),
                    error,
                });
            }
        };
        Self::parse(path, &text)
    }

    /// `text` as a keymap file: `intent: key` or `intent: [key, key]`, each
    /// intent's keys replacing its defaults everywhere.
    pub fn parse(path: &Path, text: &str) -> Result<Keymap, KeymapError> {
        use crate::config::locate::{Positions, Seg};
        let at = |pos, message: String| KeymapError::at(path, pos, message);
        let positions = Positions::index(text);
        let doc: Option<BTreeMap<String, serde_yaml::Value>> =
            serde_yaml::from_str(text).map_err(|e| {
                let pos = e.location().map(|l| crate::config::locate::Pos {
                    line: l.line(),
                    column: l.column(),
                });
                at(
                    pos,
                    format!("not a keymap (intent: key, or intent: [key, ...]): {e}"),
                )
            })?;
        let mut map = Keymap {
            file: Some(path.to_path_buf()),
            ..Keymap::default()
        };
        let mut mine: Vec<(Intent, String)> = Vec::new();
        for (name, value) in doc.unwrap_or_default() {
            let key_path = [Seg::Key(name.clone())];
            let Some(intent) = Intent::from_name(&name) else {
                let best = INTENTS
                    .iter()
                    .map(|i| i.name())
                    .max_by(|a, b| {
                        strsim::jaro_winkler(a, &name).total_cmp(&strsim::jaro_winkler(b, &name))
                    })
                    .filter(|b| strsim::jaro_winkler(b, &name) > 0.8)
                    .map(|b| format!("; did you mean `{b}`?"))
                    .unwrap_or_default();
                return Err(at(
                    positions.key(&key_path),
                    format!(
                        "`{name}` is not something a key can do{best} (docs/keys.md lists them)"
                    ),
                ));
            };
            let texts: Vec<(Vec<Seg>, String)> = match value {
                serde_yaml::Value::String(s) => vec![(key_path.to_vec(), s)],
                serde_yaml::Value::Sequence(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let p = vec![Seg::Key(name.clone()), Seg::Index(i)];
                        match v {
                            serde_yaml::Value::String(s) => Ok((p, s)),
                            serde_yaml::Value::Number(n) => Ok((p, n.to_string())),
                            _ => Err(at(
                                positions.value(&p),
                                format!("{name}: a key is a string, like j or ctrl+d"),
                            )),
                        }
                    })
                    .collect::<Result<_, _>>()?,
                serde_yaml::Value::Number(n) => vec![(key_path.to_vec(), n.to_string())],
                _ => {
                    return Err(at(
                        positions.value(&key_path),
                        format!("{name}: a key, or a list of keys"),
                    ));
                }
            };
            let mut keys = Vec::new();
            for (p, t) in &texts {
                let key = Key::parse(t.trim())
                    .map_err(|e| at(positions.value(p), format!("{name}: {e}")))?;
                if key == CTRL_C && intent != Intent::Quit {
                    return Err(at(
                        positions.value(p),
                        format!(
                            "{name}: ctrl+c always quits (and cancels typing); pick another key"
                        ),
                    ));
                }
                if !keys.contains(&key) {
                    keys.push(key);
                }
                mine.push((intent, t.clone()));
            }
            map.keys.insert(intent, keys);
        }
        // Every key may mean one thing in each stack of contexts read
        // together; a rebinding that takes a key from something else is
        // said, not silently shadowed.
        for (intent, text) in &mine {
            let Ok(key) = Key::parse(text.trim()) else {
                continue;
            };
            if let Some((other, ctx)) = map.clash(*intent, key) {
                let p = positions
                    .value(&[Seg::Key(intent.name())])
                    .or_else(|| positions.key(&[Seg::Key(intent.name())]));
                return Err(at(
                    p,
                    format!(
                        "{}: `{key}` is already `{}` ({}); rebind that too, or pick another key",
                        intent.name(),
                        other.name(),
                        ctx.title()
                    ),
                ));
            }
        }
        Ok(map)
    }

    /// Another intent `key` also means where `intent` is read.
    fn clash(&self, intent: Intent, key: Key) -> Option<(Intent, Context)> {
        let contexts: Vec<Context> = TABLE
            .iter()
            .filter(|b| b.intent == intent)
            .map(|b| b.context)
            .collect();
        STACKS
            .iter()
            .filter(|s| s.iter().any(|c| contexts.contains(c)))
            .flat_map(|s| s.iter())
            .find_map(|ctx| {
                TABLE
                    .iter()
                    .filter(|b| b.context == *ctx && b.intent != intent)
                    .find(|b| self.keys_of(b.intent).contains(&key))
                    .map(|b| (b.intent, *ctx))
            })
    }
}

/// Where the operator's keymap is: `BERTH_KEYS`, else `keys.yaml` beside
/// the config file, else in `~/.config/berth/`.
pub fn path_for(config_file: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_KEYS").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(dir) = config_file.and_then(Path::parent) {
        return Some(dir.join("keys.yaml"));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("berth").join("keys.yaml"))
}

mod docs;
mod key;

pub use key::{CTRL_C, Key};

#[cfg(test)]
use docs::roff_escape;

#[cfg(test)]
mod tests;
