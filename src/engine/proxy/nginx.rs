//! The nginx driver. berth owns exactly one file per app and destination,
//! `<dir>/berth-<app>[--<destination>].conf`, recognised by its first line;
//! it never writes a file without that line. A switch writes the new file,
//! runs `nginx -t`, reloads, and puts the previous file back when either
//! fails, so nginx keeps running the config it had. The route (targets,
//! versions) is recorded in the file itself, so `berth proxy show` and
//! `berth doctor` read what nginx really has.
//!
//! Everything written comes from validated config (host names, health path)
//! and parsed IP addresses: no text from containers reaches the file.

use std::time::Duration;

use super::Route;
use super::probe::{GENERATION_HEADER, PROBE_HEADER};
use crate::hosts::files::FileLock;
use crate::hosts::{FilesError, HostPath};

/// The first line of every file berth writes.
pub const HEADER: &str = "# Managed by berth.";
const ROUTE_PREFIX: &str = "# berth-route: ";
/// Deadline for each nginx command and for the host's nginx lock.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum NginxError {
    #[error(
        "{path} exists and was not written by berth (its first line is not `{HEADER}`); berth never edits files it does not own: move it away, or set the host's `nginx.dir` to another directory"
    )]
    NotOurs { path: String },
    #[error(transparent)]
    Files(#[from] FilesError),
    #[error("`{command}` failed; {restored}:\n{output}")]
    Failed {
        command: String,
        output: String,
        restored: String,
    },
    #[error("another berth has held the nginx lock {path} for {}; is one stuck?", crate::config::duration::format(*waited))]
    Busy { path: String, waited: Duration },
}

/// `berth-<app>.conf`, or `berth-<app>--<destination>.conf`.
pub fn file_name(app: &str, destination: &str) -> String {
    if destination.is_empty() {
        format!("berth-{app}.conf")
    } else {
        format!("berth-{app}--{destination}.conf")
    }
}

/// An nginx identifier for the app: `berth_demo`, `berth_demo__staging`.
/// App and destination names have no `_`, so no two routes share one.
fn ident(app: &str, destination: &str) -> String {
    let clean = |s: &str| s.replace('-', "_");
    if destination.is_empty() {
        format!("berth_{}", clean(app))
    } else {
        format!("berth_{}__{}", clean(app), clean(destination))
    }
}

/// The whole file for a route.
pub fn render(route: &Route) -> String {
    let id = ident(&route.app, &route.destination);
    // A route of strings and numbers always serialises; were it ever not
    // to, the file reads back as unparsed and `proxy sync` rewrites it.
    let state = serde_json::to_string(route).unwrap_or_default();
    let sync = if route.destination.is_empty() {
        format!("berth proxy sync {}", route.app)
    } else {
        format!("berth proxy sync {} -d {}", route.app, route.destination)
    };
    let mut out = String::new();
    out.push_str(&format!("{HEADER} Do not edit: `{sync}` rewrites it.\n"));
    out.push_str(&format!("{ROUTE_PREFIX}{state}\n\n"));
    // Only requests carrying the probe header see the generation.
    out.push_str(&format!(
        "map $http_{} ${id}_probe {{\n    default \"\";\n    \"~.\" \"{}\";\n}}\n\n",
        PROBE_HEADER.to_ascii_lowercase().replace('-', "_"),
        route.generation
    ));
    out.push_str(&format!("upstream {id} {{\n"));
    if route.targets.is_empty() {
        // An upstream needs a server; this one refuses, so nginx answers 502.
        out.push_str("    server 127.0.0.1:1 down;\n");
    }
    for t in &route.targets {
        out.push_str(&format!(
            "    server {}; # {} {}\n",
            t.address, t.container, t.version
        ));
    }
    out.push_str("}\n\n");
    let names = if route.domains.is_empty() {
        "_".to_string()
    } else {
        route.domains.join(" ")
    };
    out.push_str(&format!(
        "server {{
    listen {listen};
    server_name {names};

    location / {{
        if ($http_{probe} = \"{ask}\") {{
            return 204;
        }}
        proxy_pass http://{id};
        proxy_http_version 1.1;
        proxy_set_header Connection \"\";
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        add_header {GENERATION_HEADER} ${id}_probe always;
    }}
}}
",
        listen = route.listen,
        probe = PROBE_HEADER.to_ascii_lowercase().replace('-', "_"),
        ask = super::probe::GENERATION_ASK,
    ));
    out
}

/// The route recorded in a file berth wrote.
pub fn parse_route(text: &str) -> Option<Route> {
    text.lines()
        .take(5)
        .find_map(|l| l.strip_prefix(ROUTE_PREFIX))
        .and_then(|json| serde_json::from_str(json).ok())
}

/// The nginx of one host, as configured: its files and commands on this
/// machine, or on an SSH host through its connection.
pub struct Nginx<'a> {
    pub command: &'a [String],
    /// Where berth's files go (`nginx.dir`), on the host.
    pub dir: HostPath,
}

impl Nginx<'_> {
    pub fn path(&self, app: &str, destination: &str) -> HostPath {
        self.dir.join(file_name(app, destination))
    }

    /// The file's text; `None` when there is none. A file berth did not
    /// write is an error, never something to overwrite.
    pub async fn read(&self, path: &HostPath) -> Result<Option<String>, NginxError> {
        match path.read().await? {
            // Anyone with access to the host can append to it: cleaned as read.
            Some(b) if b.starts_with(HEADER.as_bytes()) => {
                Ok(Some(crate::sanitize::clean_bytes(&b)))
            }
            Some(_) => Err(NginxError::NotOurs {
                path: path.to_string(),
            }),
            None => Ok(None),
        }
    }

    /// Puts `new` in place of `previous` (`None`: no file), validates and
    /// reloads. On failure the previous file is back and nginx was not
    /// reloaded onto anything else. `log` gets nginx's own output.
    pub async fn apply(
        &self,
        path: &HostPath,
        new: Option<&str>,
        previous: Option<&str>,
        log: &(dyn Fn(String) + Sync),
    ) -> Result<(), NginxError> {
        let _lock = self.lock().await?;
        write(path, new).await?;
        let restore = async |what: &str| -> String {
            match write(path, previous).await {
                Ok(()) if previous.is_some() => {
                    format!("{path} restored; nginx still runs its previous config")
                }
                Ok(()) => format!("{path} removed again; nginx still runs its previous config"),
                Err(e) => format!("and putting the previous file back failed too ({e}); {what}"),
            }
        };
        if let Err((command, output)) = self.run(&["-t"], log).await {
            return Err(NginxError::Failed {
                restored: restore("fix the file by hand before reloading nginx").await,
                command,
                output,
            });
        }
        if let Err((command, output)) = self.run(&["-s", "reload"], log).await {
            return Err(NginxError::Failed {
                restored: restore("nginx was not reloaded").await,
                command,
                output,
            });
        }
        Ok(())
    }

    /// Validates without changing anything (for `doctor`).
    pub async fn test(&self, log: &(dyn Fn(String) + Sync)) -> Result<(), NginxError> {
        self.run(&["-t"], log)
            .await
            .map_err(|(command, output)| NginxError::Failed {
                command,
                output,
                restored: "nothing was changed".into(),
            })
    }

    /// Runs the configured nginx command with `args` on the host;
    /// `Err((command, output))` when it fails, times out or cannot start.
    async fn run(
        &self,
        args: &[&str],
        log: &(dyn Fn(String) + Sync),
    ) -> Result<(), (String, String)> {
        let mut argv: Vec<&str> = self.command.iter().map(String::as_str).collect();
        argv.extend_from_slice(args);
        let shown = argv.join(" ");
        let out = self
            .dir
            .files
            .run(&argv, COMMAND_TIMEOUT)
            .await
            .map_err(|e| (shown.clone(), e.to_string()))?;
        let text: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .chain(String::from_utf8_lossy(&out.stdout).lines())
            .map(crate::sanitize::one_line)
            .filter(|l| !l.is_empty())
            .collect();
        for l in &text {
            log(format!("{shown}: {l}"));
        }
        match out.code {
            Some(0) => Ok(()),
            code => {
                let code = code.map_or("a signal".to_string(), |c| format!("code {c}"));
                Err((shown, format!("exited with {code}: {}", text.join("\n"))))
            }
        }
    }

    /// One berth at a time changes and reloads a host's nginx: two apps
    /// deploying at once must not validate each other's half-written files.
    /// A flock on a file in the directory, taken on the host itself, so
    /// berths on the host and elsewhere exclude each other.
    async fn lock(&self) -> Result<FileLock, NginxError> {
        let path = self.dir.join(".berth-nginx.lock");
        path.lock_file(COMMAND_TIMEOUT)
            .await?
            .ok_or_else(|| NginxError::Busy {
                path: path.to_string(),
                waited: COMMAND_TIMEOUT,
            })
    }
}

/// Writes `text` to `path` through a temporary file and a rename (nginx
/// never sees half a file; the temporary's name does not end in `.conf`,
/// so nginx's include never picks it up); `None` removes it.
async fn write(path: &HostPath, text: Option<&str>) -> Result<(), NginxError> {
    match text {
        Some(t) => path.write(t.as_bytes()).await?,
        None => path.remove_file().await?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Target;
    use super::*;

    fn route(dest: &str, targets: Vec<Target>) -> Route {
        Route {
            app: "shop-api".into(),
            destination: dest.into(),
            role: "web".into(),
            listen: 8080,
            domains: vec!["api.shop.test".into(), "*.shop.test".into()],
            targets,
            generation: "v2.1".into(),
            written_at: "2026-11-22T10:00:00Z".parse().unwrap(),
        }
    }

    fn target() -> Target {
        Target {
            container: "shop-api-web-v2-a1b2c3".into(),
            id: "abc".into(),
            version: "v2".into(),
            address: "172.18.0.5:3000".into(),
        }
    }

    #[test]
    fn renders_a_complete_server_and_reads_its_route_back() {
        let r = route("", vec![target()]);
        let text = render(&r);
        assert!(text.starts_with(HEADER));
        assert!(text.contains("`berth proxy sync shop-api` rewrites it"));
        assert!(text.contains(
            "upstream berth_shop_api {\n    server 172.18.0.5:3000; # shop-api-web-v2-a1b2c3 v2\n}"
        ));
        assert!(text.contains("listen 8080;"));
        assert!(text.contains("server_name api.shop.test *.shop.test;"));
        assert!(text.contains("proxy_pass http://berth_shop_api;"));
        assert!(text.contains("map $http_x_berth_probe $berth_shop_api_probe {"));
        assert!(text.contains("\"~.\" \"v2.1\";"));
        assert!(text.contains("add_header X-Berth-Generation $berth_shop_api_probe always;"));
        assert_eq!(parse_route(&text), Some(r));
        // Braces balance: the file is one map, one upstream, one server.
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }

    #[test]
    fn destinations_get_their_own_file_and_names() {
        assert_eq!(file_name("shop-api", ""), "berth-shop-api.conf");
        assert_eq!(
            file_name("shop-api", "staging"),
            "berth-shop-api--staging.conf"
        );
        let text = render(&route("staging", vec![target()]));
        assert!(text.contains("upstream berth_shop_api__staging {"));
        assert!(text.contains("`berth proxy sync shop-api -d staging`"));
        // `a-b` with no destination and `a` with destination `b` differ.
        assert_ne!(ident("a-b", ""), ident("a", "b"));
    }

    #[test]
    fn no_targets_still_renders_valid_nginx() {
        let text = render(&route("", vec![]));
        assert!(text.contains("server 127.0.0.1:1 down;"));
    }

    #[tokio::test]
    async fn refuses_files_it_does_not_own() {
        let dir = tempfile::tempdir().unwrap();
        let n = Nginx {
            command: &["nginx".to_string()],
            dir: HostPath::local(dir.path()),
        };
        let p = n.path("demo", "");
        assert!(n.read(&p).await.unwrap().is_none());
        std::fs::write(&p.path, "server { listen 80; }\n").unwrap();
        let e = n.read(&p).await.unwrap_err().to_string();
        assert!(e.contains("was not written by berth"), "{e}");
        assert!(e.contains(&p.to_string()), "{e}");
        std::fs::write(&p.path, render(&route("", vec![target()]))).unwrap();
        assert!(n.read(&p).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_failing_validation_puts_the_previous_file_back() {
        // `false` stands in for an nginx whose `-t` fails.
        let dir = tempfile::tempdir().unwrap();
        let n = Nginx {
            command: &["false".to_string()],
            dir: HostPath::local(dir.path()),
        };
        let p = n.path("demo", "");
        let old = render(&route("", vec![target()]));
        std::fs::write(&p.path, &old).unwrap();
        let new = render(&route("", vec![]));
        let e = n
            .apply(&p, Some(&new), Some(&old), &|_| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`false -t` failed;"), "{e}");
        assert!(
            e.contains("restored; nginx still runs its previous config"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&p.path).unwrap(), old);
        // With no previous file, the new one is removed again.
        let q = n.path("other", "");
        n.apply(&q, Some(&new), None, &|_| {}).await.unwrap_err();
        assert!(!q.path.exists());
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            left.iter().all(|n| !n.contains("tmp")),
            "no temporary file is left: {left:?}"
        );
    }
}
