//! The operator's own engine, found as Docker's tools find it: `DOCKER_HOST`
//! at a `tcp://` address (the machine's engine forwarded to a TCP port by
//! the test), a TLS engine (a dockerd of the test's own with certificates
//! the test makes), a Docker context file, and addresses berth cannot use
//! (an error naming them, exit 2, never the local socket instead).

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{self, Spec};

/// `berth status --json` with no config anywhere, in `dir`, with `env`.
fn status(dir: &Path, env: &[(&str, &str)], app: &str) -> (Option<i32>, serde_json::Value, String) {
    let out: Output = common::berth()
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", dir.join("docker-config"))
        .envs(env.iter().copied())
        .args(["status", "--json", "--timeout", "60s", "--app", app])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {stderr} {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code(), json, stderr)
}

/// The machine's engine, forwarded from a TCP port on loopback.
async fn tcp_forward() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    port
}

fn names(json: &serde_json::Value) -> Vec<String> {
    json["hosts"][0]["apps"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|a| a["roles"].as_array().cloned().unwrap_or_default())
        .flat_map(|r| r["containers"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_host_at_tcp_and_a_context_reach_the_engine_they_name() {
    let Some(scope) = common::scope().await else {
        return;
    };
    let app = scope.app("viatcp");
    scope
        .start(Spec::named("web").berth(&app, "web", "v1"))
        .await;
    let mine = format!("berth-t{}-web", scope.id);
    let dir = tempfile::tempdir().unwrap();
    let port = tcp_forward().await;
    let addr = format!("tcp://127.0.0.1:{port}");

    let (code, json, stderr) = tokio::task::spawn_blocking({
        let (d, a, app) = (dir.path().to_path_buf(), addr.clone(), app.clone());
        move || status(&d, &[("DOCKER_HOST", &a)], &app)
    })
    .await
    .unwrap();
    let host = &json["hosts"][0];
    assert_eq!(host["endpoint"], addr, "{json:#}");
    assert_eq!(host["engine_from"], "DOCKER_HOST");
    assert_eq!(host["reachable"], true, "{stderr}\n{json:#}");
    assert!(names(&json).contains(&mine), "{json:#}");
    assert_ne!(code, Some(2), "{stderr}");

    // The same address as a Docker context, made current, as `docker
    // context create` and `docker context use` leave them.
    let config = dir.path().join("docker-config");
    let digest = sha256_hex(b"berth-test-ctx");
    let meta = config.join("contexts/meta").join(digest);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        format!(
            r#"{{"Name":"berth-test-ctx","Metadata":{{}},"Endpoints":{{"docker":{{"Host":"{addr}","SkipTLSVerify":false}}}}}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        config.join("config.json"),
        r#"{"currentContext":"berth-test-ctx"}"#,
    )
    .unwrap();
    let (_, json, stderr) = tokio::task::spawn_blocking({
        let (d, app) = (dir.path().to_path_buf(), app.clone());
        move || status(&d, &[], &app)
    })
    .await
    .unwrap();
    let host = &json["hosts"][0];
    assert_eq!(host["endpoint"], addr, "{json:#}");
    assert_eq!(host["engine_from"], "docker context berth-test-ctx");
    assert_eq!(host["reachable"], true, "{stderr}\n{json:#}");
    assert!(names(&json).contains(&mine), "{json:#}");

    // A host in berth.yaml names its engine the same ways.
    let berth_yaml = dir.path().join("berth.yaml");
    std::fs::write(
        &berth_yaml,
        format!(
            "version: 2\nhosts:\n  edge:\n    docker: {addr}\n  ctx:\n    context: berth-test-ctx\napps:\n  {app}:\n    image: x\n    roles:\n      web: {{hosts: [edge]}}\n"
        ),
    )
    .unwrap();
    let out = common::berth()
        .current_dir(dir.path())
        .env_remove("DOCKER_HOST")
        .env("DOCKER_CONFIG", &config)
        .args([
            "-c",
            "berth.yaml",
            "status",
            "--json",
            "--timeout",
            "60s",
            "--app",
            &app,
        ])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for host in json["hosts"].as_array().unwrap() {
        assert_eq!(host["endpoint"], addr, "{json:#}");
        assert_eq!(host["reachable"], true, "{json:#}");
    }
    let from: Vec<&str> = json["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["engine_from"].as_str().unwrap())
        .collect();
    assert_eq!(
        from,
        ["berth.yaml (docker context berth-test-ctx)", "berth.yaml"],
        "{json:#}"
    );
    std::fs::remove_file(&berth_yaml).unwrap();

    // `--context` names another; one that is not there is an error naming it.
    let out = common::berth()
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("DOCKER_CONFIG", &config)
        .args(["--context", "nosuch", "status", "--timeout", "10s"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("docker context nosuch") && said.contains("no such context"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_berth_cannot_use_is_an_error_naming_it_never_the_local_socket() {
    let dir = tempfile::tempdir().unwrap();
    // (the address, what the error says, the exit code: 4 for an engine
    // that did not answer, 2 for an address berth cannot use)
    for (addr, says, exit) in [
        ("tcp://127.0.0.1:1", "Connection refused", 4),
        ("npipe:////./pipe/docker_engine", "not `npipe`", 2),
        ("ssh://-oProxyCommand=touch", "ssh://[USER@]HOST", 2),
    ] {
        let out = common::berth()
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env("DOCKER_HOST", addr)
            .args(["status", "--timeout", "10s"])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(exit), "{addr}: {said}");
        assert!(
            said.contains("(from DOCKER_HOST)") && said.contains(says),
            "{addr}: {said}"
        );
        assert!(!said.contains("/var/run/docker.sock"), "{addr}: {said}");
    }
}

/// A TLS engine (`--tlsverify`), reached with DOCKER_TLS_VERIFY and
/// DOCKER_CERT_PATH as the docker CLI reaches it; with certificates of
/// another CA it is refused, saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_engine_is_reached_with_its_certificates_and_refused_without() {
    if common::docker().await.is_none() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let c = certs.path();
    make_certs(&c.join("good"), "good");
    make_certs(&c.join("other"), "other");
    let port = common::nginx::free_port();
    let engine = common::isolated::IsolatedEngine::start_with(&[
        "--host".into(),
        format!("tcp://127.0.0.1:{port}"),
        "--tlsverify".into(),
        "--tlscacert".into(),
        c.join("good/ca.pem").display().to_string(),
        "--tlscert".into(),
        c.join("good/server-cert.pem").display().to_string(),
        "--tlskey".into(),
        c.join("good/server-key.pem").display().to_string(),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("tcp://127.0.0.1:{port}");
    let run = |cert_path: &Path| {
        common::berth()
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env("DOCKER_HOST", &addr)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", cert_path)
            .args(["status", "--json", "--timeout", "30s"])
            .output()
            .unwrap()
    };
    let out = run(&c.join("good"));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            engine.log()
        )
    });
    assert_eq!(json["hosts"][0]["endpoint"], addr, "{json:#}");
    assert_eq!(
        json["hosts"][0]["reachable"],
        true,
        "{json:#}\n{}",
        engine.log()
    );
    // Another CA's certificates: the engine is not trusted, and berth says
    // so rather than reaching anything else.
    let out = run(&c.join("other"));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["hosts"][0]["reachable"], false, "{json:#}");
    let error = json["hosts"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&addr) && error.to_lowercase().contains("certificate"),
        "{error}"
    );
    assert_eq!(
        out.status.code(),
        Some(4),
        "the engine could not be reached"
    );
    drop(engine);
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as
/// `DOCKER_CERT_PATH` holds them (ca.pem, cert.pem, key.pem), in `dir`.
fn make_certs(dir: &Path, name: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_subject = format!("/CN=berth-test-{name}-ca");
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "1",
            "-subj",
            &ca_subject,
        ],
    ]
    .concat());
    // A key, and its certificate signed by the CA for `usage`.
    let signed = |key: &str, cert: &str, subject: &str, usage: &str| {
        let ext = format!("{cert}.ext");
        std::fs::write(dir.join(&ext), usage).unwrap();
        run(&[
            &["req"][..],
            &ec,
            &["-keyout", key, "-out", "req.csr", "-subj", subject],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            cert,
            "-days",
            "1",
            "-extfile",
            &ext,
        ]);
    };
    signed(
        "server-key.pem",
        "server-cert.pem",
        "/CN=127.0.0.1",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    );
    signed(
        "key.pem",
        "cert.pem",
        "/CN=berth-client",
        "extendedKeyUsage=clientAuth\n",
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
