//! berth on the fleet rig (`common/fleet.rs`): hosts in their own network
//! namespaces, each with its own sshd behind a link that delays every packet, some of
//! them dead (every packet dropped), hung (sshd stopped) or far (500 ms). What is
//! checked is that a bad host costs only its own deadline: the others are
//! reported, deployed and shown as if it were not there. Times are
//! compared with the same rig's own healthy figures, measured in the same
//! test, and with the deadline the bad hosts are held to: they never judge
//! berth's speed (that is `benches/fleet.rs`).

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{self, fleet};

const RTT: Duration = Duration::from_millis(30);

fn link() -> fleet::Link {
    fleet::Link {
        rtt: RTT,
        jitter: Duration::from_millis(2),
    }
}

/// A config of `hosts` of the rig and `apps` (YAML under `apps:`).
fn config(
    dir: &std::path::Path,
    rig: &fleet::Rig,
    hosts: &[&str],
    apps: &str,
) -> std::path::PathBuf {
    let mut yaml = "version: 2\nhosts:\n".to_string();
    for h in hosts {
        yaml.push_str(&format!("  {h}: {{ssh: {}}}\n", rig.ssh_yaml(rig.host(h))));
    }
    yaml.push_str(if apps.is_empty() {
        "apps: {}\n"
    } else {
        "apps:\n"
    });
    yaml.push_str(apps);
    let path = dir.join(format!("berth-{}.yaml", hosts.join("-")));
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `berth status` run to its end: each line of its output with when it
/// came, and its exit code.
fn status_lines(config: &std::path::Path, args: &[&str]) -> (Vec<(Duration, String)>, Option<i32>) {
    let start = Instant::now();
    let mut child = common::berth()
        .arg("-c")
        .arg(config)
        .arg("status")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(|l| (start.elapsed(), l.unwrap()))
        .collect();
    let code = child.wait().unwrap().code();
    (lines, code)
}

fn first_line(lines: &[(Duration, String)], starts: &str) -> Duration {
    lines
        .iter()
        .find(|(_, l)| l.starts_with(starts))
        .unwrap_or_else(|| panic!("no line starts with {starts:?}: {lines:#?}"))
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_live_hosts_in_their_normal_time_beside_dead_and_hung_ones() {
    let rig = fleet::Rig::start(6, link());
    let dir = tempfile::tempdir().unwrap();
    let healthy = config(dir.path(), &rig, &["h01", "h02"], "");
    let all = config(dir.path(), &rig, &["h01", "h02", "h03", "h04", "h05"], "");
    // The healthy hosts alone: their normal time, this machine, this run.
    let (lines, code) = status_lines(&healthy, &[]);
    assert_eq!(code, Some(0), "{lines:#?}");
    let normal = lines.last().unwrap().0;

    rig.host("h03").black_hole();
    rig.host("h04").hang();
    // A host far away: slow, not dead.
    rig.host("h05").set_link(fleet::Link {
        rtt: Duration::from_millis(500),
        jitter: Duration::ZERO,
    });
    let deadline = Duration::from_secs(8);
    let (lines, code) = status_lines(&all, &["--timeout", "8s"]);
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    assert_eq!(
        code,
        Some(4),
        "unreachable hosts: status could not reach them: {text:#?}"
    );
    // The live hosts are printed as they answer, long before the dead
    // ones' deadline and never after their lines (how long they took
    // alone is in the message; it is no bound: the machine may be busy).
    for h in ["h01", "h02"] {
        let at = first_line(&lines, &format!("{h} "));
        assert!(
            at < deadline / 2
                && ["h03 ", "h04 "]
                    .iter()
                    .all(|dead| at < first_line(&lines, dead)),
            "{h} came at {at:?}; alone the healthy hosts took {normal:?}: {lines:#?}"
        );
    }
    // The bad ones after, each with its reason, once their deadline passed.
    for h in ["h03", "h04"] {
        let at = first_line(&lines, &format!("{h} "));
        assert!(at >= deadline - Duration::from_secs(1), "{h} at {at:?}");
        let i = text
            .iter()
            .position(|l| l.starts_with(&format!("{h} ")))
            .unwrap();
        assert!(
            text[i + 1].contains("unreachable") && text[i + 1].contains("within 8s"),
            "{text:#?}"
        );
    }
    // The far host is there too, whenever it answered (or with why not).
    first_line(&lines, "h05 ");
    let end = lines.last().unwrap().0;
    assert!(
        end < deadline + Duration::from_secs(5),
        "status ended at {end:?}"
    );

    // A lossy link (a packet in 20 to the host dropped, TCP resending
    // what was lost) is slower, never unreachable or garbled.
    rig.host("h06").lose(5);
    let lossy = config(dir.path(), &rig, &["h06"], "");
    let (lines, code) = status_lines(&lossy, &["--json", "--timeout", "8s"]);
    let json: String = lines.into_iter().map(|(_, l)| l).collect();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(code, Some(0), "{json:#}");
    assert_eq!(json["hosts"][0]["name"], "h06", "{json:#}");
    assert_eq!(json["hosts"][0]["reachable"], true, "{json:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_to_a_healthy_role_proceeds_while_another_host_is_dead() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let rig = fleet::Rig::start(3, link());
    let dir = tempfile::tempdir().unwrap();
    let (good, bad, lost) = (
        scope.app("fleetok"),
        scope.app("fleetko"),
        scope.app("fleetlost"),
    );
    for app in [&good, &bad] {
        scope.version_image(app, "v1", &[]).await;
    }
    // `lost` lives on the dead host alone: its lock cannot be read.
    let apps = [(&good, "[h01, h02]"), (&bad, "[h02, h03]"), (&lost, "[h03]")]
        .iter()
        .map(|(app, hosts)| {
            format!(
                "  {app}:\n    image: {app}:v1\n    roles:\n      web: {{hosts: {hosts}, port: 8080}}\n    stop_timeout: 1s\n    deploy_timeout: 60s\n    min_uptime: 1s\n"
            )
        })
        .collect::<String>();
    let cfg = config(dir.path(), &rig, &["h01", "h02", "h03"], &apps);
    rig.host("h03").black_hole();

    let berth = |args: &[&str]| {
        let start = Instant::now();
        let out = common::berth_at(&cfg, args);
        (start.elapsed(), out)
    };
    // The app on live hosts deploys, whatever h03 does.
    let (took, out) = berth(&["deploy", &good, "--version", "v1"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    let running = scope
        .containers_of(&good)
        .await
        .iter()
        .filter(|c| c.state == Some(bollard::models::ContainerSummaryStateEnum::RUNNING))
        .filter_map(|c| common::label(c, "berth.host").map(str::to_string))
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        running.into_iter().collect::<Vec<_>>(),
        ["h01", "h02"],
        "one container on each live host"
    );

    // The app with a role on the dead host says so before taking its lock.
    let (_, out) = berth(&["deploy", &bad, "--version", "v1"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("h03") && said.contains("cannot be reached"),
        "{said}"
    );
    assert!(!said.contains("locked"), "no lock was taken: {said}");
    let (_, out) = berth(&["lock", "status", &bad]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("free"), "{said}");
    assert_eq!(out.status.code(), Some(0), "{said}");
    // A lock on the dead host: said, the others still listed, exit 4.
    let (_, out) = berth(&["lock", "status"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{said}");
    assert!(
        said.contains(&format!("{good}: free")) && said.contains(&format!("{bad}: free")),
        "{said}"
    );
    assert!(
        said.lines()
            .any(|l| l.starts_with(&format!("{lost}: cannot read its lock")) && l.contains("h03")),
        "{said}"
    );
    let (_, out) = berth(&["lock", "acquire", &lost, "-m", "x"]);
    assert_eq!(out.status.code(), Some(4), "{out:?}");
    assert!(scope.containers_of(&bad).await.is_empty());
}
