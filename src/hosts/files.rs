//! berth's own files on a host (locks, history, per-app state), on this
//! machine or on an SSH host through its master connection.
//!
//! The lock and history code is written once, against the few operations
//! of [`HostPath`]. Each is one [`Backend`] method, implemented for this
//! machine in `local.rs` (on blocking threads, never on the async
//! runtime's) and for SSH hosts in `remote.rs` (one round trip, one fixed
//! script). Errors name the operation, the host and the path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::ssh::Tunnel;

mod local;
mod remote;

use local::Local;
use remote::Remote;

/// The deadline of one file operation on an SSH host.
pub const OP_TIMEOUT: Duration = Duration::from_secs(15);

/// Which machine's files.
#[derive(Clone)]
pub enum Files {
    Local,
    /// Through this connection (and the host's `ssh://` destination, for
    /// messages); paths are relative to the login directory unless
    /// absolute.
    Ssh(Arc<Tunnel>, String),
}

/// A path on a host: where a lock or a history file lives.
#[derive(Clone)]
pub struct HostPath {
    pub files: Files,
    pub path: PathBuf,
}

impl std::fmt::Debug for HostPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for HostPath {
    /// `/home/ana/.berth/locks/web`, or `ssh://deploy@web-1:~/.berth/locks/web`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.files {
            Files::Local => write!(f, "{}", self.path.display()),
            Files::Ssh(_, dest) if self.path.is_relative() => {
                write!(f, "{dest}:~/{}", self.path.display())
            }
            Files::Ssh(_, dest) => write!(f, "{dest}:{}", self.path.display()),
        }
    }
}

/// The file operations' single error: what was being done, where, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {place}: {why}")]
pub struct FilesError {
    pub what: &'static str,
    pub place: String,
    pub why: String,
}

/// What [`HostPath::remove_dir_if`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removed {
    Gone,
    /// Nothing was there.
    Absent,
    /// It is there, and its file does not hold the text: left alone.
    Kept,
}

/// What is at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    /// A file, a link, a socket...
    Other,
}

/// What a command on a host left: exit code (`None`: killed by a signal)
/// and output, as it came (untrusted).
pub struct CommandOutput {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// An exclusive lock on a file of a host, held while this lives.
pub enum FileLock {
    Local(std::fs::File),
    Ssh(Box<super::ssh::RemoteLock>),
}

impl Files {
    /// Runs `argv` on the host, killed (locally) or abandoned (over ssh)
    /// after `timeout`. `Err` when it could not run or did not finish.
    pub async fn run(
        &self,
        argv: &[&str],
        timeout: Duration,
    ) -> Result<CommandOutput, super::HostError> {
        use super::HostError;
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| HostError::Local("an empty command".into()))?;
        match self {
            Files::Local => {
                let child = tokio::process::Command::new(program)
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .output();
                match tokio::time::timeout(timeout, child).await {
                    Err(_) => Err(HostError::Killed {
                        program: program.to_string(),
                        timeout,
                    }),
                    Ok(Err(e)) => Err(HostError::Spawn {
                        program: program.to_string(),
                        reason: e.to_string(),
                    }),
                    Ok(Ok(o)) => Ok(CommandOutput {
                        code: o.status.code(),
                        stdout: o.stdout,
                        stderr: o.stderr,
                    }),
                }
            }
            Files::Ssh(t, _) => t.output(argv, timeout).await.map(|o| CommandOutput {
                code: o.code,
                stdout: o.stdout,
                stderr: o.stderr,
            }),
        }
    }
}

impl HostPath {
    pub fn local(path: impl Into<PathBuf>) -> Self {
        HostPath {
            files: Files::Local,
            path: path.into(),
        }
    }

    pub fn join(&self, rest: impl AsRef<Path>) -> Self {
        HostPath {
            files: self.files.clone(),
            path: self.path.join(rest),
        }
    }

    pub fn parent(&self) -> Option<Self> {
        Some(HostPath {
            files: self.files.clone(),
            path: self.path.parent()?.to_path_buf(),
        })
    }

    /// A sibling: this path's parent joined with `name`.
    pub fn with_file_name(&self, name: &str) -> Self {
        HostPath {
            files: self.files.clone(),
            path: self.path.with_file_name(name),
        }
    }

    fn fail(&self, what: &'static str, why: impl ToString) -> FilesError {
        FilesError {
            what,
            place: self.to_string(),
            why: why.to_string(),
        }
    }
}

/// Reads Dokku's state on a host (see the script); the same script here
/// and over SSH, since it only reads.
const DOKKU_STATE: &str = include_str!("files/scripts/dokku_state.sh");

impl HostPath {
    /// Runs a fixed read-only `script` here or over SSH alike, `$1` being
    /// this path and `args` after it: its output on exit 0, `None` on exit
    /// 3 (not there), else an error with its (cleaned) stderr.
    async fn read_script(
        &self,
        what: &'static str,
        script: &str,
        args: &[&str],
    ) -> Result<Option<Vec<u8>>, FilesError> {
        let path = self
            .path
            .to_str()
            .ok_or_else(|| self.fail(what, "the path is not UTF-8"))?;
        let mut argv = vec!["sh", "-c", script, "berth", path];
        argv.extend_from_slice(args);
        let out = self
            .files
            .run(&argv, OP_TIMEOUT)
            .await
            .map_err(|e| self.fail(what, e))?;
        match out.code {
            Some(0) => Ok(Some(out.stdout)),
            Some(3) => Ok(None),
            code => {
                let why = crate::sanitize::one_line(&String::from_utf8_lossy(&out.stderr));
                Err(self.fail(
                    what,
                    if why.is_empty() {
                        format!("exit {code:?}")
                    } else {
                        why
                    },
                ))
            }
        }
    }

    /// What the Dokku data directory at this path holds (the script's
    /// framed lines), `None` when Dokku is not there. Reads only.
    pub async fn dokku_state(&self, builds_per_app: usize) -> Result<Option<Vec<u8>>, FilesError> {
        let per = builds_per_app.to_string();
        let out = self
            .read_script("reading Dokku's state in", DOKKU_STATE, &[&per])
            .await?
            .unwrap_or_default();
        Ok(match out.split(|b| *b == b'\n').next() {
            Some(b"dokku") => Some(out),
            _ => None,
        })
    }

    /// The last `lines` lines of the file (`tail`), `None` when it is not
    /// there: for logs other tools append to, which may be long.
    pub async fn tail(&self, lines: usize) -> Result<Option<Vec<u8>>, FilesError> {
        const TAIL: &str = "[ -e \"$1\" ] || exit 3; exec tail -n \"$2\" -- \"$1\"";
        self.read_script("reading the end of", TAIL, &[&lines.to_string()])
            .await
    }
}

/// One machine's files: the operations berth's own state needs. Errors
/// name the operation and the place.
pub(super) trait Backend {
    /// An exclusive lock on the file at `p` (created if needed), waiting at
    /// most `wait`; `None` when another still holds it then.
    async fn lock_file(&self, p: &HostPath, wait: Duration)
    -> Result<Option<FileLock>, FilesError>;
    async fn read_dir_files(
        &self,
        p: &HostPath,
    ) -> Result<Option<Vec<(String, Vec<u8>)>>, FilesError>;
    async fn subdirs(&self, p: &HostPath) -> Result<Vec<String>, FilesError>;
    /// Writes through a temporary file named with `suffix`, then renames.
    async fn write(&self, p: &HostPath, bytes: &[u8], suffix: &str) -> Result<(), FilesError>;
    async fn remove_file(&self, p: &HostPath) -> Result<(), FilesError>;
    async fn publish_dir(
        &self,
        p: &HostPath,
        parent: &HostPath,
        staging: &HostPath,
        files: &[(&str, &[u8])],
    ) -> Result<bool, FilesError>;
    async fn remove_dir(&self, p: &HostPath, gone: &HostPath) -> Result<bool, FilesError>;
    async fn remove_dir_if(
        &self,
        p: &HostPath,
        gone: &HostPath,
        file: &str,
        holds: &str,
    ) -> Result<Removed, FilesError>;
    async fn append_line(
        &self,
        p: &HostPath,
        parent: &HostPath,
        line: &str,
    ) -> Result<(), FilesError>;
    async fn read(&self, p: &HostPath) -> Result<Option<Vec<u8>>, FilesError>;
    async fn kind(&self, p: &HostPath) -> Result<Option<Kind>, FilesError>;
    async fn stamp(&self, p: &HostPath) -> Result<Option<(u64, i64)>, FilesError>;
}

/// The operation on whichever machine the path is on.
macro_rules! on {
    ($p:expr, $op:ident($($arg:expr),*)) => {
        match &$p.files {
            Files::Local => Local.$op($p, $($arg),*).await,
            Files::Ssh(t, _) => Remote(t).$op($p, $($arg),*).await,
        }
    };
}

impl HostPath {
    /// Takes an exclusive flock(2) on this file (created if needed),
    /// waiting at most `wait`; `Ok(None)` when another still holds it then.
    /// On an SSH host a remote `flock` process holds it: berth on the host
    /// itself and berths elsewhere exclude each other.
    pub async fn lock_file(&self, wait: Duration) -> Result<Option<FileLock>, FilesError> {
        on!(self, lock_file(wait))
    }

    /// Every regular file directly in this directory, by name; `None` when
    /// the directory is not there.
    pub async fn read_dir_files(&self) -> Result<Option<Vec<(String, Vec<u8>)>>, FilesError> {
        on!(self, read_dir_files())
    }

    /// The names of the directories in this one (none when it is not
    /// there), hidden ones left out; cleaned of control characters, as
    /// anyone may have named them.
    pub async fn subdirs(&self) -> Result<Vec<String>, FilesError> {
        let mut names = on!(self, subdirs())?;
        names.retain(|n| !n.starts_with('.'));
        for n in &mut names {
            *n = crate::sanitize::one_line(n);
        }
        names.sort();
        Ok(names)
    }

    /// Replaces the file's contents at once (a temporary file, renamed).
    pub async fn write(&self, bytes: &[u8]) -> Result<(), FilesError> {
        let suffix = format!("tmp-{}-{}", std::process::id(), unique());
        on!(self, write(bytes, &suffix))
    }

    /// Removes the file; one that is not there is fine.
    pub async fn remove_file(&self) -> Result<(), FilesError> {
        on!(self, remove_file())
    }

    /// Creates this directory holding `files`, all at once: it appears with
    /// every file in it, or not at all. `Ok(false)`: a non-empty directory
    /// is already there (another writer won). `staging` names the private
    /// directory it is filled in, next to it.
    pub async fn publish_dir(
        &self,
        staging: &str,
        files: &[(&str, &[u8])],
    ) -> Result<bool, FilesError> {
        let parent = self
            .parent()
            .ok_or_else(|| self.fail("creating", "a directory to publish has a parent"))?;
        let staging = parent.join(staging);
        on!(self, publish_dir(&parent, &staging, files))
    }

    /// Removes this directory and all in it: renamed to `gone` (a unique
    /// name next to it) first, so nothing sees it half-deleted. `Ok(false)`
    /// when it was not there.
    pub async fn remove_dir(&self, gone: &str) -> Result<bool, FilesError> {
        let gone = self.with_file_name(gone);
        on!(self, remove_dir(&gone))
    }

    /// Removes this directory as [`HostPath::remove_dir`] does, but only
    /// if its file `file` holds the text `holds` (one round trip on an SSH
    /// host: a lock released by the holder its record names).
    pub async fn remove_dir_if(
        &self,
        gone: &str,
        file: &str,
        holds: &str,
    ) -> Result<Removed, FilesError> {
        let gone = self.with_file_name(gone);
        on!(self, remove_dir_if(&gone, file, holds))
    }

    /// Appends one line (which must hold no newline), creating the file
    /// and its directory as needed. One write on an O_APPEND file, so lines
    /// of concurrent writers do not mix.
    pub async fn append_line(&self, line: &str) -> Result<(), FilesError> {
        const WHAT: &str = "appending to";
        if line.contains('\n') {
            return Err(self.fail(WHAT, "a line to append holds a newline"));
        }
        let parent = self
            .parent()
            .ok_or_else(|| self.fail(WHAT, "the file has no directory"))?;
        on!(self, append_line(&parent, line))
    }

    /// The file's bytes; `None` when it is not there.
    pub async fn read(&self) -> Result<Option<Vec<u8>>, FilesError> {
        on!(self, read())
    }

    /// What is at this path; `None` when nothing is.
    pub async fn kind(&self) -> Result<Option<Kind>, FilesError> {
        on!(self, kind())
    }

    /// Size and modification time (seconds) of the file, to tell whether it
    /// changed without reading it; `None` when it is not there.
    pub async fn stamp(&self) -> Result<Option<(u64, i64)>, FilesError> {
        on!(self, stamp())
    }
}

/// A name unique within this process (with the pid, across processes).
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_operations() {
        let t = tempfile::tempdir().unwrap();
        let root = HostPath::local(t.path());
        let dir = root.join("locks/demo");
        assert!(dir.read_dir_files().await.unwrap().is_none());
        assert!(
            dir.publish_dir(".staging-a", &[("a", b"1"), ("b", b"2")])
                .await
                .unwrap()
        );
        assert!(
            !dir.publish_dir(".staging-b", &[("a", b"9")]).await.unwrap(),
            "a second publish loses"
        );
        let mut files = dir.read_dir_files().await.unwrap().unwrap();
        files.sort();
        assert_eq!(
            files,
            vec![("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())]
        );
        assert_eq!(
            std::fs::read_dir(t.path().join("locks")).unwrap().count(),
            1,
            "the loser's staging directory is gone"
        );
        dir.join("a").write(b"new").await.unwrap();
        assert_eq!(dir.join("a").read().await.unwrap().unwrap(), b"new");
        dir.join("b").remove_file().await.unwrap();
        dir.join("b").remove_file().await.unwrap();
        assert!(dir.join("b").read().await.unwrap().is_none());
        assert_eq!(root.join("locks").subdirs().await.unwrap(), ["demo"]);
        assert!(root.join("nowhere").subdirs().await.unwrap().is_empty());
        assert!(dir.remove_dir(".gone-1").await.unwrap());
        assert!(!dir.remove_dir(".gone-2").await.unwrap());
        // Removed only when its record holds the text asked for.
        assert!(
            dir.publish_dir(".staging-c", &[("holder.json", br#"{"token":"t1"}"#)])
                .await
                .unwrap()
        );
        let if_holds = |text: &'static str| {
            let dir = dir.clone();
            async move { dir.remove_dir_if(".gone-3", "holder.json", text).await }
        };
        assert_eq!(if_holds(r#""token":"t2""#).await.unwrap(), Removed::Kept);
        assert_eq!(if_holds("").await.unwrap(), Removed::Kept);
        assert!(dir.read_dir_files().await.unwrap().is_some(), "kept");
        assert_eq!(if_holds(r#""token":"t1""#).await.unwrap(), Removed::Gone);
        assert_eq!(if_holds(r#""token":"t1""#).await.unwrap(), Removed::Absent);

        let log = root.join("apps/demo/history.jsonl");
        assert!(log.stamp().await.unwrap().is_none());
        log.append_line("one").await.unwrap();
        log.append_line("two").await.unwrap();
        assert!(log.append_line("a\nb").await.is_err());
        assert_eq!(log.read().await.unwrap().unwrap(), b"one\ntwo\n");
        assert_eq!(log.stamp().await.unwrap().unwrap().0, 8);
    }

    #[test]
    fn shows_where_a_path_is() {
        assert_eq!(
            HostPath::local("/srv/.berth/locks/web").to_string(),
            "/srv/.berth/locks/web"
        );
    }
}
