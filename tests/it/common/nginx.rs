//! A real nginx for a test: its own config, pid file, logs and include
//! directory under a temporary directory, started in the foreground as a
//! child of the test and stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NginxServer {
    pub dir: tempfile::TempDir,
    /// The directory berth writes its files into (included by nginx).
    pub confd: PathBuf,
    pub conf: PathBuf,
    pub error_log: PathBuf,
    /// A free port for the app's `proxy.listen`.
    pub port: u16,
    child: Child,
}

/// A port nothing listens on right now, for a server a test starts.
///
/// Not the kernel's pick (`bind(0)`): that comes from the ephemeral range,
/// where it can be handed out again at once, to another test's `bind(0)` or
/// to an outgoing connection, before the server has started on it. Ports
/// are taken instead from below the ephemeral range (Linux: 32768-60999),
/// each at most once a test process, from a start that differs between
/// processes, and only if free on every address.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(7919)) % SPAN,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (LOW + n % SPAN) as u16;
        let free = |a: &str| std::net::TcpListener::bind((a, port)).is_ok();
        if free("127.0.0.1") && free("0.0.0.0") {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN);
}

impl NginxServer {
    pub fn start() -> NginxServer {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let confd = d.join("conf.d");
        std::fs::create_dir_all(&confd).unwrap();
        std::fs::create_dir_all(d.join("tmp")).unwrap();
        let conf = d.join("nginx.conf");
        let error_log = d.join("error.log");
        let t = d.join("tmp");
        std::fs::write(
            &conf,
            format!(
                "daemon off;
worker_processes 2;
pid {pid};
error_log {log} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
    include {confd}/*.conf;
}}
",
                pid = d.join("nginx.pid").display(),
                log = error_log.display(),
                t = t.display(),
                confd = confd.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("nginx");
        cmd.args(Self::args_for(&conf, &error_log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => panic!(
                "this test needs nginx on the PATH ({e}): install Debian's nginx-light (apt-get install nginx-light); `.ci/run` and `scripts/test` do"
            ),
        };
        let server = NginxServer {
            confd,
            conf,
            error_log,
            port: free_port(),
            child,
            dir,
        };
        // Ready once the master wrote its pid file.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.dir.path().join("nginx.pid").exists() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start within 10s: {}",
                std::fs::read_to_string(&server.error_log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn args_for(conf: &Path, log: &Path) -> Vec<String> {
        vec![
            "-c".into(),
            conf.display().to_string(),
            "-e".into(),
            log.display().to_string(),
        ]
    }

    /// The `nginx:` block of a berth host using this server.
    pub fn host_yaml(&self) -> String {
        let mut cmd = vec!["nginx".to_string()];
        cmd.extend(Self::args_for(&self.conf, &self.error_log));
        format!(
            "{{command: [{}], dir: {}}}",
            cmd.join(", "),
            self.confd.display()
        )
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        ([127, 0, 0, 1], self.port).into()
    }
}

impl Drop for NginxServer {
    fn drop(&mut self) {
        // Graceful stop through the master, so no worker outlives the test.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
