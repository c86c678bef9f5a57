//! Malformed configs, through the real binary: each gives exit code 2 and a
//! one-line error naming file:line:column.

use crate::common;

use common::berth_with_config;

const BASE: &str = "version: 2
hosts:
  local: {}
apps:
  demo:
    image: demo:v1
    roles:
      web:
        hosts: [local]
    deploy_timeout: 30s
";

/// Runs `berth config check` on `yaml` and returns (exit code, stderr).
fn check(yaml: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = berth_with_config(dir.path(), yaml, &["config", "check"]);
    let file = dir.path().join("berth.yaml").display().to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).trim_end().to_string();
    (out.status.code().unwrap(), stderr, file)
}

fn assert_error(yaml: &str, line_col: &str, needle: &str) {
    let (code, stderr, file) = check(yaml);
    assert_eq!(code, 2, "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    let prefix = format!("berth: {file}:{line_col}: ");
    assert!(
        stderr.starts_with(&prefix),
        "expected `{prefix}…`, got: {stderr}"
    );
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
}

#[test]
fn valid_config_passes() {
    let (code, stderr, _) = check(BASE);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.ends_with("is valid"), "{stderr}");
}

#[test]
fn bad_yaml() {
    assert_error(
        &BASE.replace("hosts: [local]", "hosts: [local"),
        "10:19",
        "invalid YAML: did not find expected ',' or ']', while parsing a flow sequence",
    );
}

#[test]
fn unknown_key_with_suggestion() {
    assert_error(
        &BASE.replace("    deploy_timeout: 30s", "    deploy_timeot: 30s"),
        "10:5",
        "unknown key `deploy_timeot`; did you mean `deploy_timeout`?",
    );
}

#[test]
fn underscore_app_name() {
    assert_error(
        &BASE.replace("  demo:", "  my_demo:"),
        "5:3",
        "did you mean `my-demo`?",
    );
}

#[test]
fn undeclared_host() {
    assert_error(
        &BASE.replace("hosts: [local]", "hosts: [lcoal]"),
        "9:17",
        "host `lcoal` is not declared under `hosts:`; did you mean `local`?",
    );
}

#[test]
fn bad_duration() {
    assert_error(
        &BASE.replace("30s", "30"),
        "10:21",
        "needs a unit: write `30s`",
    );
}

#[test]
fn missing_file_is_exit_2() {
    let out = common::berth()
        .args(["-c", "/nonexistent/berth.yaml", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/berth.yaml: cannot read"),
        "{stderr}"
    );
}

#[test]
fn old_schema_warns_and_loads() {
    let v1 = "version: 1\nhosts:\n  local: {}\napps:\n  demo:\n    image: x\n    servers:\n      web: {hosts: [local]}\n";
    let (code, stderr, file) = check(v1);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warning: {file}:7:5: `apps.demo.servers` is now `apps.demo.roles`"
        )),
        "{stderr}"
    );
}

#[test]
fn secrets_are_masked_in_config_check() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.env"), "API_TOKEN=hunter2-very-secret\n").unwrap();
    let yaml = format!(
        "secrets_file: s.env\n{}    env: {{secret: [API_TOKEN]}}\n",
        BASE
    );
    let out = berth_with_config(dir.path(), &yaml, &["config", "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("API_TOKEN=******** (set)"), "{stdout}");
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));

    // A named secret missing from the file: exit 2, pointing at the name.
    std::fs::write(dir.path().join("s.env"), "OTHER=1\n").unwrap();
    let out = berth_with_config(dir.path(), &yaml, &["config", "check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(":12:20: secret `API_TOKEN` is not in the secrets file"),
        "{stderr}"
    );
}

#[test]
fn zero_parallel_hosts() {
    let yaml = BASE.replace("hosts:\n  local", "parallel_hosts: 0\nhosts:\n  local");
    assert_error(&yaml, "2:17", "`parallel_hosts`: 0 must be at least 1");
}

#[test]
fn a_role_or_destination_with_no_hosts_is_refused_where_it_is_written() {
    assert_error(
        &BASE.replace("hosts: [local]", "hosts: []"),
        "9:16",
        "`apps.demo.roles.web.hosts`: lists no hosts",
    );
    let with_dest = format!(
        "{BASE}    destinations:\n      staging:\n        roles:\n          web: {{hosts: []}}\n"
    );
    assert_error(
        &with_dest,
        "14:24",
        "`apps.demo.destinations.staging.roles.web.hosts`: lists no hosts",
    );
}

#[test]
fn a_byte_order_mark_before_the_first_key_is_accepted() {
    let (code, stderr, _) = check(&format!("\u{feff}{BASE}"));
    assert_eq!(code, 0, "{stderr}");
    // ... and an error after it still points at the right place.
    assert_error(
        &format!(
            "\u{feff}{}",
            BASE.replace("hosts: [local]", "hosts: [nowhere]")
        ),
        "9:17",
        "host `nowhere` is not declared",
    );
}

/// `berth … | head -1`: the reader goes away after one line.
fn first_line_then_close(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = common::berth()
        .arg("-c")
        .arg(dir.join("berth.yaml"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(!line.is_empty(), "berth printed nothing for {args:?}");
    drop(out);
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough that berth is still writing when the reader has gone.
    let mut yaml = String::from("version: 2\nhosts:\n  local: {}\napps:\n");
    for i in 0..3000 {
        yaml.push_str(&format!(
            "  app{i}:\n    image: demo:v1\n    roles:\n      web: {{hosts: [local]}}\n    env: {{clear: {{A: \"{}\"}}}}\n",
            "x".repeat(64)
        ));
    }
    std::fs::write(dir.path().join("berth.yaml"), yaml).unwrap();
    let state = dir.path().join("state");
    std::fs::write(
        dir.path().join("berth.yaml"),
        std::fs::read_to_string(dir.path().join("berth.yaml"))
            .unwrap()
            .replace(
                "local: {}",
                &format!("local: {{state_dir: {}}}", state.display()),
            ),
    )
    .unwrap();
    for args in [
        &["config", "check"][..],
        &["lock", "status", "--json"],
        &["lock", "status"],
        &["plan", "deploy", "app1", "-V", "v2"],
    ] {
        let (code, stderr) = first_line_then_close(dir.path(), args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            matches!(code, Some(141) | Some(0)),
            "{args:?}: exit {code:?}, stderr: {stderr}"
        );
    }
}

/// The example that ships passes `config check` from a fresh copy of the
/// repository: only the files git tracks under config/, copied elsewhere
/// (so no secrets file a developer made by hand can help it).
#[test]
fn the_shipped_example_passes_config_check_from_a_fresh_copy() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let listed = std::process::Command::new("git")
        .args(["ls-files", "-z", "config"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(listed.status.success(), "git ls-files");
    let copy = tempfile::tempdir().unwrap();
    let mut copied = 0;
    for name in listed.stdout.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let to = copy.path().join(name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(name), &to).unwrap();
        copied += 1;
    }
    assert!(copied >= 2, "the example and its secrets file: {copied}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["config", "check"])
        .current_dir(copy.path())
        .env_remove("BERTH_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Found by default discovery, as a new user runs it.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("demo:"), "{stdout}");
}

/// `berth completions SHELL` prints a script the shell accepts, naming the
/// commands.
#[test]
fn completions_load_in_bash() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    for word in ["deploy", "rollback", "lock", "init", "status"] {
        assert!(script.contains(word), "{word}");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("berth.bash");
    std::fs::write(&file, &script).unwrap();
    let loaded = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p berth", file.display()))
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(String::from_utf8_lossy(&loaded.stdout).contains("berth"));
}

/// `berth man` prints a man page that man's formatter reads without a
/// warning, naming the commands.
#[test]
fn the_man_page_renders() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("man")
        .output()
        .unwrap();
    assert!(out.status.success());
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH berth 1"), "{page}");
    // The console's keys, from the key table the help and docs/keys.md
    // come from.
    assert!(page.contains(".SH \"CONSOLE KEYS\""), "{page}");
    assert!(
        page.contains("deploy (asks version) (\\fIdeploy\\fR)"),
        "{page}"
    );
    // One page: every command and subcommand under its full name, the exit
    // codes, and no pointer to a page that does not exist.
    for section in [
        ".SS \"berth status\"",
        ".SS \"berth lock acquire\"",
        ".SS \"berth container logs\"",
        ".SS \"berth compose down\"",
        ".SS \"berth images\"",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(section), "{section}");
    }
    assert!(
        !page.contains("(1)\n"),
        "no berth-x(1) pages are referred to: {page}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("berth.1");
    std::fs::write(&file, &page).unwrap();
    // groff (Debian's man formatter) says what it cannot read on stderr.
    let Ok(text) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww"])
        .arg(&file)
        .output()
    else {
        // No formatter on this machine: the page's roff is checked above.
        return;
    };
    assert!(text.status.success());
    assert!(
        text.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    // Bold and underline are overstruck (`s\bs`, `_\bs`): the letters alone.
    let raw = String::from_utf8_lossy(&text.stdout);
    let mut shown = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        shown.push(c);
    }
    for word in [
        "deploy",
        "rollback",
        "status",
        "completions",
        "man",
        "prune",
        "141",
    ] {
        assert!(shown.contains(word), "{word}: {shown}");
    }
}

/// Names on the command line are checked as they are parsed, with the same
/// rule and hint as in the config.
#[test]
fn a_bad_name_on_the_command_line_is_refused_with_a_hint() {
    for args in [
        &["deploy", "my_app", "-V", "v1"][..],
        &["plan", "restart", "my_app"][..],
        &["proxy", "show", "my_app"][..],
        &["deploy", "ok", "-d", "Stag_ing", "-V", "v1"][..],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("must be DNS labels"), "{args:?}: {stderr}");
        assert!(stderr.contains("did you mean `"), "{args:?}: {stderr}");
    }
}
