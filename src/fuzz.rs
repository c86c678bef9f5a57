//! Entry points for the fuzz targets (`fuzz/`) and the property tests:
//! each takes arbitrary bytes to one of berth's parsers of outside input,
//! renders what it got the way berth shows it, and panics if anything a
//! terminal would act on survived, or if the parser itself panics.
//! Not part of berth's interface.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::sanitize::is_clean;

fn assert_clean(what: &str, text: &str) {
    assert!(is_clean(text), "{what} is not clean: {text:?}");
}

/// Bytes → the text cleaner: the result is clean, and cleaning is idempotent.
pub fn clean(bytes: &[u8]) {
    let once = crate::sanitize::clean_bytes(bytes);
    assert_clean("clean_bytes", &once);
    assert_eq!(crate::sanitize::strip_controls(&once), once, "idempotent");
    let line = crate::sanitize::one_line(&String::from_utf8_lossy(bytes));
    assert_clean("one_line", &line);
    assert!(!line.contains('\n'), "one_line keeps no newline: {line:?}");
}

/// Config text → load → a plan of every action for every app, destination
/// and role named, declared or not: whatever loads can be planned, or is
/// refused with an error, never a panic.
pub fn config_then_plan(text: &str) {
    config_split(text);
    let Ok(config) = crate::config::parse(Path::new("fuzz.yaml"), text) else {
        return;
    };
    plan_everything(&config);
}

/// Config text read app by app (as a large file is) means what it means
/// read whole: wherever the split read takes a file on, the whole read
/// takes it too and gives the same fleet.
pub fn config_split(text: &str) {
    use crate::config::FleetFile;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let Some(split) = crate::config::split::read(text) else {
        return;
    };
    let whole: FleetFile = match serde_yaml::from_str(text) {
        Ok(whole) => whole,
        Err(e) => panic!("read split but not whole ({e}): {text:?}"),
    };
    let shown = |f: &FleetFile| serde_yaml::to_string(f).unwrap_or_else(|e| e.to_string());
    assert_eq!(
        shown(&split),
        shown(&whole),
        "split and whole differ: {text:?}"
    );
}

/// Every action the CLI or the console can ask for, planned.
pub fn plan_everything(config: &crate::config::Config) {
    use crate::config::{AppName, DestinationName, RoleName};
    use crate::engine::{Action, Version};
    let version = Version::new("v2").ok();
    for (app, app_cfg) in &config.fleet.apps {
        let mut dests: Vec<Option<DestinationName>> = vec![None];
        dests.extend(app_cfg.destinations.keys().cloned().map(Some));
        dests.extend(DestinationName::new("undeclared").ok().map(Some));
        let mut roles: Vec<Option<RoleName>> = vec![None];
        roles.extend(app_cfg.roles.keys().cloned().map(Some));
        roles.extend(RoleName::new("undeclared").ok().map(Some));
        for destination in &dests {
            let mut actions = vec![
                Action::Rollback {
                    app: app.clone(),
                    version: None,
                    destination: destination.clone(),
                },
                Action::Destroy {
                    app: app.clone(),
                    destination: destination.clone(),
                    confirm: app.to_string(),
                    purge_volumes: true,
                },
                Action::ProxySync {
                    app: app.clone(),
                    destination: destination.clone(),
                },
            ];
            if let Some(v) = &version {
                actions.push(Action::Deploy {
                    app: app.clone(),
                    version: v.clone(),
                    destination: destination.clone(),
                });
            }
            for role in &roles {
                actions.push(Action::Restart {
                    app: app.clone(),
                    role: role.clone(),
                    destination: destination.clone(),
                });
            }
            for action in &actions {
                if let Ok(plan) = crate::engine::plan(config, action) {
                    let _ = serde_json::to_string(&plan);
                }
            }
            let _ = config.proxy(app, destination.as_ref());
        }
    }
    // An app that is not declared is refused, never looked up blindly.
    if let Ok(app) = AppName::new("not-declared-anywhere") {
        let action = Action::Restart {
            app,
            role: None,
            destination: None,
        };
        assert!(crate::engine::plan(config, &action).is_err());
    }
}

/// Bytes → the files of a lock directory (split on NUL: name, content,
/// name, content, …) → the lock parser → the line every front end shows.
pub fn lock_record(bytes: &[u8]) {
    let mut parts = bytes.split(|b| *b == 0);
    let mut files = Vec::new();
    while let (Some(name), Some(content)) = (parts.next(), parts.next()) {
        files.push((String::from_utf8_lossy(name).into_owned(), content.to_vec()));
    }
    let now = chrono::Utc::now();
    match crate::engine::lock::parse(
        &files,
        Duration::from_secs(60),
        now,
        "berth lock release x --force",
    ) {
        Ok(Some(status)) => {
            assert_clean("the lock's line", &status.describe(now));
            let json = serde_json::to_string(&status).unwrap_or_default();
            assert_clean("the lock's JSON", &json);
            assert!(
                !json.contains("\"token\""),
                "the token is never shown: {json}"
            );
        }
        Ok(None) => {}
        Err(problem) => assert_clean("the broken lock's problem", &problem),
    }
}

/// Bytes → a history file → records → every field as printed.
pub fn history(bytes: &[u8]) {
    let (records, problems) = crate::engine::history::parse("fuzz", bytes);
    for p in &problems {
        assert_clean("a history problem", p);
    }
    for r in &records {
        let json = serde_json::to_string(r).unwrap_or_default();
        assert_clean("a history record's JSON", &json);
        for text in [&r.action, &r.app, &r.destination, &r.result, &r.run] {
            assert_clean("a history field", text);
        }
        for text in [&r.version, &r.failed_stage, &r.error, &r.note]
            .into_iter()
            .flatten()
        {
            assert_clean("a history field", text);
        }
        assert_clean("the performer", &r.performer.to_string());
    }
}

/// A Kamal app for the Kamal targets.
fn kamal_app() -> crate::config::kamal::KamalApp {
    crate::config::kamal::KamalApp::on_one_host("shop", Some("staging"), "h")
}

/// Every text of another tool's lock, as shown.
fn assert_clean_lock(what: &str, l: &crate::engine::foreign::ForeignLock) {
    assert_clean(what, &l.describe(chrono::Utc::now()));
    for text in [&l.app, &l.destination, &l.host, &l.path, &l.clear_with] {
        assert_clean(what, text);
    }
    for text in [&l.holder, &l.version, &l.message].into_iter().flatten() {
        assert_clean(what, text);
    }
}

/// Every text of a history record, as shown.
fn assert_clean_record(what: &str, r: &crate::engine::history::Record) {
    for text in [
        &r.action,
        &r.app,
        &r.destination,
        &r.result,
        &r.run,
        &r.tool,
    ] {
        assert_clean(what, text);
    }
    for text in [&r.version, &r.failed_stage, &r.error, &r.note]
        .into_iter()
        .flatten()
    {
        assert_clean(what, text);
    }
    assert_clean(what, &r.performer.to_string());
}

/// Bytes → a Kamal lock's `details` file, and an audit log → what is shown.
/// Bytes → a Kamal deploy file (ERB, YAML as Psych reads it, the reader):
/// an app or an error, never a panic, and what it says is clean.
pub fn kamal_config(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let env = |n: &str| (n == "SET").then(|| "10.0.0.1\u{1b}]0;x\u{7}".to_string());
    match crate::config::kamal::load_text(&text, &env) {
        Ok(app) => {
            for h in app.hosts() {
                assert!(!h.starts_with('-'), "a host is never an option: {h:?}");
            }
            assert_clean("a Kamal service", &crate::sanitize::one_line(&app.service));
        }
        Err(e) => assert_clean("a Kamal config error", &e.to_string()),
    }
}

pub fn kamal_lock(bytes: &[u8]) {
    let app = kamal_app();
    let lock = crate::engine::foreign::kamal_details(&app, "h", "p".into(), Some(bytes));
    assert_clean_lock("a Kamal lock", &lock);
    for r in crate::engine::foreign::parse_audit(&app, "h", bytes) {
        assert_clean_record("a Kamal audit line", &r);
    }
}

/// Bytes → what the Dokku state script printed (app names, lock files and
/// build records, /proc/locks lines) → what is shown.
pub fn dokku_lock(bytes: &[u8]) {
    let state = crate::engine::foreign::parse_dokku("h", "p", bytes);
    for l in &state.locks {
        assert_clean_lock("a Dokku lock", l);
    }
    for a in &state.apps {
        assert_clean("a Dokku app", a);
    }
    for r in &state.builds {
        assert_clean_record("a Dokku build", r);
    }
}

/// Bytes → a container name and labels (split on NUL: name, then key,
/// value, …) → who runs it, as the inventory cleans and classifies it.
pub fn labels(bytes: &[u8]) {
    let mut parts = bytes.split(|b| *b == 0).map(String::from_utf8_lossy);
    let name = parts.next().unwrap_or_default().into_owned();
    let mut map = HashMap::new();
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        map.insert(k.into_owned(), v.into_owned());
    }
    let name = crate::sanitize::one_line(&name);
    let owner = crate::docker::convert::owner(&name, Some(map));
    let json = serde_json::to_string(&owner).unwrap_or_default();
    assert_clean("a container's owner", &json);
    for text in [
        &owner.app,
        &owner.role,
        &owner.version,
        &owner.phase,
        &owner.host,
        &owner.run,
    ]
    .into_iter()
    .flatten()
    {
        assert_clean("an owner field", text);
    }
}

#[cfg(test)]
mod tests {
    //! The fuzz entry points, driven here by a seeded generator so that
    //! every `cargo test` runs them on thousands of inputs (the fuzz
    //! targets in `fuzz/` go further, guided by coverage).

    /// xorshift64*: deterministic, so a failure names its seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items
                .get(self.below(items.len()))
                .copied()
                .unwrap_or_default()
        }
        fn chance(&mut self, percent: usize) -> bool {
            self.below(100) < percent
        }
        /// A host list: mostly declared hosts, sometimes none or an undeclared one.
        fn hosts(&mut self) -> String {
            let mut chosen: Vec<&str> =
                ["a", "b"].into_iter().filter(|_| self.chance(60)).collect();
            if chosen.is_empty() && self.chance(80) {
                chosen.push("a");
            }
            if self.chance(5) {
                chosen.push("zz");
            }
            format!("[{}]", chosen.join(", "))
        }
    }

    const ROLES: &[&str] = &["web", "worker", "cron"];

    /// A config from berth's grammar, with holes on purpose: hosts and
    /// roles that are not declared, empty lists, zero and odd limits,
    /// missing images, proxies on missing roles.
    fn config(rng: &mut Rng) -> String {
        let mut y = String::from("version: 2\nhosts:\n  a: {}\n");
        if rng.chance(70) {
            y.push_str("  b: {}\n");
        }
        if rng.chance(10) {
            y.push_str("  c: {ssh: {host: 127.0.0.1, port: 1}}\n");
        }
        y.push_str("apps:\n");
        for app in ["shop", "blog"].iter().take(rng.below(2) + 1) {
            y.push_str(&format!("  {app}:\n"));
            match rng.below(20) {
                0 => {}
                1 => y.push_str("    image: x:1\n    build: {context: .}\n"),
                2..6 => y.push_str("    build: {context: .}\n"),
                _ => y.push_str("    image: x:1\n"),
            }
            let mut roles: Vec<&str> = ROLES.iter().copied().filter(|_| rng.chance(50)).collect();
            if roles.is_empty() && rng.chance(90) {
                roles.push("web");
            }
            y.push_str("    roles:\n");
            if roles.is_empty() {
                y.push_str("      {}\n");
            }
            for r in &roles {
                let port = if rng.chance(50) { ", port: 8080" } else { "" };
                let hc = rng.pick(&[
                    "",
                    ", healthcheck: false",
                    ", healthcheck: {command: [true]}",
                ]);
                y.push_str(&format!(
                    "      {r}: {{hosts: {}{port}{hc}}}\n",
                    rng.hosts()
                ));
            }
            if rng.chance(15) {
                y.push_str(&format!("    primary_role: {}\n", rng.pick(ROLES)));
            }
            if rng.chance(40) {
                y.push_str("    destinations:\n");
                for d in ["staging", "prod"].iter().take(rng.below(2) + 1) {
                    y.push_str(&format!("      {d}:\n        roles:\n"));
                    let r = rng.pick(ROLES);
                    y.push_str(&format!("          {r}: {{hosts: {}}}\n", rng.hosts()));
                    if rng.chance(30) {
                        y.push_str("        proxy: {listen: 8081}\n");
                    }
                }
            }
            if rng.chance(40) {
                let role = rng.pick(&["", "", "", "role: web, ", "role: cron, ", "role: nope, "]);
                y.push_str(&format!(
                    "    proxy: {{{role}domains: [x.test], listen: {}}}\n",
                    rng.pick(&["80", "8080", "8080", "0"])
                ));
            }
            if rng.chance(40) {
                y.push_str(&format!(
                    "    boot: {{limit: {}}}\n",
                    rng.pick(&["0", "1", "\"50%\"", "\"0%\"", "\"250%\"", "-1"])
                ));
            }
            if rng.chance(30) {
                y.push_str("    release: {command: [bin/migrate]}\n");
            }
            if rng.chance(30) {
                y.push_str("    env: {clear: {A: b}, secret: [TOKEN]}\n");
            }
            if rng.chance(20) {
                y.push_str(&format!(
                    "    retain: {}\n",
                    rng.pick(&["0", "1", "100000"])
                ));
            }
        }
        y
    }

    #[test]
    fn whatever_loads_can_be_planned_for_every_action_without_a_panic() {
        let mut loaded = 0;
        for seed in 1..=3000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let text = config(&mut rng);
            if crate::config::parse(std::path::Path::new("p.yaml"), &text).is_ok() {
                loaded += 1;
            }
            super::config_then_plan(&text);
        }
        assert!(
            loaded > 100,
            "the generator reaches valid configs: {loaded}"
        );
    }

    /// Bytes that matter to parsers and terminals, mixed with text.
    fn hostile(rng: &mut Rng) -> Vec<u8> {
        let pieces: &[&[u8]] = &[
            b"\x1b]0;t\x07", b"\x1b[2J", b"\x1b]52;c;ZQ==\x07", b"\xc2\x9b31m", b"\x1bP", b"\x1b\\",
            b"\x00", b"\r", b"\n", b"{", b"}", b"\"", b":", b",", b"[", b"]", b"user", b"\xff",
            b"{\"user\":\"\x1b]0;x\x07\",\"machine\":\"m\",\"pid\":1,\"action\":\"deploy\",\"acquired_at\":\"2026-01-01T00:00:00Z\",\"token\":\"t\",\"manual\":false}",
            b"holder.json", b"heartbeat", b"nested-1.json", b"\"2099-01-01T00:00:00Z\"",
            b"berth.managed", b"true", b"berth.app", b"service", b"com.dokku.app-name", b"role",
            b"TG9ja2VkIGJ5OiBBbmEgG10wO3gHCg==", b"1: FLOCK  ADVISORY  WRITE 1 fd:01:42 0 EOF",
            b"service: s\n", b"servers:\n", b"  - ", b"<%= ", b" %>", b"<% ", b"ENV[\"SET\"]",
            b"ENV.fetch('X') { 'd' }", b" || ", b"`x`", b"<% if x %>", b"<% else %>", b"<% end %>",
            b"# ", b"'", b"\xef\xbb\xbf", b"\xe2\x9f\xa6erb1\xe2\x9f\xa7", b"accessories:\n  a:\n    host: ",
            b"Dotenv.load('.env')", b"web: ", b"  ",
        ];
        let mut out = Vec::new();
        for _ in 0..rng.below(24) {
            out.extend_from_slice(
                pieces
                    .get(rng.below(pieces.len()))
                    .copied()
                    .unwrap_or_default(),
            );
        }
        out
    }

    #[test]
    fn every_parser_of_outside_text_gives_clean_text_for_hostile_bytes() {
        for seed in 1..=5000u64 {
            let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
            let bytes = hostile(&mut rng);
            super::clean(&bytes);
            super::lock_record(&bytes);
            super::history(&bytes);
            super::kamal_lock(&bytes);
            super::kamal_config(&bytes);
            super::dokku_lock(&bytes);
            super::labels(&bytes);
        }
    }

    #[test]
    fn found_by_the_fuzzer() {
        // A holder whose token held a DEL; and its token was shown.
        super::lock_record(include_bytes!(
            "../fuzz/corpus/lock_record/regression-token-control"
        ));
    }

    #[test]
    fn a_hostile_history_record_reads_back_clean() {
        let bytes = br#"{"started_at":"2026-01-01T00:00:00Z","finished_at":"2026-01-01T00:00:00Z","performer":{"user":"\u001b]0;x\u0007","machine":"m\u009b"},"action":"deploy\u001b[2J","app":"a","version":"v\r1","result":"ok","failed_stage":null,"error":"a\nb\u0007"}"#;
        super::history(bytes);
        let (records, _) = crate::engine::history::parse("t", bytes);
        assert_eq!(records.len(), 1);
    }
}
