//! Deploys through a real registry (Debian's `docker-registry` with
//! htpasswd bcrypt authentication): the image built once, pushed with the
//! credentials, pulled by every host, the same digest everywhere; a wrong
//! password stops the deploy at the image stage; the password is never in
//! anything berth prints or writes; prune takes an unretained version's
//! image away.

use crate::common;

use berth::engine::RunResult;
use common::app::{App, output};
use common::registry::Registry;

/// An app on hosts a and b (one engine) whose image is built once and
/// shipped through `registry`, with `password` in its secrets file.
async fn app_through(registry: &Registry, base: &str, password: &str, build: &str) -> App {
    let scope = common::scope().await.expect("Docker");
    let name = scope.app(base);
    let dir = tempfile::tempdir().unwrap();
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM {}\nLABEL berth.test={}\nENV APP_VERSION=shipped\n",
            scope.image, scope.id
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("secrets.env"),
        format!("REGISTRY_PASSWORD={password}\n"),
    )
    .unwrap();
    let yaml = format!(
        "version: 2\nsecrets_file: secrets.env\nregistry: {{server: \"{server}\", username: {user}, password: [REGISTRY_PASSWORD]}}\nhosts:\n  a: {{state_dir: {d}/a}}\n  b: {{state_dir: {d}/b}}\napps:\n  {name}:\n    image: {name}\n    build: {build}\n    roles:\n      web: {{hosts: [a, b], port: 8080}}\n    stop_timeout: 1s\n    deploy_timeout: 20s\n    min_uptime: 1s\n    retain: 1\n",
        server = registry.server(),
        user = registry.user,
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("berth.yaml"), yaml).unwrap();
    let config = berth::config::load(&dir.path().join("berth.yaml")).unwrap();
    App {
        scope,
        name,
        dir,
        config,
    }
}

/// Every file under `dir` but the secrets file, as text.
fn written(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "secrets.env") {
                let text =
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).to_string();
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn built_once_pushed_and_pulled_by_every_host_as_one_digest_with_the_password_nowhere() {
    if common::docker().await.is_none() {
        return;
    }
    let registry = Registry::start();
    let app = app_through(&registry, "reg", &registry.password, "{context: ctx}").await;
    let image = |v: &str| format!("{}/{}:{v}", registry.server(), app.name);

    // What `berth plan` says the image stage does is what the run says.
    let plan = common::berth()
        .arg("-c")
        .arg(&app.config.path)
        .args(["plan", "deploy", &app.name, "-V", "v1"])
        .output()
        .unwrap();
    let plan = String::from_utf8_lossy(&plan.stdout).to_string();
    let says = format!(
        "{}: built once on this machine's engine, pushed to {}, then pulled on every host (always) and checked to be one digest",
        image("v1"),
        registry.server()
    );
    assert!(plan.contains(&says), "{plan}");
    let (r, events) = app.run(app.deploy("v1"), None).await;
    assert_eq!(r, RunResult::Ok, "{events:#?}");
    let out = output(&events);
    assert!(
        out.contains(&says),
        "the run says what the plan said: {out:#?}"
    );
    let built: Vec<&String> = out.iter().filter(|l| l.starts_with("building ")).collect();
    assert_eq!(built.len(), 1, "built once: {out:#?}");
    assert!(built[0].contains("once, on this machine"), "{out:#?}");
    let pushed = out
        .iter()
        .find_map(|l| l.strip_prefix(&format!("pushed {}: ", image("v1"))))
        .unwrap_or_else(|| panic!("the push said its digest: {out:#?}"))
        .to_string();
    assert!(pushed.starts_with("sha256:"), "{pushed}");
    for host in ["a", "b"] {
        assert!(
            events.iter().any(|e| matches!(e,
                berth::engine::EngineEvent::Output { host: Some(h), line, .. }
                    if h == host && line == &format!("pulled {} ({pushed})", image("v1")))),
            "host {host} pulled the pushed digest: {out:#?}"
        );
    }
    assert!(out.contains(&format!("every host holds {} as {pushed}", image("v1"))));
    let running = app.running("web").await;
    assert_eq!(running.len(), 2);
    for c in &running {
        assert_eq!(c.image.as_deref(), Some(image("v1").as_str()));
        // The container screen's inspect shows the digest too.
        let details = app
            .scope
            .engine
            .inspect_details(c.id.as_deref().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert!(
            details
                .digests
                .contains(&format!("{}/{}@{pushed}", registry.server(), app.name)),
            "{:?}",
            details.digests
        );
    }

    // The history line names the digest.
    let cfg = app.config.path.to_str().unwrap().to_string();
    let cli = |args: &[&str]| {
        let out = common::berth()
            .args(["-c", &cfg])
            .args(args)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    let history = cli(&["history", &app.name, "--json"]);
    assert!(
        history.contains(&format!("\"digest\":\"{pushed}\"")),
        "{history}"
    );

    // `status --digests`: each container's image digest, from its host.
    let status = cli(&["status", "--json", "--digests", "--app", &app.name]);
    assert_eq!(
        status.matches(&format!("\"digest\": \"{pushed}\"")).count(),
        2,
        "{status}"
    );
    assert!(!cli(&["status", "--json", "--app", &app.name]).contains("\"digest\""));

    // v2 and v3, each from a changed context (so an image of its own):
    // with retain 1, v1's containers go, and so does its image.
    let dockerfile = app.dir.path().join("ctx/Dockerfile");
    for v in ["v2", "v3"] {
        // Changed before v1's last instruction: v1's image is no parent of
        // this one, so removing it frees its layer.
        let text = std::fs::read_to_string(&dockerfile).unwrap().replace(
            "ENV APP_VERSION",
            &format!("ENV RELEASE={v}\nENV APP_VERSION"),
        );
        std::fs::write(&dockerfile, text).unwrap();
        let (r, events) = app.run(app.deploy(v), None).await;
        assert_eq!(r, RunResult::Ok, "{v}: {events:#?}");
        if v == "v3" {
            let out = output(&events);
            assert!(
                out.contains(&format!("removed image {}", image("v1"))),
                "{out:#?}"
            );
        }
    }
    assert!(
        !app.scope.engine.has_image(&image("v1")).await,
        "v1's image was pruned"
    );
    assert!(
        app.scope.engine.has_image(&image("v2")).await,
        "v2's (retained) image stays"
    );

    // The password: not in what the run said, what the CLI prints, or any
    // file berth wrote.
    let mut said = serde_json::to_string(&events).unwrap();
    for args in [
        vec!["config", "check"],
        vec!["plan", "--json", "deploy", &app.name, "-V", "v9"],
        vec!["status", "--json"],
        vec!["history", &app.name, "--json"],
        vec!["doctor"],
    ] {
        said.push_str(&cli(&args));
    }
    assert!(
        !said.contains(&registry.password),
        "the password was printed"
    );
    let doctor = cli(&["doctor"]);
    assert!(
        !doctor.contains("[registry]"),
        "every host logs in: {doctor}"
    );
    let hosts = cli(&["hosts", "check"]);
    assert!(
        hosts.contains("REGISTRY") && hosts.contains("✓ 1 login(s)"),
        "{hosts}"
    );
    for (path, text) in written(app.dir.path()) {
        assert!(
            !text.contains(&registry.password),
            "the password is in {path}"
        );
    }
    if let Some(home) = std::env::var_os("HOME") {
        let docker_config = std::path::Path::new(&home).join(".docker/config.json");
        let text = std::fs::read_to_string(docker_config).unwrap_or_default();
        assert!(!text.contains(&registry.server()), "no login was stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_fails_the_image_stage_with_the_registrys_word_and_boots_nothing() {
    if common::docker().await.is_none() {
        return;
    }
    let registry = Registry::start();
    let wrong = format!("not-{}", registry.password);
    // Built on a named builder host this time.
    let app = app_through(&registry, "regbad", &wrong, "{context: ctx, builder: b}").await;
    let (r, events) = app.run(app.deploy("v1"), None).await;
    let RunResult::Failed { stage, error, .. } = &r else {
        panic!("the deploy failed: {r:?} {events:#?}");
    };
    assert_eq!(stage, "image", "{error}");
    assert!(
        error.contains("unauthorized") || error.contains("authentication required"),
        "the registry's own word: {error}"
    );
    assert!(
        error.contains(&registry.server()),
        "names the registry: {error}"
    );
    assert!(
        error.starts_with("builder b: pushing"),
        "names the builder: {error}"
    );
    assert!(
        app.containers(None, None).await.is_empty(),
        "nothing booted"
    );
    let said = serde_json::to_string(&events).unwrap();
    assert!(!said.contains(&wrong), "the (wrong) password was printed");
    // `berth doctor` tries the login from each host, and says who refused.
    let out = common::berth()
        .args(["-c", app.config.path.to_str().unwrap(), "doctor"])
        .output()
        .unwrap();
    let doctor = String::from_utf8_lossy(&out.stdout);
    for host in ["a", "b"] {
        assert!(
            doctor.contains(&format!(
                "error [registry] {} on {host}: registry {} refused the credentials",
                app.name,
                registry.server()
            )),
            "{doctor}"
        );
    }
    assert!(doctor.contains("unauthorized"), "{doctor}");
    assert!(!doctor.contains(&wrong), "{doctor}");
    assert_eq!(out.status.code(), Some(1));
    // `berth hosts check` too, per host.
    let out = common::berth()
        .args(["-c", app.config.path.to_str().unwrap(), "hosts", "check"])
        .output()
        .unwrap();
    let hosts = String::from_utf8_lossy(&out.stdout);
    assert!(hosts.contains("✗ 1 of 1 refused or failed"), "{hosts}");
    assert!(
        hosts.contains(&format!(
            "a ({}): registry {} refused",
            app.name,
            registry.server()
        )),
        "{hosts}"
    );
    assert_eq!(out.status.code(), Some(1));
}
