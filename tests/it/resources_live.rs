//! `berth images|volumes|networks` on an engine of the test's own (a prune
//! must never touch the strangers on the machine's engine): listed with
//! who uses each, what a container uses (a stopped one too) and the
//! engine's own networks refused, what nothing uses removed and pruned,
//! each recorded in the host's history; read-only refuses.

use crate::common::{self, Scope, Spec};

fn said(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_volumes_and_networks_are_listed_and_only_unused_ones_removed() {
    if common::docker().await.is_none() {
        return;
    }
    let engine = common::isolated::IsolatedEngine::start();
    let scope = Scope::isolated(&engine).await;
    let docker = engine.docker().await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("berth.yaml");
    std::fs::write(
        &cfg,
        format!(
            "version: 2\nhosts:\n  local: {{state_dir: {}{}}}\napps: {{}}\n",
            dir.path().join("state").display(),
            engine.host_yaml()
        ),
    )
    .unwrap();
    let berth = |args: &[&str]| {
        common::berth()
            .arg("-c")
            .arg(&cfg)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    // A volume a stopped container holds, one nothing holds, a network
    // nothing is on, a tag nothing runs, and a dangling image.
    for v in ["vol-used", "vol-free"] {
        docker
            .create_volume(bollard::models::VolumeCreateRequest {
                name: Some(v.into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    docker
        .create_network(bollard::models::NetworkCreateRequest {
            name: "net-free".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let holder = scope.start(Spec::named("holder").sleeper()).await;
    let holder_name = format!("berth-t{}-holder", scope.id);
    // The holder uses vol-used (a volume mounted by a second container
    // that stays stopped).
    let user = docker
        .create_container(
            Some(bollard::query_parameters::CreateContainerOptions {
                name: Some(format!("berth-t{}-user", scope.id)),
                ..Default::default()
            }),
            bollard::models::ContainerCreateBody {
                image: Some(scope.image.clone()),
                cmd: Some(vec!["true".into()]),
                host_config: Some(bollard::models::HostConfig {
                    binds: Some(vec!["vol-used:/data".into()]),
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .id;
    scope.derived_image("extra:1", "LABEL one=1\n", &[]).await;
    scope.derived_image("dang:1", "LABEL two=1\n", &[]).await;
    scope.derived_image("dang:1", "LABEL two=2\n", &[]).await;

    let out = berth(&["volumes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let vols = lines(&out);
    let used = vols.iter().find(|v| v["name"] == "vol-used").unwrap();
    assert_eq!(
        used["used_by"],
        serde_json::json!([format!("berth-t{}-user", scope.id)]),
        "{vols:?}"
    );
    let images = lines(&berth(&["images", "--json"]));
    assert!(
        images.iter().any(|i| i["dangling"] == true),
        "the replaced dang:1 is dangling: {images:?}"
    );
    assert!(
        images.iter().any(|i| i["name"] == scope.image.as_str()
            && i["used_by"]
                .as_array()
                .is_some_and(|u| u.iter().any(|n| n == holder_name.as_str()))),
        "{images:?}"
    );

    // What is used, or the engine's own, stays; the reason is said.
    let out = berth(&["volumes", "rm", "vol-used", "-y"]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(said(&out).contains("used by"), "{}", said(&out));
    let out = berth(&["networks", "rm", "bridge", "-y"]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    let out = berth(&["images", "rm", &scope.image, "-y"]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    // Without a terminal and without --yes: nothing.
    let out = berth(&["volumes", "rm", "vol-free"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));
    let out = berth(&["volumes", "rm", "nosuch", "-y"]);
    assert_eq!(out.status.code(), Some(2), "{}", said(&out));

    let out = berth(&["volumes", "rm", "vol-free", "-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let out = berth(&["images", "prune", "-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    let out = berth(&["networks", "prune", "-y"]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    assert!(said(&out).contains("net-free"), "{}", said(&out));

    let names = |kind: &str| -> Vec<String> {
        lines(&berth(&[kind, "--json"]))
            .iter()
            .map(|v| v["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(names("volumes"), ["vol-used"]);
    let nets = names("networks");
    assert!(
        !nets.contains(&"net-free".to_string()) && nets.contains(&"bridge".to_string()),
        "{nets:?}"
    );
    let imgs = lines(&berth(&["images", "--json"]));
    assert!(imgs.iter().all(|i| i["dangling"] == false), "{imgs:?}");
    assert!(
        imgs.iter().any(|i| i["name"] == "extra:1"),
        "a tag stays: {imgs:?}"
    );

    let actions: Vec<String> = lines(&berth(&["container", "history", "--json"]))
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["action"].as_str().unwrap(),
                l["result"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        actions,
        ["volume-remove ok", "image-prune ok", "network-prune ok"]
    );
    let out = common::berth()
        .arg("-c")
        .arg(&cfg)
        .args(["--read-only", "images", "prune", "-y"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    let _ = (holder, user);
}
