//! The key table written out: `docs/keys.md` and the man page's section.

use super::{Context, Keymap, TABLE, TYPING};

impl Keymap {
    /// The contexts in the order the docs list them.
    pub fn contexts() -> Vec<Context> {
        let mut seen = Vec::new();
        for b in TABLE {
            if !seen.contains(&b.context) {
                seen.push(b.context);
            }
        }
        seen
    }

    /// `docs/keys.md`: every key of every context, and the typing keys.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "<!-- Generated from src/tui/keymap.rs by `berth keys --markdown`; a test fails when it is stale. -->\n\
             # The console's keys\n\n\
             `?` in the console shows the keys of the screen it is on. Every key below can be\n\
             rebound in `keys.yaml` beside the config (see [Rebinding](#rebinding)).\n",
        );
        for ctx in Self::contexts() {
            out.push_str(&format!(
                "\n## {}\n\n| keys | does | name |\n| --- | --- | --- |\n",
                ctx.title()
            ));
            for b in TABLE.iter().filter(|b| b.context == ctx) {
                let keys: Vec<String> = self
                    .keys_of(b.intent)
                    .iter()
                    .map(|k| format!("`{}`", k.to_string().replace('|', "\\|")))
                    .collect();
                out.push_str(&format!(
                    "| {} | {} | `{}` |\n",
                    keys.join(" "),
                    b.help,
                    b.intent.name()
                ));
            }
        }
        out.push_str(
            "\n## Typing (a filter, a search, `:`, a prompt)\n\n| keys | does |\n| --- | --- |\n",
        );
        for (k, what) in TYPING {
            let keys: Vec<String> = k.split_whitespace().map(|k| format!("`{k}`")).collect();
            out.push_str(&format!("| {} | {what} |\n", keys.join(" ")));
        }
        out.push_str(REBINDING);
        out
    }

    /// The man page's key section, in roff.
    pub fn roff(&self) -> String {
        let mut out = String::from(
            ".SH \"CONSOLE KEYS\"\n`?` in the console shows the keys of the screen it is on; keys.yaml beside the config rebinds them (intent: key).\n",
        );
        for ctx in Self::contexts() {
            out.push_str(&format!(".SS \"{}\"\n", ctx.title()));
            for b in TABLE.iter().filter(|b| b.context == ctx) {
                out.push_str(&format!(
                    ".TP\n\\fB{}\\fR\n{} (\\fI{}\\fR)\n",
                    roff_escape(&self.shown(b.intent)),
                    roff_escape(b.help),
                    b.intent.name()
                ));
            }
        }
        out
    }
}

pub(super) fn roff_escape(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    if t.starts_with('.') || t.starts_with('\'') {
        format!("\\&{t}")
    } else {
        t
    }
}

const REBINDING: &str = "
## Rebinding

A `keys.yaml` beside the config file (for the zero config,
`~/.config/berth/keys.yaml`; `BERTH_KEYS` names another) gives an intent, by
the name in the tables above, its own keys. They replace the intent's keys on
every screen it is on:

```yaml
deploy: P               # one key
down: [j, Down, ctrl+n] # or a list
```

Keys are written `j`, `G` (shift is in the letter), `ctrl+d`, `alt+x`, `Down`,
`Up`, `Left`, `Right`, `PgUp`, `PgDn`, `Home`, `End`, `Enter`, `Esc`,
`Backspace`, `Tab`, `BackTab`, `Space`, `Delete`, `Insert`, `F1`..`F12`. A key
that would mean two things on one screen is refused with the file, line and
column, as a config error is; `berth config check` checks the file too. The
typing keys are fixed.
";
