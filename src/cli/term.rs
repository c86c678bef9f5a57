//! The one writer between berth's commands and the terminal: every byte
//! the CLI writes to stdout or stderr goes through these macros, which
//! pass it through [`crate::sanitize::for_terminal`] (control sequences
//! made inert, berth's own colours kept), so text that was not cleaned
//! where it entered still cannot act on the terminal. The interactive
//! shell (`berth exec -i`, the console's `s`) is the one raw pass-through:
//! the operator's own terminal session in a container. `src/layers.rs`
//! fails on any other write to stdout or stderr.

use std::io::Write as _;

use super::{EXIT_ERROR, EXIT_PIPE};

/// `println!` for command output: when the reader has gone away
/// (`berth … | head -1`), berth ends quietly instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::term::emit(false, true, format_args!($($arg)*))
    };
}

/// `eprintln!` likewise, for messages to stderr.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::term::emit(true, true, format_args!($($arg)*))
    };
}

/// `print!` likewise.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::term::emit(false, false, format_args!($($arg)*))
    };
}

/// `eprint!` likewise (a question waiting for its answer).
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::cli::term::emit(true, false, format_args!($($arg)*))
    };
}

/// Writes cleaned text to stderr (`err`) or stdout, with a newline
/// (`line`); berth's own colours only on a terminal, and not with
/// `NO_COLOR`.
pub fn emit(err: bool, line: bool, args: std::fmt::Arguments) {
    use std::io::IsTerminal;
    use std::sync::OnceLock;
    // Asked once per stream, not per line (`logs -f` writes many).
    static COLOUR: [OnceLock<bool>; 2] = [OnceLock::new(), OnceLock::new()];
    let no_colour = || std::env::var_os("NO_COLOR").is_some();
    let mut text = std::fmt::format(args);
    if line {
        text.push('\n');
    }
    let written = if err {
        let colour = *COLOUR[1].get_or_init(|| std::io::stderr().is_terminal() && !no_colour());
        std::io::stderr()
            .lock()
            .write_all(crate::sanitize::for_terminal(&text, colour).as_bytes())
    } else {
        let colour = *COLOUR[0].get_or_init(|| std::io::stdout().is_terminal() && !no_colour());
        std::io::stdout()
            .lock()
            .write_all(crate::sanitize::for_terminal(&text, colour).as_bytes())
    };
    if let Err(e) = written {
        output_failed(e);
    }
}

/// A write to stdout or stderr failed. While an action runs, nothing else
/// happens: its output is lost, never the action (it completes, or is
/// cancelled safely, and is recorded; `berth deploy ... | head -2`).
/// Otherwise a closed pipe ends berth quietly with [`EXIT_PIPE`] (after
/// closing its SSH connections), and any other failure is said on stderr,
/// if it can be, with exit 2.
pub fn output_failed(e: std::io::Error) {
    if ACTING.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    if let Some(g) = AT_EXIT.get() {
        g.close();
    }
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_PIPE);
    }
    let _ = writeln!(std::io::stderr(), "berth: cannot write output: {e}");
    std::process::exit(i32::from(EXIT_ERROR));
}

/// The process's session, for [`output_failed`] alone: a closed pipe ends
/// berth with `exit`, which runs no destructor, and ssh would keep idle
/// master connections open. Everything else is handed the session.
static AT_EXIT: std::sync::OnceLock<crate::ops::Session> = std::sync::OnceLock::new();

/// An action is running: a failed write must not end the process (see
/// [`output_failed`]).
static ACTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks the process as running an action until the guard drops.
pub(crate) fn acting() -> impl Drop {
    struct Acting;
    impl Drop for Acting {
        fn drop(&mut self) {
            ACTING.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
    ACTING.store(true, std::sync::atomic::Ordering::SeqCst);
    Acting
}

/// Keeps the session for [`output_failed`].
pub fn at_exit(session: &crate::ops::Session) {
    let _ = AT_EXIT.set(session.clone());
}
