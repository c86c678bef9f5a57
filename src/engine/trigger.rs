//! Triggers: the named points of an action where hooks and plugins run.
//!
//! One canonical name per trigger. Names from older berth layouts, Kamal and
//! Dokku are aliases: they run, with a warning naming the canonical name.
//! The layout of `hooks/` and `plugins/` is checked when a plan is made, so
//! a leftover or misnamed file is reported with its path and the fix, not
//! as a vague failure half-way through a deploy (Dokku 0.35.11, field notes
//! row 1).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Every trigger berth fires, in the order a deploy meets them.
pub const TRIGGERS: &[(&str, &str, &[&str])] = &[
    (
        "pre-deploy",
        "before a deploy or rollback changes anything",
        &["deploy", "rollback"],
    ),
    (
        "pre-build",
        "before the image is made present on the hosts",
        &["deploy"],
    ),
    (
        "post-build",
        "after the image is present on every host",
        &["deploy"],
    ),
    ("pre-release", "before the release task runs", &["deploy"]),
    (
        "post-release",
        "after the release task succeeded",
        &["deploy"],
    ),
    (
        "pre-boot",
        "before each boot group starts its new containers",
        &["deploy", "restart", "rollback"],
    ),
    (
        "post-boot",
        "after each boot group passed its health gate",
        &["deploy", "restart", "rollback"],
    ),
    (
        "post-deploy",
        "after a deploy or rollback succeeded",
        &["deploy", "rollback"],
    ),
    (
        "pre-restart",
        "before a restart replaces anything",
        &["restart"],
    ),
    ("post-restart", "after a restart succeeded", &["restart"]),
    (
        "pre-destroy",
        "before a destroy removes anything",
        &["destroy"],
    ),
    (
        "post-destroy",
        "after a destroy removed the app",
        &["destroy"],
    ),
    (
        "deploy-failed",
        "after a deploy, restart or rollback failed or was cancelled, once the old version is restored",
        &["deploy", "restart", "rollback"],
    ),
];

/// Old or foreign names and the canonical trigger they run for.
pub const ALIASES: &[(&str, &str)] = &[
    // Kamal's hook names.
    ("pre-app-boot", "pre-boot"),
    ("post-app-boot", "post-boot"),
    // Dokku's builder triggers.
    ("pre-release-builder", "pre-release"),
    ("post-release-builder", "post-release"),
    // berth's own draft names.
    ("pre-migrate", "pre-release"),
    ("post-migrate", "post-release"),
];

/// Files in a hooks or plugin folder that are not triggers.
const NOT_TRIGGERS: &[&str] = &["plugin.yaml", "README", "README.md"];

pub fn is_trigger(name: &str) -> bool {
    TRIGGERS.iter().any(|(t, ..)| *t == name)
}

pub fn canonical(name: &str) -> Option<&'static str> {
    TRIGGERS
        .iter()
        .find(|(t, ..)| *t == name)
        .map(|(t, ..)| *t)
        .or_else(|| ALIASES.iter().find(|(a, _)| *a == name).map(|(_, t)| *t))
}

/// One executable that runs for a trigger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Implementation {
    pub path: PathBuf,
    /// `hooks`, or the plugin's name.
    pub source: String,
    /// Set when the file is named by an alias of the trigger.
    pub alias: Option<String>,
}

/// A layout problem, with the file and what to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub message: String,
    /// Errors stop every action; warnings are shown and run.
    pub error: bool,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.error { "error" } else { "warning" };
        write!(f, "{kind}: {}: {}", self.path.display(), self.message)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: String,
    #[serde(default)]
    description: Option<String>,
    triggers: Vec<String>,
}

/// The hooks and plugins of a project, checked.
#[derive(Clone, Debug, Default)]
pub struct Triggers {
    /// (canonical trigger, implementations in run order).
    pub by_trigger: Vec<(String, Vec<Implementation>)>,
    pub problems: Vec<Problem>,
}

impl Triggers {
    pub fn for_trigger(&self, trigger: &str) -> &[Implementation] {
        self.by_trigger
            .iter()
            .find(|(t, _)| t == trigger)
            .map(|(_, i)| i.as_slice())
            .unwrap_or(&[])
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.error)
    }
}

fn executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn hint(name: &str) -> String {
    let names = TRIGGERS
        .iter()
        .map(|(t, ..)| *t)
        .chain(ALIASES.iter().map(|(a, _)| *a));
    match crate::config::names::did_you_mean(name, names) {
        Some(s) => format!("did you mean `{s}`? "),
        None => String::new(),
    }
}

/// Sorted file names of a directory (none if it does not exist).
fn entries(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(n, _)| !n.starts_with('.'))
        .collect();
    out.sort();
    out
}

/// Reads `hooks_dir` (project hooks: one executable per trigger) and
/// `plugins_dir` (one folder per plugin, with `plugin.yaml` declaring its
/// name and triggers). Order per trigger: project hooks, then plugins by name.
pub fn discover(hooks_dir: &Path, plugins_dir: &Path) -> Triggers {
    let mut found: Vec<(String, Implementation)> = Vec::new();
    let mut problems = Vec::new();
    fn check_file(
        name: &str,
        path: &Path,
        source: &str,
        found: &mut Vec<(String, Implementation)>,
        problems: &mut Vec<Problem>,
    ) {
        let Some(trigger) = canonical(name) else {
            problems.push(Problem {
                path: path.to_path_buf(),
                message: format!(
                    "`{name}` is not a trigger berth knows; {}rename or remove it (`berth doctor` lists the triggers)",
                    hint(name)
                ),
                error: true,
            });
            return;
        };
        if !executable(path) {
            problems.push(Problem {
                path: path.to_path_buf(),
                message: format!("not an executable file; run `chmod +x {}`", path.display()),
                error: true,
            });
            return;
        }
        let alias = (trigger != name).then(|| name.to_string());
        if alias.is_some() {
            let renamed = path.with_file_name(trigger);
            problems.push(Problem {
                path: path.to_path_buf(),
                message: format!(
                    "`{name}` is an old name of `{trigger}`; it runs, but rename it: `mv {} {}`",
                    path.display(),
                    renamed.display()
                ),
                error: false,
            });
        }
        if let Some((_, other)) = found
            .iter()
            .find(|(t, i)| t == trigger && i.source == source)
        {
            problems.push(Problem {
                path: path.to_path_buf(),
                message: format!(
                    "{source} implements `{trigger}` twice (also {}); keep only `{trigger}`",
                    other.path.display()
                ),
                error: true,
            });
            return;
        }
        found.push((
            trigger.to_string(),
            Implementation {
                path: path.to_path_buf(),
                source: source.to_string(),
                alias,
            },
        ));
    }

    for (name, path) in entries(hooks_dir) {
        if !NOT_TRIGGERS.contains(&name.as_str()) {
            check_file(&name, &path, "hooks", &mut found, &mut problems);
        }
    }
    for (dir_name, dir) in entries(plugins_dir) {
        if !dir.is_dir() {
            continue;
        }
        let manifest_path = dir.join("plugin.yaml");
        let manifest: Manifest = match crate::config::read_bounded(&manifest_path) {
            Err(e) => {
                problems.push(Problem {
                    path: manifest_path.clone(),
                    message: format!(
                        "cannot read the plugin manifest ({e}); every plugin folder needs a plugin.yaml with `name:` and `triggers:`"
                    ),
                    error: true,
                });
                continue;
            }
            Ok(text) => match serde_yaml::from_str(&text) {
                Ok(m) => m,
                Err(e) => {
                    problems.push(Problem {
                        path: manifest_path.clone(),
                        message: format!("invalid manifest: {e}"),
                        error: true,
                    });
                    continue;
                }
            },
        };
        let _ = &manifest.description;
        let source = format!("plugin {}", manifest.name);
        if manifest.name != dir_name {
            problems.push(Problem {
                path: manifest_path.clone(),
                message: format!(
                    "declares name `{}` but lives in folder `{dir_name}`; make them match",
                    manifest.name
                ),
                error: true,
            });
        }
        for declared in &manifest.triggers {
            if !dir.join(declared).exists() {
                problems.push(Problem {
                    path: dir.join(declared),
                    message: format!(
                        "{} declares trigger `{declared}` but has no executable for it; add the file or drop it from `triggers:`",
                        manifest_path.display()
                    ),
                    error: true,
                });
            }
        }
        for (name, path) in entries(&dir) {
            if NOT_TRIGGERS.contains(&name.as_str()) || path.is_dir() {
                continue;
            }
            if !manifest.triggers.contains(&name) {
                problems.push(Problem {
                    path: path.clone(),
                    message: format!(
                        "no plugin declares this file: {} does not list `{name}` under `triggers:`; declare it or remove the file (leftover files from an upgrade are how Dokku 0.35.11 broke)",
                        manifest_path.display()
                    ),
                    error: true,
                });
                continue;
            }
            check_file(&name, &path, &source, &mut found, &mut problems);
        }
    }

    let mut by_trigger: Vec<(String, Vec<Implementation>)> = Vec::new();
    for (trigger, _, _) in TRIGGERS {
        let imps: Vec<Implementation> = found
            .iter()
            .filter(|(t, _)| t == trigger)
            .map(|(_, i)| i.clone())
            .collect();
        if !imps.is_empty() {
            by_trigger.push((trigger.to_string(), imps));
        }
    }
    Triggers {
        by_trigger,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(path: &Path, exec: bool) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "#!/bin/sh\nexit 0\n").unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn plugin(root: &Path, name: &str, manifest: &str) -> PathBuf {
        let dir = root.join("plugins").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("plugin.yaml"), manifest).unwrap();
        dir
    }

    fn run(root: &Path) -> Triggers {
        discover(&root.join("hooks"), &root.join("plugins"))
    }

    #[test]
    fn hooks_then_plugins_by_name() {
        let t = tempfile::tempdir().unwrap();
        script(&t.path().join("hooks/pre-deploy"), true);
        let b = plugin(t.path(), "beta", "name: beta\ntriggers: [pre-deploy]\n");
        script(&b.join("pre-deploy"), true);
        let a = plugin(
            t.path(),
            "alpha",
            "name: alpha\ntriggers: [pre-deploy, post-deploy]\n",
        );
        script(&a.join("pre-deploy"), true);
        script(&a.join("post-deploy"), true);
        let tr = run(t.path());
        assert!(tr.problems.is_empty(), "{:?}", tr.problems);
        let sources: Vec<&str> = tr
            .for_trigger("pre-deploy")
            .iter()
            .map(|i| i.source.as_str())
            .collect();
        assert_eq!(sources, ["hooks", "plugin alpha", "plugin beta"]);
        assert_eq!(tr.for_trigger("post-deploy").len(), 1);
    }

    #[test]
    fn alias_runs_with_a_warning_naming_the_new_name() {
        let t = tempfile::tempdir().unwrap();
        script(&t.path().join("hooks/pre-app-boot"), true);
        let tr = run(t.path());
        assert_eq!(
            tr.for_trigger("pre-boot")[0].alias.as_deref(),
            Some("pre-app-boot")
        );
        assert_eq!(tr.errors().count(), 0);
        let w = tr.problems[0].to_string();
        assert!(
            w.starts_with("warning: ")
                && w.contains("hooks/pre-app-boot: `pre-app-boot` is an old name of `pre-boot`"),
            "{w}"
        );
        assert!(w.contains("hooks/pre-boot"), "{w}");
    }

    #[test]
    fn old_and_new_name_in_one_plugin_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let p = plugin(
            t.path(),
            "core",
            "name: core\ntriggers: [post-release, post-release-builder]\n",
        );
        script(&p.join("post-release"), true);
        script(&p.join("post-release-builder"), true);
        let tr = run(t.path());
        let e: Vec<String> = tr.errors().map(|p| p.to_string()).collect();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].contains("plugins/core/post-release-builder: plugin core implements `post-release` twice (also "), "{e:?}");
        assert!(e[0].contains("plugins/core/post-release)"), "{e:?}");
    }

    #[test]
    fn undeclared_file_in_a_plugin_is_an_error_naming_it() {
        let t = tempfile::tempdir().unwrap();
        let p = plugin(t.path(), "core", "name: core\ntriggers: [post-deploy]\n");
        script(&p.join("post-deploy"), true);
        script(&p.join("pre-deploy"), true);
        let tr = run(t.path());
        let e: Vec<String> = tr.errors().map(|p| p.to_string()).collect();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("plugins/core/pre-deploy: no plugin declares this file"),
            "{e:?}"
        );
        assert!(
            tr.for_trigger("pre-deploy").is_empty(),
            "an undeclared file never runs"
        );
    }

    #[test]
    fn unknown_name_suggests_and_non_executable_says_chmod() {
        let t = tempfile::tempdir().unwrap();
        script(&t.path().join("hooks/pre-deplyo"), true);
        script(&t.path().join("hooks/post-deploy"), false);
        let tr = run(t.path());
        let e: Vec<String> = tr.errors().map(|p| p.to_string()).collect();
        assert!(e.iter().any(|m| m.contains("hooks/pre-deplyo: `pre-deplyo` is not a trigger berth knows; did you mean `pre-deploy`?")), "{e:?}");
        assert!(
            e.iter()
                .any(|m| m.contains("hooks/post-deploy: not an executable file; run `chmod +x ")),
            "{e:?}"
        );
    }

    #[test]
    fn manifest_problems_name_the_manifest() {
        let t = tempfile::tempdir().unwrap();
        plugin(t.path(), "x", "name: y\ntriggers: [pre-deploy]\n");
        std::fs::create_dir_all(t.path().join("plugins/nomanifest")).unwrap();
        let tr = run(t.path());
        let e: Vec<String> = tr.errors().map(|p| p.to_string()).collect();
        assert!(
            e.iter()
                .any(|m| m
                    .contains("plugins/x/plugin.yaml: declares name `y` but lives in folder `x`")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.contains("plugins/x/pre-deploy: ") && m.contains("has no executable")),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m
                    .contains("plugins/nomanifest/plugin.yaml: cannot read the plugin manifest")),
            "{e:?}"
        );
    }

    #[test]
    fn every_alias_points_at_a_trigger() {
        for (alias, target) in ALIASES {
            assert!(is_trigger(target), "{alias} -> {target}");
            assert!(!is_trigger(alias));
        }
    }
}
