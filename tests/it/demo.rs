//! `scripts/demo check`, end to end against the real engine and a real
//! nginx: the shipped example deploys v1 then v2, each answers through its
//! proxy, and nothing is left behind.

use crate::common;

#[tokio::test]
async fn the_demo_deploys_and_answers_through_its_proxy_then_leaves_nothing() {
    let Some(docker) = common::docker().await else {
        return;
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let port = common::nginx::free_port();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("bash")
            .args(["scripts/demo", "check"])
            .current_dir(root)
            .env("BERTH", env!("CARGO_BIN_EXE_berth"))
            .env("BERTH_DEMO_PORT", port.to_string())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for v in ["v1", "v2"] {
        assert!(
            stderr.contains(&format!(
                "deployed {v}: the proxy on port {port} serves {v}"
            )),
            "{stderr}"
        );
    }
    // Nothing left: files, the demo app's containers, its images.
    assert!(!root.join(".demo").exists());
    assert!(!root.join("config/berth.demo.yaml").exists());
    let left = docker
        .list_containers(Some(bollard::query_parameters::ListContainersOptions {
            all: true,
            filters: Some(std::collections::HashMap::from([(
                "label".to_string(),
                vec!["berth.app=demo".to_string()],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap();
    // Another berth's app of the same name may run on this engine: only
    // the demo's own images count.
    let left: Vec<_> = left
        .iter()
        .filter(|c| {
            c.image
                .as_deref()
                .is_some_and(|i| i.starts_with("berth-demo"))
        })
        .collect();
    assert!(left.is_empty(), "containers left: {left:?}");
    for image in ["berth-demo:v1", "berth-demo:v2", "berth-demo-base"] {
        assert!(docker.inspect_image(image).await.is_err(), "{image} left");
    }
}
