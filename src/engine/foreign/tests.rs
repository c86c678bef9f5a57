use super::*;
use crate::config::kamal::KamalApp;

fn app(dest: Option<&str>) -> KamalApp {
    KamalApp::on_one_host("shop", dest, "10.0.0.7")
}

/// Ruby's `Base64.encode64`: a newline every 60 characters, and one at the end.
fn encode64(text: &str) -> String {
    use base64::Engine;
    let flat = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = String::new();
    for chunk in flat.as_bytes().chunks(60) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out
}

#[test]
fn reads_kamal_lock_details_as_kamal_writes_them() {
    let text = "Locked by: Ana Líma at 2026-11-22T10:00:00Z\nVersion: 3f2a9c1\nMessage: Hotfix für die Kasse \u{1b}[31m";
    let details = encode64(text);
    assert!(details.lines().count() > 1, "wrapped: {details}");
    let l = kamal_details(
        &app(Some("staging")),
        "h1",
        "p".into(),
        Some(details.as_bytes()),
    );
    assert_eq!(l.holder.as_deref(), Some("Ana Líma"));
    assert_eq!(
        l.since,
        Some(Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap())
    );
    assert_eq!(l.version.as_deref(), Some("3f2a9c1"));
    // The message's escape sequence is cleaned away.
    assert_eq!(l.message.as_deref(), Some("Hotfix für die Kasse"));
    assert_eq!(l.destination, "staging");
    assert_eq!(l.clear_with, "kamal lock release -d staging");
    let now = Utc.with_ymd_and_hms(2026, 11, 22, 10, 5, 0).unwrap();
    let line = l.describe(now);
    assert!(
        line.starts_with("locked by Ana Líma 5m ago: \"Hotfix für die Kasse\""),
        "{line}"
    );
    assert!(line.contains("kamal lock release -d staging"), "{line}");

    // Not base64, or no details yet: still held, said so.
    let l = kamal_details(&app(None), "h1", "p".into(), Some(b"\x1b]0;x\x07!!"));
    assert!(l.message.unwrap().contains("not Kamal's base64"));
    let l = kamal_details(&app(None), "h1", "p".into(), None);
    assert!(l.message.unwrap().contains("not written yet"));
}

#[test]
fn reads_kamal_audit_lines() {
    let log =
        b"[2026-11-20T10:00:00Z] [ana@example.com] [staging] [web] Booted app version 3f2a9c1\n\
[2026-11-20T10:01:00Z] [ana@example.com] [staging] Deployed app version 3f2a9c1\n\
not an audit line\n\
[garbage] [x] y\n\
[2026-11-20T10:02:00Z] [bo\x1b[2J] [staging] Released the deploy lock\n";
    let records = parse_audit(&app(Some("staging")), "h1", log);
    assert_eq!(records.len(), 3);
    assert_eq!(records[0].action, "Booted app version 3f2a9c1");
    assert_eq!(records[0].version.as_deref(), Some("3f2a9c1"));
    assert_eq!(records[0].note.as_deref(), Some("on h1; web"));
    assert_eq!(records[0].performer.to_string(), "ana@example.com");
    assert_eq!(records[1].note, None);
    assert_eq!(records[1].destination, "staging");
    assert_eq!(records[2].performer.user, "bo");
    assert!(records.iter().all(|r| r.tool == "kamal" && r.app == "shop"));
}

fn hex(b: &[u8]) -> String {
    if b.is_empty() {
        return "-".into();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn reads_dokku_locks_and_builds() {
    // st_dev 0xfd01 is 253:1 (fd:01), as /proc/locks prints it.
    let dev = 0xfd01u64;
    assert_eq!((dev_major(dev), dev_minor(dev)), (0xfd, 0x01));
    let big = (0x103u64 << 8) | (0x12345u64 & 0xff) | ((0x12345u64 & !0xff) << 12);
    assert_eq!((dev_major(big), dev_minor(big)), (0x103, 0x12345));
    let build = br#"{"id":"0lsx2k3q9abcde","app":"blog","kind":"build","pid":4242,"started_at":"2026-11-20T10:00:00Z","finished_at":"2026-11-20T10:02:00Z","status":"failed","source":"git-hook","exit_code":1}"#;
    let raw = format!(
        "dokku\napp {}\napp {}\nlock {} {dev} 77 1763632800 {}\nlock {} {dev} 78 1763632800 {}\nlock {} {dev} 79 1763632800 -\n\
flock fd:01:77\nflock 00:2f:78\nbuild {} {}\nbuild {} 7b7d\nlock zz\n",
        hex(b"blog"),
        hex(b"shop"),
        hex(b"blog"),
        hex(b"0lsx2k3q9abcde\n"),
        hex(b"shop"),
        hex(b"pid-4242"),
        hex(b"wiki"),
        hex(b"blog"),
        hex(build),
        hex(b"blog"),
    );
    let s = parse_dokku("d1", "ssh://root@d1:/var/lib/dokku/data", raw.as_bytes());
    assert_eq!(s.apps, vec!["blog", "shop"]);
    assert_eq!(s.locks.len(), 3);
    let blog = &s.locks[0];
    assert_eq!((blog.app.as_str(), blog.left_over), ("blog", false));
    assert_eq!(blog.holder.as_deref(), Some("build 0lsx2k3q9abcde"));
    assert_eq!(blog.clear_with, "dokku apps:unlock blog");
    // Held on another device with the same inode is not this file.
    let shop = &s.locks[1];
    assert!(shop.left_over, "{shop:?}");
    assert_eq!(shop.holder.as_deref(), Some("pid 4242"));
    let wiki = &s.locks[2];
    assert!(!wiki.left_over);
    assert_eq!(wiki.holder.as_deref(), Some("dokku apps:lock"));
    assert_eq!(s.builds.len(), 1, "the bad record is skipped");
    let b = &s.builds[0];
    assert_eq!((b.action.as_str(), b.result.as_str()), ("build", "failed"));
    assert_eq!(b.error.as_deref(), Some("exit 1"));
    assert_eq!(b.run, "0lsx2k3q9abcde");
    assert_eq!(b.tool, "dokku");
    assert_eq!(b.finished_at - b.started_at, chrono::Duration::minutes(2));
}

#[test]
fn no_panic_on_any_bytes() {
    for raw in [
        &b"dokku\nlock"[..],
        b"lock a b c d e",
        b"lock 6 1 2 3 4",
        b"flock ::",
        b"flock zz:zz:zz",
        b"build 00 0",
        b"build 00 \xff\xfe",
        b"\xff\xfe\n\n",
    ] {
        let _ = parse_dokku("h", "p", raw);
        let _ = parse_audit(&app(None), "h", raw);
        let _ = kamal_details(&app(None), "h", "p".into(), Some(raw));
    }
}

/// A details file of a megabyte (a message pasted whole, a holder name
/// that never ends): every field is bounded as it is read.
#[test]
fn a_huge_kamal_details_file_gives_bounded_fields() {
    let text = format!(
        "Locked by: {} at 2026-11-22T10:00:00Z\nVersion: v\nMessage: {}\n",
        "a".repeat(300_000),
        "m".repeat(1_000_000)
    );
    let l = kamal_details(
        &app(None),
        "h1",
        "p".into(),
        Some(encode64(&text).as_bytes()),
    );
    let message = l.message.unwrap_or_default();
    assert_eq!(
        message.chars().count(),
        crate::engine::lock::MESSAGE_KEPT + 1
    );
    assert!(message.ends_with('…'));
    assert!(l.holder.unwrap_or_default().chars().count() <= crate::sanitize::LINE_KEPT + 1);
}
