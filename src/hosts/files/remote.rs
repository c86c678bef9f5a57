//! The files of an SSH host: each operation is one round trip through the
//! host's master connection, one fixed POSIX `sh` script (in `scripts/`)
//! whose data (paths, file contents) arrive as positional arguments: to a
//! function of the connection's helper (`ssh/helper.rs`), or, without one,
//! quoted one by one by openssh; no command text is ever built from data.
//! The scripts need `sh`, `mkdir -p`, `mv -T` (GNU coreutils) and `stat -c`.
//! Exit code 3 means "not there" (or "already there", for publishing).

use std::time::Duration;

use super::{Backend, FileLock, FilesError, HostPath, Kind, OP_TIMEOUT, Removed};
use crate::hosts::scripts::{self as sh, Script};
use crate::hosts::ssh::Tunnel;

pub(super) struct Remote<'a>(pub(super) &'a Tunnel);

/// What a remote script's exit meant.
enum Exit {
    Done(Vec<u8>),
    /// Exit 3: not there (or already there).
    Three,
}

/// A path as the script's argument: UTF-8 only.
fn arg<'a>(p: &'a HostPath, what: &'static str) -> Result<&'a str, FilesError> {
    p.path
        .to_str()
        .ok_or_else(|| p.fail(what, "the path is not UTF-8"))
}

/// File contents travel as arguments: text without NUL.
fn text<'a>(p: &HostPath, what: &'static str, bytes: &'a [u8]) -> Result<&'a str, FilesError> {
    std::str::from_utf8(bytes)
        .ok()
        .filter(|t| !t.contains('\0'))
        .ok_or_else(|| p.fail(what, "berth writes only text files on SSH hosts"))
}

impl Remote<'_> {
    /// Runs one of the scripts on the host, `$1` being `p`.
    async fn script(
        &self,
        p: &HostPath,
        what: &'static str,
        script: &Script,
        args: &[&str],
    ) -> Result<Exit, FilesError> {
        self.script_or_four(p, what, script, args)
            .await?
            .ok_or_else(|| p.fail(what, "exit 4"))
    }

    /// As `script`, for the scripts that may exit 4 ("there, but not as
    /// asked"): `None` then.
    async fn script_or_four(
        &self,
        p: &HostPath,
        what: &'static str,
        script: &Script,
        args: &[&str],
    ) -> Result<Option<Exit>, FilesError> {
        let mut argv = vec![arg(p, what)?];
        argv.extend_from_slice(args);
        let out = self
            .0
            .script(script, &argv, OP_TIMEOUT)
            .await
            .map_err(|e| p.fail(what, e))?;
        match out.code {
            Some(0) => Ok(Some(Exit::Done(out.stdout))),
            Some(3) => Ok(Some(Exit::Three)),
            Some(4) => Ok(None),
            code => {
                let stderr = crate::sanitize::one_line(&String::from_utf8_lossy(&out.stderr));
                Err(p.fail(
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
}

impl Backend for Remote<'_> {
    async fn lock_file(
        &self,
        p: &HostPath,
        wait: Duration,
    ) -> Result<Option<FileLock>, FilesError> {
        const WHAT: &str = "locking";
        self.0
            .flock(arg(p, WHAT)?, wait)
            .await
            .map(|l| l.map(|l| FileLock::Ssh(Box::new(l))))
            .map_err(|e| p.fail(WHAT, e))
    }

    async fn read_dir_files(
        &self,
        p: &HostPath,
    ) -> Result<Option<Vec<(String, Vec<u8>)>>, FilesError> {
        const WHAT: &str = "reading";
        match self.script(p, WHAT, sh::READ_DIR, &[]).await? {
            Exit::Three => Ok(None),
            Exit::Done(out) => parse_files(&out)
                .map(Some)
                .ok_or_else(|| p.fail(WHAT, "the listing came back garbled")),
        }
    }

    async fn subdirs(&self, p: &HostPath) -> Result<Vec<String>, FilesError> {
        Ok(match self.script(p, "listing", sh::SUBDIRS, &[]).await? {
            Exit::Three => Vec::new(),
            Exit::Done(out) => String::from_utf8_lossy(&out)
                .lines()
                .map(str::to_string)
                .collect(),
        })
    }

    async fn write(&self, p: &HostPath, bytes: &[u8], suffix: &str) -> Result<(), FilesError> {
        const WHAT: &str = "writing";
        self.script(p, WHAT, sh::WRITE, &[text(p, WHAT, bytes)?, suffix])
            .await
            .map(drop)
    }

    async fn remove_file(&self, p: &HostPath) -> Result<(), FilesError> {
        self.script(p, "removing", sh::REMOVE_FILE, &[])
            .await
            .map(drop)
    }

    async fn publish_dir(
        &self,
        p: &HostPath,
        parent: &HostPath,
        staging: &HostPath,
        files: &[(&str, &[u8])],
    ) -> Result<bool, FilesError> {
        const WHAT: &str = "creating";
        let mut args = vec![arg(staging, WHAT)?, arg(parent, WHAT)?];
        for (name, bytes) in files {
            args.push(name);
            args.push(text(p, WHAT, bytes)?);
        }
        match self.script(p, WHAT, sh::PUBLISH_DIR, &args).await? {
            Exit::Done(_) => Ok(true),
            Exit::Three => Ok(false),
        }
    }

    async fn remove_dir(&self, p: &HostPath, gone: &HostPath) -> Result<bool, FilesError> {
        const WHAT: &str = "removing";
        match self
            .script(p, WHAT, sh::REMOVE_DIR, &[arg(gone, WHAT)?])
            .await?
        {
            Exit::Done(_) => Ok(true),
            Exit::Three => Ok(false),
        }
    }

    async fn remove_dir_if(
        &self,
        p: &HostPath,
        gone: &HostPath,
        file: &str,
        holds: &str,
    ) -> Result<Removed, FilesError> {
        const WHAT: &str = "removing";
        if holds.is_empty() {
            return Ok(Removed::Kept);
        }
        Ok(
            match self
                .script_or_four(p, WHAT, sh::REMOVE_DIR_IF, &[arg(gone, WHAT)?, file, holds])
                .await?
            {
                Some(Exit::Done(_)) => Removed::Gone,
                Some(Exit::Three) => Removed::Absent,
                None => Removed::Kept,
            },
        )
    }

    async fn append_line(
        &self,
        p: &HostPath,
        parent: &HostPath,
        line: &str,
    ) -> Result<(), FilesError> {
        const WHAT: &str = "appending to";
        self.script(p, WHAT, sh::APPEND_LINE, &[line, arg(parent, WHAT)?])
            .await
            .map(drop)
    }

    async fn read(&self, p: &HostPath) -> Result<Option<Vec<u8>>, FilesError> {
        match self.script(p, "reading", sh::READ, &[]).await? {
            Exit::Done(b) => Ok(Some(b)),
            Exit::Three => Ok(None),
        }
    }

    async fn kind(&self, p: &HostPath) -> Result<Option<Kind>, FilesError> {
        match self.script(p, "looking at", sh::KIND, &[]).await? {
            Exit::Three => Ok(None),
            Exit::Done(out) if out.starts_with(b"d") => Ok(Some(Kind::Dir)),
            Exit::Done(_) => Ok(Some(Kind::Other)),
        }
    }

    async fn stamp(&self, p: &HostPath) -> Result<Option<(u64, i64)>, FilesError> {
        const WHAT: &str = "looking at";
        match self.script(p, WHAT, sh::STAMP, &[]).await? {
            Exit::Three => Ok(None),
            Exit::Done(out) => {
                let text = String::from_utf8_lossy(&out);
                let mut words = text.split_whitespace().map(str::parse::<i64>);
                match (words.next(), words.next()) {
                    (Some(Ok(size)), Some(Ok(time))) => Ok(Some((size as u64, time))),
                    _ => Err(p.fail(WHAT, format!("stat said {text:?}"))),
                }
            }
        }
    }
}

/// Parses sh::READ_DIR's output: `name\nlen\n<len bytes>` repeated.
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
}
