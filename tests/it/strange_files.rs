//! Every file berth reads from the operator's side, planted as what is not
//! a regular file (a FIFO, which would block a read forever; a device that
//! never ends; a directory): each is refused at once with its name, never
//! waited on, never read until memory runs out.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

/// Runs berth; a run still going after 20 s is killed and fails the test
/// (what the bug looks like: a read that never returns).
fn run(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> (Option<i32>, String) {
    let mut cmd = common::berth();
    cmd.current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_remove("BERTH_CONFIG")
        .env_remove("BERTH_KEYS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let said = String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr);
            return (status.code(), said);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("berth {args:?} {env:?} still reading after 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fifo(path: &Path) -> PathBuf {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success());
    path.to_path_buf()
}

const CONFIG: &str = "version: 2\nhosts:\n  local: {}\napps: {}\n";

#[test]
fn a_config_a_deploy_file_secrets_and_keys_that_are_not_files_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pipe = fifo(&d.join("pipe.yaml"));
    let zero = PathBuf::from("/dev/zero");
    std::fs::create_dir(d.join("adir")).unwrap();
    let adir = d.join("adir");

    // The config itself: -c, BERTH_CONFIG, --kamal.
    for bad in [&pipe, &zero, &adir] {
        let shown = bad.display().to_string();
        let b = bad.to_str().unwrap();
        for (args, env) in [
            (vec!["-c", b, "config", "check"], vec![]),
            (
                vec!["config", "check"],
                vec![("BERTH_CONFIG", bad.as_path())],
            ),
            (vec!["--kamal", b, "config", "check"], vec![]),
        ] {
            let (code, said) = run(d, &args, &env);
            assert_eq!(code, Some(2), "{args:?} {env:?}: {said}");
            assert!(
                said.contains(&shown)
                    && (said.contains("not a regular file") || said.contains("a directory")),
                "{args:?} {env:?}: {said}"
            );
        }
    }

    // What a good config points at: its secrets file, its keys.yaml.
    let cfg = d.join("berth.yaml");
    for bad in [&pipe, &zero, &adir] {
        std::fs::write(&cfg, format!("{CONFIG}secrets_file: {}\n", bad.display())).unwrap();
        let (code, said) = run(d, &["-c", cfg.to_str().unwrap(), "config", "check"], &[]);
        assert_eq!(code, Some(2), "secrets {}: {said}", bad.display());
        assert!(said.contains(&bad.display().to_string()), "{said}");

        std::fs::write(&cfg, CONFIG).unwrap();
        let (code, said) = run(
            d,
            &["-c", cfg.to_str().unwrap(), "config", "check"],
            &[("BERTH_KEYS", bad.as_path())],
        );
        assert_eq!(code, Some(2), "keys {}: {said}", bad.display());
        assert!(said.contains(&bad.display().to_string()), "{said}");
    }
    // A keys.yaml beside the config that is a FIFO.
    std::fs::write(&cfg, CONFIG).unwrap();
    fifo(&d.join("keys.yaml"));
    let (code, said) = run(d, &["-c", cfg.to_str().unwrap(), "config", "check"], &[]);
    assert_eq!(code, Some(2), "{said}");
    assert!(said.contains("keys.yaml"), "{said}");
}

/// A deploy file that is fine, and a dotenv file Kamal would load that is
/// a FIFO: refused at once, naming it.
#[test]
fn a_kamal_secrets_file_that_is_a_fifo_is_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("config")).unwrap();
    std::fs::create_dir_all(d.join(".kamal")).unwrap();
    std::fs::write(
        d.join("config/deploy.yml"),
        "service: shop\nimage: acme/shop\nservers: [\"<%= ENV['HOST'] %>\"]\n",
    )
    .unwrap();
    fifo(&d.join(".kamal/secrets"));
    let (code, said) = run(d, &["--kamal", "config/deploy.yml", "config", "check"], &[]);
    assert_ne!(code, Some(0), "{said}");
    assert!(
        said.contains("HOST"),
        "the variable it could not read: {said}"
    );
}
