//! berth's log file: what an operator reads after a crash or a bad
//! incident. The console, and every command that changes something, write
//! it at `$XDG_STATE_HOME/berth/berth.log` (`~/.local/state/berth/`), or
//! where `--log-file` / `BERTH_LOG_FILE` says; each run is a tracing span
//! (run id, app, action), each stage one inside it (its name, its hosts),
//! so every line says which run and stage it came from.
//!
//! It is rotated when it is opened: past [`ROTATE_AT`] bytes it becomes
//! `berth.log.1` (and `.1` `.2`, up to [`KEEP`] old files). The file is the
//! user's alone (0600 in a 0700 directory), and every byte written to it
//! is cleaned of terminal control sequences, so `cat berth.log` is safe.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A log past this size is rotated when berth next opens it.
pub const ROTATE_AT: u64 = 8 * 1024 * 1024;
/// Old logs kept beside the current one.
pub const KEEP: usize = 3;

/// Where the log goes when nothing names it.
pub fn default_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|p| !p.is_empty() && Path::new(p).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })?;
    Some(state.join("berth").join("berth.log"))
}

/// An open log file, shared by the tracing layer's writers.
#[derive(Clone, Debug)]
pub struct LogFile {
    pub path: PathBuf,
    file: Arc<Mutex<std::fs::File>>,
}

impl LogFile {
    /// Opens (creating, rotating) the log at `path`.
    pub fn open(path: &Path) -> Result<LogFile, String> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        // The path is the operator's argument: shown inert, whatever it holds.
        let shown = crate::sanitize::one_line(&path.display().to_string());
        let said = |e: std::io::Error| format!("the log file {shown}: {e}");
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(said)?;
        }
        rotate(path, ROTATE_AT, KEEP).map_err(said)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(said)?;
        Ok(LogFile {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(file)),
        })
    }
}

/// Moves `path` to `path.1` (and each older one up) when it is at least
/// `limit` bytes; the oldest beyond `keep` is dropped.
pub fn rotate(path: &Path, limit: u64, keep: usize) -> std::io::Result<()> {
    let size = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if size < limit || keep == 0 {
        return Ok(());
    }
    let old = |n: usize| {
        let mut p = path.as_os_str().to_owned();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    };
    let _ = std::fs::remove_file(old(keep));
    for n in (1..keep).rev() {
        if old(n).exists() {
            std::fs::rename(old(n), old(n + 1))?;
        }
    }
    std::fs::rename(path, old(1))
}

/// One event's bytes, cleaned and written whole when the event is done.
pub struct Writer {
    file: Arc<Mutex<std::fs::File>>,
    buf: Vec<u8>,
}

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = clean(&self.buf);
        if let Ok(mut f) = self.file.lock() {
            // A full disk must not stop berth: the log is best effort.
            let _ = f.write_all(text.as_bytes());
        }
    }
}

/// The text with every control sequence removed, line by line (the
/// newlines that end events kept).
pub fn clean(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&crate::sanitize::strip_controls(line));
    }
    out
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogFile {
    type Writer = Writer;

    fn make_writer(&'a self) -> Writer {
        Writer {
            file: self.file.clone(),
            buf: Vec::new(),
        }
    }
}

/// The tracing layer that writes `log`: berth's own lines from info (debug
/// with `BERTH_LOG_FILE_LEVEL=debug`), other crates' warnings, with the
/// span of the run and stage each came from.
pub fn layer<S>(log: LogFile) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'l> tracing_subscriber::registry::LookupSpan<'l>,
{
    use tracing_subscriber::Layer as _;
    let level = std::env::var("BERTH_LOG_FILE_LEVEL").unwrap_or_else(|_| "info".into());
    let filter = tracing_subscriber::EnvFilter::try_new(format!("warn,berth={level}"))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,berth=info"));
    tracing_subscriber::fmt::layer()
        .with_writer(log)
        .with_ansi(false)
        .with_target(false)
        .with_filter(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_big_log_is_rotated_and_the_oldest_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("berth.log");
        for round in 0..5 {
            std::fs::write(&log, format!("round {round}\n").repeat(10)).unwrap();
            rotate(&log, 50, 3).unwrap();
            assert!(!log.exists(), "round {round}");
        }
        let read = |n: usize| std::fs::read_to_string(dir.path().join(format!("berth.log.{n}")));
        assert!(read(1).unwrap().starts_with("round 4"));
        assert!(read(3).unwrap().starts_with("round 2"));
        assert!(read(4).is_err(), "only 3 are kept");
        // A small one stays where it is.
        std::fs::write(&log, "short\n").unwrap();
        rotate(&log, 50, 3).unwrap();
        assert!(log.exists());
    }

    #[test]
    fn what_reaches_the_file_is_cleaned_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/berth/berth.log");
        let log = LogFile::open(&path).unwrap();
        {
            use tracing_subscriber::fmt::MakeWriter;
            let mut w = log.make_writer();
            w.write_all(b"line \x1b]0;pwned\x07one\x1b[31m red\n")
                .unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "line one red\n");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // A place that cannot be a file is said, with its path.
        let e = LogFile::open(dir.path()).err().unwrap();
        assert!(e.contains(&dir.path().display().to_string()), "{e}");
    }
}
