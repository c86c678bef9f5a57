//! The layering of berth's modules, checked: each top-level module may
//! import only the modules listed for it here, so no import cycle can come
//! back and the engine never reaches into a front end. Test-only.

/// The layers, lowest first. A module may import any module of a lower
/// layer, and none of its own layer or above.
const LAYERS: &[&[&str]] = &[
    &["sanitize"],
    &["labels", "config"],
    &["domain"],
    &["hosts"],
    &["docker"],
    &["inventory", "engine"],
    &["doctor"],
    &["tui"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// Every `crate::name` a module's files name, outside comments.
fn imports(module: &str) -> std::collections::BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (file, dir) = (src.join(format!("{module}.rs")), src.join(module));
    let mut found = std::collections::BTreeSet::new();
    for (_, code) in sources()
        .into_iter()
        .filter(|(p, _)| *p == file || p.starts_with(&dir))
    {
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let mut wrong = Vec::new();
    for (at, layer) in LAYERS.iter().enumerate() {
        for module in *layer {
            for name in imports(module) {
                if layer_of(&name).is_none_or(|l| l >= at) {
                    wrong.push(format!("{module} imports {name}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering: {wrong:?}");
}

#[test]
fn every_module_has_a_layer() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let name = e
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if ["lib", "main", "fuzz", "layers"].contains(&name.as_str()) {
            continue;
        }
        assert!(
            layer_of(&name).is_some(),
            "src/{name} has no place in the layering"
        );
    }
}

/// Every `.rs` file under `src/`, with its text outside comments.
fn sources() -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&p).unwrap();
                let code: Vec<&str> = text
                    .lines()
                    .map(|l| l.split("//").next().unwrap_or_default())
                    .collect();
                out.push((p, code.join("\n")));
            }
        }
    }
    out
}

/// One door to Docker: bollard is named only under `src/docker/`.
#[test]
fn only_the_docker_module_calls_bollard() {
    let docker = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/docker");
    let outside: Vec<String> = sources()
        .into_iter()
        .filter(|(p, code)| {
            !p.starts_with(&docker) && !p.ends_with("layers.rs") && code.contains("bollard")
        })
        .map(|(p, _)| p.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "bollard outside src/docker/: {outside:?}"
    );
}

/// Connections are passed down, never kept in a process-wide static: no
/// `static` in the library holding a lock or a connection (the binary's
/// edge keeps the gateway for a broken pipe's exit, `cli::AT_EXIT`).
#[test]
fn no_process_wide_connection_pools() {
    let cli = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/cli");
    let found: Vec<String> = sources()
        .into_iter()
        .filter(|(p, _)| !p.starts_with(&cli) && !p.ends_with("layers.rs"))
        .flat_map(|(p, code)| {
            code.lines()
                .filter(|l| {
                    let l = l.trim_start();
                    (l.starts_with("static ") || l.starts_with("pub static "))
                        && [
                            "Mutex", "Gateway", "Pool", "Tunnel", "Engine", "Docker", "HashMap",
                        ]
                        .iter()
                        .any(|t| l.contains(t))
                })
                .map(|l| format!("{}: {}", p.display(), l.trim()))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(found.is_empty(), "process-wide statics: {found:?}");
}
