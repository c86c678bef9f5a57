//! `berth man`: one page with everything: the options, every command and
//! subcommand with its usage and arguments (clap_mangen alone would point
//! at `berth-status(1)` pages that do not exist), the exit codes, and the
//! console's keys from the key table.

use clap::CommandFactory;

/// The page, in roff.
pub fn page() -> std::io::Result<String> {
    let cmd = super::Cli::command();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    let mut page = String::from_utf8_lossy(&out).into_owned();
    page.push_str(".SH COMMANDS\n");
    for sub in cmd.get_subcommands() {
        command(&mut page, &["berth"], sub);
    }
    page.push_str(".SH \"EXIT STATUS\"\n");
    for (code, means) in [
        ("0", "ok"),
        (
            "1",
            "unhealthy (the fleet is not as declared), a broken lock, or an action failed or was cancelled (the previous version keeps serving)",
        ),
        (
            "2",
            "error: config, usage, an unknown name, an engine address berth cannot use",
        ),
        (
            "3",
            "refused before anything changed: a lock held, read-only, something an action needs missing, what a container uses, a Kamal app's lock",
        ),
        ("4", "a host or its engine could not be reached"),
        (
            "141",
            "the reader of berth's output went away (berth ... | head)",
        ),
    ] {
        page.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", esc(means)));
    }
    page.push_str(&crate::tui::keymap::Keymap::default().roff());
    Ok(page)
}

/// A command's usage, what it does and its arguments, then its own
/// subcommands, each under its full name.
fn command(page: &mut String, parents: &[&str], cmd: &clap::Command) {
    if cmd.get_name() == "help" || cmd.is_hide_set() {
        return;
    }
    let mut path: Vec<&str> = parents.to_vec();
    path.push(cmd.get_name());
    let name = path.join(" ");
    page.push_str(&format!(".SS \"{}\"\n", esc(&name)));
    let about = cmd
        .get_long_about()
        .or_else(|| cmd.get_about())
        .map(ToString::to_string)
        .unwrap_or_default();
    if !about.is_empty() {
        page.push_str(&format!("{}\n.PP\n", esc(&about)));
    }
    let mut usage = cmd.clone().bin_name(&name);
    let usage = usage.render_usage().to_string();
    let usage = usage.trim_start_matches("Usage: ");
    page.push_str(&format!("\\fB{}\\fR\n", esc(usage)));
    for arg in cmd.get_arguments() {
        if arg.is_hide_set()
            || arg.is_global_set()
            || ["help", "version"].contains(&arg.get_id().as_str())
        {
            continue;
        }
        let mut head = Vec::new();
        if let Some(s) = arg.get_short() {
            head.push(format!("-{s}"));
        }
        if let Some(l) = arg.get_long() {
            head.push(format!("--{l}"));
        }
        let value = arg
            .get_value_names()
            .map(|v| {
                v.iter()
                    .map(|n| format!("<{n}>"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        let head = if head.is_empty() {
            value
        } else if arg.get_action().takes_values() && !value.is_empty() {
            format!("{} {value}", head.join(", "))
        } else {
            head.join(", ")
        };
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        page.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", esc(&head), esc(&help)));
    }
    for sub in cmd.get_subcommands() {
        command(page, &path, sub);
    }
}

/// Text made roff: backslashes and dashes escaped, a line never starting
/// with a control character.
fn esc(text: &str) -> String {
    text.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e").replace('-', "\\-");
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}
