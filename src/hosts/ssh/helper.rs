//! Cheap commands on an SSH host. sshd runs every command through the
//! user's login shell, whose start-up (rc files, version managers) costs
//! far more than the command: 140 ms and up on a real host, paid per
//! lock read or history line. So each master connection keeps a few
//! long-lived helpers: one `sh` each (`scripts/helper.sh`), started once,
//! that runs the argument vectors berth sends on its input and answers
//! with the exit code and output, framed by byte counts. A command then
//! costs one round trip and one fork on the host.
//!
//! The rules of direct commands hold: data only ever travels as an
//! argument (escaped for the line protocol, never evaluated), a helper
//! that stops answering is abandoned (its input closed, so it exits), and
//! a dropped connection fails the command naming the host.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use openssh::{Child, Session, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::Output;
use crate::hosts::scripts::{SCRIPTS, Script};

const SCRIPT: &str = include_str!("../files/scripts/helper.sh");

/// What a helper runs: the helper script, after berth's file scripts as
/// functions (`berth_NAME`) and their names in `berth_scripts`.
fn text() -> &'static str {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = String::new();
        for s in SCRIPTS {
            text.push_str(&format!("berth_{}() {{\n{}\n}}\n", s.name, s.body));
        }
        let names: Vec<&str> = SCRIPTS.iter().map(|s| s.name).collect();
        text.push_str(&format!("berth_scripts='{}'\n", names.join(" ")));
        text.push_str(SCRIPT);
        text
    })
}

/// What berth asks a helper to run.
pub(super) enum Request<'a> {
    /// A program and its arguments.
    Command(&'a [&'a str]),
    /// One of berth's file scripts and its positional arguments.
    Script(&'a Script, &'a [&'a str]),
}

impl Request<'_> {
    /// The program it runs, for messages (`sh` for a script, as without
    /// a helper); `None` for an empty command.
    pub(super) fn program(&self) -> Option<&str> {
        match self {
            Request::Command(argv) => argv.first().copied(),
            Request::Script(..) => Some("sh"),
        }
    }

    /// The same, as a command of its own (where no helper runs).
    pub(super) fn argv(&self) -> Vec<&str> {
        match self {
            Request::Command(argv) => argv.to_vec(),
            Request::Script(s, args) => {
                let mut argv = vec!["sh", "-c", s.body, "berth"];
                argv.extend_from_slice(args);
                argv
            }
        }
    }
}

/// What the helper says once it runs (anything an rc file printed before
/// it is skipped).
const READY: &[u8] = b"berth-helper 1\n";

/// Helpers per connection: commands beyond these wait for one to be free.
/// Each holds one of sshd's sessions for as long as the connection lives.
pub(super) const HELPERS: usize = 4;

/// One running helper: its input and its output.
struct Helper {
    _child: Child<Arc<Session>>,
    stdin: openssh::ChildStdin,
    stdout: BufReader<openssh::ChildStdout>,
    /// The sshd session it holds.
    _session: tokio::sync::OwnedSemaphorePermit,
}

/// The helpers of one connection: idle ones, and a limit on busy ones.
pub(super) struct Helpers {
    idle: Mutex<Vec<Helper>>,
    busy: Arc<tokio::sync::Semaphore>,
}

impl Default for Helpers {
    fn default() -> Self {
        Helpers {
            idle: Mutex::default(),
            busy: Arc::new(tokio::sync::Semaphore::new(HELPERS)),
        }
    }
}

/// Why a command through a helper did not give an answer.
pub(super) enum Failure {
    /// No helper could be started (the host lacks `mktemp`, or refused
    /// the session): the caller runs the command directly.
    NoHelper(String),
    /// The helper died or spoke garbage mid-command: the connection is
    /// gone or the host is in trouble.
    Broken(String),
    TimedOut,
}

impl Helpers {
    /// Runs `argv` through an idle helper (starting one if none is idle),
    /// within `timeout` for all of it.
    pub(super) async fn run(
        &self,
        session: &Arc<Session>,
        sessions: &Arc<tokio::sync::Semaphore>,
        request: &Request<'_>,
        timeout: Duration,
    ) -> Result<Output, Failure> {
        let request = match request {
            Request::Command(argv) => encode("", argv),
            Request::Script(s, args) => {
                let mut argv = vec![s.name];
                argv.extend_from_slice(args);
                encode("s", &argv)
            }
        }
        .map_err(Failure::Broken)?;
        let work = async {
            let _busy = self.busy.acquire().await.ok();
            let idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let mut helper = match idle {
                Some(h) => h,
                None => start(session, sessions).await.map_err(Failure::NoHelper)?,
            };
            let out = helper.ask(&request).await.map_err(Failure::Broken)?;
            self.idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(helper);
            Ok(out)
        };
        // On a timeout the helper in use is dropped with the future: its
        // input closes and it exits after the command it is running.
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or(Err(Failure::TimedOut))
    }
}

async fn start(
    session: &Arc<Session>,
    sessions: &Arc<tokio::sync::Semaphore>,
) -> Result<Helper, String> {
    let permit = sessions
        .clone()
        .try_acquire_owned()
        .map_err(|_| "every session of the connection is in use".to_string())?;
    let mut child = session
        .clone()
        .arc_command("sh")
        .args(["-c", text()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .await
        .map_err(|e| super::chain(&e))?;
    let stdin = child.stdin().take().ok_or("no input pipe")?;
    let stdout = child.stdout().take().ok_or("no output pipe")?;
    let mut stdout = BufReader::new(stdout);
    // Skip what rc files print, up to the helper's own first line.
    let mut seen = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = stdout
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err(format!(
                "the helper did not start: {}",
                crate::sanitize::one_line(&String::from_utf8_lossy(&seen))
            ));
        }
        if line == READY {
            break;
        }
        if seen.len() < 4096 {
            seen.extend_from_slice(&line);
        }
    }
    Ok(Helper {
        _child: child,
        stdin,
        stdout,
        _session: permit,
    })
}

impl Helper {
    async fn ask(&mut self, request: &[u8]) -> Result<Output, String> {
        self.stdin
            .write_all(request)
            .await
            .map_err(|e| format!("the connection failed: {e}"))?;
        self.stdin
            .flush()
            .await
            .map_err(|e| format!("the connection failed: {e}"))?;
        let mut head = Vec::new();
        let n = self
            .stdout
            .read_until(b'\n', &mut head)
            .await
            .map_err(|e| format!("the connection failed: {e}"))?;
        if n == 0 {
            return Err("the connection closed mid-command".into());
        }
        let (code, out_len, err_len) = parse_head(&head).ok_or_else(|| {
            format!(
                "the helper answered {:?}",
                crate::sanitize::one_line(&String::from_utf8_lossy(&head))
            )
        })?;
        let mut stdout = vec![0; out_len];
        let mut stderr = vec![0; err_len];
        self.stdout
            .read_exact(&mut stdout)
            .await
            .map_err(|e| format!("the connection failed mid-answer: {e}"))?;
        self.stdout
            .read_exact(&mut stderr)
            .await
            .map_err(|e| format!("the connection failed mid-answer: {e}"))?;
        Ok(Output {
            // The shell's 128+N for a command killed by signal N is what
            // ssh reports as no code.
            code: (code <= 128).then_some(code),
            stdout,
            stderr,
        })
    }
}

/// Answers larger than this are refused (the helper's framing would let a
/// host make berth allocate anything).
const MAX_ANSWER: usize = 256 << 20;

/// `CODE OUTBYTES ERRBYTES\n` (`wc -c` may pad with spaces).
fn parse_head(head: &[u8]) -> Option<(i32, usize, usize)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut words = text.split_whitespace();
    let code = words.next()?.parse().ok()?;
    let out: usize = words.next()?.parse().ok()?;
    let err: usize = words.next()?.parse().ok()?;
    (words.next().is_none() && out.saturating_add(err) <= MAX_ANSWER).then_some((code, out, err))
}

/// The request for `argv`: its length (after `kind`: `s` for a script),
/// then each argument on a line of its own with `\` and newline escaped.
/// NUL cannot be an argument.
fn encode(kind: &str, argv: &[&str]) -> Result<Vec<u8>, String> {
    if argv.is_empty() {
        return Err("an empty command".into());
    }
    let mut out = format!("{kind}{}\n", argv.len()).into_bytes();
    for a in argv {
        if a.contains('\0') {
            return Err("an argument holds a NUL byte".into());
        }
        for c in a.bytes() {
            match c {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                c => out.push(c),
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Answer = (i32, Vec<u8>, Vec<u8>);

    /// Feeds `request` to the helper (with the file scripts, as on a host)
    /// under the real `sh`: its answers, and how it ended.
    fn converse(request: &[u8]) -> (Vec<Answer>, std::process::ExitStatus) {
        let mut child = std::process::Command::new("sh")
            .args(["-c", text()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(request).unwrap();
        let out = child.wait_with_output().unwrap();
        let mut rest = out.stdout.strip_prefix(READY).unwrap();
        let mut answers = Vec::new();
        while !rest.is_empty() {
            let at = rest.iter().position(|&c| c == b'\n').unwrap();
            let (code, o, e) = parse_head(&rest[..=at]).unwrap();
            let body = &rest[at + 1..];
            answers.push((code, body[..o].to_vec(), body[o..o + e].to_vec()));
            rest = &body[o + e..];
        }
        (answers, out.status)
    }

    fn script(name: &str, args: &[&str]) -> Vec<u8> {
        let mut argv = vec![name];
        argv.extend_from_slice(args);
        encode("s", &argv).unwrap()
    }

    /// berth's file scripts run inside the helper as functions, in a
    /// subshell each: their arguments arrive whole, their `cd`, `export`
    /// and `exit` stay theirs, and only the scripts berth sent are run.
    #[test]
    fn file_scripts_run_in_the_helper_and_keep_to_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let lock = format!("{root}/locks/app");
        let hostile = "{\"token\":\"t1\",\"note\":\"$(id) `id` \\n \u{1b}[2J\"}\nline two\\";
        let mut request = Vec::new();
        // Publish, lose the race, read the directory, release by token.
        request.extend(script(
            "publish_dir",
            &[
                &lock,
                &format!("{root}/.s1"),
                &format!("{root}/locks"),
                "holder.json",
                hostile,
            ],
        ));
        request.extend(script(
            "publish_dir",
            &[
                &lock,
                &format!("{root}/.s2"),
                &format!("{root}/locks"),
                "holder.json",
                "x",
            ],
        ));
        request.extend(script("read_dir", &[&lock]));
        // read_dir's `cd` did not move the helper: a relative path is
        // still relative to where it started.
        request.extend(encode("", &["pwd"]).unwrap());
        request.extend(script(
            "remove_dir_if",
            &[
                &lock,
                &format!("{root}/.g"),
                "holder.json",
                "\"token\":\"t2\"",
            ],
        ));
        request.extend(script(
            "remove_dir_if",
            &[
                &lock,
                &format!("{root}/.g"),
                "holder.json",
                "\"token\":\"t1\"",
            ],
        ));
        request.extend(script("read", &[&format!("{lock}/holder.json")]));
        // Not one of berth's scripts: the helper stops, running nothing.
        request.extend(script("rm", &["-rf", root]));
        request.extend(encode("", &["true"]).unwrap());
        let (answers, status) = converse(&request);
        let expected_pwd = format!("{}\n", std::env::current_dir().unwrap().display());
        let want: Vec<Answer> = vec![
            (0, vec![], vec![]),
            (3, vec![], vec![]),
            (
                0,
                format!("holder.json\n{}\n{hostile}", hostile.len()).into_bytes(),
                vec![],
            ),
            (0, expected_pwd.into_bytes(), vec![]),
            (4, vec![], vec![]),
            (0, vec![], vec![]),
            (3, vec![], vec![]),
        ];
        assert_eq!(answers, want);
        assert_eq!(status.code(), Some(2));
        assert!(dir.path().exists(), "the unknown script must not run");
        let left: Vec<_> = std::fs::read_dir(dir.path().join("locks"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "nothing left behind: {left:?}");
        for bad in ["Read", "read;id", "", "../read"] {
            let (answers, status) = converse(&script(bad, &["/"]));
            assert!(answers.is_empty() && status.code() == Some(2), "{bad:?}");
        }
    }

    /// The real helper script under the real `sh`, fed what `encode`
    /// makes: every argument comes back byte for byte, whatever it holds.
    #[test]
    fn arguments_reach_the_command_unchanged_through_the_real_script() {
        let hostile = [
            "plain",
            "",
            "with space",
            "line\nbreak\n",
            "\n",
            "back\\slash \\n \\\\n \\c \\0101 \\x41",
            "$(touch /tmp/berth-helper-pwned) `id` ; rm -rf / #",
            "'\"*?[a]~",
            "-n",
            "%b %s %%",
            "ünïcödé \u{1b}[31m",
            "trailing backslash\\",
        ];
        let mut request = Vec::new();
        for a in hostile {
            request.extend(encode("", &["printf", "%s", a]).unwrap());
        }
        request.extend(encode("", &["sh", "-c", "echo out; echo err >&2; exit 7"]).unwrap());
        request.extend(encode("", &["sh", "-c", "kill -9 $$"]).unwrap());
        let (answers, status) = converse(&request);
        assert!(status.success());
        let mut answers = answers.into_iter();
        let mut answer = || answers.next().unwrap();
        for a in hostile {
            assert_eq!(answer(), (0, a.as_bytes().to_vec(), Vec::new()), "{a:?}");
        }
        assert_eq!(answer(), (7, b"out\n".to_vec(), b"err\n".to_vec()));
        assert_eq!(answer().0, 137);
        assert!(answers.next().is_none());
        assert!(!std::path::Path::new("/tmp/berth-helper-pwned").exists());
    }

    #[test]
    fn heads_are_read_strictly() {
        assert_eq!(parse_head(b"0 12 0\n"), Some((0, 12, 0)));
        assert_eq!(parse_head(b"3      5       1\n"), Some((3, 5, 1)));
        assert_eq!(parse_head(b"0 12\n"), None);
        assert_eq!(parse_head(b"0 1 2 3\n"), None);
        assert_eq!(parse_head(b"x 1 2\n"), None);
        assert_eq!(parse_head(b"0 999999999999 0\n"), None);
        assert!(encode("", &[]).is_err());
        assert!(encode("", &["a\0b"]).is_err());
        assert_eq!(encode("", &["a\\b\nc"]).unwrap(), b"1\na\\\\b\\nc\n");
    }
}
