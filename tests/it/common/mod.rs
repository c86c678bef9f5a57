//! Test harness for the real Docker engine.
//!
//! - [`docker`] connects to the local engine. When it is not reachable the
//!   test fails with the reason; outside CI a developer may set
//!   `BERTH_SKIP_DOCKER_TESTS=1` to skip instead (never honoured with CI=true).
//! - [`test_image`] builds berth's test image locally through bollard (no
//!   registry): Debian's static busybox on scratch, httpd + a HEALTHCHECK.
//! - [`Scope`] gives each test unique names and a label, and removes every
//!   container it started when dropped, even when the test panics.
#![allow(dead_code)]

pub mod app;
pub mod fleet;
pub mod isolated;
pub mod load;
pub mod nginx;
pub mod registry;
pub mod sshd;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HealthConfig, HealthStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions,
};

pub const TEST_LABEL: &str = "berth.test";
const BUSYBOX: &str = "/bin/busybox";

pub fn socket() -> PathBuf {
    std::env::var("DOCKER_HOST")
        .ok()
        .and_then(|h| h.strip_prefix("unix://").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("/var/run/docker.sock"))
}

/// The local engine's raw client, for setting scenes with requests berth
/// itself never makes, or `None` when a developer chose to skip Docker
/// tests.
pub async fn docker() -> Option<Docker> {
    Some(engine().await?.bollard().clone())
}

/// The local engine as berth talks to it (see [`docker`] for `None`).
pub async fn engine() -> Option<berth::docker::Client> {
    let socket = socket();
    match berth::docker::Client::at_socket(&socket, Duration::from_secs(10)).await {
        Ok((engine, _)) => Some(engine),
        Err(e) => {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            let skip = std::env::var("BERTH_SKIP_DOCKER_TESTS").is_ok_and(|v| v == "1");
            if skip && !in_ci {
                eprintln!("SKIPPED (BERTH_SKIP_DOCKER_TESTS=1): this test needs Docker: {e}");
                return None;
            }
            panic!(
                "this test needs a running Docker engine and none is reachable: {e}\n\
                 Start Docker (or point DOCKER_HOST at it). Outside CI you may set \
                 BERTH_SKIP_DOCKER_TESTS=1 to skip these tests."
            );
        }
    }
}

/// A scope of the local engine for one test (see [`docker`] for when it is
/// `None`): the preamble of every Docker test.
pub async fn scope() -> Option<Scope> {
    Some(Scope::new(docker().await?).await)
}

/// True when the ELF file at `path` has no program interpreter (statically
/// linked), so it runs in a `FROM scratch` image.
fn is_static_elf(path: &Path) -> std::io::Result<bool> {
    let bytes = std::fs::read(path)?;
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return Ok(false);
    }
    let u16_at = |o: usize| u16::from_le_bytes([bytes[o], bytes[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    Ok((0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        bytes
            .get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) != PT_INTERP)
    }))
}

/// Builds (once per content) and returns the test image's tag.
pub async fn test_image(docker: &Docker) -> String {
    let engine = engine().await.expect("the engine answered a moment ago");
    test_image_on(docker, &engine).await
}

/// [`test_image`] on any engine (an isolated one).
pub async fn test_image_on(docker: &Docker, engine: &berth::docker::Client) -> String {
    let busybox = Path::new(BUSYBOX);
    match is_static_elf(busybox) {
        Ok(true) => {}
        Ok(false) => panic!(
            "{BUSYBOX} is not a static x86-64 ELF: install Debian's busybox-static (apt-get install busybox-static)"
        ),
        Err(e) => panic!(
            "cannot read {BUSYBOX} ({e}): install Debian's busybox-static (apt-get install busybox-static)"
        ),
    }
    let image_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/image");
    let mut hasher = std::hash::DefaultHasher::new();
    for f in ["Dockerfile", "start"] {
        std::hash::Hash::hash(&std::fs::read(image_dir.join(f)).unwrap(), &mut hasher);
    }
    std::hash::Hash::hash(&std::fs::read(busybox).unwrap(), &mut hasher);
    let tag = format!("berth-test:{:016x}", std::hash::Hasher::finish(&hasher));
    if docker.inspect_image(&tag).await.is_ok() {
        return tag;
    }
    let ctx = tempfile::tempdir().unwrap();
    for f in ["Dockerfile", "start"] {
        std::fs::copy(image_dir.join(f), ctx.path().join(f)).unwrap();
    }
    std::fs::copy(busybox, ctx.path().join("busybox")).unwrap();
    let tar = berth::docker::build::context_tar(ctx.path()).unwrap();
    let mut log = Vec::new();
    engine
        .build(&tag, tar, "Dockerfile", &Default::default(), |l| {
            log.push(l)
        })
        .await
        .unwrap_or_else(|e| panic!("building the test image failed: {e}\n{}", log.join("\n")));
    tag
}

/// What to start in a test container.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// Name suffix; the scope makes it unique.
    pub name: String,
    pub labels: HashMap<String, String>,
    pub env: Vec<String>,
    pub cmd: Option<Vec<String>>,
    /// Turn the image's healthcheck off (for plain `sleep` containers).
    pub no_healthcheck: bool,
    /// A memory limit in bytes (to get a container OOM-killed).
    pub memory: Option<i64>,
    /// Docker's `restart: always` (to get a crash loop).
    pub restart_always: bool,
}

impl Spec {
    pub fn named(name: &str) -> Self {
        Spec {
            name: name.into(),
            ..Default::default()
        }
    }

    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }

    pub fn env(mut self, kv: &str) -> Self {
        self.env.push(kv.into());
        self
    }

    pub fn sleeper(mut self) -> Self {
        self.cmd = Some(vec!["sleep".into(), "3600".into()]);
        self.no_healthcheck = true;
        self
    }

    /// berth's labels for an app container.
    pub fn berth(self, app: &str, role: &str, version: &str) -> Self {
        let labels = berth::labels::BerthLabels {
            app: app.into(),
            role: role.into(),
            version: version.into(),
            destination: String::new(),
            phase: None,
            host: String::new(),
            run: String::new(),
        };
        let mut s = self;
        s.labels.extend(labels.to_map());
        s
    }
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A test's own namespace on the engine; cleans up after itself.
pub struct Scope {
    /// The raw client, for scenes berth itself does not make.
    pub docker: Docker,
    /// The same engine as berth talks to it.
    pub engine: berth::docker::Client,
    /// The test's own gateway: what one berth process would have.
    pub gateway: berth::docker::Gateway,
    pub image: String,
    /// Unique per test run: in names, app names and the cleanup label.
    pub id: String,
    /// Where its engine listens.
    pub socket: PathBuf,
}

impl Scope {
    pub async fn new(docker: Docker) -> Scope {
        let engine = engine().await.expect("the engine answered a moment ago");
        Scope::with(docker, engine, socket()).await
    }

    /// A scope of an engine of the test's own.
    pub async fn isolated(engine: &isolated::IsolatedEngine) -> Scope {
        let socket = engine.socket.clone();
        Scope::with(engine.docker().await, engine.engine().await, socket).await
    }

    async fn with(docker: Docker, engine: berth::docker::Client, socket: PathBuf) -> Scope {
        let image = test_image_on(&docker, &engine).await;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let id = format!(
            "{:x}{:x}{:x}",
            std::process::id() % 0xfff,
            nanos % 0xffff,
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        Scope {
            docker,
            engine,
            gateway: berth::docker::Gateway::new(),
            image,
            id,
            socket,
        }
    }

    /// Every container of `app` (by its `berth.app` label), on any host.
    pub async fn containers_of(&self, app: &str) -> Vec<bollard::models::ContainerSummary> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={app}", berth::labels::APP)],
        )]);
        self.docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .unwrap()
    }

    /// An app name unique to this test: `t<id>-<base>`.
    pub fn app(&self, base: &str) -> String {
        format!("t{}-{base}", self.id)
    }

    /// Creates and starts a container; returns its id.
    pub async fn start(&self, spec: Spec) -> String {
        let mut labels = spec.labels.clone();
        labels.insert(TEST_LABEL.into(), self.id.clone());
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: spec.cmd.clone(),
            env: Some(spec.env.clone()),
            labels: Some(labels),
            healthcheck: spec.no_healthcheck.then(|| HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            }),
            host_config: Some(bollard::models::HostConfig {
                memory: spec.memory,
                memory_swap: spec.memory,
                restart_policy: spec.restart_always.then(|| bollard::models::RestartPolicy {
                    name: Some(bollard::models::RestartPolicyNameEnum::ALWAYS),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let name = format!("berth-t{}-{}", self.id, spec.name);
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.clone()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .unwrap_or_else(|e| panic!("creating {name}: {e}"));
        self.docker
            .start_container(&created.id, None)
            .await
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        created.id
    }

    /// Builds `<repo>:<version>` from the test image with extra `ENV` lines
    /// (e.g. `HEALTH=fail` for a version whose health check fails).
    pub async fn version_image(&self, repo: &str, version: &str, env: &[&str]) -> String {
        let mut dockerfile = format!("ENV APP_VERSION={version}\n");
        for e in env {
            dockerfile.push_str(&format!("ENV {e}\n"));
        }
        self.derived_image(&format!("{repo}:{version}"), &dockerfile, &[])
            .await
    }

    /// Builds `tag` from the test image plus `lines` of Dockerfile, with
    /// `files` (name, text) in the build context; labelled for cleanup.
    pub async fn derived_image(&self, tag: &str, lines: &str, files: &[(&str, &str)]) -> String {
        // The label comes first so that every layer after it belongs to
        // this scope alone. Layers shared through the build cache would be
        // deleted under a concurrent build when another test removes its
        // images ("failed to get digest ...: no such file or directory").
        let dockerfile = format!(
            "FROM {}\nLABEL {TEST_LABEL}={}\n{lines}",
            self.image, self.id
        );
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
        for (name, text) in files {
            std::fs::write(ctx.path().join(name), text).unwrap();
        }
        let tar = berth::docker::build::context_tar(ctx.path()).unwrap();
        self.engine
            .build(tag, tar, "Dockerfile", &Default::default(), |_| {})
            .await
            .unwrap_or_else(|e| panic!("building {tag}: {e}"));
        tag.to_string()
    }

    /// Runs a command in a container and returns its stdout.
    pub async fn exec(&self, id: &str, cmd: &[&str]) -> String {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        use futures_util::StreamExt;
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let mut out = String::new();
        if let StartExecResults::Attached { output: mut o, .. } =
            self.docker.start_exec(&exec.id, None).await.unwrap()
        {
            while let Some(Ok(chunk)) = o.next().await {
                out.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        out
    }

    /// Waits until the container's health is `want`, failing after `timeout`.
    pub async fn wait_health(&self, id: &str, want: HealthStatusEnum, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.docker.inspect_container(id, None).await.unwrap();
            let health = c
                .state
                .as_ref()
                .and_then(|s| s.health.as_ref())
                .and_then(|h| h.status);
            if health == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "container {id} did not become {want:?} within {timeout:?}; state: {:?}",
                c.state
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        // Runs on panic too. A fresh runtime on its own thread: Drop may run
        // inside the test's runtime, which cannot be blocked on.
        let id = self.id.clone();
        let socket = self.socket.clone();
        let joined =
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let docker =
                        match berth::docker::Client::at_socket(&socket, Duration::from_secs(10))
                            .await
                        {
                            Ok((engine, _)) => engine.bollard().clone(),
                            Err(e) => {
                                eprintln!("cleanup {id}: cannot reach Docker to clean up: {e}");
                                return;
                            }
                        };
                    let filters =
                        HashMap::from([("label".to_string(), vec![format!("{TEST_LABEL}={id}")])]);
                    let list = docker
                        .list_containers(Some(ListContainersOptions {
                            all: true,
                            filters: Some(filters),
                            ..Default::default()
                        }))
                        .await
                        .unwrap_or_default();
                    for c in list {
                        if let Some(cid) = c.id {
                            let _ = docker
                                .remove_container(
                                    &cid,
                                    Some(RemoveContainerOptions {
                                        force: true,
                                        v: true,
                                        ..Default::default()
                                    }),
                                )
                                .await;
                        }
                    }
                    remove_leftovers(&docker, &id).await;
                });
            })
            .join();
        if joined.is_err() {
            eprintln!("cleanup {}: the cleanup thread panicked", self.id);
        }
    }
}

/// What the engine started under this test's app names (`t<id>-...`), the
/// images built for it, and the volumes named for it.
async fn remove_leftovers(docker: &Docker, id: &str) {
    let prefix = format!("t{id}-");
    let force = || {
        Some(RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        })
    };
    let all = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    for c in all {
        let app = c
            .labels
            .as_ref()
            .and_then(|l| l.get("berth.app"))
            .cloned()
            .unwrap_or_default();
        if app.starts_with(&prefix) {
            let _ = docker
                .remove_container(c.id.as_deref().unwrap_or(""), force())
                .await;
        }
    }
    let images = docker
        .list_images(Some(bollard::query_parameters::ListImagesOptions {
            filters: Some(HashMap::from([(
                "label".to_string(),
                vec![format!("{TEST_LABEL}={id}")],
            )])),
            ..Default::default()
        }))
        .await
        .unwrap_or_default();
    for img in images {
        for tag in img.repo_tags {
            if let Err(e) = docker
                .remove_image(
                    &tag,
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await
            {
                eprintln!("cleanup {id}: image {tag}: {e}");
            }
        }
    }
    if let Ok(vols) = docker
        .list_volumes(None::<bollard::query_parameters::ListVolumesOptions>)
        .await
    {
        for v in vols.volumes.unwrap_or_default() {
            if v.name.starts_with(&prefix)
                && let Err(e) = docker
                    .remove_volume(
                        &v.name,
                        None::<bollard::query_parameters::RemoveVolumeOptions>,
                    )
                    .await
            {
                eprintln!("cleanup {id}: volume {}: {e}", v.name);
            }
        }
    }
}

/// The berth binary under test.
pub fn berth() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    // berth's log is written, to nowhere: not the machine's own
    // ~/.local/state (a test of the log names its own file).
    cmd.env_remove("BERTH_CONFIG")
        .env_remove("BERTH_LOG")
        .env("BERTH_LOG_FILE", "/dev/null");
    cmd
}

/// Runs berth with the config at `config`.
pub fn berth_at(config: &Path, args: &[&str]) -> Output {
    berth().arg("-c").arg(config).args(args).output().unwrap()
}

/// Runs berth with a config file written from `yaml`.
pub fn berth_with_config(dir: &Path, yaml: &str, args: &[&str]) -> Output {
    let path = dir.join("berth.yaml");
    std::fs::write(&path, yaml).unwrap();
    berth().arg("-c").arg(&path).args(args).output().unwrap()
}

/// A config with one local host (optionally a socket) and the given apps.
pub fn config(socket: Option<&Path>, apps: &str) -> String {
    let host = match socket {
        Some(s) => format!("  local: {{socket: {}}}\n", s.display()),
        None => "  local: {}\n".to_string(),
    };
    format!("version: 2\nhosts:\n{host}apps:\n{apps}")
}

/// An incident on the engine, for the tests of what berth reports: five
/// apps of one container role each.
pub struct Incident {
    /// v2 serves; v1 stopped, kept for rollback.
    pub good: String,
    /// Its health check fails.
    pub sick: String,
    /// Up for a second, then exits 1; restarted by Docker again and again
    /// (so it is seen both down and up between crashes).
    pub looping: String,
    /// Allocates until the kernel kills it.
    pub oom: String,
    /// A Kamal app whose only container is unhealthy.
    pub kamal: String,
}

impl Incident {
    pub async fn start(scope: &Scope) -> Incident {
        let (good, sick, looping, oom, kamal) = (
            scope.app("good"),
            scope.app("sick"),
            scope.app("loop"),
            scope.app("oom"),
            scope.app("kml"),
        );
        // good: v2 serves, v1 stopped and kept for rollback.
        let old = scope
            .start(Spec::named("good-v1").berth(&good, "web", "v1").sleeper())
            .await;
        scope
            .docker
            .stop_container(
                &old,
                Some(bollard::query_parameters::StopContainerOptions {
                    t: Some(0),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        scope
            .start(Spec::named("good-v2").berth(&good, "web", "v2").sleeper())
            .await;
        // sick: its health check fails.
        scope
            .start(
                Spec::named("sick")
                    .berth(&sick, "web", "v1")
                    .env("HEALTH=fail"),
            )
            .await;
        // loop: up for a second, exits 1, restarted by Docker again and again.
        scope
            .start(Spec {
                cmd: Some(vec!["sh".into(), "-c".into(), "sleep 1; exit 1".into()]),
                no_healthcheck: true,
                restart_always: true,
                ..Spec::named("loop").berth(&looping, "web", "v1")
            })
            .await;
        // oom: allocates until the kernel kills it.
        scope
            .start(Spec {
                cmd: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "x=0123456789; while true; do x=$x$x; done".into(),
                ]),
                no_healthcheck: true,
                memory: Some(16 * 1024 * 1024),
                ..Spec::named("oom").berth(&oom, "web", "v1")
            })
            .await;
        // A Kamal app whose only container is unhealthy.
        scope
            .start(
                Spec::named("kml")
                    .label("service", &kamal)
                    .label("role", "web")
                    .label("destination", "")
                    .env("HEALTH=fail"),
            )
            .await;
        Incident {
            good,
            sick,
            looping,
            oom,
            kamal,
        }
    }

    /// The berth apps of the incident, declared on host `local`.
    pub fn apps_yaml(&self) -> String {
        [&self.good, &self.sick, &self.looping, &self.oom]
            .iter()
            .map(|a| format!("  {a}:\n    image: x\n    roles:\n      web: {{hosts: [local]}}\n"))
            .collect()
    }
}

/// The name Docker shows for a listed container, without its leading `/`.
pub fn name(c: &bollard::models::ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_string())
        .unwrap_or_default()
}

/// A label of a listed container.
pub fn label<'a>(c: &'a bollard::models::ContainerSummary, key: &str) -> Option<&'a str> {
    c.labels.as_ref()?.get(key).map(String::as_str)
}
