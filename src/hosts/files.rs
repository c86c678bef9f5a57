//! berth's own files on a host (locks, history, per-app state), on this
//! machine or on an SSH host through its master connection.
//!
//! The lock and history code is written once, against the few operations
//! here. Each operation is one round trip: on an SSH host it is one fixed
//! POSIX `sh` script whose data (paths, file contents) arrive as positional
//! arguments, quoted one by one by openssh; no command text is ever built
//! from data. The scripts need `sh`, `mkdir -p`, `mv -T` (GNU coreutils) and
//! `stat -c` on the host.
//!
//! Exit code 3 means "not there" (or "already there", for [`Files::publish_dir`]);
//! anything else that is not 0 is an error, reported with the host and path.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::ssh::Tunnel;

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

// The scripts, run by `sh -c` on SSH hosts: POSIX sh, kept in
// `scripts/*.sh` so shellcheck reads them (CI runs it). `$1` is always the
// path operated on.

/// Every regular file directly in `$1`: name, byte count, bytes.
const READ_DIR: &str = include_str!("scripts/read_dir.sh");

/// `$2` written to `$1` through `$1.$3` and a rename: readers see the old
/// or the new text, never a part.
const WRITE: &str = include_str!("scripts/write.sh");

const REMOVE_FILE: &str = include_str!("scripts/remove_file.sh");

/// Fills the directory `$2` with the files named and held by the pairs
/// after it, then renames it to `$1` (in the existing `$3`). rename(2) of a
/// directory onto a non-empty one fails, so of several at once exactly one
/// wins; the losers exit 3.
const PUBLISH_DIR: &str = include_str!("scripts/publish_dir.sh");

/// Renames `$1` out of the way to `$2`, then deletes it: nothing ever sees
/// a half-deleted `$1`.
const REMOVE_DIR: &str = include_str!("scripts/remove_dir.sh");

/// One line appended (with `$3` created first): one write on an O_APPEND
/// file, so lines of concurrent writers do not mix.
const APPEND_LINE: &str = include_str!("scripts/append_line.sh");

/// The names of the directories directly in `$1`, one a line.
const SUBDIRS: &str = include_str!("scripts/subdirs.sh");

const READ: &str = include_str!("scripts/read.sh");

/// `d` for a directory, `o` for anything else.
const KIND: &str = include_str!("scripts/kind.sh");

const STAMP: &str = include_str!("scripts/stamp.sh");

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
    pub async fn run(&self, argv: &[&str], timeout: Duration) -> Result<CommandOutput, String> {
        let (program, args) = argv.split_first().ok_or("an empty command")?;
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
                    Err(_) => Err(format!(
                        "did not finish within {}; killed",
                        crate::config::duration::format(timeout)
                    )),
                    Ok(Err(e)) => Err(format!("cannot run it: {e}")),
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
    /// Takes an exclusive flock(2) on this file (created if needed),
    /// waiting at most `wait`; `Ok(None)` when another still holds it then.
    /// On an SSH host a remote `flock` process holds it: berth on the host
    /// itself and berths elsewhere exclude each other.
    pub async fn lock_file(&self, wait: Duration) -> Result<Option<FileLock>, FilesError> {
        const WHAT: &str = "locking";
        match &self.files {
            Files::Local => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&self.path)
                    .map_err(|e| self.fail(WHAT, e))?;
                let start = tokio::time::Instant::now();
                loop {
                    match file.try_lock() {
                        Ok(()) => return Ok(Some(FileLock::Local(file))),
                        Err(std::fs::TryLockError::WouldBlock) => {}
                        Err(std::fs::TryLockError::Error(e)) => return Err(self.fail(WHAT, e)),
                    }
                    if start.elapsed() >= wait {
                        return Ok(None);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            Files::Ssh(t, _) => {
                let path = self
                    .path
                    .to_str()
                    .ok_or_else(|| self.fail(WHAT, "the path is not UTF-8"))?;
                t.flock(path, wait)
                    .await
                    .map(|l| l.map(|l| FileLock::Ssh(Box::new(l))))
                    .map_err(|e| self.fail(WHAT, e))
            }
        }
    }
}

/// What a remote script's exit meant.
enum Exit {
    Done(Vec<u8>),
    /// Exit 3: not there (or already there).
    Three,
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

    /// Runs one of the scripts on the SSH host, `$1` being this path.
    async fn remote(
        &self,
        tunnel: &Tunnel,
        what: &'static str,
        script: &str,
        args: &[&str],
    ) -> Result<Exit, FilesError> {
        let path = self
            .path
            .to_str()
            .ok_or_else(|| self.fail(what, "the path is not UTF-8"))?;
        let mut argv = vec!["sh", "-c", script, "berth", path];
        argv.extend_from_slice(args);
        let out = tunnel
            .output(&argv, OP_TIMEOUT)
            .await
            .map_err(|e| self.fail(what, e))?;
        match out.code {
            Some(0) => Ok(Exit::Done(out.stdout)),
            Some(3) => Ok(Exit::Three),
            code => {
                let stderr = crate::sanitize::one_line(&String::from_utf8_lossy(&out.stderr));
                Err(self.fail(
                    what,
                    if stderr.is_empty() {
                        format!("exit {code:?}")
                    } else {
                        stderr
                    },
                ))
            }
        }
    }

    /// Every regular file directly in this directory, by name; `None` when
    /// the directory is not there.
    pub async fn read_dir_files(&self) -> Result<Option<Vec<(String, Vec<u8>)>>, FilesError> {
        const WHAT: &str = "reading";
        match &self.files {
            Files::Local => {
                let entries = match std::fs::read_dir(&self.path) {
                    Ok(e) => e,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(e) => return Err(self.fail(WHAT, e)),
                };
                let mut out = Vec::new();
                for entry in entries.flatten() {
                    if !entry.file_type().is_ok_and(|t| t.is_file()) {
                        continue;
                    }
                    // Gone between listing and reading: it is not there.
                    if let Ok(bytes) = std::fs::read(entry.path()) {
                        out.push((entry.file_name().to_string_lossy().into_owned(), bytes));
                    }
                }
                Ok(Some(out))
            }
            Files::Ssh(t, _) => match self.remote(t, WHAT, READ_DIR, &[]).await? {
                Exit::Three => Ok(None),
                Exit::Done(out) => parse_files(&out)
                    .map(Some)
                    .ok_or_else(|| self.fail(WHAT, "the listing came back garbled")),
            },
        }
    }

    /// The names of the directories in this one (none when it is not
    /// there), hidden ones left out; cleaned of control characters, as
    /// anyone may have named them.
    pub async fn subdirs(&self) -> Result<Vec<String>, FilesError> {
        const WHAT: &str = "listing";
        let mut names: Vec<String> = match &self.files {
            Files::Local => match std::fs::read_dir(&self.path) {
                Ok(entries) => entries
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(self.fail(WHAT, e)),
            },
            Files::Ssh(t, _) => match self.remote(t, WHAT, SUBDIRS, &[]).await? {
                Exit::Three => Vec::new(),
                Exit::Done(out) => String::from_utf8_lossy(&out)
                    .lines()
                    .map(str::to_string)
                    .collect(),
            },
        };
        names.retain(|n| !n.starts_with('.'));
        for n in &mut names {
            *n = crate::sanitize::one_line(n);
        }
        names.sort();
        Ok(names)
    }

    /// Replaces the file's contents at once (a temporary file, renamed).
    pub async fn write(&self, bytes: &[u8]) -> Result<(), FilesError> {
        const WHAT: &str = "writing";
        let suffix = format!("tmp-{}-{}", std::process::id(), unique());
        match &self.files {
            Files::Local => {
                let tmp = self.with_file_name(&format!(
                    "{}.{suffix}",
                    self.path.file_name().unwrap_or_default().to_string_lossy()
                ));
                std::fs::write(&tmp.path, bytes).map_err(|e| tmp.fail(WHAT, e))?;
                std::fs::rename(&tmp.path, &self.path).map_err(|e| {
                    let _ = std::fs::remove_file(&tmp.path);
                    self.fail(WHAT, e)
                })
            }
            Files::Ssh(t, _) => {
                let text = self.text(WHAT, bytes)?;
                self.remote(t, WHAT, WRITE, &[text, &suffix]).await?;
                Ok(())
            }
        }
    }

    /// Removes the file; one that is not there is fine.
    pub async fn remove_file(&self) -> Result<(), FilesError> {
        const WHAT: &str = "removing";
        match &self.files {
            Files::Local => match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(self.fail(WHAT, e)),
                _ => Ok(()),
            },
            Files::Ssh(t, _) => self.remote(t, WHAT, REMOVE_FILE, &[]).await.map(drop),
        }
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
        const WHAT: &str = "creating";
        let parent = self
            .parent()
            .ok_or_else(|| self.fail(WHAT, "a directory to publish has a parent"))?;
        let staging = parent.join(staging);
        match &self.files {
            Files::Local => {
                std::fs::create_dir_all(&parent.path).map_err(|e| parent.fail(WHAT, e))?;
                std::fs::create_dir(&staging.path).map_err(|e| staging.fail(WHAT, e))?;
                let written = files.iter().try_for_each(|(name, bytes)| {
                    let file = staging.path.join(name);
                    std::fs::write(&file, bytes).map_err(|e| staging.join(name).fail(WHAT, e))
                });
                if let Err(e) = written {
                    let _ = std::fs::remove_dir_all(&staging.path);
                    return Err(e);
                }
                match std::fs::rename(&staging.path, &self.path) {
                    Ok(()) => Ok(true),
                    Err(e) => {
                        let _ = std::fs::remove_dir_all(&staging.path);
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::DirectoryNotEmpty
                                | std::io::ErrorKind::AlreadyExists
                        ) {
                            Ok(false)
                        } else {
                            Err(self.fail(WHAT, e))
                        }
                    }
                }
            }
            Files::Ssh(t, _) => {
                let staging_arg = staging
                    .path
                    .to_str()
                    .ok_or_else(|| staging.fail(WHAT, "the path is not UTF-8"))?;
                let parent_arg = parent
                    .path
                    .to_str()
                    .ok_or_else(|| parent.fail(WHAT, "the path is not UTF-8"))?;
                let mut args = vec![staging_arg, parent_arg];
                for (name, bytes) in files {
                    args.push(name);
                    args.push(self.text(WHAT, bytes)?);
                }
                match self.remote(t, WHAT, PUBLISH_DIR, &args).await? {
                    Exit::Done(_) => Ok(true),
                    Exit::Three => Ok(false),
                }
            }
        }
    }

    /// Removes this directory and all in it: renamed to `gone` (a unique
    /// name next to it) first, so nothing sees it half-deleted. `Ok(false)`
    /// when it was not there.
    pub async fn remove_dir(&self, gone: &str) -> Result<bool, FilesError> {
        const WHAT: &str = "removing";
        let gone = self.with_file_name(gone);
        match &self.files {
            Files::Local => {
                match std::fs::rename(&self.path, &gone.path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
                    Err(e) => return Err(self.fail(WHAT, e)),
                    Ok(()) => {}
                }
                // Whatever was there goes: a file where a directory belongs too.
                let is_dir = std::fs::symlink_metadata(&gone.path).is_ok_and(|m| m.is_dir());
                if is_dir {
                    std::fs::remove_dir_all(&gone.path)
                } else {
                    std::fs::remove_file(&gone.path)
                }
                .map_err(|e| gone.fail(WHAT, e))?;
                Ok(true)
            }
            Files::Ssh(t, _) => {
                let gone_arg = gone
                    .path
                    .to_str()
                    .ok_or_else(|| gone.fail(WHAT, "the path is not UTF-8"))?;
                match self.remote(t, WHAT, REMOVE_DIR, &[gone_arg]).await? {
                    Exit::Done(_) => Ok(true),
                    Exit::Three => Ok(false),
                }
            }
        }
    }

    /// Appends one line (which must hold no newline), creating the file
    /// and its directory as needed.
    pub async fn append_line(&self, line: &str) -> Result<(), FilesError> {
        const WHAT: &str = "appending to";
        if line.contains('\n') {
            return Err(self.fail(WHAT, "a line to append holds a newline"));
        }
        let parent = self
            .parent()
            .ok_or_else(|| self.fail(WHAT, "the file has no directory"))?;
        match &self.files {
            Files::Local => {
                use std::io::Write;
                std::fs::create_dir_all(&parent.path).map_err(|e| parent.fail(WHAT, e))?;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
                    .map_err(|e| self.fail(WHAT, e))
            }
            Files::Ssh(t, _) => {
                let parent_arg = parent
                    .path
                    .to_str()
                    .ok_or_else(|| parent.fail(WHAT, "the path is not UTF-8"))?;
                self.remote(t, WHAT, APPEND_LINE, &[line, parent_arg])
                    .await
                    .map(drop)
            }
        }
    }

    /// The file's bytes; `None` when it is not there.
    pub async fn read(&self) -> Result<Option<Vec<u8>>, FilesError> {
        const WHAT: &str = "reading";
        match &self.files {
            Files::Local => match std::fs::read(&self.path) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.fail(WHAT, e)),
            },
            Files::Ssh(t, _) => match self.remote(t, WHAT, READ, &[]).await? {
                Exit::Done(b) => Ok(Some(b)),
                Exit::Three => Ok(None),
            },
        }
    }

    /// What is at this path; `None` when nothing is.
    pub async fn kind(&self) -> Result<Option<Kind>, FilesError> {
        const WHAT: &str = "looking at";
        match &self.files {
            Files::Local => match std::fs::symlink_metadata(&self.path) {
                Ok(m) if m.is_dir() => Ok(Some(Kind::Dir)),
                Ok(_) => Ok(Some(Kind::Other)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.fail(WHAT, e)),
            },
            Files::Ssh(t, _) => match self.remote(t, WHAT, KIND, &[]).await? {
                Exit::Three => Ok(None),
                Exit::Done(out) if out.starts_with(b"d") => Ok(Some(Kind::Dir)),
                Exit::Done(_) => Ok(Some(Kind::Other)),
            },
        }
    }

    /// Size and modification time (seconds) of the file, to tell whether it
    /// changed without reading it; `None` when it is not there.
    pub async fn stamp(&self) -> Result<Option<(u64, i64)>, FilesError> {
        const WHAT: &str = "looking at";
        match &self.files {
            Files::Local => match std::fs::metadata(&self.path) {
                Ok(m) => {
                    use std::os::unix::fs::MetadataExt;
                    Ok(Some((m.len(), m.mtime())))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.fail(WHAT, e)),
            },
            Files::Ssh(t, _) => match self.remote(t, WHAT, STAMP, &[]).await? {
                Exit::Three => Ok(None),
                Exit::Done(out) => {
                    let text = String::from_utf8_lossy(&out);
                    let mut words = text.split_whitespace().map(str::parse::<i64>);
                    match (words.next(), words.next()) {
                        (Some(Ok(size)), Some(Ok(time))) => Ok(Some((size as u64, time))),
                        _ => Err(self.fail(WHAT, format!("stat said {text:?}"))),
                    }
                }
            },
        }
    }

    /// File contents travel as arguments: text without NUL.
    fn text<'a>(&self, what: &'static str, bytes: &'a [u8]) -> Result<&'a str, FilesError> {
        std::str::from_utf8(bytes)
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or_else(|| self.fail(what, "berth writes only text files on SSH hosts"))
    }
}

/// A name unique within this process (with the pid, across processes).
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Parses READ_DIR's output: `name\nlen\n<len bytes>` repeated.
fn parse_files(mut out: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    while !out.is_empty() {
        let line = |b: &mut &[u8]| -> Option<String> {
            let at = b.iter().position(|&c| c == b'\n')?;
            let text = String::from_utf8_lossy(b.get(..at)?).into_owned();
            *b = b.get(at + 1..)?;
            Some(text)
        };
        let name = line(&mut out)?;
        let len: usize = line(&mut out)?.parse().ok()?;
        let bytes = out.get(..len)?.to_vec();
        out = out.get(len..)?;
        files.push((name, bytes));
    }
    Some(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_remote_listing() {
        let out = b"holder.json\n7\n{\"a\":1}heartbeat\n0\nnested-1.json\n3\na\nb";
        assert_eq!(
            parse_files(out).unwrap(),
            vec![
                ("holder.json".into(), b"{\"a\":1}".to_vec()),
                ("heartbeat".into(), Vec::new()),
                ("nested-1.json".into(), b"a\nb".to_vec()),
            ]
        );
        assert_eq!(parse_files(b"").unwrap(), vec![]);
        assert!(parse_files(b"x\n9\nshort").is_none());
        assert!(parse_files(b"x\nnot a number\n").is_none());
    }

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
