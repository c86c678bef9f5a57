//! Every read-only command with its stdout a file, a closed pipe and a
//! terminal: the same exit code to a file and to a terminal, output in
//! both, and to a pipe closed at once either that code or 141 (the reader
//! went away), never a panic, never a control sequence berth did not mean.

use std::io::Read;
use std::path::Path;
use std::process::Stdio;

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

use crate::common;

fn base(dir: &Path) -> std::process::Command {
    let mut c = common::berth();
    c.current_dir(dir)
        .arg("-c")
        .arg(dir.join("berth.yaml"))
        .stdin(Stdio::null())
        .env_remove("BERTH_CONFIG");
    c
}

/// (exit code, stdout, stderr) with stdout a file.
fn to_file(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let path = dir.join("out.txt");
    let file = std::fs::File::create(&path).unwrap();
    let out = base(dir).args(args).stdout(file).output().unwrap();
    (
        out.status.code(),
        std::fs::read_to_string(&path).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (exit code, stderr) with stdout a pipe nobody reads, closed at once.
fn to_closed_pipe(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = base(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// (exit code, what the terminal got) with stdout and stderr a pty.
fn to_terminal(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 50,
            cols: 160,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_berth"));
    cmd.cwd(dir);
    cmd.arg("-c");
    cmd.arg(dir.join("berth.yaml"));
    for a in args {
        cmd.arg(a);
    }
    cmd.env("TERM", "xterm-256color");
    cmd.env("BERTH_LOG_FILE", "/dev/null");
    cmd.env_remove("BERTH_CONFIG");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let read = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 8192];
        // Until the child is gone (EOF, or EIO on Linux).
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    });
    let status = child.wait().unwrap();
    drop(pty.master);
    let got = read.join().unwrap();
    (
        Some(status.exit_code() as i32),
        String::from_utf8_lossy(&got).into_owned(),
    )
}

#[tokio::test]
async fn every_read_only_command_to_a_file_a_closed_pipe_and_a_terminal() {
    if common::docker().await.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        format!(
            "version: 2\nhosts:\n  local: {{state_dir: {}}}\napps:\n  quiet:\n    image: quiet\n    roles:\n      web: {{hosts: [local]}}\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let commands: &[&[&str]] = &[
        &["config", "check"],
        &["config", "check", "--json"],
        &["status", "--app", "quiet"],
        &["status", "--app", "quiet", "--json"],
        &["lock", "status"],
        &["lock", "status", "--json"],
        &["history", "quiet"],
        &["history", "quiet", "--json"],
        &["hosts", "check"],
        &["hosts", "check", "--json"],
        &["plan", "deploy", "quiet", "-V", "v1"],
        &["plan", "--json", "deploy", "quiet", "-V", "v1"],
        &["container", "history"],
        &["networks"],
        &["networks", "--json"],
        &["keys"],
        &["man"],
        &["--help"],
    ];
    for args in commands {
        let (code, out, err) = to_file(dir.path(), args);
        // (JSON lines of nothing is no line: `history --json` of an app
        // with none.)
        assert!(
            (!out.is_empty() || args.contains(&"--json")) && !err.contains("panicked"),
            "{args:?} to a file: exit {code:?}\n{out}\n{err}"
        );
        // Berth's colours only on a terminal: a file gets none.
        assert!(
            !out.contains('\u{1b}'),
            "{args:?}: an escape in a file:\n{out}"
        );
        if args.contains(&"--json") {
            // One JSON document, or one per line.
            let whole = serde_json::from_str::<serde_json::Value>(&out).is_ok();
            let lines = out
                .lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok());
            assert!(whole || lines, "{args:?}: not JSON:\n{out}");
        }

        let (piped, err) = to_closed_pipe(dir.path(), args);
        assert!(
            piped == code || piped == Some(141),
            "{args:?} to a closed pipe: exit {piped:?} (to a file {code:?})\n{err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");

        let (term, shown) = to_terminal(dir.path(), args);
        assert_eq!(term, code, "{args:?} to a terminal:\n{shown}");
        assert!(
            !shown.trim().is_empty() || out.is_empty(),
            "{args:?}: nothing on the terminal"
        );
    }
}
