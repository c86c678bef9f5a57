//! `berth init`: a commented starter config for this machine. The local
//! engine is its one host; what runs there (Compose services, containers
//! berth started) is proposed as apps, commented out, so that nothing
//! changes until the operator says so. Never overwrites a file.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config;
use crate::domain::Container;
use crate::labels::Source;
use crate::ops::Session;

/// The roles of one proposed app: role → (image, port inside).
type Roles = BTreeMap<String, (String, Option<u16>)>;

pub async fn run(session: &Session, path: &Path) -> anyhow::Result<u8> {
    if path.exists() {
        anyhow::bail!(
            "{} already exists: berth init never overwrites a config (edit it, or move it away first)",
            path.display()
        );
    }
    let found = what_runs(session).await;
    let text = starter(&found);
    // Whatever it proposes, what it writes is a config berth accepts.
    config::parse(path, &text).map_err(|e| {
        anyhow::anyhow!(
            "berth init wrote a config it cannot read back (a berth bug: please report it): {e}"
        )
    })?;
    write_new(path, &text)?;
    let (apps, note) = match &found {
        Ok(apps) => (apps.len(), String::new()),
        Err(e) => (
            0,
            format!(
                " (the local engine did not answer: {})",
                crate::sanitize::one_line(e)
            ),
        ),
    };
    outln!(
        "wrote {}: host `local`, {apps} app{} proposed from what runs here, commented out{note}; next: edit it, then `berth config check`",
        path.display(),
        if apps == 1 { "" } else { "s" }
    );
    Ok(super::EXIT_OK)
}

/// Creates `path` with `text`; fails if it appeared meanwhile.
fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// The apps that run on the local engine and could be berth's: Compose
/// projects (service = role) and apps berth started (its labels), by name.
async fn what_runs(session: &Session) -> Result<BTreeMap<String, Roles>, String> {
    Ok(propose(
        &crate::ops::survey::local_containers(session).await?,
    ))
}

/// Groups containers into proposed apps, with names made valid.
pub fn propose(containers: &[Container]) -> BTreeMap<String, Roles> {
    let mut apps: BTreeMap<String, Roles> = BTreeMap::new();
    for c in containers {
        if !matches!(c.owner.source, Source::Compose | Source::Berth) || c.owner.phase.is_some() {
            continue;
        }
        let (Some(app), Some(role)) = (c.owner.app.as_deref(), c.owner.role.as_deref()) else {
            continue;
        };
        let (Some(app), Some(role)) = (label(app), label(role)) else {
            continue;
        };
        let port = c
            .ports
            .iter()
            .find(|p| p.protocol == "tcp")
            .map(|p| p.container_port);
        apps.entry(app)
            .or_default()
            .entry(role)
            .or_insert((c.image.clone(), port));
    }
    apps
}

/// `name` as a DNS label (`My_Shop` → `my-shop`), or `None`.
fn label(name: &str) -> Option<String> {
    if config::names::check_label("app", name).is_ok() {
        return Some(name.to_string());
    }
    config::names::suggest_label(name)
}

/// The starter file: comments, the local host, and the proposals.
pub fn starter(found: &Result<BTreeMap<String, Roles>, String>) -> String {
    let mut y = String::from(
        "# berth fleet config, written by `berth init` for this machine.
# Reference: docs/config.md. Check it with `berth config check`.
version: 2

# Secret values live in a dotenv file next to this one (NAME=value lines),
# never here; keep it out of git.
# secrets_file: secrets.env

hosts:
  # This machine's engine (DOCKER_HOST, or the default socket). Another
  # machine is reached over SSH:
  #   web-1: {ssh: {host: 10.0.0.5, user: deploy}}
  local: {}

apps: {}
",
    );
    match found {
        Err(e) => y.push_str(&format!(
            "\n# The local engine did not answer ({}), so nothing is proposed.\n",
            crate::sanitize::one_line(e)
        )),
        Ok(apps) if apps.is_empty() => y.push_str(
            "\n# Nothing runs here that berth could take on; an app looks like this:\n",
        ),
        Ok(_) => y.push_str(
            "\n# Proposed from what runs here. To let berth deploy one, replace\n# `apps: {}` above with `apps:` and uncomment its block (berth then\n# starts its own containers for it, beside what runs now).\n",
        ),
    }
    let example: BTreeMap<String, Roles> = BTreeMap::from([(
        "shop".to_string(),
        BTreeMap::from([(
            "web".to_string(),
            ("registry.example.com/shop:latest".to_string(), Some(8080)),
        )]),
    )]);
    let apps = match found {
        Ok(apps) if !apps.is_empty() => apps,
        _ => &example,
    };
    for (app, roles) in apps {
        y.push_str(&format!("#   {app}:\n"));
        // One image an app: the first role's (berth's version tag replaces
        // its tag at deploy).
        if let Some((image, _)) = roles.values().next() {
            y.push_str(&format!("#     image: {}\n", yaml_scalar(image)));
        }
        y.push_str("#     roles:\n");
        for (role, (_, port)) in roles {
            let port = port.map(|p| format!(", port: {p}")).unwrap_or_default();
            y.push_str(&format!("#       {role}: {{hosts: [local]{port}}}\n"));
        }
    }
    y
}

/// An image reference written so YAML reads it back as the same text.
fn yaml_scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "./:-_@".contains(c));
    if plain {
        return text.to_string();
    }
    let clean = crate::sanitize::one_line(text);
    serde_yaml::to_string(&clean)
        .map(|y| y.trim_end().to_string())
        .unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Uncommented, the proposals are a valid config too.
    fn uncommented(text: &str) -> String {
        text.replace("apps: {}\n", "apps:\n")
            .lines()
            .map(|l| {
                l.strip_prefix("#   ")
                    .map_or(l.to_string(), |r| format!("  {r}"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_starter_and_its_proposals_pass_config_check() {
        let mut apps = BTreeMap::new();
        apps.insert(
            "my-shop".to_string(),
            BTreeMap::from([
                ("web".to_string(), ("shop:1.2".to_string(), Some(3000))),
                ("worker".to_string(), ("shop:1.2".to_string(), None)),
            ]),
        );
        for found in [Ok(apps), Ok(BTreeMap::new()), Err("no engine".to_string())] {
            let text = starter(&found);
            let c = config::parse(Path::new("berth.yaml"), &text).unwrap();
            assert!(c.fleet.apps.is_empty(), "proposals are commented out");
            let c = config::parse(Path::new("berth.yaml"), &uncommented(&text))
                .unwrap_or_else(|e| panic!("{e}\n{}", uncommented(&text)));
            assert_eq!(c.fleet.apps.len(), 1, "{text}");
        }
    }

    #[test]
    fn names_are_made_valid_and_images_quoted_when_needed() {
        assert_eq!(label("My_Shop").as_deref(), Some("my-shop"));
        assert_eq!(label("web").as_deref(), Some("web"));
        assert_eq!(label("__"), None);
        assert_eq!(yaml_scalar("reg:5000/a/b:v1"), "reg:5000/a/b:v1");
        for odd in ["a b", "x: y", "'q'", "é\u{200b}z", "#c"] {
            let y = yaml_scalar(odd);
            let back: String = serde_yaml::from_str(&y).unwrap();
            assert_eq!(back, crate::sanitize::one_line(odd), "{y}");
        }
    }
}
