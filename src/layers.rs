//! The layering of berth's modules, checked: each top-level module may
//! import only the modules listed for it here, so no import cycle can come
//! back and the engine never reaches into a front end. Test-only.

/// (module, what it may import). Lower layers first.
const LAYERS: &[(&str, &[&str])] = &[
    ("sanitize", &[]),
    ("labels", &[]),
    ("config", &[]),
    ("domain", &["labels", "sanitize"]),
    ("docker", &["config", "domain", "labels", "sanitize"]),
    ("hosts", &["config", "docker", "domain", "sanitize"]),
    (
        "inventory",
        &["config", "docker", "domain", "hosts", "labels", "sanitize"],
    ),
    (
        "engine",
        &["config", "docker", "domain", "hosts", "labels", "sanitize"],
    ),
    (
        "doctor",
        &[
            "config",
            "domain",
            "engine",
            "hosts",
            "inventory",
            "labels",
            "sanitize",
        ],
    ),
    (
        "tui",
        &[
            "config",
            "docker",
            "domain",
            "engine",
            "hosts",
            "inventory",
            "labels",
            "sanitize",
        ],
    ),
    (
        "cli",
        &[
            "config",
            "docker",
            "doctor",
            "domain",
            "engine",
            "hosts",
            "inventory",
            "labels",
            "sanitize",
            "tui",
        ],
    ),
];

/// Every `crate::name` a module's files name, outside comments.
fn imports(module: &str) -> std::collections::BTreeSet<String> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join(format!("{module}.rs"))];
    let mut dirs = vec![src.join(module)];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut found = std::collections::BTreeSet::new();
    for f in files.iter().filter(|f| f.exists()) {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or_default();
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
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let mut wrong = Vec::new();
    for (module, may) in LAYERS {
        for name in imports(module) {
            if !may.contains(&name.as_str()) {
                wrong.push(format!("{module} imports {name}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering: {wrong:?}");
}

#[test]
fn the_layers_have_no_cycle_and_name_every_module() {
    // Each module's imports are all listed before it.
    for (i, (module, may)) in LAYERS.iter().enumerate() {
        for m in *may {
            let at = LAYERS.iter().position(|(n, _)| n == m);
            assert!(
                at.is_some_and(|at| at < i),
                "{module} may import {m}, which is not below it"
            );
        }
    }
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
            LAYERS.iter().any(|(n, _)| *n == name),
            "src/{name} has no place in the layering"
        );
    }
}
