//! The console end to end: the real `berth` binary in a pseudo-terminal,
//! against the real Docker engine. The screen is read back through a
//! terminal emulator (vt100), keys are typed into the pty.

use crate::common;

use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth::engine::RunResult;
use common::Spec;
use common::app::{App, version_of};
use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

const WEB: &str = "      web: {hosts: [a], port: 8080}\n";

/// The console running in a pty, with its screen as a terminal shows it.
struct Console {
    screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte berth wrote to the terminal.
    raw: Arc<Mutex<Vec<u8>>>,
    writer: Box<dyn Write + Send>,
    /// The terminal's side of the pty (its size is set here).
    master: Box<dyn portable_pty::MasterPty + Send>,
    child: Box<dyn Child + Send + Sync>,
    /// Reads the terminal until the child is gone.
    reader: std::thread::JoinHandle<()>,
}

impl Console {
    fn spawn(config: &Path, args: &[&str], cols: u16, rows: u16) -> Console {
        Console::start(Some(config), None, args, &[], cols, rows)
    }

    fn spawn_with_env(config: &Path, env: &[(&str, &str)], cols: u16, rows: u16) -> Console {
        Console::start(Some(config), None, &[], env, cols, rows)
    }

    /// With no config anywhere: run in `dir`, which is also `$HOME`.
    fn spawn_without_config(dir: &Path, cols: u16, rows: u16) -> Console {
        let home = dir.to_str().unwrap();
        Console::start(None, Some(dir), &[], &[("HOME", home)], cols, rows)
    }

    fn start(
        config: Option<&Path>,
        cwd: Option<&Path>,
        args: &[&str],
        env: &[(&str, &str)],
        cols: u16,
        rows: u16,
    ) -> Console {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("opening a pty");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_berth"));
        if let Some(config) = config {
            cmd.arg("-c");
            cmd.arg(config);
        }
        if let Some(dir) = cwd {
            cmd.cwd(dir);
            cmd.env_remove("XDG_CONFIG_HOME");
        }
        for a in args {
            cmd.arg(a);
        }
        cmd.env("TERM", "xterm-256color");
        // berth's log is written, to nowhere: not the machine's ~/.local/state.
        cmd.env("BERTH_LOG_FILE", "/dev/null");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.env_remove("NO_COLOR");
        cmd.env_remove("BERTH_CONFIG");
        let child = pty.slave.spawn_command(cmd).expect("starting berth");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let writer = pty.master.take_writer().unwrap();
        let screen = Arc::new(Mutex::new(vt100::Parser::new(
            rows.try_into().unwrap(),
            cols.try_into().unwrap(),
            0,
        )));
        let parser = screen.clone();
        let raw = Arc::new(Mutex::new(Vec::new()));
        let written = raw.clone();
        let reader_thread = std::thread::spawn(move || {
            // Reads until the child is gone (EOF, or EIO on Linux).
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                parser.lock().unwrap().process(&buf[..n]);
                written.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Console {
            screen,
            raw,
            writer,
            master: pty.master,
            child,
            reader: reader_thread,
        }
    }

    fn contents(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Waits until the screen satisfies `ready`; fails with the screen.
    fn wait_for(&self, what: &str, timeout: Duration, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let text = self.contents();
            if ready(&text) {
                return text;
            }
            if Instant::now() > deadline {
                panic!("the console did not show {what} within {timeout:?}; the screen:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `/text` Enter: narrows the view to rows matching `text` (the engine
    /// may run many containers besides a test's own).
    fn filter(&mut self, text: &str) {
        self.keys("/");
        self.keys(text);
        self.keys("\r");
    }

    /// [`Console::filter`], then waits for a table row (not the title,
    /// which shows the filter's own text) holding `text` and satisfying
    /// `also`: a key typed before the row is there opens nothing.
    fn filter_to_row(
        &mut self,
        text: &str,
        timeout: Duration,
        also: impl Fn(&str) -> bool,
    ) -> String {
        self.filter(text);
        self.wait_for(&format!("a row with {text}"), timeout, |s| {
            rows(s).any(|l| l.contains(text) && also(l))
        })
    }

    /// The operator's window changes size (the terminal tells berth with
    /// SIGWINCH).
    fn resize(&mut self, cols: u16, rows: u16) {
        self.screen
            .lock()
            .unwrap()
            .screen_mut()
            .set_size(rows.try_into().unwrap(), cols.try_into().unwrap());
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
    }

    fn keys(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
        // A lone ESC is the Esc key only when it is read alone: followed
        // in the same read by `3` it is Alt+3, as in any terminal. Give
        // the console time to read it before the next key (a busy machine
        // would otherwise merge them).
        if keys == "\x1b" {
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// `q`: berth quits at once (nothing running) and exits 0.
    fn quit(&mut self) {
        self.keys("q");
        let status = self.wait_exit(Duration::from_secs(10));
        assert!(status.success(), "berth exited with {status:?}");
    }

    /// Waits for the process to exit, killing it after the deadline.
    fn wait_exit(&mut self, timeout: Duration) -> portable_pty::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // What berth wrote last (leaving the alternate screen, ...)
                // is on the screen once the reader has drained the pty.
                while !self.reader.is_finished() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "berth did not exit within {timeout:?}; the screen:\n{}",
                    self.contents()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_from_the_keyboard_reaches_ok_and_quits_cleanly() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "tui", WEB, "").await;
    app.image("v1", &[]).await;
    let (r, events) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    let before = app.running("web").await;
    assert_eq!(before.len(), 1);

    let mut console = Console::spawn(&app.config.path, &[], 100, 30);
    let name = app.name.clone();
    // The Apps view: the app with its web role serving, and its lock read
    // and free (locks are read beside the engines' lists, not with them: on
    // a busy machine the row can show before its lock does).
    let screen = console.wait_for(
        "the app serving, its lock free",
        Duration::from_secs(15),
        |s| {
            s.lines().any(|l| {
                l.contains(&name) && l.contains("web 1/1") && l.contains("v1") && l.contains("free")
            })
        },
    );
    assert!(
        screen.contains("free"),
        "the lock column shows free:\n{screen}"
    );
    assert!(console.screen.lock().unwrap().screen().alternate_screen());

    // The Containers view, narrowed to this test's app (the engine may run
    // many others, sick ones sorted first), shows it healthy.
    console.keys("3");
    console.filter(&name);
    // (A long name is cut in its middle: the row is found by its app,
    // role and version columns.)
    console.wait_for("the container healthy", Duration::from_secs(15), |s| {
        s.lines()
            .any(|l| l.contains(" v1 ") && l.contains("/web") && l.contains("healthy"))
    });

    // Restart from the keyboard: `r` on the app in the Apps view (on the
    // Containers view `r` restarts that one container), confirm.
    console.keys("2");
    console.filter(&name);
    console.keys("r");
    console.wait_for("the restart question", Duration::from_secs(5), |s| {
        s.contains(&format!("Restart {name}, one boot group"))
    });
    console.keys("y");
    // The run screen: the stage list reaches ok.
    let screen = console.wait_for("the restart finishing ok", Duration::from_secs(60), |s| {
        s.contains("ok in") || s.contains("FAILED") || s.contains("CANCELLED")
    });
    assert!(screen.contains(&format!("restart {name}")), "{screen}");
    assert!(screen.contains("ok in"), "the restart failed:\n{screen}");
    assert!(
        screen.contains("✓") && screen.contains("health gate web [1/1]"),
        "{screen}"
    );
    assert!(!screen.contains('✗'), "a stage failed:\n{screen}");

    // The container really was replaced, and still serves.
    let after = app.running("web").await;
    assert_eq!(after.len(), 1);
    assert_eq!(version_of(&after[0]), "v1");
    assert_ne!(after[0].id, before[0].id, "restart replaced the container");

    // Runs lists it; then q quits at once (nothing running) and the
    // terminal is left as it was found.
    console.keys("\x1b");
    console.keys("4");
    console.wait_for("the run in the Runs view", Duration::from_secs(5), |s| {
        s.lines()
            .any(|l| l.contains(&format!("restart {name}")) && l.contains("ok"))
    });
    console.quit();
    let screen = console.screen.lock().unwrap();
    assert!(
        !screen.screen().alternate_screen(),
        "left the alternate screen"
    );
    assert!(!screen.screen().hide_cursor(), "the cursor is shown again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_and_sighup_leaves_no_process() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "tro", WEB, "").await;
    app.image("v1", &[]).await;
    let (r, _) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok);

    let mut console = Console::spawn(&app.config.path, &["--read-only"], 80, 24);
    let name = app.name.clone();
    console.wait_for("the app", Duration::from_secs(15), |s| {
        s.contains(&name) && s.contains("READ-ONLY")
    });
    console.keys("D");
    let screen = console.wait_for("the refusal", Duration::from_secs(5), |s| {
        s.contains("read-only console: destroy refused")
    });
    assert!(!screen.contains("DESTROY"), "no destroy prompt:\n{screen}");

    // A dropped SSH session: SIGHUP must end berth, not leave it running.
    let pid = console.child.process_id().expect("child pid");
    let rc = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(rc.success());
    console.wait_exit(Duration::from_secs(10));
    assert_eq!(app.running("web").await.len(), 1, "nothing was changed");
}

/// A crash-looping container's log is followed through its restarts:
/// each run's lines, each restart marked with the exit code it died with,
/// never "the log stream ended" while Docker keeps restarting it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_containers_log_follows_it_across_restarts() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "tcl", WEB, "").await;
    let looper = common::Spec {
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "echo \"run $(cat /proc/uptime)\"; sleep 1; exit 3".into(),
        ]),
        no_healthcheck: true,
        restart_always: true,
        ..common::Spec::named("looper")
    };
    app.scope.start(looper).await;
    let name = format!("berth-t{}-looper", app.scope.id);
    let mut console = Console::spawn(&app.config.path, &[], 120, 40);
    console.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("1 Hosts")
    });
    console.keys("3");
    console.filter_to_row(&name, Duration::from_secs(20), |_| true);
    console.keys("\r");
    // Docker backs off 100 ms, 200 ms, 400 ms... between restarts: three
    // restarts come within ~6 s of one-second runs; a loaded engine gets 60.
    let screen = console.wait_for("three restarts marked", Duration::from_secs(60), |s| {
        s.matches("exited with 3 at").count() >= 3
    });
    assert!(!screen.contains("log stream ended"), "{screen}");
    // Each run's line is there once: a restart does not repeat the log.
    let runs: Vec<&str> = screen.lines().filter(|l| l.contains("run ")).collect();
    let mut unique = runs.clone();
    unique.sort();
    unique.dedup();
    assert!(runs.len() >= 3 && unique.len() == runs.len(), "{screen}");
    console.keys("q");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_log_follows_pauses_searches_and_stats_fill_the_columns() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "tlg", WEB, "").await;
    // A container that talks: a numbered line every 100 ms, and one line
    // with a colour and a window-title escape that must not reach the
    // terminal.
    let talker = common::Spec {
        cmd: Some(vec![
            "sh".into(),
            "-c".into(),
            "printf '\\033[31mred alert\\033[0m\\033]0;pwned\\007\\n'; i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 0.1; done".into(),
        ]),
        no_healthcheck: true,
        ..common::Spec::named("talker")
    };
    let id = app.scope.start(talker).await;
    let name = format!("berth-t{}-talker", app.scope.id);

    let mut console = Console::spawn(&app.config.path, &[], 120, 30);
    // Keys typed before the console is up would meet a cooked terminal.
    console.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("1 Hosts")
    });
    // The Containers view, narrowed to the talker: the engine may run many
    // other containers, and only those on screen get stats.
    console.keys("3");
    console.filter(&name);
    // Stats stream for the containers on screen: the row gets a CPU figure.
    let screen = console.wait_for("the talker's stats", Duration::from_secs(20), |s| {
        s.lines().any(|l| l.contains(&name) && l.contains('%'))
    });
    assert!(screen.contains("CPU") && screen.contains("MEM"), "{screen}");

    // Its log: follows, from the last lines.
    console.keys("\r");
    // However long the stats took to show (the container talks all along),
    // the pane fills with its newest lines.
    let screen = console.wait_for("the log following", Duration::from_secs(10), |s| {
        s.contains("following") && s.lines().filter(|l| l.contains("tick ")).count() >= 10
    });
    assert!(screen.contains(&id[..12]), "{screen}");
    // g: the top of the buffer, where the coloured line is, without colour
    // codes or the title.
    console.keys("g");
    let top = console.wait_for("the first line", Duration::from_secs(5), |s| {
        s.contains("PAUSED") && s.contains("red alert")
    });
    assert!(top.contains("tick 0"), "{top}");
    console.keys("G");
    console.wait_for("following", Duration::from_secs(5), |s| {
        s.contains("following") && !s.contains("red alert")
    });
    let raw = String::from_utf8_lossy(&console.raw.lock().unwrap()).into_owned();
    assert!(
        !raw.contains("pwned") && !raw.contains("\x1b]0;"),
        "the container's title escape reached the terminal"
    );

    // p pauses: the view stays put while lines arrive below it.
    console.keys("p");
    let paused = console.wait_for("new lines counted below", Duration::from_secs(5), |s| {
        s.contains("PAUSED") && s.contains("new below")
    });
    std::thread::sleep(Duration::from_millis(500));
    let later = console.contents();
    let last_tick = |s: &str| {
        s.lines()
            .filter_map(|l| l.split("tick ").nth(1))
            .filter_map(|n| n.trim_end_matches([' ', '│']).parse::<u64>().ok())
            .max()
    };
    assert_eq!(
        last_tick(&paused),
        last_tick(&later),
        "a paused log does not move"
    );

    // / searches (the view pauses on the newest match), G follows again.
    console.keys("/");
    console.keys("tick 7\r");
    console.wait_for("the search", Duration::from_secs(5), |s| {
        s.contains("/tick 7")
    });
    console.keys("G");
    let screen = console.wait_for("following again", Duration::from_secs(5), |s| {
        s.contains("following")
    });
    assert!(last_tick(&screen) > last_tick(&later), "{screen}");

    console.keys("\x1b");
    console.keys("\x1b");
    console.quit();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_console_task_restores_the_terminal_and_exits_non_zero() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "tpn", WEB, "").await;
    let mut console = Console::spawn_with_env(
        &app.config.path,
        &[
            ("BERTH_FAILPOINT", "console-task-panic"),
            ("RUST_BACKTRACE", "0"),
        ],
        80,
        24,
    );
    console.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("1 Hosts")
    });
    // The task panics half a second in: berth must end, not draw on.
    let status = console.wait_exit(Duration::from_secs(10));
    assert_eq!(status.exit_code(), 101, "{status:?}");
    let screen = console.screen.lock().unwrap();
    assert!(
        !screen.screen().alternate_screen(),
        "left the alternate screen"
    );
    assert!(!screen.screen().hide_cursor(), "the cursor is shown again");
    let text = String::from_utf8_lossy(&console.raw.lock().unwrap()).into_owned();
    let after = text.rsplit("\x1b[?1049l").next().unwrap_or_default();
    assert!(
        after.contains("failpoint console-task-panic")
            && after.contains("the console stopped on an internal error"),
        "the panic and what to do are said after the screen is restored: {text:?}"
    );
}

/// A title change, a clipboard write, a C1 CSI, a BEL: what a hostile
/// co-worker would plant in a record or a label.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}]52;c;ZXZpbA==\u{7}\u{9b}31mevil\u{7}";

/// Bytes of the console's output that only planted text could have put
/// there: the payloads, BEL, and C1 controls (UTF-8 `C2 80`–`C2 9F`).
fn planted(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    for payload in ["pwned", "ZXZpbA=="] {
        if text.contains(payload) {
            return Some(format!("the payload {payload:?}"));
        }
    }
    if raw.contains(&0x07) {
        return Some("a BEL".into());
    }
    raw.windows(2)
        .any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))
        .then(|| "a C1 control".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_lock_history_and_label_text_never_reaches_the_terminal() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "thx", WEB, "").await;
    let h = HOSTILE;
    let now = chrono::Utc::now();
    let state = app.dir.path().join("a");
    let lock = state.join("locks").join(&app.name);
    std::fs::create_dir_all(&lock).unwrap();
    let holder = serde_json::json!({
        "user": h, "machine": h, "pid": 1, "action": "manual", "version": h, "message": h,
        "acquired_at": now, "token": "0123456789abcdef", "manual": true,
    });
    std::fs::write(lock.join("holder.json"), holder.to_string()).unwrap();
    let record = serde_json::json!({
        "started_at": now, "finished_at": now,
        "performer": {"user": h, "machine": h},
        "action": "deploy", "app": app.name, "destination": "", "version": h, "result": "failed",
        "failed_stage": h, "error": format!("{h}\n{h}"), "note": h,
    });
    let history = state.join("apps").join(&app.name).join("history.jsonl");
    std::fs::create_dir_all(history.parent().unwrap()).unwrap();
    std::fs::write(&history, format!("{record}\n")).unwrap();
    // A container of another tool whose labels carry the same text.
    app.scope
        .start(common::Spec {
            no_healthcheck: true,
            cmd: Some(vec!["sleep".into(), "100000".into()]),
            ..common::Spec::named("hostile")
                .label("service", &format!("{}{h}", app.name))
                .label("role", h)
        })
        .await;

    let mut console = Console::spawn(&app.config.path, &[], 120, 30);
    let name = app.name.clone();
    // Apps: the lock holder and message, and the labelled app.
    console.wait_for("the lock holder", Duration::from_secs(15), |s| {
        s.lines().any(|l| l.contains(&name) && l.contains("evil"))
    });
    // Runs: the history line.
    console.keys("4");
    console.wait_for("the history line", Duration::from_secs(15), |s| {
        s.lines().any(|l| l.contains(&name) && l.contains("failed"))
    });
    // Each wait is for what only the new screen shows: a key sent before
    // the one before it was read would arrive with it, and ESC followed
    // by `3` in one read is Alt+3, not two keys.
    console.keys("\r");
    console.wait_for("the run's detail", Duration::from_secs(5), |s| {
        s.contains("evil") && s.contains("› run")
    });
    // Containers: the labelled container.
    console.keys("\x1b");
    console.wait_for("the Runs view again", Duration::from_secs(5), |s| {
        s.contains("runs [") && !s.contains("› run")
    });
    console.keys("3");
    console.wait_for("the Containers view", Duration::from_secs(5), |s| {
        s.contains("containers [")
    });
    console.filter(&name);
    console.wait_for("the labelled container", Duration::from_secs(15), |s| {
        s.contains("hostile")
    });
    console.keys("\r");
    console.wait_for("its details", Duration::from_secs(5), |s| {
        s.contains("owner") && s.contains("evil")
    });
    console.keys("\x1b");
    console.keys("q");
    console.wait_exit(Duration::from_secs(10));
    let raw = console.raw.lock().unwrap().clone();
    if let Some(what) = planted(&raw) {
        panic!(
            "{what} reached the terminal: {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_shows_each_problem_first_with_its_reason() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let incident = common::Incident::start(&scope).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, common::config(None, &incident.apps_yaml())).unwrap();

    let mut console = Console::spawn(&config, &[], 160, 40);
    console.wait_for("the console", Duration::from_secs(15), |s| {
        s.contains("1 Hosts")
    });
    // Containers, narrowed to this test's: the problems first, in words,
    // the retained version last and marked as kept.
    console.keys("3");
    console.wait_for("the Containers view", Duration::from_secs(5), |s| {
        s.contains("containers [")
    });
    console.filter(&format!("t{}-", scope.id));
    let screen = console.wait_for("every problem", Duration::from_secs(60), |s| {
        s.contains("OOM killed")
            && s.contains("last exit 1")
            && s.matches("unhealthy: ").count() >= 2
    });
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains(&format!("t{}-", scope.id)) && !l.contains("containers ["))
        .collect();
    assert_eq!(rows.len(), 6, "{screen}");
    let good_v2 = rows
        .iter()
        .position(|l| l.contains("good-v2"))
        .unwrap_or_default();
    for problem in ["-oom ", "-loop ", "-sick ", "-kml "] {
        let at = rows.iter().position(|l| l.contains(problem)).unwrap_or(99);
        assert!(
            at < good_v2,
            "{problem} sorts before what serves:\n{screen}"
        );
    }
    assert!(
        rows.last()
            .is_some_and(|l| l.contains("good-v1") && l.contains("retained")),
        "the kept version last, as kept:\n{screen}"
    );
    // Apps: each sick app marked, with what is wrong; the good one ok with
    // its retained version beside its role.
    // (narrowed to this test's apps: the engine may run many others)
    console.keys("\x1b");
    console.keys("2");
    console.wait_for("the Apps view", Duration::from_secs(5), |s| {
        s.contains("apps [")
    });
    console.filter(&format!("t{}-", scope.id));
    let mine = format!("t{}-", scope.id);
    let screen = console.wait_for("this test's apps", Duration::from_secs(5), |s| {
        s.lines().filter(|l| l.contains(&mine)).count() == 6 // 5 rows and the title
    });
    let row = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!(" {name} ")) || l.contains(&format!(" {name}?")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(row(&incident.good).contains("✓"), "{screen}");
    assert!(row(&incident.good).contains("retained v1"), "{screen}");
    for name in [&incident.sick, &incident.looping, &incident.oom] {
        let r = row(name);
        assert!(
            r.contains('✗') && r.contains("web 0/1") && r.contains("web: "),
            "{name}:\n{screen}"
        );
    }
    assert!(row(&incident.kamal).contains('✗'), "{screen}");
    console.keys("q");
    console.wait_exit(Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_action_that_lacks_what_it_needs_stops_before_the_lock() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let name = scope.app("tneedy");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let config = dir.path().join("berth.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 2\nsecrets_file: secrets.env\nhosts:\n  local: {{state_dir: {}}}\napps:\n  {name}:\n    image: x:latest\n    roles:\n      web: {{hosts: [local]}}\n    env: {{secret: [API_TOKEN]}}\n",
            state.display()
        ),
    )
    .unwrap();
    let mut console = Console::spawn(&config, &[], 120, 30);
    // The start-up check says it on the app's row.
    console.wait_for("the app's row", Duration::from_secs(15), |s| {
        s.lines()
            .any(|l| l.contains(&name) && l.contains("cannot deploy: the secrets file"))
    });
    console.keys("d");
    console.wait_for("the version question", Duration::from_secs(5), |s| {
        s.contains("version")
    });
    console.keys("v1\r");
    let screen = console.wait_for("the refusal", Duration::from_secs(15), |s| {
        s.contains("FAILED at `preflight`")
    });
    assert!(screen.contains("secrets file cannot be read"), "{screen}");
    assert!(
        !state.join("locks").join(&name).exists(),
        "refused before the lock"
    );
    console.keys("\x1b");
    console.keys("q");
    console.wait_exit(Duration::from_secs(10));
}

/// A `keys.yaml` beside the config rebinds deploy to `P`: `d` does
/// nothing, the help says the new key, `P` asks the version. A keymap
/// that gives a key two meanings is refused before the screen changes,
/// with its file, line and column, by the console and `config check` alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keymap_file_rebinds_deploy_and_a_clashing_one_is_refused() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let name = scope.app("tkeys");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 2\nhosts:\n  local: {{state_dir: {}}}\napps:\n  {name}:\n    image: x:latest\n    roles:\n      web: {{hosts: [local]}}\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let keys = dir.path().join("keys.yaml");
    std::fs::write(&keys, "# mine\ndeploy: P\n").unwrap();
    let mut console = Console::spawn(&config, &[], 120, 30);
    console.wait_for("the app's row", Duration::from_secs(15), |s| {
        s.lines().any(|l| l.contains(&name))
    });
    // `d` is free now: the `?` after it opens the help, not a prompt.
    console.keys("d?");
    let help = console.wait_for("the help", Duration::from_secs(5), |s| {
        s.contains("keys of this screen")
    });
    let line = help
        .lines()
        .find(|l| l.contains("deploy (asks version)"))
        .unwrap_or_else(|| panic!("{help}"));
    assert!(line.contains(" P "), "{help}");
    assert!(!help.contains("version:"), "{help}");
    console.keys(" ");
    console.keys("P");
    console.wait_for("the version question", Duration::from_secs(5), |s| {
        s.contains("version")
    });
    console.keys("\x1b");
    console.keys("q");
    console.wait_exit(Duration::from_secs(10));

    // A clash: deploy on `j`, which still moves down.
    std::fs::write(&keys, "# mine\ndeploy: j\n").unwrap();
    let mut console = Console::spawn(&config, &[], 120, 30);
    let status = console.wait_exit(Duration::from_secs(10));
    assert_eq!(status.exit_code(), 2);
    let said = console.contents();
    let want = format!("{}:2:9: deploy: `j` is already `down`", keys.display());
    assert!(said.contains(&want), "{said}");
    let raw = String::from_utf8_lossy(&console.raw.lock().unwrap()).into_owned();
    assert!(
        !raw.contains("\x1b[?1049h"),
        "the screen was never taken: {raw:?}"
    );
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-c", config.to_str().unwrap(), "config", "check"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(2));
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(err.contains(&want), "{err}");
}

/// With no config file anywhere (an empty working directory and `$HOME`),
/// berth shows the local engine as it is: a Compose project as an app (its
/// service a role, read-only) and a container of no tool as unmanaged, in
/// `status`, `status --json` and the console.
#[tokio::test]
async fn with_no_config_anywhere_the_local_engine_is_shown_grouped_and_init_proposes_it() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let project = scope.app("zc");
    scope
        .start(
            Spec::named("zc-web")
                .label("com.docker.compose.project", &project)
                .label("com.docker.compose.service", "web"),
        )
        .await;
    scope.start(Spec::named("stray").sleeper()).await;
    let stray = format!("berth-t{}-stray", scope.id);

    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .current_dir(dir.path())
            .env("HOME", dir.path())
            .env("BERTH_LOG_FILE", "/dev/null")
            .env_remove("BERTH_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap()
    };
    // A loaded engine may take its time to list: the default 10 s is for
    // an operator's patience, not a test's.
    let out = run(&["status", "--json", "--timeout", "60s"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let host = &json["hosts"][0];
    assert_eq!(host["name"], "local");
    let app = host["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["app"] == project.as_str())
        .unwrap_or_else(|| panic!("{project} among the apps: {json:#}"));
    assert_eq!(app["source"], "compose");
    assert_eq!(app["declared"], false);
    assert_eq!(app["roles"][0]["role"], "web");
    let unmanaged = host["unmanaged"].to_string();
    assert!(
        unmanaged.contains(&stray),
        "{stray} is unmanaged: {unmanaged}"
    );

    let out = run(&["status", "--timeout", "60s"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{project} (compose, read-only)")),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no config file found"), "{stderr}");

    // `berth init` in that empty directory: a starter config proposing the
    // Compose project (commented out) that `config check` accepts; a
    // second `init` refuses and changes nothing.
    let init_dir = tempfile::tempdir().unwrap();
    let init = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .current_dir(init_dir.path())
            .env("HOME", init_dir.path())
            .env_remove("BERTH_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .output()
            .unwrap()
    };
    let out = init(&["init"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(init_dir.path().join("berth.yaml")).unwrap();
    assert!(written.contains(&format!("#   {project}:\n")), "{written}");
    assert!(
        written.contains("#       web: {hosts: [local]"),
        "{written}"
    );
    let out = init(&["config", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = init(&["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("never overwrites"));
    assert_eq!(
        std::fs::read_to_string(init_dir.path().join("berth.yaml")).unwrap(),
        written
    );

    let mut console = Console::spawn_without_config(dir.path(), 120, 30);
    console.wait_for("the no-config note", Duration::from_secs(20), |s| {
        s.contains("no config: unix:///var/run/docker.sock")
    });
    console.filter_to_row(&project, Duration::from_secs(20), |l| l.contains("web"));
    console.keys("3");
    console.filter_to_row(&stray, Duration::from_secs(20), |_| true);
    console.keys("q");
    console.wait_exit(Duration::from_secs(10));
}

/// The rows of the screen's table: inside its borders, below its title
/// (which shows the filter's text, so it must never count as a row).
fn rows(screen: &str) -> impl Iterator<Item = &str> {
    screen.lines().filter(|l| l.starts_with('│'))
}

/// The name of the app's running container on `host`.
async fn container_on(app: &App, host: &str) -> String {
    app.running("web")
        .await
        .iter()
        .find(|c| common::label(c, "berth.host") == Some(host))
        .map(common::name)
        .unwrap_or_else(|| panic!("no running container on host {host}"))
}

/// Types `keys` until the screen shows `what` (a command whose answer can
/// lag an event, such as a window change, is asked again).
fn ask_until(console: &mut Console, keys: &str, what: &str, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    loop {
        console.keys(keys);
        std::thread::sleep(Duration::from_millis(300));
        let text = console.contents();
        if text.contains(what) {
            return text;
        }
        if Instant::now() > deadline {
            panic!("`{keys}` never showed {what} within {timeout:?}; the screen:\n{text}");
        }
    }
}

/// `s` on a container: the console steps aside for a shell in it, on the
/// local engine and then on an SSH host (through the host's forwarded
/// socket). The shell's terminal has the window's size and follows a
/// resize; on `exit` the console is back, redrawn and answering keys; each
/// shell is a line in the app's history. Then `berth exec -i` the same way,
/// with the shell's exit code as its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_in_a_container_from_the_console_and_exec_i_on_local_and_ssh_hosts() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let sshd = common::sshd::Sshd::start();
    let app = App::with_hosts(
        common::Scope::new(docker).await,
        "tsh",
        ["", &format!(", ssh: {}", sshd.host_yaml())],
        "      web: {hosts: [a, b], port: 8080}\n",
        "",
    )
    .await;
    app.image("v1", &[]).await;
    let (r, events) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    let name = app.name.clone();

    let mut console = Console::spawn(&app.config.path, &[], 120, 30);
    console.wait_for("the app serving", Duration::from_secs(20), |s| {
        s.lines()
            .any(|l| l.contains(&name) && l.contains("web 2/2"))
    });
    for host in ["a", "b"] {
        let container = container_on(&app, host).await;
        console.keys("3");
        console.filter(&container);
        console.wait_for("the container", Duration::from_secs(20), |s| {
            s.lines()
                .any(|l| l.contains(&container) && l.contains("healthy"))
        });
        console.keys("s");
        // The test image has no bash: its /bin/sh.
        console.wait_for("the shell", Duration::from_secs(20), |s| {
            s.contains(&format!(
                "berth: `/bin/sh` in {container} on {host}; exit it to return to the console"
            ))
        });
        assert!(
            !console.screen.lock().unwrap().screen().alternate_screen(),
            "the shell has the normal screen"
        );
        console.keys("echo $((6*7))-from-$(hostname)\r");
        console.wait_for("the command's output", Duration::from_secs(10), |s| {
            s.contains("42-from-")
        });
        ask_until(
            &mut console,
            "stty size\r",
            "30 120",
            Duration::from_secs(10),
        );
        console.resize(100, 40);
        ask_until(
            &mut console,
            "stty size\r",
            "40 100",
            Duration::from_secs(10),
        );
        console.resize(120, 30);
        console.keys("exit\r");
        let screen = console.wait_for("the console back", Duration::from_secs(15), |s| {
            s.contains(&format!("shell in {container} on {host} ended: exit 0"))
        });
        assert!(
            console.screen.lock().unwrap().screen().alternate_screen(),
            "the console is on its own screen again"
        );
        assert!(!screen.contains("42-from-"), "redrawn whole:\n{screen}");
        // It answers keys: the Apps view.
        console.keys("2");
        console.wait_for("the Apps view", Duration::from_secs(10), |s| {
            s.lines()
                .any(|l| l.contains(&name) && l.contains("web 2/2"))
        });
    }
    console.quit();

    // Headless: `berth exec -i` on host b, in a pty of its own.
    let mut exec = Console::spawn(
        &app.config.path,
        &["exec", "-i", &name, "--host", "b"],
        100,
        30,
    );
    let container_b = container_on(&app, "b").await;
    exec.wait_for("the shell", Duration::from_secs(20), |s| {
        s.contains(&format!("berth: `/bin/sh` in {container_b} on b"))
    });
    ask_until(&mut exec, "stty size\r", "30 100", Duration::from_secs(10));
    exec.keys("exit 7\r");
    let status = exec.wait_exit(Duration::from_secs(15));
    assert_eq!(status.exit_code(), 7, "the shell's exit code is berth's");

    // Three shells, three history lines: who, where, which container.
    let out = common::berth()
        .args([
            "-c",
            app.config.path.to_str().unwrap(),
            "history",
            &name,
            "--json",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let execs: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["action"] == "exec")
        .collect();
    let notes: Vec<&str> = execs.iter().filter_map(|v| v["note"].as_str()).collect();
    for (host, container, code) in [
        ("a", container_on(&app, "a").await, 0),
        ("b", container_b.clone(), 0),
        ("b", container_b, 7),
    ] {
        let want = format!("`/bin/sh` (interactive) in {host}: {container} (exit {code})");
        assert!(
            notes.contains(&want.as_str()),
            "{want} in {notes:#?}\n{text}"
        );
    }
}

/// `o` on an app: its containers on hosts a and b in one log, each line
/// behind its host and container; a container restarted in place is
/// followed again, with berth's notes saying so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apps_merged_log_in_the_console_follows_both_hosts_and_a_restart() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let roles = "      web: {hosts: [a, b], healthcheck: false, command: [sh, -c, 'i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done']}\n";
    let app = App::with_v1(scope, "tml", roles).await;
    let name = app.name.clone();
    let (on_a, on_b) = (container_on(&app, "a").await, container_on(&app, "b").await);
    let mut console = Console::spawn(&app.config.path, &[], 120, 30);
    console.wait_for("the app", Duration::from_secs(20), |s| {
        s.lines()
            .any(|l| l.contains(&name) && l.contains("web 2/2"))
    });
    console.keys("2");
    console.filter(&name);
    console.keys("o");
    console.wait_for("both containers' lines", Duration::from_secs(20), |s| {
        s.contains(&format!("{name} logs · 2 running · following"))
            && s.contains(&format!("a/{on_a} | tick"))
            && s.contains(&format!("b/{on_b} | tick"))
    });

    // Restarted in place (same id): its stream ends, and it is attached
    // again from the engine's start event.
    let out = std::process::Command::new("docker")
        .args(["restart", "-t", "0", &on_b])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each note on its own: ten lines a second scroll the first off the
    // screen in about 3 s, and on a loaded engine the restart takes longer.
    console.wait_for("the old stream's end", Duration::from_secs(20), |s| {
        s.contains(&format!("── b/{on_b}: its log ended"))
    });
    console.wait_for("the restart followed", Duration::from_secs(20), |s| {
        s.contains(&format!("── b/{on_b}: started; following its log"))
    });
    // Its new lines come after the note (it counts from 0 again).
    console.wait_for("its new lines", Duration::from_secs(20), |s| {
        let after = s
            .split(&format!("── b/{on_b}: started; following its log"))
            .nth(1)
            .unwrap_or_default();
        after.contains(&format!("b/{on_b} | tick"))
    });
    console.keys("\x1b");
    console.wait_for("the Apps view again", Duration::from_secs(10), |s| {
        !s.contains("› logs")
    });
    console.quit();
}

/// `--mouse`: the console takes the mouse (the terminal is told), a click
/// on a tab switches to it, `M` gives the mouse back, and quitting leaves
/// the terminal with no mouse reporting on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_mouse_a_click_switches_views_and_m_gives_the_mouse_back() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = App::new(scope, "tms", WEB, "").await;
    let mut console = Console::spawn(&app.config.path, &["--mouse"], 100, 30);
    console.wait_for("the Apps view", Duration::from_secs(15), |s| {
        s.contains(&app.name)
    });
    let raw = |c: &Console| c.raw.lock().unwrap().clone();
    let on = b"\x1b[?1000h";
    assert!(
        raw(&console).windows(on.len()).any(|w| w == on),
        "mouse reporting asked for"
    );
    // A left click (SGR encoding, 1-based) on "3 Containers" in the tab row.
    console.keys("\x1b[<0;20;2M\x1b[<0;20;2m");
    console.wait_for("the Containers view", Duration::from_secs(10), |s| {
        s.contains("containers [")
    });
    console.keys("M");
    console.wait_for("the mouse given back", Duration::from_secs(10), |s| {
        s.contains("mouse off")
    });
    let off = b"\x1b[?1000l";
    assert!(raw(&console).windows(off.len()).any(|w| w == off));
    // Now a click is the terminal's: berth does not move.
    console.keys("\x1b[<0;12;2M\x1b[<0;12;2m");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        console.contents().contains("containers ["),
        "{}",
        console.contents()
    );
    console.quit();
}

/// A Kamal app (from its deploy file, named in berth.yaml) and a Dokku
/// host beside berth's own: their locks in the Apps view, Kamal's audit
/// log in the Runs view, and a mutating key says what to run instead.
/// Hostile text planted in every file of theirs berth reads (an audit
/// line, a Dokku app's name and lock, a build record) never reaches the
/// terminal, nor the CLI's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kamal_and_dokku_locks_and_history_show_in_the_console() {
    use crate::kamal_live::{BUILD_ID, DokkuHost, HOLDER, KamalFleet};
    let Some(scope) = common::scope().await else {
        return;
    };
    let fleet = KamalFleet::start(&scope).await;
    let dokku = DokkuHost::start();
    let h = HOSTILE;
    let log = fleet.homes[1]
        .path()
        .join(format!(".kamal/{}-staging-audit.log", fleet.service));
    let mut audit = std::fs::read_to_string(&log).unwrap();
    audit.push_str(&format!(
        "[{}] [{h}] [staging] [{h}] Ran {h} evil\n",
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
    ));
    std::fs::write(&log, audit).unwrap();
    let data = dokku.data.path().join("data");
    let evil = data.join(format!("apps/evil{h}"));
    std::fs::create_dir_all(&evil).unwrap();
    std::fs::write(evil.join(".deploy.lock"), h).unwrap();
    std::fs::write(
        data.join("builds/blog/0lsx2k1a0bbbbb.json"),
        serde_json::json!({
            "id": format!("0lsx2k1a0bbbbb{h}"), "app": "blog", "kind": format!("build{h}"),
            "pid": 1, "started_at": "2026-11-20T10:30:00Z", "status": "failed",
            "source": h, "exit_code": 2,
        })
        .to_string(),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.yaml");
    std::fs::write(
        &config,
        format!(
            "version: 2\nhosts:\n  dokku-1: {{ssh: {}}}\nkamal:\n  - {{file: {}, destinations: [staging]}}\n",
            dokku.sshd.host_yaml(),
            fleet.repo.path().join("config/deploy.yml").display()
        ),
    )
    .unwrap();
    let env = fleet.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut console = Console::spawn_with_env(&config, &env, 200, 40);
    console.wait_for("the console", Duration::from_secs(30), |s| {
        s.contains("1 Hosts")
    });
    console.keys("2");
    // This test's apps: the Kamal app and the Dokku host's (the engine
    // they share may run many others).
    console.filter(&format!("^({}|shop|blog|docs|evil)", fleet.service));
    console.wait_for(
        "Kamal's lock and Dokku's, read on their hosts",
        Duration::from_secs(30),
        |s| {
            s.contains(&format!("{HOLDER} \"Hotfix"))
                && s.contains("LEFT OVER pid 4242")
                && s.contains(&format!("build {BUILD_ID}"))
                && s.contains("dokku apps:lock")
        },
    );
    console.wait_for("the planted Dokku app", Duration::from_secs(10), |s| {
        s.contains("evil") && s.contains("LEFT OVER pid")
    });
    console.keys("4");
    console.wait_for("Kamal's audit log", Duration::from_secs(20), |s| {
        s.contains("kamal: Deployed app version")
            && s.contains("dokku: build")
            && s.contains("kamal: Ran 31mevil evil")
    });
    console.keys("2");
    console.filter(&fleet.service);
    console.keys("d");
    console.wait_for("what to run instead", Duration::from_secs(10), |s| {
        s.contains("kamal deploy -d staging")
    });
    console.quit();
    let raw = console.raw.lock().unwrap().clone();
    if let Some(what) = planted(&raw) {
        panic!(
            "{what} reached the terminal: {:?}",
            String::from_utf8_lossy(&raw)
        );
    }
    // With no berth.yaml at all, in the app's repository: Kamal's config
    // alone gives the console its two hosts, the app and its lock.
    let mut alone = Console::start(
        None,
        Some(fleet.repo.path()),
        &["-d", "staging"],
        &env,
        200,
        40,
    );
    alone.wait_for("the console", Duration::from_secs(30), |s| {
        s.contains("1 Hosts")
    });
    alone.keys("2");
    alone.filter(&fleet.service);
    alone.wait_for("the Kamal app and its lock", Duration::from_secs(30), |s| {
        s.contains("berth 2 hosts")
            && rows(s)
                .any(|l| l.contains(&fleet.service) && l.contains(&format!("{HOLDER} \"Hotfix")))
    });
    alone.quit();
    // The command line reads the same files.
    for args in [
        &["lock", "status"][..],
        &["history", "blog"],
        &["history", &fleet.service],
        &["lock", "status", "--json"],
    ] {
        let out = common::berth()
            .arg("-c")
            .arg(&config)
            .envs(fleet.env())
            .args(args)
            .output()
            .unwrap();
        let all = [out.stdout.clone(), out.stderr.clone()].concat();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("evil") || args[0] == "history",
            "{args:?}: {}",
            String::from_utf8_lossy(&all)
        );
        if let Some(what) = planted(&all) {
            panic!(
                "{what} in `berth {args:?}`: {:?}",
                String::from_utf8_lossy(&all)
            );
        }
    }
}

/// A dead host (every packet dropped) and a hung one (sshd stopped) in
/// the fleet: the console answers keys at once the whole time, shows the
/// live hosts' apps, and a lock taken on a live host reaches the screen
/// on the next refresh, never held back by the dead hosts' deadlines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_answers_keys_at_once_while_hosts_are_dead_or_hung() {
    use crate::common::fleet::{Link, Rig};
    let rig = Rig::start(
        4,
        Link {
            rtt: Duration::from_millis(30),
            jitter: Duration::ZERO,
        },
    );
    rig.host("h03").black_hole();
    rig.host("h04").hang();
    let dir = tempfile::tempdir().unwrap();
    let id = fastrand::u32(..);
    let (live, dead) = (format!("live{id:x}"), format!("dead{id:x}"));
    let mut yaml = "version: 2\nhosts:\n".to_string();
    yaml.push_str(&rig.hosts_yaml());
    yaml.push_str(&format!(
        "apps:\n  {live}:\n    image: none:v1\n    roles:\n      web: {{hosts: [h01, h02]}}\n  {dead}:\n    image: none:v1\n    roles:\n      web: {{hosts: [h03, h04]}}\n"
    ));
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, yaml).unwrap();

    let mut console = Console::spawn(&config, &[], 120, 30);
    console.wait_for("the apps", Duration::from_secs(10), |s| {
        s.contains(&live) && s.contains(&dead)
    });
    // Keys while the bad hosts are still inside their connect deadline
    // (and then retried): each view switch is on the screen at once.
    let mut answers = Vec::new();
    for _ in 0..6 {
        for (key, shows) in [("1", "LINK"), ("2", "ROLES")] {
            let start = Instant::now();
            console.keys(key);
            while !console.contents().contains(shows) {
                assert!(
                    start.elapsed() < Duration::from_secs(2),
                    "key {key} unanswered:\n{}",
                    console.contents()
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            answers.push(start.elapsed());
        }
    }
    answers.sort();
    let median = answers[answers.len() / 2];
    eprintln!(
        "key answers: median {median:?}, slowest {:?}",
        answers.last()
    );
    // Each key was answered within 2 s, far inside the bad hosts' connect
    // deadline: nothing waits for them. How fast is a figure, not a test:
    // printed above, and measured by `benches/console_live.rs`.
    // The bad hosts are shown unreachable, with why.
    console.keys("1");
    console.wait_for("the dead hosts", Duration::from_secs(30), |s| {
        s.contains("(2 unreachable)")
    });
    // A lock taken elsewhere on the live app shows on the next refresh.
    let start = Instant::now();
    let out = common::berth_at(&config, &["lock", "acquire", &live, "-m", "rig check"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    console.keys("2");
    console.wait_for("the lock", Duration::from_secs(14), |s| {
        s.lines().any(|l| {
            l.contains(&live) && l.contains(&berth::engine::history::Performer::current().user)
        })
    });
    eprintln!("lock on screen after {:?}", start.elapsed());
    console.quit();
}

/// Fills the engine's event history (a ring of its last 256 events) with
/// `n` events of this test's own: tags of its image, each then removed.
async fn flood_event_history(scope: &common::Scope, n: usize) {
    use bollard::query_parameters::{RemoveImageOptions, TagImageOptions};
    use futures_util::StreamExt;
    // Eight at a time: on a loaded engine one by one took longer than the
    // crash loop stays up.
    futures_util::stream::iter(0..n / 2)
        .for_each_concurrent(8, |i| async move {
            let repo = format!("berth-t{}-flood", scope.id);
            let tag = format!("e{i}");
            scope
                .docker
                .tag_image(
                    &scope.image,
                    Some(TagImageOptions {
                        repo: Some(repo.clone()),
                        tag: Some(tag.clone()),
                    }),
                )
                .await
                .unwrap();
            scope
                .docker
                .remove_image(&format!("{repo}:{tag}"), None::<RemoveImageOptions>, None)
                .await
                .unwrap();
        })
        .await;
}

/// A crash loop among 200 strangers, caught while it is up
/// after its engine forgot why it last went down: an inspect then says
/// exit 0 and the engine's event history no longer holds its `die`.
/// `status --json` and the console still tell the code it keeps dying
/// with, and the console keeps it once the container is up again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_loops_last_exit_is_told_after_the_engine_forgot_it() {
    use futures_util::StreamExt;
    let Some(scope) = common::scope().await else {
        return;
    };
    // Other projects' services, two hundred of them.
    let strangers: Vec<String> = futures_util::stream::iter(0..200)
        .map(|i| {
            let scope = &scope;
            async move {
                scope
                    .start(Spec {
                        // Up, not restarting: two hundred containers dying
                        // and restarting at once deadlocked Docker 20.10's
                        // network controller (every later create hung). The
                        // history is turned over by the flood below.
                        cmd: Some(vec!["sleep".into(), "1000000".into()]),
                        no_healthcheck: true,
                        ..Spec::named(&format!("stranger{i}"))
                            .label("com.docker.compose.project", &format!("t{}-s{i}", scope.id))
                            .label("com.docker.compose.service", "web")
                    })
                    .await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert_eq!(strangers.len(), 200);
    let app = scope.app("loop");
    let id = scope
        .start(Spec {
            // Up 20 s each time: long enough to flood the engine's history
            // while it is up, even on a loaded engine; over 10 s, so the
            // engine restarts it at once rather than backing off.
            cmd: Some(vec!["sh".into(), "-c".into(), "sleep 20; exit 7".into()]),
            no_healthcheck: true,
            restart_always: true,
            ..Spec::named("loop").berth(&app, "web", "v1")
        })
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("berth.yaml");
    let apps = format!("  {app}:\n    image: x\n    roles:\n      web: {{hosts: [local]}}\n");
    std::fs::write(&config, common::config(None, &apps)).unwrap();

    // The hard case, made: up again after two or more restarts, and its
    // last `die` pushed out of the engine's history by 300 newer events.
    let up = || async {
        let c = scope.engine.inspect(&id).await.unwrap().unwrap();
        (c.state == berth::domain::State::Running && c.restart_count >= 2).then_some(c)
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen = String::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "the crash loop was never caught up with its last exit forgotten within 180s; last seen: {seen}"
        );
        let Some(c) = up().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        assert_eq!(
            c.exit_code, None,
            "the engine says no exit code while it is up"
        );
        flood_event_history(&scope, 300).await;
        let died = c.finished_at.unwrap().timestamp();
        let remembered = scope
            .engine
            .recent_exits(
                died - 1,
                chrono::Utc::now().timestamp() + 1,
                Duration::from_secs(30),
            )
            .await
            .unwrap();
        let still = up().await;
        seen = format!(
            "{c:?}, the history holds its die: {}",
            remembered.contains_key(&id)
        );
        if !remembered.contains_key(&id) && still.is_some_and(|s| s.started_at == c.started_at) {
            break;
        }
    }

    // status waits, within its deadline, for the next exit: it is soon.
    let out = common::berth_at(
        &config,
        // A deadline for a dead host, not a busy one: on a loaded CI
        // engine a run of `sleep 8` was seen reported up for 35 s.
        &["status", "--json", "--app", &app, "--timeout", "120s"],
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let c = &json["hosts"][0]["apps"][0]["roles"][0]["containers"][0];
    assert_eq!(
        (c["crash_loop"].as_bool(), c["exit_code"].as_i64()),
        (Some(true), Some(7)),
        "{json:#}"
    );
    assert!(
        c["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("last exit 7"),
        "{c:#}"
    );
    assert!(c["exit_code_unknown"].is_null(), "{c:#}");

    // The console, started while it is up with its exit forgotten again.
    // Up again, after more restarts than `than` (within 2 minutes).
    let up_after = |than: i64| async move {
        let until = Instant::now() + Duration::from_secs(120);
        loop {
            match up().await {
                Some(c) if c.restart_count > than => break c,
                _ => {
                    assert!(
                        Instant::now() < until,
                        "never up again after {than} restarts"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    };
    let c = up_after(0).await;
    flood_event_history(&scope, 300).await;
    let mut console = Console::spawn(&config, &[], 160, 40);
    console.wait_for("the console", Duration::from_secs(30), |s| {
        s.contains("1 Hosts")
    });
    console.keys("3");
    console.wait_for("the Containers view", Duration::from_secs(10), |s| {
        s.contains("containers [")
    });
    console.filter(&format!("berth-t{}-loop", scope.id));
    console.wait_for("its last exit", Duration::from_secs(90), |s| {
        s.contains("last exit 7")
    });
    // Up again after that exit: the engine says 0 again; the console
    // still shows 7, with the newer restart count.
    let after = up_after(c.restart_count).await;
    let restarts = format!("{} restarts", after.restart_count);
    let screen = console.wait_for(
        "the restart, still with its exit",
        Duration::from_secs(120),
        |s| s.contains(&restarts),
    );
    assert!(screen.contains("last exit 7"), "{screen}");
    console.keys("q");
    console.wait_exit(Duration::from_secs(10));
}

/// A console over a fleet of 10,000 apps still answers a closed terminal
/// (SIGHUP) and a `kill` (SIGTERM) at once: signals come before anything
/// else the console has to do, and a burst of messages is applied as one
/// batch. (The time it takes is measured by `scripts/console-signals`;
/// here the deadline is only what a wait must have.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_over_ten_thousand_apps_ends_on_sighup_and_sigterm() {
    let Some(_docker) = common::docker().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut yaml = format!(
        "version: 2\nhosts:\n  a: {{state_dir: {}/a}}\napps:\n",
        dir.path().display()
    );
    for i in 0..10_000 {
        yaml.push_str(&format!(
            "  big{i:05}:\n    image: big:latest\n    roles:\n      web: {{hosts: [a], port: 8080}}\n"
        ));
    }
    let config = dir.path().join("berth.yaml");
    std::fs::write(&config, yaml).unwrap();
    for signal in ["-HUP", "-TERM"] {
        let mut console = Console::spawn(&config, &[], 120, 30);
        console.wait_for("the fleet", Duration::from_secs(60), |s| {
            s.contains("big00000")
        });
        let pid = console.child.process_id().expect("child pid");
        let rc = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap();
        assert!(rc.success());
        console.wait_exit(Duration::from_secs(10));
        // Whatever the signal, the terminal is given back.
        assert!(
            !console.screen.lock().unwrap().screen().alternate_screen(),
            "{signal}: the alternate screen was left"
        );
    }
}
