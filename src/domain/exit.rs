//! Exit statuses, shared by the CLI and the console.

pub const EXIT_OK: u8 = 0;
pub const EXIT_UNHEALTHY: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
/// Refused before anything changed: the app's lock is held by someone
/// else, read-only mode, what the action needs is missing (preflight).
pub const EXIT_REFUSED: u8 = 3;
/// What the action needed could not be reached (an engine, a host).
pub const EXIT_UNREACHABLE: u8 = 4;
/// Exit status of a command whose output pipe closed: what a shell reports
/// for a process ended by SIGPIPE (128 + 13), as `git` or `cat` give.
pub const EXIT_PIPE: i32 = 141;
