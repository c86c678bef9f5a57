use super::*;

fn me() -> Performer {
    Performer {
        user: "ana".into(),
        machine: "laptop".into(),
    }
}

#[tokio::test]
async fn one_holder_and_losers_see_it() {
    let t = tempfile::tempdir().unwrap();
    let dir = lock_dir(&HostPath::local(t.path()), "demo", "");
    let a = holder_for(&me(), "deploy", Some("v2".into()), None, false);
    acquire(&dir, &a, Duration::MAX).await.unwrap();
    let b = holder_for(
        &Performer {
            user: "bo".into(),
            machine: "ci".into(),
        },
        "restart",
        None,
        None,
        false,
    );
    let LockError::Held(s) = acquire(&dir, &b, Duration::MAX).await.unwrap_err() else {
        panic!()
    };
    assert_eq!(s.holder, a);
    let line = s.describe(Utc::now());
    assert!(line.starts_with("locked by ana@laptop (pid "), "{line}");
    assert!(line.contains("for deploy v2 since "), "{line}");
    assert!(!line.contains("STALE"));
    // Only the holder's token releases it.
    assert!(release(&dir, &b.token).await.is_err());
    release(&dir, &a.token).await.unwrap();
    assert!(read(&dir, Duration::MAX).await.unwrap().is_none());
    acquire(&dir, &b, Duration::MAX).await.unwrap();
}

#[tokio::test]
async fn stale_after_ttl_unless_manual() {
    let t = tempfile::tempdir().unwrap();
    let dir = lock_dir(&HostPath::local(t.path()), "demo", "staging");
    assert!(dir.path.ends_with("locks/demo@staging"));
    let mut h = holder_for(&me(), "deploy", None, None, false);
    h.acquired_at = Utc::now() - chrono::Duration::seconds(120);
    acquire(&dir, &h, Duration::MAX).await.unwrap();
    let s = read(&dir, Duration::from_secs(60)).await.unwrap().unwrap();
    assert!(s.stale);
    assert!(
        s.describe(Utc::now())
            .contains("STALE: no heartbeat for 2m")
    );
    heartbeat(&dir, &h.token).await.unwrap();
    assert!(
        !read(&dir, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap()
            .stale
    );
    let forced = force_release(&dir).await.unwrap().held().unwrap();
    assert_eq!(forced.holder, h);

    let mut m = holder_for(&me(), "manual", None, Some("db migration".into()), true);
    m.acquired_at = Utc::now() - chrono::Duration::seconds(3600);
    acquire(&dir, &m, Duration::MAX).await.unwrap();
    let s = read(&dir, Duration::from_secs(60)).await.unwrap().unwrap();
    assert!(!s.stale, "manual locks never go stale");
    assert!(
        s.describe(Utc::now())
            .contains("for manual lock: \"db migration\"")
    );
}

#[tokio::test]
async fn nested_calls_show_and_leave() {
    let t = tempfile::tempdir().unwrap();
    let dir = lock_dir(&HostPath::local(t.path()), "demo", "");
    let h = holder_for(&me(), "deploy", None, None, false);
    acquire(&dir, &h, Duration::MAX).await.unwrap();
    let n = Nested {
        action: "restart".into(),
        pid: 4242,
        since: Utc::now(),
        run: String::new(),
    };
    assert!(enter_nested(&dir, "wrong", &n).await.is_err());
    enter_nested(&dir, &h.token, &n).await.unwrap();
    let s = read(&dir, Duration::MAX).await.unwrap().unwrap();
    assert_eq!(s.nested, vec![n]);
    assert!(
        s.describe(Utc::now())
            .contains("nested: restart (pid 4242)")
    );
    leave_nested(&dir, 4242).await.unwrap();
    assert!(
        read(&dir, Duration::MAX)
            .await
            .unwrap()
            .unwrap()
            .nested
            .is_empty()
    );
}

#[test]
fn concurrent_acquires_have_one_winner() {
    let t = tempfile::tempdir().unwrap();
    let dir = lock_dir(&HostPath::local(t.path()), "demo", "");
    let wins: Vec<bool> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let dir = dir.clone();
                s.spawn(move || {
                    let mut h = holder_for(&me(), "deploy", None, None, false);
                    h.token = format!("{i:016}{}", h.token);
                    tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap()
                        .block_on(acquire(&dir, &h, Duration::MAX))
                        .is_ok()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(wins.iter().filter(|w| **w).count(), 1);
}

#[test]
fn a_run_whose_process_is_gone_from_this_machine_holds_a_dead_lock() {
    let here = Performer::current();
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let status = |machine: &str, pid: u32, manual: bool| {
        let mut h = holder_for(
            &Performer {
                user: "ana".into(),
                machine: machine.into(),
            },
            "deploy",
            Some("v2".into()),
            None,
            manual,
        );
        h.pid = pid;
        let files = [
            (HOLDER.to_string(), serde_json::to_vec(&h).unwrap()),
            (
                HEARTBEAT.to_string(),
                serde_json::to_vec(&Utc::now()).unwrap(),
            ),
        ];
        parse(
            &files,
            Duration::from_secs(60),
            Utc::now(),
            "berth lock release demo --force",
        )
        .unwrap()
        .unwrap()
    };
    let dead = status(&here.machine, gone_pid, false);
    assert!(!dead.stale, "its heartbeat is fresh");
    assert!(dead.holder_dead_here());
    let said = dead.describe(Utc::now());
    assert!(
        said.contains(&format!(
            "STALE: its process (pid {gone_pid}) is not running on this machine"
        )) && said.contains("`berth lock release demo --force` clears it"),
        "{said}"
    );
    // This process runs; another machine's pid means nothing here; a
    // manual lock's process ends by design.
    assert!(!status(&here.machine, std::process::id(), false).holder_dead_here());
    assert!(!status("elsewhere-not-this-one", gone_pid, false).holder_dead_here());
    assert!(!status(&here.machine, gone_pid, true).holder_dead_here());
}
