//! Engine addresses as Docker's own tools take them: `DOCKER_HOST`
//! (`unix://`, `tcp://` with `DOCKER_TLS_VERIFY`/`DOCKER_CERT_PATH`,
//! `ssh://user@host:port`), Docker contexts (`--context`, `DOCKER_CONTEXT`,
//! the `currentContext` of `~/.docker/config.json`, each context's
//! `meta.json` and TLS files under `~/.docker/contexts`), and a host's
//! `docker:`/`context:` in berth.yaml. An address berth cannot use is an
//! [`Endpoint::Invalid`] naming it, never the local socket instead.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::{DEFAULT_SOCKET, Endpoint, Tls};
use crate::config::SshConfig;

/// The context named on the command line (`--context`), set once by the
/// front end before any host is reached.
static CONTEXT: OnceLock<String> = OnceLock::new();

/// `--context NAME`: the Docker context the local engine is, over
/// `DOCKER_HOST` and the current context.
pub fn use_context(name: &str) {
    let _ = CONTEXT.set(name.to_string());
}

/// The environment an address is read with (the process's, in berth).
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct Process;

impl Env for Process {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// The engine of this machine as the docker CLI finds it: `--context`,
/// else `DOCKER_HOST`, else `DOCKER_CONTEXT`, else the current context of
/// the docker config, else the default socket. With how it was found.
pub fn local(env: &dyn Env) -> (Endpoint, String) {
    if let Some(name) = CONTEXT.get() {
        return (context(name, env), format!("--context {name}"));
    }
    if let Some(host) = env.var("DOCKER_HOST") {
        return (parse(&host, env), "DOCKER_HOST".into());
    }
    if let Some(name) = env.var("DOCKER_CONTEXT") {
        return (context(&name, env), format!("DOCKER_CONTEXT={name}"));
    }
    let current = crate::config::read_bounded(&docker_config(env).join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("currentContext")?.as_str().map(str::to_string))
        .filter(|c| !c.is_empty() && c != "default");
    if let Some(name) = current {
        return (context(&name, env), format!("docker context {name}"));
    }
    (
        Endpoint::Local {
            socket: PathBuf::from(DEFAULT_SOCKET),
        },
        "the default socket".into(),
    )
}

/// `$DOCKER_CONFIG`, else `~/.docker`.
fn docker_config(env: &dyn Env) -> PathBuf {
    env.var("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env.var("HOME").map(|h| Path::new(&h).join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

/// A Docker context by name: its `meta.json` (found under the SHA-256 of
/// the name, as the docker CLI stores it) and TLS files.
pub fn context(name: &str, env: &dyn Env) -> Endpoint {
    if name == "default" {
        // The docker CLI's `default` context is DOCKER_HOST or the socket.
        return match env.var("DOCKER_HOST") {
            Some(h) => parse(&h, env),
            None => Endpoint::Local {
                socket: PathBuf::from(DEFAULT_SOCKET),
            },
        };
    }
    let invalid = |why: String| Endpoint::Invalid {
        given: format!("docker context {}", crate::sanitize::one_line(name)),
        why,
    };
    let digest: String = Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = docker_config(env).join("contexts");
    let meta = root.join("meta").join(&digest).join("meta.json");
    let text = match crate::config::read_bounded(&meta) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return invalid(format!(
                "no such context ({} is not there; `docker context ls` lists them)",
                meta.display()
            ));
        }
        Err(e) => return invalid(format!("{}: {e}", meta.display())),
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        return invalid(format!("{} is not JSON", meta.display()));
    };
    let docker = value
        .get("Endpoints")
        .and_then(|e| e.get("docker"))
        .cloned()
        .unwrap_or_default();
    let Some(host) = docker.get("Host").and_then(|h| h.as_str()) else {
        return invalid(format!("{} names no docker endpoint", meta.display()));
    };
    let tls_dir = root.join("tls").join(&digest).join("docker");
    let tls = tls_dir.join("ca.pem").is_file().then(|| Tls {
        ca: tls_dir.join("ca.pem"),
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    if docker.get("SkipTLSVerify").and_then(|v| v.as_bool()) == Some(true) {
        return invalid(
            "it skips TLS verification (SkipTLSVerify), which berth does not do".into(),
        );
    }
    match parse_with(host, tls, env) {
        Endpoint::Invalid { why, .. } => invalid(why),
        e => e,
    }
}

/// A `DOCKER_HOST`-style address, with the TLS the environment asks for.
pub fn parse(addr: &str, env: &dyn Env) -> Endpoint {
    let tls = if env.var("DOCKER_TLS_VERIFY").is_some() {
        let dir = env
            .var("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|| docker_config(env));
        Some(Tls {
            ca: dir.join("ca.pem"),
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
        })
    } else {
        None
    };
    if tls.is_none() && env.var("DOCKER_TLS").is_some() {
        return Endpoint::Invalid {
            given: crate::sanitize::one_line(addr),
            why: "DOCKER_TLS asks for TLS without verifying the engine, which berth does not do: set DOCKER_TLS_VERIFY=1 (and DOCKER_CERT_PATH)".into(),
        };
    }
    parse_with(addr, tls, env)
}

fn parse_with(addr: &str, tls: Option<Tls>, _env: &dyn Env) -> Endpoint {
    let given = crate::sanitize::one_line(addr);
    let invalid = |why: &str| Endpoint::Invalid {
        given: given.clone(),
        why: why.to_string(),
    };
    if let Some(path) = addr.strip_prefix("unix://") {
        if path.is_empty() {
            return invalid("a unix:// address names a socket path");
        }
        return Endpoint::Local {
            socket: PathBuf::from(path),
        };
    }
    if let Some(rest) = addr
        .strip_prefix("tcp://")
        .or_else(|| addr.strip_prefix("http://"))
        .or_else(|| addr.strip_prefix("https://"))
    {
        let hostport = rest.split('/').next().unwrap_or_default();
        if hostport.is_empty()
            || hostport
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return invalid("a tcp:// address is tcp://HOST:PORT");
        }
        let tls = tls.or_else(|| {
            addr.starts_with("https://").then(|| Tls {
                ca: PathBuf::new(),
                cert: PathBuf::new(),
                key: PathBuf::new(),
            })
        });
        if let Some(t) = &tls {
            for f in [&t.ca, &t.cert, &t.key] {
                if !f.is_file() {
                    return invalid(&format!(
                        "TLS needs {} (DOCKER_CERT_PATH holds ca.pem, cert.pem and key.pem)",
                        if f.as_os_str().is_empty() {
                            "certificates".to_string()
                        } else {
                            f.display().to_string()
                        }
                    ));
                }
            }
        }
        let has_port = hostport
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            && !hostport.ends_with(']');
        let addr = if has_port {
            hostport.to_string()
        } else {
            // Docker's defaults: 2376 with TLS, 2375 without.
            format!("{hostport}:{}", if tls.is_some() { 2376 } else { 2375 })
        };
        return Endpoint::Tcp { addr, tls };
    }
    if let Some(rest) = addr.strip_prefix("ssh://") {
        let rest = rest.trim_end_matches('/');
        let (user, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(']') || h.ends_with(']') => match p.parse::<u16>() {
                Ok(p) => (h.trim_matches(['[', ']']).to_string(), Some(p)),
                Err(_) => return invalid("an ssh:// address is ssh://[USER@]HOST[:PORT]"),
            },
            _ => (hostport.trim_matches(['[', ']']).to_string(), None),
        };
        let bad = |s: &str| {
            s.is_empty()
                || s.starts_with('-')
                || s.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if bad(&host) || user.as_deref().is_some_and(bad) {
            return invalid("an ssh:// address is ssh://[USER@]HOST[:PORT]");
        }
        return Endpoint::Ssh {
            ssh: SshConfig {
                host,
                user,
                port,
                ..Default::default()
            },
            remote_socket: PathBuf::from(DEFAULT_SOCKET),
        };
    }
    let scheme = addr.split("://").next().unwrap_or(addr);
    invalid(&format!(
        "berth reaches engines at unix://, tcp:// and ssh:// addresses, not `{}`",
        crate::sanitize::one_line(scheme)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, String>);

    impl Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
    }

    fn env(pairs: &[(&'static str, &str)]) -> Vars {
        Vars(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    }

    #[test]
    fn addresses_read_as_the_docker_cli_reads_them() {
        let none = env(&[]);
        assert_eq!(
            parse("unix:///run/user/1000/docker.sock", &none),
            Endpoint::Local {
                socket: "/run/user/1000/docker.sock".into()
            }
        );
        assert_eq!(
            parse("tcp://10.0.0.5", &none),
            Endpoint::Tcp {
                addr: "10.0.0.5:2375".into(),
                tls: None
            }
        );
        assert_eq!(
            parse("tcp://127.0.0.1:1", &none).describe(),
            "tcp://127.0.0.1:1"
        );
        match parse("ssh://deploy@web-1:2222", &none) {
            Endpoint::Ssh { ssh, remote_socket } => {
                assert_eq!(
                    (ssh.host.as_str(), ssh.user.as_deref(), ssh.port),
                    ("web-1", Some("deploy"), Some(2222))
                );
                assert_eq!(remote_socket, PathBuf::from(DEFAULT_SOCKET));
            }
            e => panic!("{e:?}"),
        }
        for bad in [
            "npipe:////./pipe/docker_engine",
            "fd://",
            "ssh://-oProxyCommand=x",
            "tcp://",
            "unix://",
            "10.0.0.5:2375",
        ] {
            assert!(
                matches!(parse(bad, &none), Endpoint::Invalid { .. }),
                "{bad}"
            );
        }
        // TLS as DOCKER_TLS_VERIFY and DOCKER_CERT_PATH say; its files
        // must be there.
        let t = tempfile::tempdir().unwrap();
        let certs = t.path().display().to_string();
        let tls = env(&[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &certs)]);
        let e = parse("tcp://10.0.0.5", &tls);
        assert!(
            matches!(&e, Endpoint::Invalid { why, .. } if why.contains("ca.pem")),
            "{e:?}"
        );
        for f in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(t.path().join(f), "x").unwrap();
        }
        assert!(matches!(
            parse("tcp://10.0.0.5", &tls),
            Endpoint::Tcp { addr, tls: Some(_) } if addr == "10.0.0.5:2376"
        ));
        assert!(matches!(
            parse("tcp://10.0.0.5", &env(&[("DOCKER_TLS", "1")])),
            Endpoint::Invalid { .. }
        ));
    }

    #[test]
    fn the_local_engine_is_found_as_the_docker_cli_finds_it() {
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().display().to_string();
        // No variable, no config: the default socket.
        let (e, from) = local(&env(&[("DOCKER_CONFIG", &cfg)]));
        assert_eq!(e.describe(), format!("unix://{DEFAULT_SOCKET}"));
        assert_eq!(from, "the default socket");
        // A context, as `docker context create` writes it, made current.
        let digest: String = Sha256::digest(b"prod")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let meta = t.path().join("contexts/meta").join(&digest);
        std::fs::create_dir_all(&meta).unwrap();
        std::fs::write(
            meta.join("meta.json"),
            r#"{"Name":"prod","Metadata":{},"Endpoints":{"docker":{"Host":"unix:///run/prod.sock","SkipTLSVerify":false}}}"#,
        )
        .unwrap();
        std::fs::write(
            t.path().join("config.json"),
            r#"{"auths":{},"currentContext":"prod"}"#,
        )
        .unwrap();
        let (e, from) = local(&env(&[("DOCKER_CONFIG", &cfg)]));
        assert_eq!(e.describe(), "unix:///run/prod.sock");
        assert_eq!(from, "docker context prod");
        // DOCKER_HOST wins over the current context; DOCKER_CONTEXT over
        // the current context.
        let (e, from) = local(&env(&[
            ("DOCKER_CONFIG", &cfg),
            ("DOCKER_HOST", "tcp://127.0.0.1:1"),
        ]));
        assert_eq!(
            (e.describe().as_str(), from.as_str()),
            ("tcp://127.0.0.1:1", "DOCKER_HOST")
        );
        let (e, _) = local(&env(&[("DOCKER_CONFIG", &cfg), ("DOCKER_CONTEXT", "gone")]));
        assert!(
            matches!(&e, Endpoint::Invalid { given, why } if given == "docker context gone" && why.contains("no such context")),
            "{e:?}"
        );
    }
}
